//! `alerts`: what is firing, and which runbook handles each alert on which hosts.

use crate::alerts;
use crate::cli::AlertsArgs;
use crate::config::Config;
use crate::error::Error;
use crate::exit_code;
use crate::inventory;
use crate::runbook::catalog::Catalog;
use crate::ui::render::{self, Alerts};

/// Alertmanager's URL: the flag, else the environment, else the config file.
pub(crate) fn alertmanager<'c>(
  config: &'c Config,
  flag: Option<&'c str>,
) -> Result<&'c str, Error> {
  flag
    .or(config.settings.alertmanager.as_deref())
    .ok_or(Error::NoAlertmanager)
}

pub(crate) fn run(config: &Config, args: &AlertsArgs) -> Result<i32, Error> {
  let url = alertmanager(config, args.alertmanager.as_deref())?;
  let inventory = inventory::load(config.inventory.as_deref())?;
  let runbooks = runbooks(config)?;
  let firing = alerts::fetch(url)?;
  let view = Alerts {
    alerts: firing
      .iter()
      .map(|a| alerts::route(a, &runbooks, &inventory))
      .collect(),
  };
  render::emit(&view, config.format)?;
  Ok(exit_code::SUCCESS)
}

/// Every runbook that parses, for matching alerts to them.
pub(crate) fn runbooks(config: &Config) -> Result<Vec<crate::runbook::Runbook>, Error> {
  Ok(Catalog::discover(&config.runbook_dirs)?.parsed())
}
