//! Where commands run: over SSH, on the operator's machine, or (in a dry run) nowhere — behind
//! one abstraction so the engine treats them alike.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::watch;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a command left behind.
#[derive(Clone, Debug, Default)]
pub struct Output {
  /// `None` when the command was killed by a signal.
  pub exit_code: Option<i32>,
  pub stdout: String,
  pub stderr: String,
}

/// Why a command could not run to completion. Outcomes for one host, never a crash.
#[derive(Clone, Debug, thiserror::Error)]
pub enum TransportError {
  #[error("cannot connect: {0}")]
  Connect(String),
  #[error("timed out after {0:?}; the command was killed")]
  TimedOut(Duration),
  #[error("interrupted; the command was killed")]
  Interrupted,
  #[error("{0}")]
  Failed(String),
}

/// Counts Ctrl-C presses; a running command stops when it changes.
pub type Interrupts = watch::Receiver<u32>;

pub trait Transport: Send + Sync {
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
}

/// At most this much of each stream is kept; more is cut from the front (the end matters).
pub const MAX_OUTPUT: usize = 1024 * 1024;

/// Reads a stream to its end, keeping the last `MAX_OUTPUT` bytes.
pub async fn read_bounded<R: AsyncRead + Unpin>(mut reader: R) -> String {
  let mut kept: Vec<u8> = Vec::new();
  let mut buf = [0u8; 8192];
  loop {
    match reader.read(&mut buf).await {
      Ok(0) | Err(_) => break,
      Ok(n) => {
        kept.extend_from_slice(&buf[..n]);
        if kept.len() > 2 * MAX_OUTPUT {
          kept.drain(..kept.len() - MAX_OUTPUT);
        }
      }
    }
  }
  if kept.len() > MAX_OUTPUT {
    kept.drain(..kept.len() - MAX_OUTPUT);
  }
  String::from_utf8_lossy(&kept).into_owned()
}

/// Waits for `work`, unless the timeout passes or the operator interrupts; dropping `work` then
/// closes the command's stdin, which the watchdog wrapper turns into killing the command.
pub async fn bounded<F: Future<Output = Result<Output, TransportError>>>(
  work: F,
  timeout: Duration,
  mut interrupts: Interrupts,
) -> Result<Output, TransportError> {
  let seen = *interrupts.borrow_and_update();
  tokio::select! {
    result = work => result,
    _ = tokio::time::sleep(timeout) => Err(TransportError::TimedOut(timeout)),
    _ = async {
      while interrupts.changed().await.is_ok() {
        if *interrupts.borrow() != seen { return; }
      }
      std::future::pending::<()>().await
    } => Err(TransportError::Interrupted),
  }
}
