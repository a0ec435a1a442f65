//! The command line, and nothing else.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use clap_complete::ArgValueCompleter;

use crate::complete;

#[derive(Debug, Parser)]
#[command(
  name = "megacity",
  version,
  about = "Runbooks for on-call operators: checks, confirmed remediations and a record, over SSH",
  max_term_width = 100,
  after_help = EXAMPLES
)]
pub(crate) struct Cli {
  /// A runbook directory; its runbooks override the others by id [env: MEGACITY_RUNBOOKS]
  #[arg(long, global = true, value_name = "DIR")]
  pub(crate) runbooks: Option<PathBuf>,

  /// The inventory file (default: $MEGACITY_INVENTORY, then
  /// $XDG_CONFIG_HOME/megacity/inventory.yaml, then the embedded one)
  #[arg(long, global = true, value_name = "FILE")]
  pub(crate) inventory: Option<PathBuf>,

  /// Output format
  #[arg(long, global = true, value_enum, default_value_t = Format::Text)]
  pub(crate) format: Format,

  /// When to use colors (NO_COLOR is honoured with `auto`)
  #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
  pub(crate) color: ColorChoice,

  /// Where run journals are kept (default: $MEGACITY_JOURNAL_DIR, then
  /// $XDG_STATE_HOME/megacity/journal)
  #[arg(long, global = true, value_name = "DIR")]
  pub(crate) journal_dir: Option<PathBuf>,

  /// More detail on stderr (repeat for more)
  #[arg(short, long, global = true, action = clap::ArgAction::Count)]
  pub(crate) verbose: u8,

  /// Only errors on stderr
  #[arg(short, long, global = true, conflicts_with = "verbose")]
  pub(crate) quiet: bool,

  #[command(subcommand)]
  pub(crate) command: Command,
}

const EXAMPLES: &str = "\
Examples:
  megacity run redis-outage                    checks, then asks before each remediation
  megacity run redis-outage --checks-only      triage: checks only, nothing changes
  megacity run redis-outage --dry-run          rehearsal: walk every prompt, run nothing
  megacity run --resume last                   continue an interrupted run
  megacity runbook list                        every runbook
  megacity report last --postmortem            the postmortem draft of the last run";

const RUN_EXAMPLES: &str = "\
Examples:
  megacity run redis-outage
  megacity run redis-outage --checks-only
  megacity run redis-outage --dry-run
  megacity run disk-full --host api --from truncate-log
  megacity run redis-outage --var redis_port=6380
  megacity run --resume last

At a prompt: yes, no (skip), abort; `note <text>` adds a note to the record; `help` lists more.";

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
  Text,
  Json,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum ColorChoice {
  Auto,
  Always,
  Never,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
  /// Run a runbook: checks run, actions ask first, everything is recorded (= `runbook run`)
  #[command(after_help = RUN_EXAMPLES)]
  Run(RunArgs),
  /// Run, list, show and validate runbooks
  #[command(subcommand)]
  Runbook(RunbookCommand),
  /// Firing alerts from Alertmanager, each with the runbook that handles it and its hosts
  Alerts(AlertsArgs),
  /// Check everything a run will need: ssh, agent, each host's name, key, login, sudo and
  /// tools, the journal directory, runbook directories, completions
  Doctor(DoctorArgs),
  /// The inventory: hosts and groups
  #[command(subcommand)]
  Hosts(HostsCommand),
  /// Recorded runs
  #[command(subcommand)]
  Journal(JournalCommand),
  /// SSH connections kept open between commands (`--keep-connections`)
  #[command(subcommand)]
  Connections(ConnectionsCommand),
  /// A postmortem draft or a fire-drill scorecard from a recorded run (markdown)
  Report(ReportArgs),
  /// Print the shell completion script (it asks megacity for runbook, host and step names)
  Completions(CompletionsArgs),
  /// (internal) A Prometheus check's query, read from stdin, against MEGACITY_PROMETHEUS
  #[command(hide = true)]
  PrometheusQuery(PrometheusQueryArgs),
}

#[derive(Debug, Args)]
pub(crate) struct PrometheusQueryArgs {
  /// What no series means: `unknown`, or `pass`
  #[arg(long, value_parser = ["unknown", "pass"], default_value = "unknown")]
  pub(crate) empty: String,
}

#[derive(Debug, Subcommand)]
pub(crate) enum RunbookCommand {
  /// Every runbook: id, severity, title, hosts, step count
  List,
  /// One runbook: every step with its targets and commands
  Show(ShowArgs),
  /// Check runbooks and report every problem with file:line:column
  Validate(ValidateArgs),
  /// Run a runbook: checks run, actions ask first, everything is recorded
  #[command(after_help = RUN_EXAMPLES)]
  Run(RunArgs),
}

#[derive(Debug, Args)]
pub(crate) struct SshArgs {
  /// An ssh_config file to use instead of ~/.ssh/config (passed to ssh as -F)
  #[arg(long, value_name = "FILE")]
  pub(crate) ssh_config: Option<PathBuf>,
  /// Accept host keys not yet in known_hosts (ssh's accept-new); strict checking otherwise
  #[arg(long)]
  pub(crate) accept_new_host_keys: bool,
  /// How long to wait for a host to answer [default: 10s]
  #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
  pub(crate) connect_timeout: Option<std::time::Duration>,
  /// Keep the SSH connections open after this command, and reuse ones kept earlier, until idle
  /// for IDLE (default 30m); `megacity connections close` closes them all
  #[arg(
    long,
    value_name = "IDLE",
    env = "MEGACITY_KEEP_CONNECTIONS",
    num_args = 0..=1,
    require_equals = true,
    default_missing_value = "30m",
    value_parser = humantime::parse_duration
  )]
  pub(crate) keep_connections: Option<std::time::Duration>,
}

#[derive(Debug, Args)]
pub(crate) struct RunArgs {
  /// Runbook id (not needed with --resume; without one, the runbooks are listed)
  #[arg(add = ArgValueCompleter::new(complete::runbook_ids))]
  pub(crate) id: Option<String>,
  /// Continue an interrupted run (a run id, a prefix of one, or `last`) after its last
  /// completed step, with the same runbook, parameters and mode
  #[arg(long, value_name = "RUN", add = ArgValueCompleter::new(complete::runs), conflicts_with_all = ["vars", "dry_run", "checks_only", "from"])]
  pub(crate) resume: Option<String>,
  /// With --resume: go on even though the runbook changed since the interrupted run
  #[arg(long, requires = "resume")]
  pub(crate) resume_changed: bool,
  /// Rehearse: connect nowhere, run nothing; walk the prompts (or print the plan with --yes)
  #[arg(long, conflicts_with = "checks_only", help_heading = "Safety")]
  pub(crate) dry_run: bool,
  /// Triage: run the checks for real, never an action or manual step
  #[arg(long, help_heading = "Safety")]
  pub(crate) checks_only: bool,
  /// Confirm ordinary actions without asking (for runs without a terminal)
  #[arg(long, short = 'y', help_heading = "Safety")]
  pub(crate) yes: bool,
  /// With --yes, also run destructive actions without asking
  #[arg(long, requires = "yes", help_heading = "Safety")]
  pub(crate) yes_destructive: bool,
  /// Take over the lock another run holds on a host this run changes (its holder's session
  /// there is ended); recorded in the journal
  #[arg(long, help_heading = "Safety")]
  pub(crate) break_lock: bool,
  /// A parameter, or the answer to one of the runbook's questions, as NAME=VALUE (repeat for
  /// more; `megacity runbook show ID` lists them)
  #[arg(
    long = "var",
    value_name = "NAME=VALUE",
    value_parser = crate::runbook::values::parse_var,
    add = ArgValueCompleter::new(complete::parameters),
    help_heading = "What to run"
  )]
  pub(crate) vars: Vec<(String, String)>,
  /// Only these hosts or groups (local steps still run)
  #[arg(long = "host", value_name = "HOST|GROUP", add = ArgValueCompleter::new(complete::run_targets), help_heading = "What to run")]
  pub(crate) hosts: Vec<String>,
  /// Start at this step; conditions on earlier steps count as met
  #[arg(long, value_name = "STEP", add = ArgValueCompleter::new(complete::step_ids), help_heading = "What to run")]
  pub(crate) from: Option<String>,
  /// Hosts worked on at once (and new connections opened at once: behind a bastion, keep it
  /// under its sshd's MaxStartups) [default: 10]
  #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1000))]
  pub(crate) concurrency: Option<u16>,
  /// Show clock times in UTC instead of local time
  #[arg(long)]
  pub(crate) utc: bool,
  /// Run for this firing alert (a fingerprint, a prefix of one, or an alert name): its runbook
  /// on the hosts it names, recorded with the run
  #[arg(
    long,
    value_name = "ALERT",
    conflicts_with = "resume",
    help_heading = "What to run"
  )]
  pub(crate) alert: Option<String>,
  /// Alertmanager's base URL, for --alert (set in the environment, it is simply unused without
  /// --alert)
  #[arg(long, value_name = "URL", env = "MEGACITY_ALERTMANAGER")]
  pub(crate) alertmanager: Option<String>,
  /// After the run, keep asking Alertmanager for up to DURATION whether the alert resolved
  /// (recorded; a run whose alert still fires exits 1)
  #[arg(
    long,
    value_name = "DURATION",
    value_parser = humantime::parse_duration,
    requires = "alert"
  )]
  pub(crate) until_resolved: Option<std::time::Duration>,
  #[command(flatten)]
  pub(crate) ssh: SshArgs,
}

#[derive(Debug, Args)]
pub(crate) struct ShowArgs {
  /// Runbook id
  #[arg(add = ArgValueCompleter::new(complete::runbook_ids))]
  pub(crate) id: String,
  /// Show only these steps
  #[arg(long = "step", value_name = "STEP", add = ArgValueCompleter::new(complete::step_ids))]
  pub(crate) steps: Vec<String>,
  /// Render commands with this parameter value
  #[arg(
    long = "var",
    value_name = "NAME=VALUE",
    value_parser = crate::runbook::values::parse_var,
    add = ArgValueCompleter::new(complete::parameters)
  )]
  pub(crate) vars: Vec<(String, String)>,
}

#[derive(Debug, Args)]
pub(crate) struct ValidateArgs {
  /// Runbook ids or paths to runbook files (default: every runbook)
  #[arg(value_name = "ID|PATH", add = ArgValueCompleter::new(complete::runbook_ids_or_paths))]
  pub(crate) targets: Vec<String>,
  /// Treat warnings as errors
  #[arg(long)]
  pub(crate) deny_warnings: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum HostsCommand {
  /// Hosts with their roles and groups
  List(HostsListArgs),
  /// Connect to hosts in parallel and report which answer
  Check(HostsCheckArgs),
  /// Write a megacity inventory from an Ansible inventory (INI or YAML) or an ssh_config
  Import(HostsImportArgs),
}

#[derive(Debug, Args)]
pub(crate) struct HostsImportArgs {
  /// The file to read: an Ansible inventory (INI or YAML) or an ssh_config (its `Host` names)
  #[arg(value_name = "FILE")]
  pub(crate) file: PathBuf,
  /// Write the inventory here instead of stdout
  #[arg(long, short, value_name = "FILE")]
  pub(crate) output: Option<PathBuf>,
  /// Write how to reach the hosts (ansible_host, ansible_port) as an ssh_config snippet here;
  /// without it, the snippet is printed on stderr to add to your ssh_config
  #[arg(long, value_name = "FILE")]
  pub(crate) ssh_config_out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct HostsCheckArgs {
  /// Hosts or groups (default: every host)
  #[arg(value_name = "HOST|GROUP", add = ArgValueCompleter::new(complete::targets))]
  pub(crate) targets: Vec<String>,
  /// Hosts checked at once [default: 10]
  #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1000))]
  pub(crate) concurrency: Option<u16>,
  #[command(flatten)]
  pub(crate) ssh: SshArgs,
}

#[derive(Debug, Args)]
pub(crate) struct AlertsArgs {
  /// Alertmanager's base URL (its API v2 is under /api/v2)
  #[arg(long, value_name = "URL", env = "MEGACITY_ALERTMANAGER")]
  pub(crate) alertmanager: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct DoctorArgs {
  /// Hosts or groups (default: every inventory host)
  #[arg(value_name = "HOST|GROUP", add = ArgValueCompleter::new(complete::targets))]
  pub(crate) targets: Vec<String>,
  /// Hosts checked at once [default: 10]
  #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1000))]
  pub(crate) concurrency: Option<u16>,
  #[command(flatten)]
  pub(crate) ssh: SshArgs,
}

#[derive(Debug, Args)]
pub(crate) struct HostsListArgs {
  /// Only these hosts or groups
  #[arg(value_name = "HOST|GROUP", add = ArgValueCompleter::new(complete::targets))]
  pub(crate) targets: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ConnectionsCommand {
  /// Kept connections: host, user, ssh_config, age, idle limit, whether the master answers
  List,
  /// Close kept connections: every one, or those to the hosts named
  Close(ConnectionsCloseArgs),
}

#[derive(Debug, Args)]
pub(crate) struct ConnectionsCloseArgs {
  /// Only the connections to these hosts
  #[arg(value_name = "HOST", add = ArgValueCompleter::new(complete::targets))]
  pub(crate) hosts: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum JournalCommand {
  /// Recent runs: id, runbook, mode, start, duration, outcome
  List,
  /// One run as a readable timeline
  Show(JournalShowArgs),
}

#[derive(Debug, Args)]
pub(crate) struct JournalShowArgs {
  /// A run id, a unique prefix of one, or `last`
  #[arg(value_name = "RUN", add = ArgValueCompleter::new(complete::runs))]
  pub(crate) run: String,
  /// Print everything a step printed on a host (the full output, from the side file when it
  /// was long) instead of the timeline
  #[arg(long, num_args = 2, value_names = ["STEP", "HOST"])]
  pub(crate) output: Option<Vec<String>>,
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("kind").required(true).args(["postmortem", "drill", "status_update"]))]
pub(crate) struct ReportArgs {
  /// A run id, a unique prefix of one, or `last`
  #[arg(value_name = "RUN", add = ArgValueCompleter::new(complete::runs))]
  pub(crate) run: String,
  /// The postmortem template filled from the run
  #[arg(long)]
  pub(crate) postmortem: bool,
  /// The fire-drill scorecard
  #[arg(long)]
  pub(crate) drill: bool,
  /// The status-page update (investigating, or resolved once recovery was verified), to paste
  #[arg(long)]
  pub(crate) status_update: bool,
  /// Write to this file instead of stdout
  #[arg(long, short, value_name = "FILE")]
  pub(crate) output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct CompletionsArgs {
  #[arg(value_enum)]
  pub(crate) shell: clap_complete::Shell,
}

#[cfg(test)]
mod tests {
  use clap::CommandFactory;

  #[test]
  fn cli_is_consistent() {
    super::Cli::command().debug_assert();
  }

  /// Every command's man page, as `man/` should hold it: (file name, roff).
  fn man_pages() -> Vec<(String, Vec<u8>)> {
    fn walk(command: clap::Command, prefix: &str, out: &mut Vec<(String, Vec<u8>)>) {
      let name = if prefix.is_empty() {
        command.get_name().to_string()
      } else {
        format!("{prefix}-{}", command.get_name())
      };
      // The page's title is the whole command line: `megacity-runbook-run(1)`.
      let page = command
        .clone()
        .name(&*Box::leak(name.clone().into_boxed_str()));
      let mut roff = Vec::new();
      clap_mangen::Man::new(page).render(&mut roff).unwrap();
      out.push((format!("{name}.1"), roff));
      for sub in command
        .get_subcommands()
        .filter(|s| s.get_name() != "help" && !s.is_hide_set())
      {
        walk(sub.clone(), &name, out);
      }
    }
    let mut out = Vec::new();
    let mut command = super::Cli::command();
    command.build();
    walk(command, "", &mut out);
    out
  }

  /// `man/` is current; `MEGACITY_WRITE_MAN=1 cargo test --bin megacity man_pages` rewrites it.
  #[test]
  fn man_pages_are_current() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("man");
    let pages = man_pages();
    if std::env::var_os("MEGACITY_WRITE_MAN").is_some() {
      std::fs::create_dir_all(&dir).unwrap();
      for (file, roff) in &pages {
        std::fs::write(dir.join(file), roff).unwrap();
      }
    }
    for (file, roff) in &pages {
      let committed = std::fs::read(dir.join(file)).unwrap_or_default();
      assert!(
        committed == *roff,
        "man/{file} is stale: run `MEGACITY_WRITE_MAN=1 cargo test --bin megacity man_pages`"
      );
    }
    let expected: Vec<&str> = pages.iter().map(|(f, _)| f.as_str()).collect();
    for entry in std::fs::read_dir(&dir).unwrap().flatten() {
      let name = entry.file_name().to_string_lossy().into_owned();
      assert!(
        expected.contains(&name.as_str()),
        "man/{name} is for no command: remove it"
      );
    }
    assert!(expected.contains(&"megacity-run.1") && expected.contains(&"megacity-doctor.1"));
  }
}
