//! The escalation ladder: "10 min elapsed: call Senior SRE", announced as the incident's time
//! passes each rung.

use std::collections::{HashSet, VecDeque};
use std::time::{Duration, Instant};

use super::Engine;
use crate::exec::condition;
use crate::exec::event::*;
use crate::exec::plan::{PlannedStep, RunMode};
use crate::runbook::model::Rung;

impl Engine<'_> {
  /// Announces each rung of the escalation ladder as the incident's time passes it; rungs a
  /// resumed run passed while megacity was not running are announced at once. The ladder is
  /// the runbook's own until a step raises the severity; from then on it is the new
  /// severity's (seed 003 §7.1), whose rungs already overdue are announced at once. Nobody is
  /// called twice.
  pub(super) async fn escalations(&self, started: Instant, finished: &tokio::sync::Notify) {
    // The ladder's own clock is tokio's, the one its sleeps follow (paused in the engine's tests).
    let clock = tokio::time::Instant::now() - started.elapsed();
    let before = self.prior.elapsed;
    let mut announced: HashSet<String> = self.prior.announced.iter().cloned().collect();
    let ladder_for = |announced: &HashSet<String>| -> VecDeque<Rung> {
      let now = *self.severity.lock().unwrap();
      let rungs = if now == self.plan.runbook.severity {
        self.plan.runbook.escalation.clone()
      } else {
        now.ladder()
      };
      rungs
        .into_iter()
        .filter(|r| !announced.contains(&r.to))
        .collect()
    };
    let mut ladder = ladder_for(&announced);
    loop {
      let due = ladder.front().map(|rung| {
        rung
          .after
          .saturating_sub(before)
          .saturating_sub(clock.elapsed())
      });
      tokio::select! {
        _ = tokio::time::sleep(due.unwrap_or(Duration::MAX)), if due.is_some() => {
          let rung = ladder.pop_front().expect("a rung was due");
          self.reporter.event(Event::Escalation { rung: &rung, elapsed: before + clock.elapsed() });
          announced.insert(rung.to);
        }
        _ = self.raised.notified() => ladder = ladder_for(&announced),
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
      self.raised.notify_one();
    }
  }
}
