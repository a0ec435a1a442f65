use serde::Serialize;

use crate::cli::{Format, HostsListArgs};
use crate::config::Config;
use crate::error::Error;
use crate::inventory::{self, Host, Target};
use crate::{exit_code, ui};

#[derive(Serialize)]
struct Output<'a> {
  hosts: Vec<&'a Host>,
  groups: std::collections::BTreeMap<&'a str, Vec<&'a str>>,
}

pub fn run(config: &Config, args: &HostsListArgs) -> Result<i32, Error> {
  let inventory = inventory::load(config.inventory.as_deref())?;
  let mut selected: Vec<&str> = Vec::new();
  for name in &args.targets {
    match inventory.resolve(name) {
      Some(Target::Host(host)) => selected.push(host),
      Some(Target::Group(_, members)) => selected.extend(members),
      Some(Target::Local) | None => {
        return Err(Error::UnknownTarget {
          name: name.clone(),
          suggestion: inventory.suggest(name),
        });
      }
    }
  }
  let hosts: Vec<&Host> = inventory
    .hosts
    .iter()
    .filter(|h| selected.is_empty() || selected.contains(&h.name.as_str()))
    .collect();
  if config.format == Format::Json {
    ui::emit_json(&Output {
      hosts,
      groups: inventory.groups(),
    })?;
    return Ok(exit_code::SUCCESS);
  }
  let mut rows = vec![
    ["HOST", "GROUPS", "ROLE"]
      .map(|h| ui::style::bold(h).to_string())
      .to_vec(),
  ];
  for host in hosts {
    rows.push(vec![
      host.name.clone(),
      host.groups.join(","),
      host.role.clone().unwrap_or_default(),
    ]);
  }
  ui::emit(&ui::text::table(&rows))?;
  Ok(exit_code::SUCCESS)
}
