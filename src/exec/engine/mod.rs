//! The state machine: walks the plan step by step, runs commands through a transport, judges
//! them, asks the operator where a person must decide, and reports events. It never touches
//! the terminal itself.
//!
//! `step` dispatches on the step's kind: checks and actions run on hosts (`hosts.rs`), actions
//! ask first (`action.rs`), manual steps wait for a person (`manual.rs`).

mod action;
mod ask;
mod escalation;
mod hosts;
mod manual;
#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::exec::condition;
use crate::exec::event::*;
use crate::exec::expect::Compiled;
use crate::exec::interrupt::Interrupts;
use crate::exec::plan::{Plan, PlannedStep, RunMode};
use crate::exec::preflight::preflight;
use crate::exec::result::RunResult;
use crate::exec::transport::{LockState, Transport};
use crate::runbook::model::StepKind;

/// What a resumed run takes over from the one it continues.
#[derive(Default)]
pub(crate) struct Prior {
  /// Steps already completed, with their results (conditions still see them).
  pub(crate) records: Vec<StepRecord>,
  /// Time the incident had already run before this invocation (for escalation rungs).
  pub(crate) elapsed: Duration,
  /// Rungs already announced.
  pub(crate) rungs_done: usize,
}

pub(crate) struct Engine<'a> {
  plan: &'a Plan<'a>,
  transport: &'a dyn Transport,
  operator: &'a dyn Operator,
  reporter: &'a dyn Reporter,
  interrupts: Interrupts,
  /// Hosts worked on at once within one step.
  concurrency: usize,
  /// Ctrl-C was pressed at a prompt.
  prompt_interrupted: AtomicBool,
  prior: Prior,
  /// Hosts that could not be reached; they sit out the rest of the run.
  down: Mutex<HashSet<String>>,
  /// Interrupts already acted on; one beyond these arrived while nothing was running.
  handled: AtomicU32,
}

/// What to do after a step.
enum Next {
  Continue,
  End(RunEnd),
}

impl<'a> Engine<'a> {
  pub(crate) fn new(
    plan: &'a Plan<'a>,
    transport: &'a dyn Transport,
    operator: &'a dyn Operator,
    reporter: &'a dyn Reporter,
    interrupts: Interrupts,
  ) -> Engine<'a> {
    Engine {
      plan,
      transport,
      operator,
      reporter,
      interrupts,
      concurrency: 10,
      prompt_interrupted: AtomicBool::new(false),
      prior: Prior::default(),
      down: Mutex::new(HashSet::new()),
      handled: AtomicU32::new(0),
    }
  }

  pub(crate) fn concurrency(mut self, hosts_at_once: usize) -> Engine<'a> {
    self.concurrency = hosts_at_once.max(1);
    self
  }

  pub(crate) fn resuming(mut self, prior: Prior) -> Engine<'a> {
    self.prior = prior;
    self
  }

  pub(crate) async fn run(&self) -> RunResult {
    let started = Instant::now();
    self.reporter.event(Event::Start { plan: self.plan });
    if !self.prior.records.is_empty() {
      self.reporter.event(Event::Resumed {
        done: &self.prior.records,
      });
    }
    let finished = tokio::sync::Notify::new();
    let steps = async {
      let result = self.steps().await;
      finished.notify_one();
      result
    };
    let (records, end) = tokio::join!(steps, self.escalations(started, &finished)).0;
    let elapsed = started.elapsed();
    let result = RunResult { records, end };
    self.reporter.event(Event::Finish {
      plan: self.plan,
      records: &result.records,
      end,
      elapsed,
      exit_code: result.exit_code(self.plan),
    });
    result
  }

  async fn steps(&self) -> (Vec<StepRecord>, RunEnd) {
    let mut records: Vec<StepRecord> = self.prior.records.clone();
    if self.plan.mode != RunMode::DryRun && !self.preflight().await {
      return (records, RunEnd::Interrupted);
    }
    for planned in &self.plan.steps {
      if self
        .prior
        .records
        .iter()
        .any(|r| r.id == planned.step.id.value)
      {
        continue;
      }
      if self.interrupts.stop_now() {
        return (records, RunEnd::Interrupted);
      }
      // No record, no action: a journal that cannot be written stops the run.
      if let Some(why) = self.reporter.failure() {
        self.reporter.event(Event::Notice(&format!(
          "the record cannot be written ({why}); megacity changes nothing it cannot record, so the run stops before `{}`",
          planned.step.id.value
        )));
        return (records, RunEnd::Stopped);
      }
      // A Ctrl-C while nothing ran (between steps, during a timer) still stops the run here.
      if self.interrupts.count() > self.handled.load(Ordering::Relaxed) {
        self
          .handled
          .store(self.interrupts.count(), Ordering::Relaxed);
        match self.ask(Request::Interrupted { planned }).await {
          Answer::Retry | Answer::Yes => {}
          Answer::Abort => return (records, self.abort_kind()),
          _ => {
            let mut record = StepRecord::new(planned);
            record.results = planned
              .hosts
              .iter()
              .map(|h| HostResult::new(h, Outcome::Declined))
              .collect();
            self.reporter.event(Event::StepDone { planned });
            records.push(record);
            continue;
          }
        }
      }
      let (record, next) = self.step(planned, &records).await;
      records.push(record);
      match next {
        // Only a step that ran to its end is done: a resume re-offers one that was cut off.
        Next::Continue if !planned.before_start => self.reporter.event(Event::StepDone { planned }),
        Next::Continue => {}
        Next::End(end) => return (records, end),
      }
    }
    (records, RunEnd::Completed)
  }

  /// Opens every connection up front; false when the operator interrupted it.
  async fn preflight(&self) -> bool {
    let hosts = self.plan.remote_hosts();
    self.reporter.event(Event::Connecting { hosts: &hosts });
    let found = preflight(
      self.transport,
      &hosts,
      &self.plan.sudo_hosts(),
      self.concurrency,
      &self.interrupts,
    )
    .await;
    let Some(found) = found else {
      return false;
    };
    for check in &found {
      if check.unreachable.is_some() {
        self.down.lock().unwrap().insert(check.host.clone());
      }
      self.reporter.event(Event::Preflight {
        host: &check.host,
        problem: check.problem().as_deref(),
      });
      let note = match self.transport.lock(&check.host).await {
        Some(LockState::HeldBy(who)) => format!(
          "{}: another run holds this host ({who}); this run stops before it would change it",
          check.host
        ),
        Some(LockState::Broke(who)) => {
          format!(
            "{}: took over the lock held by {who} (--break-lock)",
            check.host
          )
        }
        Some(LockState::Unavailable(why)) => format!(
          "{}: cannot lock it ({why}); nothing keeps a second operator from changing it at the same time",
          check.host
        ),
        Some(LockState::Held) | None => continue,
      };
      self.reporter.event(Event::Notice(&note));
    }
    true
  }

  async fn step<'p>(
    &self,
    planned: &'p PlannedStep<'p>,
    records: &[StepRecord],
  ) -> (StepRecord, Next) {
    let step = planned.step;
    let mut record = StepRecord::new(planned);
    if planned.before_start {
      self.reporter.event(Event::StepSkipped {
        planned,
        reason: "before --from",
      });
      return (record, Next::Continue);
    }
    if let StepKind::Manual { instructions } = &step.kind {
      let next = self
        .manual(planned, instructions, records, &mut record)
        .await;
      return (record, next);
    }
    let mut eligible = self.eligible(planned, records, &mut record);
    if let Some(action) = &step.after {
      // A verification with nothing to verify: not run, not retried, never "failed".
      eligible.retain(|host| {
        let ran = self.plan.mode == RunMode::DryRun || condition::ran(&action.value, host, records);
        if !ran {
          record
            .results
            .push(HostResult::new(host, Outcome::NotApplicable));
        }
        ran
      });
      if eligible.is_empty() && !planned.hosts.is_empty() {
        self.reporter.event(Event::StepSkipped {
          planned,
          reason: &format!("it verifies `{}`, which did not run", action.value),
        });
        self.not_applicable(planned, &record);
        return (record, Next::Continue);
      }
    }
    if eligible.is_empty() {
      let reason = if planned.hosts.is_empty() {
        "no target host selected".into()
      } else {
        condition::describe(&step.when)
      };
      self.reporter.event(Event::StepSkipped {
        planned,
        reason: &reason,
      });
      return (record, Next::Continue);
    }
    self.reporter.event(Event::StepStart {
      planned,
      hosts: &eligible,
    });
    self.not_applicable(planned, &record);
    let next = match &step.kind {
      StepKind::Check { .. } if self.plan.mode == RunMode::DryRun => {
        self.rehearse(planned, &eligible, &mut record);
        Next::Continue
      }
      StepKind::Check { expect, .. } => {
        self
          .execute(planned, eligible, &Compiled::new(expect), &mut record)
          .await
      }
      StepKind::Action { .. } => self.action(planned, eligible, &mut record).await,
      StepKind::Manual { .. } => unreachable!("handled above"),
    };
    (record, next)
  }

  /// Reports each host where the step had nothing to verify, so that the journal and the
  /// reports say why nothing was verified there.
  fn not_applicable(&self, planned: &PlannedStep<'_>, record: &StepRecord) {
    for result in record
      .results
      .iter()
      .filter(|r| r.outcome == Outcome::NotApplicable)
    {
      self.reporter.event(Event::HostDone { planned, result });
    }
  }

  /// Hosts where the step's conditions hold; the others are recorded as skipped.
  fn eligible(
    &self,
    planned: &PlannedStep<'_>,
    records: &[StepRecord],
    record: &mut StepRecord,
  ) -> Vec<String> {
    let mut eligible = Vec::new();
    for host in &planned.hosts {
      if self.condition(planned, Some(host), records) {
        eligible.push(host.clone());
      } else {
        record.results.push(HostResult::new(host, Outcome::Skipped));
      }
    }
    eligible
  }

  /// Whether `planned`'s `when:` holds on `host`; a rehearsal walks every branch.
  fn condition(
    &self,
    planned: &PlannedStep<'_>,
    host: Option<&str>,
    records: &[StepRecord],
  ) -> bool {
    self.plan.mode == RunMode::DryRun
      || condition::holds(&planned.step.when, host, records, |id| {
        self
          .plan
          .steps
          .iter()
          .any(|s| s.step.id.value == id && s.before_start)
      })
  }

  /// A dry run shows what would run on each host instead of running it.
  fn rehearse(&self, planned: &PlannedStep<'_>, hosts: &[String], record: &mut StepRecord) {
    for host in hosts {
      let command = planned
        .command(host)
        .map(|c| c.display.as_str())
        .unwrap_or("");
      self.reporter.event(Event::WouldRun {
        planned,
        host,
        command,
        note: None,
      });
      record
        .results
        .push(HostResult::new(host, Outcome::Rehearsed));
    }
  }
}
