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
    alert: None,
  }
}

/// The setup of a resumed run, and a line for each setting given again with another value.
pub(crate) fn merge(now: Setup, recorded: &Setup) -> (Setup, Vec<String>) {
  let mut changed = Vec::new();
  let path = |p: &PathBuf| p.display().to_string();
  let number = |n: &u64| n.to_string();
  let list = |v: &Vec<String>| v.join(",");
  let paths = |v: &Vec<PathBuf>| v.iter().map(path).collect::<Vec<_>>().join(",");
  // An empty list was not given.
  let given = |v: Vec<String>| (!v.is_empty()).then_some(v);
  let given_dirs = |v: Vec<PathBuf>| (!v.is_empty()).then_some(v);
  let merged = Setup {
    ssh_config: pick(
      &mut changed,
      "--ssh-config",
      now.ssh_config,
      &recorded.ssh_config,
      path,
    ),
    inventory: pick(
      &mut changed,
      "--inventory",
      now.inventory,
      &recorded.inventory,
      path,
    ),
    runbook_dirs: pick(
      &mut changed,
      "--runbooks",
      given_dirs(now.runbook_dirs),
      &given_dirs(recorded.runbook_dirs.clone()),
      paths,
    )
    .unwrap_or_default(),
    connect_timeout_ms: pick(
      &mut changed,
      "--connect-timeout",
      now.connect_timeout_ms,
      &recorded.connect_timeout_ms,
      number,
    ),
    accept_new_host_keys: now.accept_new_host_keys || recorded.accept_new_host_keys,
    keep_connections_s: pick(
      &mut changed,
      "--keep-connections",
      now.keep_connections_s,
      &recorded.keep_connections_s,
      number,
    ),
    concurrency: pick(
      &mut changed,
      "--concurrency",
      now.concurrency,
      &recorded.concurrency,
      |n| n.to_string(),
    ),
    hosts: pick(
      &mut changed,
      "--host",
      given(now.hosts),
      &given(recorded.hosts.clone()),
      list,
    )
    .unwrap_or_default(),
    // A resume continues the run for the alert it was started for.
    alert: recorded.alert.clone(),
  };
  (merged, changed)
}

/// What is given now wins; a different value than the run started with is said.
fn pick<T: PartialEq + Clone>(
  changed: &mut Vec<String>,
  name: &str,
  now: Option<T>,
  before: &Option<T>,
  show: impl Fn(&T) -> String,
) -> Option<T> {
  match (now, before) {
    (Some(n), Some(b)) if n != *b => {
      changed.push(format!(
        "{name} {} (the run started with {})",
        show(&n),
        show(b)
      ));
      Some(n)
    }
    (Some(n), _) => Some(n),
    (None, b) => b.clone(),
  }
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
