//! What every command that connects shares: the runtime, Ctrl-C, the control directory, SSH.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::sync::watch;

use crate::cli::SshArgs;
use crate::error::Error;
use crate::exec::masters::{self, Masters};
use crate::exec::ssh::{Ssh, SshOptions};
use crate::inventory::Inventory;

pub fn runtime() -> Result<tokio::runtime::Runtime, Error> {
  tokio::runtime::Builder::new_multi_thread()
    .worker_threads(2)
    .enable_all()
    .build()
    .map_err(|e| Error::Io {
      path: PathBuf::from("<tokio runtime>"),
      source: e,
    })
}

/// Counts Ctrl-C (and SIGTERM/SIGHUP, which count as two: stop now). Installed before anything
/// connects, so no signal can leave a master or a remote command behind.
pub fn interrupts() -> watch::Receiver<u32> {
  let (tx, rx) = watch::channel(0u32);
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
        r = tokio::signal::ctrl_c() => { if r.is_err() { return; } tx.send_modify(|n| *n += 1); }
        _ = term.recv() => tx.send_modify(|n| *n += 2),
        _ = hup.recv() => tx.send_modify(|n| *n += 2),
      }
    }
  });
  rx
}

/// A short, private, per-run directory for control sockets (Unix socket paths are limited to
/// about 108 bytes). Directories of runs whose process is gone are swept first.
pub struct ControlDir(PathBuf);

impl ControlDir {
  pub fn create() -> Result<ControlDir, Error> {
    let base = runtime_base();
    private(&base)?;
    sweep(&base);
    let dir = base.join(std::process::id().to_string());
    private(&dir)?;
    Ok(ControlDir(dir))
  }

  pub fn path(&self) -> &Path {
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
pub fn masters(idle: Duration) -> Result<Masters, Error> {
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

pub fn ssh(args: &SshArgs, control: &ControlDir, inventory: &Inventory) -> Result<Ssh, Error> {
  let users: HashMap<String, String> = inventory
    .hosts
    .iter()
    .filter_map(|h| h.user.clone().map(|u| (h.name.clone(), u)))
    .collect();
  let keep = args.keep_connections.map(masters).transpose()?;
  Ok(Ssh::new(
    SshOptions {
      // Absolute and resolved once: a kept master is keyed by it, and the same file by any
      // path is the same configuration.
      config_file: args
        .ssh_config
        .as_deref()
        .map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())),
      accept_new_host_keys: args.accept_new_host_keys,
      connect_timeout: args.connect_timeout,
      control_dir: control.path().to_path_buf(),
      users,
      keep,
    },
    // New connections at once: as many as hosts at once. Behind a bastion, keep --concurrency
    // under its sshd's MaxStartups (10 by default), or it drops connections at random.
    usize::from(args.concurrency),
  ))
}

/// After a command that kept its connections: how many were reused, and how to close them.
pub fn kept_note(ssh: &Ssh, args: &SshArgs) -> Option<String> {
  let idle = args.keep_connections?;
  Some(format!(
    "connections kept open ({} reused from earlier; new ones end when idle for {}); `megacity connections close` closes them",
    ssh.reused(),
    humantime::format_duration(idle),
  ))
}
