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

/// Journal files in `dir`, newest first (run ids sort by time).
pub(crate) fn list(dir: &Path) -> Vec<PathBuf> {
  let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
    .map(|d| {
      d.flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect()
    })
    .unwrap_or_default();
  files.sort();
  files.reverse();
  files
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
    for run in ["20261203-010000-a-1", "20261203-020000-b-1"] {
      std::fs::write(dir.join(format!("{run}.jsonl")), "").unwrap();
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
}
