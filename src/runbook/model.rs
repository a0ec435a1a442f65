//! The runbook as data: what a file means once its structure has been read.

use std::time::Duration;

use serde::{Serialize, Serializer};

use crate::schema::Loc;

pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub(crate) enum Severity {
  P1,
  P2,
  P3,
  P4,
}

impl Severity {
  pub(crate) fn parse(s: &str) -> Option<Severity> {
    match s {
      "P1" => Some(Severity::P1),
      "P2" => Some(Severity::P2),
      "P3" => Some(Severity::P3),
      "P4" => Some(Severity::P4),
      _ => None,
    }
  }

  pub(crate) fn name(self) -> &'static str {
    match self {
      Severity::P1 => "P1",
      Severity::P2 => "P2",
      Severity::P3 => "P3",
      Severity::P4 => "P4",
    }
  }

  /// The escalation ladder of seed 003 §7.1 for this severity (the on-call engineer is paged
  /// from the start, so the ladder begins at its first hand-over). A run whose severity is
  /// raised follows the new severity's ladder from then on.
  pub(crate) fn ladder(self) -> Vec<Rung> {
    const MIN: u64 = 60;
    let rung = |minutes: u64, to: &str| Rung {
      after: Duration::from_secs(minutes * MIN),
      to: to.to_string(),
    };
    match self {
      Severity::P1 => vec![
        rung(15, "Incident Commander + all team leads"),
        rung(30, "CTO / VP of Engineering"),
        rung(60, "Executive management (report)"),
        rung(120, "External expert support (consider)"),
      ],
      Severity::P2 => vec![
        rung(15, "Tech Lead"),
        rung(30, "Incident Commander + team leads"),
        rung(60, "CTO (report)"),
        rung(120, "Executive management (report)"),
      ],
      Severity::P3 => vec![
        rung(30, "Tech Lead"),
        rung(60, "Team leads"),
        rung(120, "Incident Commander (consider)"),
      ],
      Severity::P4 => Vec::new(),
    }
  }

  /// Response and recovery targets from seed 003 §2.1.
  pub(crate) fn targets(self) -> (Duration, Duration) {
    const MIN: u64 = 60;
    const HOUR: u64 = 60 * MIN;
    match self {
      Severity::P1 => (Duration::from_secs(15 * MIN), Duration::from_secs(HOUR)),
      Severity::P2 => (Duration::from_secs(30 * MIN), Duration::from_secs(4 * HOUR)),
      Severity::P3 => (
        Duration::from_secs(2 * HOUR),
        Duration::from_secs(24 * HOUR),
      ),
      Severity::P4 => (
        Duration::from_secs(24 * HOUR),
        Duration::from_secs(7 * 24 * HOUR),
      ),
    }
  }

  pub(crate) fn label(self) -> &'static str {
    match self {
      Severity::P1 => "critical",
      Severity::P2 => "major",
      Severity::P3 => "minor",
      Severity::P4 => "low",
    }
  }
}

fn ser_duration<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
  s.serialize_str(&crate::schema::format_duration(*d))
}

fn ser_opt_duration<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
  match d {
    Some(d) => ser_duration(d, s),
    None => s.serialize_none(),
  }
}

#[derive(Clone, Debug, Serialize)]
pub(crate) struct Runbook {
  pub(crate) id: String,
  pub(crate) title: String,
  pub(crate) severity: Severity,
  #[serde(skip_serializing_if = "Option::is_none")]
  pub(crate) source: Option<String>,
  #[serde(skip_serializing_if = "Option::is_none")]
  pub(crate) description: Option<String>,
  pub(crate) symptoms: Vec<String>,
  /// Names of the alerts this runbook handles (Alertmanager's `alertname`).
  #[serde(skip_serializing_if = "Vec::is_empty")]
  pub(crate) alerts: Vec<Loc<String>>,
  pub(crate) causes: Vec<String>,
  #[serde(serialize_with = "ser_opt_duration")]
  pub(crate) recovery_target: Option<Duration>,
  pub(crate) parameters: Vec<Parameter>,
  pub(crate) escalation: Vec<Rung>,
  /// Rungs that fire on what the run finds, not on time: "when db-disk failed: call the DBA".
  #[serde(skip_serializing_if = "Vec::is_empty")]
  pub(crate) escalate_on: Vec<ConditionRung>,
  /// The shell every command runs under unless a step names its own.
  pub(crate) shell: Shell,
  pub(crate) steps: Vec<Step>,
}

impl Runbook {
  pub(crate) fn step(&self, id: &str) -> Option<&Step> {
    self.steps.iter().find(|s| s.id.value == id)
  }

  pub(crate) fn parameter(&self, name: &str) -> Option<&Parameter> {
    self.parameters.iter().find(|p| p.name.value == name)
  }

  /// The questions its `input` and `choice` steps ask, by the name their answer goes by.
  pub(crate) fn questions(&self) -> impl Iterator<Item = &Question> {
    self.steps.iter().filter_map(|s| match &s.kind {
      StepKind::Input(q) => Some(q),
      _ => None,
    })
  }

  pub(crate) fn question(&self, name: &str) -> Option<&Question> {
    self.questions().find(|q| q.name.value == name)
  }

  /// The recovery target: the runbook's own, else its severity's.
  pub(crate) fn recovery_target(&self) -> Duration {
    self.recovery_target.unwrap_or(self.severity.targets().1)
  }
}

#[derive(Clone, Debug, Serialize)]
pub(crate) struct Parameter {
  pub(crate) name: Loc<String>,
  #[serde(skip_serializing_if = "Option::is_none")]
  pub(crate) default: Option<Loc<String>>,
  #[serde(skip_serializing_if = "Option::is_none")]
  pub(crate) help: Option<String>,
  pub(crate) required: bool,
  #[serde(skip_serializing_if = "Vec::is_empty")]
  pub(crate) choices: Vec<Loc<String>>,
  #[serde(skip_serializing_if = "Option::is_none")]
  pub(crate) secret_env: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub(crate) struct Rung {
  #[serde(serialize_with = "ser_duration")]
  pub(crate) after: Duration,
  pub(crate) to: String,
}

#[derive(Clone, Debug, Serialize)]
pub(crate) struct ConditionRung {
  pub(crate) when: When,
  pub(crate) to: String,
}

#[derive(Clone, Debug, Serialize)]
pub(crate) struct Step {
  pub(crate) id: Loc<String>,
  pub(crate) title: String,
  pub(crate) targets: Vec<Loc<String>>,
  #[serde(flatten)]
  pub(crate) kind: StepKind,
  #[serde(skip_serializing_if = "When::is_empty")]
  pub(crate) when: When,
  /// For a check: the action it verifies. Where that action did not run, there is nothing to
  /// verify, and the check is "not applicable" rather than failed.
  #[serde(skip_serializing_if = "Option::is_none")]
  pub(crate) after: Option<Loc<String>>,
  /// For a check: the earlier checks it measures again. Where it passes, their failure is
  /// resolved (the exit code and the summary count it so).
  #[serde(skip_serializing_if = "Vec::is_empty")]
  pub(crate) verifies: Vec<Loc<String>>,
  pub(crate) sudo: bool,
  #[serde(serialize_with = "ser_duration")]
  pub(crate) timeout: Duration,
  pub(crate) retry: Retry,
  pub(crate) on_failure: OnFailure,
  /// Values taken from the command's output, per host, for later steps.
  #[serde(skip_serializing_if = "Vec::is_empty")]
  pub(crate) capture: Vec<Capture>,
  /// Poll the check until its expectation holds (or a number stops moving), up to a deadline.
  #[serde(skip_serializing_if = "Option::is_none")]
  pub(crate) wait: Option<Wait>,
  /// One host at a time, stopping at the first that fails (a rolling change).
  pub(crate) serial: bool,
  /// Only the first of its hosts that is reachable (any sentinel, any replica).
  pub(crate) one_of: bool,
  /// This step's own shell, where it differs from the runbook's.
  #[serde(skip_serializing_if = "Option::is_none")]
  pub(crate) shell: Option<Shell>,
  /// Reaching this step (its `when:` held) makes the incident this severe, if it was less.
  #[serde(skip_serializing_if = "Option::is_none")]
  pub(crate) raise: Option<Severity>,
  /// Conditions inherited from the `runbook:` step that brought this step in.
  #[serde(skip_serializing_if = "Vec::is_empty")]
  pub(crate) gates: Vec<Gate>,
}

impl Step {
  pub(crate) fn command(&self) -> Option<&Loc<String>> {
    match &self.kind {
      StepKind::Check { command, .. } | StepKind::Action { command, .. } => Some(command),
      StepKind::Manual { .. } | StepKind::Input(_) | StepKind::Call(_) => None,
    }
  }

  /// Whether its targets are only known at run time (`{{steps.find.primary}}`).
  pub(crate) fn dynamic_targets(&self) -> bool {
    self.targets.iter().any(|t| t.value.contains("{{"))
  }

  pub(crate) fn kind_name(&self) -> &'static str {
    self.kind.name()
  }
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "lowercase", tag = "kind")]
pub(crate) enum StepKind {
  Check {
    command: Loc<String>,
    expect: Expect,
  },
  Action {
    command: Loc<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    confirm: Option<Loc<String>>,
    destructive: bool,
    expect: Expect,
  },
  Manual {
    instructions: Loc<String>,
  },
  /// A question to the operator (`input:`), or a pick among named branches (`choice:`).
  Input(Question),
  /// Another runbook's steps, run here (`runbook: ID`); replaced by those steps when the
  /// runbook is loaded for a run (see `compose`).
  Call(Call),
}

#[derive(Clone, Debug, Serialize)]
pub(crate) struct Call {
  pub(crate) runbook: Loc<String>,
  /// The called runbook's parameters: a value, or one `{{name}}` of this runbook.
  #[serde(skip_serializing_if = "Vec::is_empty")]
  pub(crate) vars: Vec<(Loc<String>, Loc<String>)>,
  #[serde(skip_serializing_if = "Option::is_none")]
  pub(crate) repeat: Option<Repeat>,
}

#[derive(Clone, Debug, Serialize)]
pub(crate) struct Repeat {
  /// At most this many rounds.
  pub(crate) times: u32,
  /// Stop once this holds after a round (step ids are the called runbook's).
  #[serde(skip_serializing_if = "Option::is_none")]
  pub(crate) until: Option<When>,
}

/// A condition a composed step inherits from the step that called its runbook: `when` must hold
/// (or, `negate`d, must not: a repeat's `until` after an earlier round).
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Gate {
  pub(crate) when: When,
  pub(crate) negate: bool,
}

impl StepKind {
  pub(crate) fn name(&self) -> &'static str {
    match self {
      StepKind::Check { .. } => "check",
      StepKind::Action { .. } => "action",
      StepKind::Manual { .. } => "manual",
      StepKind::Input(q) if q.branches => "choice",
      StepKind::Input(_) => "input",
      StepKind::Call(_) => "runbook",
    }
  }
}

#[derive(Clone, Debug, Serialize)]
pub(crate) struct Question {
  /// What the answer is called: `{{name}}` in later steps, `--var name=…` ahead of time.
  pub(crate) name: Loc<String>,
  #[serde(skip_serializing_if = "Option::is_none")]
  pub(crate) help: Option<String>,
  #[serde(skip_serializing_if = "Option::is_none")]
  pub(crate) default: Option<Loc<String>>,
  /// Allowed answers, each with what it means (a `choice:` step's options).
  #[serde(skip_serializing_if = "Vec::is_empty")]
  pub(crate) choices: Vec<(Loc<String>, String)>,
  /// A regex the whole answer must match.
  #[serde(skip_serializing_if = "Option::is_none")]
  pub(crate) pattern: Option<Loc<String>>,
  /// Written as `choice:`: the options are branches that later steps' `when:` pick from.
  pub(crate) branches: bool,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Shell {
  /// POSIX `sh` (dash on Debian and Ubuntu).
  #[default]
  Sh,
  /// `bash`, with `set -o pipefail`.
  Bash,
}

#[derive(Clone, Debug, Serialize)]
pub(crate) struct Capture {
  pub(crate) name: Loc<String>,
  pub(crate) from: CaptureFrom,
  pub(crate) stream: Stream,
  /// Masked wherever shown or recorded, like a secret parameter.
  pub(crate) secret: bool,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum CaptureFrom {
  /// The first group of the first match (the whole match without a group).
  Regex(Loc<String>),
  /// A JSON Pointer (RFC 6901) into the output parsed as JSON: `/server/version`, `/0/name`.
  Json(Loc<String>),
}

#[derive(Clone, Debug, Serialize)]
pub(crate) struct Wait {
  #[serde(serialize_with = "ser_duration")]
  pub(crate) every: Duration,
  #[serde(serialize_with = "ser_duration")]
  pub(crate) up_to: Duration,
  pub(crate) until: Until,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Until {
  /// The expectation holds.
  Holds,
  /// The named number (a threshold or a capture) is no higher than at the previous poll.
  StopsRising(Loc<String>),
  /// The named number is no lower than at the previous poll.
  StopsFalling(Loc<String>),
}

impl Until {
  pub(crate) fn value(&self) -> Option<&Loc<String>> {
    match self {
      Until::Holds => None,
      Until::StopsRising(v) | Until::StopsFalling(v) => Some(v),
    }
  }
}

#[derive(Clone, Debug, Default, Serialize)]
pub(crate) struct Expect {
  pub(crate) exit_code: ExitCodes,
  #[serde(skip_serializing_if = "Option::is_none")]
  pub(crate) stdout_matches: Option<Loc<String>>,
  #[serde(skip_serializing_if = "Option::is_none")]
  pub(crate) stdout_not_matches: Option<Loc<String>>,
  #[serde(skip_serializing_if = "Option::is_none")]
  pub(crate) stderr_matches: Option<Loc<String>>,
  #[serde(skip_serializing_if = "Option::is_none")]
  pub(crate) stderr_not_matches: Option<Loc<String>>,
  #[serde(skip_serializing_if = "Vec::is_empty")]
  pub(crate) thresholds: Vec<Threshold>,
}

impl Expect {
  /// Every regex in the expectation, with the key it came from.
  pub(crate) fn patterns(&self) -> impl Iterator<Item = (&'static str, &Loc<String>)> {
    [
      ("stdout_matches", &self.stdout_matches),
      ("stdout_not_matches", &self.stdout_not_matches),
      ("stderr_matches", &self.stderr_matches),
      ("stderr_not_matches", &self.stderr_not_matches),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.as_ref().map(|v| (k, v)))
    .chain(self.thresholds.iter().map(|t| ("regex", &t.regex)))
  }

  /// Threshold bounds written as values (`max: '{{max_error_pct}}'`).
  pub(crate) fn bounds(&self) -> impl Iterator<Item = &Loc<String>> {
    self
      .thresholds
      .iter()
      .flat_map(|t| t.min_from.iter().chain(t.max_from.iter()))
  }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ExitCodes {
  Any,
  OneOf(Vec<i32>),
}

impl Default for ExitCodes {
  fn default() -> Self {
    ExitCodes::OneOf(vec![0])
  }
}

impl Serialize for ExitCodes {
  fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
    match self {
      ExitCodes::Any => s.serialize_str("any"),
      ExitCodes::OneOf(codes) => codes.serialize(s),
    }
  }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Stream {
  Stdout,
  Stderr,
}

#[derive(Clone, Debug, Serialize)]
pub(crate) struct Threshold {
  pub(crate) name: String,
  pub(crate) regex: Loc<String>,
  pub(crate) stream: Stream,
  #[serde(skip_serializing_if = "Option::is_none")]
  pub(crate) min: Option<f64>,
  #[serde(skip_serializing_if = "Option::is_none")]
  pub(crate) max: Option<f64>,
  /// A bound written as a value (`max: '{{max_error_pct}}'`): filled in when the check runs.
  #[serde(skip_serializing_if = "Option::is_none")]
  pub(crate) min_from: Option<Loc<String>>,
  #[serde(skip_serializing_if = "Option::is_none")]
  pub(crate) max_from: Option<Loc<String>>,
  #[serde(skip_serializing_if = "Option::is_none")]
  pub(crate) unit: Option<String>,
  /// No number at all is a pass, where the command otherwise succeeded (a Prometheus query
  /// with `empty: pass` that found no series).
  #[serde(skip_serializing_if = "std::ops::Not::not")]
  pub(crate) absent_ok: bool,
}

#[derive(Clone, Debug, Default, Serialize)]
pub(crate) struct When {
  #[serde(skip_serializing_if = "Vec::is_empty")]
  pub(crate) failed: Vec<Loc<String>>,
  #[serde(skip_serializing_if = "Vec::is_empty")]
  pub(crate) passed: Vec<Loc<String>>,
  /// Steps that could not judge (no connection, no command, a timeout, no number).
  #[serde(skip_serializing_if = "Vec::is_empty")]
  pub(crate) unknown: Vec<Loc<String>>,
  /// Conditions on values: parameters, answers, captures (`steps.ID.NAME`).
  #[serde(skip_serializing_if = "Vec::is_empty")]
  pub(crate) values: Vec<ValueTest>,
}

#[derive(Clone, Debug, Serialize)]
pub(crate) struct ValueTest {
  pub(crate) name: Loc<String>,
  pub(crate) test: Test,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Test {
  Is(String),
  IsNot(String),
  OneOf(Vec<String>),
  Above(f64),
  Below(f64),
}

impl When {
  pub(crate) fn is_empty(&self) -> bool {
    self.failed.is_empty()
      && self.passed.is_empty()
      && self.unknown.is_empty()
      && self.values.is_empty()
  }

  pub(crate) fn references(&self) -> impl Iterator<Item = &Loc<String>> {
    self.failed.iter().chain(&self.passed).chain(&self.unknown)
  }
}

#[derive(Clone, Copy, Debug, Serialize)]
pub(crate) struct Retry {
  pub(crate) attempts: u32,
  #[serde(serialize_with = "ser_duration")]
  pub(crate) delay: Duration,
}

impl Default for Retry {
  fn default() -> Self {
    Retry {
      attempts: 1,
      delay: Duration::from_secs(5),
    }
  }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum OnFailure {
  Abort,
  Continue,
  Ask,
}

impl Question {
  /// Whether `answer` is acceptable: one of the choices, and matching the pattern.
  pub(crate) fn check(&self, answer: &str) -> Result<(), String> {
    if !self.choices.is_empty() && !self.choices.iter().any(|(c, _)| c.value == answer) {
      let names: Vec<&str> = self.choices.iter().map(|(c, _)| c.value.as_str()).collect();
      return Err(format!(
        "`{answer}` is not one of {} for `{}`",
        names.join(", "),
        self.name.value
      ));
    }
    if let Some(pattern) = &self.pattern {
      let whole = format!("^(?:{})$", pattern.value);
      let matches = regex::Regex::new(&whole).is_ok_and(|re| re.is_match(answer));
      if !matches {
        return Err(format!(
          "`{answer}` does not match the pattern `{}` for `{}`",
          pattern.value, self.name.value
        ));
      }
    }
    if answer.is_empty() {
      return Err(format!("`{}` needs a value", self.name.value));
    }
    Ok(())
  }
}
