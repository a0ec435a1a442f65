//! `hosts check`: per host, whether it answered, whether passwordless sudo works, and how long
//! the preflight took there.

use serde::Serialize;

use crate::ui::render::View;
use crate::ui::{style, text};

#[derive(Serialize)]
pub(crate) struct HostRow {
  pub(crate) host: String,
  pub(crate) reachable: bool,
  /// Whether `sudo -n` works there; absent when the host did not answer.
  #[serde(skip_serializing_if = "Option::is_none")]
  pub(crate) sudo: Option<bool>,
  pub(crate) seconds: f64,
  #[serde(skip_serializing_if = "Option::is_none")]
  pub(crate) problem: Option<String>,
}

/// The JSON output is the list of rows.
#[derive(Serialize)]
#[serde(transparent)]
pub(crate) struct HostsCheck {
  pub(crate) rows: Vec<HostRow>,
}

impl View for HostsCheck {
  fn text(&self) -> String {
    let mut table = vec![
      ["HOST", "STATUS", "SUDO", "TIME"]
        .map(|h| style::bold(h).to_string())
        .to_vec(),
    ];
    for r in &self.rows {
      let status = match (&r.problem, r.reachable) {
        (None, _) => style::ok("ok").to_string(),
        (Some(p), true) => format!("{} {}", style::warning("ok,"), text::sanitize(p)),
        (Some(p), false) => format!("{} {}", style::fail("unreachable:"), text::sanitize(p)),
      };
      let sudo = match r.sudo {
        Some(true) => "yes",
        Some(false) => "no",
        None => "-",
      };
      table.push(vec![
        style::host(&text::sanitize(&r.host)).to_string(),
        status,
        sudo.to_string(),
        format!("{:.2}s", r.seconds),
      ]);
    }
    text::screen_table(&table)
  }
}
