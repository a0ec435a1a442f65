//! Everything the operator sees: styles, tables, diagnostics and errors. Colors live here only.

pub mod diagnostics;
pub mod prompt;
pub mod reporter;
pub mod style;
pub mod text;

use std::io::Write;

use crate::error::Error;

/// Writes a command's output to stdout. A closed pipe (`megacity runbook list | head`) is not
/// an error: the reader has what it wanted.
pub fn emit(text: &str) -> Result<(), Error> {
  let mut out = std::io::stdout().lock();
  match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
    Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(Error::Output(e)),
    _ => Ok(()),
  }
}

pub fn emit_json<T: serde::Serialize>(value: &T) -> Result<(), Error> {
  let mut text = serde_json::to_string_pretty(value).expect("output types serialize");
  text.push('\n');
  emit(&text)
}

/// The one place errors are rendered, on stderr.
pub fn render_error(error: &Error) {
  let mut text = String::new();
  if let Error::Invalid { diagnostics, .. } = error {
    text.push_str(&diagnostics::render_all(diagnostics));
  }
  text.push_str(&format!("{} {error}\n", style::error("error:")));
  if let Some(hint) = error.hint() {
    text.push_str(&format!("  {} {hint}\n", style::hint("hint:")));
  }
  let _ = std::io::stderr().write_all(text.as_bytes());
}

/// A notice on stderr, for things worth knowing that are not the command's output.
pub fn warn(message: &str) {
  let _ = writeln!(
    std::io::stderr(),
    "{} {message}",
    style::warning("warning:")
  );
}
