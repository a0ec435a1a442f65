//! `megacity runbook run`: load → values → plan → journal → engine → exit code.

mod recorded;
mod resume;
mod setup;

use std::io::IsTerminal;
use std::time::Duration;

use self::resume::Resume;
use self::setup::RunSetup;
use crate::cli::{Format, RunArgs};
use crate::commands::alerts::alertmanager;
use crate::config::Config;
use crate::error::Error;
use crate::exec::engine::{Engine, Prior};
use crate::exec::event::{Operator, Reporter, RunEnd, Tee};
use crate::exec::interrupt::Interrupts;
use crate::exec::plan::{Plan, RunMode};
use crate::exec::result::RunResult;
use crate::exec::transport::{LockRequest, SshSettings, Transport, Transports};
use crate::inventory::Inventory;
use crate::journal::{self, Header, Journal};
use crate::runbook::values::Values;
use crate::runbook::{self, Runbook, catalog::Catalog};
use crate::{inventory, ui};

pub(crate) fn run(config: &Config, args: &RunArgs) -> Result<i32, Error> {
  let resume = args
    .resume
    .as_deref()
    .map(|run| Resume::open(&config.journal_dir, run, args.id.as_deref()))
    .transpose()?;
  // A resume reaches the same hosts the same way, unless told otherwise again.
  let (mut given, overrides) = match &resume {
    Some(r) => recorded::merge(recorded::given(config, args), &r.header.setup),
    None => (recorded::given(config, args), Vec::new()),
  };
  let config = &recorded::apply(config, &given);
  // An alert names the runbook and the hosts, unless the operator did.
  let routed = args
    .alert
    .as_deref()
    .map(|wanted| for_alert(config, args, wanted))
    .transpose()?;
  if let Some(routed) = &routed {
    if given.hosts.is_empty() {
      given.hosts = routed.hosts.clone();
    }
    given.alert = Some(format!("{} ({})", routed.alert, routed.fingerprint));
  }
  let id = match (&resume, &args.id, &routed) {
    (Some(r), _, _) => r.header.runbook.clone(),
    (None, Some(id), _) => id.clone(),
    (None, None, Some(routed)) => {
      routed
        .runbook
        .clone()
        .ok_or_else(|| Error::NoRunbookForAlert {
          alert: routed.alert.clone(),
        })?
    }
    (None, None, None) => return Err(which_runbook(config)),
  };
  let (text, runbook, inventory) = load(config, &id)?;
  let ssh = recorded::ssh(&given);
  ssh.check()?;
  if let Some(r) = &resume {
    r.check_unchanged(&text, args.resume_changed)?;
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
    &given.hosts,
    args.from.as_deref(),
  )?;

  // The record comes first: nothing happens that is not written down.
  let (journal, prior, header) = match resume {
    Some(r) => r.continue_in(&plan)?,
    None => {
      let header = journal::header(&plan, &journal::new_run_id(&runbook.id), &text, &given);
      (
        Journal::create(&config.journal_dir, &header)?,
        Prior::default(),
        header,
      )
    }
  };
  overrides.iter().for_each(|line| journal.note_setup(line));
  if let Some(alert) = &header.setup.alert {
    say!(
      "for alert {alert}: {} on {}",
      runbook.id,
      if given.hosts.is_empty() {
        "its hosts".to_string()
      } else {
        given.hosts.join(", ")
      }
    );
  }
  // --format json: stdout carries the run's records, as the journal has them; people read stderr.
  let json = config.format == Format::Json;
  if json {
    journal.echo_to_stdout(&header);
  }
  let screen = ui::reporter::Lines::new(
    setup.mode,
    std::io::stderr().is_terminal() && (json || std::io::stdout().is_terminal()),
    json,
    args.utc,
  );
  let lock = lock_request(&setup, &plan, &header, args.break_lock);
  let run = Execution {
    plan: &plan,
    inventory: &inventory,
    ssh: &ssh,
    lock,
    prior,
  };
  // The team hears of it too, where Slack or PagerDuty is configured (a rehearsal: only the
  // drill channel).
  let notifier = crate::notify::Notifier::new(
    &config.settings,
    setup.mode,
    &header.run,
    &header.operator,
    header.setup.alert.as_deref(),
  );
  let mut reporters: Vec<&dyn crate::exec::event::Reporter> = vec![&journal, &screen];
  if let Some(n) = &notifier {
    reporters.push(n);
  }
  let result = run.execute(setup.operator().as_ref(), &Tee(reporters))?;
  for failure in notifier.iter().flat_map(|n| n.finish()) {
    ui::warn(&failure);
    journal.note(&failure);
  }
  // Whether the alert resolved is told and recorded; the exit code stays the run's own (the
  // one its end record holds).
  if let (Some(routed), Some(limit)) = (&routed, args.until_resolved) {
    until_resolved(config, &journal, args, routed, limit)?;
  }
  finish(&journal, &result, setup.mode);
  Ok(match journal.failure() {
    Some(_) => crate::exit_code::ERROR,
    None => result.exit_code(&plan),
  })
}

/// Asks Alertmanager, for up to `limit`, whether the alert the run was for has resolved; says
/// and records the answer.
fn until_resolved(
  config: &Config,
  journal: &Journal,
  args: &RunArgs,
  routed: &crate::alerts::Routed,
  limit: std::time::Duration,
) -> Result<(), Error> {
  let url = alertmanager(config, args.alertmanager.as_deref())?;
  let every = (limit / 10).clamp(
    std::time::Duration::from_secs(1),
    std::time::Duration::from_secs(15),
  );
  let started = std::time::Instant::now();
  say!(
    "waiting up to {} for alert {} to resolve …",
    crate::schema::format_duration(limit),
    routed.alert
  );
  let resolved = loop {
    let firing = crate::alerts::fetch(url)?;
    if !firing.iter().any(|a| a.fingerprint == routed.fingerprint) {
      break true;
    }
    if started.elapsed() + every > limit {
      break false;
    }
    std::thread::sleep(every);
  };
  let waited = started.elapsed().as_secs();
  if resolved {
    say!("alert {} resolved ({waited} s after the run)", routed.alert);
  } else {
    ui::warn(&format!(
      "alert {} still fires {waited} s after the run",
      routed.alert
    ));
  }
  let _ = journal.write(&journal::Record::AlertResolved {
    t: journal::now(),
    alert: format!("{} ({})", routed.alert, routed.fingerprint),
    resolved,
    waited_s: waited,
  });
  Ok(())
}

/// The firing alert `wanted`, routed to its runbook and hosts.
fn for_alert(
  config: &Config,
  args: &RunArgs,
  wanted: &str,
) -> Result<crate::alerts::Routed, Error> {
  let url = alertmanager(config, args.alertmanager.as_deref())?;
  let firing = crate::alerts::fetch(url)?;
  let alert = crate::alerts::pick(&firing, wanted)?;
  let inventory = inventory::load(config.inventory.as_deref())?;
  let runbooks = crate::commands::alerts::runbooks(config)?;
  let routed = crate::alerts::route(alert, &runbooks, &inventory);
  for address in &routed.unmatched {
    ui::warn(&format!(
      "the alert names `{address}`, which is not an inventory host: not selected"
    ));
  }
  Ok(routed)
}

/// No runbook named: which ones there are.
fn which_runbook(config: &Config) -> Error {
  let ids = Catalog::discover(&config.runbook_dirs)
    .map(|c| c.ids().map(str::to_string).collect::<Vec<_>>())
    .unwrap_or_default();
  Error::WhichRunbook { ids }
}

/// The runbook, validated against the inventory: nothing runs from a runbook with a problem in
/// it. With it, the text a resume compares: its own, then each runbook it calls, so that a
/// changed callee is noticed too (a runbook that calls none hashes as its text alone).
fn load(config: &Config, id: &str) -> Result<(String, Runbook, Inventory), Error> {
  let catalog = Catalog::discover(&config.runbook_dirs)?;
  let entry = catalog.get(id)?;
  let inventory = inventory::load(config.inventory.as_deref())?;
  let mut text = entry.source()?.text.into_owned();
  let called = std::cell::RefCell::new(Vec::new());
  // Steps of the runbooks it calls are part of it from here on.
  let runbook = runbook::compose::expand(
    runbook::compose::valid(&catalog, &entry.id, Some(&inventory))?,
    &|callee: &str| {
      called
        .borrow_mut()
        .push((callee.to_string(), catalog.get(callee)?.source()?.text));
      runbook::compose::valid(&catalog, callee, Some(&inventory))
    },
  )?;
  for (callee, source) in called.into_inner() {
    text.push_str(&format!("\n--- runbook {callee}\n{source}"));
  }
  Ok((text, runbook, inventory))
}

/// A live run locks the hosts it may change, in the name of this operator and run.
fn lock_request(
  setup: &RunSetup,
  plan: &Plan<'_>,
  header: &Header,
  break_held: bool,
) -> Option<LockRequest> {
  (setup.mode == RunMode::Live).then(|| LockRequest {
    hosts: plan.changed_hosts(),
    owner: format!(
      "{}@{}, runbook {}, run {}, since {}",
      header.operator, header.machine, header.runbook, header.run, header.started
    ),
    run: header.run.clone(),
    break_held,
  })
}

/// The engine on its transports, inside the runtime, with signals handled from the start.
struct Execution<'a> {
  plan: &'a Plan<'a>,
  inventory: &'a Inventory,
  ssh: &'a SshSettings,
  lock: Option<LockRequest>,
  prior: Prior,
}

impl Execution<'_> {
  fn execute(self, operator: &dyn Operator, reporter: &dyn Reporter) -> Result<RunResult, Error> {
    let runtime = crate::exec::runtime()?;
    let dry = self.plan.mode == RunMode::DryRun;
    let result = runtime.block_on(async {
      let interrupts = Interrupts::install();
      let transports = Transports::for_mode(dry, self.ssh, self.inventory, self.lock)?;
      let result = Engine::new(self.plan, &transports, operator, reporter, interrupts)
        .concurrency(self.ssh.concurrency)
        .resuming(self.prior)
        .run()
        .await;
      // Every master is closed whatever happened; a failed close is only a warning.
      for warning in transports.close().await {
        ui::warn(&warning);
      }
      if let Some(note) = transports.kept_note(self.ssh) {
        say!("{note}");
      }
      Ok::<RunResult, Error>(result)
    });
    runtime.shutdown_timeout(Duration::from_secs(1));
    result
  }
}

/// Where the record is, whether it is whole, and how to go on from a run that stopped.
fn finish(journal: &Journal, result: &RunResult, mode: RunMode) {
  if let Some(e) = journal.failure() {
    ui::warn(&format!(
      "the record is incomplete: {e}; what happened after that is only on this screen"
    ));
    say!("recorded (incomplete): {}", journal.path().display());
    return;
  }
  say!("recorded: {}", journal.path().display());
  if result.end != RunEnd::Completed && mode != RunMode::DryRun {
    let run = journal
      .path()
      .file_stem()
      .unwrap_or_default()
      .to_string_lossy();
    say!("to go on from the step that did not finish: megacity runbook run --resume {run}");
  }
}
