//! The run's setup as the journal records it, and a resume's setup: what is given again now
//! wins, the rest comes from the interrupted run, so a resume reaches the same hosts the same way.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cli::RunArgs;
use crate::config::{self, Config};
use crate::exec::transport::SshSettings;
use crate::journal::Setup;
use crate::runbook::catalog::RunbookDir;

fn absolute(path: &Path) -> PathBuf {
  std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// What this invocation was given (paths made absolute).
pub(crate) fn given(config: &Config, args: &RunArgs) -> Setup {
  Setup {
    ssh_config: args.ssh.ssh_config.as_deref().map(absolute),
    inventory: config.inventory.as_deref().map(absolute),
    runbook_dirs: config
      .runbook_dirs
      .iter()
      .filter(|d| d.explicit)
      .map(|d| absolute(&d.path))
      .collect(),
    connect_timeout_ms: args.ssh.connect_timeout.map(|d| d.as_millis() as u64),
    accept_new_host_keys: args.ssh.accept_new_host_keys,
    keep_connections_s: args.ssh.keep_connections.map(|d| d.as_secs()),
    concurrency: args.concurrency,
    hosts: args.hosts.clone(),
  }
}

/// The setup of a resumed run, and a line for each setting given again with another value.
pub(crate) fn merge(now: Setup, recorded: &Setup) -> (Setup, Vec<String>) {
  let mut changed = Vec::new();
  let mut pick = |name: &str, now: Option<String>, before: Option<String>| match (now, before) {
    (Some(n), Some(b)) if n != b => {
      changed.push(format!("{name} {n} (the run started with {b})"));
      Some(n)
    }
    (Some(n), _) => Some(n),
    (None, b) => b,
  };
  let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
  let ssh_config = pick(
    "--ssh-config",
    path(&now.ssh_config),
    path(&recorded.ssh_config),
  );
  let inventory = pick(
    "--inventory",
    path(&now.inventory),
    path(&recorded.inventory),
  );
  let timeout = pick(
    "--connect-timeout",
    now.connect_timeout_ms.map(|v| v.to_string()),
    recorded.connect_timeout_ms.map(|v| v.to_string()),
  );
  let keep = pick(
    "--keep-connections",
    now.keep_connections_s.map(|v| v.to_string()),
    recorded.keep_connections_s.map(|v| v.to_string()),
  );
  let concurrency = pick(
    "--concurrency",
    now.concurrency.map(|v| v.to_string()),
    recorded.concurrency.map(|v| v.to_string()),
  );
  let list = |v: &[String]| (!v.is_empty()).then(|| v.join(","));
  let hosts = pick("--host", list(&now.hosts), list(&recorded.hosts));
  let dirs = |v: &[PathBuf]| {
    v.iter()
      .map(|p| p.display().to_string())
      .collect::<Vec<_>>()
  };
  let runbook_dirs = pick(
    "--runbooks",
    list(&dirs(&now.runbook_dirs)),
    list(&dirs(&recorded.runbook_dirs)),
  );
  let merged = Setup {
    ssh_config: ssh_config.map(PathBuf::from),
    inventory: inventory.map(PathBuf::from),
    runbook_dirs: runbook_dirs
      .map(|d| d.split(',').map(PathBuf::from).collect())
      .unwrap_or_default(),
    connect_timeout_ms: timeout.and_then(|v| v.parse().ok()),
    accept_new_host_keys: now.accept_new_host_keys || recorded.accept_new_host_keys,
    keep_connections_s: keep.and_then(|v| v.parse().ok()),
    concurrency: concurrency.and_then(|v| v.parse().ok()),
    hosts: hosts
      .map(|h| h.split(',').map(str::to_string).collect())
      .unwrap_or_default(),
  };
  (merged, changed)
}

/// The configuration with the setup's files in it.
pub(crate) fn apply(config: &Config, setup: &Setup) -> Config {
  let mut config = config.clone();
  for dir in &setup.runbook_dirs {
    if !config
      .runbook_dirs
      .iter()
      .any(|d| d.explicit && absolute(&d.path) == *dir)
    {
      config.runbook_dirs.push(RunbookDir {
        path: dir.clone(),
        explicit: true,
      });
    }
  }
  config.inventory = setup.inventory.clone();
  config
}

/// How to reach the hosts.
pub(crate) fn ssh(setup: &Setup) -> SshSettings {
  SshSettings {
    config_file: setup.ssh_config.clone(),
    accept_new_host_keys: setup.accept_new_host_keys,
    connect_timeout: setup
      .connect_timeout_ms
      .map_or(config::DEFAULT_CONNECT_TIMEOUT, Duration::from_millis),
    keep_connections: setup.keep_connections_s.map(Duration::from_secs),
    concurrency: usize::from(setup.concurrency.unwrap_or(config::DEFAULT_CONCURRENCY)),
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn a_resume_keeps_what_it_is_not_given_again() {
    let recorded = Setup {
      ssh_config: Some("/etc/incident/ssh_config".into()),
      connect_timeout_ms: Some(3000),
      hosts: vec!["redis".into()],
      ..Setup::default()
    };
    let (merged, changed) = merge(Setup::default(), &recorded);
    assert_eq!(merged, recorded);
    assert!(changed.is_empty());
    let now = Setup {
      ssh_config: Some("/tmp/other".into()),
      ..Setup::default()
    };
    let (merged, changed) = merge(now, &recorded);
    assert_eq!(merged.ssh_config, Some("/tmp/other".into()));
    assert_eq!(merged.connect_timeout_ms, Some(3000));
    assert_eq!(
      changed,
      ["--ssh-config /tmp/other (the run started with /etc/incident/ssh_config)"]
    );
  }
}
