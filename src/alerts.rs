//! From the alert to the runbook: the firing alerts from Alertmanager (API v2), each with the
//! runbook that handles it and the inventory hosts it concerns. A runbook is found by the
//! alert's `runbook` label, by its `runbook_url` annotation (the last path segment is the id),
//! or by the runbook's own `alerts:` list; hosts come from the `instance`/`host` labels with
//! the port stripped, matched against inventory names, never guessed.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::inventory::Inventory;
use crate::runbook::Runbook;

/// One alert as Alertmanager's API v2 gives it (the fields megacity reads).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Alert {
  pub(crate) fingerprint: String,
  #[serde(default)]
  pub(crate) labels: BTreeMap<String, String>,
  #[serde(default)]
  pub(crate) annotations: BTreeMap<String, String>,
  #[serde(default)]
  pub(crate) starts_at: String,
}

impl Alert {
  pub(crate) fn name(&self) -> &str {
    self.labels.get("alertname").map_or("?", String::as_str)
  }
}

/// What an alert leads to.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Routed {
  pub(crate) alert: String,
  pub(crate) fingerprint: String,
  #[serde(skip_serializing_if = "Option::is_none")]
  pub(crate) severity: Option<String>,
  pub(crate) since: String,
  #[serde(skip_serializing_if = "Option::is_none")]
  pub(crate) summary: Option<String>,
  /// The runbook, and how it was found (`label`, `runbook_url`, `alerts:`).
  #[serde(skip_serializing_if = "Option::is_none")]
  pub(crate) runbook: Option<String>,
  #[serde(skip_serializing_if = "Option::is_none")]
  pub(crate) found_by: Option<&'static str>,
  /// Inventory hosts the alert names.
  pub(crate) hosts: Vec<String>,
  /// What it names that the inventory does not have (an address, an unknown name).
  pub(crate) unmatched: Vec<String>,
}

/// The firing alerts (not silenced, not inhibited) from the Alertmanager at `base`.
pub(crate) fn fetch(base: &str) -> Result<Vec<Alert>, Error> {
  let url = format!(
    "{}/api/v2/alerts?active=true&silenced=false&inhibited=false",
    base.trim_end_matches('/')
  );
  let agent: ureq::Agent = ureq::Agent::config_builder()
    .timeout_global(Some(Duration::from_secs(10)))
    .build()
    .into();
  let unreachable = |reason: String| Error::Alertmanager {
    url: base.to_string(),
    reason,
  };
  let mut response = agent
    .get(&url)
    .call()
    .map_err(|e| unreachable(e.to_string()))?;
  let text = response
    .body_mut()
    .with_config()
    .limit(16 * 1024 * 1024)
    .read_to_string()
    .map_err(|e| unreachable(e.to_string()))?;
  serde_json::from_str(&text)
    .map_err(|e| unreachable(format!("not Alertmanager's API v2 answer: {e}")))
}

/// Routes `alert` to a runbook of `runbooks` and to hosts of `inventory`.
pub(crate) fn route(alert: &Alert, runbooks: &[Runbook], inventory: &Inventory) -> Routed {
  let known = |id: &str| runbooks.iter().any(|r| r.id == id);
  let by_label = alert
    .labels
    .get("runbook")
    .filter(|id| known(id))
    .map(|id| (id.clone(), "label"));
  let by_url = || {
    let url = alert.annotations.get("runbook_url")?;
    let last = url
      .split(['#', '?'])
      .next()?
      .trim_end_matches('/')
      .rsplit('/')
      .next()?;
    let id = last
      .trim_end_matches(".yaml")
      .trim_end_matches(".yml")
      .trim_end_matches(".md");
    known(id).then(|| (id.to_string(), "runbook_url"))
  };
  let by_list = || {
    runbooks
      .iter()
      .find(|r| r.alerts.iter().any(|a| a.value == alert.name()))
      .map(|r| (r.id.clone(), "alerts:"))
  };
  let found = by_label.or_else(by_url).or_else(by_list);
  let mut hosts = Vec::new();
  let mut unmatched = Vec::new();
  for key in ["instance", "host", "hostname", "node"] {
    let Some(value) = alert.labels.get(key) else {
      continue;
    };
    let name = strip_port(value);
    if inventory.host(name).is_some() {
      if !hosts.iter().any(|h| h == name) {
        hosts.push(name.to_string());
      }
    } else if !unmatched.contains(value) {
      unmatched.push(value.clone());
    }
  }
  Routed {
    alert: alert.name().to_string(),
    fingerprint: alert.fingerprint.clone(),
    severity: alert.labels.get("severity").cloned(),
    since: alert.starts_at.clone(),
    summary: alert.annotations.get("summary").cloned(),
    found_by: found.as_ref().map(|(_, how)| *how),
    runbook: found.map(|(id, _)| id),
    hosts,
    unmatched,
  }
}

/// `host:9100` → `host`; `[::1]:9100` → `::1`; a bare name or address as is.
fn strip_port(instance: &str) -> &str {
  if let Some(rest) = instance.strip_prefix('[') {
    return rest.split(']').next().unwrap_or(rest);
  }
  match instance.rsplit_once(':') {
    Some((host, port)) if !host.contains(':') && port.chars().all(|c| c.is_ascii_digit()) => host,
    _ => instance,
  }
}

/// The alert a run was asked to handle: by fingerprint (or a unique prefix of one), else by
/// alert name (one firing alert of that name).
pub(crate) fn pick<'a>(alerts: &'a [Alert], wanted: &str) -> Result<&'a Alert, Error> {
  let by_print: Vec<&Alert> = alerts
    .iter()
    .filter(|a| a.fingerprint.starts_with(wanted))
    .collect();
  let by_name: Vec<&Alert> = alerts.iter().filter(|a| a.name() == wanted).collect();
  let several = match (by_print.as_slice(), by_name.as_slice()) {
    ([one], _) | ([], [one]) => return Ok(one),
    ([], []) => {
      return Err(Error::NoSuchAlert {
        wanted: wanted.to_string(),
        firing: alerts
          .iter()
          .map(|a| {
            format!(
              "{} ({})",
              a.name(),
              &a.fingerprint[..a.fingerprint.len().min(8)]
            )
          })
          .collect(),
      });
    }
    ([], several) => several,
    (several, _) => several,
  };
  Err(Error::NoSuchAlert {
    wanted: format!(
      "{wanted} (it matches {} alerts; give a fingerprint)",
      several.len()
    ),
    firing: several
      .iter()
      .map(|a| format!("{} ({})", a.name(), a.fingerprint))
      .collect(),
  })
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn ports_are_stripped_and_addresses_stay_addresses() {
    assert_eq!(strip_port("redis-master-01:9121"), "redis-master-01");
    assert_eq!(strip_port("redis-master-01"), "redis-master-01");
    assert_eq!(strip_port("[::1]:9100"), "::1");
    assert_eq!(strip_port("127.0.0.1:9100"), "127.0.0.1");
  }
}
