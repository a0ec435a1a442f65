//! What a run came to, and the exit code that says so (README "Exit codes").

use crate::exec::event::{Outcome, RunEnd, StepRecord};
use crate::exec::plan::{Plan, RunMode};
use crate::exit_code;
use crate::runbook::model::StepKind;

pub(crate) struct RunResult {
  pub(crate) records: Vec<StepRecord>,
  pub(crate) end: RunEnd,
}

/// What the exit-code rule needs to know about a step of the plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum StepRole {
  /// A check that later steps' `when: {failed: …}` remedy (`by`), or that later checks measure
  /// again (`verified_by`, their `verifies:`): its failure is a finding that a remedy which ran
  /// resolves (the verification after it then decides), or that a passing re-measurement
  /// shows resolved; otherwise (declined, skipped, still failing) the finding stands.
  RemediedCheck {
    by: Vec<String>,
    verified_by: Vec<String>,
  },
  Check,
  Other,
}

impl RunResult {
  /// 0 when the run completed and nothing is left broken.
  pub(crate) fn exit_code(&self, plan: &Plan<'_>) -> i32 {
    exit_code_for(plan.mode, self.end, &self.records, |id| role(plan, id))
  }
}

/// What the exit-code rule needs to know about step `id` of `plan`.
pub(crate) fn role(plan: &Plan<'_>, id: &str) -> StepRole {
  let Some(step) = plan.steps.iter().find(|s| s.step.id.value == id) else {
    return StepRole::Other;
  };
  // Remedied by an action that runs where it failed, or by a called runbook's actions.
  let by: Vec<String> = plan
    .steps
    .iter()
    .filter(|s| matches!(s.step.kind, StepKind::Action { .. }))
    .filter(|s| {
      std::iter::once(&s.step.when)
        .chain(s.step.gates.iter().filter(|g| !g.negate).map(|g| &g.when))
        .any(|w| w.failed.iter().any(|f| f.value == id))
    })
    .map(|s| s.step.id.value.clone())
    .collect();
  let verifiers: Vec<String> = plan
    .steps
    .iter()
    .filter(|s| s.step.verifies.iter().any(|v| v.value == id))
    .map(|s| s.step.id.value.clone())
    .collect();
  match &step.step.kind {
    StepKind::Check { .. } if !by.is_empty() || !verifiers.is_empty() => StepRole::RemediedCheck {
      by,
      verified_by: verifiers,
    },
    StepKind::Check { .. } => StepRole::Check,
    _ => StepRole::Other,
  }
}

/// The results that leave the run short of success: (step, host, outcome).
pub(crate) fn unresolved(
  mode: RunMode,
  records: &[StepRecord],
  role: impl Fn(&str) -> StepRole,
) -> Vec<(&str, &str, Outcome)> {
  let mut out = Vec::new();
  for record in records {
    // A repeat's round that a later round followed: the later one says how it ended.
    if superseded(&record.id, records) {
      continue;
    }
    for r in &record.results {
      let counts = match r.outcome {
        // Not known to be healthy: the run did not establish what it set out to.
        Outcome::Unreachable | Outcome::Interrupted | Outcome::Unknown => true,
        Outcome::Failed => match role(&record.id) {
          StepRole::RemediedCheck { by, verified_by } => {
            let remedy =
              mode != RunMode::ChecksOnly && by.iter().any(|a| passed(a, &r.host, records));
            // Measured again later and passed: whatever mended it (in triage too).
            let verified = verified_by.iter().any(|v| passed(v, &r.host, records));
            !(remedy || verified)
          }
          StepRole::Check | StepRole::Other => true,
        },
        _ => false,
      };
      if counts {
        out.push((record.id.as_str(), r.host.as_str(), r.outcome));
      }
    }
  }
  out
}

/// Whether step `id` ran and passed on `host` (or, where it had no result there, on some host:
/// a remedy elsewhere, such as a failover on the replica; a check run from the operator's
/// machine).
fn passed(id: &str, host: &str, records: &[StepRecord]) -> bool {
  let Some(record) = records.iter().find(|r| r.id == id) else {
    return false;
  };
  match record.results.iter().find(|r| r.host == host) {
    Some(r) => r.outcome == Outcome::Passed,
    None => record.results.iter().any(|r| r.outcome == Outcome::Passed),
  }
}

/// Whether `id` is a step of a repeat's round (`CALL#k/step`) that a later round also ran.
fn superseded(id: &str, records: &[StepRecord]) -> bool {
  let Some((call, rest)) = id.split_once('#') else {
    return false;
  };
  let Some((round, step)) = rest.split_once('/') else {
    return false;
  };
  let Ok(round) = round.parse::<u32>() else {
    return false;
  };
  records.iter().any(|r| {
    r.id
      .strip_prefix(call)
      .and_then(|x| x.strip_prefix('#'))
      .and_then(|x| x.split_once('/'))
      .is_some_and(|(k, s)| {
        s == step
          && k.parse::<u32>().is_ok_and(|k| k > round)
          && r.results.iter().any(|h| h.outcome != Outcome::Skipped)
      })
  })
}

/// The rule itself, apart from the plan so that it can be tested as a table.
pub(crate) fn exit_code_for(
  mode: RunMode,
  end: RunEnd,
  records: &[StepRecord],
  role: impl Fn(&str) -> StepRole,
) -> i32 {
  match end {
    RunEnd::Aborted => return exit_code::ABORTED,
    RunEnd::Interrupted => return exit_code::INTERRUPTED,
    RunEnd::Stopped => return exit_code::FAILURE,
    RunEnd::Completed => {}
  }
  if mode == RunMode::DryRun {
    return exit_code::SUCCESS;
  }
  if !unresolved(mode, records, role).is_empty() {
    exit_code::FAILURE
  } else {
    exit_code::SUCCESS
  }
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::exec::event::HostResult;

  fn record(id: &str, outcome: Outcome) -> StepRecord {
    StepRecord {
      id: id.into(),
      kind: "check",
      results: vec![HostResult::new("h", outcome)],
    }
  }

  #[test]
  fn table() {
    use Outcome::*;
    use RunEnd::*;
    use RunMode::*;
    let role = |id: &str| match id {
      "ping" => StepRole::RemediedCheck {
        by: vec!["restart".into()],
        verified_by: Vec::new(),
      },
      "health" => StepRole::RemediedCheck {
        by: Vec::new(),
        verified_by: vec!["health-again".into()],
      },
      "verify" => StepRole::Check,
      _ => StepRole::Other,
    };
    // (mode, end, records, expected)
    let cases: Vec<(RunMode, RunEnd, Vec<StepRecord>, i32)> = vec![
      (
        Live,
        Completed,
        vec![record("verify", Passed)],
        exit_code::SUCCESS,
      ),
      (
        Live,
        Completed,
        vec![record("verify", Failed)],
        exit_code::FAILURE,
      ),
      // A remedied check's failure is a finding; the verification decides.
      (
        Live,
        Completed,
        vec![
          record("ping", Failed),
          record("restart", Passed),
          record("verify", Passed),
        ],
        exit_code::SUCCESS,
      ),
      // A remedy that did not run (declined) leaves the finding standing.
      (
        Live,
        Completed,
        vec![
          record("ping", Failed),
          record("restart", Declined),
          record("verify", Passed),
        ],
        exit_code::FAILURE,
      ),
      // Measured again later (`verifies:`) and passed: resolved, whatever mended it.
      (
        Live,
        Completed,
        vec![record("health", Failed), record("health-again", Passed)],
        exit_code::SUCCESS,
      ),
      (
        Live,
        Completed,
        vec![record("health", Failed), record("health-again", Failed)],
        exit_code::FAILURE,
      ),
      // Triage: nothing was remedied, so the finding stands.
      (
        ChecksOnly,
        Completed,
        vec![record("ping", Failed)],
        exit_code::FAILURE,
      ),
      (
        Live,
        Completed,
        vec![record("restart", Failed)],
        exit_code::FAILURE,
      ),
      (
        Live,
        Completed,
        vec![record("verify", Unreachable)],
        exit_code::FAILURE,
      ),
      (
        Live,
        Completed,
        vec![record("restart", Declined)],
        exit_code::SUCCESS,
      ),
      (
        DryRun,
        Completed,
        vec![record("verify", Failed)],
        exit_code::SUCCESS,
      ),
      (Live, RunEnd::Aborted, vec![], exit_code::ABORTED),
      (Live, RunEnd::Interrupted, vec![], exit_code::INTERRUPTED),
      (Live, Stopped, vec![], exit_code::FAILURE),
      (DryRun, RunEnd::Aborted, vec![], exit_code::ABORTED),
    ];
    for (i, (mode, end, records, expected)) in cases.into_iter().enumerate() {
      assert_eq!(
        exit_code_for(mode, end, &records, role),
        expected,
        "case {i}"
      );
    }
  }
}
