//! `--resume`: the interrupted run's journal, opened and checked before anything else happens.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::error::Error;
use crate::exec::engine::Prior;
use crate::exec::event::StepRecord;
use crate::exec::plan::Plan;
use crate::journal::{self, Journal, Record};

/// What a resumed run takes over from the interrupted one.
pub(crate) struct Resume {
  path: PathBuf,
  read: journal::Read,
  pub(crate) header: journal::Header,
}

impl Resume {
  /// The journal of `run`; refused when it is not a journal, completed, or of another runbook
  /// than the `id` given.
  pub(crate) fn open(dir: &Path, run: &str, id: Option<&str>) -> Result<Resume, Error> {
    let path = journal::find(dir, run)?;
    let read = journal::read(&path)?;
    let header = read
      .header()
      .cloned()
      .ok_or_else(|| Error::NotAJournal { path: path.clone() })?;
    if read.end() == Some(journal::RunEnd::Completed) {
      return Err(Error::ResumeCompleted {
        run: read.run_id(),
        runbook: header.runbook,
      });
    }
    if let Some(id) = id
      && id != header.runbook
    {
      return Err(Error::ResumeOtherRunbook {
        run: read.run_id(),
        runbook: header.runbook,
        given: id.to_string(),
      });
    }
    Ok(Resume { path, read, header })
  }

  /// Refuses a runbook whose text changed since the run started, unless the operator insists.
  pub(crate) fn check_unchanged(&self, text: &str, insist: bool) -> Result<(), Error> {
    if insist || journal::sha256(text) == self.header.hash {
      return Ok(());
    }
    Err(Error::RunbookChanged {
      runbook: self.header.runbook.clone(),
      run: self.read.run_id(),
    })
  }

  /// Reopens the journal for appending, and what the engine needs to carry on.
  pub(crate) fn continue_in(
    self,
    plan: &Plan<'_>,
  ) -> Result<(Journal, Prior, journal::Header), Error> {
    let journal = Journal::reopen(&self.path)?;
    let started = journal::parse_time(&self.header.started).unwrap_or_else(SystemTime::now);
    let elapsed = SystemTime::now()
      .duration_since(started)
      .unwrap_or(Duration::ZERO);
    // Time rungs only (a rung on findings has a reason), by whom they called.
    let announced = self
      .read
      .records
      .iter()
      .filter_map(|x| match x {
        Record::Escalation {
          to, reason: None, ..
        } => Some(to.clone()),
        _ => None,
      })
      .collect();
    let raised = self.read.records.iter().rev().find_map(|x| match x {
      Record::SeverityRaised { to, .. } => crate::runbook::model::Severity::parse(to),
      _ => None,
    });
    Ok((
      journal,
      Prior {
        records: rejudge_guards(plan, with_kinds(plan, self.read.prior())),
        elapsed,
        announced,
        raised,
      },
      self.header,
    ))
  }
}

/// Prior results, with each step's kind taken from the plan (steps no longer in it are dropped).
fn with_kinds(plan: &Plan<'_>, prior: Vec<StepRecord>) -> Vec<StepRecord> {
  prior
    .into_iter()
    .filter_map(|mut record| {
      let planned = plan.steps.iter().find(|s| s.step.id.value == record.id)?;
      record.kind = planned.step.kind_name();
      Some(record)
    })
    .collect()
}

/// Forgets the results of the checks that guard the first step still to do, so that they run
/// again: what they found before the interruption may no longer be true.
fn rejudge_guards(plan: &Plan<'_>, mut prior: Vec<StepRecord>) -> Vec<StepRecord> {
  let next = plan
    .steps
    .iter()
    .find(|s| !s.before_start && !prior.iter().any(|r| r.id == s.step.id.value));
  if let Some(next) = next {
    let guards: Vec<&str> = next
      .step
      .when
      .references()
      .map(|id| id.value.as_str())
      .collect();
    prior.retain(|r| !(r.kind == "check" && guards.contains(&r.id.as_str())));
  }
  prior
}
