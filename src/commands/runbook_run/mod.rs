//! `megacity runbook run`: load → values → plan → journal → engine → exit code.

mod recorded;
mod resume;
mod setup;

use std::io::IsTerminal;
use std::time::Duration;

use self::resume::Resume;
use self::setup::RunSetup;
use crate::cli::{Format, RunArgs};
use crate::config::Config;
use crate::error::Error;
use crate::exec::engine::{Engine, Prior};
use crate::exec::event::{RunEnd, Tee};
use crate::exec::interrupt::Interrupts;
use crate::exec::plan::{Plan, RunMode};
use crate::exec::result::RunResult;
use crate::exec::transport::{LockRequest, Transport, Transports};
use crate::journal::{self, Journal};
use crate::runbook::values::Values;
use crate::runbook::{self, catalog::Catalog};
use crate::{inventory, ui};

pub(crate) fn run(config: &Config, args: &RunArgs) -> Result<i32, Error> {
  let resume = args
    .resume
    .as_deref()
    .map(|run| Resume::open(&config.journal_dir, run, args.id.as_deref()))
    .transpose()?;
  let id = match (&resume, &args.id) {
    (Some(r), _) => r.header.runbook.clone(),
    (None, Some(id)) => id.clone(),
    (None, None) => unreachable!("clap requires an id unless --resume"),
  };
  // A resume reaches the same hosts the same way, unless told otherwise again.
  let (recorded_setup, overrides) = match &resume {
    Some(r) => recorded::merge(recorded::given(config, args), &r.header.setup),
    None => (recorded::given(config, args), Vec::new()),
  };
  let config = &recorded::apply(config, &recorded_setup);
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
  if let Some(r) = &resume {
    r.check_unchanged(&source.text, args.resume_changed)?;
  }

  let setup = RunSetup::new(
    args,
    resume.as_ref(),
    &runbook,
    std::io::stdin().is_terminal(),
  )?;
  let values = Values::resolve(&runbook, &setup.vars, true)?;
  let plan = Plan::new(
    &runbook,
    &inventory,
    values,
    setup.mode,
    &recorded_setup.hosts,
    args.from.as_deref(),
  )?;

  // The record comes first: nothing happens that is not written down.
  let (journal, prior, header) = match resume {
    Some(r) => {
      let header = r.header.clone();
      let (journal, prior) = r.continue_in(&plan)?;
      (journal, prior, header)
    }
    None => {
      let header = journal::header(
        &plan,
        &journal::new_run_id(&runbook.id),
        &source.text,
        &recorded_setup,
      );
      (
        Journal::create(&config.journal_dir, &header)?,
        Prior::default(),
        header,
      )
    }
  };
  let lock = (setup.mode == RunMode::Live).then(|| LockRequest {
    hosts: plan.changed_hosts(),
    owner: format!(
      "{}@{}, runbook {}, run {}, since {}",
      header.operator, header.machine, header.runbook, header.run, header.started
    ),
    run: header.run.clone(),
    break_held: args.break_lock,
  });
  let operator = setup.operator();
  // --format json: stdout carries the run's records, as the journal has them; people read stderr.
  let json = config.format == Format::Json;
  if json {
    journal.echo_to_stdout(&header);
  }
  let screen = ui::reporter::Lines::new(
    setup.mode,
    std::io::stderr().is_terminal() && (json || std::io::stdout().is_terminal()),
    json,
  );
  let reporter = Tee(vec![&journal, &screen]);

  let runtime = crate::exec::runtime()?;
  let ssh = recorded::ssh(&recorded_setup);
  for line in &overrides {
    journal.note_setup(line);
  }
  let result = runtime.block_on(async {
    let interrupts = Interrupts::install();
    let transports = Transports::for_mode(setup.mode == RunMode::DryRun, &ssh, &inventory, lock)?;
    let result = Engine::new(&plan, &transports, operator.as_ref(), &reporter, interrupts)
      .concurrency(ssh.concurrency)
      .resuming(prior)
      .run()
      .await;
    // Every master is closed whatever happened; a failed close is only a warning.
    for warning in transports.close().await {
      ui::warn(&warning);
    }
    if let Some(note) = transports.kept_note(&ssh) {
      eprintln!("{note}");
    }
    Ok::<RunResult, Error>(result)
  })?;
  runtime.shutdown_timeout(Duration::from_secs(1));
  if let Some(e) = journal.failure() {
    ui::warn(&format!(
      "the record is incomplete: {e}; what happened after that is only on this screen"
    ));
    eprintln!("recorded (incomplete): {}", journal.path().display());
    return Ok(crate::exit_code::ERROR);
  }
  eprintln!("recorded: {}", journal.path().display());
  if result.end != RunEnd::Completed && setup.mode != RunMode::DryRun {
    let run = journal
      .path()
      .file_stem()
      .unwrap_or_default()
      .to_string_lossy();
    eprintln!("to go on from the step that did not finish: megacity runbook run --resume {run}");
  }
  Ok(result.exit_code(&plan))
}
