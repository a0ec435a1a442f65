//! Validation problems, rendered like a compiler's: location, source line, caret, hint.

use crate::diagnostic::{Diagnostic, Level};
use crate::ui::style;
use crate::ui::text::sanitize;

pub(crate) fn render(d: &Diagnostic) -> String {
  let label = match d.level {
    Level::Error => style::error("error:"),
    Level::Warning => style::warning("warning:"),
  };
  let mut out = format!("{label} {}\n", sanitize(&d.message));
  let location = if d.line > 0 {
    format!("{}:{}:{}", d.file, d.line, d.column)
  } else {
    d.file.clone()
  };
  // Laid out like rustc: the gutter is as wide as the line number.
  let number = d.line.to_string();
  let pad = " ".repeat(number.len());
  // A path is text too: file names may hold anything but `/` and NUL.
  out.push_str(&format!(
    "{pad}{} {}\n",
    style::dim("-->"),
    sanitize(&location)
  ));
  if let Some(line) = &d.source_line {
    let caret_pad: String = line
      .chars()
      .take(d.column.saturating_sub(1) as usize)
      .map(|c| if c == '\t' { '\t' } else { ' ' })
      .collect();
    out.push_str(&format!("{pad} {}\n", style::dim("|")));
    out.push_str(&format!(
      "{number} {} {}\n",
      style::dim("|"),
      sanitize(line)
    ));
    out.push_str(&format!(
      "{pad} {} {caret_pad}{}\n",
      style::dim("|"),
      style::error("^")
    ));
  }
  if let Some(hint) = &d.hint {
    out.push_str(&format!(
      "{pad} {} {}\n",
      style::dim("="),
      style::hint(&format!("hint: {}", sanitize(hint)))
    ));
  }
  out
}

pub(crate) fn render_all(diagnostics: &[Diagnostic]) -> String {
  diagnostics.iter().map(|d| render(d) + "\n").collect()
}
