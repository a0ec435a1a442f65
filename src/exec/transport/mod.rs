//! Where commands run: over SSH, on the operator's machine, or (in a dry run) nowhere — behind
//! one abstraction so the engine treats them alike. `Transports::for_mode` builds the set a run
//! needs; adding a transport (say `kubectl exec`) is one file here plus one arm in `route`.

mod control_dir;
mod dry_run;
mod local;
pub(crate) mod masters;
pub(crate) mod ssh;
pub(crate) mod watchdog;

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

pub(crate) use futures_util::future::BoxFuture;
use tokio::io::{AsyncRead, AsyncReadExt};

pub(crate) use self::control_dir::{ControlDir, kept_masters};
use self::dry_run::DryRun;
use self::local::Local;
pub(crate) use self::ssh::LockRequest;
use self::ssh::{Ssh, SshOptions};
pub(crate) use self::watchdog::Sweep;
use crate::error::Error;
pub(crate) use crate::exec::interrupt::Interrupts;
use crate::inventory::{Inventory, LOCAL};

/// How to reach hosts over SSH: what the operator chose on the command line.
#[derive(Clone, Debug)]
pub(crate) struct SshSettings {
  pub(crate) config_file: Option<std::path::PathBuf>,
  /// Accept unknown host keys (ssh's accept-new). Off by default: strict checking.
  pub(crate) accept_new_host_keys: bool,
  pub(crate) connect_timeout: Duration,
  /// Keep masters open after the command, and reuse kept ones (`--keep-connections`).
  pub(crate) keep_connections: Option<Duration>,
  /// New connections at once. Behind a bastion, keep it under its sshd's MaxStartups.
  pub(crate) concurrency: usize,
}

/// Every transport a run may use, routed by host.
pub(crate) enum Transports {
  /// A dry run gets nothing it could use: nothing connects and nothing is spawned.
  DryRun(DryRun),
  Live {
    ssh: Box<Ssh>,
    local: Local,
    /// Removed when the run ends (after the masters are closed).
    _control: ControlDir,
  },
}

impl SshSettings {
  /// Refuses an ssh_config that cannot be read before anything connects: otherwise every host
  /// would fail one by one, mid-run, with ssh's own words for it.
  pub(crate) fn check(&self) -> Result<(), Error> {
    match &self.config_file {
      // Opening a FIFO would block: the kind of file is checked first.
      Some(path) => match std::fs::metadata(path) {
        Ok(meta) if !meta.is_file() => Err(Error::NotAFile { path: path.clone() }),
        _ => std::fs::File::open(path)
          .map(|_| ())
          .map_err(|source| Error::SshConfig {
            path: path.clone(),
            source,
          }),
      },
      None => Ok(()),
    }
  }
}

impl Transports {
  /// The transports for a run: none that can act in a dry run; SSH and local otherwise.
  pub(crate) fn for_mode(
    dry_run: bool,
    settings: &SshSettings,
    inventory: &Inventory,
    lock: Option<LockRequest>,
  ) -> Result<Transports, Error> {
    if dry_run {
      return Ok(Transports::DryRun(DryRun));
    }
    let control = ControlDir::create()?;
    let users: HashMap<String, String> = inventory
      .hosts
      .iter()
      .filter_map(|h| h.user.clone().map(|u| (h.name.clone(), u)))
      .collect();
    let keep = settings.keep_connections.map(kept_masters).transpose()?;
    let ssh = Ssh::new(
      SshOptions {
        // Absolute and resolved once: a kept master is keyed by it, and the same file by any
        // path is the same configuration.
        config_file: settings
          .config_file
          .as_deref()
          .map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())),
        accept_new_host_keys: settings.accept_new_host_keys,
        connect_timeout: settings.connect_timeout,
        control_dir: control.path().to_path_buf(),
        users,
        keep,
        lock,
      },
      settings.concurrency,
    );
    Ok(Transports::Live {
      ssh: Box::new(ssh),
      local: Local,
      _control: control,
    })
  }

  fn route(&self, host: &str) -> &dyn Transport {
    match self {
      Transports::DryRun(nowhere) => nowhere,
      Transports::Live { local, .. } if host == LOCAL => local,
      Transports::Live { ssh, .. } => ssh.as_ref(),
    }
  }

  /// After a command that kept its connections: how many were reused, and how to close them.
  pub(crate) fn kept_note(&self, settings: &SshSettings) -> Option<String> {
    let (Transports::Live { ssh, .. }, Some(idle)) = (self, settings.keep_connections) else {
      return None;
    };
    Some(format!(
      "connections kept open ({} reused from earlier; new ones end when idle for {}); `megacity connections close` closes them",
      ssh.reused(),
      humantime::format_duration(idle),
    ))
  }
}

impl Transport for Transports {
  fn connect<'a>(&'a self, host: &'a str) -> BoxFuture<'a, Result<(), TransportError>> {
    self.route(host).connect(host)
  }

  fn run<'a>(
    &'a self,
    host: &'a str,
    command: &'a str,
    timeout: Duration,
    interrupts: Interrupts,
  ) -> BoxFuture<'a, Result<Output, TransportError>> {
    self.route(host).run(host, command, timeout, interrupts)
  }

  fn lock<'a>(&'a self, host: &'a str) -> BoxFuture<'a, Option<LockState>> {
    self.route(host).lock(host)
  }

  fn addresses<'a>(&'a self, host: &'a str) -> BoxFuture<'a, Vec<String>> {
    self.route(host).addresses(host)
  }

  fn close(&self) -> BoxFuture<'_, Vec<String>> {
    match self {
      Transports::DryRun(nowhere) => nowhere.close(),
      Transports::Live { ssh, local, .. } => Box::pin(async move {
        let mut warnings = ssh.close().await;
        warnings.extend(local.close().await);
        warnings
      }),
    }
  }
}

/// What a command left behind.
#[derive(Clone, Debug, Default)]
pub(crate) struct Output {
  /// `None` when the command was killed by a signal.
  pub(crate) exit_code: Option<i32>,
  pub(crate) stdout: String,
  pub(crate) stderr: String,
}

/// Why a command could not run to completion. Outcomes for one host, never a crash. Where the
/// command had started, `partial` is what it printed before the end.
#[derive(Clone, Debug, thiserror::Error)]
pub(crate) enum TransportError {
  /// `reason` is what the operator reads (classified, ssh's words cleaned); `cause` keeps the
  /// transport's own error (`openssh::Error`) for whoever needs more than the words.
  #[error("cannot connect: {reason}")]
  Connect {
    reason: String,
    #[source]
    cause: Option<Cause>,
  },
  #[error("timed out after {after:?}; megacity stopped the command, and {}", sweep.describe())]
  TimedOut {
    after: Duration,
    partial: Output,
    sweep: Sweep,
  },
  #[error("interrupted; megacity stopped the command, and {}", sweep.describe())]
  Interrupted { partial: Output, sweep: Sweep },
  #[error("the connection was lost while the command ran: {reason}")]
  Lost {
    reason: String,
    partial: Output,
    #[source]
    cause: Option<Cause>,
  },
  #[error("{reason}")]
  Failed {
    reason: String,
    #[source]
    cause: Option<Cause>,
  },
}

/// A transport's own error, shared: results are cloned into records and events.
pub(crate) type Cause = std::sync::Arc<dyn std::error::Error + Send + Sync>;

impl TransportError {
  pub(crate) fn connect(reason: impl Into<String>, cause: Option<Cause>) -> TransportError {
    TransportError::Connect {
      reason: reason.into(),
      cause,
    }
  }

  pub(crate) fn failed(reason: impl Into<String>, cause: Option<Cause>) -> TransportError {
    TransportError::Failed {
      reason: reason.into(),
      cause,
    }
  }

  /// The transport's own error behind this one (for ssh, the `openssh::Error`).
  pub(crate) fn cause(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
    match self {
      TransportError::Connect { cause, .. }
      | TransportError::Lost { cause, .. }
      | TransportError::Failed { cause, .. } => cause.as_deref(),
      TransportError::TimedOut { .. } | TransportError::Interrupted { .. } => None,
    }
  }

  /// Whether the command was stopped by megacity (a timeout or an interrupt): what it left
  /// behind is then looked for.
  pub(crate) fn stopped(&self) -> bool {
    matches!(
      self,
      TransportError::TimedOut { .. } | TransportError::Interrupted { .. }
    )
  }

  /// Records what the sweep after a stop found.
  pub(crate) fn swept(mut self, found: Sweep) -> TransportError {
    if let TransportError::TimedOut { sweep, .. } | TransportError::Interrupted { sweep, .. } =
      &mut self
    {
      *sweep = found;
    }
    self
  }

  /// What the command printed before it was cut off.
  pub(crate) fn partial(&self) -> Option<&Output> {
    match self {
      TransportError::TimedOut { partial, .. }
      | TransportError::Interrupted { partial, .. }
      | TransportError::Lost { partial, .. } => Some(partial),
      TransportError::Connect { .. } | TransportError::Failed { .. } => None,
    }
  }
}

/// A host's lock for this run, as the host answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum LockState {
  Held,
  /// Another run holds it: who.
  HeldBy(String),
  /// Taken over from the run named (`--break-lock`).
  Broke(String),
  /// The host cannot lock (no `flock`, no writable lock directory): why.
  Unavailable(String),
  /// This run held the lock, lost it (its holder ended, its connection dropped), and cannot
  /// take it again: why. Nothing more may change the host.
  Lost(String),
}

impl LockState {
  /// Why a change must not run on the host, if it must not: another run holds it, or this
  /// run's own lock is gone.
  pub(crate) fn refusal(&self) -> Option<String> {
    match self {
      LockState::HeldBy(who) => Some(format!("another run holds it: {who}")),
      LockState::Lost(why) => Some(format!(
        "this run's lock there was lost and cannot be taken again ({why})"
      )),
      LockState::Held | LockState::Broke(_) | LockState::Unavailable(_) => None,
    }
  }
}

pub(crate) trait Transport: Send + Sync {
  /// Opens the connection to `host` (the preflight); later commands reuse it.
  fn connect<'a>(&'a self, host: &'a str) -> BoxFuture<'a, Result<(), TransportError>>;
  /// Runs `command` (a `sh` command line) on `host`.
  fn run<'a>(
    &'a self,
    host: &'a str,
    command: &'a str,
    timeout: Duration,
    interrupts: Interrupts,
  ) -> BoxFuture<'a, Result<Output, TransportError>>;
  /// Closes every connection; returns warnings (a failed close is not fatal).
  fn close(&self) -> BoxFuture<'_, Vec<String>>;
  /// This run's lock on `host`, where it asked for one (hosts it will change).
  fn lock<'a>(&'a self, _host: &'a str) -> BoxFuture<'a, Option<LockState>> {
    Box::pin(async { None })
  }
  /// The names and addresses that reach `host` (over SSH: its ssh_config HostName and what
  /// that resolves to), by which a value learned as an address is matched to an inventory host.
  fn addresses<'a>(&'a self, _host: &'a str) -> BoxFuture<'a, Vec<String>> {
    Box::pin(async { Vec::new() })
  }
}

/// At most this much of each stream is kept; more is cut from the front (the end matters).
pub(crate) const MAX_OUTPUT: usize = 1024 * 1024;

/// What a command has printed so far: kept outside the command's future, so that a timeout,
/// an interrupt or a lost connection still has the output that arrived before it.
#[derive(Default)]
pub(crate) struct Capture {
  stdout: std::sync::Mutex<Vec<u8>>,
  stderr: std::sync::Mutex<Vec<u8>>,
}

impl Capture {
  /// Reads both streams to their end into the capture.
  pub(crate) async fn read<O: AsyncRead + Unpin, E: AsyncRead + Unpin>(
    &self,
    stdout: O,
    stderr: E,
  ) {
    tokio::join!(
      read_into(stdout, &self.stdout),
      read_into(stderr, &self.stderr)
    );
  }

  /// The output so far, with this exit code.
  pub(crate) fn output(&self, exit_code: Option<i32>) -> Output {
    let text =
      |b: &std::sync::Mutex<Vec<u8>>| String::from_utf8_lossy(&b.lock().unwrap()).into_owned();
    Output {
      exit_code,
      stdout: text(&self.stdout),
      stderr: text(&self.stderr),
    }
  }
}

/// Reads a stream to its end into `sink`, keeping the last `MAX_OUTPUT` bytes.
async fn read_into<R: AsyncRead + Unpin>(mut reader: R, sink: &std::sync::Mutex<Vec<u8>>) {
  let mut buf = [0u8; 8192];
  loop {
    match reader.read(&mut buf).await {
      Ok(0) | Err(_) => break,
      Ok(n) => {
        let mut kept = sink.lock().unwrap();
        kept.extend_from_slice(&buf[..n]);
        if kept.len() > MAX_OUTPUT {
          let extra = kept.len() - MAX_OUTPUT;
          kept.drain(..extra);
        }
      }
    }
  }
}

/// Waits for `work`, unless the timeout passes or the operator interrupts; dropping `work` then
/// closes the command's stdin, which the watchdog wrapper turns into killing the command. What
/// the command printed until then is in `capture`.
pub(crate) async fn bounded<F: Future<Output = Result<Output, TransportError>>>(
  work: F,
  timeout: Duration,
  interrupts: Interrupts,
  capture: &Capture,
) -> Result<Output, TransportError> {
  let seen = interrupts.count();
  tokio::select! {
    result = work => result,
    _ = tokio::time::sleep(timeout) => Err(TransportError::TimedOut { after: timeout, partial: capture.output(None), sweep: Sweep::Unverified }),
    _ = interrupts.after(seen) => Err(TransportError::Interrupted { partial: capture.output(None), sweep: Sweep::Unverified }),
  }
}
