//! The dry run's transport: it has nowhere to go. A rehearsal that asked it for anything would
//! be a bug, and it answers with an error rather than doing something.

use std::time::Duration;

use super::{BoxFuture, Interrupts, Output, Transport, TransportError};

pub(crate) struct DryRun;

impl Transport for DryRun {
  fn connect<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<(), TransportError>> {
    Box::pin(async { Err(TransportError::failed("dry run: nothing connects", None)) })
  }

  fn run<'a>(
    &'a self,
    _: &'a str,
    _: &'a str,
    _: Duration,
    _: Interrupts,
  ) -> BoxFuture<'a, Result<Output, TransportError>> {
    Box::pin(async { Err(TransportError::failed("dry run: nothing runs", None)) })
  }

  fn close(&self) -> BoxFuture<'_, Vec<String>> {
    Box::pin(async { Vec::new() })
  }
}
