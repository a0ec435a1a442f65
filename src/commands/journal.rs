//! `megacity journal list` and `journal show`: the recorded runs, and one run's timeline. Both
//! honour `--format json` (the rows; the records).

use serde::Serialize;

use crate::cli::{Format, JournalShowArgs};
use crate::config::Config;
use crate::error::Error;
use crate::journal;
use crate::report;
use crate::schema::format_duration;
use crate::{exit_code, ui};

#[derive(Serialize)]
struct Row {
  run: String,
  runbook: String,
  mode: String,
  started: String,
  duration_s: Option<u64>,
  outcome: String,
  failures: usize,
  /// The run's exit code, where the journal recorded one.
  exit_code: Option<i32>,
}

pub(crate) fn list(config: &Config) -> Result<i32, Error> {
  let mut rows = Vec::new();
  for path in journal::list(&config.journal_dir) {
    let Ok(read) = journal::read(&path) else {
      continue;
    };
    let Some(h) = read.header() else { continue };
    let failures = read
      .records
      .iter()
      .filter(|r| matches!(r, journal::Record::HostResult { outcome, .. } if outcome.is_failure()))
      .count();
    rows.push(Row {
      run: read.run_id(),
      runbook: h.runbook.clone(),
      mode: h.mode.label().into(),
      started: h.started.clone(),
      duration_s: read.elapsed().map(|d| d.as_secs()),
      outcome: journal::ended(read.end()).into(),
      failures,
      exit_code: read.records.iter().rev().find_map(|r| match r {
        journal::Record::End { exit_code, .. } => *exit_code,
        _ => None,
      }),
    });
  }
  if config.format == Format::Json {
    ui::emit_json(&rows)?;
    return Ok(exit_code::SUCCESS);
  }
  let mut table = vec![
    [
      "RUN", "RUNBOOK", "MODE", "STARTED", "DURATION", "EXIT", "OUTCOME",
    ]
    .map(|h| ui::style::bold(h).to_string())
    .to_vec(),
  ];
  for r in &rows {
    let outcome = if r.failures > 0 {
      format!("{} ({} failure(s))", r.outcome, r.failures)
    } else {
      r.outcome.clone()
    };
    table.push(vec![
      r.run.clone(),
      r.runbook.clone(),
      r.mode.clone(),
      r.started.get(..19).unwrap_or(&r.started).replace('T', " "),
      r.duration_s
        .map(|s| format_duration(std::time::Duration::from_secs(s)))
        .unwrap_or_default(),
      r.exit_code.map_or_else(|| "-".into(), |c| c.to_string()),
      outcome,
    ]);
  }
  if rows.is_empty() {
    ui::warn(&format!(
      "no runs recorded in {}",
      config.journal_dir.display()
    ));
    return Ok(exit_code::SUCCESS);
  }
  ui::emit(&ui::text::screen_table(&table))?;
  Ok(exit_code::SUCCESS)
}

pub(crate) fn show(config: &Config, args: &JournalShowArgs) -> Result<i32, Error> {
  let path = journal::find(&config.journal_dir, &args.run)?;
  let read = journal::read(&path)?;
  if let Some([step, host]) = args.output.as_deref() {
    return output(&read, step, host);
  }
  if config.format == Format::Json {
    ui::emit_json(&read.records)?;
    return Ok(exit_code::SUCCESS);
  }
  let mut out = format!("{}\n", path.display());
  if let Some(h) = read.header() {
    out.push_str(&format!(
      "{} — {} · severity {} (respond within {}, recover within {}) · {}\n\n",
      h.runbook,
      h.title,
      h.severity,
      h.response_target,
      h.recovery_target,
      journal::ended(read.end())
    ));
  }
  for e in report::timeline(&read) {
    out.push_str(&format!(
      "{} {:>7}  {}\n",
      e.time,
      e.since,
      ui::text::sanitize(&e.event)
    ));
  }
  if read.skipped > 0 {
    out.push_str(&format!(
      "({} unreadable line(s) skipped: a crash mid-write)\n",
      read.skipped
    ));
  }
  ui::emit(&out)?;
  Ok(exit_code::SUCCESS)
}

/// The full output of `step` on `host`: the side file when the output was long, else what the
/// record holds. Sanitized like every remote byte that reaches the terminal.
fn output(read: &journal::Read, step: &str, host: &str) -> Result<i32, Error> {
  let found = read.records.iter().rev().find_map(|r| match r {
    journal::Record::HostResult {
      step: s,
      host: h,
      stdout,
      stderr,
      output_file,
      ..
    } if s == step && h == host => Some((stdout, stderr, output_file)),
    _ => None,
  });
  let Some((stdout, stderr, file)) = found else {
    let steps: Vec<String> = read
      .records
      .iter()
      .filter_map(|r| match r {
        journal::Record::HostResult { step, host, .. } => Some(format!("{step} {host}")),
        _ => None,
      })
      .collect();
    return Err(Error::NoOutput {
      step: step.to_string(),
      host: host.to_string(),
      hint: if steps.is_empty() {
        "this run recorded no command output".into()
      } else {
        format!("recorded: {}", steps.join(", "))
      },
    });
  };
  let text = match file {
    Some(path) => std::fs::read_to_string(path).map_err(|e| Error::Io {
      path: path.into(),
      source: e,
    })?,
    None => format!("--- stdout\n{stdout}\n--- stderr\n{stderr}\n"),
  };
  ui::emit(&ui::text::sanitize(&text))?;
  Ok(exit_code::SUCCESS)
}
