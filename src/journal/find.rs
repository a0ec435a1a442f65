//! Where journals live and which one a run id names.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::error::Error;

pub(crate) const DIR_ENV: &str = "MEGACITY_JOURNAL_DIR";

/// `--journal-dir`, then `$MEGACITY_JOURNAL_DIR`, then `$XDG_STATE_HOME/megacity/journal`
/// (default `~/.local/state/megacity/journal`).
pub(crate) fn dir(flag: Option<&Path>) -> PathBuf {
  if let Some(dir) = flag {
    return dir.to_path_buf();
  }
  if let Some(dir) = std::env::var_os(DIR_ENV).filter(|v| !v.is_empty()) {
    return PathBuf::from(dir);
  }
  let state = std::env::var_os("XDG_STATE_HOME")
    .filter(|v| !v.is_empty())
    .map(PathBuf::from)
    .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
    .unwrap_or_else(|| PathBuf::from("."));
  state.join("megacity/journal")
}

/// A new run id: sortable by time, readable, unique per process.
pub(crate) fn new_run_id(runbook: &str) -> String {
  let stamp = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
  let stamp: String = stamp.chars().filter(|c| c.is_ascii_digit()).collect();
  format!(
    "{}-{}-{runbook}-{}",
    &stamp[..8],
    &stamp[8..14],
    std::process::id()
  )
}

/// Journal files in `dir`, newest first: by the start time in each header, so that two runs
/// started in the same second (run ids have one-second resolution) are told apart. A file
/// without a readable header sorts after every journal.
pub(crate) fn list(dir: &Path) -> Vec<PathBuf> {
  let mut files: Vec<(Option<SystemTime>, PathBuf)> = std::fs::read_dir(dir)
    .map(|d| {
      d.flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .map(|p| (started(&p), p))
        .collect()
    })
    .unwrap_or_default();
  files.sort();
  files.reverse();
  files.into_iter().map(|(_, p)| p).collect()
}

/// The header's start time, from the first line only: listing stays cheap however long the
/// journals are.
fn started(path: &Path) -> Option<SystemTime> {
  use std::io::{BufRead, Read};
  #[derive(serde::Deserialize)]
  struct Start {
    #[serde(rename = "type")]
    kind: String,
    started: String,
  }
  // A header is a few KiB; the bound keeps a stray file without newlines from being read whole.
  let mut first = Vec::new();
  std::io::BufReader::new(std::fs::File::open(path).ok()?)
    .take(256 * 1024)
    .read_until(b'\n', &mut first)
    .ok()?;
  let start: Start = serde_json::from_slice(first.trim_ascii_end()).ok()?;
  (start.kind == "header")
    .then(|| super::parse_time(&start.started))
    .flatten()
}

fn run_id(path: &Path) -> &str {
  path.file_stem().and_then(|s| s.to_str()).unwrap_or("")
}

/// `last`, a run id, or a unique prefix of one.
pub(crate) fn find(dir: &Path, run: &str) -> Result<PathBuf, Error> {
  let files = list(dir);
  if run == "last" {
    return files.into_iter().next().ok_or_else(|| Error::NoRuns {
      dir: dir.to_path_buf(),
    });
  }
  let matches: Vec<&PathBuf> = files
    .iter()
    .filter(|p| run_id(p).starts_with(run))
    .collect();
  match matches.as_slice() {
    [one] => Ok((*one).clone()),
    [] => Err(Error::RunNotFound {
      run: run.to_string(),
      dir: dir.to_path_buf(),
      suggestion: crate::diagnostic::did_you_mean(run, files.iter().map(|p| run_id(p))),
    }),
    _ => Err(Error::AmbiguousRun {
      run: run.to_string(),
      candidates: matches.iter().map(|p| run_id(p).to_string()).collect(),
    }),
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn finds_last_a_prefix_or_says_why_not() {
    let dir = std::env::temp_dir().join(format!("megacity-find-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    assert!(matches!(find(&dir, "last"), Err(Error::NoRuns { .. })));
    for (run, started) in [
      ("20261203-010000-a-1", "2026-12-03T01:00:00.000Z"),
      ("20261203-020000-b-1", "2026-12-03T02:00:00.000Z"),
    ] {
      std::fs::write(dir.join(format!("{run}.jsonl")), header_line(started)).unwrap();
    }
    assert_eq!(
      find(&dir, "last").unwrap(),
      dir.join("20261203-020000-b-1.jsonl")
    );
    assert_eq!(
      find(&dir, "20261203-01").unwrap(),
      dir.join("20261203-010000-a-1.jsonl")
    );
    let Err(Error::AmbiguousRun { candidates, .. }) = find(&dir, "2026") else {
      panic!("two runs match");
    };
    assert_eq!(candidates, ["20261203-020000-b-1", "20261203-010000-a-1"]);
    let missing = find(&dir, "nope").unwrap_err();
    assert!(matches!(missing, Error::RunNotFound { .. }));
    assert_eq!(missing.exit_code(), crate::exit_code::USAGE);
    let _ = std::fs::remove_dir_all(&dir);
  }

  fn header_line(started: &str) -> String {
    format!(
      "{{\"type\":\"header\",\"v\":1,\"run\":\"x\",\"started\":\"{started}\",\"pid\":1}}\n{{\"type\":\"notice\",\"t\":\"{started}\",\"text\":\"x\"}}\n"
    )
  }

  /// Two runs started in the same second: their ids sort by runbook name and pid, not by time.
  /// `last` is the one that started later; a file that is not a journal comes after both.
  #[test]
  fn last_is_the_newest_run_by_start_time_not_by_file_name() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let write = |run: &str, text: &str| std::fs::write(dir.join(format!("{run}.jsonl")), text);
    write(
      "20261203-010000-zeta-100",
      &header_line("2026-12-03T01:00:00.120Z"),
    )
    .unwrap();
    write(
      "20261203-010000-alpha-200",
      &header_line("2026-12-03T01:00:00.870Z"),
    )
    .unwrap();
    write("20261203-999999-stray", "not a journal\n").unwrap();
    assert_eq!(
      find(dir, "last").unwrap(),
      dir.join("20261203-010000-alpha-200.jsonl")
    );
    let names: Vec<String> = list(dir).iter().map(|p| run_id(p).to_string()).collect();
    assert_eq!(
      names,
      [
        "20261203-010000-alpha-200",
        "20261203-010000-zeta-100",
        "20261203-999999-stray"
      ]
    );
  }
}
