//! The timeline: one line per recorded event, with its time of day and offset from the start.
//! `journal show` prints it; the postmortem puts it in a table.

use std::fmt::Write;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::journal::{self, Outcome, Read, Record};
use crate::schema::format_duration;

/// One event of the timeline.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Entry {
  /// Time of day, UTC (`HH:MM:SS`).
  pub(crate) time: String,
  /// `+MM:SS` since the run started; empty when a time does not parse.
  pub(crate) since: String,
  pub(crate) event: String,
}

fn clock(t: &str) -> String {
  // RFC 3339 UTC: keep the time of day.
  t.get(11..19).unwrap_or(t).to_string()
}

fn offset(start: Option<SystemTime>, t: &str) -> String {
  let (Some(start), Some(at)) = (start, journal::parse_time(t)) else {
    return String::new();
  };
  let d = at.duration_since(start).unwrap_or(Duration::ZERO).as_secs();
  format!("+{:02}:{:02}", d / 60, d % 60)
}

/// One line for a record, or nothing for records that are not timeline events.
pub(crate) fn describe(record: &Record) -> Option<String> {
  Some(match record {
    Record::Header(h) => format!(
      "run {} of `{}` started ({} mode) by {} on {}",
      h.run,
      h.runbook,
      h.mode.label(),
      h.operator,
      h.machine
    ),
    Record::Resumed { done, .. } => format!("resumed; already done: {}", done.join(", ")),
    Record::Preflight {
      host,
      problem: Some(p),
      ..
    } => format!("preflight: {host}: {p}"),
    Record::Preflight { .. } => return None,
    Record::StepStarted {
      step,
      kind,
      title,
      hosts,
      ..
    } => {
      let on = if hosts.is_empty() {
        String::new()
      } else {
        format!(" on {}", hosts.join(", "))
      };
      format!("{kind} `{step}` — {title}{on}")
    }
    Record::StepSkipped { step, reason, .. } => format!("`{step}` skipped: {reason}"),
    Record::HostResult {
      step,
      host,
      outcome: o,
      reasons,
      measurements,
      error,
      exit_code,
      ..
    } => {
      let mut text = format!("`{step}` on {host}: {}", o.label());
      for m in measurements {
        let unit = m.unit.as_deref().unwrap_or("");
        if let Some(v) = m.value {
          let _ = write!(text, "; {} = {v}{unit}", m.name);
        }
      }
      if let Some(e) = error {
        let _ = write!(text, "; {e}");
      } else if !reasons.is_empty() {
        let _ = write!(text, "; {}", reasons.join("; "));
      } else if let (Outcome::Failed, Some(code)) = (o, exit_code) {
        let _ = write!(text, "; exit {code}");
      }
      text
    }
    Record::WouldRun {
      step,
      host,
      command,
      ..
    } => format!("`{step}` on {host} would run: {command}"),
    Record::Manual { step, .. } => format!("manual step `{step}` shown"),
    Record::Decision {
      step,
      host,
      question,
      answer,
      shown,
      by,
      value,
      ..
    } => {
      let on = host
        .as_ref()
        .map(|h| format!(" on {h}"))
        .unwrap_or_default();
      let value = value
        .as_deref()
        .map(|v| format!(" `{v}`"))
        .unwrap_or_default();
      // Who took it: a person at a prompt (and when it appeared), or a flag or rule.
      let who = match (by.as_deref(), shown.as_deref()) {
        (Some("operator"), Some(shown)) => {
          format!(" — by the operator (asked at {})", clock(shown))
        }
        (Some(by), _) => format!(" — by {by}"),
        (None, _) => String::new(),
      };
      format!(
        "decision on `{step}`{on} ({question}): {}{value}{who}",
        answer.label()
      )
    }
    Record::Note { step, text, .. } => match step {
      Some(s) => format!("note (at `{s}`): {text}"),
      None => format!("note: {text}"),
    },
    Record::Escalation {
      to,
      reason: Some(reason),
      ..
    } => format!("ESCALATION: {reason} — {to}"),
    Record::Escalation { after, to, .. } => format!("ESCALATION: {after} elapsed — {to}"),
    Record::AlertResolved {
      alert,
      resolved: true,
      waited_s,
      ..
    } => format!("alert {alert} resolved ({waited_s} s after the run)"),
    Record::AlertResolved {
      alert, waited_s, ..
    } => format!("alert {alert} still firing {waited_s} s after the run"),
    Record::SeverityRaised { step, from, to, .. } => {
      format!("SEVERITY raised from {from} to {to} by `{step}`")
    }
    Record::Notice { text, .. } => text.clone(),
    Record::StepDone { .. } => return None,
    Record::End {
      end, elapsed_ms, ..
    } => format!(
      "run {end} after {}",
      format_duration(Duration::from_secs(elapsed_ms / 1000))
    ),
  })
}

/// The timeline of a run, in the order it was recorded.
pub(crate) fn timeline(read: &Read) -> Vec<Entry> {
  let start = read.header().and_then(|h| journal::parse_time(&h.started));
  read
    .records
    .iter()
    .filter_map(|r| {
      describe(r).map(|event| Entry {
        time: clock(r.time()),
        since: offset(start, r.time()),
        event,
      })
    })
    .collect()
}
