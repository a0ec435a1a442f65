//! Questions to the operator: an `input` (a value) or a `choice` (one of named branches).
//! The answer is a value later steps use like a parameter; `--var name=…` answers ahead of time.

use std::time::Instant;

use super::{Engine, Next};
use crate::exec::event::*;
use crate::exec::plan::{PlannedStep, RunMode};
use crate::runbook::model::{Question, StepKind};
use crate::runbook::template::{self, Quoting};
use crate::runbook::values::Value;

impl Engine<'_> {
  /// Whether a check after `planned` uses `name`: in its command, targets, expectations or
  /// `when:`.
  fn a_later_check_uses(&self, planned: &PlannedStep<'_>, name: &str) -> bool {
    let uses = |text: &str| template::placeholders(text).any(|(n, _)| n == name);
    self
      .plan
      .steps
      .iter()
      .skip_while(|s| s.step.id.value != planned.step.id.value)
      .skip(1)
      .any(|s| {
        let StepKind::Check { command, expect } = &s.step.kind else {
          return false;
        };
        uses(command)
          || s.step.targets.iter().any(|t| uses(t))
          || expect.patterns().any(|(_, p)| uses(p))
          || expect.bounds().any(|b| uses(b))
          || s.step.when.values.iter().any(|v| v.name.value == name)
      })
  }

  pub(super) async fn input(
    &self,
    planned: &PlannedStep<'_>,
    question: &Question,
    records: &[StepRecord],
    record: &mut StepRecord,
  ) -> Next {
    let name = question.name.value.as_str();
    if !self.condition(planned, None, records) {
      self.reporter.event(Event::StepSkipped {
        planned,
        reason: &self.describe_when(planned),
      });
      record
        .results
        .push(HostResult::new(MANUAL_HOST, Outcome::Skipped));
      return Next::Continue;
    }
    self.reporter.event(Event::StepStart {
      planned,
      hosts: &[],
    });
    let mut result = HostResult::new(MANUAL_HOST, Outcome::Passed);
    // Answered ahead of time: nobody is asked.
    if let Some(given) = self.plan.values.get(name) {
      self.reporter.event(Event::Notice(&format!(
        "`{name}` = {} (given with --var)",
        given.text
      )));
      result.captured.push((name.to_string(), given.text.clone()));
      return self.answered(planned, record, result);
    }
    let default = question
      .default
      .as_ref()
      .map(|d| self.text(d, None, Quoting::Text));
    let rehearsal = self.plan.mode == RunMode::DryRun;
    // Triage changes nothing: a question only actions need is not asked, and an unattended
    // triage asks nobody; a check that needs the answer then says it cannot judge.
    if self.plan.mode == RunMode::ChecksOnly
      && (!self.operator.interactive() || !self.a_later_check_uses(planned, name))
    {
      self.reporter.event(Event::Notice(&format!(
        "`{}` asks for `{name}`: not asked in a checks-only run ({}); give it with --var {name}=… to use it",
        planned.step.id.value,
        if self.operator.interactive() {
          "only actions use it"
        } else {
          "nobody is here to answer"
        }
      )));
      result.outcome = Outcome::NotApplicable;
      record.results.push(result);
      return Next::Continue;
    }
    if !self.operator.interactive() && !rehearsal {
      self.reporter.event(Event::Notice(&format!(
        "`{}` asks for `{name}` and nobody is here to answer; give it with --var {name}=…",
        planned.step.id.value
      )));
      result.outcome = Outcome::Unconfirmed;
      record.results.push(result);
      return Next::End(RunEnd::Stopped);
    }
    let started = Instant::now();
    // An unattended rehearsal asks nobody: it says what a run would ask, and walks on.
    let (answer, value) = if rehearsal && !self.operator.interactive() {
      (Answer::Skip, None)
    } else {
      self
        .ask_value(Request::Input {
          planned,
          question,
          default: default.clone(),
          rehearsal,
        })
        .await
    };
    result.duration = started.elapsed();
    match (answer, value) {
      (Answer::Abort, _) => {
        result.outcome = Outcome::Aborted;
        record.results.push(result);
        Next::End(self.abort_kind())
      }
      (Answer::Yes, Some(value)) if question.check(&value).is_ok() => {
        if rehearsal {
          result.outcome = Outcome::Rehearsed;
        }
        self.learned.answer(
          name,
          Value {
            text: value.clone(),
            secret: false,
          },
        );
        result.captured.push((name.to_string(), value));
        self.answered(planned, record, result)
      }
      _ if rehearsal => {
        // An unattended rehearsal: what a run would need.
        self.reporter.event(Event::Notice(&format!(
          "a run asks for `{name}` here{}",
          default
            .map(|d| format!(" (default {d})"))
            .unwrap_or_default()
        )));
        result.outcome = Outcome::Rehearsed;
        self.answered(planned, record, result)
      }
      _ => {
        // Skipped: the value stays unknown, and steps that need it say so.
        result.outcome = Outcome::OperatorSkipped;
        self.answered(planned, record, result)
      }
    }
  }

  fn answered(
    &self,
    planned: &PlannedStep<'_>,
    record: &mut StepRecord,
    result: HostResult,
  ) -> Next {
    self.reporter.event(Event::HostDone {
      planned,
      result: &result,
    });
    record.results.push(result);
    Next::Continue
  }
}
