use serde::Serialize;

use crate::cli::Format;
use crate::config::Config;
use crate::error::Error;
use crate::inventory::{self};
use crate::runbook::{self, catalog::Catalog, model::Severity};
use crate::{exit_code, ui};

#[derive(Serialize)]
struct Row {
  id: String,
  severity: Severity,
  title: String,
  hosts: Vec<String>,
  steps: usize,
  origin: String,
}

pub fn run(config: &Config) -> Result<i32, Error> {
  let catalog = Catalog::discover(&config.runbook_dirs)?;
  let inventory = inventory::load(config.inventory.as_deref())?;
  let mut rows = Vec::new();
  let mut broken = Vec::new();
  for entry in catalog.entries() {
    let source = entry.source()?;
    match runbook::load(&source, Some(&entry.id), None).valid() {
      Ok(runbook) => rows.push(Row {
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
  if config.format == Format::Json {
    ui::emit_json(&rows)?;
    return Ok(exit_code::SUCCESS);
  }
  let mut table = vec![
    ["ID", "SEV", "STEPS", "HOSTS", "TITLE"]
      .map(|h| ui::style::bold(h).to_string())
      .to_vec(),
  ];
  for row in &rows {
    table.push(vec![
      row.id.clone(),
      ui::style::severity(row.severity).to_string(),
      row.steps.to_string(),
      abbreviate(&row.hosts, 3),
      ui::text::sanitize(&row.title).into_owned(),
    ]);
  }
  ui::emit(&ui::text::table(&table))?;
  Ok(exit_code::SUCCESS)
}

fn abbreviate(names: &[String], keep: usize) -> String {
  if names.len() <= keep + 1 {
    return names.join(",");
  }
  format!("{},+{}", names[..keep].join(","), names.len() - keep)
}
