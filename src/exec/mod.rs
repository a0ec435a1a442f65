//! The engine and its transports: plan → execute, emitting events and asking for decisions.

pub(crate) mod condition;
pub(crate) mod engine;
pub(crate) mod event;
pub(crate) mod expect;
pub(crate) mod interrupt;
pub(crate) mod learned;
pub(crate) mod plan;
pub(crate) mod preflight;
pub(crate) mod privilege;
pub(crate) mod result;
pub(crate) mod transport;

use crate::error::Error;

/// The runtime every command that connects runs on: two workers are plenty for I/O-bound fan-out.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, Error> {
  tokio::runtime::Builder::new_multi_thread()
    .worker_threads(2)
    .enable_all()
    .build()
    .map_err(|e| Error::Io {
      path: std::path::PathBuf::from("<tokio runtime>"),
      source: e,
    })
}
