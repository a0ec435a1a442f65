//! Runbooks: the model, discovery, parsing with positions, validation and templating.

pub(crate) mod catalog;
pub(crate) mod compose;
#[cfg(test)]
mod fuzz;
pub(crate) mod model;
pub(crate) mod parse;
pub(crate) mod programs;
pub(crate) mod template;
pub(crate) mod validate;
pub(crate) mod values;

use crate::diagnostic::{Collector, Diagnostic, Level};
use crate::inventory::Inventory;
use crate::source::Source;

pub(crate) use model::Runbook;

/// A runbook read from its source, with everything found wrong with it.
pub(crate) struct Loaded {
  pub(crate) runbook: Option<Runbook>,
  pub(crate) diagnostics: Vec<Diagnostic>,
}

impl Loaded {
  /// The runbook, when it has no errors.
  pub(crate) fn valid(self) -> Result<Runbook, Vec<Diagnostic>> {
    match self.runbook {
      Some(r) if !self.diagnostics.iter().any(|d| d.level == Level::Error) => Ok(r),
      _ => Err(self.diagnostics),
    }
  }
}

/// Parses a runbook; with `inventory`, also validates it (hosts, parameters, regexes, commands).
/// `list` and `show` only parse, so that they stay fast; `validate` and `run` do both.
pub(crate) fn load(
  source: &Source,
  expected_id: Option<&str>,
  inventory: Option<&Inventory>,
) -> Loaded {
  let mut c = Collector::new(&source.display, &source.text);
  let runbook = parse::parse(&mut c, &source.text, expected_id);
  if let (Some(runbook), Some(inventory)) = (&runbook, inventory) {
    validate::validate(&mut c, runbook, inventory);
  }
  c.items.sort_by_key(|d| (d.line, d.column));
  Loaded {
    runbook,
    diagnostics: c.items,
  }
}
