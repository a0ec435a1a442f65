//! The runbook as data: what a file means once its structure has been read.

use std::time::Duration;

use serde::{Serialize, Serializer};

use crate::schema::Loc;

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Severity {
  P1,
  P2,
  P3,
  P4,
}

impl Severity {
  pub fn parse(s: &str) -> Option<Severity> {
    match s {
      "P1" => Some(Severity::P1),
      "P2" => Some(Severity::P2),
      "P3" => Some(Severity::P3),
      "P4" => Some(Severity::P4),
      _ => None,
    }
  }

  pub fn name(self) -> &'static str {
    match self {
      Severity::P1 => "P1",
      Severity::P2 => "P2",
      Severity::P3 => "P3",
      Severity::P4 => "P4",
    }
  }

  /// Response and recovery targets from seed 003 §2.1.
  pub fn targets(self) -> (Duration, Duration) {
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

  pub fn label(self) -> &'static str {
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
pub struct Runbook {
  pub id: String,
  pub title: String,
  pub severity: Severity,
  #[serde(skip_serializing_if = "Option::is_none")]
  pub source: Option<String>,
  #[serde(skip_serializing_if = "Option::is_none")]
  pub description: Option<String>,
  pub symptoms: Vec<String>,
  pub causes: Vec<String>,
  #[serde(serialize_with = "ser_opt_duration")]
  pub recovery_target: Option<Duration>,
  pub parameters: Vec<Parameter>,
  pub escalation: Vec<Rung>,
  pub steps: Vec<Step>,
}

impl Runbook {
  pub fn step(&self, id: &str) -> Option<&Step> {
    self.steps.iter().find(|s| s.id.value == id)
  }

  pub fn parameter(&self, name: &str) -> Option<&Parameter> {
    self.parameters.iter().find(|p| p.name.value == name)
  }

  /// The recovery target: the runbook's own, else its severity's.
  pub fn recovery_target(&self) -> Duration {
    self.recovery_target.unwrap_or(self.severity.targets().1)
  }
}

#[derive(Clone, Debug, Serialize)]
pub struct Parameter {
  pub name: Loc<String>,
  #[serde(skip_serializing_if = "Option::is_none")]
  pub default: Option<Loc<String>>,
  #[serde(skip_serializing_if = "Option::is_none")]
  pub help: Option<String>,
  pub required: bool,
  #[serde(skip_serializing_if = "Vec::is_empty")]
  pub choices: Vec<Loc<String>>,
  #[serde(skip_serializing_if = "Option::is_none")]
  pub secret_env: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Rung {
  #[serde(serialize_with = "ser_duration")]
  pub after: Duration,
  pub to: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Step {
  pub id: Loc<String>,
  pub title: String,
  pub targets: Vec<Loc<String>>,
  #[serde(flatten)]
  pub kind: StepKind,
  #[serde(skip_serializing_if = "When::is_empty")]
  pub when: When,
  /// For a check: the action it verifies. Where that action did not run, there is nothing to
  /// verify, and the check is "not applicable" rather than failed.
  #[serde(skip_serializing_if = "Option::is_none")]
  pub after: Option<Loc<String>>,
  pub sudo: bool,
  #[serde(serialize_with = "ser_duration")]
  pub timeout: Duration,
  pub retry: Retry,
  pub on_failure: OnFailure,
}

impl Step {
  pub fn command(&self) -> Option<&Loc<String>> {
    match &self.kind {
      StepKind::Check { command, .. } | StepKind::Action { command, .. } => Some(command),
      StepKind::Manual { .. } => None,
    }
  }

  pub fn kind_name(&self) -> &'static str {
    self.kind.name()
  }
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "lowercase", tag = "kind")]
pub enum StepKind {
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
}

impl StepKind {
  pub fn name(&self) -> &'static str {
    match self {
      StepKind::Check { .. } => "check",
      StepKind::Action { .. } => "action",
      StepKind::Manual { .. } => "manual",
    }
  }
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Expect {
  pub exit_code: ExitCodes,
  #[serde(skip_serializing_if = "Option::is_none")]
  pub stdout_matches: Option<Loc<String>>,
  #[serde(skip_serializing_if = "Option::is_none")]
  pub stdout_not_matches: Option<Loc<String>>,
  #[serde(skip_serializing_if = "Option::is_none")]
  pub stderr_matches: Option<Loc<String>>,
  #[serde(skip_serializing_if = "Option::is_none")]
  pub stderr_not_matches: Option<Loc<String>>,
  #[serde(skip_serializing_if = "Vec::is_empty")]
  pub thresholds: Vec<Threshold>,
}

impl Expect {
  /// Every regex in the expectation, with the key it came from.
  pub fn patterns(&self) -> impl Iterator<Item = (&'static str, &Loc<String>)> {
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
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExitCodes {
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
pub enum Stream {
  Stdout,
  Stderr,
}

#[derive(Clone, Debug, Serialize)]
pub struct Threshold {
  pub name: String,
  pub regex: Loc<String>,
  pub stream: Stream,
  #[serde(skip_serializing_if = "Option::is_none")]
  pub min: Option<f64>,
  #[serde(skip_serializing_if = "Option::is_none")]
  pub max: Option<f64>,
  #[serde(skip_serializing_if = "Option::is_none")]
  pub unit: Option<String>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct When {
  #[serde(skip_serializing_if = "Vec::is_empty")]
  pub failed: Vec<Loc<String>>,
  #[serde(skip_serializing_if = "Vec::is_empty")]
  pub passed: Vec<Loc<String>>,
  /// Steps that could not judge (no connection, no command, a timeout, no number).
  #[serde(skip_serializing_if = "Vec::is_empty")]
  pub unknown: Vec<Loc<String>>,
}

impl When {
  pub fn is_empty(&self) -> bool {
    self.failed.is_empty() && self.passed.is_empty() && self.unknown.is_empty()
  }

  pub fn references(&self) -> impl Iterator<Item = &Loc<String>> {
    self.failed.iter().chain(&self.passed).chain(&self.unknown)
  }
}

#[derive(Clone, Copy, Debug, Serialize)]
pub struct Retry {
  pub attempts: u32,
  #[serde(serialize_with = "ser_duration")]
  pub delay: Duration,
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
pub enum OnFailure {
  Abort,
  Continue,
  Ask,
}
