//! The status-page update: the seeds' public text (seed 000 §8), stating only what the journal
//! shows — investigating while nothing verified recovery, resolved once the run's final checks
//! passed — for the operator to copy and paste.

use serde::Serialize;

use super::postmortem::Postmortem;
use crate::journal::{Mode, Read};

/// `report RUN --status-update --format json` prints this.
#[derive(Debug, Serialize)]
pub(crate) struct StatusUpdate {
  pub(crate) run: String,
  /// `investigating`, or `resolved` when the journal shows recovery verified.
  pub(crate) state: &'static str,
  /// A rehearsal or a triage: not an incident, not for the status page.
  pub(crate) rehearsal: bool,
  pub(crate) text: String,
}

impl StatusUpdate {
  pub(crate) fn new(read: &Read) -> StatusUpdate {
    let p = Postmortem::new(read);
    let h = p.header.as_ref();
    let title = h.map_or("an incident", |h| h.title.as_str());
    let started = h.map(|h| h.started.clone()).unwrap_or_default();
    let rehearsal = h.is_some_and(|h| h.mode != Mode::Live);
    let (state, text) = match &p.recovered {
      Some(at) => (
        "resolved",
        format!(
          "Resolved — {title}\n\nThe issue affecting {title} has been resolved: the service has been verified working since {at}. It began at {started}. We apologise for the disruption and will publish a postmortem."
        ),
      ),
      None => (
        "investigating",
        format!(
          "Investigating — {title}\n\nWe are currently investigating an issue affecting {title} (since {started}). Our team is actively mitigating the problem. Next update in 15 minutes."
        ),
      ),
    };
    StatusUpdate {
      run: p.run,
      state,
      rehearsal,
      text,
    }
  }

  pub(crate) fn markdown(&self) -> String {
    let mut out = String::new();
    if self.rehearsal {
      out.push_str("(A rehearsal or triage, not an incident: not for the status page.)\n\n");
    }
    out.push_str(&self.text);
    out.push('\n');
    out
  }
}
