//! Renders engine events: a line per host result, grouped per step; spinners per host on a
//! terminal; plain prefixed lines otherwise. Every line of a dry run says so.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::exec::event::{Event, HostResult, MANUAL_HOST, Outcome, Reporter, RunEnd, StepRecord};
use crate::exec::plan::{Plan, RunMode};
use crate::runbook::model::StepKind;
use crate::schema::format_duration;
use crate::ui::style;
use crate::ui::text::sanitize;

/// Lines of output shown under a host's result (the full output is one prompt away).
const TAIL_LINES: usize = 8;

/// Characters of one output line shown when the width is not known (not a terminal).
const LINE_LIMIT: usize = 1000;

/// `line` in at most `room` characters, saying how much was left out.
fn cut(line: &str, room: usize) -> String {
  if line.chars().count() <= room {
    return line.to_string();
  }
  let kept: String = line.chars().take(room.saturating_sub(16)).collect();
  format!("{kept}… (+{} bytes)", line.len() - kept.len())
}

pub(crate) struct Lines {
  dry: bool,
  /// Human output goes to stderr when stdout carries the records (`--format json`).
  to_stderr: bool,
  progress: Option<MultiProgress>,
  bars: Mutex<HashMap<String, ProgressBar>>,
  total: AtomicUsize,
  /// Set while a prompt has the terminal; announcements wait for it to close.
  prompting: AtomicBool,
  held: Mutex<Vec<String>>,
  /// The last notice: every way a run stops early says why in one, and the summary repeats it.
  last_notice: Mutex<Option<String>>,
  /// Clock times in UTC rather than local time (`--utc`).
  utc: bool,
  /// The terminal's width, when the output goes to one.
  width: Option<usize>,
}

impl Lines {
  pub(crate) fn new(mode: RunMode, terminal: bool, to_stderr: bool, utc: bool) -> Lines {
    let progress = terminal.then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
    Lines {
      dry: mode == RunMode::DryRun,
      to_stderr,
      progress,
      bars: Mutex::new(HashMap::new()),
      total: AtomicUsize::new(0),
      prompting: AtomicBool::new(false),
      held: Mutex::new(Vec::new()),
      last_notice: Mutex::new(None),
      utc,
      width: terminal
        .then(|| console::Term::stderr().size_checked())
        .flatten()
        .map(|(_, w)| w as usize),
    }
  }

  fn now(&self) -> String {
    crate::ui::clock::hms(std::time::SystemTime::now(), self.utc)
  }

  fn now_minus(&self, ago: Duration) -> String {
    let at = std::time::SystemTime::now()
      .checked_sub(ago)
      .unwrap_or(std::time::UNIX_EPOCH);
    crate::ui::clock::hms(at, self.utc)
  }

  fn print(&self, text: &str) {
    let prefix = if self.dry {
      format!("{} ", style::warning("[dry-run]"))
    } else {
      String::new()
    };
    let mut block = String::new();
    for line in text.lines() {
      block.push_str(&prefix);
      block.push_str(line);
      block.push('\n');
    }
    match &self.progress {
      // Printed above the live bars so they never tear the text.
      Some(multi) if !self.bars.lock().unwrap().is_empty() => {
        let _ = multi.println(block.trim_end_matches('\n'));
      }
      _ => {
        let mut out: Box<dyn Write> = if self.to_stderr {
          Box::new(std::io::stderr().lock())
        } else {
          Box::new(std::io::stdout().lock())
        };
        let _ = out.write_all(block.as_bytes()).and_then(|_| out.flush());
      }
    }
  }

  fn outcome(outcome: Outcome) -> String {
    match outcome {
      Outcome::Passed => style::ok("✔ passed").to_string(),
      Outcome::Failed => style::error("✘ failed").to_string(),
      Outcome::Skipped => style::dim("- skipped").to_string(),
      Outcome::Declined => style::warning("- declined").to_string(),
      Outcome::OperatorSkipped => style::warning("- skipped by operator").to_string(),
      Outcome::Aborted => style::warning("- aborted").to_string(),
      Outcome::Unreachable => style::error("✘ unreachable").to_string(),
      Outcome::Rehearsed => style::dim("~ rehearsed").to_string(),
      Outcome::NotRun => style::dim("- not run").to_string(),
      Outcome::Unconfirmed => style::warning("? unconfirmed").to_string(),
      Outcome::Interrupted => style::fail("✘ interrupted").to_string(),
      Outcome::Unknown => style::warning("? unknown").to_string(),
      Outcome::NotApplicable => style::dim("- not applicable").to_string(),
    }
  }

  fn host_block(&self, kind: &StepKind, result: &HostResult) -> String {
    let mut text = format!("[{}] {}", result.host, Self::outcome(result.outcome));
    if !result.duration.is_zero() {
      text.push_str(&format!(" {}", style::dim(&seconds(result.duration))));
    }
    if result.attempts > 1 {
      text.push_str(&format!(" after {} attempts", result.attempts));
    }
    if let Some(error) = &result.error {
      text.push_str(&format!(": {}", sanitize(error)));
    }
    for (name, value) in &result.captured {
      text.push_str(&format!(
        "\n[{}]   captured {name} = {}",
        result.host,
        sanitize(value)
      ));
    }
    if let Some(verdict) = &result.verdict {
      for m in &verdict.measurements {
        let unit = m.unit.as_deref().unwrap_or("");
        let value = m
          .value
          .map(|v| format!("{v}{unit}"))
          .unwrap_or_else(|| "?".into());
        let bounds = match (m.min, m.max) {
          (Some(lo), Some(hi)) => format!("{lo}{unit}..{hi}{unit}"),
          (Some(lo), None) => format!("≥ {lo}{unit}"),
          (None, Some(hi)) => format!("≤ {hi}{unit}"),
          _ => String::new(),
        };
        text.push_str(&format!(
          "\n[{}]   {} = {value} (wanted {bounds})",
          result.host, m.name
        ));
      }
      for reason in &verdict.reasons {
        text.push_str(&format!("\n[{}]   {}", result.host, sanitize(reason)));
      }
    }
    // Checks show what they found; anything that failed shows why.
    let show_output = matches!(kind, StepKind::Check { .. }) || result.outcome == Outcome::Failed;
    if let (true, Some(output)) = (show_output, &result.output) {
      // A line as wide as the terminal at most (a 100 MB line is one line too): the full
      // output stays in the journal (`journal show RUN --output STEP HOST`).
      let room = self.width.map_or(LINE_LIMIT, |w| {
        w.saturating_sub(result.host.len() + 8).max(20)
      });
      for line in tail(&output.stdout, &output.stderr, TAIL_LINES) {
        text.push_str(&format!(
          "\n[{}]   {} {}",
          result.host,
          style::dim("|"),
          cut(&sanitize(&line), room)
        ));
      }
    }
    text
  }

  fn summary(
    &self,
    plan: &Plan<'_>,
    records: &[StepRecord],
    end: RunEnd,
    elapsed: Duration,
  ) -> String {
    let mut rows = vec![vec![
      "STEP".to_string(),
      "KIND".into(),
      "TIME".into(),
      "RESULT".into(),
    ]];
    for record in records {
      // The step took as long as its slowest host (they run at once).
      let took = record
        .results
        .iter()
        .map(|r| r.duration)
        .max()
        .filter(|d| !d.is_zero())
        .map(seconds)
        .unwrap_or_else(|| "-".into());
      let mut cells: Vec<String> = Vec::new();
      for r in &record.results {
        let label = r.outcome.label();
        cells.push(if r.host == MANUAL_HOST {
          label.to_string()
        } else {
          format!("{}={label}", r.host)
        });
      }
      if cells.is_empty() {
        cells.push("skipped".into());
      }
      rows.push(vec![
        record.id.clone(),
        record.kind.to_string(),
        took,
        cells.join(" "),
      ]);
    }
    let walked = records.len();
    let total = plan.steps.len();
    let end_text = match end {
      RunEnd::Completed => "completed".to_string(),
      RunEnd::Stopped => "stopped early".to_string(),
      RunEnd::Aborted => "aborted by the operator".to_string(),
      RunEnd::Interrupted => "interrupted".to_string(),
    };
    let mut why = String::new();
    if end == RunEnd::Stopped
      && let Some(notice) = self.last_notice.lock().unwrap().as_deref()
    {
      why = format!("why it stopped: {}\n", sanitize(notice));
    }
    if end == RunEnd::Completed && plan.mode != RunMode::DryRun {
      let open = crate::exec::result::unresolved(plan.mode, records, |id| {
        crate::exec::result::role(plan, id)
      });
      if !open.is_empty() {
        let list: Vec<String> = open
          .iter()
          .map(|(step, host, outcome)| format!("{step} on {host} ({})", outcome.label()))
          .collect();
        why = format!("not resolved (exit 1): {}\n", list.join(", "));
      }
    }
    format!(
      "\n{}\n{}{end_text}: {walked} of {total} steps in {}\n{why}",
      style::bold("Summary"),
      crate::ui::text::table(&rows),
      seconds(elapsed)
    )
  }
}

fn seconds(d: Duration) -> String {
  format!("{:.2}s", d.as_secs_f64())
}

/// The last `n` lines of a command's output, stderr after stdout.
pub(crate) fn tail(stdout: &str, stderr: &str, n: usize) -> Vec<String> {
  let lines: Vec<&str> = stdout
    .lines()
    .chain(stderr.lines())
    .filter(|l| !l.trim().is_empty())
    .collect();
  let start = lines.len().saturating_sub(n);
  let mut out: Vec<String> = lines[start..].iter().map(|l| l.to_string()).collect();
  if start > 0 {
    out.insert(0, format!("… {start} more line(s)"));
  }
  out
}

impl Reporter for Lines {
  fn event(&self, event: Event<'_>) {
    match event {
      Event::Start { plan, elapsed } => {
        self.total.store(plan.steps.len(), Ordering::Relaxed);
        let r = plan.runbook;
        let (respond, _) = r.severity.targets();
        self.print(&format!(
          "{} — {}\nseverity {} ({}): respond within {}, recover within {} · mode: {} · {} step{}",
          style::bold(&r.id),
          sanitize(&r.title),
          style::severity(r.severity),
          r.severity.label(),
          format_duration(respond),
          format_duration(r.recovery_target()),
          plan.mode.label(),
          plan.steps.len(),
          if plan.steps.len() == 1 { "" } else { "s" }
        ));
        let hosts = plan.remote_hosts();
        if !hosts.is_empty() {
          self.print(&format!("hosts: {}", hosts.join(", ")));
        }
        // A resumed incident: how long it has been going, against its recovery target.
        if !elapsed.is_zero() {
          self.print(&format!(
            "incident time so far: {} of {} to recover · started {}",
            format_duration(Duration::from_secs(elapsed.as_secs())),
            format_duration(r.recovery_target()),
            self.now_minus(elapsed)
          ));
        }
      }
      Event::Connecting { hosts } if !hosts.is_empty() => self.print(&format!(
        "connecting to {} (Ctrl-C stops the run) …",
        hosts.join(", ")
      )),
      Event::Connecting { .. } => {}
      Event::Preflight { host, problem, of } => {
        let count = of
          .map(|(done, total)| format!(" {}", style::dim(&format!("({done}/{total})"))))
          .unwrap_or_default();
        match problem {
          None => self.print(&format!("[{host}] {} connected{count}", style::ok("✔"))),
          Some(p) => self.print(&format!(
            "[{host}] {} {}{count}",
            style::error("✘"),
            sanitize(p)
          )),
        }
      }
      Event::StepStart { planned, hosts } => {
        let step = planned.step;
        let on = if hosts.is_empty() {
          String::new()
        } else {
          format!(" on {}", hosts.join(", "))
        };
        self.print(&format!(
          "\n[{}/{}] {} — {} ({}){on} {}",
          planned.number,
          self.total.load(Ordering::Relaxed),
          style::bold(&step.id),
          sanitize(&planned.title()),
          step.kind_name(),
          style::dim(&format!("· {}", self.now()))
        ));
        // What a rehearsal must not hide: why the step runs and what it may do.
        let mut traits = Vec::new();
        if let StepKind::Action {
          destructive: true, ..
        } = step.kind
        {
          traits.push(style::error("DESTRUCTIVE").to_string());
        }
        if step.sudo {
          traits.push("as root (`#`)".to_string());
        }
        if !step.when.is_empty() {
          traits.push(sanitize(&crate::exec::condition::describe(&step.when)).into_owned());
        }
        if let Some(action) = &step.after {
          traits.push(format!("verifies {}", sanitize(&action.value)));
        }
        if step.serial {
          traits.push("one host at a time, stops at the first failure".to_string());
        }
        if let Some(wait) = &step.wait {
          traits.push(format!(
            "polls every {} for up to {}",
            format_duration(wait.every),
            format_duration(wait.up_to)
          ));
        }
        if !traits.is_empty() {
          self.print(&format!("  {}", traits.join(" · ")));
        }
      }
      Event::StepSkipped { planned, reason } => {
        self.print(&format!(
          "\n[{}/{}] {} — skipped: {}",
          planned.number,
          self.total.load(Ordering::Relaxed),
          style::dim(&planned.step.id),
          reason
        ));
      }
      Event::HostRunning {
        planned,
        host,
        attempt,
      } => {
        let Some(multi) = &self.progress else { return };
        let mut bars = self.bars.lock().unwrap();
        let bar = bars.entry(host.to_string()).or_insert_with(|| {
          let bar = multi.add(ProgressBar::new_spinner());
          bar.set_style(
            ProgressStyle::with_template("  {spinner} [{prefix}] {msg} {elapsed}").unwrap(),
          );
          bar.enable_steady_tick(Duration::from_millis(120));
          bar
        });
        bar.set_prefix(host.to_string());
        // How long it may take, and which try this is out of how many.
        let step = planned.step;
        let mut budget = vec![format!("up to {}", format_duration(step.timeout))];
        if step.wait.is_none() && step.retry.attempts > 1 {
          budget.insert(0, format!("attempt {attempt}/{}", step.retry.attempts));
        } else if step.wait.is_some() {
          budget.insert(0, format!("poll {attempt}"));
        }
        bar.set_message(format!("{} ({})", step.id.value, budget.join(", ")));
      }
      // A manual step's outcome is the operator's own answer; a question's answer is shown.
      Event::HostDone { result, .. } if result.host == MANUAL_HOST => {
        for (name, value) in &result.captured {
          self.print(&format!("  {} = {}", name, sanitize(value)));
        }
        if let Some(error) = &result.error {
          self.print(&format!(
            "  {} {}",
            Self::outcome(result.outcome),
            sanitize(error)
          ));
        }
      }
      Event::Waiting {
        planned,
        host,
        seen,
        left,
      } => self.print(&format!(
        "[{host}]   {} waiting: {} · {} left",
        planned.step.id.value,
        sanitize(seen),
        format_duration(Duration::from_secs(left.as_secs()))
      )),
      Event::HostDone { planned, result } => {
        if let Some(bar) = self.bars.lock().unwrap().remove(&result.host) {
          bar.finish_and_clear();
          if let Some(multi) = &self.progress {
            multi.remove(&bar);
          }
        }
        self.print(&self.host_block(&planned.step.kind, result));
      }
      Event::WouldRun {
        host,
        command,
        note,
        planned,
      } => {
        let prompt = if planned.step.sudo { "#" } else { "$" };
        let mut text = format!("[{host}] would run: {prompt} {}", sanitize(command));
        if let Some(note) = note {
          text.push_str(&format!("  ({})", sanitize(note)));
        }
        self.print(&text);
      }
      Event::Manual { instructions, .. } => {
        let text: Vec<String> = instructions
          .lines()
          .map(|l| format!("  | {}", sanitize(l)))
          .collect();
        self.print(&text.join("\n"));
      }
      Event::Notice(text) => {
        *self.last_notice.lock().unwrap() = Some(text.to_string());
        self.print(&format!("{} {}", style::warning("note:"), sanitize(text)))
      }
      // Through a pipe (`| tee log`) the prompt went to the terminal only: the log gets the
      // question and its answer in order.
      Event::Decision {
        planned,
        host,
        question,
        answer,
        by,
        value,
        ..
      } if self.progress.is_none() => {
        let on = host.map(|h| format!(" on {h}")).unwrap_or_default();
        let given = value
          .map(|v| format!(" {}", sanitize(v)))
          .unwrap_or_default();
        self.print(&format!(
          "  {} `{}`{on} ({question}): {}{given} — by {}",
          style::hint("answered"),
          planned.step.id.value,
          crate::journal::Answer::from(answer).label(),
          by.label()
        ));
      }
      // The prompt said `noted:` when it was typed; the journal keeps it.
      Event::Note { .. } | Event::Decision { .. } | Event::StepDone { .. } => {}
      Event::Resumed { done } => {
        let ids: Vec<&str> = done.iter().map(|r| r.id.as_str()).collect();
        self.print(&format!("resuming: already done: {}", ids.join(", ")));
      }
      Event::Escalation { rung, elapsed } => {
        let text = format!(
          "\n{} {} elapsed: escalate to {}\n",
          style::error("⏰ ESCALATE:"),
          format_duration(Duration::from_secs(elapsed.as_secs())),
          style::bold(&rung.to)
        );
        // Printing now would tear an open prompt; it shows as soon as the prompt closes.
        if self.prompting.load(Ordering::Relaxed) {
          self.held.lock().unwrap().push(text);
        } else {
          self.print(&text);
        }
      }
      Event::EscalationOn { to, reason, .. } => {
        self.print(&format!(
          "\n{} {}: escalate to {}\n",
          style::error("⏰ ESCALATE:"),
          sanitize(reason),
          style::bold(to)
        ));
      }
      Event::SeverityRaised { planned, from, to } => {
        let (respond, recover) = to.targets();
        self.print(&format!(
          "\n{} {} → {} ({}) by `{}`: respond within {}, recover within {}\n",
          style::error("SEVERITY RAISED:"),
          from.name(),
          style::severity(to),
          to.label(),
          planned.step.id.value,
          format_duration(respond),
          format_duration(recover)
        ));
      }
      Event::Finish {
        plan,
        records,
        end,
        elapsed,
        ..
      } => {
        self.pause();
        self.print(&self.summary(plan, records, end, elapsed));
      }
    }
  }

  fn resume(&self) {
    self.prompting.store(false, Ordering::Relaxed);
    let held: Vec<String> = self.held.lock().unwrap().drain(..).collect();
    for text in held {
      self.print(&text);
    }
  }

  fn pause(&self) {
    self.prompting.store(true, Ordering::Relaxed);
    let mut bars = self.bars.lock().unwrap();
    for (_, bar) in bars.drain() {
      bar.finish_and_clear();
    }
    if let Some(multi) = &self.progress {
      let _ = multi.clear();
    }
  }
}

#[cfg(test)]
mod tests {
  use super::cut;

  #[test]
  fn a_long_line_is_cut_and_says_how_much() {
    assert_eq!(cut("short", 40), "short");
    let long = "x".repeat(10_000);
    let shown = cut(&long, 60);
    assert!(shown.chars().count() <= 60, "{shown}");
    assert!(shown.ends_with("… (+9956 bytes)"), "{shown}");
  }
}
