//! Reports drawn from a journal: a readable timeline, the seeds' postmortem template filled in,
//! and the fire-drill scorecard (seed 003 §8.3). They read interrupted and crashed runs too.

use std::fmt::Write;
use std::time::{Duration, SystemTime};

use crate::journal::{self, Answer, Header, Outcome, Read, Record, RunEnd};
use crate::schema::format_duration;

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

fn answer(a: Answer) -> &'static str {
  a.label()
}

pub fn end_text(end: Option<RunEnd>) -> &'static str {
  journal::ended(end)
}

/// One line for a record, or nothing for records that are not timeline events.
pub fn describe(record: &Record) -> Option<String> {
  Some(match record {
    Record::Header(h) => format!(
      "run {} of `{}` started ({} mode) by {} on {}",
      h.run,
      h.runbook,
      mode(h),
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
      answer: a,
      ..
    } => {
      let on = host
        .as_ref()
        .map(|h| format!(" on {h}"))
        .unwrap_or_default();
      format!("decision on `{step}`{on} ({question}): {}", answer(*a))
    }
    Record::Note { step, text, .. } => match step {
      Some(s) => format!("note (at `{s}`): {text}"),
      None => format!("note: {text}"),
    },
    Record::Escalation { after, to, .. } => format!("ESCALATION: {after} elapsed — {to}"),
    Record::Notice { text, .. } => text.clone(),
    Record::StepDone { .. } => return None,
    Record::End {
      end, elapsed_ms, ..
    } => {
      format!(
        "run {} after {}",
        end_text(Some(*end)),
        format_duration(Duration::from_secs(elapsed_ms / 1000))
      )
    }
  })
}

fn mode(h: &Header) -> &'static str {
  h.recorded_mode().label()
}

/// The timeline as lines: time of day, offset from the start, event.
pub fn timeline(read: &Read) -> Vec<(String, String, String)> {
  let start = read.header().and_then(|h| journal::parse_time(&h.started));
  read
    .records
    .iter()
    .filter_map(|r| describe(r).map(|text| (clock(r.time()), offset(start, r.time()), text)))
    .collect()
}

fn duration_text(read: &Read) -> String {
  read
    .elapsed()
    .map(|d| format_duration(Duration::from_secs(d.as_secs())))
    .unwrap_or_else(|| "unknown".into())
}

fn hosts_touched(read: &Read) -> Vec<String> {
  let mut hosts: Vec<String> = Vec::new();
  for r in &read.records {
    if let Record::HostResult {
      host, outcome: o, ..
    } = r
      && !matches!(
        o,
        Outcome::Skipped | Outcome::Declined | Outcome::NotRun | Outcome::Rehearsed
      )
      && !hosts.contains(host)
      && host != "-"
    {
      hosts.push(host.clone());
    }
  }
  hosts
}

fn failures(read: &Read) -> Vec<String> {
  read
    .records
    .iter()
    .filter(|r| {
      matches!(
        r,
        Record::HostResult {
          outcome: Outcome::Failed | Outcome::Unreachable,
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

/// The postmortem template of seeds 003 §6, 002 F and 001 §2.5, filled from the journal where
/// the journal knows the answer, with the rest left for people.
pub fn postmortem(read: &Read) -> String {
  let mut out = String::new();
  let h = read.header();
  let run = read.run_id();
  let title = h.map(|h| h.title.as_str()).unwrap_or("(unknown runbook)");
  let _ = writeln!(out, "# Incident postmortem: {title}\n");
  let _ = writeln!(
    out,
    "> Blameless: the aim is to improve systems and processes, not to find fault.\n"
  );
  let _ = writeln!(out, "## Basic information\n");
  let _ = writeln!(out, "| Item | Value |\n|---|---|");
  let _ = writeln!(out, "| Incident ID | INC-{} |", run);
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
    let _ = writeln!(out, "| Mode | {} |", mode(h));
    let _ = writeln!(out, "| Response started | {} |", h.started);
    let _ = writeln!(out, "| Operator | {} on {} |", h.operator, h.machine);
  }
  let recovered = read.records.iter().rev().find_map(|r| match r {
    Record::End {
      t,
      end: RunEnd::Completed,
      ..
    } => Some(t.clone()),
    _ => None,
  });
  let _ = writeln!(out, "| Detected | _(when the alert fired — fill in)_ |");
  let _ = writeln!(
    out,
    "| Recovered | {} |",
    recovered.unwrap_or_else(|| "_(not recovered by this run)_".into())
  );
  let _ = writeln!(
    out,
    "| Duration of the response | {} |",
    duration_text(read)
  );
  let _ = writeln!(out, "| Run outcome | {} |", end_text(read.recorded_end()));
  let hosts = hosts_touched(read);
  let _ = writeln!(
    out,
    "| Hosts touched | {} |",
    if hosts.is_empty() {
      "none".into()
    } else {
      hosts.join(", ")
    }
  );
  if read.skipped > 0 {
    let _ = writeln!(
      out,
      "| Journal | {} unreadable line(s) skipped (a crash mid-write) |",
      read.skipped
    );
  }
  let _ = writeln!(
    out,
    "\n## Summary\n\n_(2–3 sentences: what happened and what it did to users.)_\n"
  );
  let checks = read
    .records
    .iter()
    .filter(|r| matches!(r, Record::HostResult { .. }))
    .count();
  let failed = failures(read);
  let decisions = read
    .records
    .iter()
    .filter(|r| matches!(r, Record::Decision { .. }))
    .count();
  let _ = writeln!(
    out,
    "From the record: {checks} command result(s), {} failure(s), {decisions} operator decision(s).\n",
    failed.len()
  );
  let _ = writeln!(out, "## Timeline (UTC)\n");
  let _ = writeln!(out, "| Time | Since start | Event |\n|---|---|---|");
  for (time, since, text) in timeline(read) {
    let _ = writeln!(out, "| {time} | {since} | {} |", md_escape(&text));
  }
  let _ = writeln!(out, "\n## What failed\n");
  if failed.is_empty() {
    let _ = writeln!(out, "Nothing failed in this run.");
  }
  for f in &failed {
    let _ = writeln!(out, "- {f}");
  }
  let notes = notes(read);
  if !notes.is_empty() {
    let _ = writeln!(out, "\n## Operator notes\n");
    for n in &notes {
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

/// The fire-drill scorecard of seed 003 §8.3, from a rehearsal or a live drill.
pub fn drill(read: &Read) -> String {
  let mut out = String::new();
  let h = read.header();
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
      if h.mode == crate::exec::plan::Mode::DryRun {
        "rehearsal (dry run)"
      } else {
        "live drill"
      }
    );
    let _ = writeln!(out, "| Scenario | `{}` ({}) |", h.runbook, h.severity);
    let _ = writeln!(out, "| Participants | {} _(add the others)_ |", h.operator);
  }
  let _ = writeln!(
    out,
    "| Run | {} — {} |",
    read.run_id(),
    end_text(read.recorded_end())
  );
  let _ = writeln!(out, "\n## Steps\n");
  let _ = writeln!(
    out,
    "| Step | Kind | Time | Prompts answered | Result |\n|---|---|---|---|---|"
  );
  let mut starts: Vec<(String, String, String)> = Vec::new();
  for r in &read.records {
    if let Record::StepStarted { t, step, kind, .. } = r {
      starts.push((step.clone(), kind.clone(), t.clone()));
    }
  }
  let mut skipped = Vec::new();
  for r in &read.records {
    match r {
      Record::StepSkipped { step, reason, .. } => skipped.push(format!("`{step}` ({reason})")),
      Record::Decision {
        step,
        answer: Answer::Skip,
        host,
        ..
      } => skipped.push(format!(
        "`{step}`{} (operator skipped)",
        host
          .as_ref()
          .map(|h| format!(" on {h}"))
          .unwrap_or_default()
      )),
      _ => {}
    }
  }
  for (step, kind, started) in &starts {
    let done = read.records.iter().find_map(|r| match r {
      Record::StepDone { t, step: s, .. } if s == step => Some(t.clone()),
      _ => None,
    });
    let took = match (
      journal::parse_time(started),
      done.as_deref().and_then(journal::parse_time),
    ) {
      (Some(a), Some(b)) => format!(
        "{:.1}s",
        b.duration_since(a).unwrap_or_default().as_secs_f64()
      ),
      _ => "unfinished".into(),
    };
    let prompts = read
      .records
      .iter()
      .filter(|r| matches!(r, Record::Decision { step: s, .. } if s == step))
      .count();
    let results: Vec<&'static str> = read
      .records
      .iter()
      .filter_map(|r| match r {
        Record::HostResult {
          step: s,
          outcome: o,
          ..
        } if s == step => Some(o.label()),
        Record::WouldRun { step: s, .. } if s == step => Some("rehearsed"),
        _ => None,
      })
      .collect();
    let result = if results.is_empty() {
      "-".to_string()
    } else {
      results.join(", ")
    };
    let _ = writeln!(out, "| `{step}` | {kind} | {took} | {prompts} | {result} |");
  }
  let total = read.elapsed().unwrap_or_default();
  let target = h.and_then(|h| humantime::parse_duration(&h.recovery_target).ok());
  let met = |ok: bool| if ok { "Y" } else { "N" };
  let _ = writeln!(out, "\n## Results\n");
  let _ = writeln!(
    out,
    "| Item | Target | Actual | Met | Notes |\n|---|---|---|---|---|"
  );
  let _ = writeln!(out, "| Detection time | _(fill in)_ | _(fill in)_ | | |");
  let first_escalation = read.records.iter().find_map(|r| match r {
    Record::Escalation { after, to, .. } => Some(format!("{after} → {to}")),
    _ => None,
  });
  let _ = writeln!(
    out,
    "| Escalation | per the runbook's ladder | {} | | |",
    first_escalation.unwrap_or_else(|| "no rung reached".into())
  );
  match target {
    Some(target) => {
      let _ = writeln!(
        out,
        "| Recovery time (RTO) | within {} | {} | {} | run {} |",
        format_duration(target),
        format_duration(Duration::from_secs(total.as_secs())),
        met(total <= target && read.recorded_end() == Some(RunEnd::Completed)),
        end_text(read.recorded_end())
      );
    }
    None => {
      let _ = writeln!(
        out,
        "| Recovery time (RTO) | ? | {} | | |",
        format_duration(Duration::from_secs(total.as_secs()))
      );
    }
  }
  let _ = writeln!(out, "| Communication | appropriate | _(fill in)_ | | |");
  let failed = failures(read);
  let accurate = failed.is_empty() && skipped.is_empty();
  let _ = writeln!(
    out,
    "| Runbook accuracy | accurate | {} | {} | see below |",
    if accurate {
      "no failures or skips"
    } else {
      "failures or skips found"
    },
    met(accurate)
  );
  let _ = writeln!(out, "\n## Runbook accuracy\n");
  for f in &failed {
    let _ = writeln!(out, "- failed: {f}");
  }
  for s in &skipped {
    let _ = writeln!(out, "- skipped: {s}");
  }
  for n in notes(read) {
    let _ = writeln!(out, "- note: {n}");
  }
  if accurate && notes(read).is_empty() {
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
