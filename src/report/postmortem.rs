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
  /// When a completed run ended.
  pub(crate) recovered: Option<String>,
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
}

/// When the run recovered the system, as far as the record shows: a live run that completed and
/// left nothing failed, unknown, interrupted or unreachable. Anything else did not show recovery.
fn recovered(read: &Read) -> Option<String> {
  use crate::journal::Mode;
  if read.header()?.mode != Mode::Live {
    return None;
  }
  // The run's own verdict (its exit code) says whether anything was left broken or unknown;
  // a journal without one does not say, so it shows no recovery.
  read.records.iter().rev().find_map(|r| match r {
    Record::End {
      t,
      end: RunEnd::Completed,
      exit_code: Some(0),
      ..
    } => Some(t.clone()),
    _ => None,
  })
}

/// Every action that ran on a host (passed or not): what the run changed.
fn changed(read: &Read) -> Vec<String> {
  use crate::journal::Outcome;
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
        && matches!(
          outcome,
          Outcome::Passed | Outcome::Failed | Outcome::Interrupted | Outcome::Unknown
        ))
    })
    .filter_map(super::describe)
    .collect()
}

impl Postmortem {
  pub(crate) fn new(read: &Read) -> Postmortem {
    let count = |f: fn(&Record) -> bool| read.records.iter().filter(|r| f(r)).count();
    Postmortem {
      run: read.run_id(),
      header: read.header().cloned(),
      end: read.end(),
      recovered: recovered(read),
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
      let _ = writeln!(out, "| Mode | {} |", h.mode.label());
      let _ = writeln!(out, "| Response started | {} |", h.started);
      let _ = writeln!(out, "| Operator | {} on {} |", h.operator, h.machine);
    }
    let _ = writeln!(out, "| Detected | _(when the alert fired — fill in)_ |");
    let _ = writeln!(
      out,
      "| Recovered | {} |",
      self
        .recovered
        .as_deref()
        .unwrap_or("_(not recovered by this run)_")
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
