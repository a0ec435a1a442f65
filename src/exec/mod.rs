//! The engine and its transports: plan → execute, emitting events and asking for decisions.

pub mod command;
pub mod engine;
pub mod event;
pub mod expect;
pub mod local;
pub mod masters;
pub mod plan;
pub mod ssh;
pub mod transport;

use crate::exec::transport::{BoxFuture, Interrupts, Output, Transport, TransportError};

/// Routes `local` to the operator's machine and every other host to SSH.
pub struct Routed<R: Transport, L: Transport> {
  pub remote: R,
  pub local: L,
}

impl<R: Transport, L: Transport> Transport for Routed<R, L> {
  fn connect<'a>(&'a self, host: &'a str) -> BoxFuture<'a, Result<(), TransportError>> {
    if host == crate::runbook::model::LOCAL {
      self.local.connect(host)
    } else {
      self.remote.connect(host)
    }
  }

  fn run<'a>(
    &'a self,
    host: &'a str,
    command: &'a str,
    timeout: std::time::Duration,
    interrupts: Interrupts,
  ) -> BoxFuture<'a, Result<Output, TransportError>> {
    if host == crate::runbook::model::LOCAL {
      self.local.run(host, command, timeout, interrupts)
    } else {
      self.remote.run(host, command, timeout, interrupts)
    }
  }

  fn close(&self) -> BoxFuture<'_, Vec<String>> {
    Box::pin(async move {
      let mut warnings = self.remote.close().await;
      warnings.extend(self.local.close().await);
      warnings
    })
  }
}
