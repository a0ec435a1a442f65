//! `local` steps: the operator's own machine.

use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

use super::watchdog::{self, SWEEP, Sweep, WATCHDOG, watchdog_args};
use super::{BoxFuture, Capture, Interrupts, Output, Transport, TransportError, bounded};

pub(crate) struct Local;

impl Transport for Local {
  fn connect<'a>(&'a self, _host: &'a str) -> BoxFuture<'a, Result<(), TransportError>> {
    Box::pin(async { Ok(()) })
  }

  fn run<'a>(
    &'a self,
    _host: &'a str,
    command: &'a str,
    timeout: Duration,
    interrupts: Interrupts,
  ) -> BoxFuture<'a, Result<Output, TransportError>> {
    let token = watchdog::token();
    Box::pin(async move {
      let mut child = Command::new("sh");
      // Prometheus checks run megacity itself (`"$MEGACITY" prometheus-query`).
      if let Ok(exe) = std::env::current_exe() {
        child.env("MEGACITY", exe);
      }
      let mut child = child
        .arg("-c")
        .arg(WATCHDOG)
        .args(watchdog_args(command, timeout, &token))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| {
          TransportError::failed(
            format!("cannot start sh: {e}"),
            Some(std::sync::Arc::new(e)),
          )
        })?;
      let capture = Capture::default();
      let work = async {
        // Held open for as long as the command may run: dropping it is the kill signal.
        let _stdin = child.stdin.take();
        let (stdout, stderr) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
        capture.read(stdout, stderr).await;
        let status = child
          .wait()
          .await
          .map_err(|e| TransportError::failed(e.to_string(), Some(std::sync::Arc::new(e))))?;
        Ok::<Output, TransportError>(capture.output(status.code()))
      };
      match bounded(work, timeout, interrupts, &capture).await {
        Err(e) if e.stopped() => Err(e.swept(sweep(&token).await)),
        other => other,
      }
    })
  }

  fn close(&self) -> BoxFuture<'_, Vec<String>> {
    Box::pin(async { Vec::new() })
  }
}

/// After a stop: finds what the command left on this machine, kills it, and says so.
async fn sweep(token: &str) -> Sweep {
  let run = Command::new("sh")
    .arg("-c")
    .arg(SWEEP)
    .arg("megacity")
    .arg(token)
    .stdin(Stdio::null())
    .kill_on_drop(true)
    .output();
  match tokio::time::timeout(std::time::Duration::from_secs(20), run).await {
    Ok(Ok(out)) => Sweep::parse(&String::from_utf8_lossy(&out.stdout)),
    _ => Sweep::Unverified,
  }
}
