//! `runbook list`: every runbook in the catalog that loads, with the hosts it touches.

use crate::config::Config;
use crate::error::Error;
use crate::inventory;
use crate::runbook::{self, catalog::Catalog};
use crate::ui::render::{self, RunbookList, RunbookRow};
use crate::{exit_code, ui};

pub(crate) fn run(config: &Config) -> Result<i32, Error> {
  let catalog = Catalog::discover(&config.runbook_dirs)?;
  for skipped in catalog.skipped() {
    say!("note: {}", ui::text::sanitize(&skipped.to_string()));
  }
  let inventory = inventory::load(config.inventory.as_deref())?;
  let mut rows = Vec::new();
  let mut broken = Vec::new();
  for entry in catalog.entries() {
    let source = entry.source()?;
    match runbook::load(&source, Some(&entry.id), None).valid() {
      Ok(runbook) => rows.push(RunbookRow {
        hosts: inventory.expand(
          runbook
            .steps
            .iter()
            .flat_map(|s| &s.targets)
            .map(|t| t.value.as_str()),
        ),
        id: runbook.id,
        severity: runbook.severity,
        title: runbook.title,
        steps: runbook.steps.len(),
        origin: entry.origin.to_string(),
      }),
      Err(_) => broken.push(entry.id.clone()),
    }
  }
  if !broken.is_empty() {
    // A broken file in a user directory must not hide the others at 03:00.
    ui::warn(&format!(
      "skipped {} invalid runbook(s): {}; see `megacity runbook validate {}`",
      broken.len(),
      broken.join(", "),
      broken.join(" ")
    ));
  }
  render::emit(&RunbookList { rows }, config.format)?;
  Ok(exit_code::SUCCESS)
}
