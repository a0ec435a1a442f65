//! `alerts`: each firing alert with its runbook and hosts, and the command that handles it.

use serde::Serialize;

use crate::alerts::Routed;
use crate::ui::render::View;
use crate::ui::{style, text};

#[derive(Serialize)]
#[serde(transparent)]
pub(crate) struct Alerts {
  pub(crate) alerts: Vec<Routed>,
}

impl View for Alerts {
  fn text(&self) -> String {
    let mut table = vec![
      [
        "ALERT",
        "SEVERITY",
        "SINCE",
        "RUNBOOK",
        "HOSTS",
        "FINGERPRINT",
      ]
      .map(|h| style::bold(h).to_string())
      .to_vec(),
    ];
    for a in &self.alerts {
      let mut hosts = a.hosts.join(",");
      if !a.unmatched.is_empty() {
        if !hosts.is_empty() {
          hosts.push(' ');
        }
        hosts.push_str(&format!("(unmatched: {})", a.unmatched.join(",")));
      }
      table.push(vec![
        text::sanitize(&a.alert).into_owned(),
        text::sanitize(a.severity.as_deref().unwrap_or("-")).into_owned(),
        text::sanitize(&a.since).into_owned(),
        match &a.runbook {
          Some(id) => text::sanitize(id).into_owned(),
          None => style::warning("none").to_string(),
        },
        text::sanitize(if hosts.is_empty() { "-" } else { &hosts }).into_owned(),
        text::sanitize(&a.fingerprint).into_owned(),
      ]);
    }
    text::screen_table(&table)
  }

  fn notes(&self) -> String {
    if self.alerts.is_empty() {
      return "no alert is firing\n".into();
    }
    let mut out = String::new();
    for a in self.alerts.iter().filter(|a| a.runbook.is_some()) {
      out.push_str(&format!(
        "megacity run --alert {}    # {} on {}\n",
        &a.fingerprint,
        a.runbook.as_deref().unwrap_or(""),
        if a.hosts.is_empty() {
          "its runbook's hosts".to_string()
        } else {
          a.hosts.join(", ")
        }
      ));
    }
    out
  }
}
