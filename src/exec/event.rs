//! What the engine tells the operator, and what it asks. The engine knows these types only;
//! the UI implements `Reporter` and `Operator`.

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::exec::expect::Verdict;
use crate::exec::plan::{Plan, PlannedStep, RunMode};
use crate::exec::transport::Output;
use crate::runbook::model::Rung;
use futures_util::future::BoxFuture;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Outcome {
  Passed,
  Failed,
  /// Its `when:` did not hold, or it comes before `--from`.
  Skipped,
  /// Not run by a rule: an unattended run without the flag for it, another run's lock.
  Declined,
  /// A person said skip (or no) at its prompt.
  OperatorSkipped,
  /// A person said abort at its prompt: the run ended there.
  Aborted,
  /// The host could not be reached; it sits out the rest of the run.
  Unreachable,
  /// A dry run walked it; nothing ran.
  Rehearsed,
  /// `--checks-only`: an action or manual step that was not run.
  NotRun,
  /// A manual step shown to an unattended run: nobody confirmed it was done.
  Unconfirmed,
  /// Cut off by Ctrl-C or a signal while it ran: it may have done part of its work.
  Interrupted,
  /// A check that could not judge: no connection, command not found, a timeout, a lost
  /// connection, no number for a threshold. Neither passed nor failed: `when: {failed: …}`
  /// does not fire on it.
  Unknown,
  /// `--checks-only`: a check that verifies an action that did not run, so there is nothing
  /// to verify.
  NotApplicable,
}

impl Outcome {
  /// How summaries and reports name it; failures in capitals so they stand out in a table.
  pub(crate) fn label(self) -> &'static str {
    match self {
      Outcome::Passed => "passed",
      Outcome::Failed => "FAILED",
      Outcome::Skipped => "skipped",
      Outcome::Declined => "declined",
      Outcome::OperatorSkipped => "skipped by operator",
      Outcome::Aborted => "aborted",
      Outcome::Unreachable => "UNREACHABLE",
      Outcome::Rehearsed => "rehearsed",
      Outcome::NotRun => "not run",
      Outcome::Unconfirmed => "unconfirmed",
      Outcome::Interrupted => "INTERRUPTED",
      Outcome::Unknown => "UNKNOWN",
      Outcome::NotApplicable => "not applicable",
    }
  }
}

/// The host a manual step's result is recorded under: it runs on no machine, only on a person.
pub(crate) const MANUAL_HOST: &str = "-";

#[derive(Clone, Debug)]
pub(crate) struct HostResult {
  pub(crate) host: String,
  pub(crate) outcome: Outcome,
  pub(crate) verdict: Option<Verdict>,
  /// Output with secrets masked.
  pub(crate) output: Option<Output>,
  /// Why it could not run (connection, timeout, interruption, sudo).
  pub(crate) error: Option<String>,
  pub(crate) duration: Duration,
  pub(crate) attempts: u32,
  /// The command as shown (secrets masked), where it was rendered when the step ran.
  pub(crate) command: Option<String>,
  /// Values taken from the output (`capture:`), or the answer to a question: (name, value as
  /// shown; a secret one masked).
  pub(crate) captured: Vec<(String, String)>,
  /// A wait's polls: when, and the number watched (or whether the expectation held).
  pub(crate) samples: Vec<Sample>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Sample {
  /// Since the wait started.
  pub(crate) at_ms: u64,
  #[serde(default, skip_serializing_if = "Option::is_none")]
  pub(crate) value: Option<f64>,
  pub(crate) passed: bool,
}

impl HostResult {
  pub(crate) fn new(host: &str, outcome: Outcome) -> HostResult {
    HostResult {
      host: host.to_string(),
      outcome,
      verdict: None,
      output: None,
      error: None,
      duration: Duration::ZERO,
      attempts: 0,
      command: None,
      captured: Vec::new(),
      samples: Vec::new(),
    }
  }
}

#[derive(Clone, Debug)]
pub(crate) struct StepRecord {
  pub(crate) id: String,
  pub(crate) kind: &'static str,
  pub(crate) results: Vec<HostResult>,
}

impl StepRecord {
  /// A step's record before any host has a result.
  pub(crate) fn new(planned: &PlannedStep<'_>) -> StepRecord {
    StepRecord {
      id: planned.step.id.value.clone(),
      kind: planned.step.kind_name(),
      results: Vec::new(),
    }
  }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum RunEnd {
  /// Every step was walked.
  Completed,
  /// A step failed and its policy (or the operator after it) said abort.
  Stopped,
  /// The operator aborted.
  Aborted,
  /// Ctrl-C twice, or a signal.
  Interrupted,
}

#[derive(Clone, Copy)]
pub(crate) enum Event<'a> {
  Start {
    plan: &'a Plan<'a>,
    /// How long the incident had already run (a resumed run): zero for a new one.
    elapsed: Duration,
  },
  /// The preflight starts connecting to these hosts.
  Connecting {
    hosts: &'a [String],
  },
  Preflight {
    host: &'a str,
    problem: Option<&'a str>,
    /// How many hosts have answered so far, of how many.
    of: Option<(usize, usize)>,
  },
  StepStart {
    planned: &'a PlannedStep<'a>,
    hosts: &'a [String],
  },
  StepSkipped {
    planned: &'a PlannedStep<'a>,
    reason: &'a str,
  },
  HostRunning {
    planned: &'a PlannedStep<'a>,
    host: &'a str,
    attempt: u32,
  },
  /// A wait polled: what it saw, and how long it may still wait.
  Waiting {
    planned: &'a PlannedStep<'a>,
    host: &'a str,
    seen: &'a str,
    left: Duration,
  },
  HostDone {
    planned: &'a PlannedStep<'a>,
    result: &'a HostResult,
  },
  /// A dry run or checks-only run shows what would run instead of running it.
  WouldRun {
    planned: &'a PlannedStep<'a>,
    host: &'a str,
    command: &'a str,
    note: Option<&'a str>,
  },
  Manual {
    planned: &'a PlannedStep<'a>,
    instructions: &'a str,
  },
  Notice(&'a str),
  /// What the operator answered, and to what.
  Decision {
    planned: &'a PlannedStep<'a>,
    host: Option<&'a str>,
    question: &'static str,
    answer: Answer,
    /// When the prompt appeared; `None` when nobody was asked (`--yes`, a policy).
    shown: Option<SystemTime>,
    by: DecidedBy,
    /// The value given, for a question (an answer to `input` or `choice`).
    value: Option<&'a str>,
  },
  Note {
    planned: Option<&'a PlannedStep<'a>>,
    text: &'a str,
  },
  /// The run has lasted as long as this rung of the escalation ladder.
  Escalation {
    rung: &'a Rung,
    elapsed: Duration,
  },
  /// A rung on findings fired: `reason` is its condition in words.
  EscalationOn {
    to: &'a str,
    reason: &'a str,
    elapsed: Duration,
  },
  /// A step made the incident more severe.
  SeverityRaised {
    planned: &'a PlannedStep<'a>,
    from: crate::runbook::model::Severity,
    to: crate::runbook::model::Severity,
  },
  /// Every host of the step has its outcome (a resumed run continues after the last of these).
  StepDone {
    planned: &'a PlannedStep<'a>,
  },
  /// Steps completed by the run this one resumes.
  Resumed {
    done: &'a [StepRecord],
  },
  Finish {
    plan: &'a Plan<'a>,
    records: &'a [StepRecord],
    end: RunEnd,
    elapsed: Duration,
    /// What the run's exit code will be (README "Exit codes").
    exit_code: i32,
  },
}

pub(crate) trait Reporter: Send + Sync {
  fn event(&self, event: Event<'_>);
  /// Ends any live display (progress lines) before a prompt takes the terminal.
  fn pause(&self) {}
  /// The prompt is answered: anything held back while it was open may show now.
  fn resume(&self) {}
  /// Why this reporter can no longer keep the record (a journal whose disk is full): the run
  /// changes nothing more without a record.
  fn failure(&self) -> Option<String> {
    None
  }
}

/// Sends every event to each reporter in turn: the screen and the journal.
pub(crate) struct Tee<'a>(pub(crate) Vec<&'a dyn Reporter>);

impl Reporter for Tee<'_> {
  fn event(&self, event: Event<'_>) {
    for reporter in &self.0 {
      reporter.event(event);
    }
  }

  fn pause(&self) {
    self.0.iter().for_each(|r| r.pause());
  }

  fn resume(&self) {
    self.0.iter().for_each(|r| r.resume());
  }

  fn failure(&self) -> Option<String> {
    self.0.iter().find_map(|r| r.failure())
  }
}

/// What the operator decided, and any notes typed at the prompt ("replication lag 30s").
pub(crate) struct Decision {
  pub(crate) answer: Answer,
  /// Who took it.
  pub(crate) by: DecidedBy,
  pub(crate) notes: Vec<String>,
  /// When a person was shown the question; `None` when no prompt was shown (`--yes`, policy).
  pub(crate) shown: Option<SystemTime>,
  /// The value typed or picked, for a question.
  pub(crate) value: Option<String>,
}

impl From<Answer> for Decision {
  /// A decision nobody was asked for: taken by policy or a flag.
  fn from(answer: Answer) -> Decision {
    Decision {
      answer,
      by: DecidedBy::Policy,
      notes: Vec::new(),
      shown: None,
      value: None,
    }
  }
}

pub(crate) enum Request<'a> {
  /// Run this action on this host? Destructive ones need the host name typed.
  Confirm {
    planned: &'a PlannedStep<'a>,
    host: &'a str,
    text: String,
    command: &'a str,
    destructive: bool,
    /// A dry run: nothing will run whatever the answer.
    rehearsal: bool,
    /// Why it is offered: the findings that met its `when:` ("redis-ping failed on …: …").
    why: Option<String>,
    /// Every step of the run so far and where it stands, for `steps` at the prompt.
    progress: Vec<(String, String)>,
  },
  /// The step failed on this host: retry, skip or abort (the UI may show the output first).
  AfterFailure {
    planned: &'a PlannedStep<'a>,
    result: &'a HostResult,
  },
  /// A manual step (its instructions were just shown): done, skip or abort.
  Manual { planned: &'a PlannedStep<'a> },
  /// Ctrl-C stopped the running step: retry it, skip it, or abort.
  Interrupted { planned: &'a PlannedStep<'a> },
  /// A question (`input` or `choice`): a value (answer Yes), skip, or abort.
  Input {
    planned: &'a PlannedStep<'a>,
    question: &'a crate::runbook::model::Question,
    /// The default, with its values filled in.
    default: Option<String>,
    rehearsal: bool,
  },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Answer {
  Yes,
  Skip,
  Retry,
  Abort,
  /// Ctrl-C at a prompt: stop the run now.
  Interrupt,
  /// Run again the checks that led to this question, then ask again.
  Again,
  /// Go on at a later step (its id is the decision's value), passing over the ones between.
  Jump,
}

/// Who took a decision: reports count a person's answers apart from flags and policies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DecidedBy {
  /// A person, at a prompt.
  Operator,
  /// A person, at a rehearsal's prompt (nothing ran).
  Rehearsal,
  /// `--yes`.
  Yes,
  /// `--yes-destructive`.
  YesDestructive,
  /// A rule: on_failure, an unattended run that cannot confirm, a signal.
  Policy,
}

impl DecidedBy {
  pub(crate) fn label(self) -> &'static str {
    match self {
      DecidedBy::Operator => "operator",
      DecidedBy::Rehearsal => "rehearsal",
      DecidedBy::Yes => "--yes",
      DecidedBy::YesDestructive => "--yes-destructive",
      DecidedBy::Policy => "policy",
    }
  }
}

pub(crate) trait Operator: Send + Sync {
  fn decide<'a>(&'a self, request: Request<'a>) -> BoxFuture<'a, Decision>;
  /// Whether decisions come from a person (so a dry run walks prompts rather than printing).
  fn interactive(&self) -> bool;
}

/// Decisions for a run nobody attends: `--yes` confirms ordinary actions, `--yes-destructive`
/// destructive ones too; everything else that would need a person stops or skips.
pub(crate) struct Unattended {
  pub(crate) yes: bool,
  pub(crate) destructive: bool,
}

impl Operator for Unattended {
  fn decide<'a>(&'a self, request: Request<'a>) -> BoxFuture<'a, Decision> {
    let (answer, by) = match request {
      Request::Confirm {
        destructive: true, ..
      } if self.yes && self.destructive => (Answer::Yes, DecidedBy::YesDestructive),
      Request::Confirm {
        destructive: true, ..
      } => (Answer::Skip, DecidedBy::Policy),
      Request::Confirm { .. } if self.yes => (Answer::Yes, DecidedBy::Yes),
      Request::Confirm { .. } => (Answer::Skip, DecidedBy::Policy),
      Request::AfterFailure { .. } | Request::Interrupted { .. } => {
        (Answer::Abort, DecidedBy::Policy)
      }
      Request::Manual { .. } => (Answer::Skip, DecidedBy::Policy),
      // Nobody to answer: the engine stops the run unless `--var` gave the value.
      Request::Input { .. } => (Answer::Abort, DecidedBy::Policy),
    };
    let mut decision = Decision::from(answer);
    decision.by = by;
    Box::pin(async move { decision })
  }

  fn interactive(&self) -> bool {
    false
  }
}

impl RunMode {
  pub(crate) fn label(self) -> &'static str {
    match self {
      RunMode::Live => "live",
      RunMode::ChecksOnly => "checks only",
      RunMode::DryRun => "dry run",
    }
  }
}
