//! The run's private directory for SSH control sockets, and where kept masters live.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::masters::{self, Masters};
use crate::error::Error;

/// A short, private, per-run directory for control sockets (Unix socket paths are limited to
/// about 108 bytes). Directories of runs whose process is gone are swept first.
pub(crate) struct ControlDir(PathBuf);

impl ControlDir {
  pub(crate) fn create() -> Result<ControlDir, Error> {
    let base = runtime_base();
    private(&base)?;
    sweep(&base);
    let dir = base.join(std::process::id().to_string());
    private(&dir)?;
    Ok(ControlDir(dir))
  }

  pub(crate) fn path(&self) -> &Path {
    &self.0
  }
}

impl Drop for ControlDir {
  fn drop(&mut self) {
    let _ = std::fs::remove_dir_all(&self.0);
  }
}

/// Where this user's control sockets live: $XDG_RUNTIME_DIR/megacity when that is short enough
/// (Unix socket paths are limited to about 108 bytes), /tmp/megacity-<uid> otherwise (by uid:
/// $USER can be unset, or the same for two accounts).
fn runtime_base() -> PathBuf {
  match std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from) {
    Some(dir) if dir.as_os_str().len() < 40 && dir.is_dir() => dir.join("megacity"),
    // SAFETY: geteuid has no preconditions and cannot fail.
    _ => PathBuf::from(format!("/tmp/megacity-{}", unsafe { libc::geteuid() })),
  }
}

fn private(dir: &Path) -> Result<(), Error> {
  masters::private_dir(dir, true).map_err(|reason| Error::UnsafeDirectory { reason })
}

/// The kept masters' directory, with the idle limit asked for.
pub(crate) fn kept_masters(idle: Duration) -> Result<Masters, Error> {
  let base = runtime_base();
  private(&base)?;
  Masters::open(base.join("masters"), idle).map_err(|reason| Error::UnsafeDirectory { reason })
}

/// Removes control directories of runs that no longer exist (a crash or `kill -9`).
fn sweep(base: &Path) {
  let Ok(entries) = std::fs::read_dir(base) else {
    return;
  };
  for entry in entries.flatten() {
    let name = entry.file_name();
    let Some(pid) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else {
      continue;
    };
    if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
      let _ = std::fs::remove_dir_all(entry.path());
    }
  }
}
