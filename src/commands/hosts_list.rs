//! `hosts list`: the inventory's hosts, or those of the hosts and groups named.

use crate::cli::HostsListArgs;
use crate::config::Config;
use crate::error::Error;
use crate::exit_code;
use crate::inventory::{self, Host, Target};
use crate::ui::render::{self, HostsList};

pub(crate) fn run(config: &Config, args: &HostsListArgs) -> Result<i32, Error> {
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
  let view = HostsList {
    hosts,
    groups: inventory.groups(),
  };
  render::emit(&view, config.format)?;
  Ok(exit_code::SUCCESS)
}
