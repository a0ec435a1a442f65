//! From YAML text to a `Runbook`, reporting every structural problem with its position.
//! Checks that need nothing but the file itself live here; checks that need the inventory or
//! compiled regexes live in `validate`.

use std::collections::HashMap;

use crate::diagnostic::{Collector, did_you_mean};
use crate::runbook::model::*;
use crate::schema::{self, Fields, Loc, is_id};
use crate::yaml::{self, Node, Value};

const RUNBOOK_KEYS: &[&str] = &[
  "id",
  "title",
  "severity",
  "source",
  "description",
  "symptoms",
  "alerts",
  "causes",
  "recovery_target",
  "parameters",
  "escalation",
  "shell",
  "steps",
];
const PARAMETER_KEYS: &[&str] = &["default", "help", "required", "choices", "secret_env"];
const RUNG_KEYS: &[&str] = &["after", "when", "to"];
const STEP_KEYS: &[&str] = &[
  "id",
  "title",
  "targets",
  "check",
  "action",
  "manual",
  "when",
  "after",
  "verifies",
  "sudo",
  "timeout",
  "retry",
  "on_failure",
  "input",
  "choice",
  "capture",
  "wait",
  "serial",
  "shell",
  "raise",
  "runbook",
  "vars",
  "repeat",
  "one_of",
];
/// Keys that mean something only for a step that runs a command on hosts.
const COMMAND_ONLY_KEYS: &[&str] = &[
  "targets", "sudo", "timeout", "retry", "capture", "wait", "serial", "shell", "after", "one_of",
  "verifies",
];
const KINDS: &[&str] = &["check", "action", "manual", "input", "choice", "runbook"];
const REPEAT_KEYS: &[&str] = &["times", "until"];
const INPUT_KEYS: &[&str] = &["name", "help", "default", "choices", "pattern"];
const CHOICE_KEYS: &[&str] = &["name", "help", "default", "options"];
const CAPTURE_KEYS: &[&str] = &["regex", "json", "stream", "secret"];
const WAIT_KEYS: &[&str] = &["every", "up_to", "until", "value"];
const CHECK_KEYS: &[&str] = &["command", "prometheus", "expect"];
const PROMETHEUS_KEYS: &[&str] = &["query", "empty"];
/// How a Prometheus check's command starts: megacity itself, on the operator's machine.
const PROMETHEUS_QUERY: &str = "\"$MEGACITY\" prometheus-query";
const ACTION_KEYS: &[&str] = &["command", "confirm", "destructive", "expect"];
const MANUAL_KEYS: &[&str] = &["instructions"];
const EXPECT_KEYS: &[&str] = &[
  "exit_code",
  "stdout_matches",
  "stdout_not_matches",
  "stderr_matches",
  "stderr_not_matches",
  "thresholds",
];
const THRESHOLD_KEYS: &[&str] = &["name", "regex", "stream", "min", "max", "unit"];
const WHEN_KEYS: &[&str] = &[
  "failed", "passed", "unknown", "is", "is_not", "one_of", "above", "below",
];
const RETRY_KEYS: &[&str] = &["attempts", "delay"];

/// Parses one runbook. `expected_id` is the file's stem, which the `id` must equal.
/// Returns the runbook when its structure was readable; the collector says whether it is valid.
pub(crate) fn parse(c: &mut Collector, text: &str, expected_id: Option<&str>) -> Option<Runbook> {
  let root = match yaml::parse(text) {
    Ok(root) => root,
    Err(e) => {
      c.error(e.pos, format!("invalid YAML: {}", e.message), None);
      return None;
    }
  };
  let f = Fields::new(c, &root, "runbook", RUNBOOK_KEYS)?;

  let id = f.req_string(c, "id");
  if let Some(id) = &id {
    if !is_id(id) {
      c.error(
        id.pos,
        format!("runbook id `{}` is not valid", id.value),
        Some("ids use lowercase letters, digits and `-`, e.g. `redis-outage`".into()),
      );
    } else if let Some(expected) = expected_id.filter(|e| *e != id.value) {
      c.error(
        id.pos,
        format!(
          "runbook id `{}` does not match its file name `{expected}.yaml`",
          id.value
        ),
        Some(format!(
          "rename the file to `{}.yaml` or set `id: {expected}`",
          id.value
        )),
      );
    }
  }
  let title = f.req_string(c, "title");
  let severity = f.required(c, "severity").and_then(|n| severity(c, n));
  let source = f.opt_string(c, "source").map(|s| s.value);
  let description = f.opt_string(c, "description").map(|s| s.value);
  let symptoms = f
    .string_list(c, "symptoms")
    .into_iter()
    .map(|s| s.value)
    .collect();
  let alerts = f.string_list(c, "alerts");
  let causes = f
    .string_list(c, "causes")
    .into_iter()
    .map(|s| s.value)
    .collect();
  let recovery_target = f.opt_duration(c, "recovery_target").map(|d| d.value);
  let parameters = f
    .get("parameters")
    .map(|n| parameters(c, n))
    .unwrap_or_default();
  let (escalation, escalate_on) = f
    .get("escalation")
    .map(|n| escalation(c, n))
    .unwrap_or_default();
  let shell = f.get("shell").and_then(|n| shell(c, n)).unwrap_or_default();
  let steps = f
    .required(c, "steps")
    .map(|n| steps(c, n))
    .unwrap_or_default();

  // Missing or invalid keys have been reported; placeholders let validation carry on and find
  // the rest of the problems in the same pass. The collector marks the runbook invalid.
  Some(Runbook {
    id: id.map(|i| i.value).unwrap_or_default(),
    title: title.map(|t| t.value).unwrap_or_default(),
    severity: severity.unwrap_or(Severity::P1),
    source,
    description,
    symptoms,
    alerts,
    causes,
    recovery_target,
    parameters,
    escalation,
    escalate_on,
    shell,
    steps,
  })
}

fn shell(c: &mut Collector, node: &Node) -> Option<Shell> {
  let text = schema::string(c, node, "shell")?;
  match text.value.as_str() {
    "sh" => Some(Shell::Sh),
    "bash" => Some(Shell::Bash),
    other => {
      c.error(
        text.pos,
        format!("unknown shell `{other}`"),
        Some("`sh` (the default: POSIX sh, dash on Debian) or `bash` (with pipefail)".into()),
      );
      None
    }
  }
}

fn severity(c: &mut Collector, node: &Node) -> Option<Severity> {
  let text = schema::string(c, node, "severity")?;
  let parsed = Severity::parse(&text);
  if parsed.is_none() {
    c.error(
      node.pos,
      format!("unknown severity `{}`", text.value),
      did_you_mean(&text.value, ["P1", "P2", "P3", "P4"])
        .or_else(|| Some("severity is one of P1, P2, P3, P4".into())),
    );
  }
  parsed
}

fn parameters(c: &mut Collector, node: &Node) -> Vec<Parameter> {
  let Value::Map(entries) = &node.value else {
    c.error(
      node.pos,
      format!(
        "`parameters` must be a mapping of names, found {}",
        node.kind()
      ),
      None,
    );
    return Vec::new();
  };
  let mut out: Vec<Parameter> = Vec::new();
  for (key, value) in entries {
    let Some(name) = schema::string(c, key, "parameter name") else {
      continue;
    };
    if !is_param_name(&name) || name.value == "host" {
      c.error(
        name.pos,
        format!("parameter name `{}` is not valid", name.value),
        Some(if name.value == "host" {
          "`host` is built in: it is the name of the host a step runs on".into()
        } else {
          "parameter names use lowercase letters, digits and `_`, e.g. `redis_port`".into()
        }),
      );
      continue;
    }
    if out.iter().any(|p| p.name.value == name.value) {
      c.error(
        name.pos,
        format!("duplicate parameter `{}`", name.value),
        None,
      );
      continue;
    }
    // `name:` with nothing after it declares a parameter with no default.
    let empty = Node {
      pos: value.pos,
      value: Value::Map(Vec::new()),
    };
    let value = if matches!(value.value, Value::Null) {
      &empty
    } else {
      value
    };
    let Some(f) = Fields::new(c, value, "parameter", PARAMETER_KEYS) else {
      continue;
    };
    let default = f.opt_string(c, "default");
    let help = f.opt_string(c, "help").map(|s| s.value);
    let required = f.opt_bool(c, "required").unwrap_or(false);
    let choices = f.string_list(c, "choices");
    let secret_env = f.opt_string(c, "secret_env");
    if let (Some(default), false) = (&default, choices.is_empty())
      && !choices.iter().any(|ch| ch.value == default.value)
    {
      let hint = did_you_mean(&default.value, choices.iter().map(|ch| ch.value.as_str()))
        .unwrap_or_else(|| {
          let all: Vec<&str> = choices.iter().map(|ch| ch.value.as_str()).collect();
          format!("choices are: {}", all.join(", "))
        });
      c.error(
        default.pos,
        format!("default `{}` is not one of the choices", default.value),
        Some(hint),
      );
    }
    if let (Some(secret), Some(default)) = (&secret_env, &default) {
      c.error(
        default.pos,
        format!("secret parameter `{}` cannot have a default", name.value),
        Some(format!(
          "the value comes from the environment variable `{}`",
          secret.value
        )),
      );
    }
    if let Some(secret) = &secret_env {
      let valid = !secret.is_empty()
        && secret
          .chars()
          .all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
        && !secret.starts_with(|ch: char| ch.is_ascii_digit());
      if !valid {
        c.error(
          secret.pos,
          format!("`{}` is not an environment variable name", secret.value),
          None,
        );
      }
    }
    out.push(Parameter {
      name,
      default,
      help,
      required,
      choices,
      secret_env: secret_env.map(|s| s.value),
    });
  }
  out
}

pub(crate) fn is_param_name(s: &str) -> bool {
  let mut chars = s.chars();
  matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c == '_')
    && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Time rungs (`after:`) and rungs on findings (`when:`).
fn escalation(c: &mut Collector, node: &Node) -> (Vec<Rung>, Vec<ConditionRung>) {
  let Value::Seq(items) = &node.value else {
    c.error(
      node.pos,
      format!("`escalation` must be a list, found {}", node.kind()),
      None,
    );
    return (Vec::new(), Vec::new());
  };
  let mut rungs: Vec<Rung> = Vec::new();
  let mut on: Vec<ConditionRung> = Vec::new();
  for item in items {
    let Some(f) = Fields::new(c, item, "escalation rung", RUNG_KEYS) else {
      continue;
    };
    if let Some(w) = f.get("when") {
      if f.has("after") {
        c.error(
          f.pos,
          "a rung fires `after:` a time or `when:` a finding, not both",
          Some("write two rungs".into()),
        );
      }
      let when = when(c, w);
      if let Some(to) = f.req_string(c, "to") {
        on.push(ConditionRung { when, to: to.value });
      }
      continue;
    }
    let after = f
      .required(c, "after")
      .and_then(|n| schema::duration(c, n, "after"));
    let to = f.req_string(c, "to");
    let (Some(after), Some(to)) = (after, to) else {
      continue;
    };
    if let Some(previous) = rungs.last().filter(|p| p.after >= after.value) {
      c.error(
        after.pos,
        format!(
          "escalation rungs must be in increasing order: {} comes after {}",
          schema::format_duration(after.value),
          schema::format_duration(previous.after)
        ),
        None,
      );
    }
    rungs.push(Rung {
      after: after.value,
      to: to.value,
    });
  }
  (rungs, on)
}

fn steps(c: &mut Collector, node: &Node) -> Vec<Step> {
  let Value::Seq(items) = &node.value else {
    c.error(
      node.pos,
      format!("`steps` must be a list, found {}", node.kind()),
      None,
    );
    return Vec::new();
  };
  if items.is_empty() {
    c.error(node.pos, "a runbook needs at least one step", None);
  }
  let mut out: Vec<Step> = Vec::new();
  // Position of every step id seen so far, and of all ids, for `when:` ordering.
  let all_ids: HashMap<String, usize> = items
    .iter()
    .enumerate()
    .filter_map(|(i, item)| step_id_of(item).map(|id| (id, i)))
    .collect();
  for (index, item) in items.iter().enumerate() {
    if let Some(step) = step(c, item) {
      if out.iter().any(|s| s.id.value == step.id.value) {
        c.error(
          step.id.pos,
          format!("duplicate step id `{}`", step.id.value),
          None,
        );
      }
      check_when(c, &step, index, &all_ids);
      check_after(c, &step, &out);
      check_verifies(c, &step, &out);
      out.push(step);
    }
  }
  out
}

fn step_id_of(node: &Node) -> Option<String> {
  let Value::Map(entries) = &node.value else {
    return None;
  };
  entries
    .iter()
    .find_map(|(k, v)| match (&k.value, &v.value) {
      (Value::Str(k), Value::Str(v)) if k == "id" => Some(v.clone()),
      _ => None,
    })
}

/// `after:` names an earlier action, and only a check has one: it is that action's verification.
fn check_after(c: &mut Collector, step: &Step, earlier: &[Step]) {
  let Some(after) = &step.after else {
    return;
  };
  if !matches!(step.kind, StepKind::Check { .. }) {
    c.error(
      after.pos,
      format!("`after:` is for checks; `{}` is not one", step.id.value),
      Some("`after: ACTION` marks a check as the verification of that action".into()),
    );
    return;
  }
  match earlier.iter().find(|s| s.id.value == after.value) {
    Some(s) if matches!(s.kind, StepKind::Action { .. }) => {}
    Some(s) => c.error(
      after.pos,
      format!(
        "`after:` names `{}`, which is {}, not an action",
        s.id.value,
        with_article(s.kind_name())
      ),
      Some("`after: ACTION` marks a check as the verification of that action".into()),
    ),
    None => c.error(
      after.pos,
      format!(
        "`after:` refers to `{}`, which is not an earlier step",
        after.value
      ),
      did_you_mean(&after.value, earlier.iter().map(|s| s.id.value.as_str())),
    ),
  }
}

/// "a check", "an action", "an input".
fn with_article(kind: &str) -> String {
  let an = kind.starts_with(['a', 'e', 'i', 'o', 'u']);
  format!("{} {kind}", if an { "an" } else { "a" })
}

/// `verifies:` names earlier checks, and only a check has it: it measures them again.
fn check_verifies(c: &mut Collector, step: &Step, earlier: &[Step]) {
  let hint =
    || Some("`verifies: [CHECK]` marks a check as measuring an earlier check again".into());
  for id in &step.verifies {
    if !matches!(step.kind, StepKind::Check { .. }) {
      c.error(
        id.pos,
        format!("`verifies:` is for checks; `{}` is not one", step.id.value),
        hint(),
      );
      return;
    }
    match earlier.iter().find(|s| s.id.value == id.value) {
      Some(s) if matches!(s.kind, StepKind::Check { .. }) => {}
      Some(s) => c.error(
        id.pos,
        format!(
          "`verifies:` names `{}`, which is {}, not a check",
          s.id.value,
          with_article(s.kind_name())
        ),
        hint(),
      ),
      None => c.error(
        id.pos,
        format!(
          "`verifies:` refers to `{}`, which is not an earlier step",
          id.value
        ),
        did_you_mean(&id.value, earlier.iter().map(|s| s.id.value.as_str())),
      ),
    }
  }
}

/// `all_ids` holds every step id with its index, including steps that failed to parse, so a
/// broken step is not reported a second time as "unknown" by the steps that depend on it.
fn check_when(c: &mut Collector, step: &Step, index: usize, all_ids: &HashMap<String, usize>) {
  for reference in step.when.references() {
    // A step of a runbook an earlier step calls: `CALL/step` (or `CALL#2/step` for a round).
    let called = reference
      .value
      .split_once('/')
      .map(|(call, _)| call.split('#').next().unwrap_or(call));
    if let Some(call) = called
      && all_ids.get(call).is_some_and(|&at| at < index)
    {
      continue;
    }
    match all_ids.get(&reference.value) {
      Some(&at) if at < index => {}
      Some(&at) if at == index => {
        c.error(
          reference.pos,
          format!("step `{}` has a `when:` on itself", step.id.value),
          None,
        );
      }
      Some(_) => c.error(
        reference.pos,
        format!(
          "`when:` refers to step `{}`, which comes later",
          reference.value
        ),
        Some("a condition can only use the result of an earlier step".into()),
      ),
      None => c.error(
        reference.pos,
        format!("`when:` refers to unknown step `{}`", reference.value),
        did_you_mean(
          &reference.value,
          all_ids
            .iter()
            .filter(|(_, at)| **at < index)
            .map(|(id, _)| id.as_str()),
        ),
      ),
    }
  }
}

fn step(c: &mut Collector, node: &Node) -> Option<Step> {
  let f = Fields::new(c, node, "step", STEP_KEYS)?;
  let id = f.req_string(c, "id");
  if let Some(id) = id.as_ref().filter(|id| !is_id(id)) {
    c.error(
      id.pos,
      format!("step id `{}` is not valid", id.value),
      Some("step ids use lowercase letters, digits and `-`, e.g. `restart-redis`".into()),
    );
  }
  let title = f.req_string(c, "title");
  let kinds: Vec<&str> = KINDS.iter().copied().filter(|k| f.has(k)).collect();
  let kind = match kinds.as_slice() {
    [one] => step_kind(c, one, f.get(one)?),
    [] => {
      c.error(
        f.pos,
        "a step needs one of `check`, `action`, `manual`, `input` or `choice`",
        Some(
          "`check` diagnoses, `action` changes something after asking, `manual` is for a human, `input`/`choice` ask the operator"
            .into(),
        ),
      );
      None
    }
    _ => {
      c.error(
        f.pos,
        format!(
          "a step is exactly one of check, action, manual, input or choice; this one has {}",
          kinds.join(" and ")
        ),
        Some("split it into separate steps".into()),
      );
      None
    }
  };
  // A step that runs no command: keys about commands would be silently ignored.
  if let Some(k @ (StepKind::Manual { .. } | StepKind::Input(_) | StepKind::Call(_))) = &kind {
    for key in COMMAND_ONLY_KEYS.iter().filter(|key| f.has(key)) {
      let at = f.key_pos(key).unwrap_or(f.pos);
      c.error(
        at,
        format!("`{key}` does not apply to a {} step", k.name()),
        Some(format!(
          "a {} step runs no command; `{key}` is for checks and actions",
          k.name()
        )),
      );
    }
  }
  if !matches!(kind, Some(StepKind::Call(_)) | None) {
    for key in ["vars", "repeat"].iter().filter(|key| f.has(key)) {
      c.error(
        f.key_pos(key).unwrap_or(f.pos),
        format!("`{key}` is for a step that runs another runbook (`runbook: ID`)"),
        None,
      );
    }
  }
  let kind = match kind {
    Some(StepKind::Call(mut call)) => {
      call.vars = f.get("vars").map(|n| call_vars(c, n)).unwrap_or_default();
      call.repeat = f.get("repeat").and_then(|n| repeat(c, n));
      Some(StepKind::Call(call))
    }
    other => other,
  };
  let targets = f.string_list(c, "targets");
  if targets.is_empty()
    && !matches!(
      kind,
      Some(StepKind::Manual { .. } | StepKind::Input(_) | StepKind::Call(_)) | None
    )
  {
    let pos = f.get("targets").map_or(f.pos, |n| n.pos);
    c.error(
      pos,
      "this step needs `targets`: host names, group names, or `local`",
      Some("e.g. `targets: [redis-master-01]`".into()),
    );
  }
  if let Some(StepKind::Check { command, .. }) = &kind
    && command.value.starts_with(PROMETHEUS_QUERY)
    && !(targets.len() == 1 && targets[0].value == "local")
  {
    c.error(
      f.get("targets").map_or(f.pos, |n| n.pos),
      "a Prometheus check runs on the operator's machine: `targets: [local]`",
      Some("megacity asks the configured Prometheus itself (`prometheus:` in the config file, or MEGACITY_PROMETHEUS)".into()),
    );
  }
  let when = f.get("when").map(|n| when(c, n)).unwrap_or_default();
  let after = f.get("after").and_then(|n| schema::string(c, n, "after"));
  let verifies = f.string_list(c, "verifies");
  let sudo = f.opt_bool(c, "sudo").unwrap_or(false);
  let timeout = f
    .opt_duration(c, "timeout")
    .map_or(DEFAULT_TIMEOUT, |d| d.value);
  let retry = f.get("retry").and_then(|n| retry(c, n)).unwrap_or_default();
  let on_failure = f.get("on_failure").and_then(|n| on_failure(c, n));
  let capture = f.get("capture").map(|n| captures(c, n)).unwrap_or_default();
  let wait = f.get("wait").and_then(|n| wait(c, n));
  let serial = f.opt_bool(c, "serial").unwrap_or(false);
  let one_of = f.opt_bool(c, "one_of").unwrap_or(false);
  let shell = f.get("shell").and_then(|n| shell(c, n));
  let raise = f.get("raise").and_then(|n| severity(c, n));
  let kind = kind?;
  if let (Some(w), false) = (&wait, matches!(kind, StepKind::Check { .. })) {
    c.error(
      f.key_pos("wait").unwrap_or(f.pos),
      format!("`wait` is for checks; this step is an {}", kind.name()),
      Some("poll a check after the action instead".into()),
    );
    let _ = w;
  }
  if wait.is_some() && retry.attempts > 1 {
    c.error(
      f.key_pos("retry").unwrap_or(f.pos),
      "a step has `retry` or `wait`, not both",
      Some("`wait: {every, up_to}` polls until the expectation holds".into()),
    );
  }
  let on_failure = on_failure.unwrap_or(match kind {
    StepKind::Check { .. } => OnFailure::Continue,
    _ => OnFailure::Ask,
  });
  Some(Step {
    id: id?,
    title: title?.value,
    targets,
    kind,
    when,
    after,
    verifies,
    sudo,
    timeout,
    retry,
    on_failure,
    capture,
    wait,
    serial,
    one_of,
    shell,
    raise,
    gates: Vec::new(),
  })
}

fn call_vars(c: &mut Collector, node: &Node) -> Vec<(Loc<String>, Loc<String>)> {
  let Value::Map(entries) = &node.value else {
    c.error(
      node.pos,
      format!(
        "`vars` maps the called runbook's parameters to values, found {}",
        node.kind()
      ),
      Some("e.g. `vars: {redis_port: '{{redis_port}}'}`".into()),
    );
    return Vec::new();
  };
  entries
    .iter()
    .filter_map(|(k, v)| Some((schema::string(c, k, "vars")?, schema::string(c, v, "vars")?)))
    .collect()
}

fn repeat(c: &mut Collector, node: &Node) -> Option<Repeat> {
  let f = Fields::new(c, node, "repeat", REPEAT_KEYS)?;
  let times = f.required(c, "times").and_then(|n| {
    let value = schema::integer(c, n, "times")?;
    if !(1..=20).contains(&value) {
      c.error(
        n.pos,
        format!("`times` must be between 1 and 20, found {value}"),
        None,
      );
      return None;
    }
    Some(value as u32)
  })?;
  let until = f.get("until").map(|n| when(c, n));
  Some(Repeat { times, until })
}

fn captures(c: &mut Collector, node: &Node) -> Vec<Capture> {
  let Value::Map(entries) = &node.value else {
    c.error(
      node.pos,
      format!(
        "`capture` must be a mapping of names to regexes, found {}",
        node.kind()
      ),
      Some("e.g. `capture: {primary: '^(\\S+)'}`".into()),
    );
    return Vec::new();
  };
  let mut out: Vec<Capture> = Vec::new();
  for (key, value) in entries {
    let Some(name) = schema::string(c, key, "capture name") else {
      continue;
    };
    if !is_param_name(&name) {
      c.error(
        name.pos,
        format!("capture name `{}` is not valid", name.value),
        Some("names use lowercase letters, digits and `_`, e.g. `primary`".into()),
      );
    }
    if out.iter().any(|o| o.name.value == name.value) {
      c.error(
        name.pos,
        format!("duplicate capture `{}`", name.value),
        None,
      );
    }
    let capture = match &value.value {
      Value::Str(_) => schema::string(c, value, "capture").map(|regex| Capture {
        name: name.clone(),
        from: CaptureFrom::Regex(regex),
        stream: Stream::Stdout,
        secret: false,
      }),
      _ => {
        let Some(f) = Fields::new(c, value, "capture", CAPTURE_KEYS) else {
          continue;
        };
        let from = match (f.opt_string(c, "regex"), f.opt_string(c, "json")) {
          (Some(r), None) => Some(CaptureFrom::Regex(r)),
          (None, Some(j)) => {
            if !(j.value.is_empty() || j.value.starts_with('/')) {
              c.error(
                j.pos,
                format!("`{}` is not a JSON Pointer", j.value),
                Some("a JSON Pointer starts with `/`: `/server/version`, `/0/name`".into()),
              );
            }
            Some(CaptureFrom::Json(j))
          }
          _ => {
            c.error(
              f.pos,
              "a capture takes its value by `regex` or by `json` (a JSON Pointer), one of them",
              None,
            );
            None
          }
        };
        let stream = match f.opt_string(c, "stream") {
          Some(s) if s.value == "stderr" => Stream::Stderr,
          Some(s) if s.value != "stdout" => {
            c.error(
              s.pos,
              format!("unknown stream `{}`", s.value),
              Some("stream is stdout or stderr".into()),
            );
            Stream::Stdout
          }
          _ => Stream::Stdout,
        };
        let secret = f.opt_bool(c, "secret").unwrap_or(false);
        from.map(|from| Capture {
          name: name.clone(),
          from,
          stream,
          secret,
        })
      }
    };
    out.extend(capture);
  }
  out
}

fn wait(c: &mut Collector, node: &Node) -> Option<Wait> {
  let f = Fields::new(c, node, "wait", WAIT_KEYS)?;
  let every = f
    .required(c, "every")
    .and_then(|n| schema::duration(c, n, "every"))?;
  let up_to = f
    .required(c, "up_to")
    .and_then(|n| schema::duration(c, n, "up_to"))?;
  if every.value.is_zero() || up_to.value < every.value {
    c.error(
      up_to.pos,
      "`up_to` must be at least one `every`, and `every` more than 0",
      None,
    );
  }
  let value = f.opt_string(c, "value");
  let until = match f.opt_string(c, "until") {
    None => Until::Holds,
    Some(u) => match (u.value.as_str(), value.clone()) {
      ("holds", None) => Until::Holds,
      ("stops_rising", Some(v)) => Until::StopsRising(v),
      ("stops_falling", Some(v)) => Until::StopsFalling(v),
      ("stops_rising" | "stops_falling", None) => {
        c.error(
          u.pos,
          format!(
            "`until: {}` needs `value:`, the threshold or capture to watch",
            u.value
          ),
          None,
        );
        return None;
      }
      ("holds", Some(v)) => {
        c.error(
          v.pos,
          "`value` is for `until: stops_rising` or `stops_falling`",
          None,
        );
        return None;
      }
      (other, _) => {
        c.error(
          u.pos,
          format!("unknown `until: {other}`"),
          did_you_mean(other, ["holds", "stops_rising", "stops_falling"])
            .or(Some("until is holds, stops_rising or stops_falling".into())),
        );
        return None;
      }
    },
  };
  if let (Some(v), Until::Holds) = (&value, &until) {
    c.error(
      v.pos,
      "`value` is for `until: stops_rising` or `stops_falling`",
      None,
    );
  }
  Some(Wait {
    every: every.value,
    up_to: up_to.value,
    until,
  })
}

fn question(c: &mut Collector, node: &Node, branches: bool) -> Option<Question> {
  let f = if branches {
    Fields::new(c, node, "choice", CHOICE_KEYS)?
  } else {
    Fields::new(c, node, "input", INPUT_KEYS)?
  };
  let name = f.req_string(c, "name");
  if let Some(n) = name.as_ref().filter(|n| !is_param_name(n)) {
    c.error(
      n.pos,
      format!("`{}` is not a valid name", n.value),
      Some("names use lowercase letters, digits and `_`, e.g. `clean_path`".into()),
    );
  }
  let help = f.opt_string(c, "help").map(|h| h.value);
  let default = f.opt_string(c, "default");
  let choices: Vec<(Loc<String>, String)> = if branches {
    match f.required(c, "options").map(|n| (n, &n.value)) {
      Some((_, Value::Map(entries))) => entries
        .iter()
        .filter_map(|(k, v)| {
          let key = schema::string(c, k, "option")?;
          let text = schema::string(c, v, "option").map(|t| t.value)?;
          Some((key, text))
        })
        .collect(),
      Some((n, _)) => {
        c.error(
          n.pos,
          format!(
            "`options` must map each branch to what it means, found {}",
            n.kind()
          ),
          Some(
            "e.g. `options: {restart: Restart Redis, failover: Fail over to the replica}`".into(),
          ),
        );
        Vec::new()
      }
      None => Vec::new(),
    }
  } else {
    f.string_list(c, "choices")
      .into_iter()
      .map(|v| (v, String::new()))
      .collect()
  };
  if branches && choices.len() < 2 && f.has("options") {
    c.error(f.pos, "a choice needs at least two options", None);
  }
  let pattern = f.opt_string(c, "pattern");
  if let Some(p) = &pattern
    && let Err(e) = regex::Regex::new(&p.value)
  {
    c.error(
      p.pos,
      format!(
        "invalid pattern: {}",
        e.to_string().lines().last().unwrap_or("")
      ),
      None,
    );
  }
  if let Some(d) = &default
    && !choices.is_empty()
    && !choices.iter().any(|(k, _)| k.value == d.value)
  {
    c.error(
      d.pos,
      format!("default `{}` is not one of the choices", d.value),
      did_you_mean(&d.value, choices.iter().map(|(k, _)| k.value.as_str())),
    );
  }
  Some(Question {
    name: name?,
    help,
    default,
    choices,
    pattern,
    branches,
  })
}

fn step_kind(c: &mut Collector, kind: &str, node: &Node) -> Option<StepKind> {
  match kind {
    "check" => {
      let f = Fields::new(c, node, "check", CHECK_KEYS)?;
      if let Some(query) = f.get("prometheus") {
        if let Some(pos) = f.key_pos("command") {
          c.error(
            pos,
            "a check has a `command` or a `prometheus` query, not both",
            None,
          );
        }
        return prometheus_check(c, query, f.get("expect"), f.pos);
      }
      let command = f.req_string(c, "command").map(trim_command);
      let expect = match f.get("expect") {
        Some(n) => expect(c, n, true),
        None => {
          c.error(
            f.pos,
            "a check needs expectations (`expect:`)",
            Some("e.g. `expect: {exit_code: 0}`, a regex, or a threshold".into()),
          );
          None
        }
      };
      Some(StepKind::Check {
        command: command?,
        expect: expect?,
      })
    }
    "action" => {
      let f = Fields::new(c, node, "action", ACTION_KEYS)?;
      let command = f.req_string(c, "command").map(trim_command);
      let confirm = f.opt_string(c, "confirm");
      let destructive = f.opt_bool(c, "destructive").unwrap_or(false);
      let expect = match f.get("expect") {
        Some(n) => expect(c, n, false)?,
        None => Expect::default(),
      };
      Some(StepKind::Action {
        command: command?,
        confirm,
        destructive,
        expect,
      })
    }
    "input" => question(c, node, false).map(StepKind::Input),
    "choice" => question(c, node, true).map(StepKind::Input),
    "runbook" => schema::string(c, node, "runbook").map(|id| {
      StepKind::Call(Call {
        runbook: id,
        vars: Vec::new(),
        repeat: None,
      })
    }),
    _ => {
      let f = Fields::new(c, node, "manual step", MANUAL_KEYS)?;
      Some(StepKind::Manual {
        instructions: f.req_string(c, "instructions")?,
      })
    }
  }
}

/// A PromQL check: megacity itself asks the configured Prometheus (`"$MEGACITY"
/// prometheus-query`, run on the operator's machine), which prints each series' value and the
/// highest and lowest of them; each threshold judges the worst series (a `max` the highest, a
/// `min` the lowest). No series is *unknown*, unless `empty: pass`.
fn prometheus_check(
  c: &mut Collector,
  node: &Node,
  expect_node: Option<&Node>,
  pos: yaml::Pos,
) -> Option<StepKind> {
  let f = Fields::new(c, node, "prometheus", PROMETHEUS_KEYS)?;
  let query = f.req_string(c, "query").map(trim_command);
  let empty_ok = match f.opt_string(c, "empty") {
    None => false,
    Some(e) if e.value == "unknown" => false,
    Some(e) if e.value == "pass" => true,
    Some(e) => {
      c.error(
        e.pos,
        format!("unknown `empty` value `{}`", e.value),
        Some("`empty: unknown` (the default) or `empty: pass`".into()),
      );
      false
    }
  };
  let Some(expect_node) = expect_node else {
    c.error(
      pos,
      "a Prometheus check needs thresholds (`expect: {thresholds: …}`)",
      Some("e.g. `thresholds: [{name: error_rate, max: 0.01}]`".into()),
    );
    return None;
  };
  let g = Fields::new(c, expect_node, "expect", &["thresholds"])?;
  let Some(list) = g.get("thresholds") else {
    c.error(
      expect_node.pos,
      "a Prometheus check needs thresholds",
      Some("e.g. `thresholds: [{name: error_rate, max: 0.01}]`".into()),
    );
    return None;
  };
  let Value::Seq(items) = &list.value else {
    c.error(
      list.pos,
      format!("`thresholds` must be a list, found {}", list.kind()),
      None,
    );
    return None;
  };
  let mut thresholds = Vec::new();
  for item in items {
    let Some(t) = Fields::new(c, item, "threshold", &["name", "min", "max", "unit"]) else {
      continue;
    };
    let name = t.req_string(c, "name");
    let (min, min_from) = t.get("min").map_or((None, None), |n| bound(c, n, "min"));
    let (max, max_from) = t.get("max").map_or((None, None), |n| bound(c, n, "max"));
    let side = match (
      min.is_some() || min_from.is_some(),
      max.is_some() || max_from.is_some(),
    ) {
      (true, false) => "lowest",
      (false, true) => "highest",
      _ => {
        c.error(
          item.pos,
          "a Prometheus threshold takes `min` or `max` (one of them: give two thresholds for both)",
          None,
        );
        continue;
      }
    };
    let Some(name) = name else { continue };
    thresholds.push(Threshold {
      name: name.value,
      regex: Loc {
        value: format!("(?m)^{side}=(\\S+)"),
        pos: item.pos,
      },
      stream: Stream::Stdout,
      min,
      max,
      min_from,
      max_from,
      unit: t.opt_string(c, "unit").map(|u| u.value),
      absent_ok: empty_ok,
    });
  }
  let query = query?;
  let empty = if empty_ok { "pass" } else { "unknown" };
  Some(StepKind::Check {
    command: Loc {
      value: format!(
        "{PROMETHEUS_QUERY} --empty {empty} <<'PROMQL'\n{}\nPROMQL",
        query.value
      ),
      pos: query.pos,
    },
    expect: Expect {
      thresholds,
      ..Expect::default()
    },
  })
}

/// A block scalar (`|`) ends in a newline that is not part of the command.
fn trim_command(mut command: Loc<String>) -> Loc<String> {
  command.value.truncate(command.value.trim_end().len());
  command
}

fn expect(c: &mut Collector, node: &Node, in_check: bool) -> Option<Expect> {
  let empty = Node {
    pos: node.pos,
    value: Value::Map(Vec::new()),
  };
  let node = if matches!(node.value, Value::Null) {
    &empty
  } else {
    node
  };
  let f = Fields::new(c, node, "expect", EXPECT_KEYS)?;
  if in_check && EXPECT_KEYS.iter().all(|k| !f.has(k)) {
    c.error(
      node.pos,
      "a check needs at least one expectation",
      Some("e.g. `exit_code: 0`, `stdout_matches: '^PONG'`, or a threshold".into()),
    );
  }
  let exit_code = f
    .get("exit_code")
    .map(|n| exit_codes(c, n))
    .unwrap_or_default();
  let thresholds = f
    .get("thresholds")
    .map(|n| thresholds(c, n))
    .unwrap_or_default();
  Some(Expect {
    exit_code,
    stdout_matches: f.opt_string(c, "stdout_matches"),
    stdout_not_matches: f.opt_string(c, "stdout_not_matches"),
    stderr_matches: f.opt_string(c, "stderr_matches"),
    stderr_not_matches: f.opt_string(c, "stderr_not_matches"),
    thresholds,
  })
}

fn exit_codes(c: &mut Collector, node: &Node) -> ExitCodes {
  let code = |c: &mut Collector, n: &Node| {
    schema::integer(c, n, "exit_code").and_then(|i| match i32::try_from(i) {
      Ok(v) if (0..=255).contains(&v) => Some(v),
      _ => {
        c.error(n.pos, format!("exit code {i} is outside 0..=255"), None);
        None
      }
    })
  };
  match &node.value {
    Value::Str(s) if s == "any" => ExitCodes::Any,
    Value::Seq(items) => ExitCodes::OneOf(items.iter().filter_map(|n| code(c, n)).collect()),
    Value::Int(_) => ExitCodes::OneOf(code(c, node).into_iter().collect()),
    _ => {
      c.error(
        node.pos,
        format!(
          "`exit_code` must be an integer, a list of integers or `any`, found {}",
          node.kind()
        ),
        None,
      );
      ExitCodes::default()
    }
  }
}

fn thresholds(c: &mut Collector, node: &Node) -> Vec<Threshold> {
  let Value::Seq(items) = &node.value else {
    c.error(
      node.pos,
      format!("`thresholds` must be a list, found {}", node.kind()),
      None,
    );
    return Vec::new();
  };
  items
    .iter()
    .filter_map(|item| {
      let f = Fields::new(c, item, "threshold", THRESHOLD_KEYS)?;
      let name = f.req_string(c, "name");
      let regex = f.req_string(c, "regex");
      let stream = match f.opt_string(c, "stream") {
        None => Some(Stream::Stdout),
        Some(s) if s.value == "stdout" => Some(Stream::Stdout),
        Some(s) if s.value == "stderr" => Some(Stream::Stderr),
        Some(s) => {
          c.error(
            s.pos,
            format!("unknown stream `{}`", s.value),
            did_you_mean(&s.value, ["stdout", "stderr"])
              .or(Some("stream is stdout or stderr".into())),
          );
          None
        }
      };
      let (min, min_from) = f.get("min").map_or((None, None), |n| bound(c, n, "min"));
      let (max, max_from) = f.get("max").map_or((None, None), |n| bound(c, n, "max"));
      if min.is_none() && max.is_none() && !f.has("min") && !f.has("max") {
        c.error(item.pos, "a threshold needs `min`, `max` or both", None);
      }
      if let (Some(lo), Some(hi)) = (min, max)
        && lo > hi
      {
        c.error(
          item.pos,
          format!("threshold min {lo} is above max {hi}"),
          None,
        );
      }
      let unit = f.opt_string(c, "unit").map(|u| u.value);
      Some(Threshold {
        name: name?.value,
        regex: regex?,
        stream: stream?,
        min,
        max,
        min_from,
        max_from,
        unit,
        absent_ok: false,
      })
    })
    .collect()
}

/// A threshold's bound: a number, or a value written `'{{name}}'` (a parameter, an answer, a
/// capture) that must be a number when the check runs.
fn bound(c: &mut Collector, node: &Node, key: &str) -> (Option<f64>, Option<Loc<String>>) {
  match &node.value {
    Value::Str(s) if s.contains("{{") => (
      None,
      Some(Loc {
        value: s.clone(),
        pos: node.pos,
      }),
    ),
    _ => (schema::number(c, node, key), None),
  }
}

fn when(c: &mut Collector, node: &Node) -> When {
  let Some(f) = Fields::new(c, node, "when", WHEN_KEYS) else {
    return When::default();
  };
  let mut values = Vec::new();
  for key in ["is", "is_not", "one_of", "above", "below"] {
    let Some(n) = f.get(key) else { continue };
    let Value::Map(entries) = &n.value else {
      c.error(
        n.pos,
        format!(
          "`{key}` maps value names to what they are compared with, found {}",
          n.kind()
        ),
        Some(format!("e.g. `{key}: {{recovery: restart}}`")),
      );
      continue;
    };
    for (k, v) in entries {
      let Some(name) = schema::string(c, k, key) else {
        continue;
      };
      let test = match key {
        "is" => schema::string(c, v, key).map(|s| Test::Is(s.value)),
        "is_not" => schema::string(c, v, key).map(|s| Test::IsNot(s.value)),
        "one_of" => Some(Test::OneOf(
          schema::string_list(c, v, key)
            .into_iter()
            .map(|s| s.value)
            .collect(),
        )),
        "above" => schema::number(c, v, key).map(Test::Above),
        _ => schema::number(c, v, key).map(Test::Below),
      };
      values.extend(test.map(|test| ValueTest { name, test }));
    }
  }
  let when = When {
    failed: f.string_list(c, "failed"),
    passed: f.string_list(c, "passed"),
    unknown: f.string_list(c, "unknown"),
    values,
  };
  if when.is_empty() {
    c.error(
      node.pos,
      "`when:` needs `failed:`, `passed:` or `unknown:` with step ids, or a value test (`is`, `one_of`, `above`, `below`)",
      None,
    );
  }
  when
}

fn retry(c: &mut Collector, node: &Node) -> Option<Retry> {
  let f = Fields::new(c, node, "retry", RETRY_KEYS)?;
  let attempts = f.required(c, "attempts").and_then(|n| {
    let value = schema::integer(c, n, "attempts")?;
    if !(1..=100).contains(&value) {
      c.error(
        n.pos,
        format!("`attempts` must be between 1 and 100, found {value}"),
        None,
      );
      return None;
    }
    Some(value as u32)
  })?;
  let delay = f
    .opt_duration(c, "delay")
    .map_or(Retry::default().delay, |d| d.value);
  Some(Retry { attempts, delay })
}

fn on_failure(c: &mut Collector, node: &Node) -> Option<OnFailure> {
  let text: Loc<String> = schema::string(c, node, "on_failure")?;
  match text.value.as_str() {
    "abort" => Some(OnFailure::Abort),
    "continue" => Some(OnFailure::Continue),
    "ask" => Some(OnFailure::Ask),
    other => {
      c.error(
        node.pos,
        format!("unknown on_failure policy `{other}`"),
        did_you_mean(other, ["abort", "continue", "ask"])
          .or(Some("on_failure is abort, continue or ask".into())),
      );
      None
    }
  }
}
