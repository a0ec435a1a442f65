//! Actions: shown with their exact command and confirmed per host before anything runs.

use super::{Engine, Next};
use crate::exec::condition;
use crate::exec::event::*;
use crate::exec::expect::Compiled;
use crate::exec::plan::{PlannedStep, RunMode};
use crate::exec::transport::LockState;
use crate::runbook::model::StepKind;
use crate::runbook::template::Quoting;

impl Engine<'_> {
  pub(super) async fn action(
    &self,
    planned: &PlannedStep<'_>,
    eligible: Vec<String>,
    record: &mut StepRecord,
  ) -> Next {
    let step = planned.step;
    let StepKind::Action {
      confirm,
      destructive,
      expect,
      ..
    } = &step.kind
    else {
      unreachable!("dispatched on the kind");
    };
    if self.plan.mode == RunMode::ChecksOnly {
      // Triage never acts: it lists what the findings would have led to.
      for host in &eligible {
        let note = (!step.when.is_empty()).then(|| condition::describe(&step.when));
        self.reporter.event(Event::WouldRun {
          planned,
          host,
          command: display(planned, host),
          note: note.as_deref(),
        });
        record.results.push(HostResult::new(host, Outcome::NotRun));
      }
      return Next::Continue;
    }
    let mut confirmed = Vec::new();
    for host in &eligible {
      // One operator at a time: another run is changing this host.
      if let Some(LockState::HeldBy(who)) = self.transport.lock(host).await {
        self.reporter.event(Event::Notice(&format!(
          "`{}` would change {host}, which another run holds: {who}. Nothing was run; the run stops here.",
          step.id.value
        )));
        let mut result = HostResult::new(host, Outcome::Declined);
        result.error = Some(format!("locked by another run: {who}"));
        record.results.push(result);
        return Next::End(RunEnd::Stopped);
      }
      // Never offered where it cannot run: the preflight (or an earlier step) lost the host.
      if self.down.lock().unwrap().contains(host) {
        let mut result = HostResult::new(host, Outcome::Unreachable);
        result.error = Some("unreachable (see preflight); not offered".into());
        self.reporter.event(Event::HostDone {
          planned,
          result: &result,
        });
        record.results.push(result);
        continue;
      }
      let text = confirm
        .as_ref()
        .map(|t| self.plan.values.display(t, Some(host), Quoting::Text))
        .unwrap_or_else(|| format!("Run `{}` on {host}?", step.title));
      let answer = self
        .ask(Request::Confirm {
          planned,
          host,
          text,
          command: display(planned, host),
          destructive: *destructive,
        })
        .await;
      match answer {
        Answer::Yes => confirmed.push(host.clone()),
        Answer::Abort => {
          record
            .results
            .push(HostResult::new(host, Outcome::Declined));
          return Next::End(self.abort_kind());
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
      return Next::Continue;
    }
    if self.plan.mode == RunMode::DryRun {
      self.rehearse(planned, &confirmed, record);
      return Next::Continue;
    }
    self
      .execute(planned, confirmed, &Compiled::new(expect), record)
      .await
  }
}

/// The command as the operator sees it on `host` (secrets masked).
fn display<'p>(planned: &'p PlannedStep<'_>, host: &str) -> &'p str {
  planned
    .command(host)
    .map(|c| c.display.as_str())
    .unwrap_or("")
}
