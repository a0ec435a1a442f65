//! The preflight: open every connection up front, in parallel, and ask each host that will run
//! something as root whether `sudo -n` works, so unreachable hosts, unknown host keys and missing
//! sudo rights show before anything changes. `runbook run` and `hosts check` share it.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::stream;

use crate::exec::interrupt::Interrupts;
use crate::exec::privilege::{SUDO_PROBE, sudo_wants_password};
use crate::exec::transport::Transport;

/// What the preflight found on one host.
#[derive(Clone, Debug)]
pub(crate) struct HostCheck {
  pub(crate) host: String,
  /// Why the host cannot be reached; `None` when it answered.
  pub(crate) unreachable: Option<String>,
  /// Whether non-interactive sudo works: `None` when it was not asked (or the host is down).
  pub(crate) sudo: Option<Result<(), String>>,
  pub(crate) elapsed: Duration,
}

impl HostCheck {
  /// The one line an operator needs about this host, if anything is wrong.
  pub(crate) fn problem(&self) -> Option<String> {
    match (&self.unreachable, &self.sudo) {
      (Some(reason), _) => Some(reason.clone()),
      (None, Some(Err(reason))) => Some(reason.clone()),
      _ => None,
    }
  }
}

/// Connects to `hosts` (at most `concurrency` at once) and probes sudo on those in `sudo_hosts`.
/// Returns the findings in `hosts` order, or `None` when the operator interrupted it.
pub(crate) async fn preflight(
  transport: &dyn Transport,
  hosts: &[String],
  sudo_hosts: &[String],
  concurrency: usize,
  interrupts: &Interrupts,
  done: &(dyn Fn(&HostCheck, usize) + Sync),
) -> Option<Vec<HostCheck>> {
  let seen = interrupts.count();
  // Told as each host answers (or not), with how many have: slow hosts do not hide the others.
  let finished = std::sync::atomic::AtomicUsize::new(0);
  let finished = &finished;
  let checks = stream::iter(hosts.iter())
    .map(|host| async move {
      let started = Instant::now();
      let (unreachable, sudo) = match transport.connect(host).await {
        Err(e) => (Some(e.to_string()), None),
        Ok(()) if sudo_hosts.contains(host) => {
          (None, Some(sudo(transport, host, interrupts).await))
        }
        Ok(()) => (None, None),
      };
      let check = HostCheck {
        host: host.clone(),
        unreachable,
        sudo,
        elapsed: started.elapsed(),
      };
      done(
        &check,
        finished.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1,
      );
      check
    })
    .buffer_unordered(concurrency.max(1));
  let mut found: Vec<HostCheck> = tokio::select! {
    found = checks.collect::<Vec<_>>() => found,
    _ = interrupts.after(seen) => return None,
  };
  found.sort_by_key(|c| hosts.iter().position(|h| *h == c.host));
  Some(found)
}

async fn sudo(
  transport: &dyn Transport,
  host: &str,
  interrupts: &Interrupts,
) -> Result<(), String> {
  let probe = transport.run(
    host,
    SUDO_PROBE,
    Duration::from_secs(15),
    interrupts.clone(),
  );
  match probe.await {
    Ok(out) if out.exit_code == Some(0) => Ok(()),
    Ok(out) if sudo_wants_password(&out.stderr) => Err(
      "sudo wants a password here; steps that run as root will fail (megacity never types passwords)"
        .into(),
    ),
    Ok(out) => Err(format!("`sudo -n true` failed: {}", out.stderr.trim())),
    Err(e) => Err(format!("cannot check sudo: {e}")),
  }
}
