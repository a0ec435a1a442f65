use std::fmt::Write;

use serde::Serialize;

use crate::cli::{Format, ShowArgs};
use crate::config::Config;
use crate::diagnostic::did_you_mean;
use crate::error::Error;
use crate::inventory::{self, Inventory, Target};
use crate::runbook::model::{ExitCodes, Expect, Runbook, Step, StepKind};
use crate::runbook::template::Mode;
use crate::runbook::values::Values;
use crate::runbook::{self, catalog::Catalog};
use crate::schema::format_duration;
use crate::ui::{style, text::sanitize};
use crate::{exit_code, ui};

#[derive(Serialize)]
struct Output<'a> {
  #[serde(flatten)]
  runbook: &'a Runbook,
  origin: String,
  response_target: String,
  recovery_target_effective: String,
  /// Per step: the hosts it runs on and the commands as they would run there.
  plan: Vec<PlannedStep>,
}

#[derive(Serialize)]
struct PlannedStep {
  id: String,
  hosts: Vec<String>,
  #[serde(skip_serializing_if = "Option::is_none")]
  command: Option<String>,
}

pub fn run(config: &Config, args: &ShowArgs) -> Result<i32, Error> {
  let catalog = Catalog::discover(&config.runbook_dirs)?;
  let entry = catalog.get(&args.id)?;
  let inventory = inventory::load(config.inventory.as_deref())?;
  let source = entry.source()?;
  let runbook = runbook::load(&source, Some(&entry.id), None)
    .valid()
    .map_err(|diagnostics| Error::Invalid {
      what: format!("runbook `{}`", entry.id),
      diagnostics,
    })?;
  for step in &args.steps {
    if runbook.step(step).is_none() {
      return Err(Error::UnknownStep {
        runbook: runbook.id.clone(),
        step: step.clone(),
        suggestion: did_you_mean(step, runbook.steps.iter().map(|s| s.id.value.as_str())),
      });
    }
  }
  let values = Values::resolve(&runbook, &args.vars, false)?;
  let steps: Vec<&Step> = runbook
    .steps
    .iter()
    .filter(|s| args.steps.is_empty() || args.steps.contains(&s.id.value))
    .collect();

  if config.format == Format::Json {
    let (response, _) = runbook.severity.targets();
    let plan = steps
      .iter()
      .map(|s| PlannedStep {
        id: s.id.value.clone(),
        hosts: inventory.expand(s.targets.iter().map(|t| t.value.as_str())),
        command: s.command().map(|c| values.display(c, None, Mode::Shell)),
      })
      .collect();
    ui::emit_json(&Output {
      runbook: &runbook,
      origin: entry.origin.to_string(),
      response_target: format_duration(response),
      recovery_target_effective: format_duration(runbook.recovery_target()),
      plan,
    })?;
    return Ok(exit_code::SUCCESS);
  }

  let mut out = String::new();
  if args.steps.is_empty() {
    header(&mut out, &runbook, &entry.origin.to_string(), &values);
  }
  for step in steps {
    let number = runbook
      .steps
      .iter()
      .position(|s| s.id.value == step.id.value)
      .unwrap_or(0)
      + 1;
    render_step(&mut out, number, step, &inventory, &values);
  }
  ui::emit(&out)?;
  Ok(exit_code::SUCCESS)
}

fn header(out: &mut String, runbook: &Runbook, origin: &str, values: &Values) {
  let (response, _) = runbook.severity.targets();
  let _ = writeln!(
    out,
    "{} — {}",
    style::bold(&runbook.id),
    sanitize(&runbook.title)
  );
  let _ = writeln!(
    out,
    "severity {} ({}): respond within {}, recover within {}",
    style::severity(runbook.severity),
    runbook.severity.label(),
    format_duration(response),
    format_duration(runbook.recovery_target())
  );
  if let Some(source) = &runbook.source {
    let _ = writeln!(out, "source: {}", sanitize(source));
  }
  let _ = writeln!(out, "from: {origin}");
  if let Some(description) = &runbook.description {
    let _ = writeln!(out, "\n{}", sanitize(description.trim_end()));
  }
  list(out, "Symptoms", &runbook.symptoms);
  list(out, "Likely causes", &runbook.causes);
  if !runbook.parameters.is_empty() {
    let _ = writeln!(out, "\n{}", style::bold("Parameters:"));
    for p in &runbook.parameters {
      let value = match (&p.secret_env, values.get(&p.name)) {
        (Some(env), _) => format!("secret from ${env}"),
        (None, Some(v)) => format!("= {}", v.text),
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
        .map(|h| format!("  {}", style::dim(h)))
        .unwrap_or_default();
      let _ = writeln!(
        out,
        "  {} {}{choices}{help}",
        p.name.value,
        sanitize(&value)
      );
    }
  }
  if !runbook.escalation.is_empty() {
    let _ = writeln!(out, "\n{}", style::bold("Escalation:"));
    for rung in &runbook.escalation {
      let _ = writeln!(
        out,
        "  after {:>6} → {}",
        format_duration(rung.after),
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

fn render_step(
  out: &mut String,
  number: usize,
  step: &Step,
  inventory: &Inventory,
  values: &Values,
) {
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
    style::bold(&step.id),
    tags.join(", "),
    sanitize(&step.title)
  );
  let indent = "     ";
  if !step.when.is_empty() {
    let mut parts = Vec::new();
    if !step.when.failed.is_empty() {
      parts.push(format!(
        "failed: {}",
        step
          .when
          .failed
          .iter()
          .map(|s| s.value.as_str())
          .collect::<Vec<_>>()
          .join(", ")
      ));
    }
    if !step.when.passed.is_empty() {
      parts.push(format!(
        "passed: {}",
        step
          .when
          .passed
          .iter()
          .map(|s| s.value.as_str())
          .collect::<Vec<_>>()
          .join(", ")
      ));
    }
    let _ = writeln!(out, "{indent}when {}", parts.join("; "));
  }
  if !step.targets.is_empty() {
    let _ = writeln!(out, "{indent}on   {}", targets(step, inventory));
  }
  match &step.kind {
    StepKind::Check { command, expect } => {
      command_lines(
        out,
        indent,
        &values.display(command, None, Mode::Shell),
        step.sudo,
      );
      let _ = writeln!(out, "{indent}expect {}", describe_expect(expect));
    }
    StepKind::Action {
      command,
      confirm,
      expect,
      ..
    } => {
      command_lines(
        out,
        indent,
        &values.display(command, None, Mode::Shell),
        step.sudo,
      );
      if let Some(confirm) = confirm {
        let _ = writeln!(
          out,
          "{indent}asks  {}",
          sanitize(&values.display(confirm, None, Mode::Text))
        );
      }
      if !is_default(expect) {
        let _ = writeln!(out, "{indent}expect {}", describe_expect(expect));
      }
    }
    StepKind::Manual { instructions } => {
      for line in values.display(instructions, None, Mode::Text).lines() {
        let _ = writeln!(out, "{indent}| {}", sanitize(line));
      }
    }
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
  if !matches!(step.kind, StepKind::Manual { .. }) {
    let _ = writeln!(out, "{indent}{}", style::dim(&limits.join(", ")));
  }
}

fn command_lines(out: &mut String, indent: &str, command: &str, sudo: bool) {
  let prompt = if sudo { "#" } else { "$" };
  for (i, line) in command.lines().enumerate() {
    let mark = if i == 0 { prompt } else { " " };
    let _ = writeln!(out, "{indent}{mark} {}", sanitize(line));
  }
}

fn targets(step: &Step, inventory: &Inventory) -> String {
  step
    .targets
    .iter()
    .map(|t| match inventory.resolve(t) {
      Some(Target::Group(g, members)) => format!("{g} ({})", members.join(", ")),
      Some(_) => t.value.clone(),
      None => format!("{} (unknown)", t.value),
    })
    .collect::<Vec<_>>()
    .join(", ")
}

fn is_default(expect: &Expect) -> bool {
  expect.exit_code == ExitCodes::default() && expect.patterns().next().is_none()
}

pub fn describe_expect(expect: &Expect) -> String {
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
      parts.push(format!("{label} /{}/", sanitize(p)));
    }
  }
  for t in &expect.thresholds {
    // "90%" and "85°C" read well glued to the number; "30 days" does not.
    let unit = match t.unit.as_deref() {
      Some(u) if u.starts_with(char::is_alphabetic) => format!(" {u}"),
      Some(u) => u.to_string(),
      None => String::new(),
    };
    let bound = match (t.min, t.max) {
      (Some(lo), Some(hi)) => format!("{lo}{unit} ≤ {} ≤ {hi}{unit}", t.name),
      (Some(lo), None) => format!("{} ≥ {lo}{unit}", t.name),
      (None, Some(hi)) => format!("{} ≤ {hi}{unit}", t.name),
      (None, None) => t.name.clone(),
    };
    parts.push(bound);
  }
  parts.join("; ")
}
