//! `runbook validate`: checks runbooks by id or path and reports every problem at once.

use std::path::Path;

use crate::cli::ValidateArgs;
use crate::config::Config;
use crate::diagnostic::{Diagnostic, Level};
use crate::error::Error;
use crate::exit_code;
use crate::inventory;
use crate::runbook::{self, catalog::Catalog};
use crate::source::Source;
use crate::ui::render::{self, Checked, Validation};

/// One thing to validate: a readable source (with the id its file name implies) or a file
/// refused before parsing.
enum Item {
  Source(Source, Option<String>),
  Refused(Diagnostic),
}

/// A problem with the runbooks `runbook` calls, at the first call step.
fn calls(
  catalog: &Catalog,
  inventory: &inventory::Inventory,
  source: &Source,
  runbook: runbook::Runbook,
) -> Option<Diagnostic> {
  use crate::runbook::model::StepKind;
  let at = runbook.steps.iter().find_map(|s| match &s.kind {
    StepKind::Call(call) => Some(call.runbook.pos),
    _ => None,
  })?;
  let one = |id: &str| runbook::compose::valid(catalog, id, Some(inventory));
  let error = runbook::compose::expand(runbook, &one).err()?;
  let mut c = crate::diagnostic::Collector::new(&source.display, &source.text);
  c.error(at, error.to_string(), error.hint());
  c.items.pop()
}

pub(crate) fn run(config: &Config, args: &ValidateArgs) -> Result<i32, Error> {
  let inventory = inventory::load(config.inventory.as_deref())?;
  let catalog = Catalog::discover(&config.runbook_dirs)?;
  let mut items: Vec<Item> = Vec::new();
  if args.targets.is_empty() {
    for skipped in catalog.skipped() {
      say!("note: {}", crate::ui::text::sanitize(&skipped.to_string()));
    }
    for entry in catalog.entries() {
      items.push(Item::Source(entry.source()?, Some(entry.id.clone())));
    }
  }
  for target in &args.targets {
    let path = Path::new(target);
    let is_path = target.contains('/') || target.ends_with(".yaml") || target.ends_with(".yml");
    let is_file = is_path || (path.is_file() && catalog.get(target).is_err());
    if !is_file {
      let entry = catalog.get(target)?;
      items.push(Item::Source(entry.source()?, Some(entry.id.clone())));
      continue;
    }
    let stem = path
      .file_stem()
      .and_then(|s| s.to_str())
      .map(str::to_string);
    match Source::read(path) {
      Ok(source) => items.push(Item::Source(source, stem)),
      // An oversized file is a finding about that file, not a reason to stop.
      Err(e @ Error::TooLarge { .. }) => items.push(Item::Refused(Diagnostic {
        level: Level::Error,
        file: target.clone(),
        line: 0,
        column: 0,
        message: e.to_string(),
        hint: Some("a runbook is a page of YAML; split it or remove what is not a runbook".into()),
        source_line: None,
      })),
      Err(e) => return Err(e),
    }
  }

  let checked: Vec<Checked> = items
    .into_iter()
    .map(|item| {
      let (file, diagnostics) = match item {
        Item::Source(source, expected) => {
          let loaded = runbook::load(&source, expected.as_deref(), Some(&inventory));
          let mut diagnostics = loaded.diagnostics;
          // The runbooks it calls must exist, be valid, and take the values given to them.
          if let Some(r) = loaded
            .runbook
            .filter(|_| diagnostics.iter().all(|d| d.level != Level::Error))
          {
            diagnostics.extend(calls(&catalog, &inventory, &source, r));
          }
          (source.display, diagnostics)
        }
        Item::Refused(d) => (d.file.clone(), vec![d]),
      };
      let valid = !diagnostics
        .iter()
        .any(|d| d.level == Level::Error || (args.deny_warnings && d.level == Level::Warning));
      Checked {
        file,
        valid,
        diagnostics,
      }
    })
    .collect();
  let count = |level| {
    checked
      .iter()
      .flat_map(|r| &r.diagnostics)
      .filter(|d| d.level == level)
      .count()
  };
  let view = Validation {
    errors: count(Level::Error),
    warnings: count(Level::Warning),
    runbooks: checked,
  };
  render::emit(&view, config.format)?;
  Ok(if view.invalid() > 0 {
    exit_code::USAGE
  } else {
    exit_code::SUCCESS
  })
}
