//! Kept SSH masters: connections that outlive one run (opt-in, `--keep-connections`), so the
//! next command of the same incident starts on open connections instead of a new key exchange.
//!
//! One directory per master, inside a private per-user directory: the crate's own
//! `.ssh-connection*` directory (control socket `master`, log `log`) plus `megacity.json`, which
//! says which host, user and ssh_config it was opened for. A master ends when it has been idle
//! for its limit, or when `megacity connections close` asks it to.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use openssh::Session;
use serde::{Deserialize, Serialize};

const ENTRY: &str = "megacity.json";
const PREFIX: &str = ".ssh-connection";

/// The private directory that holds kept masters, and how long they may sit idle.
#[derive(Clone, Debug)]
pub(crate) struct Masters {
  dir: PathBuf,
  pub(crate) idle: Duration,
}

/// What a kept master was opened for; reuse needs all of it to match.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) struct Key {
  pub(crate) host: String,
  pub(crate) user: Option<String>,
  pub(crate) ssh_config: Option<PathBuf>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Entry {
  #[serde(flatten)]
  key: Key,
  /// Seconds since the epoch.
  opened: u64,
  idle_secs: u64,
}

/// One kept master as `connections list` shows it.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Kept {
  #[serde(flatten)]
  pub(crate) key: Key,
  pub(crate) opened: u64,
  pub(crate) idle_limit_secs: u64,
  pub(crate) alive: bool,
}

impl Key {
  pub(crate) fn new(host: &str, user: Option<&str>, ssh_config: Option<&Path>) -> Key {
    Key {
      host: host.to_string(),
      user: user.map(str::to_string),
      ssh_config: ssh_config.map(Path::to_path_buf),
    }
  }
}

/// Seconds since the epoch.
pub(crate) fn now() -> u64 {
  SystemTime::now()
    .duration_since(UNIX_EPOCH)
    .map(|d| d.as_secs())
    .unwrap_or(0)
}

impl Masters {
  /// Uses `dir` only if it is this user's alone: anyone who can write there could put a socket
  /// of theirs where megacity looks for a master, and read what passes through it.
  pub(crate) fn open(dir: PathBuf, idle: Duration) -> Result<Masters, String> {
    private_dir(&dir, false)?;
    Ok(Masters { dir, idle })
  }

  pub(crate) fn dir(&self) -> &Path {
    &self.dir
  }

  fn connection_dirs(&self) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(&self.dir) else {
      return Vec::new();
    };
    entries
      .flatten()
      .filter(|e| e.file_name().to_string_lossy().starts_with(PREFIX))
      .map(|e| e.path())
      .collect()
  }

  /// Every recorded master by what it was opened for (alive or not: a resume checks).
  pub(crate) fn index(&self) -> HashMap<Key, PathBuf> {
    self
      .connection_dirs()
      .into_iter()
      .filter_map(|dir| Some((read_entry(&dir)?.key, dir)))
      .collect()
  }

  /// Records what the master in `dir` (the directory of its control socket) was opened for.
  pub(crate) fn remember(&self, dir: &Path, key: &Key) -> std::io::Result<()> {
    let entry = Entry {
      key: key.clone(),
      opened: now(),
      idle_secs: self.idle.as_secs(),
    };
    let text = serde_json::to_string(&entry).expect("entries serialize");
    // Written whole, then renamed: a reader never sees half an entry.
    let tmp = dir.join(format!("{ENTRY}.tmp"));
    std::fs::write(&tmp, text)?;
    std::fs::rename(tmp, dir.join(ENTRY))
  }

  /// The master recorded in `dir`, if it still answers; a dead one's directory is removed.
  pub(crate) async fn resume(dir: &Path) -> Option<Session> {
    let session = Session::resume_mux(
      dir.join("master").into_boxed_path(),
      Some(dir.join("log").into_boxed_path()),
    );
    if session.check().await.is_ok() {
      Some(session)
    } else {
      forget(dir);
      None
    }
  }

  /// Every kept master, each checked; directories of masters that have ended are removed.
  pub(crate) async fn list(&self) -> Vec<Kept> {
    let mut kept = Vec::new();
    for dir in self.connection_dirs() {
      let Some(entry) = read_entry(&dir) else {
        // A master being opened has no entry yet; one that never got one is swept by close.
        continue;
      };
      kept.push(Kept {
        key: entry.key,
        opened: entry.opened,
        idle_limit_secs: entry.idle_secs,
        alive: Masters::resume(&dir).await.is_some(),
      });
    }
    kept.sort_by(|a, b| a.key.host.cmp(&b.key.host));
    kept
  }

  /// Closes the kept masters (of `hosts`, or all of them); returns the hosts closed and
  /// warnings for those that would not close.
  pub(crate) async fn close(&self, hosts: &[String]) -> (Vec<String>, Vec<String>) {
    let mut closed = Vec::new();
    let mut warnings = Vec::new();
    for dir in self.connection_dirs() {
      let host = read_entry(&dir).map_or_else(|| "(unrecorded)".to_string(), |e| e.key.host);
      if !hosts.is_empty() && !hosts.contains(&host) {
        continue;
      }
      if let Some(session) = Masters::resume(&dir).await {
        match session.close().await {
          Ok(()) => closed.push(host),
          Err(e) => warnings.push(format!("{host}: {}", super::ssh::describe(&e))),
        }
      }
      forget(&dir);
    }
    closed.sort();
    (closed, warnings)
  }
}

fn read_entry(dir: &Path) -> Option<Entry> {
  let text = std::fs::read_to_string(dir.join(ENTRY)).ok()?;
  serde_json::from_str(&text).ok()
}

fn forget(dir: &Path) {
  let _ = std::fs::remove_dir_all(dir);
}

/// Creates `dir` (0700) or checks an existing one: a directory, owned by this user, closed to
/// everyone else. With `tighten`, an existing one of ours that is too open is closed instead of
/// refused (for directories that hold nothing yet).
pub(crate) fn private_dir(dir: &Path, tighten: bool) -> Result<(), String> {
  use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
  std::fs::DirBuilder::new()
    .recursive(true)
    .mode(0o700)
    .create(dir)
    .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
  let meta =
    std::fs::symlink_metadata(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
  if !meta.is_dir() {
    return Err(format!("{} is not a directory", dir.display()));
  }
  // SAFETY: geteuid has no preconditions and cannot fail.
  let me = unsafe { libc::geteuid() };
  if meta.uid() != me {
    return Err(format!(
      "{} belongs to uid {}, not to this user (uid {me})",
      dir.display(),
      meta.uid()
    ));
  }
  let mode = meta.permissions().mode() & 0o777;
  if mode & 0o077 == 0 {
    return Ok(());
  }
  if !tighten {
    return Err(format!(
      "{} is open to other users (mode {mode:o}); it must be 0700",
      dir.display()
    ));
  }
  std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
    .map_err(|e| format!("cannot make {} private: {e}", dir.display()))
}
