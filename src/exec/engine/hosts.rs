//! Running a check or a confirmed action on its hosts: concurrently, with retries and timeouts,
//! then the step's failure policy.

use std::sync::atomic::Ordering;
use tokio::time::Instant;

use futures_util::StreamExt;
use futures_util::stream;

use super::{Engine, Next};
use crate::exec::event::*;
use crate::exec::expect::Compiled;
use crate::exec::learned;
use crate::exec::plan::{Command, PlannedStep, RunMode, wrap};
use crate::exec::privilege::sudo_wants_password;
use crate::exec::transport::{Output, TransportError};
use crate::inventory::LOCAL;
use crate::runbook::model::{OnFailure, StepKind, Until, Wait};
use crate::runbook::template::Quoting;
use crate::runbook::values::{MASK, Value};

/// After a wait's poll: stop, or poll again after `every`.
enum Poll {
  Done,
  Again,
}

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
      let mut results: Vec<HostResult> = if planned.step.serial {
        self.one_by_one(planned, &pending, compiled).await
      } else {
        stream::iter(pending.iter())
          .map(|host| self.on_host(planned, host, compiled))
          .buffer_unordered(self.concurrency)
          .collect()
          .await
      };
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

  /// `serial: true`: one host at a time; after the first that does not pass, the rest are
  /// left alone (a rolling change stops where it went wrong).
  async fn one_by_one(
    &self,
    planned: &PlannedStep<'_>,
    hosts: &[String],
    compiled: &Compiled,
  ) -> Vec<HostResult> {
    let mut out: Vec<HostResult> = Vec::new();
    for host in hosts {
      if let Some(stopped) = out.iter().find(|r| r.outcome != Outcome::Passed) {
        let mut result = HostResult::new(host, Outcome::NotRun);
        result.error = Some(format!(
          "not reached: this step goes one host at a time and stopped at {} ({})",
          stopped.host,
          stopped.outcome.label()
        ));
        self.reporter.event(Event::HostDone {
          planned,
          result: &result,
        });
        out.push(result);
        continue;
      }
      out.push(self.on_host(planned, host, compiled).await);
    }
    out
  }

  /// The command for `host`: planned, or rendered now with what the run has learned.
  pub(super) fn command_for(
    &self,
    planned: &PlannedStep<'_>,
    host: &str,
  ) -> Result<Command, String> {
    if let Some(command) = planned.command(host) {
      return Ok(command.clone());
    }
    let template = planned
      .step
      .command()
      .ok_or_else(|| "no command for this host".to_string())?;
    let learned = |n: &str| self.learned_value(n, host);
    let rendered = self
      .plan
      .values
      .render(template, host, Quoting::Shell, &learned)
      .map_err(|_| self.missing(template, host))?;
    let shell = planned.step.shell.unwrap_or(self.plan.runbook.shell);
    Ok(Command {
      host: host.to_string(),
      exec: wrap(&rendered, shell, planned.step.sudo)?,
      display: self.text(template, Some(host), Quoting::Shell),
    })
  }

  /// Why `template` cannot be rendered on `host`: the first value nobody provided.
  fn missing(&self, template: &str, host: &str) -> String {
    crate::runbook::template::placeholders(template)
      .filter(|(n, _)| self.plan.values.get(n).is_none() && *n != "host")
      .find_map(|(n, _)| self.learned.lookup(n, host).err())
      .unwrap_or_else(|| "a value it uses is not known".into())
  }

  /// Whether an action or a manual step (work triage does not do) comes before `planned`.
  fn after_an_action(&self, planned: &PlannedStep<'_>) -> bool {
    self
      .plan
      .steps
      .iter()
      .take_while(|s| s.number < planned.number)
      .any(|s| {
        matches!(
          s.step.kind,
          StepKind::Action { .. } | StepKind::Manual { .. }
        )
      })
  }

  /// The command as the operator sees it on `host`.
  pub(super) fn shown(&self, planned: &PlannedStep<'_>, host: &str) -> String {
    match planned.command(host) {
      Some(c) => c.display.clone(),
      None => planned
        .step
        .command()
        .map(|t| self.text(t, Some(host), Quoting::Shell))
        .unwrap_or_default(),
    }
  }

  pub(super) async fn on_host(
    &self,
    planned: &PlannedStep<'_>,
    host: &str,
    compiled: &Compiled,
  ) -> HostResult {
    let step = planned.step;
    let mut result = HostResult::new(host, Outcome::Failed);
    if self.is_down(host) {
      result.outcome = Outcome::Unreachable;
      result.error = Some("unreachable (see preflight)".into());
      self.reporter.event(Event::HostDone {
        planned,
        result: &result,
      });
      return result;
    }
    // A check that could not judge says so; an action that could not finish failed.
    let is_check = matches!(step.kind, StepKind::Check { .. });
    let undecided = if is_check {
      Outcome::Unknown
    } else {
      Outcome::Failed
    };
    // A value the command needs was not learned: nothing runs, and nobody can say.
    let command = match self.command_for(planned, host) {
      Ok(command) => command,
      Err(why) => {
        result.outcome = Outcome::Unknown;
        result.error = Some(format!("not run: {why}"));
        self.reporter.event(Event::HostDone {
          planned,
          result: &result,
        });
        return result;
      }
    };
    result.command = Some(command.display.clone());
    // Expectations that use values are compiled for this host.
    let own;
    let compiled = if compiled.uses_values() {
      let learned = |n: &str| self.learned_value(n, host);
      let fill = |p: &str, quoting: Quoting| {
        self
          .plan
          .values
          .render(p, host, quoting, &learned)
          .map_err(|_| self.missing(p, host))
      };
      match compiled.for_values(|p| fill(p, Quoting::Regex), |p| fill(p, Quoting::Text)) {
        Ok(c) => {
          own = c;
          &own
        }
        Err(why) => {
          result.outcome = Outcome::Unknown;
          result.error = Some(format!("not run: {why}"));
          self.reporter.event(Event::HostDone {
            planned,
            result: &result,
          });
          return result;
        }
      }
    } else {
      compiled
    };
    let started = Instant::now();
    // Triage changes nothing, so a check after an action (a verification) cannot come to pass
    // by trying again: one attempt, no wait.
    let once = self.plan.mode == RunMode::ChecksOnly && self.after_an_action(planned);
    let wait = step.wait.as_ref().filter(|_| !once);
    let attempts = match wait {
      // Polls until the deadline; the loop ends on the deadline, not on a count.
      Some(_) => u32::MAX,
      None if once => 1,
      None => step.retry.attempts,
    };
    let delay = wait.map_or(step.retry.delay, |w| w.every);
    let changes = matches!(step.kind, StepKind::Action { .. }) && self.plan.mode == RunMode::Live;
    for attempt in 1..=attempts {
      result.attempts = attempt;
      // One operator at a time, at every attempt of a change (a retry included): another run
      // may have taken the host over since it was confirmed.
      if changes && let Some(why) = self.transport.lock(host).await.and_then(|l| l.refusal()) {
        result.outcome = Outcome::Declined;
        result.error = Some(format!("not run: {why}"));
        break;
      }
      self.reporter.event(Event::HostRunning {
        planned,
        host,
        attempt,
      });
      let ran = self
        .transport
        .run(host, &command.exec, step.timeout, self.interrupts.clone())
        .await;
      if let Some(cause) = ran.as_ref().err().and_then(|e| e.cause()) {
        // The words the operator reads are classified; `-v` shows the transport's own error.
        tracing::debug!(host, step = %planned.step.id.value, "transport error: {cause:?}");
      }
      match ran {
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
          self.take_captures(planned, host, &output, &mut result);
          // A command that cannot run (not found: 127) will not run on the next attempt either.
          let settled = verdict.cannot_run;
          result.verdict = Some(verdict);
          result.output = Some(output);
          result.error = None;
          if settled {
            break;
          }
        }
        Err(TransportError::Connect { reason: e, .. }) => {
          if host != LOCAL {
            self.lost(host);
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
      if let Some(wait) = wait {
        match self.poll(planned, host, wait, started, &mut result) {
          Poll::Done => break,
          Poll::Again => {}
        }
      } else if result.outcome == Outcome::Passed || attempt == attempts {
        break;
      }
      // Wait before the next attempt, unless the operator interrupts.
      let seen = self.interrupts.count();
      let interrupted = tokio::select! {
        _ = tokio::time::sleep(delay) => false,
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

impl Engine<'_> {
  /// Takes the step's captures from `output` on `host`: kept for later steps and recorded.
  fn take_captures(
    &self,
    planned: &PlannedStep<'_>,
    host: &str,
    output: &Output,
    result: &mut HostResult,
  ) {
    result.captured.clear();
    for capture in &planned.step.capture {
      let Some(text) = learned::take(capture, &output.stdout, &output.stderr) else {
        // Ran here and found nothing: later steps on this host get no value, not another's.
        self
          .learned
          .capture(&planned.step.id.value, host, &capture.name.value, None);
        continue;
      };
      // Derived from a secret (or declared one): masked wherever it is shown or kept.
      let secret = capture.secret || text.contains(MASK);
      result.captured.push((
        capture.name.value.clone(),
        if secret {
          MASK.to_string()
        } else {
          text.clone()
        },
      ));
      self.learned.capture(
        &planned.step.id.value,
        host,
        &capture.name.value,
        Some(Value { text, secret }),
      );
    }
  }

  /// One poll of a wait: records the sample, says whether to stop, and sets the outcome when
  /// the deadline has passed with the condition still unmet.
  fn poll(
    &self,
    planned: &PlannedStep<'_>,
    host: &str,
    wait: &Wait,
    started: Instant,
    result: &mut HostResult,
  ) -> Poll {
    let watched = wait.until.value().map(|name| {
      result
        .verdict
        .as_ref()
        .and_then(|v| v.measurements.iter().find(|m| m.name == name.value))
        .and_then(|m| m.value)
        .or_else(|| {
          result
            .captured
            .iter()
            .find(|(n, _)| *n == name.value)
            .and_then(|(_, v)| v.trim().parse::<f64>().ok())
        })
    });
    result.samples.push(learned_sample(
      started,
      watched.flatten(),
      result.outcome == Outcome::Passed,
    ));
    let done = match (&wait.until, result.samples.as_slice()) {
      (Until::Holds, _) => result.outcome == Outcome::Passed,
      (Until::StopsRising(_), [.., a, b]) => {
        matches!((a.value, b.value), (Some(x), Some(y)) if y <= x)
      }
      (Until::StopsFalling(_), [.., a, b]) => {
        matches!((a.value, b.value), (Some(x), Some(y)) if y >= x)
      }
      _ => false,
    };
    let elapsed = started.elapsed();
    if done {
      return Poll::Done;
    }
    if elapsed + wait.every > wait.up_to {
      // Out of time: the expectation did not come to hold, or the number kept moving.
      let trail = trail(&result.samples);
      match &wait.until {
        Until::Holds => {}
        Until::StopsRising(v) | Until::StopsFalling(v) => {
          let moving = if matches!(wait.until, Until::StopsRising(_)) {
            "rising"
          } else {
            "falling"
          };
          if result.samples.iter().all(|s| s.value.is_none()) {
            result.outcome = Outcome::Unknown;
          } else if result.outcome == Outcome::Passed {
            result.outcome = Outcome::Failed;
          }
          if let Some(verdict) = result.verdict.as_mut() {
            verdict.passed = false;
            verdict.reasons.push(format!(
              "{} still {moving} after {}: {trail}",
              v.value,
              crate::schema::format_duration(wait.up_to)
            ));
          }
        }
      }
      if let (Until::Holds, Some(verdict)) = (&wait.until, result.verdict.as_mut())
        && result.outcome != Outcome::Passed
      {
        verdict.reasons.push(format!(
          "still not met after {}",
          crate::schema::format_duration(wait.up_to)
        ));
      }
      return Poll::Done;
    }
    let seen = match (&wait.until, result.samples.last().and_then(|s| s.value)) {
      (Until::Holds, _) => result.outcome.label().to_string(),
      (_, Some(_)) => trail(&result.samples),
      (_, None) => "no number".to_string(),
    };
    self.reporter.event(Event::Waiting {
      planned,
      host,
      seen: &seen,
      left: wait.up_to.saturating_sub(elapsed),
    });
    Poll::Again
  }
}

fn learned_sample(started: Instant, value: Option<f64>, passed: bool) -> Sample {
  Sample {
    at_ms: started.elapsed().as_millis() as u64,
    value,
    passed,
  }
}

/// The last few samples of a wait: `120 → 340 → 560`.
fn trail(samples: &[Sample]) -> String {
  let shown: Vec<String> = samples
    .iter()
    .rev()
    .take(5)
    .rev()
    .map(|s| s.value.map_or("?".into(), |v| format!("{v}")))
    .collect();
  shown.join(" → ")
}
