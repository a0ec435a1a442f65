//! Ctrl-C and signals as a run sees them. One Ctrl-C stops the running step (the operator then
//! decides); a second one, SIGTERM or SIGHUP means stop now.

use tokio::sync::watch;

/// A view of the interrupts received so far; cheap to clone, one per task that must notice them.
#[derive(Clone, Debug)]
pub(crate) struct Interrupts(watch::Receiver<u32>);

/// The sending side, for the signal handler and for tests.
#[derive(Clone, Debug)]
pub(crate) struct Interrupter(watch::Sender<u32>);

impl Interrupter {
  /// Ctrl-C: stop what is running.
  pub(crate) fn interrupt(&self) {
    self.0.send_modify(|n| *n += 1);
  }

  /// SIGTERM, SIGHUP, or Ctrl-C twice: stop the run.
  pub(crate) fn stop(&self) {
    self.0.send_modify(|n| *n = (*n + 2).max(2));
  }
}

impl Interrupts {
  /// A pair not connected to any signal (tests, and commands that install their own handling).
  pub(crate) fn channel() -> (Interrupter, Interrupts) {
    let (tx, rx) = watch::channel(0u32);
    (Interrupter(tx), Interrupts(rx))
  }

  /// Installs the handler for Ctrl-C, SIGTERM and SIGHUP. Call it first thing inside the
  /// runtime, before anything connects, so no signal can leave a master or a command behind.
  pub(crate) fn install() -> Interrupts {
    let (interrupter, interrupts) = Interrupts::channel();
    tokio::spawn(async move {
      use tokio::signal::unix::{SignalKind, signal};
      let (Ok(mut term), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
      ) else {
        return;
      };
      loop {
        tokio::select! {
          r = tokio::signal::ctrl_c() => { if r.is_err() { return; } interrupter.interrupt(); }
          _ = term.recv() => interrupter.stop(),
          _ = hup.recv() => interrupter.stop(),
        }
      }
    });
    interrupts
  }

  /// How many interrupts so far; compare with an earlier count to see a new one.
  pub(crate) fn count(&self) -> u32 {
    *self.0.borrow()
  }

  /// Whether the run must stop at once (a second Ctrl-C, SIGTERM or SIGHUP).
  pub(crate) fn stop_now(&self) -> bool {
    self.count() >= 2
  }

  /// Resolves when the run must stop at once; never, if that does not happen.
  pub(crate) async fn stopped(&self) {
    while !self.stop_now() {
      self.after(self.count()).await;
    }
  }

  /// Resolves at the first interrupt after `seen` (a count taken earlier); never, if none comes.
  pub(crate) async fn after(&self, seen: u32) {
    let mut rx = self.0.clone();
    loop {
      if *rx.borrow_and_update() != seen {
        return;
      }
      if rx.changed().await.is_err() {
        std::future::pending::<()>().await;
      }
    }
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[tokio::test]
  async fn one_interrupt_is_not_stop_now_but_a_signal_is() {
    let (tx, rx) = Interrupts::channel();
    assert!(!rx.stop_now());
    tx.interrupt();
    assert_eq!(rx.count(), 1);
    assert!(!rx.stop_now());
    tx.stop();
    assert!(rx.stop_now());
  }

  #[tokio::test]
  async fn after_resolves_only_on_a_new_interrupt() {
    let (tx, rx) = Interrupts::channel();
    let seen = rx.count();
    let waiting = tokio::time::timeout(std::time::Duration::from_millis(20), rx.after(seen));
    assert!(waiting.await.is_err(), "no interrupt yet");
    tx.interrupt();
    rx.after(seen).await;
  }
}
