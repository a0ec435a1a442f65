//! The command line and environment resolved into what the commands need.

use std::path::{Path, PathBuf};

use crate::cli::{Cli, ColorChoice, Format, SshArgs};
use crate::exec::transport::SshSettings;
use crate::runbook::catalog::RunbookDir;
use crate::settings::Settings;

pub(crate) const RUNBOOKS_ENV: &str = "MEGACITY_RUNBOOKS";
pub(crate) const INVENTORY_ENV: &str = "MEGACITY_INVENTORY";

#[derive(Clone, Debug)]
pub(crate) struct Config {
  /// Runbook directories in increasing precedence: XDG config, ./runbooks, $MEGACITY_RUNBOOKS,
  /// --runbooks. A runbook in a later directory overrides one with the same id in an earlier
  /// directory, and all of them override the embedded set.
  pub(crate) runbook_dirs: Vec<RunbookDir>,
  /// The inventory file; `None` means the embedded default.
  pub(crate) inventory: Option<PathBuf>,
  pub(crate) format: Format,
  /// Where run journals are kept.
  pub(crate) journal_dir: PathBuf,
  /// Alertmanager, Prometheus, Slack, PagerDuty: the config file, the environment over it.
  pub(crate) settings: Settings,
}

impl Config {
  pub(crate) fn from_cli(cli: &Cli) -> Config {
    Config::resolve(
      cli.runbooks.clone(),
      cli.inventory.clone(),
      cli.journal_dir.as_deref(),
      cli.format,
    )
  }

  pub(crate) fn resolve(
    runbooks_flag: Option<PathBuf>,
    inventory_flag: Option<PathBuf>,
    journal_flag: Option<&Path>,
    format: Format,
  ) -> Config {
    let env_path = |name| {
      std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
    };
    let config_dir = config_dir();
    let mut runbook_dirs = Vec::new();
    if let Some(dir) = config_dir.as_ref().map(|d| d.join("runbooks")) {
      runbook_dirs.push(RunbookDir {
        path: dir,
        explicit: false,
      });
    }
    runbook_dirs.push(RunbookDir {
      path: PathBuf::from("runbooks"),
      explicit: false,
    });
    if let Some(dir) = env_path(RUNBOOKS_ENV) {
      runbook_dirs.push(RunbookDir {
        path: dir,
        explicit: true,
      });
    }
    if let Some(dir) = runbooks_flag {
      runbook_dirs.push(RunbookDir {
        path: dir,
        explicit: true,
      });
    }
    let inventory = inventory_flag
      .or_else(|| env_path(INVENTORY_ENV))
      .or_else(|| {
        config_dir
          .map(|d| d.join("inventory.yaml"))
          .filter(|p| Path::new(p).is_file())
      });
    Config {
      runbook_dirs,
      inventory,
      format,
      journal_dir: crate::journal::dir(journal_flag),
      settings: Settings::default(),
    }
  }
}

/// `$XDG_CONFIG_HOME/megacity`, else `~/.config/megacity`.
pub(crate) fn config_dir() -> Option<PathBuf> {
  let base = std::env::var_os("XDG_CONFIG_HOME")
    .filter(|v| !v.is_empty())
    .map(PathBuf::from)
    .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
  Some(base.join("megacity"))
}

/// Color is decided once, by `main`: `--color`, then `NO_COLOR`, then whether stdout is a
/// terminal.
pub(crate) fn decide_color(choice: ColorChoice) {
  let decided = match choice {
    ColorChoice::Always => true,
    ColorChoice::Never => false,
    ColorChoice::Auto => {
      std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && console::Term::stdout().is_term()
    }
  };
  console::set_colors_enabled(decided);
  console::set_colors_enabled_stderr(decided);
}

pub(crate) const DEFAULT_CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
pub(crate) const DEFAULT_CONCURRENCY: u16 = 10;

/// How to reach hosts, from the SSH options and `--concurrency` of the command that connects.
pub(crate) fn ssh_settings(args: &SshArgs, concurrency: Option<u16>) -> SshSettings {
  SshSettings {
    config_file: args.ssh_config.clone(),
    accept_new_host_keys: args.accept_new_host_keys,
    connect_timeout: args.connect_timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT),
    keep_connections: args.keep_connections,
    concurrency: usize::from(concurrency.unwrap_or(DEFAULT_CONCURRENCY)),
  }
}
