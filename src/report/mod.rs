//! Reports drawn from a journal: a readable timeline, the seeds' postmortem template filled in,
//! and the fire-drill scorecard (seed 003 §8.3). They read interrupted and crashed runs too.
//!
//! Each report is a serializable view built from the journal (`--format json` prints it) and
//! rendered as markdown from that view only.

mod drill;
mod postmortem;
mod status;
mod timeline;

use std::time::Duration;

use serde::Serialize;

pub(crate) use drill::Drill;
pub(crate) use postmortem::Postmortem;
pub(crate) use status::StatusUpdate;
pub(crate) use timeline::{describe, timeline};

use crate::journal::{Read, Record};
use crate::schema::format_duration;

/// Which report to draw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
  Postmortem,
  Drill,
  StatusUpdate,
}

/// A report's data, tagged with its kind in JSON.
#[derive(Debug, Serialize)]
#[serde(tag = "report", rename_all = "kebab-case")]
pub(crate) enum Report {
  Postmortem(Postmortem),
  Drill(Drill),
  StatusUpdate(StatusUpdate),
}

impl Report {
  pub(crate) fn new(kind: Kind, read: &Read) -> Report {
    match kind {
      Kind::Postmortem => Report::Postmortem(Postmortem::new(read)),
      Kind::Drill => Report::Drill(Drill::new(read)),
      Kind::StatusUpdate => Report::StatusUpdate(StatusUpdate::new(read)),
    }
  }

  pub(crate) fn markdown(&self) -> String {
    match self {
      Report::Postmortem(p) => p.markdown(),
      Report::Drill(d) => d.markdown(),
      Report::StatusUpdate(s) => s.markdown(),
    }
  }
}

fn duration_text(seconds: Option<u64>) -> String {
  seconds
    .map(|s| format_duration(Duration::from_secs(s)))
    .unwrap_or_else(|| "unknown".into())
}

/// Hosts where something ran (or failed to), in the order they first appear.
fn hosts_touched(read: &Read) -> Vec<String> {
  use crate::journal::Outcome;
  let mut hosts: Vec<String> = Vec::new();
  for r in &read.records {
    if let Record::HostResult {
      host, outcome: o, ..
    } = r
      && !matches!(
        o,
        Outcome::Skipped
          | Outcome::Declined
          | Outcome::SkippedByOperator
          | Outcome::Aborted
          | Outcome::NotRun
          | Outcome::Rehearsed
          | Outcome::NotApplicable
      )
      && !hosts.contains(host)
      && host != "-"
    {
      hosts.push(host.clone());
    }
  }
  hosts
}

/// Each failed or unreachable host result, as its timeline line.
fn failures(read: &Read) -> Vec<String> {
  read
    .records
    .iter()
    .filter(|r| matches!(r, Record::HostResult { outcome, .. } if outcome.is_failure()))
    .filter_map(describe)
    .collect()
}

/// Each check that could not tell, as its timeline line: neither a failure nor a pass.
fn unknowns(read: &Read) -> Vec<String> {
  read
    .records
    .iter()
    .filter(|r| {
      matches!(
        r,
        Record::HostResult {
          outcome: crate::journal::Outcome::Unknown,
          ..
        }
      )
    })
    .filter_map(describe)
    .collect()
}

fn notes(read: &Read) -> Vec<String> {
  read
    .records
    .iter()
    .filter_map(|r| match r {
      Record::Note {
        step: Some(s),
        text,
        ..
      } => Some(format!("{text} (at `{s}`)")),
      Record::Note {
        step: None, text, ..
      } => Some(text.clone()),
      _ => None,
    })
    .collect()
}

fn md_escape(s: &str) -> String {
  s.replace('|', "\\|").replace('\n', " ")
}

#[cfg(test)]
mod tests {
  use super::*;

  fn crashed() -> Read {
    let lines = [
      r#"{"type":"header","v":1,"run":"r1","runbook":"heal","title":"Heal","hash":"sha256:00","severity":"P2","response_target":"30m","recovery_target":"4h","escalation":[],"mode":"dry-run","parameters":{},"operator":"ops","machine":"box","pid":1,"started":"2026-12-03T01:00:00.000Z"}"#,
      r#"{"type":"step-started","t":"2026-12-03T01:00:01.000Z","step":"probe","kind":"check","title":"probe","hosts":["a"]}"#,
      r#"{"type":"would-run","t":"2026-12-03T01:00:02.000Z","step":"probe","host":"a","command":"true","note":null}"#,
    ];
    Read {
      path: "/j/r1.jsonl".into(),
      records: lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect(),
      skipped: 1,
    }
  }

  #[test]
  fn a_crashed_run_reads_as_unfinished_in_markdown_and_json() {
    let read = crashed();
    let pm = Report::new(Kind::Postmortem, &read);
    assert!(
      pm.markdown()
        .contains("| Run outcome | did not finish (crashed or still running) |")
    );
    let json = serde_json::to_value(&pm).unwrap();
    assert_eq!(json["report"], "postmortem");
    assert_eq!(json["end"], serde_json::Value::Null);
    assert_eq!(json["duration_s"], 2);
    assert_eq!(json["unreadable_lines"], 1);
    let drill = Report::new(Kind::Drill, &read);
    assert!(
      drill
        .markdown()
        .contains("| `probe` | check | unfinished | 0 | rehearsed |")
    );
    let json = serde_json::to_value(&drill).unwrap();
    assert_eq!(json["report"], "drill");
    assert_eq!(json["steps"][0]["results"][0], "rehearsed");
    assert_eq!(json["recovery_met"], false);
  }
}
