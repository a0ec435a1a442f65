//! `runbook list`: one row per runbook.

use serde::Serialize;

use crate::runbook::model::Severity;
use crate::ui::render::View;
use crate::ui::{style, text};

/// Serialized as the bare array of rows.
#[derive(Serialize)]
#[serde(transparent)]
pub(crate) struct RunbookList {
  pub(crate) rows: Vec<RunbookRow>,
}

#[derive(Serialize)]
pub(crate) struct RunbookRow {
  pub(crate) id: String,
  pub(crate) severity: Severity,
  pub(crate) title: String,
  pub(crate) hosts: Vec<String>,
  pub(crate) steps: usize,
  pub(crate) origin: String,
}

impl View for RunbookList {
  fn text(&self) -> String {
    let mut table = vec![
      // The title before the host list: on a narrow terminal the hosts are what gets cut.
      ["ID", "SEV", "STEPS", "TITLE", "HOSTS"]
        .map(|h| style::bold(h).to_string())
        .to_vec(),
    ];
    for row in &self.rows {
      table.push(vec![
        text::sanitize(&row.id).into_owned(),
        style::severity(row.severity).to_string(),
        row.steps.to_string(),
        text::sanitize(&row.title).into_owned(),
        text::sanitize(&abbreviate(&row.hosts, 3)).into_owned(),
      ]);
    }
    text::screen_table(&table)
  }
}

/// The first `keep` names and how many more: a row stays one line on a big fleet.
fn abbreviate(names: &[String], keep: usize) -> String {
  if names.len() <= keep + 1 {
    return names.join(",");
  }
  format!("{},+{}", names[..keep].join(","), names.len() - keep)
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn abbreviate_keeps_a_row_short() {
    let names: Vec<String> = ["a", "b", "c", "d", "e"].map(String::from).to_vec();
    assert_eq!(abbreviate(&names[..4], 3), "a,b,c,d");
    assert_eq!(abbreviate(&names, 3), "a,b,c,+2");
  }
}
