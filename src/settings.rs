//! The config file: where Alertmanager, Prometheus, Slack and PagerDuty are, kept in one place
//! (`$XDG_CONFIG_HOME/megacity/config.yaml`, or the file `MEGACITY_CONFIG` names). Validated
//! like a runbook (file:line:column, did you mean). Each setting's environment variable wins
//! over the file, and a command-line flag over both.

use std::path::PathBuf;

use crate::diagnostic::Collector;
use crate::error::Error;
use crate::schema::Fields;
use crate::source::Source;
use crate::yaml::{self, Value};

/// Names the config file instead of the default place.
pub(crate) const CONFIG_ENV: &str = "MEGACITY_CONFIG";
pub(crate) const ALERTMANAGER_ENV: &str = "MEGACITY_ALERTMANAGER";
pub(crate) const PROMETHEUS_ENV: &str = "MEGACITY_PROMETHEUS";
pub(crate) const SLACK_ENV: &str = "MEGACITY_SLACK_WEBHOOK";
pub(crate) const SLACK_DRILL_ENV: &str = "MEGACITY_SLACK_DRILL_WEBHOOK";
pub(crate) const PAGERDUTY_ENV: &str = "MEGACITY_PAGERDUTY_KEY";

/// Every key of the file, with its environment variable and whether its value is a secret
/// (never printed, never recorded).
const KEYS: [(&str, &str, bool); 5] = [
  ("alertmanager", ALERTMANAGER_ENV, false),
  ("prometheus", PROMETHEUS_ENV, false),
  ("slack_webhook", SLACK_ENV, true),
  ("slack_drill_webhook", SLACK_DRILL_ENV, true),
  ("pagerduty_routing_key", PAGERDUTY_ENV, true),
];

#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Settings {
  /// Alertmanager's base URL (`megacity alerts`, `run --alert`, `--until-resolved`).
  pub(crate) alertmanager: Option<String>,
  /// Prometheus's base URL (checks written `prometheus: {query: …}`).
  pub(crate) prometheus: Option<String>,
  /// Slack incoming webhook for live runs' updates.
  pub(crate) slack_webhook: Option<String>,
  /// Slack incoming webhook for rehearsals (`--dry-run`): the drill channel. Without it a
  /// rehearsal posts nothing.
  pub(crate) slack_drill_webhook: Option<String>,
  /// PagerDuty Events API v2 routing key (live runs only).
  pub(crate) pagerduty_routing_key: Option<String>,
  /// The config file these came from, if any.
  pub(crate) file: Option<PathBuf>,
}

impl Settings {
  /// The config file where there is one (an invalid one is an error), then the environment
  /// over it.
  pub(crate) fn load() -> Result<Settings, Error> {
    let explicit = std::env::var_os(CONFIG_ENV)
      .filter(|v| !v.is_empty())
      .map(PathBuf::from);
    let path = explicit
      .clone()
      .or_else(|| crate::config::config_dir().map(|d| d.join("config.yaml")));
    let mut settings = match path {
      // A file named explicitly must exist; the default place may be empty.
      Some(path) if explicit.is_some() || path.is_file() => {
        let source = Source::read(&path)?;
        let mut c = Collector::new(&source.display, &source.text);
        let mut settings = Settings::parse(&mut c, &source.text);
        settings.file = Some(path.clone());
        if c.has_errors() {
          // The file holds secrets: no line of it is echoed, only where the problem is.
          for d in &mut c.items {
            d.source_line = None;
          }
          return Err(Error::Invalid {
            what: format!("config file {}", source.display),
            diagnostics: c.items,
          });
        }
        settings
      }
      _ => Settings::default(),
    };
    for (key, env, _) in KEYS {
      if let Some(value) = std::env::var(env).ok().filter(|v| !v.trim().is_empty()) {
        *settings.slot(key) = Some(value.trim().to_string());
      }
    }
    Ok(settings)
  }

  pub(crate) fn parse(c: &mut Collector, text: &str) -> Settings {
    let mut settings = Settings::default();
    let root = match yaml::parse(text) {
      Ok(root) => root,
      Err(e) => {
        c.error(e.pos, format!("invalid YAML: {}", e.message), None);
        return settings;
      }
    };
    // An empty file (or one of comments only) sets nothing.
    if matches!(root.value, Value::Null) {
      return settings;
    }
    let names: Vec<&str> = KEYS.iter().map(|(k, _, _)| *k).collect();
    let Some(f) = Fields::new(c, &root, "config file", &names) else {
      return settings;
    };
    for (key, env, secret) in KEYS {
      let Some(value) = f.opt_string(c, key) else {
        continue;
      };
      let text = value.value.trim();
      let is_url = key != "pagerduty_routing_key";
      let problem = if text.is_empty() {
        Some("is empty".to_string())
      } else if is_url && !(text.starts_with("http://") || text.starts_with("https://")) {
        // A secret is not echoed back, even in an error.
        Some(if secret {
          "is not an http:// or https:// URL".to_string()
        } else {
          format!("`{text}` is not an http:// or https:// URL")
        })
      } else {
        None
      };
      match problem {
        Some(problem) => c.error(
          value.pos,
          format!("`{key}` {problem}"),
          Some(format!("e.g. {}; or set {env} instead", example(key))),
        ),
        None => *settings.slot(key) = Some(text.to_string()),
      }
    }
    settings
  }

  /// What is configured, in words, secrets shown only as "set".
  pub(crate) fn describe(&self) -> String {
    let mut parts = Vec::new();
    for (key, _, secret) in KEYS {
      let value = match key {
        "alertmanager" => &self.alertmanager,
        "prometheus" => &self.prometheus,
        "slack_webhook" => &self.slack_webhook,
        "slack_drill_webhook" => &self.slack_drill_webhook,
        _ => &self.pagerduty_routing_key,
      };
      if let Some(value) = value {
        parts.push(if secret {
          format!("{key} set")
        } else {
          format!("{key} {value}")
        });
      }
    }
    let from = self
      .file
      .as_ref()
      .map_or("no config file".to_string(), |f| f.display().to_string());
    if parts.is_empty() {
      format!(
        "{from}: no Alertmanager, Prometheus, Slack or PagerDuty configured (runs work without them)"
      )
    } else {
      format!("{from} and the environment: {}", parts.join(", "))
    }
  }

  fn slot(&mut self, key: &str) -> &mut Option<String> {
    match key {
      "alertmanager" => &mut self.alertmanager,
      "prometheus" => &mut self.prometheus,
      "slack_webhook" => &mut self.slack_webhook,
      "slack_drill_webhook" => &mut self.slack_drill_webhook,
      "pagerduty_routing_key" => &mut self.pagerduty_routing_key,
      _ => unreachable!("KEYS names every field"),
    }
  }
}

fn example(key: &str) -> &'static str {
  match key {
    "alertmanager" => "http://monitoring-01:9093",
    "prometheus" => "http://monitoring-01:9090",
    "pagerduty_routing_key" => "the integration's 32-character routing key",
    _ => "https://hooks.slack.com/services/…",
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  fn parse(text: &str) -> (Settings, Vec<String>) {
    let mut c = Collector::new("config.yaml", text);
    let settings = Settings::parse(&mut c, text);
    let errors = c
      .items
      .iter()
      .map(|d| {
        format!(
          "{}:{} {} {}",
          d.line,
          d.column,
          d.message,
          d.hint.clone().unwrap_or_default()
        )
      })
      .collect();
    (settings, errors)
  }

  #[test]
  fn every_key_is_read() {
    let (s, errors) = parse(
      "alertmanager: http://monitoring-01:9093\nprometheus: http://monitoring-01:9090\nslack_webhook: https://hooks.example/a\nslack_drill_webhook: https://hooks.example/drill\npagerduty_routing_key: abc123\n",
    );
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(s.alertmanager.as_deref(), Some("http://monitoring-01:9093"));
    assert_eq!(s.prometheus.as_deref(), Some("http://monitoring-01:9090"));
    assert_eq!(s.slack_webhook.as_deref(), Some("https://hooks.example/a"));
    assert_eq!(
      s.slack_drill_webhook.as_deref(),
      Some("https://hooks.example/drill")
    );
    assert_eq!(s.pagerduty_routing_key.as_deref(), Some("abc123"));
    let said = s.describe();
    assert!(
      said.contains("alertmanager http://monitoring-01:9093"),
      "{said}"
    );
    assert!(
      said.contains("slack_webhook set") && !said.contains("hooks.example"),
      "{said}"
    );
  }

  #[test]
  fn an_empty_file_sets_nothing() {
    assert_eq!(parse("# nothing yet\n"), (Settings::default(), vec![]));
  }

  #[test]
  fn problems_have_positions_hints_and_hide_secrets() {
    let (_, errors) = parse(
      "alertmanger: http://x\nprometheus: monitoring-01:9090\nslack_webhook: hooks.slack.com/secret-path\n",
    );
    assert!(
      errors.iter().any(|e| e.starts_with("1:1 ")
        && e.contains("alertmanger")
        && e.contains("did you mean `alertmanager`?")),
      "{errors:?}"
    );
    assert!(
      errors.iter().any(|e| e.starts_with("2:13 ")
        && e.contains("`monitoring-01:9090` is not an http:// or https:// URL")),
      "{errors:?}"
    );
    assert!(errors.iter().any(|e| e.starts_with("3:16 ")), "{errors:?}");
    assert!(
      !errors.iter().any(|e| e.contains("secret-path")),
      "{errors:?}"
    );
  }
}
