//! `runbook show`: one runbook, or some of its steps, as it would run with the values given.

use crate::cli::ShowArgs;
use crate::config::Config;
use crate::diagnostic::did_you_mean;
use crate::error::Error;
use crate::exit_code;
use crate::inventory;
use crate::runbook::model::StepKind;
use crate::runbook::template::Quoting;
use crate::runbook::values::Values;
use crate::runbook::{self, catalog::Catalog};
use crate::schema::format_duration;
use crate::ui::render::{self, Parameter, PlannedStep, RunbookShow};

pub(crate) fn run(config: &Config, args: &ShowArgs) -> Result<i32, Error> {
  let catalog = Catalog::discover(&config.runbook_dirs)?;
  let entry = catalog.get(&args.id)?;
  let inventory = inventory::load(config.inventory.as_deref())?;
  let runbook = runbook::compose::load(&catalog, &entry.id, None)?;
  for step in &args.steps {
    if runbook.step(step).is_none() {
      return Err(Error::UnknownStep {
        runbook: runbook.id.clone(),
        step: step.clone(),
        suggestion: did_you_mean(step, runbook.steps.iter().map(|s| s.id.value.as_str())),
      });
    }
  }
  let values = Values::resolve(&runbook, &args.vars, false)?;
  let text = |template: &str| values.display(template, None, Quoting::Text);
  // Targets named by parameters show the host they name (as a run resolves them); one named by
  // a value learned during the run stays as written.
  let targets: Vec<Vec<String>> = runbook
    .steps
    .iter()
    .map(|step| {
      step
        .targets
        .iter()
        .map(|t| match values.knows_all(&t.value) {
          true => text(&t.value),
          false => t.value.clone(),
        })
        .collect()
    })
    .collect();
  let plan = runbook
    .steps
    .iter()
    .enumerate()
    .filter(|(_, s)| args.steps.is_empty() || args.steps.contains(&s.id.value))
    .map(|(i, step)| PlannedStep {
      id: step.id.value.clone(),
      hosts: inventory.expand(targets[i].iter().map(String::as_str)),
      command: step
        .command()
        .map(|c| values.display(c, None, Quoting::Shell)),
      step,
      number: i + 1,
      targets: targets[i]
        .iter()
        .map(|t| (t.as_str(), inventory.resolve(t)))
        .collect(),
      confirm: match &step.kind {
        StepKind::Action {
          confirm: Some(c), ..
        } => Some(text(c)),
        _ => None,
      },
      instructions: match &step.kind {
        StepKind::Manual { instructions } => Some(text(instructions)),
        _ => None,
      },
    })
    .collect();
  let view = RunbookShow {
    runbook: &runbook,
    origin: entry.origin.to_string(),
    response_target: format_duration(runbook.severity.targets().0),
    recovery_target_effective: format_duration(runbook.recovery_target()),
    plan,
    header: args.steps.is_empty(),
    parameters: runbook
      .parameters
      .iter()
      .map(|spec| Parameter {
        spec,
        value: values.get(&spec.name).map(|v| v.text.clone()),
      })
      .collect(),
  };
  render::emit(&view, config.format)?;
  Ok(exit_code::SUCCESS)
}
