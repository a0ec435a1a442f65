//! Dynamic values for shell completion: runbook ids, hosts and groups, step ids, parameters.
//! The shell calls `COMPLETE=<shell> megacity -- <words>`; clap_complete calls these.

use std::ffi::OsStr;
use std::path::PathBuf;

use clap_complete::CompletionCandidate;

use crate::cli::Format;
use crate::config::Config;
use crate::runbook::catalog::Catalog;

/// The environment variable the registration scripts set.
pub(crate) const VAR: &str = "COMPLETE";

/// The words being completed, when this process is a completion request.
fn words() -> Vec<String> {
  std::env::args().skip_while(|a| a != "--").skip(1).collect()
}

fn flag_value(words: &[String], flag: &str) -> Option<PathBuf> {
  let prefix = format!("{flag}=");
  words.iter().enumerate().find_map(|(i, w)| {
    if w == flag {
      words.get(i + 1).map(PathBuf::from)
    } else {
      w.strip_prefix(&prefix).map(PathBuf::from)
    }
  })
}

/// The configuration the command line being completed would use.
fn config(words: &[String]) -> Config {
  Config::resolve(
    flag_value(words, "--runbooks"),
    flag_value(words, "--inventory"),
    flag_value(words, "--journal-dir").as_deref(),
    Format::Text,
  )
}

fn catalog(config: &Config) -> Catalog {
  Catalog::discover(&config.runbook_dirs).unwrap_or_default()
}

fn matching(current: &OsStr) -> impl Fn(&&str) -> bool + '_ {
  let current = current.to_str().unwrap_or("");
  move |candidate| candidate.starts_with(current)
}

pub(crate) fn runbook_ids(current: &OsStr) -> Vec<CompletionCandidate> {
  let config = config(&words());
  catalog(&config)
    .ids()
    .filter(matching(current))
    .map(CompletionCandidate::new)
    .collect()
}

pub(crate) fn runbook_ids_or_paths(current: &OsStr) -> Vec<CompletionCandidate> {
  let text = current.to_str().unwrap_or("");
  if text.contains('/') || text.starts_with('.') {
    use clap_complete::engine::ValueCompleter;
    return clap_complete::engine::PathCompleter::file().complete(current);
  }
  runbook_ids(current)
}

pub(crate) fn targets(current: &OsStr) -> Vec<CompletionCandidate> {
  let config = config(&words());
  let Ok(inventory) = crate::inventory::load(config.inventory.as_deref()) else {
    return Vec::new();
  };
  let accept = matching(current);
  let mut out: Vec<CompletionCandidate> = inventory
    .hosts
    .iter()
    .filter(|h| accept(&h.name.as_str()))
    .map(|h| CompletionCandidate::new(&h.name).help(h.role.clone().map(Into::into)))
    .collect();
  for (group, members) in inventory.groups() {
    if accept(&group) {
      out.push(
        CompletionCandidate::new(group).help(Some(format!("group: {}", members.join(", ")).into())),
      );
    }
  }
  out
}

/// `runbook run ID --host`: the hosts that runbook names and the groups they are in (every
/// target while no runbook is on the line).
pub(crate) fn run_targets(current: &OsStr) -> Vec<CompletionCandidate> {
  let words = words();
  let config = config(&words);
  let (Some(runbook), Ok(inventory)) = (
    runbook_in(&words, &config),
    crate::inventory::load(config.inventory.as_deref()),
  ) else {
    return targets(current);
  };
  let mut hosts = inventory.expand(
    runbook
      .steps
      .iter()
      .flat_map(|s| &s.targets)
      .map(|t| t.value.as_str()),
  );
  hosts.retain(|h| h != crate::inventory::LOCAL);
  let accept = matching(current);
  let mut out: Vec<CompletionCandidate> = inventory
    .hosts
    .iter()
    .filter(|h| hosts.contains(&h.name) && accept(&h.name.as_str()))
    .map(|h| CompletionCandidate::new(&h.name).help(h.role.clone().map(Into::into)))
    .collect();
  for (group, members) in inventory.groups() {
    if accept(&group) && members.iter().any(|m| hosts.iter().any(|h| h == m)) {
      out.push(
        CompletionCandidate::new(group).help(Some(format!("group: {}", members.join(", ")).into())),
      );
    }
  }
  out
}

/// The runbook named on the command line being completed: the first word that is a runbook id.
fn runbook_in(words: &[String], config: &Config) -> Option<crate::runbook::Runbook> {
  let catalog = catalog(config);
  let entry = words.iter().find_map(|w| catalog.get(w).ok())?;
  let source = entry.source().ok()?;
  crate::runbook::load(&source, Some(&entry.id), None).runbook
}

pub(crate) fn step_ids(current: &OsStr) -> Vec<CompletionCandidate> {
  let words = words();
  let Some(runbook) = runbook_in(&words, &config(&words)) else {
    return Vec::new();
  };
  let accept = matching(current);
  runbook
    .steps
    .iter()
    .filter(|s| accept(&s.id.value.as_str()))
    .map(|s| CompletionCandidate::new(&s.id.value).help(Some(s.title.clone().into())))
    .collect()
}

/// `--var name=value`: parameter and question names (with `=`), then the named one's choices.
pub(crate) fn parameters(current: &OsStr) -> Vec<CompletionCandidate> {
  let words = words();
  let Some(runbook) = runbook_in(&words, &config(&words)) else {
    return Vec::new();
  };
  let text = current.to_str().unwrap_or("");
  if let Some((name, value)) = text.split_once('=') {
    let choices: Vec<&str> = match (runbook.parameter(name), runbook.question(name)) {
      (Some(p), _) => p.choices.iter().map(|c| c.value.as_str()).collect(),
      (None, Some(q)) => q.choices.iter().map(|(c, _)| c.value.as_str()).collect(),
      (None, None) => Vec::new(),
    };
    return choices
      .into_iter()
      .filter(|c| c.starts_with(value))
      .map(|c| CompletionCandidate::new(format!("{name}={c}")))
      .collect();
  }
  let parameters = runbook
    .parameters
    .iter()
    .map(|p| (p.name.value.as_str(), p.help.clone()));
  // A question answered ahead of time is given the same way.
  let questions = runbook
    .questions()
    .map(|q| (q.name.value.as_str(), q.help.clone()));
  parameters
    .chain(questions)
    .filter(|(name, _)| name.starts_with(text))
    .map(|(name, help)| CompletionCandidate::new(format!("{name}=")).help(help.map(Into::into)))
    .collect()
}

/// Recorded run ids, newest first, and `last`.
pub(crate) fn runs(current: &OsStr) -> Vec<CompletionCandidate> {
  let dir = config(&words()).journal_dir;
  let text = current.to_str().unwrap_or("");
  std::iter::once("last".to_string())
    .chain(
      crate::journal::list(&dir)
        .iter()
        .filter_map(|p| p.file_stem()?.to_str().map(str::to_string)),
    )
    .filter(|id| id.starts_with(text))
    .map(CompletionCandidate::new)
    .collect()
}
