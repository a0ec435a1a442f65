//! `runbook validate`: every problem found, compiler-style, and a tally.

use serde::Serialize;

use crate::diagnostic::Diagnostic;
use crate::ui::render::View;
use crate::ui::{diagnostics, style};

#[derive(Serialize)]
pub(crate) struct Validation {
  pub(crate) runbooks: Vec<Checked>,
  pub(crate) errors: usize,
  pub(crate) warnings: usize,
}

/// One file checked.
#[derive(Serialize)]
pub(crate) struct Checked {
  pub(crate) file: String,
  pub(crate) valid: bool,
  pub(crate) diagnostics: Vec<Diagnostic>,
}

impl Validation {
  pub(crate) fn invalid(&self) -> usize {
    self.runbooks.iter().filter(|r| !r.valid).count()
  }
}

impl View for Validation {
  fn text(&self) -> String {
    let mut out = String::new();
    for checked in &self.runbooks {
      out.push_str(&diagnostics::render_all(&checked.diagnostics));
    }
    let invalid = self.invalid();
    let summary = format!(
      "checked {} runbook(s): {invalid} invalid, {} error(s), {} warning(s)",
      self.runbooks.len(),
      self.errors,
      self.warnings
    );
    let summary = if invalid > 0 {
      style::fail(&summary)
    } else {
      style::ok(&summary)
    };
    out.push_str(&format!("{summary}\n"));
    out
  }
}
