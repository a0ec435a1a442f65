//! The incident record: one JSON-lines file per run. A versioned header, then one record per
//! event, each written and flushed to disk before the run moves on. A crash or `kill -9` loses
//! nothing already recorded; a torn last line is skipped by readers and sealed by a resume.
//!
//! `record` holds the on-disk types, `writer` turns engine events into records, `read` reads a
//! journal back, `find` locates journals and names runs.

mod find;
mod read;
mod record;
pub(crate) mod room;
mod writer;

use std::path::Path;

pub(crate) use find::{dir, find, list, new_run_id};
pub(crate) use read::{Read, read};
pub(crate) use record::{
  Answer, Header, Mode, Outcome, Record, RunEnd, Rung, Setup, ended, now, parse_time, sha256,
};
pub(crate) use writer::{Journal, header};

use crate::error::Error;

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
  move |source| Error::Io {
    path: path.to_path_buf(),
    source,
  }
}

/// A failed write says "write", not "read": a full or read-only disk is not a missing file.
fn write_err(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
  move |source| {
    if path.exists() && !path.is_dir() && source.kind() == std::io::ErrorKind::AlreadyExists {
      return Error::NotADirectory {
        path: path.to_path_buf(),
      };
    }
    Error::Write {
      path: path.to_path_buf(),
      source,
    }
  }
}
