//! The plan: which steps run on which hosts, with the exact command for each host.

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::exec::privilege::with_privilege;
use crate::inventory::LOCAL;
use crate::inventory::{Inventory, Target};
use crate::runbook::Runbook;
use crate::runbook::model::Step;
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
  /// Hosts in inventory order (`local` last); empty for a manual step without targets.
  pub(crate) hosts: Vec<String>,
  pub(crate) commands: Vec<Command>,
  /// Before `--from`: not run, and conditions on it count as met.
  pub(crate) before_start: bool,
}

impl PlannedStep<'_> {
  pub(crate) fn command(&self, host: &str) -> Option<&Command> {
    self.commands.iter().find(|c| c.host == host)
  }
}

pub(crate) struct Plan<'r> {
  pub(crate) runbook: &'r Runbook,
  pub(crate) mode: RunMode,
  pub(crate) steps: Vec<PlannedStep<'r>>,
  pub(crate) values: Values,
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
      let mut hosts = inventory.expand(step.targets.iter().map(|t| t.value.as_str()));
      if !narrowed.is_empty() {
        hosts.retain(|h| h == LOCAL || narrowed.contains(&h.as_str()));
      }
      let mut commands = Vec::new();
      if let Some(template) = step.command() {
        for host in &hosts {
          let rendered = values
            .command(template, host)
            .map_err(|reason| Error::UnusableValue { reason })?;
          let exec = with_privilege(&rendered, step.sudo)
            .map_err(|reason| Error::UnusableValue { reason })?;
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
      });
    }
    // A `--host` that matches none of the runbook's hosts would skip every step and look like
    // success; it is a typo or the wrong runbook.
    if !narrowed.is_empty()
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
    })
  }

  /// Every remote host the plan may touch, in order: what the preflight connects to.
  pub(crate) fn remote_hosts(&self) -> Vec<String> {
    self.remote_hosts_of(|_| true)
  }

  /// Remote hosts where some action may run: a live run locks them.
  pub(crate) fn changed_hosts(&self) -> Vec<String> {
    self.remote_hosts_of(|s| matches!(s.step.kind, crate::runbook::model::StepKind::Action { .. }))
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
