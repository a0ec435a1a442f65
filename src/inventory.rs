//! Hosts and groups. Hosts are names the operator's OpenSSH configuration resolves; megacity
//! ships names only, never addresses.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::diagnostic::{Collector, did_you_mean};
use crate::schema::{Fields, Loc};
use crate::yaml::{self, Value};

/// The special target naming the operator's own machine.
pub(crate) const LOCAL: &str = "local";

#[derive(Clone, Debug, Serialize)]
pub(crate) struct Host {
  pub(crate) name: String,
  #[serde(skip_serializing_if = "Option::is_none")]
  pub(crate) role: Option<String>,
  pub(crate) groups: Vec<String>,
  /// Login user, when the operator's ssh_config should not decide it.
  #[serde(skip_serializing_if = "Option::is_none")]
  pub(crate) user: Option<String>,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct Inventory {
  pub(crate) hosts: Vec<Host>,
}

/// What a target name refers to.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Target<'i> {
  Local,
  Host(&'i str),
  Group(&'i str, Vec<&'i str>),
}

impl Inventory {
  pub(crate) fn parse(c: &mut Collector, text: &str) -> Inventory {
    let root = match yaml::parse(text) {
      Ok(root) => root,
      Err(e) => {
        c.error(e.pos, format!("invalid YAML: {}", e.message), None);
        return Inventory::default();
      }
    };
    let Some(f) = Fields::new(c, &root, "inventory", &["hosts"]) else {
      return Inventory::default();
    };
    let Some(hosts) = f.required(c, "hosts") else {
      return Inventory::default();
    };
    let Value::Seq(items) = &hosts.value else {
      c.error(
        hosts.pos,
        format!("`hosts` must be a list, found {}", hosts.kind()),
        None,
      );
      return Inventory::default();
    };
    let mut inventory = Inventory::default();
    let mut group_pos: Vec<Loc<String>> = Vec::new();
    for item in items {
      let Some(f) = Fields::new(c, item, "host", &["name", "role", "groups", "user"]) else {
        continue;
      };
      let Some(name) = f.req_string(c, "name") else {
        continue;
      };
      if !is_host_name(&name) || name.value == LOCAL {
        c.error(
          name.pos,
          format!("`{}` cannot be a host name", name.value),
          Some("host names use letters, digits, `.`, `-` and `_`; `local` is reserved".into()),
        );
        continue;
      }
      if inventory.hosts.iter().any(|h| h.name == name.value) {
        c.error(name.pos, format!("duplicate host `{}`", name.value), None);
        continue;
      }
      let groups = f.string_list(c, "groups");
      for g in &groups {
        if !is_host_name(g) || g.value == LOCAL {
          c.error(g.pos, format!("`{}` cannot be a group name", g.value), None);
        }
      }
      group_pos.extend(groups.iter().cloned());
      inventory.hosts.push(Host {
        name: name.value,
        role: f.opt_string(c, "role").map(|r| r.value),
        groups: groups.into_iter().map(|g| g.value).collect(),
        user: f.opt_string(c, "user").and_then(|u| {
          // ssh takes a user starting with `-` as an option: refused, not passed on.
          let plausible = !u.value.is_empty()
            && !u.value.starts_with('-')
            && u
              .value
              .chars()
              .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '@' | '$'));
          if plausible {
            Some(u.value)
          } else {
            c.error(
              u.pos,
              format!("`{}` cannot be a login user", u.value),
              Some("a user name: letters, digits, `.`, `-`, `_`, not starting with `-`".into()),
            );
            None
          }
        }),
      });
    }
    for g in group_pos {
      if inventory.host(&g.value).is_some() {
        c.error(
          g.pos,
          format!("group `{}` has the same name as a host", g.value),
          None,
        );
      }
    }
    inventory
  }

  pub(crate) fn host(&self, name: &str) -> Option<&Host> {
    self.hosts.iter().find(|h| h.name == name)
  }

  /// Groups and their members, in name order.
  pub(crate) fn groups(&self) -> BTreeMap<&str, Vec<&str>> {
    let mut groups: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for host in &self.hosts {
      for group in &host.groups {
        groups.entry(group).or_default().push(&host.name);
      }
    }
    groups
  }

  pub(crate) fn resolve(&self, name: &str) -> Option<Target<'_>> {
    if name == LOCAL {
      return Some(Target::Local);
    }
    if let Some(host) = self.host(name) {
      return Some(Target::Host(&host.name));
    }
    self
      .groups()
      .into_iter()
      .find(|(g, _)| *g == name)
      .map(|(g, members)| Target::Group(g, members))
  }

  /// The hosts `targets` (host and group names) name, each once; every host when none is
  /// named. `local` and unknown names are usage errors (did you mean).
  pub(crate) fn select(&self, targets: &[String]) -> Result<Vec<String>, crate::error::Error> {
    if targets.is_empty() {
      return Ok(self.host_names());
    }
    let mut hosts: Vec<String> = Vec::new();
    for name in targets {
      let members = match self.resolve(name) {
        Some(Target::Host(h)) => vec![h],
        Some(Target::Group(_, members)) => members,
        Some(Target::Local) | None => {
          return Err(crate::error::Error::UnknownTarget {
            name: name.clone(),
            suggestion: self.suggest(name),
          });
        }
      };
      for member in members {
        if !hosts.iter().any(|h| h == member) {
          hosts.push(member.to_string());
        }
      }
    }
    Ok(hosts)
  }

  /// Every host's name, in inventory order.
  pub(crate) fn host_names(&self) -> Vec<String> {
    self.hosts.iter().map(|h| h.name.clone()).collect()
  }

  /// Every name a target may use: hosts, groups, and `local`.
  pub(crate) fn target_names(&self) -> Vec<&str> {
    let mut names: Vec<&str> = self.hosts.iter().map(|h| h.name.as_str()).collect();
    names.extend(self.groups().into_keys());
    names.push(LOCAL);
    names
  }

  /// Target names as hosts: in inventory order, each once, `local` last; unknown names dropped
  /// (validation reports them).
  pub(crate) fn expand<'t>(&self, targets: impl IntoIterator<Item = &'t str>) -> Vec<String> {
    let mut names: Vec<&str> = Vec::new();
    let mut local = false;
    for target in targets {
      match self.resolve(target) {
        Some(Target::Host(h)) => names.push(h),
        Some(Target::Group(_, members)) => names.extend(members),
        Some(Target::Local) => local = true,
        None => {}
      }
    }
    let mut out: Vec<String> = self
      .hosts
      .iter()
      .filter(|h| names.contains(&h.name.as_str()))
      .map(|h| h.name.clone())
      .collect();
    if local {
      out.push(LOCAL.to_string());
    }
    out
  }

  pub(crate) fn suggest(&self, wrong: &str) -> Option<String> {
    did_you_mean(wrong, self.target_names())
  }
}

fn is_host_name(s: &str) -> bool {
  !s.is_empty()
    && !s.starts_with('-')
    && s
      .chars()
      .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
}

/// The inventory from `path`, or the embedded default; invalid files are an error.
pub(crate) fn load(path: Option<&std::path::Path>) -> Result<Inventory, crate::error::Error> {
  use crate::source::Source;
  let source = match path {
    Some(path) => Source::read(path)?,
    None => Source::embedded(
      "<embedded>/inventory.yaml".into(),
      crate::embedded::INVENTORY,
    ),
  };
  let mut c = Collector::new(&source.display, &source.text);
  let inventory = Inventory::parse(&mut c, &source.text);
  if c.has_errors() {
    return Err(crate::error::Error::Invalid {
      what: format!("inventory {}", source.display),
      diagnostics: c.items,
    });
  }
  Ok(inventory)
}

#[cfg(test)]
mod tests {
  use super::*;

  fn parse(text: &str) -> (Inventory, Vec<String>) {
    let mut c = Collector::new("inv.yaml", text);
    let inv = Inventory::parse(&mut c, text);
    (
      inv,
      c.items
        .into_iter()
        .map(|d| format!("{}:{} {}", d.line, d.column, d.message))
        .collect(),
    )
  }

  #[test]
  fn resolves_hosts_groups_and_local() {
    let (inv, errors) =
      parse("hosts:\n  - name: a\n    groups: [g]\n  - name: b\n    groups: [g]\n");
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(inv.resolve("g"), Some(Target::Group("g", vec!["a", "b"])));
    assert_eq!(inv.resolve("a"), Some(Target::Host("a")));
    assert_eq!(inv.resolve("local"), Some(Target::Local));
    assert_eq!(inv.resolve("zz"), None);
  }

  #[test]
  fn reports_every_problem() {
    let (_, errors) = parse(
      "hosts:\n  - name: a\n    gropus: [x]\n  - name: a\n  - name: local\n  - name: b\n    groups: [a]\n",
    );
    assert_eq!(
      errors,
      vec![
        "3:5 unknown key `gropus` in host",
        "4:11 duplicate host `a`",
        "5:11 `local` cannot be a host name",
        "7:14 group `a` has the same name as a host",
      ]
    );
  }
}
