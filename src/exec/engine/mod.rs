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
mod input;
mod manual;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_learned;

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::exec::condition;
use crate::exec::event::*;
use crate::exec::expect::Compiled;
use crate::exec::interrupt::Interrupts;
use crate::exec::learned::Learned;
use crate::exec::plan::{Plan, PlannedStep, RunMode};
use crate::exec::preflight::preflight;
use crate::exec::result::RunResult;
use crate::exec::transport::{LockState, Transport};
use crate::inventory::LOCAL;
use crate::runbook::model::StepKind;
use crate::runbook::template::Quoting;
use crate::runbook::values::{MASK, Value};

/// What a resumed run takes over from the one it continues.
#[derive(Default)]
pub(crate) struct Prior {
  /// Steps already completed, with their results (conditions still see them).
  pub(crate) records: Vec<StepRecord>,
  /// Time the incident had already run before this invocation (for escalation rungs).
  pub(crate) elapsed: Duration,
  /// Time rungs already announced, by whom they called.
  pub(crate) announced: Vec<String>,
  /// The severity the incident was raised to, if a step raised it.
  pub(crate) raised: Option<crate::runbook::model::Severity>,
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
  /// Hosts that could not be reached, with how much work had been done then: they sit out
  /// the run until an action ran or a manual step was done after it (which may have mended
  /// them), when they are tried once more.
  down: Mutex<HashMap<String, u32>>,
  /// Actions that ran and manual steps done so far.
  work: AtomicU32,
  /// Interrupts already acted on; one beyond these arrived while nothing was running.
  handled: AtomicU32,
  /// Answers and captured values, for the steps after the one that found them.
  learned: Learned,
  /// Hosts connected during the run because a learned value named them.
  joined: Mutex<HashSet<String>>,
  /// Rungs on findings that fired (by index), and the incident's severity now.
  fired: Mutex<HashSet<usize>>,
  severity: Mutex<crate::runbook::model::Severity>,
  /// Told when a step raises the severity: the time ladder becomes the new severity's.
  raised: tokio::sync::Notify,
}

/// What to do after a step.
enum Next {
  Continue,
  End(RunEnd),
  /// The operator jumped ahead to this step: the ones between are passed over.
  Jump(String),
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
      down: Mutex::new(HashMap::new()),
      work: AtomicU32::new(0),
      handled: AtomicU32::new(0),
      learned: Learned::default(),
      joined: Mutex::new(HashSet::new()),
      fired: Mutex::new(HashSet::new()),
      severity: Mutex::new(plan.runbook.severity),
      raised: tokio::sync::Notify::new(),
    }
  }

  pub(crate) fn concurrency(mut self, hosts_at_once: usize) -> Engine<'a> {
    self.concurrency = hosts_at_once.max(1);
    self
  }

  pub(crate) fn resuming(mut self, prior: Prior) -> Engine<'a> {
    // What the earlier run learned, as its record kept it (a masked value was not kept).
    for record in &prior.records {
      let Some(step) = self.plan.runbook.step(&record.id) else {
        continue;
      };
      for result in &record.results {
        let kept = |name: &str| {
          result
            .captured
            .iter()
            .find(|(n, t)| n == name && t != MASK)
            .map(|(_, text)| Value {
              text: text.clone(),
              secret: false,
            })
        };
        if let StepKind::Input(q) = &step.kind {
          if let Some(value) = kept(&q.name.value) {
            self.learned.answer(&q.name.value, value);
          }
          continue;
        }
        if result.outcome == Outcome::Skipped || result.outcome == Outcome::NotApplicable {
          continue;
        }
        for capture in &step.capture {
          let name = &capture.name.value;
          self
            .learned
            .capture(&record.id, &result.host, name, kept(name));
        }
      }
    }
    if let Some(raised) = prior.raised {
      *self.severity.lock().unwrap() = raised;
    }
    self.prior = prior;
    self
  }

  pub(crate) async fn run(&self) -> RunResult {
    let started = Instant::now();
    self.reporter.event(Event::Start {
      plan: self.plan,
      elapsed: self.prior.elapsed,
    });
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
    let started = Instant::now();
    let mut records: Vec<StepRecord> = self.prior.records.clone();
    if self.plan.mode != RunMode::DryRun && !self.preflight().await {
      return (records, RunEnd::Interrupted);
    }
    let mut jump: Option<String> = None;
    for planned in &self.plan.steps {
      if self
        .prior
        .records
        .iter()
        .any(|r| r.id == planned.step.id.value)
      {
        continue;
      }
      // Passed over by the operator's jump: recorded, so that nothing looks done that was not.
      if let Some(target) = jump.as_deref() {
        if planned.step.id.value != target {
          self.reporter.event(Event::StepSkipped {
            planned,
            reason: &format!("the operator jumped to `{target}`"),
          });
          records.push(StepRecord::new(planned));
          continue;
        }
        jump = None;
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
              .map(|h| HostResult::new(h, Outcome::OperatorSkipped))
              .collect();
            self.reporter.event(Event::StepDone { planned });
            records.push(record);
            continue;
          }
        }
      }
      let (record, next) = self.step(planned, &records).await;
      records.push(record);
      self.findings(planned, &records, started);
      match next {
        // Only a step that ran to its end is done: a resume re-offers one that was cut off.
        Next::Continue if !planned.before_start => self.reporter.event(Event::StepDone { planned }),
        Next::Continue => {}
        Next::End(end) => return (records, end),
        Next::Jump(target) => {
          self.reporter.event(Event::Notice(&format!(
            "jumping to `{target}`: the steps before it do not run, and conditions on them do not hold"
          )));
          jump = Some(target);
        }
      }
    }
    (records, RunEnd::Completed)
  }

  /// Opens every connection up front; false when the operator interrupted it.
  async fn preflight(&self) -> bool {
    let hosts = self.plan.remote_hosts();
    self.reporter.event(Event::Connecting { hosts: &hosts });
    let total = hosts.len();
    let found = preflight(
      self.transport,
      &hosts,
      &self.plan.sudo_hosts(),
      self.concurrency,
      &self.interrupts,
      &|check, done| {
        self.reporter.event(Event::Preflight {
          host: &check.host,
          problem: check.problem().as_deref(),
          of: Some((done, total)),
        })
      },
    )
    .await;
    let Some(found) = found else {
      return false;
    };
    for check in &found {
      if check.unreachable.is_some() {
        self.lost(&check.host);
      }
      self.lock_notice(&check.host).await;
    }
    true
  }

  /// `host` could not be reached: it sits out the run until more work was done.
  pub(super) fn lost(&self, host: &str) {
    let work = self.work.load(Ordering::Relaxed);
    self.down.lock().unwrap().insert(host.to_string(), work);
  }

  /// Whether `host` sits out (lost, and not reached again since).
  pub(super) fn is_down(&self, host: &str) -> bool {
    self.down.lock().unwrap().contains_key(host)
  }

  /// An action ran, or a manual step was done: hosts lost before may answer now.
  pub(super) fn worked(&self) {
    self.work.fetch_add(1, Ordering::Relaxed);
  }

  /// Hosts of a step that were lost before the latest work (a link restored by hand, a service
  /// restarted) are tried once more — once per piece of work, so a host that stays away costs
  /// one connect timeout each time, not each step.
  async fn try_again(&self, hosts: &[String]) {
    if self.plan.mode == RunMode::DryRun {
      return;
    }
    let work = self.work.load(Ordering::Relaxed);
    let stale: Vec<String> = {
      let down = self.down.lock().unwrap();
      hosts
        .iter()
        .filter(|h| down.get(*h).is_some_and(|at| *at < work))
        .cloned()
        .collect()
    };
    for host in stale {
      let hosts = [host.clone()];
      self.reporter.event(Event::Connecting { hosts: &hosts });
      match self.transport.connect(&host).await {
        Ok(()) => {
          self.down.lock().unwrap().remove(&host);
          self.reporter.event(Event::Preflight {
            host: &host,
            problem: None,
            of: None,
          });
          self.reporter.event(Event::Notice(&format!(
            "{host} answers again (it could not be reached earlier in this run)"
          )));
          self.lock_notice(&host).await;
        }
        Err(e) => {
          self.lost(&host);
          self.reporter.event(Event::Preflight {
            host: &host,
            problem: Some(&format!("still unreachable: {e}")),
            of: None,
          });
        }
      }
    }
  }

  /// Says what the host's lock is, where it is not simply held by this run.
  async fn lock_notice(&self, host: &str) {
    let note = match self.transport.lock(host).await {
      Some(LockState::HeldBy(who)) => format!(
        "{host}: another run holds this host ({who}); this run stops before it would change it"
      ),
      Some(LockState::Broke(who)) => {
        format!("{host}: took over the lock held by {who} (--break-lock)")
      }
      Some(LockState::Unavailable(why)) => format!(
        "{host}: cannot lock it ({why}); nothing keeps a second operator from changing it at the same time"
      ),
      Some(LockState::Lost(why)) => format!(
        "{host}: this run's lock was lost and cannot be taken again ({why}); it changes nothing more there"
      ),
      Some(LockState::Held) | None => return,
    };
    self.reporter.event(Event::Notice(&note));
  }

  /// A host named during the run that the preflight did not reach: connected now, once (and
  /// locked, as the preflight would have).
  async fn join(&self, host: &str) {
    if host == LOCAL || !self.joined.lock().unwrap().insert(host.to_string()) {
      return;
    }
    let hosts = [host.to_string()];
    self.reporter.event(Event::Connecting { hosts: &hosts });
    match self.transport.connect(host).await {
      Ok(()) => self.reporter.event(Event::Preflight {
        host,
        problem: None,
        of: None,
      }),
      Err(e) => {
        self.lost(host);
        self.reporter.event(Event::Preflight {
          host,
          problem: Some(&format!("unreachable: {e}")),
          of: None,
        });
      }
    }
    self.lock_notice(host).await;
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
    if let StepKind::Input(question) = &step.kind {
      let next = self.input(planned, question, records, &mut record).await;
      return (record, next);
    }
    if let StepKind::Call(call) = &step.kind {
      // Loading replaces a call by the called steps; one left here was never expanded.
      self.reporter.event(Event::StepSkipped {
        planned,
        reason: &format!(
          "runbook `{}` was not loaded into this run",
          call.runbook.value
        ),
      });
      return (record, Next::Continue);
    }
    if planned.step.title.contains("{{") {
      planned.set_title(self.text(&planned.step.title, None, Quoting::Text));
    }
    let hosts = match self.hosts(planned).await {
      Ok(hosts) => hosts,
      // Its target is not known, but its `when:` does not hold anyway: skipped, not unknown.
      Err(_) if !planned.step.when.is_empty() && !self.condition(planned, None, records) => {
        self.reporter.event(Event::StepSkipped {
          planned,
          reason: &self.describe_when(planned),
        });
        return (record, Next::Continue);
      }
      Err(why) => {
        // No host to run on: the step could not judge, and nothing was changed.
        self.reporter.event(Event::StepSkipped {
          planned,
          reason: &why,
        });
        let mut result = HostResult::new(MANUAL_HOST, Outcome::Unknown);
        result.error = Some(why);
        record.results.push(result);
        return (record, Next::Continue);
      }
    };
    let mut eligible = self.eligible(planned, &hosts, records, &mut record);
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
      if eligible.is_empty() && !hosts.is_empty() {
        self.reporter.event(Event::StepSkipped {
          planned,
          reason: &format!("it verifies `{}`, which did not run", action.value),
        });
        self.not_applicable(planned, &record);
        return (record, Next::Continue);
      }
    }
    if eligible.is_empty() {
      let reason = if hosts.is_empty() {
        "no target host selected".into()
      } else {
        self.describe_when(planned)
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
      StepKind::Action { .. } => self.action(planned, eligible, records, &mut record).await,
      StepKind::Manual { .. } | StepKind::Input(_) | StepKind::Call(_) => {
        unreachable!("handled above")
      }
    };
    (record, next)
  }

  /// The step's hosts: planned, or named by a value learned during the run. A learned name
  /// must be a host this run connected to (and locked, where it may change it).
  async fn hosts(&self, planned: &PlannedStep<'_>) -> Result<Vec<String>, String> {
    let hosts = self.targets(planned).await?;
    self.try_again(&hosts).await;
    if !planned.step.one_of || self.plan.mode == RunMode::DryRun || hosts.is_empty() {
      return Ok(hosts);
    }
    // `one_of`: the first that answers; the others are not asked.
    let down = self.down.lock().unwrap().clone();
    match hosts.iter().find(|h| !down.contains_key(*h)) {
      Some(first) => Ok(vec![first.clone()]),
      None => Err(format!(
        "none of its hosts is reachable ({}); it runs on one of them",
        hosts.join(", ")
      )),
    }
  }

  /// The step's targets as hosts, before `one_of` picks.
  async fn targets(&self, planned: &PlannedStep<'_>) -> Result<Vec<String>, String> {
    if !planned.learned_targets {
      return Ok(planned.hosts.clone());
    }
    if self.plan.mode == RunMode::DryRun {
      // Nothing was learned in a rehearsal: the target is shown as written.
      return Ok(
        planned
          .step
          .targets
          .iter()
          .map(|t| t.value.clone())
          .collect(),
      );
    }
    let preflighted = self.plan.remote_hosts();
    let mut out: Vec<String> = Vec::new();
    for target in &planned.step.targets {
      let name = self
        .plan
        .values
        .render(&target.value, "", Quoting::Text, &|n| {
          self.learned.lookup(n, "").ok()
        })
        .map_err(|_| {
          let missing = crate::runbook::template::placeholders(&target.value)
            .find_map(|(n, _)| self.learned.lookup(n, "").err())
            .unwrap_or_else(|| format!("`{}` has no value", target.value));
          format!("its target is not known: {missing}")
        })?;
      let mut name = name.trim().to_string();
      if name != LOCAL && !self.plan.inventory_hosts.contains(&name) {
        name = self.by_address(&name, &target.value).await?;
      }
      if !out.contains(&name) {
        out.push(name);
      }
    }
    for host in out.iter().filter(|h| !preflighted.contains(h)) {
      self.join(host).await;
    }
    Ok(out)
  }

  /// The inventory host that `value` (learned: Sentinel names a master by its address) is the
  /// address or ssh_config HostName of. Exactly one, or nothing runs: never a guess, never the
  /// closest name.
  async fn by_address(&self, value: &str, template: &str) -> Result<String, String> {
    let wanted = value.trim_start_matches('[').trim_end_matches(']');
    let hosts = &self.plan.inventory_hosts;
    let found = futures_util::future::join_all(
      hosts
        .iter()
        .map(|h| async move { (h, self.transport.addresses(h).await) }),
    )
    .await;
    let matching: Vec<&String> = found
      .into_iter()
      .filter(|(_, addresses)| addresses.iter().any(|a| a == wanted))
      .map(|(h, _)| h)
      .collect();
    match matching.as_slice() {
      [host] => {
        self.reporter.event(Event::Notice(&format!(
          "`{template}` is `{value}`: the address of {host} (its ssh_config HostName, resolved)"
        )));
        Ok((*host).clone())
      }
      [] => Err(format!(
        "its target `{template}` is `{value}`, which is neither an inventory host nor the address of one; nothing was run"
      )),
      several => Err(format!(
        "its target `{template}` is `{value}`, the address of several inventory hosts ({}); which one is not known, so nothing was run",
        several
          .iter()
          .map(|h| h.as_str())
          .collect::<Vec<_>>()
          .join(", ")
      )),
    }
  }

  /// A learned value for a step on `host`, as a lookup for rendering.
  pub(super) fn learned_value(&self, name: &str, host: &str) -> Option<Value> {
    self.learned.lookup(name, host).ok()
  }

  /// Text for a person (or a command to show) with every value known so far.
  pub(super) fn text(&self, template: &str, host: Option<&str>, mode: Quoting) -> String {
    self.plan.values.display_with(template, host, mode, &|n| {
      self.learned_value(n, host.unwrap_or(""))
    })
  }

  /// The `when:` in words, with the values its tests saw.
  pub(super) fn describe_when(&self, planned: &PlannedStep<'_>) -> String {
    let mut text = condition::describe(&planned.step.when);
    for t in &planned.step.when.values {
      let seen = self
        .value_of(&t.name.value, None)
        .unwrap_or_else(|| "unknown".into());
      text.push_str(&format!("; {} = {seen}", t.name.value));
    }
    text
  }

  /// The value of `name` (a parameter, an answer, a capture) for a step on `host`.
  pub(super) fn value_of(&self, name: &str, host: Option<&str>) -> Option<String> {
    if let Some(v) = self.plan.values.get(name) {
      return Some(v.text.clone());
    }
    self
      .learned
      .lookup(name, host.unwrap_or(""))
      .ok()
      .map(|v| v.text)
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
    hosts: &[String],
    records: &[StepRecord],
    record: &mut StepRecord,
  ) -> Vec<String> {
    let mut eligible = Vec::new();
    for host in hosts {
      if self.condition(planned, Some(host), records) {
        eligible.push(host.clone());
      } else {
        record.results.push(HostResult::new(host, Outcome::Skipped));
      }
    }
    eligible
  }

  /// Whether `planned`'s `when:` holds on `host` (and the gates it inherited from the step that
  /// called its runbook); a rehearsal walks every branch.
  fn condition(
    &self,
    planned: &PlannedStep<'_>,
    host: Option<&str>,
    records: &[StepRecord],
  ) -> bool {
    if self.plan.mode == RunMode::DryRun {
      return true;
    }
    let before_from = |id: &str| {
      self
        .plan
        .steps
        .iter()
        .any(|s| s.step.id.value == id && s.before_start)
    };
    let value = |name: &str| self.value_of(name, host);
    let gates = planned.step.gates.iter().all(|g| {
      if g.negate {
        // A repeat's `until`: an earlier round ended the repeat only if the steps it names ran.
        let ran = g
          .when
          .references()
          .all(|id| records.iter().any(|r| r.id == id.value));
        !(ran && condition::holds(&g.when, host, records, before_from, &value))
      } else {
        condition::holds(&g.when, host, records, before_from, &value)
      }
    });
    gates && condition::holds(&planned.step.when, host, records, before_from, &value)
  }

  /// A dry run shows what would run on each host instead of running it.
  fn rehearse(&self, planned: &PlannedStep<'_>, hosts: &[String], record: &mut StepRecord) {
    for host in hosts {
      let command = self.shown(planned, host);
      self.reporter.event(Event::WouldRun {
        planned,
        host,
        command: &command,
        note: None,
      });
      record
        .results
        .push(HostResult::new(host, Outcome::Rehearsed));
    }
  }
}
