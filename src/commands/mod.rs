//! One file per subcommand; each takes the resolved config and returns an exit code.

pub(crate) mod alerts;
mod completions;

mod connections;
mod doctor;
mod hosts_check;
mod hosts_import;
mod hosts_list;
mod journal;
mod report;
mod runbook_list;
mod runbook_run;
mod runbook_show;
mod runbook_validate;

use crate::cli::{Cli, Command, ConnectionsCommand, HostsCommand, JournalCommand, RunbookCommand};
use crate::config::Config;
use crate::error::Error;

pub(crate) fn run(cli: Cli) -> Result<i32, Error> {
  let mut config = Config::from_cli(&cli);
  config.settings = crate::settings::Settings::load()?;
  match cli.command {
    Command::Runbook(RunbookCommand::List) => runbook_list::run(&config),
    Command::Runbook(RunbookCommand::Show(args)) => runbook_show::run(&config, &args),
    Command::Runbook(RunbookCommand::Validate(args)) => runbook_validate::run(&config, &args),
    Command::Doctor(args) => doctor::run(&config, &args),
    Command::Alerts(args) => alerts::run(&config, &args),
    Command::Hosts(HostsCommand::List(args)) => hosts_list::run(&config, &args),
    Command::Hosts(HostsCommand::Check(args)) => hosts_check::run(&config, &args),
    Command::Hosts(HostsCommand::Import(args)) => hosts_import::run(&config, &args),
    Command::Runbook(RunbookCommand::Run(args)) | Command::Run(args) => {
      runbook_run::run(&config, &args)
    }
    Command::Journal(JournalCommand::List) => journal::list(&config),
    Command::Journal(JournalCommand::Show(args)) => journal::show(&config, &args),
    Command::Connections(ConnectionsCommand::List) => connections::list(&config),
    Command::Connections(ConnectionsCommand::Close(args)) => connections::close(&config, &args),
    Command::Report(args) => report::run(&config, &args),
    Command::PrometheusQuery(args) => Ok(crate::prometheus::run(
      config.settings.prometheus.as_deref(),
      args.empty == "pass",
    )),
    Command::Completions(args) => completions::run(&config, &args),
  }
}
