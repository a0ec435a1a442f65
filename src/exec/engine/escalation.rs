//! The escalation ladder: "10 min elapsed: call Senior SRE", announced as the incident's time
//! passes each rung.

use std::time::Instant;

use super::Engine;
use crate::exec::event::*;

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
