//! The journal's on-disk types, version [`VERSION`]. They are the journal's own, not the
//! engine's: the engine's types convert into them, so renaming an engine enum or variant cannot
//! silently change what is recorded (the tests at the bottom pin every record's JSON).

use std::collections::BTreeMap;
use std::fmt;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::exec::{event, expect, plan};

pub(crate) const VERSION: u32 = 1;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Rung {
  pub(crate) after: String,
  pub(crate) to: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Header {
  pub(crate) v: u32,
  pub(crate) run: String,
  pub(crate) runbook: String,
  pub(crate) title: String,
  /// sha256 of the runbook's text: a resume refuses a runbook that changed.
  pub(crate) hash: String,
  pub(crate) severity: String,
  pub(crate) response_target: String,
  pub(crate) recovery_target: String,
  pub(crate) escalation: Vec<Rung>,
  pub(crate) mode: Mode,
  /// Parameter values, secrets masked.
  pub(crate) parameters: BTreeMap<String, String>,
  pub(crate) operator: String,
  pub(crate) machine: String,
  pub(crate) pid: u32,
  pub(crate) started: String,
  /// How the run reached its hosts and found its files: a resume uses it again.
  #[serde(default)]
  pub(crate) setup: Setup,
}

/// What a run was started with, beyond its runbook and parameters. Paths are absolute: a
/// resume may start in another directory. Absent fields mean the default.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Setup {
  #[serde(default, skip_serializing_if = "Option::is_none")]
  pub(crate) ssh_config: Option<std::path::PathBuf>,
  #[serde(default, skip_serializing_if = "Option::is_none")]
  pub(crate) inventory: Option<std::path::PathBuf>,
  /// Runbook directories named with --runbooks or $MEGACITY_RUNBOOKS.
  #[serde(default, skip_serializing_if = "Vec::is_empty")]
  pub(crate) runbook_dirs: Vec<std::path::PathBuf>,
  #[serde(default, skip_serializing_if = "Option::is_none")]
  pub(crate) connect_timeout_ms: Option<u64>,
  #[serde(default, skip_serializing_if = "std::ops::Not::not")]
  pub(crate) accept_new_host_keys: bool,
  #[serde(default, skip_serializing_if = "Option::is_none")]
  pub(crate) keep_connections_s: Option<u64>,
  #[serde(default, skip_serializing_if = "Option::is_none")]
  pub(crate) concurrency: Option<u16>,
  /// `--host` selections.
  #[serde(default, skip_serializing_if = "Vec::is_empty")]
  pub(crate) hosts: Vec<String>,
  /// The alert the run was started for (`--alert`): its name and fingerprint.
  #[serde(default, skip_serializing_if = "Option::is_none")]
  pub(crate) alert: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub(crate) enum Record {
  Header(Header),
  Resumed {
    t: String,
    pid: u32,
    done: Vec<String>,
  },
  Preflight {
    t: String,
    host: String,
    problem: Option<String>,
  },
  StepStarted {
    t: String,
    step: String,
    kind: String,
    title: String,
    hosts: Vec<String>,
  },
  StepSkipped {
    t: String,
    step: String,
    reason: String,
  },
  HostResult {
    t: String,
    step: String,
    host: String,
    outcome: Outcome,
    command: Option<String>,
    exit_code: Option<i32>,
    duration_ms: u64,
    attempts: u32,
    #[serde(default)]
    reasons: Vec<String>,
    #[serde(default)]
    measurements: Vec<Measurement>,
    #[serde(default)]
    stdout: String,
    #[serde(default)]
    stderr: String,
    /// Where the full output is, when it was too long to keep inline.
    output_file: Option<String>,
    error: Option<String>,
    /// Values taken from the output (`capture:`) or a question's answer: name → value as
    /// shown (a secret one masked).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    captured: Vec<(String, String)>,
    /// A wait's polls.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    samples: Vec<Sample>,
  },
  WouldRun {
    t: String,
    step: String,
    host: String,
    command: String,
    note: Option<String>,
  },
  Manual {
    t: String,
    step: String,
    instructions: String,
  },
  Decision {
    t: String,
    step: String,
    host: Option<String>,
    question: String,
    answer: Answer,
    /// When the prompt appeared on the operator's terminal. Absent: nobody was asked (the
    /// answer came from `--yes`, `--yes-destructive` or a policy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    shown: Option<String>,
    /// Who took it: `operator`, `rehearsal`, `--yes`, `--yes-destructive` or `policy`.
    /// Absent in journals written before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    by: Option<String>,
    /// The value given to a question (`input`, `choice`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    value: Option<String>,
  },
  Note {
    t: String,
    step: Option<String>,
    text: String,
  },
  Escalation {
    t: String,
    after: String,
    to: String,
    elapsed_s: u64,
    /// For a rung on findings: its condition in words (`after` is then the time it fired).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
  },
  /// After the run: whether the alert it was started for resolved (`--until-resolved`).
  AlertResolved {
    t: String,
    alert: String,
    resolved: bool,
    waited_s: u64,
  },
  /// A step made the incident more severe.
  SeverityRaised {
    t: String,
    step: String,
    from: String,
    to: String,
  },
  Notice {
    t: String,
    text: String,
  },
  StepDone {
    t: String,
    step: String,
  },
  End {
    t: String,
    end: RunEnd,
    elapsed_ms: u64,
    /// The run's exit code (README "Exit codes"): 0 only when nothing was left broken or
    /// undetermined. Absent in journals written before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    exit_code: Option<i32>,
  },
}

/// One poll of a wait, as recorded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Sample {
  pub(crate) at_ms: u64,
  #[serde(default, skip_serializing_if = "Option::is_none")]
  pub(crate) value: Option<f64>,
  pub(crate) passed: bool,
}

impl From<&event::Sample> for Sample {
  fn from(s: &event::Sample) -> Sample {
    Sample {
      at_ms: s.at_ms,
      value: s.value,
      passed: s.passed,
    }
  }
}

impl Record {
  pub(crate) fn time(&self) -> &str {
    match self {
      Record::Header(h) => &h.started,
      Record::Resumed { t, .. }
      | Record::Preflight { t, .. }
      | Record::StepStarted { t, .. }
      | Record::StepSkipped { t, .. }
      | Record::HostResult { t, .. }
      | Record::WouldRun { t, .. }
      | Record::Manual { t, .. }
      | Record::Decision { t, .. }
      | Record::Note { t, .. }
      | Record::Escalation { t, .. }
      | Record::SeverityRaised { t, .. }
      | Record::AlertResolved { t, .. }
      | Record::Notice { t, .. }
      | Record::StepDone { t, .. }
      | Record::End { t, .. } => t,
    }
  }
}

/// A host's outcome as recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Outcome {
  Passed,
  Failed,
  Skipped,
  Declined,
  /// A person said skip (or no) at its prompt.
  SkippedByOperator,
  /// A person said abort at its prompt.
  Aborted,
  Unreachable,
  Rehearsed,
  NotRun,
  Unconfirmed,
  Interrupted,
  /// A check that could not judge (no connection, no command, a timeout, no number to hold to
  /// its threshold): neither passed nor failed.
  Unknown,
  /// `--checks-only`: a check that verifies an action that did not run.
  NotApplicable,
}

impl Outcome {
  /// The engine's words for it, so a report names an outcome as the screen did.
  pub(crate) fn label(self) -> &'static str {
    event::Outcome::from(self).label()
  }

  pub(crate) fn is_failure(self) -> bool {
    matches!(
      self,
      Outcome::Failed | Outcome::Unreachable | Outcome::Interrupted
    )
  }
}

/// An operator's answer as recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Answer {
  Yes,
  Skip,
  Retry,
  Abort,
  Interrupt,
  /// Run the checks behind the question again, then ask again.
  Again,
  /// Go on at a later step (the decision's value).
  Jump,
}

impl Answer {
  pub(crate) fn label(self) -> &'static str {
    match self {
      Answer::Yes => "yes",
      Answer::Skip => "skip",
      Answer::Retry => "retry",
      Answer::Abort => "abort",
      Answer::Interrupt => "Ctrl-C",
      Answer::Again => "again",
      Answer::Jump => "jump",
    }
  }
}

/// How a run ended, as recorded. A run without an end record did not finish: see [`ended`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum RunEnd {
  Completed,
  Stopped,
  Aborted,
  Interrupted,
}

impl fmt::Display for RunEnd {
  fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    f.write_str(ended(Some(*self)))
  }
}

/// The one wording for how a run ended, used by `journal list`, `journal show` and the reports.
pub(crate) fn ended(end: Option<RunEnd>) -> &'static str {
  match end {
    Some(RunEnd::Completed) => "completed",
    Some(RunEnd::Stopped) => "stopped early",
    Some(RunEnd::Aborted) => "aborted by the operator",
    Some(RunEnd::Interrupted) => "interrupted",
    None => "did not finish (crashed or still running)",
  }
}

/// The run's mode as recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Mode {
  Live,
  ChecksOnly,
  DryRun,
}

impl Mode {
  /// The engine's words for it, so reports name a mode as the screen did.
  pub(crate) fn label(self) -> &'static str {
    plan::RunMode::from(self).label()
  }
}

/// A number pulled out of a command's output and the bounds it was held to, as recorded.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Measurement {
  pub(crate) name: String,
  pub(crate) value: Option<f64>,
  pub(crate) min: Option<f64>,
  pub(crate) max: Option<f64>,
  pub(crate) unit: Option<String>,
  pub(crate) ok: bool,
}

// Engine → record. Every match is exhaustive: a new engine variant does not compile until it is
// given its recorded name here.

impl From<event::Outcome> for Outcome {
  fn from(o: event::Outcome) -> Outcome {
    match o {
      event::Outcome::Passed => Outcome::Passed,
      event::Outcome::Failed => Outcome::Failed,
      event::Outcome::Skipped => Outcome::Skipped,
      event::Outcome::Declined => Outcome::Declined,
      event::Outcome::OperatorSkipped => Outcome::SkippedByOperator,
      event::Outcome::Aborted => Outcome::Aborted,
      event::Outcome::Unreachable => Outcome::Unreachable,
      event::Outcome::Rehearsed => Outcome::Rehearsed,
      event::Outcome::NotRun => Outcome::NotRun,
      event::Outcome::Unconfirmed => Outcome::Unconfirmed,
      event::Outcome::Interrupted => Outcome::Interrupted,
      event::Outcome::Unknown => Outcome::Unknown,
      event::Outcome::NotApplicable => Outcome::NotApplicable,
    }
  }
}

impl From<event::Answer> for Answer {
  fn from(a: event::Answer) -> Answer {
    match a {
      event::Answer::Yes => Answer::Yes,
      event::Answer::Skip => Answer::Skip,
      event::Answer::Retry => Answer::Retry,
      event::Answer::Abort => Answer::Abort,
      event::Answer::Interrupt => Answer::Interrupt,
      event::Answer::Again => Answer::Again,
      event::Answer::Jump => Answer::Jump,
    }
  }
}

impl From<event::RunEnd> for RunEnd {
  fn from(e: event::RunEnd) -> RunEnd {
    match e {
      event::RunEnd::Completed => RunEnd::Completed,
      event::RunEnd::Stopped => RunEnd::Stopped,
      event::RunEnd::Aborted => RunEnd::Aborted,
      event::RunEnd::Interrupted => RunEnd::Interrupted,
    }
  }
}

impl From<plan::RunMode> for Mode {
  fn from(m: plan::RunMode) -> Mode {
    match m {
      plan::RunMode::Live => Mode::Live,
      plan::RunMode::ChecksOnly => Mode::ChecksOnly,
      plan::RunMode::DryRun => Mode::DryRun,
    }
  }
}

impl From<expect::Measurement> for Measurement {
  fn from(m: expect::Measurement) -> Measurement {
    let expect::Measurement {
      name,
      value,
      min,
      max,
      unit,
      ok,
    } = m;
    Measurement {
      name,
      value,
      min,
      max,
      unit,
      ok,
    }
  }
}

// Record → engine, where reading a journal back feeds the engine (a resume).

impl From<Outcome> for event::Outcome {
  fn from(o: Outcome) -> event::Outcome {
    match o {
      Outcome::Passed => event::Outcome::Passed,
      Outcome::Failed => event::Outcome::Failed,
      Outcome::Skipped => event::Outcome::Skipped,
      Outcome::Declined => event::Outcome::Declined,
      Outcome::SkippedByOperator => event::Outcome::OperatorSkipped,
      Outcome::Aborted => event::Outcome::Aborted,
      Outcome::Unreachable => event::Outcome::Unreachable,
      Outcome::Rehearsed => event::Outcome::Rehearsed,
      Outcome::NotRun => event::Outcome::NotRun,
      Outcome::Unconfirmed => event::Outcome::Unconfirmed,
      Outcome::Interrupted => event::Outcome::Interrupted,
      Outcome::Unknown => event::Outcome::Unknown,
      Outcome::NotApplicable => event::Outcome::NotApplicable,
    }
  }
}

impl From<RunEnd> for event::RunEnd {
  fn from(e: RunEnd) -> event::RunEnd {
    match e {
      RunEnd::Completed => event::RunEnd::Completed,
      RunEnd::Stopped => event::RunEnd::Stopped,
      RunEnd::Aborted => event::RunEnd::Aborted,
      RunEnd::Interrupted => event::RunEnd::Interrupted,
    }
  }
}

impl From<Mode> for plan::RunMode {
  fn from(m: Mode) -> plan::RunMode {
    match m {
      Mode::Live => plan::RunMode::Live,
      Mode::ChecksOnly => plan::RunMode::ChecksOnly,
      Mode::DryRun => plan::RunMode::DryRun,
    }
  }
}

/// Record times: RFC 3339, UTC, milliseconds.
pub(crate) fn now() -> String {
  humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}

pub(crate) fn parse_time(t: &str) -> Option<SystemTime> {
  humantime::parse_rfc3339(t).ok()
}

/// The header's `hash` of a runbook's text.
pub(crate) fn sha256(text: &str) -> String {
  use sha2::Digest;
  let digest = sha2::Sha256::digest(text.as_bytes());
  format!(
    "sha256:{}",
    digest
      .iter()
      .map(|b| format!("{b:02x}"))
      .collect::<String>()
  )
}

#[cfg(test)]
mod tests {
  use super::*;

  fn json(record: &Record) -> String {
    serde_json::to_string(record).unwrap()
  }

  /// Pins the recorded format: one record of each kind, compared as exact text, and read back.
  #[test]
  fn every_record_kind_keeps_its_exact_json() {
    let t = || "2026-12-03T01:00:00.000Z".to_string();
    let cases: Vec<(Record, &str)> = vec![
      (
        Record::Header(Header {
          v: VERSION,
          run: "r".into(),
          runbook: "heal".into(),
          title: "Heal".into(),
          hash: "sha256:00".into(),
          severity: "P2".into(),
          response_target: "30m".into(),
          recovery_target: "4h".into(),
          escalation: vec![Rung {
            after: "15m".into(),
            to: "Lead".into(),
          }],
          mode: Mode::ChecksOnly,
          parameters: BTreeMap::from([("depth".into(), "3".into())]),
          operator: "ops".into(),
          machine: "box".into(),
          pid: 42,
          started: t(),
          setup: Setup {
            ssh_config: Some("/etc/incident/ssh_config".into()),
            connect_timeout_ms: Some(3000),
            hosts: vec!["redis".into()],
            ..Setup::default()
          },
        }),
        r#"{"type":"header","v":1,"run":"r","runbook":"heal","title":"Heal","hash":"sha256:00","severity":"P2","response_target":"30m","recovery_target":"4h","escalation":[{"after":"15m","to":"Lead"}],"mode":"checks-only","parameters":{"depth":"3"},"operator":"ops","machine":"box","pid":42,"started":"2026-12-03T01:00:00.000Z","setup":{"ssh_config":"/etc/incident/ssh_config","connect_timeout_ms":3000,"hosts":["redis"]}}"#,
      ),
      (
        Record::Resumed {
          t: t(),
          pid: 43,
          done: vec!["probe".into()],
        },
        r#"{"type":"resumed","t":"2026-12-03T01:00:00.000Z","pid":43,"done":["probe"]}"#,
      ),
      (
        Record::Preflight {
          t: t(),
          host: "a".into(),
          problem: Some("refused".into()),
        },
        r#"{"type":"preflight","t":"2026-12-03T01:00:00.000Z","host":"a","problem":"refused"}"#,
      ),
      (
        Record::StepStarted {
          t: t(),
          step: "probe".into(),
          kind: "check".into(),
          title: "Probe".into(),
          hosts: vec!["a".into()],
        },
        r#"{"type":"step-started","t":"2026-12-03T01:00:00.000Z","step":"probe","kind":"check","title":"Probe","hosts":["a"]}"#,
      ),
      (
        Record::StepSkipped {
          t: t(),
          step: "fix".into(),
          reason: "no".into(),
        },
        r#"{"type":"step-skipped","t":"2026-12-03T01:00:00.000Z","step":"fix","reason":"no"}"#,
      ),
      (
        Record::HostResult {
          t: t(),
          step: "probe".into(),
          host: "a".into(),
          outcome: Outcome::NotRun,
          command: Some("echo".into()),
          exit_code: Some(0),
          duration_ms: 5,
          attempts: 1,
          reasons: vec!["high".into()],
          measurements: vec![Measurement {
            name: "used".into(),
            value: Some(91.0),
            min: None,
            max: Some(80.0),
            unit: Some("%".into()),
            ok: false,
          }],
          stdout: "out".into(),
          stderr: String::new(),
          output_file: None,
          error: None,
          captured: Vec::new(),
          samples: Vec::new(),
        },
        r#"{"type":"host-result","t":"2026-12-03T01:00:00.000Z","step":"probe","host":"a","outcome":"not-run","command":"echo","exit_code":0,"duration_ms":5,"attempts":1,"reasons":["high"],"measurements":[{"name":"used","value":91.0,"min":null,"max":80.0,"unit":"%","ok":false}],"stdout":"out","stderr":"","output_file":null,"error":null}"#,
      ),
      (
        Record::HostResult {
          t: t(),
          step: "lag".into(),
          host: "b".into(),
          outcome: Outcome::Passed,
          command: None,
          exit_code: Some(0),
          duration_ms: 9,
          attempts: 2,
          reasons: Vec::new(),
          measurements: Vec::new(),
          stdout: String::new(),
          stderr: String::new(),
          output_file: None,
          error: None,
          captured: vec![("slot".into(), "standby_1".into())],
          samples: vec![
            Sample {
              at_ms: 0,
              value: Some(3.0),
              passed: false,
            },
            Sample {
              at_ms: 5000,
              value: None,
              passed: true,
            },
          ],
        },
        r#"{"type":"host-result","t":"2026-12-03T01:00:00.000Z","step":"lag","host":"b","outcome":"passed","command":null,"exit_code":0,"duration_ms":9,"attempts":2,"reasons":[],"measurements":[],"stdout":"","stderr":"","output_file":null,"error":null,"captured":[["slot","standby_1"]],"samples":[{"at_ms":0,"value":3.0,"passed":false},{"at_ms":5000,"passed":true}]}"#,
      ),
      (
        Record::WouldRun {
          t: t(),
          step: "fix".into(),
          host: "a".into(),
          command: "restart".into(),
          note: None,
        },
        r#"{"type":"would-run","t":"2026-12-03T01:00:00.000Z","step":"fix","host":"a","command":"restart","note":null}"#,
      ),
      (
        Record::Manual {
          t: t(),
          step: "tell".into(),
          instructions: "Post.".into(),
        },
        r#"{"type":"manual","t":"2026-12-03T01:00:00.000Z","step":"tell","instructions":"Post."}"#,
      ),
      (
        Record::Decision {
          t: t(),
          step: "fix".into(),
          host: None,
          question: "confirm".into(),
          answer: Answer::Interrupt,
          shown: None,
          by: None,
          value: None,
        },
        r#"{"type":"decision","t":"2026-12-03T01:00:00.000Z","step":"fix","host":null,"question":"confirm","answer":"interrupt"}"#,
      ),
      (
        Record::Decision {
          t: t(),
          step: "fix".into(),
          host: Some("db-primary-01".into()),
          question: "confirm".into(),
          answer: Answer::Yes,
          shown: Some("2026-12-03T00:59:58.000Z".into()),
          by: Some("operator".into()),
          value: None,
        },
        r#"{"type":"decision","t":"2026-12-03T01:00:00.000Z","step":"fix","host":"db-primary-01","question":"confirm","answer":"yes","shown":"2026-12-03T00:59:58.000Z","by":"operator"}"#,
      ),
      (
        Record::Decision {
          t: t(),
          step: "which".into(),
          host: None,
          question: "input".into(),
          answer: Answer::Yes,
          shown: Some("2026-12-03T00:59:58.000Z".into()),
          by: Some("operator".into()),
          value: Some("/var/log/app".into()),
        },
        r#"{"type":"decision","t":"2026-12-03T01:00:00.000Z","step":"which","host":null,"question":"input","answer":"yes","shown":"2026-12-03T00:59:58.000Z","by":"operator","value":"/var/log/app"}"#,
      ),
      (
        Record::Note {
          t: t(),
          step: Some("fix".into()),
          text: "lag".into(),
        },
        r#"{"type":"note","t":"2026-12-03T01:00:00.000Z","step":"fix","text":"lag"}"#,
      ),
      (
        Record::Escalation {
          t: t(),
          after: "15m".into(),
          to: "Lead".into(),
          elapsed_s: 900,
          reason: None,
        },
        r#"{"type":"escalation","t":"2026-12-03T01:00:00.000Z","after":"15m","to":"Lead","elapsed_s":900}"#,
      ),
      (
        Record::Escalation {
          t: t(),
          after: "4m".into(),
          to: "DBA on call".into(),
          elapsed_s: 240,
          reason: Some("when db-disk failed".into()),
        },
        r#"{"type":"escalation","t":"2026-12-03T01:00:00.000Z","after":"4m","to":"DBA on call","elapsed_s":240,"reason":"when db-disk failed"}"#,
      ),
      (
        Record::AlertResolved {
          t: t(),
          alert: "HighErrorRate (abc)".into(),
          resolved: true,
          waited_s: 42,
        },
        r#"{"type":"alert-resolved","t":"2026-12-03T01:00:00.000Z","alert":"HighErrorRate (abc)","resolved":true,"waited_s":42}"#,
      ),
      (
        Record::SeverityRaised {
          t: t(),
          step: "db-disk".into(),
          from: "P2".into(),
          to: "P1".into(),
        },
        r#"{"type":"severity-raised","t":"2026-12-03T01:00:00.000Z","step":"db-disk","from":"P2","to":"P1"}"#,
      ),
      (
        Record::Notice {
          t: t(),
          text: "hi".into(),
        },
        r#"{"type":"notice","t":"2026-12-03T01:00:00.000Z","text":"hi"}"#,
      ),
      (
        Record::StepDone {
          t: t(),
          step: "fix".into(),
        },
        r#"{"type":"step-done","t":"2026-12-03T01:00:00.000Z","step":"fix"}"#,
      ),
      (
        Record::End {
          t: t(),
          end: RunEnd::Interrupted,
          elapsed_ms: 10,
          exit_code: None,
        },
        r#"{"type":"end","t":"2026-12-03T01:00:00.000Z","end":"interrupted","elapsed_ms":10}"#,
      ),
    ];
    for (record, expected) in &cases {
      assert_eq!(json(record), *expected);
      let back: Record = serde_json::from_str(expected).unwrap();
      assert_eq!(json(&back), *expected);
    }
  }

  /// Every value of the recorded enums, by its recorded name.
  #[test]
  fn enum_values_keep_their_recorded_names() {
    let s = |v: serde_json::Value| v.as_str().unwrap().to_string();
    let outcomes: Vec<String> = [
      Outcome::Passed,
      Outcome::Failed,
      Outcome::Skipped,
      Outcome::Declined,
      Outcome::SkippedByOperator,
      Outcome::Aborted,
      Outcome::Unreachable,
      Outcome::Rehearsed,
      Outcome::NotRun,
      Outcome::Unconfirmed,
      Outcome::Interrupted,
      Outcome::Unknown,
      Outcome::NotApplicable,
    ]
    .map(|o| s(serde_json::to_value(o).unwrap()))
    .to_vec();
    assert_eq!(
      outcomes,
      [
        "passed",
        "failed",
        "skipped",
        "declined",
        "skipped-by-operator",
        "aborted",
        "unreachable",
        "rehearsed",
        "not-run",
        "unconfirmed",
        "interrupted",
        "unknown",
        "not-applicable"
      ]
    );
    let answers: Vec<String> = [
      Answer::Yes,
      Answer::Skip,
      Answer::Retry,
      Answer::Abort,
      Answer::Interrupt,
      Answer::Again,
      Answer::Jump,
    ]
    .map(|a| s(serde_json::to_value(a).unwrap()))
    .to_vec();
    assert_eq!(
      answers,
      [
        "yes",
        "skip",
        "retry",
        "abort",
        "interrupt",
        "again",
        "jump"
      ]
    );
    let ends: Vec<String> = [
      RunEnd::Completed,
      RunEnd::Stopped,
      RunEnd::Aborted,
      RunEnd::Interrupted,
    ]
    .map(|e| s(serde_json::to_value(e).unwrap()))
    .to_vec();
    assert_eq!(ends, ["completed", "stopped", "aborted", "interrupted"]);
    let modes: Vec<String> = [Mode::Live, Mode::ChecksOnly, Mode::DryRun]
      .map(|m| s(serde_json::to_value(m).unwrap()))
      .to_vec();
    assert_eq!(modes, ["live", "checks-only", "dry-run"]);
  }

  #[test]
  fn engine_values_convert_there_and_back() {
    use crate::exec::event as e;
    for o in [
      e::Outcome::Passed,
      e::Outcome::NotRun,
      e::Outcome::Unconfirmed,
    ] {
      assert_eq!(e::Outcome::from(Outcome::from(o)), o);
    }
    for m in [
      plan::RunMode::Live,
      plan::RunMode::ChecksOnly,
      plan::RunMode::DryRun,
    ] {
      assert_eq!(plan::RunMode::from(Mode::from(m)), m);
    }
  }

  #[test]
  fn one_wording_for_how_a_run_ended() {
    assert_eq!(RunEnd::Stopped.to_string(), "stopped early");
    assert_eq!(ended(None), "did not finish (crashed or still running)");
  }
}
