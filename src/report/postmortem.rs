//! The postmortem: the seeds' template (003 §6, 002 F, 001 §2.5) filled from the journal where
//! the journal knows the answer, with the rest left for people.

use std::fmt::Write;

use serde::Serialize;

use super::timeline::{Entry, timeline};
use super::{duration_text, failures, hosts_touched, md_escape, notes, unknowns};
use crate::journal::{Header, Read, Record, RunEnd, ended};

/// What the postmortem is built from; `report --postmortem --format json` prints it.
#[derive(Debug, Serialize)]
pub(crate) struct Postmortem {
  pub(crate) run: String,
  /// `None` for a journal without a readable header.
  pub(crate) header: Option<Header>,
  /// `None`: the run did not finish (crashed or still running).
  pub(crate) end: Option<RunEnd>,
  /// When the final verification passed: the time of the run's last check result, for a live
  /// run that completed with every check after its last action passed.
  pub(crate) recovered: Option<String>,
  /// The check `recovered` is taken from.
  pub(crate) recovered_by: Option<CheckResult>,
  /// From the start to the last record.
  pub(crate) duration_s: Option<u64>,
  pub(crate) hosts_touched: Vec<String>,
  /// Journal lines that did not parse (a crash mid-write).
  pub(crate) unreadable_lines: usize,
  pub(crate) results: usize,
  /// Decisions a person took at a prompt.
  pub(crate) decisions: usize,
  /// Decisions taken by --yes, --yes-destructive or a policy: nobody was asked.
  pub(crate) by_policy: usize,
  /// Every decision by who took it (`operator`, `rehearsal`, `--yes`, `--yes-destructive`,
  /// `policy`; `unrecorded` in journals older than the field).
  pub(crate) decided_by: std::collections::BTreeMap<String, usize>,
  /// What changed production: each action that ran, as its timeline line.
  pub(crate) changed: Vec<String>,
  pub(crate) failures: Vec<String>,
  /// Checks that could not tell (no connection, no command, a timeout, no number).
  pub(crate) unknown: Vec<String>,
  pub(crate) timeline: Vec<Entry>,
  pub(crate) notes: Vec<String>,
  /// Raises of the severity during the run: (step, from, to, when).
  pub(crate) raised: Vec<(String, String, String, String)>,
}

/// One host's result of one check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct CheckResult {
  pub(crate) step: String,
  pub(crate) host: String,
}

/// When the system was shown recovered: the time the final verification checks passed. Those
/// are the checks after the last action that ran (every check, where no action ran); the time
/// is that of the run's last check result. Only a live run that completed, and whose final
/// checks all passed (a check skipped by its own `when:` verified nothing, and counts neither
/// way), shows recovery; a run without a final check that passed verified nothing.
fn recovered(read: &Read) -> Option<(String, CheckResult)> {
  use crate::journal::{Mode, Outcome};
  if read.header()?.mode != Mode::Live || read.end() != Some(RunEnd::Completed) {
    return None;
  }
  let kinds: std::collections::HashMap<&str, &str> = read
    .records
    .iter()
    .filter_map(|r| match r {
      Record::StepStarted { step, kind, .. } => Some((step.as_str(), kind.as_str())),
      _ => None,
    })
    .collect();
  let results: Vec<_> = read
    .records
    .iter()
    .filter_map(|r| match r {
      Record::HostResult {
        t,
        step,
        host,
        outcome,
        ..
      } => Some((t, step, host, *outcome, kinds.get(step.as_str()).copied())),
      _ => None,
    })
    .collect();
  let last_action = results
    .iter()
    .rposition(|(.., outcome, kind)| *kind == Some("action") && ran(*outcome));
  let finals: Vec<_> = results
    .into_iter()
    .skip(last_action.map_or(0, |i| i + 1))
    .filter(|(.., kind)| *kind == Some("check"))
    .collect();
  let verified_nothing = |o: Outcome| matches!(o, Outcome::Skipped | Outcome::NotApplicable);
  if finals
    .iter()
    .any(|(.., o, _)| *o != Outcome::Passed && !verified_nothing(*o))
  {
    return None;
  }
  let (t, step, host, ..) = finals
    .iter()
    .rev()
    .find(|(.., o, _)| *o == Outcome::Passed)?;
  Some((
    t.to_string(),
    CheckResult {
      step: step.to_string(),
      host: host.to_string(),
    },
  ))
}

/// An outcome of a command that ran on its host (whatever came of it).
fn ran(outcome: crate::journal::Outcome) -> bool {
  use crate::journal::Outcome;
  matches!(
    outcome,
    Outcome::Passed | Outcome::Failed | Outcome::Interrupted | Outcome::Unknown
  )
}

/// Every action that ran on a host (passed or not): what the run changed.
fn changed(read: &Read) -> Vec<String> {
  let actions: std::collections::HashSet<&str> = read
    .records
    .iter()
    .filter_map(|r| match r {
      Record::StepStarted { step, kind, .. } if kind == "action" => Some(step.as_str()),
      _ => None,
    })
    .collect();
  read
    .records
    .iter()
    .filter(|r| {
      matches!(r, Record::HostResult { step, outcome, .. }
      if actions.contains(step.as_str())
        && ran(*outcome))
    })
    .filter_map(super::describe)
    .collect()
}

impl Postmortem {
  pub(crate) fn new(read: &Read) -> Postmortem {
    let count = |f: fn(&Record) -> bool| read.records.iter().filter(|r| f(r)).count();
    let (recovered, recovered_by) = recovered(read).unzip();
    Postmortem {
      run: read.run_id(),
      header: read.header().cloned(),
      end: read.end(),
      recovered,
      recovered_by,
      duration_s: read.elapsed().map(|d| d.as_secs()),
      hosts_touched: hosts_touched(read),
      unreadable_lines: read.skipped,
      results: count(|r| matches!(r, Record::HostResult { .. })),
      decisions: count(|r| matches!(r, Record::Decision { shown: Some(_), .. })),
      by_policy: count(|r| matches!(r, Record::Decision { shown: None, .. })),
      decided_by: read
        .records
        .iter()
        .filter_map(|r| match r {
          Record::Decision { by, .. } => Some(by.clone().unwrap_or_else(|| "unrecorded".into())),
          _ => None,
        })
        .fold(Default::default(), |mut counts, by| {
          *counts.entry(by).or_insert(0) += 1;
          counts
        }),
      changed: changed(read),
      failures: failures(read),
      unknown: unknowns(read),
      timeline: timeline(read),
      notes: notes(read),
      raised: read
        .records
        .iter()
        .filter_map(|r| match r {
          Record::SeverityRaised { t, step, from, to } => {
            Some((step.clone(), from.clone(), to.clone(), t.clone()))
          }
          _ => None,
        })
        .collect(),
    }
  }

  pub(crate) fn markdown(&self) -> String {
    let mut out = String::new();
    let h = self.header.as_ref();
    let title = h.map(|h| h.title.as_str()).unwrap_or("(unknown runbook)");
    // A rehearsal or a triage is not an incident's record of recovery, and says so.
    match h.map(|h| h.mode) {
      Some(crate::journal::Mode::DryRun) => {
        let _ = writeln!(
          out,
          "# Rehearsal record (a dry run, not an incident): {title}\n"
        );
      }
      Some(crate::journal::Mode::ChecksOnly) => {
        let _ = writeln!(
          out,
          "# Triage record (checks only, nothing changed): {title}\n"
        );
      }
      _ => {
        let _ = writeln!(out, "# Incident postmortem: {title}\n");
      }
    }
    let _ = writeln!(
      out,
      "> Blameless: the aim is to improve systems and processes, not to find fault.\n"
    );
    let _ = writeln!(out, "## Basic information\n");
    let _ = writeln!(out, "| Item | Value |\n|---|---|");
    let _ = writeln!(out, "| Incident ID | INC-{} |", self.run);
    let _ = writeln!(
      out,
      "| Runbook | `{}` ({}) |",
      h.map(|h| h.runbook.as_str()).unwrap_or("?"),
      h.map(|h| h.hash.get(..19).unwrap_or(&h.hash)).unwrap_or("")
    );
    if let Some(h) = h {
      let _ = writeln!(
        out,
        "| Severity | {} — respond within {}, recover within {} |",
        h.severity, h.response_target, h.recovery_target
      );
      for (step, from, to, t) in &self.raised {
        let _ = writeln!(
          out,
          "| Severity raised | {from} → {to} at {t} by `{}` |",
          md_escape(step)
        );
      }
      let _ = writeln!(out, "| Mode | {} |", h.mode.label());
      if let Some(alert) = &h.setup.alert {
        let _ = writeln!(out, "| Alert | {} |", md_escape(alert));
      }
      let _ = writeln!(out, "| Response started | {} |", h.started);
      let _ = writeln!(out, "| Operator | {} on {} |", h.operator, h.machine);
    }
    let _ = writeln!(out, "| Detected | _(when the alert fired — fill in)_ |");
    let _ = writeln!(
      out,
      "| Recovered | {} |",
      match (&self.recovered, &self.recovered_by) {
        (Some(t), Some(c)) => format!(
          "{t} (when `{}` passed on {}, the last of the final verification checks)",
          c.step, c.host
        ),
        _ => "_(not shown by this run: a live run shows it when it completes with every \
              check after its last action passed)_"
          .into(),
      }
    );
    let _ = writeln!(
      out,
      "| Duration of the response | {} |",
      duration_text(self.duration_s)
    );
    let _ = writeln!(out, "| Run outcome | {} |", ended(self.end));
    let _ = writeln!(
      out,
      "| Hosts touched | {} |",
      if self.hosts_touched.is_empty() {
        "none".into()
      } else {
        self.hosts_touched.join(", ")
      }
    );
    if self.unreadable_lines > 0 {
      let _ = writeln!(
        out,
        "| Journal | {} unreadable line(s) skipped (a crash mid-write) |",
        self.unreadable_lines
      );
    }
    let _ = writeln!(
      out,
      "\n## Summary\n\n_(2–3 sentences: what happened and what it did to users.)_\n"
    );
    let _ = writeln!(
      out,
      "From the record: {} command result(s), {} failure(s), {} decision(s) by the operator at a prompt, {} by flags or policy (nobody was asked).\n",
      self.results,
      self.failures.len(),
      self.decisions,
      self.by_policy
    );
    if !self.decided_by.is_empty() {
      let who: Vec<String> = self
        .decided_by
        .iter()
        .map(|(by, n)| format!("{by} {n}"))
        .collect();
      let _ = writeln!(out, "Decisions by who took them: {}.\n", who.join(", "));
    }
    let _ = writeln!(out, "## What changed production\n");
    if self.changed.is_empty() {
      let _ = writeln!(out, "No action ran in this run.\n");
    }
    for c in &self.changed {
      let _ = writeln!(out, "- {c}");
    }
    if !self.changed.is_empty() {
      let _ = writeln!(out);
    }
    let _ = writeln!(out, "## Timeline (UTC)\n");
    let _ = writeln!(out, "| Time | Since start | Event |\n|---|---|---|");
    for e in &self.timeline {
      let _ = writeln!(
        out,
        "| {} | {} | {} |",
        e.time,
        e.since,
        md_escape(&e.event)
      );
    }
    let _ = writeln!(out, "\n## What failed\n");
    if self.failures.is_empty() {
      let _ = writeln!(out, "Nothing failed in this run.");
    }
    for f in &self.failures {
      let _ = writeln!(out, "- {f}");
    }
    if !self.unknown.is_empty() {
      let _ = writeln!(
        out,
        "\n## What could not be told\n\nThese checks could not judge (no connection, no command, a timeout, no number to compare): neither failed nor passed.\n"
      );
      for u in &self.unknown {
        let _ = writeln!(out, "- {u}");
      }
    }
    if !self.notes.is_empty() {
      let _ = writeln!(out, "\n## Operator notes\n");
      for n in &self.notes {
        let _ = writeln!(out, "- {n}");
      }
    }
    let _ = writeln!(
      out,
      "\n## Impact\n\n_(Users affected, features, revenue, SLO budget spent.)_\n"
    );
    let _ = writeln!(out, "## Root cause (5 whys)\n");
    let _ = writeln!(out, "| Question | Answer |\n|---|---|");
    for i in 1..=5 {
      let _ = writeln!(out, "| {i}. Why? | |");
    }
    let _ = writeln!(out, "\n**Root cause in one sentence:** \n");
    let _ = writeln!(out, "## Action items\n");
    let _ = writeln!(
      out,
      "| # | Action | Owner | Due | Horizon (1 week / 1 month / quarter) | Status |\n|---|---|---|---|---|---|\n| 1 | | | | | To do |\n"
    );
    let _ = writeln!(
      out,
      "## Lessons learned\n\n### What went well\n\n- \n\n### What to improve\n\n- "
    );
    out
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  /// A journal built in-process: the header (mode), then `(step, kind, [(host, outcome)])`
  /// results one second apart, then an end record when `end` is given.
  /// A step as recorded: its id, its kind, and each host's outcome.
  type Step<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)]);

  fn journal(mode: &str, steps: &[Step<'_>], end: Option<&str>) -> Read {
    let mut lines = vec![format!(
      r#"{{"type":"header","v":1,"run":"r1","runbook":"heal","title":"Heal","hash":"sha256:00","severity":"P2","response_target":"30m","recovery_target":"4h","escalation":[],"mode":"{mode}","parameters":{{}},"operator":"ops","machine":"box","pid":1,"started":"2026-12-03T01:00:00.000Z"}}"#
    )];
    let mut second = 0;
    let mut at = || {
      second += 1;
      format!("2026-12-03T01:00:{second:02}.000Z")
    };
    for (step, kind, results) in steps {
      lines.push(format!(
        r#"{{"type":"step-started","t":"{}","step":"{step}","kind":"{kind}","title":"{step}","hosts":[]}}"#,
        at()
      ));
      for (host, outcome) in *results {
        lines.push(format!(
          r#"{{"type":"host-result","t":"{}","step":"{step}","host":"{host}","outcome":"{outcome}","command":"true","exit_code":0,"duration_ms":1,"attempts":1,"output_file":null,"error":null}}"#,
          at()
        ));
      }
    }
    if let Some(end) = end {
      lines.push(format!(
        r#"{{"type":"end","t":"{}","end":"{end}","elapsed_ms":1,"exit_code":0}}"#,
        at()
      ));
    }
    Read {
      path: "/j/r1.jsonl".into(),
      records: lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect(),
      skipped: 0,
    }
  }

  const PROBE_FAILED: Step<'static> = ("probe", "check", &[("a", "failed")]);
  const FIXED: Step<'static> = ("fix", "action", &[("a", "passed")]);

  fn recovery(read: &Read) -> Option<(String, String, String)> {
    recovered(read).map(|(t, c)| (t, c.step, c.host))
  }

  fn at(t: &str, step: &str, host: &str) -> Option<(String, String, String)> {
    Some((t.into(), step.into(), host.into()))
  }

  #[test]
  fn recovery_is_when_the_last_final_check_passed() {
    let read = journal(
      "live",
      &[
        PROBE_FAILED,
        FIXED,
        ("verify", "check", &[("a", "passed"), ("b", "passed")]),
        ("notify", "manual", &[("-", "passed")]),
      ],
      Some("completed"),
    );
    // 01: probe started, 02: failed, 03: fix, 04: passed, 05: verify, 06: a, 07: b.
    assert_eq!(
      recovery(&read),
      at("2026-12-03T01:00:07.000Z", "verify", "b")
    );
    let pm = Postmortem::new(&read);
    assert!(
      pm.markdown().contains(
        "| Recovered | 2026-12-03T01:00:07.000Z (when `verify` passed on b, the last of the final verification checks) |"
      ),
      "{}",
      pm.markdown()
    );
    let json = serde_json::to_value(&pm).unwrap();
    assert_eq!(json["recovered"], "2026-12-03T01:00:07.000Z");
    assert_eq!(
      json["recovered_by"],
      serde_json::json!({"step": "verify", "host": "b"})
    );
  }

  /// Checks before the last action are findings, not verification: a failed one there does not
  /// stop a recovery; a failed, unknown or unreachable one after it does.
  #[test]
  fn a_final_check_that_did_not_pass_shows_no_recovery() {
    for outcome in ["failed", "unknown", "unreachable", "interrupted"] {
      let read = journal(
        "live",
        &[
          PROBE_FAILED,
          FIXED,
          ("verify", "check", &[("a", "passed")]),
          ("verify-more", "check", &[("a", outcome)]),
        ],
        Some("completed"),
      );
      assert_eq!(recovery(&read), None, "{outcome}");
      assert!(
        Postmortem::new(&read)
          .markdown()
          .contains("| Recovered | _(not shown by this run:"),
        "{outcome}"
      );
    }
  }

  #[test]
  fn only_a_live_run_that_completed_shows_recovery() {
    let steps = [
      PROBE_FAILED,
      FIXED,
      ("verify", "check", &[("a", "passed")][..]),
    ];
    assert!(recovery(&journal("live", &steps, Some("completed"))).is_some());
    for end in [None, Some("stopped"), Some("aborted"), Some("interrupted")] {
      assert_eq!(recovery(&journal("live", &steps, end)), None, "{end:?}");
    }
    for mode in ["checks-only", "dry-run"] {
      assert_eq!(
        recovery(&journal(mode, &steps, Some("completed"))),
        None,
        "{mode}"
      );
    }
  }

  /// No check after the last action: nothing verified the fix.
  #[test]
  fn a_run_whose_last_action_is_not_verified_shows_no_recovery() {
    let read = journal(
      "live",
      &[("probe", "check", &[("a", "passed")]), FIXED],
      Some("completed"),
    );
    assert_eq!(recovery(&read), None);
  }

  /// An action declined or skipped did not run: the checks before it count as final.
  #[test]
  fn actions_that_did_not_run_do_not_move_the_final_checks() {
    let declined = ("fix", "action", &[("a", "declined")][..]);
    let read = journal(
      "live",
      &[
        PROBE_FAILED,
        declined,
        ("verify", "check", &[("a", "passed")]),
      ],
      Some("completed"),
    );
    assert_eq!(recovery(&read), None, "the failed probe is a final check");
    let read = journal(
      "live",
      &[
        ("probe", "check", &[("a", "passed")]),
        ("fix", "action", &[("a", "skipped")]),
        ("verify", "check", &[("a", "passed")]),
      ],
      Some("completed"),
    );
    assert_eq!(
      recovery(&read),
      at("2026-12-03T01:00:06.000Z", "verify", "a"),
      "a healthy system, verified by every check"
    );
  }

  /// A final check skipped by its own `when:` verified nothing either way: the time is the last
  /// final check that passed.
  #[test]
  fn a_skipped_final_check_neither_shows_nor_spoils_recovery() {
    let read = journal(
      "live",
      &[
        PROBE_FAILED,
        FIXED,
        ("verify", "check", &[("a", "passed")]),
        ("verify-replica", "check", &[("b", "skipped")]),
      ],
      Some("completed"),
    );
    assert_eq!(
      recovery(&read),
      at("2026-12-03T01:00:06.000Z", "verify", "a")
    );
    let only_skipped = journal(
      "live",
      &[
        PROBE_FAILED,
        FIXED,
        ("verify-replica", "check", &[("b", "skipped")]),
      ],
      Some("completed"),
    );
    assert_eq!(recovery(&only_skipped), None);
  }
}
