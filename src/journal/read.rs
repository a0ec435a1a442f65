//! Reading a journal back, for `journal show`, the reports and a resume. Readers take crashed
//! and interrupted runs as they are.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::io;
use super::record::{Header, Record, RunEnd, parse_time};
use crate::error::Error;
use crate::exec::event::{self, HostResult, StepRecord};

/// A journal as read back: every record that parses. A torn last line (a crash mid-write) is
/// skipped; so is any other line that does not parse, and `skipped` says how many.
pub(crate) struct Read {
  pub(crate) path: PathBuf,
  pub(crate) records: Vec<Record>,
  pub(crate) skipped: usize,
}

impl Read {
  pub(crate) fn header(&self) -> Option<&Header> {
    self.records.iter().find_map(|r| match r {
      Record::Header(h) => Some(h),
      _ => None,
    })
  }

  /// How the run ended, as recorded; `None` when it did not finish (see [`super::ended`]).
  pub(crate) fn end(&self) -> Option<RunEnd> {
    self.records.iter().rev().find_map(|r| match r {
      Record::End { end, .. } => Some(*end),
      _ => None,
    })
  }

  pub(crate) fn done_steps(&self) -> Vec<String> {
    let mut done: Vec<String> = Vec::new();
    for r in &self.records {
      if let Record::StepDone { step, .. } = r
        && !done.contains(step)
      {
        done.push(step.clone());
      }
    }
    done
  }

  /// Results of completed steps, in the engine's terms, for a resumed run's conditions.
  pub(crate) fn prior(&self) -> Vec<StepRecord> {
    let done = self.done_steps();
    let mut out: Vec<StepRecord> = done
      .iter()
      .map(|id| StepRecord {
        id: id.clone(),
        kind: "",
        results: Vec::new(),
      })
      .collect();
    for r in &self.records {
      if let Record::HostResult {
        step,
        host,
        outcome,
        captured,
        ..
      } = r
        && let Some(record) = out.iter_mut().find(|s| s.id == *step)
      {
        record.results.retain(|h| h.host != *host);
        let mut result = HostResult::new(host, event::Outcome::from(*outcome));
        // What the run learned there, for the steps the resumed run still has to do.
        result.captured = captured.clone();
        record.results.push(result);
      }
    }
    out
  }

  /// From the header's start to the last record.
  pub(crate) fn elapsed(&self) -> Option<Duration> {
    let start = parse_time(&self.header()?.started)?;
    let last = parse_time(self.records.last()?.time())?;
    last.duration_since(start).ok()
  }

  pub(crate) fn run_id(&self) -> String {
    self
      .path
      .file_stem()
      .and_then(|s| s.to_str())
      .unwrap_or("")
      .to_string()
  }
}

pub(crate) fn read(path: &Path) -> Result<Read, Error> {
  let text = std::fs::read_to_string(path).map_err(io(path))?;
  let mut records = Vec::new();
  let mut skipped = 0;
  for line in text.lines().filter(|l| !l.trim().is_empty()) {
    match serde_json::from_str::<Record>(line) {
      Ok(r) => records.push(r),
      Err(_) => skipped += 1,
    }
  }
  Ok(Read {
    path: path.to_path_buf(),
    records,
    skipped,
  })
}
