//! The escalation ladder: "10 min elapsed: call Senior SRE", announced as the incident's time
//! passes each rung.

use std::time::Instant;

use super::Engine;
use crate::exec::condition;
use crate::exec::event::*;
use crate::exec::plan::{PlannedStep, RunMode};

impl Engine<'_> {
  /// Announces each rung of the escalation ladder as the incident's time passes it; rungs a
  /// resumed run passed while megacity was not running are announced at once.
  pub(super) async fn escalations(&self, started: Instant, finished: &tokio::sync::Notify) {
    let before = self.prior.elapsed;
    for rung in self
      .plan
      .runbook
      .escalation
      .iter()
      .skip(self.prior.rungs_done)
    {
      let due = rung.after.saturating_sub(before);
      tokio::select! {
        _ = tokio::time::sleep(due.saturating_sub(started.elapsed())) => {
          self.reporter.event(Event::Escalation { rung, elapsed: before + started.elapsed() });
        }
        _ = finished.notified() => return,
      }
    }
  }
}

impl Engine<'_> {
  /// After each step: rungs whose condition now holds fire (once), and a step with `raise:`
  /// that was reached makes the incident that severe. A rehearsal walks every branch, so it
  /// fires nothing.
  pub(super) fn findings(
    &self,
    planned: &PlannedStep<'_>,
    records: &[StepRecord],
    started: Instant,
  ) {
    if self.plan.mode == RunMode::DryRun {
      return;
    }
    for (i, rung) in self.plan.runbook.escalate_on.iter().enumerate() {
      // Only on what the run found: a step not reached yet proves nothing.
      let judged = rung
        .when
        .references()
        .all(|id| records.iter().any(|r| r.id == id.value));
      if !judged || self.fired.lock().unwrap().contains(&i) {
        continue;
      }
      let holds = condition::holds(&rung.when, None, records, |_| false, &|name| {
        self.value_of(name, None)
      });
      if holds {
        self.fired.lock().unwrap().insert(i);
        self.reporter.event(Event::EscalationOn {
          to: &rung.to,
          reason: &condition::describe(&rung.when),
          elapsed: self.prior.elapsed + started.elapsed(),
        });
      }
    }
    let Some(to) = planned.step.raise else {
      return;
    };
    let reached = records
      .iter()
      .rev()
      .find(|r| r.id == planned.step.id.value)
      .is_some_and(|r| {
        r.results
          .iter()
          .any(|h| !matches!(h.outcome, Outcome::Skipped | Outcome::NotApplicable))
      });
    let mut severity = self.severity.lock().unwrap();
    if reached && to < *severity {
      let from = *severity;
      *severity = to;
      drop(severity);
      self
        .reporter
        .event(Event::SeverityRaised { planned, from, to });
    }
  }
}
