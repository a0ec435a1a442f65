//! Updates to the team from the run itself: incident declared, escalations, severity raised, how
//! the run ended — to a Slack incoming webhook and PagerDuty's Events API v2 when their
//! environment variables are set. Live runs only: a rehearsal or a triage declares nothing.
//! The webhook URL and the routing key are secrets: never printed, never recorded.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::json;

use crate::exec::event::{
  Answer, DecidedBy, Event, HostResult, Outcome, Reporter, RunEnd, StepRecord,
};
use crate::exec::plan::RunMode;
use crate::runbook::model::StepKind;
use crate::schema::format_duration;
use crate::settings::Settings;

/// Where PagerDuty events go; only a test points it elsewhere.
pub(crate) const PAGERDUTY_URL_ENV: &str = "MEGACITY_PAGERDUTY_URL";
const PAGERDUTY_URL: &str = "https://events.pagerduty.com/v2/enqueue";

pub(crate) struct Notifier {
  slack: Option<String>,
  pagerduty: Option<(String, String)>,
  /// The run's id: PagerDuty's dedup key, so every update lands on one incident.
  run: String,
  operator: String,
  /// The alert the run is for (`--alert`), named in the declaration.
  alert: Option<String>,
  /// A rehearsal posting to the drill channel: every message says so.
  drill: bool,
  /// Checks that failed or could not tell, told once before the first change.
  findings: Mutex<Vec<String>>,
  told_findings: AtomicBool,
  /// The runbook's id and severity, from the start of the run.
  runbook: Mutex<(String, String)>,
  /// Updates waiting for the sender, which posts them one at a time, in the run's order.
  queue: Mutex<Option<mpsc::Sender<Post>>>,
  /// Returns what could not be delivered.
  sender: Mutex<Option<JoinHandle<Vec<String>>>>,
}

/// Where to post, what, and the target's name for messages (never its URL).
type Post = (String, serde_json::Value, &'static str);

impl Notifier {
  /// From the settings (config file and environment); `None` when nothing is to be told. A live
  /// run posts to Slack and PagerDuty; a rehearsal only to the drill channel
  /// (`slack_drill_webhook`), never to PagerDuty; a triage to nobody.
  pub(crate) fn new(
    settings: &Settings,
    mode: RunMode,
    run: &str,
    operator: &str,
    alert: Option<&str>,
  ) -> Option<Notifier> {
    let (slack, pagerduty) = match mode {
      RunMode::Live => (
        settings.slack_webhook.clone(),
        settings.pagerduty_routing_key.clone().map(|key| {
          let url = std::env::var(PAGERDUTY_URL_ENV)
            .ok()
            .filter(|v| !v.trim().is_empty());
          (url.unwrap_or_else(|| PAGERDUTY_URL.into()), key)
        }),
      ),
      RunMode::DryRun => (settings.slack_drill_webhook.clone(), None),
      RunMode::ChecksOnly => (None, None),
    };
    if slack.is_none() && pagerduty.is_none() {
      return None;
    }
    // In the background, so that a slow service never holds up the run; one after the other,
    // so that the team reads declared → findings → … → end in that order.
    let (queue, posts) = mpsc::channel::<Post>();
    let sender = std::thread::spawn(move || {
      posts
        .iter()
        .filter_map(|(url, body, target)| deliver(&url, &body, target))
        .collect()
    });
    Some(Notifier {
      slack,
      pagerduty,
      drill: mode == RunMode::DryRun,
      run: run.to_string(),
      operator: operator.to_string(),
      alert: alert.map(str::to_string),
      findings: Mutex::new(Vec::new()),
      told_findings: AtomicBool::new(false),
      runbook: Mutex::new((String::new(), String::new())),
      queue: Mutex::new(Some(queue)),
      sender: Mutex::new(Some(sender)),
    })
  }

  /// Posts `text` (and, to PagerDuty, `action` on the run's incident) in the background.
  fn send(&self, text: String, action: Option<&'static str>, severity: &str) {
    // A rehearsal's messages say so, in the drill channel too.
    let text = if self.drill {
      format!("🧯 DRILL (rehearsal, nothing ran) — {text}")
    } else {
      text
    };
    let mut posts: Vec<Post> = Vec::new();
    if let Some(url) = &self.slack {
      posts.push((url.clone(), json!({ "text": text }), "Slack"));
    }
    if let (Some((url, key)), Some(action)) = (&self.pagerduty, action) {
      let mut event = json!({
        "routing_key": key,
        "event_action": action,
        "dedup_key": self.run,
      });
      if action == "trigger" {
        event["payload"] = json!({
          "summary": text.lines().next().unwrap_or_default(),
          "source": "megacity",
          "severity": match severity {
            "P1" => "critical",
            "P2" => "error",
            "P3" => "warning",
            _ => "info",
          },
          "custom_details": { "update": text },
        });
      }
      posts.push((url.clone(), event, "PagerDuty"));
    }
    if let Some(queue) = self.queue.lock().unwrap().as_ref() {
      for post in posts {
        let _ = queue.send(post);
      }
    }
  }

  /// Waits for every update to be delivered (or to fail); the failures, said without secrets.
  pub(crate) fn finish(&self) -> Vec<String> {
    // Closing the queue lets the sender finish what it holds, then stop.
    self.queue.lock().unwrap().take();
    match self.sender.lock().unwrap().take() {
      Some(sender) => sender.join().unwrap_or_default(),
      None => Vec::new(),
    }
  }

  /// The findings so far, once: before the run first changes something or asks a person to.
  fn tell_findings(&self) {
    let findings = self.findings.lock().unwrap().clone();
    if findings.is_empty() || self.told_findings.swap(true, Ordering::Relaxed) {
      return;
    }
    let (runbook, severity) = self.runbook.lock().unwrap().clone();
    self.send(
      format!(
        "🔍 [{severity}] {runbook} (run {}) — Status: Identified\nFindings:\n{}",
        self.run,
        listed(&findings)
      ),
      None,
      "",
    );
  }
}

/// Tries to deliver one update: again after 1 s and 2 s when the service is busy or out of reach
/// (5xx, 429, no answer), never on another refusal. `None` once delivered, else why not.
fn deliver(url: &str, body: &serde_json::Value, target: &str) -> Option<String> {
  const TRIES: u32 = 3;
  let agent: ureq::Agent = ureq::Agent::config_builder()
    .timeout_global(Some(Duration::from_secs(10)))
    .build()
    .into();
  let mut tries = 0;
  loop {
    tries += 1;
    let error = match agent
      .post(url)
      .header("Content-Type", "application/json")
      .send(body.to_string())
    {
      Ok(_) => return None,
      Err(e) => e,
    };
    let again = match &error {
      ureq::Error::StatusCode(code) => *code >= 500 || *code == 429,
      _ => true,
    };
    if !again || tries == TRIES {
      // The URL is a secret: a failure names the target, never the address.
      return Some(format!(
        "the {target} update was not delivered ({tries} {}): {}",
        if tries == 1 { "try" } else { "tries" },
        describe(&error)
      ));
    }
    std::thread::sleep(Duration::from_secs(1 << (tries - 1)));
  }
}

/// ureq's error without the URL it may quote.
fn describe(error: &ureq::Error) -> String {
  match error {
    ureq::Error::StatusCode(code) => format!("the service answered {code}"),
    ureq::Error::Timeout(_) => "no answer in time".into(),
    _ => "cannot reach the service".into(),
  }
}

/// At most five lines of a list, then how many more.
fn listed(items: &[String]) -> String {
  let mut lines: Vec<String> = items.iter().take(5).map(|i| format!("- {i}")).collect();
  if items.len() > 5 {
    lines.push(format!("- (+{} more)", items.len() - 5));
  }
  lines.join("\n")
}

/// One host's result in a line: what the step found there.
fn finding(step: &str, result: &HostResult) -> String {
  let why = result
    .verdict
    .as_ref()
    .and_then(|v| v.reasons.first().cloned())
    .or_else(|| result.error.clone())
    .unwrap_or_default();
  let mark = match result.outcome {
    Outcome::Unknown => "? could not tell:",
    Outcome::Unreachable => "✘ unreachable:",
    Outcome::Interrupted => "✘ interrupted:",
    _ => "✘",
  };
  let why: String = why
    .lines()
    .next()
    .unwrap_or_default()
    .chars()
    .take(160)
    .collect();
  format!("{mark} {step} on {}: {why}", result.host)
    .trim_end_matches([':', ' '])
    .to_string()
}

fn is_check(step: &crate::runbook::model::Step) -> bool {
  matches!(step.kind, StepKind::Check { .. })
}

impl Reporter for Notifier {
  fn event(&self, event: Event<'_>) {
    if let Event::Start { plan, .. } = event {
      *self.runbook.lock().unwrap() = (
        plan.runbook.id.clone(),
        plan.runbook.severity.name().to_string(),
      );
    }
    match event {
      // The seeds' Slack template (seed 000 §8, seed 002 C.4): declared, status, impact, who.
      Event::Start { plan, elapsed } if elapsed.is_zero() => {
        let r = plan.runbook;
        let (respond, recover) = r.severity.targets();
        let mut lines = vec![
          format!("🚨 [{}] Incident Declared: {}", r.severity.name(), r.title),
          "Status: Investigating".to_string(),
          format!("Runbook: {} (run {})", r.id, self.run),
        ];
        let hosts = plan.remote_hosts();
        if !hosts.is_empty() {
          lines.push(format!("Hosts: {}", hosts.join(", ")));
        }
        if let Some(alert) = &self.alert {
          lines.push(format!("Alert: {alert}"));
        }
        lines.push(format!(
          "Started: {}",
          humantime::format_rfc3339_seconds(std::time::SystemTime::now())
        ));
        lines.push(format!("On-call: {}", self.operator));
        lines.push(format!(
          "Targets: respond within {}, recover within {}",
          format_duration(respond),
          format_duration(recover)
        ));
        lines.push("Next update: with the first findings, or on a status change".into());
        self.send(lines.join("\n"), Some("trigger"), r.severity.name());
      }
      Event::HostDone { planned, result }
        if is_check(planned.step)
          && matches!(
            result.outcome,
            Outcome::Failed | Outcome::Unknown | Outcome::Unreachable
          ) =>
      {
        self
          .findings
          .lock()
          .unwrap()
          .push(finding(&planned.step.id.value, result));
      }
      Event::Manual { .. } => {
        self.tell_findings();
      }
      Event::Decision {
        planned,
        host,
        question: "confirm",
        answer: Answer::Yes,
        by,
        ..
      } => {
        self.tell_findings();
        let StepKind::Action {
          destructive: true, ..
        } = &planned.step.kind
        else {
          return;
        };
        let who = match by {
          DecidedBy::YesDestructive => "--yes-destructive (unattended)".to_string(),
          DecidedBy::Rehearsal => format!("{} (rehearsal: not run)", self.operator),
          _ => self.operator.clone(),
        };
        self.send(
          format!(
            "⚠️ Run {}: destructive action confirmed by {who}: `{}` on {}: {}",
            self.run,
            planned.step.id.value,
            host.unwrap_or("(no host)"),
            planned.title()
          ),
          None,
          "",
        );
      }
      Event::Escalation { rung, elapsed } => self.send(
        format!(
          "⏰ Run {}: {} elapsed: escalate to {}.",
          self.run,
          format_duration(Duration::from_secs(elapsed.as_secs())),
          rung.to
        ),
        None,
        "",
      ),
      Event::EscalationOn { to, reason, .. } => self.send(
        format!("⏰ Run {}: {reason}: escalate to {to}.", self.run),
        None,
        "",
      ),
      Event::SeverityRaised { planned, from, to } => self.send(
        format!(
          "⚠️ Run {}: severity raised {} → {} by `{}`.",
          self.run,
          from.name(),
          to.name(),
          planned.step.id.value
        ),
        None,
        "",
      ),
      Event::Finish {
        plan,
        records,
        end,
        elapsed,
        exit_code,
      } => {
        let r = plan.runbook;
        let took = format_duration(Duration::from_secs(elapsed.as_secs()));
        let (text, action) = match (end, exit_code) {
          (RunEnd::Completed, 0) => {
            let verified = verified(records);
            let mut text = format!(
              "✅ [{}] Resolved: {} — after {took} (run {})",
              r.severity.name(),
              r.title,
              self.run
            );
            if !verified.is_empty() {
              text.push_str(&format!("\nVerified:\n{}", listed(&verified)));
            }
            text.push_str(&format!(
              "\nPostmortem draft: megacity report {} --postmortem",
              self.run
            ));
            (text, Some("resolve"))
          }
          _ => {
            let failed = still_failing(records);
            let mut text = format!(
              "❌ [{}] Unresolved: {} — the run ended ({}) after {took}, exit code {exit_code} (run {})",
              r.severity.name(),
              r.title,
              crate::journal::RunEnd::from(end),
              self.run
            );
            if !failed.is_empty() {
              text.push_str(&format!("\nWhat failed:\n{}", listed(&failed)));
            }
            (text, None)
          }
        };
        self.send(text, action, r.severity.name());
      }
      _ => {}
    }
  }
}

/// Where the last action that ran did its work: the steps after it are the verification.
fn last_action(records: &[StepRecord]) -> Option<usize> {
  records
    .iter()
    .rposition(|r| r.kind == "action" && r.results.iter().any(|h| h.outcome == Outcome::Passed))
}

/// The checks that passed after the last action that ran (all passed checks when none ran).
fn verified(records: &[StepRecord]) -> Vec<String> {
  let from = last_action(records).map_or(0, |i| i + 1);
  records[from..]
    .iter()
    .filter(|r| r.kind == "check")
    .flat_map(|r| {
      r.results
        .iter()
        .filter(|h| h.outcome == Outcome::Passed)
        .map(move |h| format!("✔ {} on {}", r.id, h.host))
    })
    .collect()
}

/// What still fails at the end: failed, unknown or unreachable results after the last action that
/// ran (all of them when none ran), and failed or interrupted actions.
fn still_failing(records: &[StepRecord]) -> Vec<String> {
  let from = last_action(records).map_or(0, |i| i + 1);
  records
    .iter()
    .enumerate()
    .flat_map(|(i, r)| {
      r.results
        .iter()
        .filter(move |h| match h.outcome {
          Outcome::Failed | Outcome::Interrupted => r.kind != "check" || i >= from,
          Outcome::Unknown | Outcome::Unreachable => i >= from,
          _ => false,
        })
        .map(move |h| finding(&r.id, h))
    })
    .collect()
}
