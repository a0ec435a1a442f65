//! Updates to the team from the run itself: incident declared, escalations, severity raised, how
//! the run ended — to a Slack incoming webhook and PagerDuty's Events API v2 when their
//! environment variables are set. Live runs only: a rehearsal or a triage declares nothing.
//! The webhook URL and the routing key are secrets: never printed, never recorded.

use std::sync::Mutex;
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::json;

use crate::exec::event::{Event, Reporter, RunEnd};
use crate::exec::plan::RunMode;
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
  sent: Mutex<Vec<JoinHandle<Option<String>>>>,
}

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
    Some(Notifier {
      slack,
      pagerduty,
      run: run.to_string(),
      operator: operator.to_string(),
      alert: alert.map(str::to_string),
      sent: Mutex::new(Vec::new()),
    })
  }

  /// Posts `text` (and, to PagerDuty, `action` on the run's incident) in the background.
  fn send(&self, text: String, action: Option<&'static str>, severity: &str) {
    let mut posts: Vec<(String, serde_json::Value, &'static str)> = Vec::new();
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
          "summary": text,
          "source": "megacity",
          "severity": match severity {
            "P1" => "critical",
            "P2" => "error",
            "P3" => "warning",
            _ => "info",
          },
        });
      }
      posts.push((url.clone(), event, "PagerDuty"));
    }
    let mut sent = self.sent.lock().unwrap();
    for (url, body, target) in posts {
      sent.push(std::thread::spawn(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
          .timeout_global(Some(Duration::from_secs(10)))
          .build()
          .into();
        // The URL is a secret: a failure names the target, never the address.
        let sent = agent
          .post(&url)
          .header("Content-Type", "application/json")
          .send(body.to_string());
        match sent {
          Ok(_) => None,
          Err(e) => Some(format!(
            "the {target} update was not delivered: {}",
            describe(&e)
          )),
        }
      }));
    }
  }

  /// Waits for every update to be delivered (or to fail); the failures, said without secrets.
  pub(crate) fn finish(&self) -> Vec<String> {
    let handles: Vec<_> = self.sent.lock().unwrap().drain(..).collect();
    handles
      .into_iter()
      .filter_map(|h| h.join().ok().flatten())
      .collect()
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

impl Reporter for Notifier {
  fn event(&self, event: Event<'_>) {
    match event {
      Event::Start { plan, elapsed } if elapsed.is_zero() => {
        let r = plan.runbook;
        let (respond, recover) = r.severity.targets();
        self.send(
          format!(
            "🚨 [{}] Incident declared: {} — {}.{} Runbook `{}` run by {} (run {}). Respond within {}, recover within {}.",
            r.severity.name(),
            r.id,
            r.title,
            self
              .alert
              .as_ref()
              .map(|a| format!(" Alert: {a}."))
              .unwrap_or_default(),
            r.id,
            self.operator,
            self.run,
            format_duration(respond),
            format_duration(recover)
          ),
          Some("trigger"),
          r.severity.name(),
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
        end,
        elapsed,
        exit_code,
        ..
      } => {
        let took = format_duration(Duration::from_secs(elapsed.as_secs()));
        let (text, action) = match (end, exit_code) {
          (RunEnd::Completed, 0) => (
            format!(
              "✅ [{}] {}: the runbook completed and its checks pass after {took} (run {}).",
              plan.runbook.severity.name(),
              plan.runbook.id,
              self.run
            ),
            Some("resolve"),
          ),
          _ => (
            format!(
              "⚠️ [{}] {}: the run ended ({}) after {took} with exit code {exit_code}: not resolved (run {}).",
              plan.runbook.severity.name(),
              plan.runbook.id,
              crate::journal::RunEnd::from(end),
              self.run
            ),
            None,
          ),
        };
        self.send(text, action, plan.runbook.severity.name());
      }
      _ => {}
    }
  }
}
