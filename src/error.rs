//! Errors that end a command. Failed checks and declined actions are outcomes, not errors.

use std::path::PathBuf;

use crate::diagnostic::Diagnostic;
use crate::exit_code;

#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
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
  #[error("runbook `{runbook}` has no parameter `{name}`")]
  UnknownParameter {
    runbook: String,
    name: String,
    /// "did you mean", or the list of parameters.
    hint: String,
  },
  #[error("`{name}` is given twice with --var")]
  RepeatedParameter { name: String },
  #[error("`{name}` is a secret and cannot be given with --var")]
  SecretOnCommandLine { name: String, env: String },
  #[error("`{value}` is not a valid value for `{name}`")]
  InvalidChoice {
    name: String,
    value: String,
    choices: Vec<String>,
    suggestion: Option<String>,
  },
  #[error("secret parameter `{name}` needs the environment variable `{env}`")]
  MissingSecret { name: String, env: String },
  #[error("runbook `{runbook}` needs a value for `{name}`")]
  MissingParameter {
    runbook: String,
    name: String,
    help: Option<String>,
  },
  #[error("a value cannot be used in a command: {reason}")]
  UnusableValue { reason: String },
  #[error("runbook `{runbook}`: {message}")]
  Composition { runbook: String, message: String },
  #[error("which runbook? `megacity run <ID>`; there are: {}", ids.join(", "))]
  WhichRunbook { ids: Vec<String> },
  #[error("cannot import {}: {reason}", path.display())]
  Import { path: PathBuf, reason: String },
  #[error("cannot ask Alertmanager at {url}: {reason}")]
  Alertmanager { url: String, reason: String },
  #[error("no firing alert `{wanted}`")]
  NoSuchAlert { wanted: String, firing: Vec<String> },
  #[error(
    "where is Alertmanager? give --alertmanager URL, set MEGACITY_ALERTMANAGER, or write `alertmanager: URL` in the config file (~/.config/megacity/config.yaml)"
  )]
  NoAlertmanager,
  #[error("no runbook handles alert `{alert}`")]
  NoRunbookForAlert { alert: String },
  #[error("the run recorded no output of `{step}` on {host}")]
  NoOutput {
    step: String,
    host: String,
    hint: String,
  },
  #[error("--host {} selects no host that runbook `{runbook}` works on", hosts.join(", "))]
  NoSelectedHost {
    runbook: String,
    hosts: Vec<String>,
    /// The hosts the runbook does work on.
    runbook_hosts: Vec<String>,
  },
  #[error("stdin is not a terminal, so nobody can confirm actions")]
  NoTerminal,
  #[error("{} has no header; it is not a megacity journal", path.display())]
  NotAJournal { path: PathBuf },
  #[error("run {run} completed; there is nothing to resume")]
  ResumeCompleted { run: String, runbook: String },
  #[error("run {run} is of runbook `{runbook}`, not `{given}`")]
  ResumeOtherRunbook {
    run: String,
    runbook: String,
    given: String,
  },
  #[error(
    "runbook `{runbook}` changed since run {run} started; its steps may no longer mean what they did"
  )]
  RunbookChanged { runbook: String, run: String },
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
  #[error("{} does not exist", path.display())]
  Missing { path: PathBuf },
  #[error("{} is not a regular file", path.display())]
  NotAFile { path: PathBuf },
  #[error("cannot read the ssh_config {}: {source}", path.display())]
  SshConfig {
    path: PathBuf,
    source: std::io::Error,
  },
  #[error("cannot write {}: {source}", path.display())]
  Write {
    path: PathBuf,
    source: std::io::Error,
  },
  #[error("{} is not a directory", path.display())]
  NotADirectory { path: PathBuf },
  #[error("{} is being written by another megacity", path.display())]
  JournalLocked { path: PathBuf },
  /// Checked before a run starts, so that a refused run leaves no journal behind.
  #[error("the run did not start: the journal directory {} {reason}", path.display())]
  NoRoomForRecord { path: PathBuf, reason: String },
  #[error("refusing to keep SSH connections: {reason}")]
  UnsafeDirectory { reason: String },
  #[error("cannot write output: {0}")]
  Output(#[source] std::io::Error),
  /// `--format json` given to a command whose output is not data (a shell script).
  #[error("`{command}` has no JSON output")]
  NoJsonOutput { command: &'static str },
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
  pub(crate) fn exit_code(&self) -> i32 {
    match self {
      Error::UnknownRunbook { .. }
      | Error::UnknownStep { .. }
      | Error::UnknownTarget { .. }
      | Error::UnknownParameter { .. }
      | Error::RepeatedParameter { .. }
      | Error::SecretOnCommandLine { .. }
      | Error::InvalidChoice { .. }
      | Error::MissingSecret { .. }
      | Error::MissingParameter { .. }
      | Error::UnusableValue { .. }
      | Error::Composition { .. }
      | Error::WhichRunbook { .. }
      | Error::Import { .. }
      | Error::NoOutput { .. }
      | Error::NoSuchAlert { .. }
      | Error::NoAlertmanager
      | Error::NoRunbookForAlert { .. }
      | Error::NoSelectedHost { .. }
      | Error::NoTerminal
      | Error::NotAJournal { .. }
      | Error::ResumeCompleted { .. }
      | Error::ResumeOtherRunbook { .. }
      | Error::RunbookChanged { .. }
      | Error::Invalid { .. }
      | Error::TooLarge { .. }
      | Error::NoJsonOutput { .. }
      | Error::SshConfig { .. }
      | Error::NotAFile { .. }
      | Error::Missing { .. }
      | Error::NoRuns { .. }
      | Error::RunNotFound { .. }
      | Error::AmbiguousRun { .. } => exit_code::USAGE,
      Error::Io { .. }
      | Error::Write { .. }
      | Error::NotADirectory { .. }
      | Error::Output(_)
      | Error::UnsafeDirectory { .. }
      | Error::JournalLocked { .. }
      | Error::NoRoomForRecord { .. }
      | Error::Alertmanager { .. } => exit_code::ERROR,
    }
  }

  pub(crate) fn hint(&self) -> Option<String> {
    match self {
      Error::NoOutput { hint, .. } => Some(hint.clone()),
      Error::NoSuchAlert { firing, .. } if firing.is_empty() => {
        Some("no alert is firing now (`megacity alerts` lists them)".into())
      }
      Error::NoSuchAlert { firing, .. } => Some(format!("firing: {}", firing.join(", "))),
      Error::NoRunbookForAlert { .. } => Some(
        "give the runbook id too (`megacity run ID --alert …`), and add the alert to its `alerts:`".into(),
      ),
      Error::Alertmanager { .. } => {
        Some("check the URL (its API is under /api/v2) and that this machine can reach it".into())
      }
      Error::WhichRunbook { .. } => {
        Some("`megacity runbook list` shows them with their titles and hosts".into())
      }
      Error::UnknownRunbook { suggestion, .. }
      | Error::UnknownStep { suggestion, .. }
      | Error::UnknownTarget { suggestion, .. } => suggestion.clone(),
      Error::UnknownParameter { hint, .. } => Some(hint.clone()),
      Error::RepeatedParameter { .. } => Some("give each parameter once".into()),
      Error::SecretOnCommandLine { env, .. } => Some(format!(
        "set the environment variable `{env}` instead, so it stays out of shell history"
      )),
      Error::InvalidChoice {
        choices,
        suggestion,
        ..
      } => suggestion
        .clone()
        .or_else(|| Some(format!("choices: {}", choices.join(", ")))),
      Error::MissingSecret { env, .. } => Some(format!("export {env}=… before the run")),
      Error::MissingParameter { name, help, .. } => Some(format!(
        "pass --var {name}=…{}",
        help.as_ref().map(|h| format!(" ({h})")).unwrap_or_default()
      )),
      Error::NoSelectedHost { runbook_hosts, .. } => Some(format!(
        "its hosts: {}",
        if runbook_hosts.is_empty() {
          "none (it runs only locally)".to_string()
        } else {
          runbook_hosts.join(", ")
        }
      )),
      Error::NoTerminal => Some(
        "pass --yes to confirm ordinary actions (and --yes-destructive for destructive ones), \
         --checks-only to run only the checks, or --dry-run --yes to print the plan"
          .into(),
      ),
      Error::ResumeCompleted { runbook, .. } => {
        Some(format!("start a new run: megacity runbook run {runbook}"))
      }
      Error::ResumeOtherRunbook { .. } => Some("leave out the runbook id when resuming".into()),
      Error::RunbookChanged { .. } => Some(
        "check the change, then pass --resume-changed to go on anyway, or start a new run".into(),
      ),
      Error::Write { source, .. } if source.kind() == std::io::ErrorKind::StorageFull => {
        Some("the disk is full: free space there, or point --journal-dir elsewhere".into())
      }
      Error::NotAFile { .. } => Some(
        "runbooks, inventories and ssh_configs are read from regular files only (not devices or FIFOs)"
          .into(),
      ),
      Error::SshConfig { .. } => Some(
        "--ssh-config names the file ssh reads instead of ~/.ssh/config; leave it out to use yours"
          .into(),
      ),
      Error::NotADirectory { .. } => Some("give a directory (it is created if missing)".into()),
      Error::JournalLocked { .. } => {
        Some("one writer per journal: wait for that run to end".into())
      }
      Error::NoRoomForRecord { .. } => Some(
        "free space there, or point --journal-dir (or MEGACITY_JOURNAL_DIR) at a writable \
         directory with room: megacity runs nothing it cannot record"
          .into(),
      ),
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
