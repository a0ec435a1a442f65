//! `megacity hosts check`: the preflight of a run, on the hosts named: which answer, and where
//! passwordless sudo works.

use serde::Serialize;

use crate::cli::{Format, HostsCheckArgs};
use crate::config::{self, Config};
use crate::error::Error;
use crate::exec::interrupt::Interrupts;
use crate::exec::preflight::{HostCheck, preflight};
use crate::exec::transport::{Transport, Transports};
use crate::inventory::{self, Target};
use crate::{exit_code, ui};

#[derive(Serialize)]
struct Row {
  host: String,
  reachable: bool,
  /// Whether `sudo -n` works there; absent when the host did not answer.
  #[serde(skip_serializing_if = "Option::is_none")]
  sudo: Option<bool>,
  seconds: f64,
  #[serde(skip_serializing_if = "Option::is_none")]
  problem: Option<String>,
}

impl From<HostCheck> for Row {
  fn from(check: HostCheck) -> Row {
    Row {
      reachable: check.unreachable.is_none(),
      sudo: check.sudo.as_ref().map(Result::is_ok),
      seconds: check.elapsed.as_secs_f64(),
      problem: check.problem(),
      host: check.host,
    }
  }
}

pub fn run(config: &Config, args: &HostsCheckArgs) -> Result<i32, Error> {
  let inventory = inventory::load(config.inventory.as_deref())?;
  let mut hosts: Vec<String> = Vec::new();
  for name in &args.targets {
    let members = match inventory.resolve(name) {
      Some(Target::Host(h)) => vec![h],
      Some(Target::Group(_, members)) => members,
      Some(Target::Local) | None => {
        return Err(Error::UnknownTarget {
          name: name.clone(),
          suggestion: inventory.suggest(name),
        });
      }
    };
    hosts.extend(members.into_iter().map(str::to_string));
  }
  if args.targets.is_empty() {
    hosts = inventory.hosts.iter().map(|h| h.name.clone()).collect();
  }
  hosts.dedup();
  let ssh = config::ssh_settings(&args.ssh, args.concurrency);
  let runtime = crate::exec::runtime()?;
  let found = runtime.block_on(async {
    let interrupts = Interrupts::install();
    let transports = Transports::for_mode(false, &ssh, &inventory)?;
    // Every host is asked about sudo: any of them may run a step as root.
    let found = preflight(&transports, &hosts, &hosts, ssh.concurrency, &interrupts).await;
    for warning in transports.close().await {
      ui::warn(&warning);
    }
    if let Some(note) = transports.kept_note(&ssh) {
      eprintln!("{note}");
    }
    Ok::<_, Error>(found)
  })?;
  let Some(found) = found else {
    return Ok(exit_code::INTERRUPTED);
  };
  let rows: Vec<Row> = found.into_iter().map(Row::from).collect();
  let code = if rows.iter().all(|r| r.reachable) {
    exit_code::SUCCESS
  } else {
    exit_code::FAILURE
  };
  if config.format == Format::Json {
    ui::emit_json(&rows)?;
    return Ok(code);
  }
  let mut table = vec![
    ["HOST", "STATUS", "SUDO", "TIME"]
      .map(|h| ui::style::bold(h).to_string())
      .to_vec(),
  ];
  for r in &rows {
    let status = match (&r.problem, r.reachable) {
      (None, _) => ui::style::hint("ok").to_string(),
      (Some(p), true) => format!("{} {}", ui::style::warning("ok,"), ui::text::sanitize(p)),
      (Some(p), false) => format!(
        "{} {}",
        ui::style::error("unreachable:"),
        ui::text::sanitize(p)
      ),
    };
    let sudo = match r.sudo {
      Some(true) => "yes",
      Some(false) => "no",
      None => "-",
    };
    table.push(vec![
      r.host.clone(),
      status,
      sudo.to_string(),
      format!("{:.2}s", r.seconds),
    ]);
  }
  ui::emit(&ui::text::table(&table))?;
  Ok(code)
}
