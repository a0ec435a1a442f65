//! The one output seam: a command builds a view and `emit` prints it as text or JSON.
//!
//! A view is the command's data, serializable as the JSON output; its `text` is the human
//! rendering. To add a command's output: a view struct here (one file), `impl View`, and
//! `render::emit(&view, config.format)` in the command.

mod alerts;
mod connections;
mod doctor;
mod hosts_check;
mod hosts_list;
mod runbook_list;
mod runbook_show;
mod runbook_validate;

pub(crate) use alerts::Alerts;
pub(crate) use connections::{Closed, KeptConnection, KeptList};
pub(crate) use doctor::{Doctor, Finding, Level};
pub(crate) use hosts_check::{HostRow, HostsCheck};
pub(crate) use hosts_list::HostsList;
pub(crate) use runbook_list::{RunbookList, RunbookRow};
pub(crate) use runbook_show::{Parameter, PlannedStep, RunbookShow};
pub(crate) use runbook_validate::{Checked, Validation};

use std::io::Write;

use serde::Serialize;

use crate::cli::Format;
use crate::error::Error;
use crate::ui;

pub(crate) trait View: Serialize {
  /// What `--format text` prints on stdout. Runbook and inventory text in it is sanitized.
  fn text(&self) -> String;

  /// Remarks for a human that are not the output (an empty list explained, a tally of what
  /// was done): stderr, and only with text, so stdout stays the data either way.
  fn notes(&self) -> String {
    String::new()
  }
}

/// Prints `view` on stdout as `format` asks.
pub(crate) fn emit<V: View>(view: &V, format: Format) -> Result<(), Error> {
  match format {
    Format::Json => ui::emit_json(view),
    Format::Text => {
      ui::emit(&view.text())?;
      // Like `ui::warn`: a closed stderr is no reason to fail a command that did its work.
      let _ = std::io::stderr().write_all(view.notes().as_bytes());
      Ok(())
    }
  }
}

/// For a command whose output is not data: refuses `--format json` rather than ignore it.
pub(crate) fn text_only(format: Format, command: &'static str) -> Result<(), Error> {
  match format {
    Format::Json => Err(Error::NoJsonOutput { command }),
    Format::Text => Ok(()),
  }
}
