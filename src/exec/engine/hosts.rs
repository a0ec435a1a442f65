//! Running a check or a confirmed action on its hosts: concurrently, with retries and timeouts,
//! then the step's failure policy.

use std::sync::atomic::Ordering;
use std::time::Instant;

use futures_util::StreamExt;
use futures_util::stream;

use super::{Engine, Next};
use crate::exec::event::*;
use crate::exec::expect::Compiled;
use crate::exec::plan::{PlannedStep, RunMode};
use crate::exec::privilege::sudo_wants_password;
use crate::exec::transport::{Output, TransportError};
use crate::inventory::LOCAL;
use crate::runbook::model::{OnFailure, StepKind};
use crate::runbook::values::MASK;

impl Engine<'_> {
  /// Runs a check or confirmed action on `hosts` concurrently, then applies the failure policy.
  pub(super) async fn execute(
    &self,
    planned: &PlannedStep<'_>,
    hosts: Vec<String>,
    compiled: &Compiled,
    record: &mut StepRecord,
  ) -> Next {
    let mut pending = hosts;
    loop {
      let seen = self.interrupts.count();
      let runs = stream::iter(pending.iter())
        .map(|host| self.on_host(planned, host, compiled))
        .buffer_unordered(self.concurrency);
      let mut results: Vec<HostResult> = runs.collect().await;
      // Keep the plan's host order, whatever order they finished in.
      results.sort_by_key(|r| pending.iter().position(|h| *h == r.host));
      if self.interrupts.count() != seen {
        self
          .handled
          .store(self.interrupts.count(), Ordering::Relaxed);
        record.results.extend(results);
        if self.interrupts.stop_now() {
          return Next::End(RunEnd::Interrupted);
        }
        match self.ask(Request::Interrupted { planned }).await {
          Answer::Retry => {
            // The retry's results replace the interrupted attempt's.
            record.results.retain(|r| !pending.contains(&r.host));
            continue;
          }
          Answer::Abort => return Next::End(self.abort_kind()),
          _ => return Next::Continue,
        }
      }
      let policy = match (self.plan.mode, planned.step.on_failure) {
        // Triage wants every finding, not a stop at the first.
        (RunMode::ChecksOnly, OnFailure::Ask) => OnFailure::Continue,
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
  ) -> HostResult {
    let step = planned.step;
    let mut result = HostResult::new(host, Outcome::Failed);
    if self.down.lock().unwrap().contains(host) {
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
    // A check that could not judge says so; an action that could not finish failed.
    let is_check = matches!(step.kind, StepKind::Check { .. });
    let undecided = if is_check {
      Outcome::Unknown
    } else {
      Outcome::Failed
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
            verdict.unknown = true;
            verdict.reasons.insert(0, "sudo wants a password; megacity never types one: allow this command without a password (NOPASSWD) or run it by hand".into());
          }
          result.outcome = match (verdict.passed, verdict.unknown) {
            (true, _) => Outcome::Passed,
            (false, true) => undecided,
            (false, false) => Outcome::Failed,
          };
          result.verdict = Some(verdict);
          result.output = Some(output);
          result.error = None;
        }
        Err(TransportError::Connect(e)) => {
          if host != LOCAL {
            self.down.lock().unwrap().insert(host.to_string());
          }
          result.outcome = Outcome::Unreachable;
          result.error = Some(format!("cannot connect: {e}"));
          break;
        }
        Err(e @ TransportError::Interrupted { .. }) => {
          result.outcome = Outcome::Interrupted;
          result.output = e.partial().cloned().map(|o| self.mask(o));
          result.error = Some(e.to_string());
          break;
        }
        // Timed out, or the connection was lost under it: no verdict, and what it printed.
        Err(e) => {
          result.outcome = undecided;
          result.output = e.partial().cloned().map(|o| self.mask(o));
          result.verdict = None;
          result.error = Some(e.to_string());
        }
      }
      if result.outcome == Outcome::Passed || attempt == step.retry.attempts {
        break;
      }
      // Wait before the next attempt, unless the operator interrupts.
      let seen = self.interrupts.count();
      let interrupted = tokio::select! {
        _ = tokio::time::sleep(step.retry.delay) => false,
        _ = self.interrupts.after(seen) => true,
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
}
