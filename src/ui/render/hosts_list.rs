//! `hosts list`: hosts with their groups and role, and the groups they make.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::inventory::Host;
use crate::ui::render::View;
use crate::ui::{style, text};

#[derive(Serialize)]
pub(crate) struct HostsList<'a> {
  pub(crate) hosts: Vec<&'a Host>,
  pub(crate) groups: BTreeMap<&'a str, Vec<&'a str>>,
}

impl View for HostsList<'_> {
  fn text(&self) -> String {
    let mut rows = vec![
      ["HOST", "GROUPS", "ROLE"]
        .map(|h| style::bold(h).to_string())
        .to_vec(),
    ];
    for host in &self.hosts {
      rows.push(vec![
        style::host(&text::sanitize(&host.name)).to_string(),
        text::sanitize(&host.groups.join(",")).into_owned(),
        text::sanitize(host.role.as_deref().unwrap_or_default()).into_owned(),
      ]);
    }
    text::screen_table(&rows)
  }
}
