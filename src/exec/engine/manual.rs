//! Manual steps: instructions for a person, who marks them done, skipped or aborts.

use std::time::Instant;

use super::{Engine, Next};
use crate::exec::event::*;
use crate::exec::plan::{PlannedStep, RunMode};
use crate::runbook::template::Quoting;

impl Engine<'_> {
  pub(super) async fn manual(
    &self,
    planned: &PlannedStep<'_>,
    instructions: &str,
    records: &[StepRecord],
    record: &mut StepRecord,
  ) -> Next {
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
    let text = self.text(instructions, None, Quoting::Text);
    self.reporter.event(Event::StepStart {
      planned,
      hosts: &[],
    });
    self.reporter.event(Event::Manual {
      planned,
      instructions: &text,
    });
    if self.plan.mode == RunMode::ChecksOnly {
      record
        .results
        .push(HostResult::new(MANUAL_HOST, Outcome::NotRun));
      return Next::Continue;
    }
    let started = Instant::now();
    let answer = self.ask(Request::Manual { planned }).await;
    let outcome = match (answer, self.operator.interactive(), self.plan.mode) {
      (Answer::Abort, ..) => {
        record
          .results
          .push(HostResult::new(MANUAL_HOST, Outcome::Aborted));
        return Next::End(self.abort_kind());
      }
      (Answer::Yes, _, RunMode::DryRun) => Outcome::Rehearsed,
      (Answer::Yes, ..) => Outcome::Passed,
      (_, false, RunMode::DryRun) => Outcome::Rehearsed,
      (_, false, _) => Outcome::Unconfirmed,
      _ => Outcome::OperatorSkipped,
    };
    if outcome == Outcome::Passed {
      // Done by a person: whatever they mended may answer again.
      self.worked();
    }
    let mut result = HostResult::new(MANUAL_HOST, outcome);
    result.duration = started.elapsed();
    self.reporter.event(Event::HostDone {
      planned,
      result: &result,
    });
    record.results.push(result);
    Next::Continue
  }
}
