//! The plan: which steps run on which hosts, with the exact command for each host.

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::exec::privilege::with_privilege;
use crate::inventory::LOCAL;
use crate::inventory::{Inventory, Target};
use crate::runbook::Runbook;
use crate::runbook::model::{Shell, Step};
use crate::runbook::template::Quoting;
use crate::runbook::values::Values;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum RunMode {
  Live,
  ChecksOnly,
  DryRun,
}

#[derive(Clone, Debug)]
pub(crate) struct Command {
  pub(crate) host: String,
  /// What runs: values quoted, secrets in clear, sudo applied. Never shown or recorded.
  pub(crate) exec: String,
  /// What is shown: the same with secrets masked.
  pub(crate) display: String,
}

pub(crate) struct PlannedStep<'r> {
  pub(crate) number: usize,
  pub(crate) step: &'r Step,
  /// Hosts in inventory order (`local` last); empty for a manual step without targets, and
  /// until run time for targets named by a value learned during the run.
  pub(crate) hosts: Vec<String>,
  /// Rendered before the run; empty where the command uses a value learned during the run,
  /// which the engine renders when the step runs.
  pub(crate) commands: Vec<Command>,
  /// Before `--from`: not run, and conditions on it count as met.
  pub(crate) before_start: bool,
  /// Its targets name a value learned during the run: its hosts are known only when it runs.
  /// (Targets named by parameters are resolved here, like written names.)
  pub(crate) learned_targets: bool,
  /// The title with its values; updated when the step starts if it uses values learned then.
  title: std::sync::Mutex<String>,
}

impl PlannedStep<'_> {
  pub(crate) fn command(&self, host: &str) -> Option<&Command> {
    self.commands.iter().find(|c| c.host == host)
  }

  pub(crate) fn title(&self) -> String {
    self.title.lock().unwrap().clone()
  }

  pub(crate) fn set_title(&self, title: String) {
    *self.title.lock().unwrap() = title;
  }
}

/// A command as handed to the transport: under the step's shell, then its privilege.
pub(crate) fn wrap(command: &str, shell: Shell, sudo: bool) -> Result<String, String> {
  let under_shell = match shell {
    Shell::Sh => command.to_string(),
    // pipefail: a failing `cmd | grep` fails the step, as the author means it to.
    Shell::Bash => format!("bash -o pipefail -c {}", crate::shell::quote(command)?),
  };
  with_privilege(&under_shell, sudo)
}

pub(crate) struct Plan<'r> {
  pub(crate) runbook: &'r Runbook,
  pub(crate) mode: RunMode,
  pub(crate) steps: Vec<PlannedStep<'r>>,
  pub(crate) values: Values,
  /// Every inventory host: what a target learned during the run may name.
  pub(crate) inventory_hosts: Vec<String>,
}

impl<'r> Plan<'r> {
  pub(crate) fn new(
    runbook: &'r Runbook,
    inventory: &Inventory,
    values: Values,
    mode: RunMode,
    only_hosts: &[String],
    from: Option<&str>,
  ) -> Result<Plan<'r>, Error> {
    let mut narrowed: Vec<&str> = Vec::new();
    for name in only_hosts {
      match inventory.resolve(name) {
        Some(Target::Host(h)) => narrowed.push(h),
        Some(Target::Group(_, members)) => narrowed.extend(members),
        Some(Target::Local) => narrowed.push(LOCAL),
        None => {
          return Err(Error::UnknownTarget {
            name: name.clone(),
            suggestion: inventory.suggest(name),
          });
        }
      }
    }
    let start = match from {
      None => 0,
      Some(id) => runbook
        .steps
        .iter()
        .position(|s| s.id.value == id)
        .ok_or_else(|| Error::UnknownStep {
          runbook: runbook.id.clone(),
          step: id.to_string(),
          suggestion: crate::diagnostic::did_you_mean(
            id,
            runbook.steps.iter().map(|s| s.id.value.as_str()),
          ),
        })?,
    };
    let mut steps = Vec::new();
    for (index, step) in runbook.steps.iter().enumerate() {
      // Targets named by a value learned during the run are resolved when the step runs.
      let learned_targets =
        step.dynamic_targets() && !step.targets.iter().all(|t| values.knows_all(&t.value));
      let mut hosts = if learned_targets {
        Vec::new()
      } else {
        let mut names = Vec::new();
        for target in &step.targets {
          let name = values
            .render(&target.value, "", Quoting::Text, &|_| None)
            .map_err(|reason| Error::UnusableValue { reason })?;
          let name = name.trim().to_string();
          // A parameter naming no host or group: a usage error, before anything connects.
          // (A written name the inventory lacks is validation's to report.)
          if target.value.contains("{{") && inventory.resolve(&name).is_none() {
            return Err(Error::UnknownTarget {
              suggestion: inventory.suggest(&name),
              name,
            });
          }
          names.push(name);
        }
        inventory.expand(names.iter().map(String::as_str))
      };
      if !narrowed.is_empty() {
        hosts.retain(|h| h == LOCAL || narrowed.contains(&h.as_str()));
      }
      let mut commands = Vec::new();
      let deferred = step.command().is_some_and(|t| !values.knows_all(t));
      let shell = step.shell.unwrap_or(runbook.shell);
      if let Some(template) = step.command().filter(|_| !deferred) {
        for host in &hosts {
          let rendered = values
            .command(template, host)
            .map_err(|reason| Error::UnusableValue { reason })?;
          let exec =
            wrap(&rendered, shell, step.sudo).map_err(|reason| Error::UnusableValue { reason })?;
          // Shown as written; the UI marks root steps with `#`.
          let display = values.display(template, Some(host), Quoting::Shell);
          commands.push(Command {
            host: host.clone(),
            exec,
            display,
          });
        }
      }
      steps.push(PlannedStep {
        number: index + 1,
        step,
        hosts,
        commands,
        before_start: index < start,
        learned_targets,
        title: std::sync::Mutex::new(values.display(&step.title, None, Quoting::Text)),
      });
    }
    // A `--host` that matches none of the runbook's hosts would skip every step and look like
    // success; it is a typo or the wrong runbook.
    if !narrowed.is_empty()
      && !steps.iter().any(|s| s.learned_targets)
      && !steps
        .iter()
        .flat_map(|s| &s.hosts)
        .any(|h| narrowed.contains(&h.as_str()))
    {
      let mut runbook_hosts = inventory.expand(
        runbook
          .steps
          .iter()
          .flat_map(|s| &s.targets)
          .map(|t| t.value.as_str()),
      );
      runbook_hosts.retain(|h| h != LOCAL);
      return Err(Error::NoSelectedHost {
        runbook: runbook.id.clone(),
        hosts: only_hosts.to_vec(),
        runbook_hosts,
      });
    }
    Ok(Plan {
      runbook,
      mode,
      steps,
      values,
      inventory_hosts: inventory.host_names(),
    })
  }

  /// Every remote host the plan may touch, in order: what the preflight connects to.
  pub(crate) fn remote_hosts(&self) -> Vec<String> {
    self.remote_hosts_of(|_| true)
  }

  /// Remote hosts where some action may run: a live run locks them.
  pub(crate) fn changed_hosts(&self) -> Vec<String> {
    let acts =
      |s: &PlannedStep<'_>| matches!(s.step.kind, crate::runbook::model::StepKind::Action { .. });
    // An action whose host is learned during the run may act on any inventory host; only the
    // hosts the run actually connects to are locked.
    if self.steps.iter().any(|s| acts(s) && s.learned_targets) {
      let mut all = self.remote_hosts();
      all.extend(
        self
          .inventory_hosts
          .iter()
          .filter(|h| !all.contains(h))
          .cloned()
          .collect::<Vec<_>>(),
      );
      return all;
    }
    self.remote_hosts_of(acts)
  }

  /// Hosts where some step runs as root: the preflight checks that sudo works there.
  pub(crate) fn sudo_hosts(&self) -> Vec<String> {
    self.remote_hosts_of(|s| s.step.sudo)
  }

  /// Remote hosts of the steps from `--from` on that `wanted` picks, in order, once each.
  fn remote_hosts_of(&self, wanted: impl Fn(&PlannedStep<'_>) -> bool) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for step in self.steps.iter().filter(|s| !s.before_start && wanted(s)) {
      for host in &step.hosts {
        if host != LOCAL && !out.contains(host) {
          out.push(host.clone());
        }
      }
    }
    out
  }
}
