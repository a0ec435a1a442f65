//! `megacity hosts check`: the preflight of a run, on the hosts named: which answer, and where
//! passwordless sudo works.

use crate::cli::HostsCheckArgs;
use crate::config::{self, Config};
use crate::error::Error;
use crate::exec::interrupt::Interrupts;
use crate::exec::preflight::{HostCheck, preflight};
use crate::exec::transport::{Transport, Transports};
use crate::inventory;
use crate::ui::render::{self, HostRow, HostsCheck};
use crate::{exit_code, ui};

impl From<HostCheck> for HostRow {
  fn from(check: HostCheck) -> HostRow {
    HostRow {
      reachable: check.unreachable.is_none(),
      sudo: check.sudo.as_ref().map(Result::is_ok),
      seconds: check.elapsed.as_secs_f64(),
      problem: check.problem(),
      host: check.host,
    }
  }
}

pub(crate) fn run(config: &Config, args: &HostsCheckArgs) -> Result<i32, Error> {
  let inventory = inventory::load(config.inventory.as_deref())?;
  let hosts = inventory.select(&args.targets)?;
  let ssh = config::ssh_settings(&args.ssh, args.concurrency);
  ssh.check()?;
  let runtime = crate::exec::runtime()?;
  let found = runtime.block_on(async {
    let interrupts = Interrupts::install();
    let transports = Transports::for_mode(false, &ssh, &inventory, None)?;
    // Every host is asked about sudo: any of them may run a step as root.
    let found = preflight(
      &transports,
      &hosts,
      &hosts,
      ssh.concurrency,
      &interrupts,
      &|_, _| {},
    )
    .await;
    for warning in transports.close().await {
      ui::warn(&warning);
    }
    if let Some(note) = transports.kept_note(&ssh) {
      say!("{note}");
    }
    Ok::<_, Error>(found)
  })?;
  let Some(found) = found else {
    return Ok(exit_code::INTERRUPTED);
  };
  let view = HostsCheck {
    rows: found.into_iter().map(HostRow::from).collect(),
  };
  render::emit(&view, config.format)?;
  Ok(if view.rows.iter().all(|r| r.reachable) {
    exit_code::SUCCESS
  } else {
    exit_code::FAILURE
  })
}
