//! Everything the operator sees: styles, tables, diagnostics and errors. Colors live here only.
//! Commands print their output through `render::emit`; text from runbooks, the inventory or
//! remote hosts goes through `text::sanitize` on its way to the terminal.

pub(crate) mod clock;
pub(crate) mod diagnostics;
pub(crate) mod prompt;
pub(crate) mod render;
pub(crate) mod reporter;
pub(crate) mod style;
pub(crate) mod text;

use std::io::Write;

use crate::error::Error;

/// Writes a command's output to stdout. A closed pipe (`megacity runbook list | head`) is not
/// an error: the reader has what it wanted.
pub(crate) fn emit(text: &str) -> Result<(), Error> {
  let mut out = std::io::stdout().lock();
  match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
    Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(Error::Output(e)),
    _ => Ok(()),
  }
}

/// Writes a value as pretty JSON: the output of `--format json`.
pub(crate) fn emit_json<T: serde::Serialize>(value: &T) -> Result<(), Error> {
  let mut text = serde_json::to_string_pretty(value).expect("output types serialize");
  text.push('\n');
  emit(&text)
}

/// The one place errors are rendered, on stderr.
pub(crate) fn render_error(error: &Error) {
  let mut out = String::new();
  if let Error::Invalid { diagnostics, .. } = error {
    out.push_str(&diagnostics::render_all(diagnostics));
  }
  // Messages quote names from the command line, runbooks and the inventory.
  out.push_str(&format!(
    "{} {}\n",
    style::error("error:"),
    text::sanitize(&error.to_string())
  ));
  // The causes, where the message does not already say them (an I/O error's own text).
  let mut source = std::error::Error::source(error);
  let mut said = error.to_string();
  while let Some(cause) = source {
    let text = cause.to_string();
    if !said.contains(text.trim()) {
      out.push_str(&format!("  caused by: {}\n", text::sanitize(&text)));
      said.push_str(&text);
    }
    source = cause.source();
  }
  if let Some(hint) = error.hint() {
    out.push_str(&format!(
      "  {} {}\n",
      style::hint("hint:"),
      text::sanitize(&hint)
    ));
  }
  let _ = std::io::stderr().write_all(out.as_bytes());
}

/// A notice on stderr, for things worth knowing that are not the command's output.
pub(crate) fn warn(message: &str) {
  let _ = std::io::stderr().write_all(warning_line(message).as_bytes());
}

/// A warning as `warn` prints it, for output that gathers its notes first.
pub(crate) fn warning_line(message: &str) -> String {
  format!(
    "{} {}\n",
    style::warning("warning:"),
    text::sanitize(message)
  )
}
