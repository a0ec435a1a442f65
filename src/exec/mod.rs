//! The engine and its transports: plan → execute, emitting events and asking for decisions.

pub mod condition;
pub mod engine;
pub mod event;
pub mod expect;
pub mod interrupt;
pub mod plan;
pub mod preflight;
pub mod privilege;
pub mod result;
pub mod transport;

use crate::error::Error;

/// The runtime every command that connects runs on: two workers are plenty for I/O-bound fan-out.
pub fn runtime() -> Result<tokio::runtime::Runtime, Error> {
  tokio::runtime::Builder::new_multi_thread()
    .worker_threads(2)
    .enable_all()
    .build()
    .map_err(|e| Error::Io {
      path: std::path::PathBuf::from("<tokio runtime>"),
      source: e,
    })
}
