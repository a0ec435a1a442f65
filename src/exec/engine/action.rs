//! Actions: shown with their exact command and confirmed per host before anything runs.

use super::{Engine, Next};
use crate::exec::event::*;
use crate::exec::expect::Compiled;
use crate::exec::plan::{PlannedStep, RunMode};
use crate::runbook::model::StepKind;
use crate::runbook::template::Quoting;

impl Engine<'_> {
  pub(super) async fn action(
    &self,
    planned: &PlannedStep<'_>,
    eligible: Vec<String>,
    records: &[StepRecord],
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
    // Never offered with a value missing (a capture whose step did not run, say after
    // `--from`): the command shown would not be the command run. A rehearsal shows the
    // template instead, since nothing is learned there.
    let mut eligible = eligible;
    if self.plan.mode != RunMode::DryRun {
      eligible.retain(|host| match self.command_for(planned, host) {
        Ok(_) => true,
        Err(why) => {
          let mut result = HostResult::new(host, Outcome::Unknown);
          result.error = Some(format!("not offered: {why}"));
          self.reporter.event(Event::HostDone {
            planned,
            result: &result,
          });
          record.results.push(result);
          false
        }
      });
    }
    if self.plan.mode == RunMode::ChecksOnly {
      // Triage never acts: it lists what the findings would have led to.
      for host in &eligible {
        let note = (!step.when.is_empty()).then(|| self.describe_when(planned));
        self.reporter.event(Event::WouldRun {
          planned,
          host,
          command: &self.shown(planned, host),
          note: note.as_deref(),
        });
        record.results.push(HostResult::new(host, Outcome::NotRun));
      }
      return Next::Continue;
    }
    let mut confirmed = Vec::new();
    // `all` at a prompt: yes for the rest of this step's hosts (never for a destructive one).
    let mut all = false;
    for host in &eligible {
      // One operator at a time: another run is changing this host.
      if let Some(stop) = self.held_elsewhere(planned, host, record).await {
        return stop;
      }
      // Never offered where it cannot run: the preflight (or an earlier step) lost the host.
      if self.is_down(host) {
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
        .map(|t| self.text(t, Some(host), Quoting::Text))
        .unwrap_or_else(|| format!("Run `{}` on {host}?", planned.title()));
      let command = self.shown(planned, host);
      let (answer, value) = if all {
        self.reporter.event(Event::Decision {
          planned,
          host: Some(host),
          question: "confirm",
          answer: Answer::Yes,
          shown: None,
          by: DecidedBy::Operator,
          value: Some("all"),
        });
        (Answer::Yes, None)
      } else {
        // `again`: the checks behind the question run again on this host, and it is asked again
        // with what they found now.
        let mut seen: Vec<StepRecord> = records.to_vec();
        let (answer, value) = loop {
          let (answer, value) = self
            .ask_value(Request::Confirm {
              planned,
              host,
              text: text.clone(),
              command: &command,
              destructive: *destructive,
              rehearsal: self.plan.mode == RunMode::DryRun,
              why: self.why(planned, host, &seen),
              progress: self.progress(&seen),
            })
            .await;
          if answer != Answer::Again {
            break (answer, value);
          }
          self.recheck(planned, host, &mut seen).await;
        };
        all = answer == Answer::Yes && value.as_deref() == Some("all") && !*destructive;
        (answer, value)
      };
      if self.plan.mode == RunMode::DryRun && answer != Answer::Abort {
        // The plan says what this run would do with the action, not only that it exists.
        let outcome = self.rehearsal_note(planned, host, answer, *destructive);
        record.results.push(HostResult::new(host, outcome));
        continue;
      }
      if answer == Answer::Jump {
        let target = value.clone().unwrap_or_default();
        record
          .results
          .push(HostResult::new(host, Outcome::OperatorSkipped));
        return Next::Jump(target);
      }
      match answer {
        // Asked again after the answer: another run may have taken the host over meanwhile.
        Answer::Yes => {
          if let Some(stop) = self.held_elsewhere(planned, host, record).await {
            return stop;
          }
          confirmed.push(host.clone())
        }
        Answer::Abort => {
          record.results.push(HostResult::new(host, Outcome::Aborted));
          return Next::End(self.abort_kind());
        }
        _ => {
          if *destructive && !self.operator.interactive() {
            self.reporter.event(Event::Notice(&format!(
              "{host}: `{}` is destructive and was not run: an unattended run needs --yes-destructive",
              step.id.value
            )));
          }
          // A person's no, or a rule's: said apart in the summary and the record.
          let outcome = if self.operator.interactive() {
            Outcome::OperatorSkipped
          } else {
            Outcome::Declined
          };
          record.results.push(HostResult::new(host, outcome));
        }
      }
    }
    if confirmed.is_empty() {
      return Next::Continue;
    }
    let next = self
      .execute(planned, confirmed, &Compiled::new(expect), record)
      .await;
    self.worked();
    next
  }
}

impl Engine<'_> {
  /// Stops the run where another run holds `host` (or took its lock over): nothing is run.
  async fn held_elsewhere(
    &self,
    planned: &PlannedStep<'_>,
    host: &str,
    record: &mut StepRecord,
  ) -> Option<Next> {
    let why = self.transport.lock(host).await?.refusal()?;
    self.reporter.event(Event::Notice(&format!(
      "`{}` would change {host}, but {why}. Nothing was run; the run stops here.",
      planned.step.id.value
    )));
    let mut result = HostResult::new(host, Outcome::Declined);
    result.error = Some(format!("not run: {why}"));
    record.results.push(result);
    Some(Next::End(RunEnd::Stopped))
  }

  /// Runs again, on `host`, the checks whose findings the action's `when:` names, and keeps
  /// their new results in `seen` (and the record). A rehearsal runs nothing.
  async fn recheck(&self, planned: &PlannedStep<'_>, host: &str, seen: &mut [StepRecord]) {
    if self.plan.mode == RunMode::DryRun {
      return;
    }
    let when = &planned.step.when;
    for id in when.failed.iter().chain(&when.unknown) {
      let Some(check) = self.plan.steps.iter().find(|s| s.step.id.value == id.value) else {
        continue;
      };
      let StepKind::Check { expect, .. } = &check.step.kind else {
        continue;
      };
      if !check.hosts.iter().any(|h| h == host) {
        continue;
      }
      let result = self.on_host(check, host, &Compiled::new(expect)).await;
      if let Some(record) = seen.iter_mut().find(|r| r.id == id.value) {
        record.results.retain(|r| r.host != host);
        record.results.push(result);
      }
    }
  }

  /// Each step of the plan with where it stands: done steps with their results per host, the
  /// rest as to come.
  fn progress(&self, records: &[StepRecord]) -> Vec<(String, String)> {
    self
      .plan
      .steps
      .iter()
      .map(|s| {
        let id = s.step.id.value.clone();
        let status = match records.iter().find(|r| r.id == id) {
          Some(r) if r.results.is_empty() => "skipped".to_string(),
          Some(r) => r
            .results
            .iter()
            .map(|h| {
              if h.host == MANUAL_HOST {
                h.outcome.label().to_string()
              } else {
                format!("{}={}", h.host, h.outcome.label())
              }
            })
            .collect::<Vec<_>>()
            .join(" "),
          None => "to come".to_string(),
        };
        (id, status)
      })
      .collect()
  }

  /// Why the action is offered on `host`, from the findings its `when:` names: at the prompt,
  /// the reason has often scrolled away.
  fn why(&self, planned: &PlannedStep<'_>, host: &str, records: &[StepRecord]) -> Option<String> {
    let when = &planned.step.when;
    let mut parts = Vec::new();
    for id in when.failed.iter().chain(&when.unknown) {
      let Some(record) = records.iter().find(|r| r.id == id.value) else {
        continue;
      };
      let found = record
        .results
        .iter()
        .find(|r| r.host == host && matches!(r.outcome, Outcome::Failed | Outcome::Unknown))
        .or_else(|| {
          record
            .results
            .iter()
            .find(|r| matches!(r.outcome, Outcome::Failed | Outcome::Unknown))
        });
      if let Some(r) = found {
        let reason = r
          .verdict
          .as_ref()
          .and_then(|v| v.reasons.first().cloned())
          .or_else(|| r.error.clone())
          .unwrap_or_default();
        parts.push(format!(
          "{} {} on {}{}",
          id.value,
          r.outcome.label().to_lowercase(),
          r.host,
          if reason.is_empty() {
            String::new()
          } else {
            format!(": {reason}")
          }
        ));
      }
    }
    if !when.values.is_empty() {
      parts.push(self.describe_when(planned));
    }
    (!parts.is_empty()).then(|| parts.join("; "))
  }

  /// A rehearsed action: the command, and what the answer (or an unattended run's policy) would
  /// do with it.
  fn rehearsal_note(
    &self,
    planned: &PlannedStep<'_>,
    host: &str,
    answer: Answer,
    destructive: bool,
  ) -> Outcome {
    let person = self.operator.interactive();
    let stops = planned.step.on_failure == crate::runbook::model::OnFailure::Ask;
    let (note, outcome) = match (answer, person) {
      (Answer::Yes, true) => ("confirmed in the rehearsal".to_string(), Outcome::Rehearsed),
      (_, true) => (
        "skipped in the rehearsal".to_string(),
        Outcome::OperatorSkipped,
      ),
      (Answer::Yes, false) => (
        format!(
          "an unattended run confirms it{}",
          if stops {
            "; if it fails, the run stops"
          } else {
            ""
          }
        ),
        Outcome::Rehearsed,
      ),
      (_, false) if destructive => (
        "an unattended run declines it: destructive, needs --yes-destructive".to_string(),
        Outcome::Declined,
      ),
      (_, false) => (
        "an unattended run declines it: needs --yes".to_string(),
        Outcome::Declined,
      ),
    };
    self.reporter.event(Event::WouldRun {
      planned,
      host,
      command: &self.shown(planned, host),
      note: Some(&note),
    });
    outcome
  }
}
