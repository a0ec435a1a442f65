//! Errors that end a command. Failed checks and declined actions are outcomes, not errors.

use std::path::PathBuf;

use crate::diagnostic::Diagnostic;
use crate::exit_code;

#[derive(Debug, thiserror::Error)]
pub enum Error {
  #[error("unknown runbook `{id}`")]
  UnknownRunbook {
    id: String,
    suggestion: Option<String>,
  },
  #[error("unknown step `{step}` in runbook `{runbook}`")]
  UnknownStep {
    runbook: String,
    step: String,
    suggestion: Option<String>,
  },
  #[error("unknown host or group `{name}`")]
  UnknownTarget {
    name: String,
    suggestion: Option<String>,
  },
  #[error("{message}")]
  Parameter {
    message: String,
    hint: Option<String>,
  },
  #[error("{what} is invalid")]
  Invalid {
    what: String,
    diagnostics: Vec<Diagnostic>,
  },
  #[error("{path}: {size} bytes is more than the {limit} bytes a runbook or inventory may have", path = path.display(), limit = crate::yaml::MAX_FILE_BYTES)]
  TooLarge { path: PathBuf, size: u64 },
  #[error("cannot read {path}: {source}", path = path.display())]
  Io {
    path: PathBuf,
    source: std::io::Error,
  },
  #[error("refusing to keep SSH connections: {reason}")]
  UnsafeDirectory { reason: String },
  #[error("cannot write output: {0}")]
  Output(#[source] std::io::Error),
  #[error("no runs recorded in {dir}", dir = dir.display())]
  NoRuns { dir: PathBuf },
  #[error("no run `{run}` in {dir}", dir = dir.display())]
  RunNotFound {
    run: String,
    dir: PathBuf,
    suggestion: Option<String>,
  },
  #[error("`{run}` matches {n} runs", n = candidates.len())]
  AmbiguousRun {
    run: String,
    candidates: Vec<String>,
  },
}

impl Error {
  pub fn exit_code(&self) -> i32 {
    match self {
      Error::UnknownRunbook { .. }
      | Error::UnknownStep { .. }
      | Error::UnknownTarget { .. }
      | Error::Parameter { .. }
      | Error::Invalid { .. }
      | Error::TooLarge { .. }
      | Error::NoRuns { .. }
      | Error::RunNotFound { .. }
      | Error::AmbiguousRun { .. } => exit_code::USAGE,
      Error::Io { .. } | Error::Output(_) | Error::UnsafeDirectory { .. } => exit_code::ERROR,
    }
  }

  pub fn hint(&self) -> Option<String> {
    match self {
      Error::UnknownRunbook { suggestion, .. }
      | Error::UnknownStep { suggestion, .. }
      | Error::UnknownTarget { suggestion, .. }
      | Error::Parameter {
        hint: suggestion, ..
      } => suggestion.clone(),
      Error::UnsafeDirectory { .. } => Some(
        "control sockets must live where only you can reach them: remove that directory, or set \
         XDG_RUNTIME_DIR to a private one"
          .into(),
      ),
      Error::NoRuns { .. } => Some("runs are recorded by `megacity runbook run`".into()),
      Error::RunNotFound { suggestion, .. } => suggestion
        .clone()
        .or_else(|| Some("see `megacity journal list`".into())),
      Error::AmbiguousRun { .. } => Some("give more of the run id".into()),
      _ => None,
    }
  }
}
