use std::io::IsTerminal;

use crate::cli::RunArgs;
use crate::commands::connection::{self, ControlDir};
use crate::config::Config;
use crate::error::Error;
use crate::exec::engine::{Engine, RunResult};
use crate::exec::event::{Operator, Outcome, RunEnd, Unattended};
use crate::exec::local::Local;
use crate::exec::plan::{Mode, Plan};
use crate::exec::{Routed, transport::Transport};
use crate::runbook::model::StepKind;
use crate::runbook::values::Values;
use crate::runbook::{self, catalog::Catalog};
use crate::{exit_code, inventory, ui};

pub fn run(config: &Config, args: &RunArgs) -> Result<i32, Error> {
  let catalog = Catalog::discover(&config.runbook_dirs)?;
  let entry = catalog.get(&args.id)?;
  let inventory = inventory::load(config.inventory.as_deref())?;
  let source = entry.source()?;
  // Nothing runs from a runbook with a problem in it.
  let runbook = runbook::load(&source, Some(&entry.id), Some(&inventory))
    .valid()
    .map_err(|diagnostics| Error::Invalid {
      what: format!("runbook `{}`", entry.id),
      diagnostics,
    })?;
  let values = Values::resolve(&runbook, &args.vars, true)?;
  let mode = match (args.dry_run, args.checks_only) {
    (true, _) => Mode::DryRun,
    (_, true) => Mode::ChecksOnly,
    _ => Mode::Live,
  };
  let terminal = std::io::stdin().is_terminal();
  // Refuse before connecting anywhere: a run nobody can answer must not start.
  if !terminal && !args.yes && mode != Mode::ChecksOnly {
    return Err(Error::Parameter {
      message: "stdin is not a terminal, so nobody can confirm actions".into(),
      hint: Some(
        "pass --yes to confirm ordinary actions (and --yes-destructive for destructive ones), \
         --checks-only to run only the checks, or --dry-run --yes to print the plan"
          .into(),
      ),
    });
  }
  let plan = Plan::new(
    &runbook,
    &inventory,
    values,
    mode,
    &args.hosts,
    args.from.as_deref(),
  )?;
  let operator: Box<dyn Operator> = match (terminal && !args.yes, mode) {
    (true, _) => Box::new(ui::prompt::Interactive::new()),
    // A printed plan shows every action, destructive ones included: nothing runs.
    (false, Mode::DryRun) => Box::new(Unattended {
      yes: true,
      destructive: true,
    }),
    (false, _) => Box::new(Unattended {
      yes: args.yes,
      destructive: args.yes_destructive,
    }),
  };
  let reporter = ui::reporter::Lines::new(
    mode,
    std::io::stderr().is_terminal() && std::io::stdout().is_terminal(),
  );

  let runtime = connection::runtime()?;
  let result = runtime.block_on(async {
    let interrupts = connection::interrupts();
    if mode == Mode::DryRun {
      // Nothing connects and nothing is spawned: the engine gets no transport it could use.
      let engine = Engine {
        plan: &plan,
        transport: &Nowhere,
        operator: operator.as_ref(),
        reporter: &reporter,
        interrupts,
        concurrency: usize::from(args.ssh.concurrency),
        prompt_interrupted: Default::default(),
      };
      return Ok::<RunResult, Error>(engine.run().await);
    }
    let control = ControlDir::create()?;
    let transport = Routed {
      remote: connection::ssh(&args.ssh, &control, &inventory),
      local: Local,
    };
    let engine = Engine {
      plan: &plan,
      transport: &transport,
      operator: operator.as_ref(),
      reporter: &reporter,
      interrupts,
      concurrency: usize::from(args.ssh.concurrency),
      prompt_interrupted: Default::default(),
    };
    let result = engine.run().await;
    // Every master is closed whatever happened; a failed close is only a warning.
    for warning in transport.close().await {
      ui::warn(&warning);
    }
    drop(control);
    Ok(result)
  })?;
  runtime.shutdown_timeout(std::time::Duration::from_secs(1));
  Ok(exit_code_for(&plan, &result))
}

/// 0 when the run completed and nothing is left broken; see README "Exit codes".
fn exit_code_for(plan: &Plan<'_>, result: &RunResult) -> i32 {
  match result.end {
    RunEnd::Aborted => return exit_code::ABORTED,
    RunEnd::Interrupted => return exit_code::INTERRUPTED,
    RunEnd::Stopped => return exit_code::FAILURE,
    RunEnd::Completed => {}
  }
  if plan.mode == Mode::DryRun {
    return exit_code::SUCCESS;
  }
  let handled = |id: &str| {
    plan
      .steps
      .iter()
      .any(|s| s.step.when.failed.iter().any(|f| f.value == id))
  };
  for record in &result.records {
    let step = plan
      .steps
      .iter()
      .find(|s| s.step.id.value == record.id)
      .map(|s| s.step);
    for r in &record.results {
      let failed = match r.outcome {
        Outcome::Unreachable => true,
        // A failed check that a later step remedies is a finding; the verification decides.
        Outcome::Failed => match step.map(|s| &s.kind) {
          Some(StepKind::Check { .. }) => plan.mode == Mode::ChecksOnly || !handled(&record.id),
          _ => true,
        },
        _ => false,
      };
      if failed {
        return exit_code::FAILURE;
      }
    }
  }
  exit_code::SUCCESS
}

/// The dry run's transport: it has nowhere to go.
struct Nowhere;

impl Transport for Nowhere {
  fn connect<'a>(
    &'a self,
    _: &'a str,
  ) -> crate::exec::transport::BoxFuture<'a, Result<(), crate::exec::transport::TransportError>> {
    Box::pin(async {
      Err(crate::exec::transport::TransportError::Failed(
        "dry run: nothing connects".into(),
      ))
    })
  }

  fn run<'a>(
    &'a self,
    _: &'a str,
    _: &'a str,
    _: std::time::Duration,
    _: crate::exec::transport::Interrupts,
  ) -> crate::exec::transport::BoxFuture<
    'a,
    Result<crate::exec::transport::Output, crate::exec::transport::TransportError>,
  > {
    Box::pin(async {
      Err(crate::exec::transport::TransportError::Failed(
        "dry run: nothing runs".into(),
      ))
    })
  }

  fn close(&self) -> crate::exec::transport::BoxFuture<'_, Vec<String>> {
    Box::pin(async { Vec::new() })
  }
}
