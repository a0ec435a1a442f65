//! `connections list` and `connections close`: kept SSH masters.

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use crate::ui::render::View;
use crate::ui::{self, style, text};

/// Serialized as the bare array of connections.
#[derive(Serialize)]
#[serde(transparent)]
pub(crate) struct KeptList {
  pub(crate) kept: Vec<KeptConnection>,
  /// Text only: where kept connections live, to say where none were found.
  #[serde(skip)]
  pub(crate) dir: PathBuf,
  /// Text only: seconds since the epoch, to show ages.
  #[serde(skip)]
  pub(crate) now: u64,
}

#[derive(Serialize)]
pub(crate) struct KeptConnection {
  pub(crate) host: String,
  pub(crate) user: Option<String>,
  pub(crate) ssh_config: Option<PathBuf>,
  /// Seconds since the epoch.
  pub(crate) opened: u64,
  pub(crate) idle_limit_secs: u64,
  /// Whether the master still answers.
  pub(crate) alive: bool,
}

impl View for KeptList {
  fn text(&self) -> String {
    if self.kept.is_empty() {
      return String::new();
    }
    let mut rows = vec![
      [
        "HOST",
        "USER",
        "SSH CONFIG",
        "OPENED",
        "IDLE LIMIT",
        "STATE",
      ]
      .map(|h| style::bold(h).to_string())
      .to_vec(),
    ];
    for k in &self.kept {
      rows.push(vec![
        style::host(&text::sanitize(&k.host)).to_string(),
        text::sanitize(k.user.as_deref().unwrap_or("-")).into_owned(),
        k.ssh_config.as_ref().map_or_else(
          || "-".into(),
          |p| text::sanitize(&p.display().to_string()).into_owned(),
        ),
        format!(
          "{} ago",
          humantime::format_duration(Duration::from_secs(self.now.saturating_sub(k.opened)))
        ),
        humantime::format_duration(Duration::from_secs(k.idle_limit_secs)).to_string(),
        if k.alive {
          style::ok("open")
        } else {
          style::dim("ended")
        }
        .to_string(),
      ]);
    }
    text::screen_table(&rows)
  }

  fn notes(&self) -> String {
    if self.kept.is_empty() {
      format!(
        "no kept connections (in {})\n",
        text::sanitize(&self.dir.display().to_string())
      )
    } else {
      String::new()
    }
  }
}

/// What `connections close` did: the hosts whose masters it closed, and what went wrong.
#[derive(Serialize)]
pub(crate) struct Closed {
  pub(crate) closed: Vec<String>,
  pub(crate) warnings: Vec<String>,
}

impl View for Closed {
  /// Closing has no output; what it did is a note for the operator.
  fn text(&self) -> String {
    String::new()
  }

  fn notes(&self) -> String {
    let mut out: String = self.warnings.iter().map(|w| ui::warning_line(w)).collect();
    let n = self.closed.len();
    out.push_str(&format!(
      "closed {n} kept connection{}{}\n",
      if n == 1 { "" } else { "s" },
      if n == 0 {
        String::new()
      } else {
        format!(": {}", text::sanitize(&self.closed.join(", ")))
      }
    ));
    out
  }
}
