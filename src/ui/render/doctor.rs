//! `doctor`: one line per finding, the fix under what is wrong, and a tally.

use serde::Serialize;

use crate::ui::render::View;
use crate::ui::{style, text};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Level {
  Ok,
  /// May get in the way of some runs.
  Warning,
  /// A run would fail on it.
  Blocking,
}

#[derive(Clone, Debug, Serialize)]
pub(crate) struct Finding {
  /// `local`, or the host it is about.
  pub(crate) subject: String,
  pub(crate) area: String,
  pub(crate) level: Level,
  pub(crate) message: String,
  #[serde(skip_serializing_if = "Option::is_none")]
  pub(crate) fix: Option<String>,
}

#[derive(Serialize)]
pub(crate) struct Doctor {
  pub(crate) findings: Vec<Finding>,
}

impl Doctor {
  pub(crate) fn blocking(&self) -> usize {
    self
      .findings
      .iter()
      .filter(|f| f.level == Level::Blocking)
      .count()
  }
}

impl View for Doctor {
  fn text(&self) -> String {
    let mut out = String::new();
    for f in &self.findings {
      let mark = match f.level {
        Level::Ok => style::ok("✔").to_string(),
        Level::Warning => style::warning("!").to_string(),
        Level::Blocking => style::fail("✘").to_string(),
      };
      out.push_str(&format!(
        "{mark} [{}] {}: {}\n",
        text::sanitize(&f.subject),
        f.area,
        text::sanitize(&f.message)
      ));
      if let Some(fix) = &f.fix {
        out.push_str(&format!(
          "    {} {}\n",
          style::hint("fix:"),
          text::sanitize(fix)
        ));
      }
    }
    out
  }

  fn notes(&self) -> String {
    let warnings = self
      .findings
      .iter()
      .filter(|f| f.level == Level::Warning)
      .count();
    match self.blocking() {
      0 => format!("nothing blocks a run ({warnings} warning(s))\n"),
      n => format!("{n} finding(s) block a run, {warnings} warning(s)\n"),
    }
  }
}
