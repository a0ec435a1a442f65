//! The state machine: walks the plan step by step, runs commands through a transport, judges
//! them, asks the operator where a person must decide, and reports events. It never touches
//! the terminal itself.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::stream;
use tokio::sync::watch;

use crate::exec::command::{SUDO_PROBE, sudo_wants_password};
use crate::exec::event::*;
use crate::exec::expect::Compiled;
use crate::exec::plan::{Mode, Plan, PlannedStep};
use crate::exec::transport::{Output, Transport, TransportError};
use crate::runbook::model::{LOCAL, OnFailure, StepKind};
use crate::runbook::template::Mode as TextMode;
use crate::runbook::values::MASK;

pub struct Engine<'a> {
  pub plan: &'a Plan<'a>,
  pub transport: &'a dyn Transport,
  pub operator: &'a dyn Operator,
  pub reporter: &'a dyn Reporter,
  pub interrupts: watch::Receiver<u32>,
  /// Hosts worked on at once within one step.
  pub concurrency: usize,
  /// Ctrl-C was pressed at a prompt.
  pub prompt_interrupted: std::sync::atomic::AtomicBool,
  /// Steps a resumed run already completed, with their results (conditions still see them).
  pub prior: Vec<StepRecord>,
  /// Time the incident had already run before this invocation (for escalation rungs).
  pub elapsed_before: Duration,
  /// Rungs a resumed run already announced.
  pub rungs_done: usize,
}

pub struct RunResult {
  pub records: Vec<StepRecord>,
  pub end: RunEnd,
}

/// What to do after a step.
enum Next {
  Continue,
  End(RunEnd),
}

impl Engine<'_> {
  pub async fn run(&self) -> RunResult {
    let started = Instant::now();
    self.reporter.event(Event::Start { plan: self.plan });
    if !self.prior.is_empty() {
      self.reporter.event(Event::Resumed { done: &self.prior });
    }
    let finished = tokio::sync::Notify::new();
    let steps = async {
      let result = self.steps().await;
      finished.notify_one();
      result
    };
    let (records, end) = tokio::join!(steps, self.escalations(started, &finished)).0;
    let elapsed = started.elapsed();
    self.reporter.event(Event::Finish {
      plan: self.plan,
      records: &records,
      end,
      elapsed,
    });
    RunResult { records, end }
  }

  async fn steps(&self) -> (Vec<StepRecord>, RunEnd) {
    let down = Mutex::new(HashSet::new());
    if self.plan.mode != Mode::DryRun {
      self.preflight(&down).await;
    }
    let mut records: Vec<StepRecord> = self.prior.clone();
    for planned in &self.plan.steps {
      if self.prior.iter().any(|r| r.id == planned.step.id.value) {
        continue;
      }
      if self.interrupt_count() >= 2 {
        return (records, RunEnd::Interrupted);
      }
      let (record, next) = self.step(planned, &records, &down).await;
      if !planned.before_start {
        self.reporter.event(Event::StepDone { planned });
      }
      records.push(record);
      if let Next::End(end) = next {
        return (records, end);
      }
    }
    (records, RunEnd::Completed)
  }

  /// Announces each rung of the escalation ladder as the incident's time passes it; rungs a
  /// resumed run passed while megacity was not running are announced at once.
  async fn escalations(&self, started: Instant, finished: &tokio::sync::Notify) {
    for rung in self.plan.runbook.escalation.iter().skip(self.rungs_done) {
      let due = rung.after.saturating_sub(self.elapsed_before);
      tokio::select! {
        _ = tokio::time::sleep(due.saturating_sub(started.elapsed())) => {
          self.reporter.event(Event::Escalation { rung, elapsed: self.elapsed_before + started.elapsed() });
        }
        _ = finished.notified() => return,
      }
    }
  }

  fn interrupt_count(&self) -> u32 {
    *self.interrupts.borrow()
  }

  /// Opens every connection up front, in parallel, so unreachable hosts, unknown host keys and
  /// missing sudo rights show before anything changes.
  async fn preflight(&self, down: &Mutex<HashSet<String>>) {
    let hosts = self.plan.remote_hosts();
    let sudo_hosts = &self.plan.sudo_hosts();
    let checks = stream::iter(hosts.iter())
      .map(|host| async move {
        let problem = match self.transport.connect(host).await {
          Err(e) => {
            down.lock().unwrap().insert(host.clone());
            Some(e.to_string())
          }
          Ok(()) if sudo_hosts.contains(host) => self.sudo_problem(host).await,
          Ok(()) => None,
        };
        (host, problem)
      })
      .buffer_unordered(self.concurrency.max(1));
    let results: Vec<_> = checks.collect().await;
    for host in &hosts {
      let problem = results
        .iter()
        .find(|(h, _)| *h == host)
        .and_then(|(_, p)| p.clone());
      self.reporter.event(Event::Preflight {
        host,
        problem: problem.as_deref(),
      });
    }
  }

  async fn sudo_problem(&self, host: &str) -> Option<String> {
    let probe = self.transport.run(
      host,
      SUDO_PROBE,
      Duration::from_secs(15),
      self.interrupts.clone(),
    );
    match probe.await {
      Ok(out) if out.exit_code == Some(0) => None,
      Ok(out) if sudo_wants_password(&out.stderr) => {
        Some("sudo wants a password here; steps that run as root will fail (megacity never types passwords)".into())
      }
      Ok(out) => Some(format!("`sudo -n true` failed: {}", out.stderr.trim())),
      Err(e) => Some(format!("cannot check sudo: {e}")),
    }
  }

  async fn step<'p>(
    &self,
    planned: &'p PlannedStep<'p>,
    records: &[StepRecord],
    down: &Mutex<HashSet<String>>,
  ) -> (StepRecord, Next) {
    let step = planned.step;
    let mut record = StepRecord {
      id: step.id.value.clone(),
      kind: step.kind_name(),
      results: Vec::new(),
    };
    if planned.before_start {
      self.reporter.event(Event::StepSkipped {
        planned,
        reason: "before --from",
      });
      return (record, Next::Continue);
    }
    if let StepKind::Manual { instructions } = &step.kind {
      return self.manual(planned, instructions, records, record).await;
    }
    // Hosts where the step's conditions hold; the others are skipped.
    let mut eligible = Vec::new();
    for host in &planned.hosts {
      if self.condition(planned, Some(host), records) {
        eligible.push(host.clone());
      } else {
        record.results.push(HostResult::new(host, Outcome::Skipped));
      }
    }
    if eligible.is_empty() {
      let reason = if planned.hosts.is_empty() {
        "no target host selected".into()
      } else {
        self.condition_text(planned)
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
    let next = match &step.kind {
      StepKind::Check { expect, .. } => {
        if self.plan.mode == Mode::DryRun {
          self.rehearse(planned, &eligible, &mut record);
          Next::Continue
        } else {
          let compiled = Compiled::new(expect);
          self
            .execute(planned, eligible, &compiled, &mut record, down)
            .await
        }
      }
      StepKind::Action {
        confirm,
        destructive,
        expect,
        ..
      } => {
        if self.plan.mode == Mode::ChecksOnly {
          for host in &eligible {
            let command = planned
              .command(host)
              .map(|c| c.display.as_str())
              .unwrap_or("");
            let note = (!step.when.is_empty()).then(|| self.condition_text(planned));
            self.reporter.event(Event::WouldRun {
              planned,
              host,
              command,
              note: note.as_deref(),
            });
            record.results.push(HostResult::new(host, Outcome::NotRun));
          }
          return (record, Next::Continue);
        }
        let mut confirmed = Vec::new();
        for host in &eligible {
          let command = planned
            .command(host)
            .map(|c| c.display.as_str())
            .unwrap_or("");
          let text = confirm
            .as_ref()
            .map(|t| self.plan.values.display(t, Some(host), TextMode::Text))
            .unwrap_or_else(|| format!("Run `{}` on {host}?", step.title));
          let answer = self
            .ask(Request::Confirm {
              planned,
              host,
              text,
              command,
              destructive: *destructive,
            })
            .await;
          match answer {
            Answer::Yes => confirmed.push(host.clone()),
            Answer::Abort => {
              record
                .results
                .push(HostResult::new(host, Outcome::Declined));
              return (record, Next::End(self.abort_kind()));
            }
            _ => {
              if *destructive && !self.operator.interactive() {
                self.reporter.event(Event::Notice(&format!(
                  "{host}: `{}` is destructive and was not run: an unattended run needs --yes-destructive",
                  step.id.value
                )));
              }
              record
                .results
                .push(HostResult::new(host, Outcome::Declined));
            }
          }
        }
        if confirmed.is_empty() {
          return (record, Next::Continue);
        }
        if self.plan.mode == Mode::DryRun {
          self.rehearse(planned, &confirmed, &mut record);
          return (record, Next::Continue);
        }
        let compiled = Compiled::new(expect);
        self
          .execute(planned, confirmed, &compiled, &mut record, down)
          .await
      }
      StepKind::Manual { .. } => unreachable!("handled above"),
    };
    (record, next)
  }

  /// How a run that the operator ended ends: Ctrl-C twice (or at a prompt) is an interruption.
  fn abort_kind(&self) -> RunEnd {
    let at_prompt = self
      .prompt_interrupted
      .load(std::sync::atomic::Ordering::Relaxed);
    if at_prompt || self.interrupt_count() >= 2 {
      RunEnd::Interrupted
    } else {
      RunEnd::Aborted
    }
  }

  async fn ask(&self, request: Request<'_>) -> Answer {
    let (planned, host, question) = match &request {
      Request::Confirm { planned, host, .. } => (*planned, Some(*host), "confirm"),
      Request::AfterFailure { planned, result } => {
        (*planned, Some(result.host.as_str()), "after-failure")
      }
      Request::Manual { planned } => (*planned, None, "manual"),
      Request::Interrupted { planned } => (*planned, None, "interrupted"),
    };
    self.reporter.pause();
    let decision = self.operator.decide(request).await;
    for text in &decision.notes {
      self.reporter.event(Event::Note {
        planned: Some(planned),
        text,
      });
    }
    self.reporter.event(Event::Decision {
      planned,
      host,
      question,
      answer: decision.answer,
    });
    self.reporter.resume();
    match decision.answer {
      Answer::Interrupt => {
        self
          .prompt_interrupted
          .store(true, std::sync::atomic::Ordering::Relaxed);
        Answer::Abort
      }
      answer => answer,
    }
  }

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

  async fn manual<'p>(
    &self,
    planned: &'p PlannedStep<'p>,
    instructions: &str,
    records: &[StepRecord],
    mut record: StepRecord,
  ) -> (StepRecord, Next) {
    let host = "-";
    if !self.condition(planned, None, records) {
      self.reporter.event(Event::StepSkipped {
        planned,
        reason: &self.condition_text(planned),
      });
      record.results.push(HostResult::new(host, Outcome::Skipped));
      return (record, Next::Continue);
    }
    let text = self.plan.values.display(instructions, None, TextMode::Text);
    self.reporter.event(Event::StepStart {
      planned,
      hosts: &[],
    });
    self.reporter.event(Event::Manual {
      planned,
      instructions: &text,
    });
    if self.plan.mode == Mode::ChecksOnly {
      record.results.push(HostResult::new(host, Outcome::NotRun));
      return (record, Next::Continue);
    }
    let started = Instant::now();
    let answer = self.ask(Request::Manual { planned }).await;
    let outcome = match (answer, self.operator.interactive(), self.plan.mode) {
      (Answer::Abort, ..) => {
        record
          .results
          .push(HostResult::new(host, Outcome::Declined));
        return (record, Next::End(self.abort_kind()));
      }
      (Answer::Yes, _, Mode::DryRun) => Outcome::Rehearsed,
      (Answer::Yes, ..) => Outcome::Passed,
      (_, false, Mode::DryRun) => Outcome::Rehearsed,
      (_, false, _) => Outcome::Unconfirmed,
      _ => Outcome::Declined,
    };
    let mut result = HostResult::new(host, outcome);
    result.duration = started.elapsed();
    self.reporter.event(Event::HostDone {
      planned,
      result: &result,
    });
    record.results.push(result);
    (record, Next::Continue)
  }

  /// Runs a check or confirmed action on `hosts` concurrently, then applies the failure policy.
  async fn execute(
    &self,
    planned: &PlannedStep<'_>,
    hosts: Vec<String>,
    compiled: &Compiled,
    record: &mut StepRecord,
    down: &Mutex<HashSet<String>>,
  ) -> Next {
    let mut pending = hosts;
    loop {
      let seen = self.interrupt_count();
      let runs = stream::iter(pending.iter())
        .map(|host| self.on_host(planned, host, compiled, down))
        .buffer_unordered(self.concurrency.max(1));
      let mut results: Vec<HostResult> = runs.collect().await;
      // Keep the plan's host order, whatever order they finished in.
      results.sort_by_key(|r| pending.iter().position(|h| *h == r.host));
      if self.interrupt_count() != seen {
        if self.interrupt_count() >= 2 {
          record.results.extend(results);
          return Next::End(RunEnd::Interrupted);
        }
        match self.ask(Request::Interrupted { planned }).await {
          Answer::Retry => continue,
          Answer::Abort => {
            record.results.extend(results);
            return Next::End(self.abort_kind());
          }
          _ => {
            record.results.extend(results);
            return Next::Continue;
          }
        }
      }
      let policy = match (self.plan.mode, planned.step.on_failure) {
        // Triage wants every finding, not a stop at the first.
        (Mode::ChecksOnly, OnFailure::Ask) => OnFailure::Continue,
        (_, policy) => policy,
      };
      let mut retry = Vec::new();
      for result in results {
        if result.outcome != Outcome::Failed {
          record.results.push(result);
          continue;
        }
        match policy {
          OnFailure::Continue => record.results.push(result),
          OnFailure::Abort => {
            record.results.push(result);
            self.reporter.event(Event::Notice(&format!(
              "`{}` failed and its policy is abort",
              planned.step.id.value
            )));
            return Next::End(RunEnd::Stopped);
          }
          OnFailure::Ask => match self
            .ask(Request::AfterFailure {
              planned,
              result: &result,
            })
            .await
          {
            Answer::Retry => retry.push(result.host.clone()),
            Answer::Abort if !self.operator.interactive() => {
              self.reporter.event(Event::Notice(&format!(
                "`{}` failed on {}; nobody is here to decide, so the run stops (on_failure: ask)",
                planned.step.id.value, result.host
              )));
              record.results.push(result);
              return Next::End(RunEnd::Stopped);
            }
            Answer::Abort => {
              record.results.push(result);
              return Next::End(self.abort_kind());
            }
            _ => record.results.push(result),
          },
        }
      }
      if retry.is_empty() {
        return Next::Continue;
      }
      pending = retry;
    }
  }

  async fn on_host(
    &self,
    planned: &PlannedStep<'_>,
    host: &str,
    compiled: &Compiled,
    down: &Mutex<HashSet<String>>,
  ) -> HostResult {
    let step = planned.step;
    let mut result = HostResult::new(host, Outcome::Failed);
    if down.lock().unwrap().contains(host) {
      result.outcome = Outcome::Unreachable;
      result.error = Some("unreachable (see preflight)".into());
      self.reporter.event(Event::HostDone {
        planned,
        result: &result,
      });
      return result;
    }
    let Some(command) = planned.command(host) else {
      result.error = Some("no command for this host".into());
      return result;
    };
    let started = Instant::now();
    for attempt in 1..=step.retry.attempts {
      result.attempts = attempt;
      self.reporter.event(Event::HostRunning {
        planned,
        host,
        attempt,
      });
      match self
        .transport
        .run(host, &command.exec, step.timeout, self.interrupts.clone())
        .await
      {
        Ok(output) => {
          let output = self.mask(output);
          let mut verdict = compiled.judge(output.exit_code, &output.stdout, &output.stderr);
          if step.sudo && sudo_wants_password(&output.stderr) {
            verdict.passed = false;
            verdict.reasons.insert(0, "sudo wants a password; megacity never types one: allow this command without a password (NOPASSWD) or run it by hand".into());
          }
          result.outcome = if verdict.passed {
            Outcome::Passed
          } else {
            Outcome::Failed
          };
          result.verdict = Some(verdict);
          result.output = Some(output);
          result.error = None;
        }
        Err(TransportError::Connect(e)) => {
          if host != LOCAL {
            down.lock().unwrap().insert(host.to_string());
          }
          result.outcome = Outcome::Unreachable;
          result.error = Some(format!("cannot connect: {e}"));
          break;
        }
        Err(e @ TransportError::Interrupted) => {
          result.outcome = Outcome::Failed;
          result.error = Some(e.to_string());
          break;
        }
        Err(e) => {
          result.outcome = Outcome::Failed;
          result.error = Some(e.to_string());
        }
      }
      if result.outcome == Outcome::Passed || attempt == step.retry.attempts {
        break;
      }
      // Wait before the next attempt, unless the operator interrupts.
      let mut interrupts = self.interrupts.clone();
      let seen = *interrupts.borrow_and_update();
      let interrupted = tokio::select! {
        _ = tokio::time::sleep(step.retry.delay) => false,
        _ = async { while interrupts.changed().await.is_ok() { if *interrupts.borrow() != seen { return; } } std::future::pending::<()>().await } => true,
      };
      if interrupted {
        break;
      }
    }
    result.duration = started.elapsed();
    self.reporter.event(Event::HostDone {
      planned,
      result: &result,
    });
    result
  }

  /// A command may echo a secret it was given; the operator's screen and records never show it.
  fn mask(&self, mut output: Output) -> Output {
    for secret in self.plan.values.secrets() {
      if !secret.is_empty() {
        output.stdout = output.stdout.replace(secret, MASK);
        output.stderr = output.stderr.replace(secret, MASK);
      }
    }
    output
  }

  /// Whether `planned`'s `when:` holds on `host` (or over all hosts for a manual step).
  fn condition(
    &self,
    planned: &PlannedStep<'_>,
    host: Option<&str>,
    records: &[StepRecord],
  ) -> bool {
    let when = &planned.step.when;
    if when.is_empty() || self.plan.mode == Mode::DryRun {
      // A rehearsal walks every branch.
      return true;
    }
    let holds = |id: &str, wanted: Outcome| -> Option<bool> {
      let earlier = self.plan.steps.iter().find(|s| s.step.id.value == id)?;
      if earlier.before_start {
        return None; // conditions on steps before --from count as met
      }
      let record = records.iter().find(|r| r.id == id)?;
      if let Some(on_host) = host.and_then(|h| record.results.iter().find(|r| r.host == h))
        && on_host.outcome != Outcome::Skipped
      {
        return Some(on_host.outcome == wanted);
      }
      let ran: Vec<&HostResult> = record
        .results
        .iter()
        .filter(|r| r.outcome != Outcome::Skipped)
        .collect();
      Some(match wanted {
        Outcome::Failed => ran.iter().any(|r| r.outcome == Outcome::Failed),
        _ => !ran.is_empty() && ran.iter().all(|r| r.outcome == wanted),
      })
    };
    let any_failed = when.failed.is_empty()
      || when
        .failed
        .iter()
        .any(|id| holds(id, Outcome::Failed).unwrap_or(true));
    let all_passed = when
      .passed
      .iter()
      .all(|id| holds(id, Outcome::Passed).unwrap_or(true));
    any_failed && all_passed
  }

  fn condition_text(&self, planned: &PlannedStep<'_>) -> String {
    let when = &planned.step.when;
    let mut parts = Vec::new();
    if !when.failed.is_empty() {
      parts.push(format!(
        "when {} failed",
        when
          .failed
          .iter()
          .map(|s| s.value.as_str())
          .collect::<Vec<_>>()
          .join(" or ")
      ));
    }
    if !when.passed.is_empty() {
      parts.push(format!(
        "when {} passed",
        when
          .passed
          .iter()
          .map(|s| s.value.as_str())
          .collect::<Vec<_>>()
          .join(" and ")
      ));
    }
    if parts.is_empty() {
      "no condition".into()
    } else {
      parts.join(", ")
    }
  }
}
