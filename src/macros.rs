//! `say!`: a line for the operator on stderr that never panics. `eprintln!` panics when stderr is
//! a closed pipe (`megacity … 2>&1 | head -1`); megacity keeps its exit code and stops writing.

macro_rules! say {
  ($($arg:tt)*) => {{
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), $($arg)*);
  }};
}
