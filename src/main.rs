//! megacity: runbooks for on-call operators.

#[macro_use]
mod macros;
mod notify;
mod prometheus;

mod alerts;
mod cli;
mod commands;
mod complete;
mod config;
mod diagnostic;
mod embedded;
mod error;
mod exec;
mod exit_code;
mod inventory;
mod inventory_import;
mod journal;
mod report;
mod runbook;
mod schema;
mod settings;
mod shell;
mod source;
mod ui;
mod yaml;

use clap::{CommandFactory, Parser};

fn main() {
  // A completion request is answered before anything else runs (and before stdout is used).
  clap_complete::CompleteEnv::with_factory(cli::Cli::command)
    .var(complete::VAR)
    .completer("megacity")
    .complete();

  let cli = cli::Cli::parse();
  config::decide_color(cli.color);
  init_tracing(cli.verbose, cli.quiet);
  let code = match commands::run(cli) {
    Ok(code) => code,
    Err(error) => {
      ui::render_error(&error);
      error.exit_code()
    }
  };
  std::process::exit(code);
}

fn init_tracing(verbose: u8, quiet: bool) {
  let level = match (quiet, verbose) {
    (true, _) => "error",
    (false, 0) => "warn",
    (false, 1) => "info",
    (false, 2) => "debug",
    _ => "trace",
  };
  let filter = tracing_subscriber::EnvFilter::try_from_env("MEGACITY_LOG")
    .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("megacity={level}")));
  tracing_subscriber::fmt()
    .with_env_filter(filter)
    .with_writer(std::io::stderr)
    .without_time()
    .init();
}
