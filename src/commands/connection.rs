//! What every command that connects shares: the runtime, Ctrl-C, the control directory, SSH.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use tokio::sync::watch;

use crate::cli::SshArgs;
use crate::error::Error;
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
    let user = std::env::var("USER")
      .or_else(|_| std::env::var("LOGNAME"))
      .unwrap_or_else(|_| "user".into());
    let base = match std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from) {
      Some(dir) if dir.as_os_str().len() < 40 && dir.is_dir() => dir.join("megacity"),
      _ => PathBuf::from(format!("/tmp/megacity-{user}")),
    };
    let io = |path: &Path| {
      let path = path.to_path_buf();
      move |source| Error::Io { path, source }
    };
    create_private(&base).map_err(io(&base))?;
    sweep(&base);
    let dir = base.join(std::process::id().to_string());
    create_private(&dir).map_err(io(&dir))?;
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

fn create_private(dir: &Path) -> std::io::Result<()> {
  use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
  std::fs::DirBuilder::new()
    .recursive(true)
    .mode(0o700)
    .create(dir)?;
  let meta = std::fs::metadata(dir)?;
  if meta.permissions().mode() & 0o077 != 0 {
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
  }
  Ok(())
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

pub fn ssh(args: &SshArgs, control: &ControlDir, inventory: &Inventory) -> Ssh {
  let users: HashMap<String, String> = inventory
    .hosts
    .iter()
    .filter_map(|h| h.user.clone().map(|u| (h.name.clone(), u)))
    .collect();
  Ssh::new(
    SshOptions {
      config_file: args.ssh_config.clone(),
      accept_new_host_keys: args.accept_new_host_keys,
      connect_timeout: args.connect_timeout,
      control_dir: control.path().to_path_buf(),
      users,
    },
    usize::from(args.concurrency).min(10),
  )
}
