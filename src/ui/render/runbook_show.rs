//! `runbook show`: a runbook's header and its steps, with targets and commands as they would run.

use std::fmt::Write;

use serde::Serialize;

use crate::inventory::Target;
use crate::runbook::model::{self, ExitCodes, Expect, Runbook, Step, StepKind};
use crate::schema::{Loc, format_duration};
use crate::ui::render::View;
use crate::ui::{style, text::sanitize};

#[derive(Serialize)]
pub(crate) struct RunbookShow<'a> {
  #[serde(flatten)]
  pub(crate) runbook: &'a Runbook,
  pub(crate) origin: String,
  pub(crate) response_target: String,
  pub(crate) recovery_target_effective: String,
  /// Per step asked for: the hosts it runs on and the commands as they would run there.
  pub(crate) plan: Vec<PlannedStep<'a>>,
  /// Text only: the header (description, parameters, escalation) is left out when only some
  /// steps were asked for.
  #[serde(skip)]
  pub(crate) header: bool,
  /// Text only: each parameter with the value it would have in a run.
  #[serde(skip)]
  pub(crate) parameters: Vec<Parameter<'a>>,
}

pub(crate) struct Parameter<'a> {
  pub(crate) spec: &'a model::Parameter,
  /// As displayed: secrets masked.
  pub(crate) value: Option<String>,
}

#[derive(Serialize)]
pub(crate) struct PlannedStep<'a> {
  pub(crate) id: String,
  pub(crate) hosts: Vec<String>,
  #[serde(skip_serializing_if = "Option::is_none")]
  pub(crate) command: Option<String>,
  #[serde(skip)]
  pub(crate) step: &'a Step,
  /// Text only: the step's place in the whole runbook, from 1.
  #[serde(skip)]
  pub(crate) number: usize,
  /// Text only: each target as written and what the inventory makes of it (None: unknown).
  #[serde(skip)]
  pub(crate) targets: Vec<StepTarget<'a>>,
  /// Text only: the confirmation question, with values filled in.
  #[serde(skip)]
  pub(crate) confirm: Option<String>,
  /// Text only: a manual step's instructions, with values filled in.
  #[serde(skip)]
  pub(crate) instructions: Option<String>,
}

pub(crate) type StepTarget<'a> = (&'a str, Option<Target<'a>>);

impl View for RunbookShow<'_> {
  fn text(&self) -> String {
    let mut out = String::new();
    if self.header {
      header(&mut out, self);
    }
    for planned in &self.plan {
      render_step(&mut out, planned);
    }
    out
  }
}

fn header(out: &mut String, show: &RunbookShow) {
  let runbook = show.runbook;
  let _ = writeln!(
    out,
    "{} — {}",
    style::bold(&sanitize(&runbook.id)),
    sanitize(&runbook.title)
  );
  let _ = writeln!(
    out,
    "severity {} ({}): respond within {}, recover within {}",
    style::severity(runbook.severity),
    runbook.severity.label(),
    show.response_target,
    show.recovery_target_effective
  );
  if let Some(source) = &runbook.source {
    let _ = writeln!(out, "source: {}", sanitize(source));
  }
  let _ = writeln!(out, "from: {}", sanitize(&show.origin));
  if let Some(description) = &runbook.description {
    let text = sanitize(description.trim_end());
    // Re-flowed to the terminal: the YAML's own line breaks are the author's editor's width.
    let shown = match crate::ui::text::terminal_width() {
      Some(width) => crate::ui::text::reflow(&text, width.min(100)),
      None => text.into_owned(),
    };
    let _ = writeln!(out, "\n{shown}");
  }
  list(out, "Symptoms", &runbook.symptoms);
  list(out, "Likely causes", &runbook.causes);
  if !show.parameters.is_empty() {
    let _ = writeln!(out, "\n{}", style::bold("Parameters:"));
    for Parameter { spec: p, value } in &show.parameters {
      let value = match (&p.secret_env, value) {
        (Some(env), _) => format!("secret from ${env}"),
        (None, Some(v)) => format!("= {v}"),
        (None, None) if p.required => "required".into(),
        (None, None) => "no default".into(),
      };
      let choices = if p.choices.is_empty() {
        String::new()
      } else {
        format!(
          " [{}]",
          p.choices
            .iter()
            .map(|c| c.value.as_str())
            .collect::<Vec<_>>()
            .join("|")
        )
      };
      let help = p
        .help
        .as_deref()
        .map(|h| format!("  {}", style::dim(&sanitize(h))))
        .unwrap_or_default();
      let _ = writeln!(
        out,
        "  {} {}{}{help}",
        sanitize(&p.name.value),
        sanitize(&value),
        sanitize(&choices)
      );
    }
  }
  if !runbook.escalation.is_empty() || !runbook.escalate_on.is_empty() {
    let _ = writeln!(out, "\n{}", style::bold("Escalation:"));
    for rung in &runbook.escalation {
      let _ = writeln!(
        out,
        "  after {:>6} → {}",
        format_duration(rung.after),
        sanitize(&rung.to)
      );
    }
    for rung in &runbook.escalate_on {
      let _ = writeln!(
        out,
        "  {} → {}",
        sanitize(&crate::exec::condition::describe(&rung.when)),
        sanitize(&rung.to)
      );
    }
  }
  let _ = writeln!(out, "\n{}", style::bold("Steps:"));
}

fn list(out: &mut String, title: &str, items: &[String]) {
  if items.is_empty() {
    return;
  }
  let _ = writeln!(out, "\n{}", style::bold(&format!("{title}:")));
  for item in items {
    let _ = writeln!(out, "  - {}", sanitize(item));
  }
}

fn render_step(out: &mut String, planned: &PlannedStep) {
  let step = planned.step;
  let number = planned.number;
  let mut tags = vec![step.kind_name().to_string()];
  if let StepKind::Action {
    destructive: true, ..
  } = step.kind
  {
    tags.push(style::error("destructive").to_string());
  }
  if step.sudo {
    tags.push("as root".into());
  }
  let _ = writeln!(
    out,
    "\n{number:>3}. {} [{}] {}",
    style::bold(&sanitize(&step.id)),
    tags.join(", "),
    sanitize(&step.title)
  );
  let indent = "     ";
  if !step.when.is_empty() {
    let ids = |ids: &[Loc<String>]| {
      ids
        .iter()
        .map(|s| s.value.as_str())
        .collect::<Vec<_>>()
        .join(", ")
    };
    let mut parts = Vec::new();
    if !step.when.failed.is_empty() {
      parts.push(format!("failed: {}", ids(&step.when.failed)));
    }
    if !step.when.passed.is_empty() {
      parts.push(format!("passed: {}", ids(&step.when.passed)));
    }
    if !step.when.unknown.is_empty() {
      parts.push(format!("unknown: {}", ids(&step.when.unknown)));
    }
    let _ = writeln!(out, "{indent}when {}", sanitize(&parts.join("; ")));
  }
  if let Some(action) = &step.after {
    let _ = writeln!(
      out,
      "{indent}after {} (verifies it; not applicable where it did not run)",
      sanitize(&action.value)
    );
  }
  if !planned.targets.is_empty() {
    let _ = writeln!(out, "{indent}on   {}", sanitize(&targets(&planned.targets)));
  }
  match &step.kind {
    StepKind::Check { expect, .. } => {
      command_lines(out, indent, planned.command.as_deref(), step.sudo);
      let _ = writeln!(out, "{indent}expect {}", describe_expect(expect));
    }
    StepKind::Action { expect, .. } => {
      command_lines(out, indent, planned.command.as_deref(), step.sudo);
      if let Some(confirm) = &planned.confirm {
        let _ = writeln!(out, "{indent}asks  {}", sanitize(confirm));
      }
      if !is_default(expect) {
        let _ = writeln!(out, "{indent}expect {}", describe_expect(expect));
      }
    }
    StepKind::Manual { .. } => {
      for line in planned.instructions.as_deref().unwrap_or_default().lines() {
        let _ = writeln!(out, "{indent}| {}", sanitize(line));
      }
    }
    StepKind::Call(call) => {
      let _ = writeln!(
        out,
        "{indent}runs runbook {}",
        sanitize(&call.runbook.value)
      );
    }
    StepKind::Input(q) => {
      let _ = writeln!(
        out,
        "{indent}asks  {}{}",
        sanitize(&q.name.value),
        q.help
          .as_deref()
          .map(|h| format!(" — {}", sanitize(h)))
          .unwrap_or_default()
      );
      for (choice, meaning) in &q.choices {
        let _ = writeln!(
          out,
          "{indent}  {:<12} {}",
          sanitize(choice),
          sanitize(meaning)
        );
      }
      if let Some(d) = &q.default {
        let _ = writeln!(out, "{indent}default {}", sanitize(d));
      }
      if let Some(p) = &q.pattern {
        let _ = writeln!(out, "{indent}must match /{}/", sanitize(p));
      }
    }
  }
  for c in &step.capture {
    let from = match &c.from {
      crate::runbook::model::CaptureFrom::Regex(r) => format!("/{}/", r.value),
      crate::runbook::model::CaptureFrom::Json(p) => format!("JSON {}", p.value),
    };
    let _ = writeln!(
      out,
      "{indent}captures {} from {}",
      sanitize(&c.name.value),
      sanitize(&from)
    );
  }
  if let Some(w) = &step.wait {
    let until = match &w.until {
      crate::runbook::model::Until::Holds => "until the expectation holds".to_string(),
      crate::runbook::model::Until::StopsRising(v) => format!("until {} stops rising", v.value),
      crate::runbook::model::Until::StopsFalling(v) => format!("until {} stops falling", v.value),
    };
    let _ = writeln!(
      out,
      "{indent}waits {until}, polling every {} for up to {}",
      format_duration(w.every),
      format_duration(w.up_to)
    );
  }
  if let Some(severity) = step.raise {
    let _ = writeln!(
      out,
      "{indent}raises the incident to {} when reached",
      severity.name()
    );
  }
  if step.serial {
    let _ = writeln!(
      out,
      "{indent}one host at a time; stops at the first that fails"
    );
  }
  let mut limits = vec![format!("timeout {}", format_duration(step.timeout))];
  if step.retry.attempts > 1 {
    limits.push(format!(
      "{} attempts {} apart",
      step.retry.attempts,
      format_duration(step.retry.delay)
    ));
  }
  limits.push(format!("on failure: {:?}", step.on_failure).to_lowercase());
  if !matches!(
    step.kind,
    StepKind::Manual { .. } | StepKind::Input(_) | StepKind::Call(_)
  ) {
    let _ = writeln!(out, "{indent}{}", style::dim(&limits.join(", ")));
  }
}

fn command_lines(out: &mut String, indent: &str, command: Option<&str>, sudo: bool) {
  let prompt = if sudo { "#" } else { "$" };
  for (i, line) in command.unwrap_or_default().lines().enumerate() {
    let mark = if i == 0 { prompt } else { " " };
    let _ = writeln!(out, "{indent}{mark} {}", style::command(&sanitize(line)));
  }
}

fn targets(targets: &[StepTarget]) -> String {
  targets
    .iter()
    .map(|(name, target)| match target {
      Some(Target::Group(g, members)) => format!("{g} ({})", members.join(", ")),
      Some(_) => name.to_string(),
      None if name.contains("{{") => format!("{name} (known when the step runs)"),
      None => format!("{name} (unknown)"),
    })
    .collect::<Vec<_>>()
    .join(", ")
}

fn is_default(expect: &Expect) -> bool {
  expect.exit_code == ExitCodes::default() && expect.patterns().next().is_none()
}

fn describe_expect(expect: &Expect) -> String {
  let mut parts = Vec::new();
  match &expect.exit_code {
    ExitCodes::Any => parts.push("any exit code".to_string()),
    ExitCodes::OneOf(codes) => parts.push(format!(
      "exit {}",
      codes
        .iter()
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join("|")
    )),
  }
  let regexes = [
    ("stdout ~", &expect.stdout_matches),
    ("stdout !~", &expect.stdout_not_matches),
    ("stderr ~", &expect.stderr_matches),
    ("stderr !~", &expect.stderr_not_matches),
  ];
  for (label, pattern) in regexes {
    if let Some(p) = pattern {
      parts.push(format!("{label} /{}/", p.value));
    }
  }
  for t in &expect.thresholds {
    // "90%" and "85°C" read well glued to the number; "30 days" does not.
    let unit = match t.unit.as_deref() {
      Some(u) if u.starts_with(char::is_alphabetic) => format!(" {u}"),
      Some(u) => u.to_string(),
      None => String::new(),
    };
    let side = |n: Option<f64>, from: &Option<crate::schema::Loc<String>>| {
      n.map(|n| n.to_string())
        .or_else(|| from.as_ref().map(|f| f.value.clone()))
    };
    let bound = match (side(t.min, &t.min_from), side(t.max, &t.max_from)) {
      (Some(lo), Some(hi)) => format!("{lo}{unit} ≤ {} ≤ {hi}{unit}", t.name),
      (Some(lo), None) => format!("{} ≥ {lo}{unit}", t.name),
      (None, Some(hi)) => format!("{} ≤ {hi}{unit}", t.name),
      (None, None) => t.name.clone(),
    };
    parts.push(bound);
  }
  // Patterns, threshold names and units all come from the runbook.
  sanitize(&parts.join("; ")).into_owned()
}
