//! The fire-drill scorecard of seed 003 §8.3, from a rehearsal or a live drill.

use std::fmt::Write;
use std::time::Duration;

use serde::Serialize;

use super::{failures, notes};
use crate::journal::{self, Answer, Header, Mode, Outcome, Read, Record, RunEnd, Rung, ended};
use crate::schema::format_duration;

/// What the scorecard is built from; `report --drill --format json` prints it.
#[derive(Debug, Serialize)]
pub(crate) struct Drill {
  pub(crate) run: String,
  /// `None` for a journal without a readable header.
  pub(crate) header: Option<Header>,
  /// `None`: the run did not finish (crashed or still running).
  pub(crate) end: Option<RunEnd>,
  pub(crate) steps: Vec<Step>,
  /// The first rung of the escalation ladder the run reached.
  pub(crate) escalation: Option<Rung>,
  /// The runbook's recovery target, when the header gives one that parses.
  pub(crate) recovery_target_s: Option<u64>,
  /// From the start to the last record.
  pub(crate) elapsed_s: u64,
  /// Completed within the recovery target; `None` without a target.
  pub(crate) recovery_met: Option<bool>,
  pub(crate) failures: Vec<String>,
  pub(crate) skipped: Vec<String>,
  pub(crate) notes: Vec<String>,
  /// What says the runbook did not fit the incident: checks that could not tell, steps a person
  /// skipped, manual steps nobody confirmed. (Steps skipped by their `when:` are the runbook
  /// working as written, not findings.)
  pub(crate) findings: Vec<String>,
  /// Nothing failed, and there are no findings.
  pub(crate) accurate: bool,
}

/// One step as the drill walked it.
#[derive(Debug, Serialize)]
pub(crate) struct Step {
  pub(crate) step: String,
  pub(crate) kind: String,
  /// From its start to its end; `None` when it did not finish.
  pub(crate) seconds: Option<f64>,
  pub(crate) prompts: usize,
  /// Each host's outcome; `rehearsed` for what a dry run or checks-only run only showed.
  pub(crate) results: Vec<Outcome>,
}

impl Drill {
  pub(crate) fn new(read: &Read) -> Drill {
    let h = read.header();
    let mut skipped = Vec::new();
    let mut findings: Vec<String> = super::unknowns(read)
      .into_iter()
      .map(|u| format!("could not tell: {u}"))
      .collect();
    for r in &read.records {
      match r {
        Record::HostResult {
          step,
          outcome: Outcome::Unconfirmed,
          ..
        } => findings.push(format!("manual step `{step}` was never confirmed")),
        Record::Decision {
          step,
          answer: Answer::Skip,
          shown: Some(_),
          ..
        } => findings.push(format!("a person skipped `{step}`")),
        _ => {}
      }
      match r {
        Record::StepSkipped { step, reason, .. } => skipped.push(format!("`{step}` ({reason})")),
        Record::Decision {
          step,
          answer: Answer::Skip,
          host,
          shown,
          ..
        } => skipped.push(format!(
          "`{step}`{} ({})",
          host
            .as_ref()
            .map(|h| format!(" on {h}"))
            .unwrap_or_default(),
          if shown.is_some() {
            "operator skipped"
          } else {
            "declined by policy: nobody was asked"
          }
        )),
        _ => {}
      }
    }
    let steps = read
      .records
      .iter()
      .filter_map(|r| match r {
        Record::StepStarted { t, step, kind, .. } => Some(step_of(read, step, kind, t)),
        _ => None,
      })
      .collect();
    let total = read.elapsed().unwrap_or_default();
    let target = h.and_then(|h| humantime::parse_duration(&h.recovery_target).ok());
    let end = read.end();
    let failures = failures(read);
    Drill {
      run: read.run_id(),
      header: h.cloned(),
      end,
      steps,
      escalation: read.records.iter().find_map(|r| match r {
        Record::Escalation { after, to, .. } => Some(Rung {
          after: after.clone(),
          to: to.clone(),
        }),
        _ => None,
      }),
      recovery_target_s: target.map(|t| t.as_secs()),
      elapsed_s: total.as_secs(),
      recovery_met: target.map(|t| total <= t && end == Some(RunEnd::Completed)),
      accurate: failures.is_empty() && findings.is_empty(),
      findings,
      failures,
      skipped,
      notes: notes(read),
    }
  }

  pub(crate) fn markdown(&self) -> String {
    let mut out = String::new();
    let h = self.header.as_ref();
    let _ = writeln!(
      out,
      "# Fire-drill report: {}\n",
      h.map(|h| h.title.as_str()).unwrap_or("?")
    );
    let _ = writeln!(out, "| Item | Value |\n|---|---|");
    if let Some(h) = h {
      let _ = writeln!(out, "| Drill time | {} |", h.started);
      let _ = writeln!(
        out,
        "| Drill type | {} |",
        if h.mode == Mode::DryRun {
          "rehearsal (dry run)"
        } else {
          "live drill"
        }
      );
      let _ = writeln!(out, "| Scenario | `{}` ({}) |", h.runbook, h.severity);
      let _ = writeln!(out, "| Participants | {} _(add the others)_ |", h.operator);
    }
    let _ = writeln!(out, "| Run | {} — {} |", self.run, ended(self.end));
    let _ = writeln!(out, "\n## Steps\n");
    let _ = writeln!(
      out,
      "| Step | Kind | Time | Prompts answered | Result |\n|---|---|---|---|---|"
    );
    for s in &self.steps {
      let took = match s.seconds {
        Some(secs) => format!("{secs:.1}s"),
        None => "unfinished".into(),
      };
      let result = if s.results.is_empty() {
        "-".to_string()
      } else {
        let labels: Vec<&str> = s.results.iter().map(|o| o.label()).collect();
        labels.join(", ")
      };
      let _ = writeln!(
        out,
        "| `{}` | {} | {took} | {} | {result} |",
        s.step, s.kind, s.prompts
      );
    }
    let met = |ok: bool| if ok { "Y" } else { "N" };
    let actual = format_duration(Duration::from_secs(self.elapsed_s));
    let _ = writeln!(out, "\n## Results\n");
    let _ = writeln!(
      out,
      "| Item | Target | Actual | Met | Notes |\n|---|---|---|---|---|"
    );
    let _ = writeln!(out, "| Detection time | _(fill in)_ | _(fill in)_ | | |");
    let _ = writeln!(
      out,
      "| Escalation | per the runbook's ladder | {} | | |",
      self
        .escalation
        .as_ref()
        .map(|r| format!("{} → {}", r.after, r.to))
        .unwrap_or_else(|| "no rung reached".into())
    );
    match (self.recovery_target_s, self.recovery_met) {
      (Some(target), Some(ok)) => {
        let _ = writeln!(
          out,
          "| Recovery time (RTO) | within {} | {actual} | {} | run {} |",
          format_duration(Duration::from_secs(target)),
          met(ok),
          ended(self.end)
        );
      }
      _ => {
        let _ = writeln!(out, "| Recovery time (RTO) | ? | {actual} | | |");
      }
    }
    let _ = writeln!(out, "| Communication | appropriate | _(fill in)_ | | |");
    let _ = writeln!(
      out,
      "| Runbook accuracy | accurate | {} | {} | see below |",
      if self.accurate {
        "no failures or findings"
      } else {
        "failures or findings"
      },
      met(self.accurate)
    );
    let _ = writeln!(out, "\n## Runbook accuracy\n");
    for f in &self.failures {
      let _ = writeln!(out, "- failed: {f}");
    }
    for f in &self.findings {
      let _ = writeln!(out, "- {f}");
    }
    for s in &self.skipped {
      let _ = writeln!(out, "- skipped: {s}");
    }
    for n in &self.notes {
      let _ = writeln!(out, "- note: {n}");
    }
    if self.accurate && self.notes.is_empty() && self.skipped.is_empty() {
      let _ = writeln!(out, "- nothing failed, nothing was skipped, no notes.");
    }
    let _ = writeln!(
      out,
      "\n## Improvements found\n\n| ID | Improvement | Owner | Due | Status |\n|---|---|---|---|---|\n| TI-001 | | | | To do |\n"
    );
    let _ = writeln!(
      out,
      "## Overall assessment\n\n_(How the drill went; what the next drill should focus on.)_"
    );
    out
  }
}

fn step_of(read: &Read, step: &str, kind: &str, started: &str) -> Step {
  let done = read.records.iter().find_map(|r| match r {
    Record::StepDone { t, step: s, .. } if s == step => Some(t.as_str()),
    _ => None,
  });
  let seconds = match (
    journal::parse_time(started),
    done.and_then(journal::parse_time),
  ) {
    (Some(a), Some(b)) => Some(b.duration_since(a).unwrap_or_default().as_secs_f64()),
    _ => None,
  };
  Step {
    step: step.to_string(),
    kind: kind.to_string(),
    seconds,
    prompts: read
      .records
      .iter()
      // Prompts a person saw: a decision taken by --yes or a policy showed none.
      .filter(|r| matches!(r, Record::Decision { step: s, shown: Some(_), .. } if s == step))
      .count(),
    results: read
      .records
      .iter()
      .filter_map(|r| match r {
        Record::HostResult {
          step: s, outcome, ..
        } if s == step => Some(*outcome),
        Record::WouldRun { step: s, .. } if s == step => Some(Outcome::Rehearsed),
        _ => None,
      })
      .collect(),
  }
}
