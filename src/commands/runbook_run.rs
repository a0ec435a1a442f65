use std::io::IsTerminal;
use std::time::{Duration, SystemTime};

use crate::cli::RunArgs;
use crate::commands::connection::{self, ControlDir};
use crate::config::Config;
use crate::error::Error;
use crate::exec::Routed;
use crate::exec::engine::{Engine, RunResult};
use crate::exec::event::{Operator, Outcome, RunEnd, StepRecord, Tee, Unattended};
use crate::exec::local::Local;
use crate::exec::plan::{Mode, Plan};
use crate::exec::transport::{BoxFuture, Interrupts, Output, Transport, TransportError};
use crate::journal::{self, Journal, Record};
use crate::runbook::model::StepKind;
use crate::runbook::values::Values;
use crate::runbook::{self, catalog::Catalog};
use crate::{exit_code, inventory, ui};

/// What a resumed run takes over from the interrupted one.
struct Resume {
  path: std::path::PathBuf,
  read: journal::Read,
  header: journal::Header,
}

pub fn run(config: &Config, args: &RunArgs) -> Result<i32, Error> {
  let resume = match &args.resume {
    None => None,
    Some(run) => {
      let path = journal::find(&config.journal_dir, run)?;
      let read = journal::read(&path)?;
      let header = read.header().cloned().ok_or_else(|| Error::Parameter {
        message: format!(
          "{} has no header; it is not a megacity journal",
          path.display()
        ),
        hint: None,
      })?;
      if read.end() == Some(RunEnd::Completed) {
        return Err(Error::Parameter {
          message: format!(
            "run {} completed; there is nothing to resume",
            read.run_id()
          ),
          hint: Some(format!(
            "start a new run: megacity runbook run {}",
            header.runbook
          )),
        });
      }
      Some(Resume { path, read, header })
    }
  };
  let id = match (&args.id, &resume) {
    (Some(id), Some(r)) if *id != r.header.runbook => {
      return Err(Error::Parameter {
        message: format!(
          "run {} is of runbook `{}`, not `{id}`",
          r.read.run_id(),
          r.header.runbook
        ),
        hint: Some("leave out the runbook id when resuming".into()),
      });
    }
    (Some(id), _) => id.clone(),
    (None, Some(r)) => r.header.runbook.clone(),
    (None, None) => unreachable!("clap requires an id unless --resume"),
  };

  let catalog = Catalog::discover(&config.runbook_dirs)?;
  let entry = catalog.get(&id)?;
  let inventory = inventory::load(config.inventory.as_deref())?;
  let source = entry.source()?;
  // Nothing runs from a runbook with a problem in it.
  let runbook = runbook::load(&source, Some(&entry.id), Some(&inventory))
    .valid()
    .map_err(|diagnostics| Error::Invalid {
      what: format!("runbook `{}`", entry.id),
      diagnostics,
    })?;

  let mut vars = args.vars.clone();
  let mut mode = match (args.dry_run, args.checks_only) {
    (true, _) => Mode::DryRun,
    (_, true) => Mode::ChecksOnly,
    _ => Mode::Live,
  };
  if let Some(r) = &resume {
    if journal::sha256(&source.text) != r.header.hash && !args.resume_changed {
      return Err(Error::Parameter {
        message: format!(
          "runbook `{id}` changed since run {} started; its steps may no longer mean what they did",
          r.read.run_id()
        ),
        hint: Some(
          "check the change, then pass --resume-changed to go on anyway, or start a new run".into(),
        ),
      });
    }
    // The same parameters; secrets come from their environment variables again.
    vars = r
      .header
      .parameters
      .iter()
      .filter(|(name, _)| {
        runbook
          .parameter(name)
          .is_some_and(|p| p.secret_env.is_none())
      })
      .map(|(k, v)| (k.clone(), v.clone()))
      .collect();
    mode = r.header.mode;
  }
  let values = Values::resolve(&runbook, &vars, true)?;
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

  // The record comes first: nothing happens that is not written down.
  let (journal, prior, elapsed_before, rungs_done) = match &resume {
    Some(r) => {
      let journal = Journal::reopen(&r.path)?;
      let started = journal::parse_time(&r.header.started).unwrap_or_else(SystemTime::now);
      let elapsed = SystemTime::now()
        .duration_since(started)
        .unwrap_or(Duration::ZERO);
      let rungs = r
        .read
        .records
        .iter()
        .filter(|x| matches!(x, Record::Escalation { .. }))
        .count();
      (journal, r.read.prior(), elapsed, rungs)
    }
    None => {
      let run_id = journal::new_run_id(&runbook.id);
      let header = journal::header(&plan, &run_id, &source.text);
      (
        Journal::create(&config.journal_dir, &header)?,
        Vec::new(),
        Duration::ZERO,
        0,
      )
    }
  };
  let prior = complete_prior(&plan, prior);

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
  let screen = ui::reporter::Lines::new(
    mode,
    std::io::stderr().is_terminal() && std::io::stdout().is_terminal(),
  );
  let reporter = Tee(vec![&journal, &screen]);

  let runtime = connection::runtime()?;
  let result = runtime.block_on(async {
    let interrupts = connection::interrupts();
    // A dry run gets no transport it could use: nothing connects and nothing is spawned.
    let control = if mode == Mode::DryRun {
      None
    } else {
      Some(ControlDir::create()?)
    };
    let routed = match &control {
      Some(control) => Some(Routed {
        remote: connection::ssh(&args.ssh, control, &inventory)?,
        local: Local,
      }),
      None => None,
    };
    let transport: &dyn Transport = match &routed {
      Some(routed) => routed,
      None => &Nowhere,
    };
    let engine = Engine {
      plan: &plan,
      transport,
      operator: operator.as_ref(),
      reporter: &reporter,
      interrupts,
      concurrency: usize::from(args.ssh.concurrency),
      prompt_interrupted: Default::default(),
      prior,
      elapsed_before,
      rungs_done,
    };
    let result = engine.run().await;
    // Every master is closed whatever happened; a failed close is only a warning.
    for warning in transport.close().await {
      ui::warn(&warning);
    }
    if let Some(note) = routed
      .as_ref()
      .and_then(|r| connection::kept_note(&r.remote, &args.ssh))
    {
      eprintln!("{note}");
    }
    drop(control);
    Ok::<RunResult, Error>(result)
  })?;
  runtime.shutdown_timeout(Duration::from_secs(1));
  eprintln!("recorded: {}", journal.path().display());
  Ok(exit_code_for(&plan, &result))
}

/// Prior results, with each step's kind filled in from the plan.
fn complete_prior(plan: &Plan<'_>, prior: Vec<StepRecord>) -> Vec<StepRecord> {
  prior
    .into_iter()
    .filter_map(|mut record| {
      let planned = plan.steps.iter().find(|s| s.step.id.value == record.id)?;
      record.kind = planned.step.kind_name();
      Some(record)
    })
    .collect()
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
  fn connect<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<(), TransportError>> {
    Box::pin(async { Err(TransportError::Failed("dry run: nothing connects".into())) })
  }

  fn run<'a>(
    &'a self,
    _: &'a str,
    _: &'a str,
    _: Duration,
    _: Interrupts,
  ) -> BoxFuture<'a, Result<Output, TransportError>> {
    Box::pin(async { Err(TransportError::Failed("dry run: nothing runs".into())) })
  }

  fn close(&self) -> BoxFuture<'_, Vec<String>> {
    Box::pin(async { Vec::new() })
  }
}
