//! `hosts import`: a megacity inventory from an Ansible inventory (INI or YAML) or from the
//! `Host` entries of an ssh_config. Names only: an address never becomes a host's name, and a
//! host that has no name gets none invented. Where Ansible says how to reach a host
//! (`ansible_host`, `ansible_port`), that goes into an ssh_config snippet, the place megacity
//! takes it from; `ansible_user` becomes the host's `user:`. Everything else is said, not carried.

use std::collections::BTreeMap;

/// What an import found: hosts in first-seen order, with their groups, login user and how to
/// reach them; and what could not be carried over.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Imported {
  pub(crate) hosts: Vec<ImportedHost>,
  pub(crate) dropped: Vec<String>,
}

#[derive(Debug, Default, PartialEq)]
pub(crate) struct ImportedHost {
  pub(crate) name: String,
  pub(crate) groups: Vec<String>,
  pub(crate) user: Option<String>,
  /// `ansible_host`: the address ssh connects to (an ssh_config `HostName`).
  pub(crate) address: Option<String>,
  pub(crate) port: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
  AnsibleIni,
  AnsibleYaml,
  SshConfig,
}

/// Which kind of file `text` is: an ssh_config has `Host` lines, a YAML inventory a top-level
/// mapping (`all:`), an INI one `[group]` sections or bare host lines.
pub(crate) fn kind(text: &str) -> Kind {
  let lines = || {
    text
      .lines()
      .map(str::trim)
      .filter(|l| !l.is_empty() && !l.starts_with('#'))
  };
  if lines().any(|l| {
    l.split_whitespace()
      .next()
      .is_some_and(|w| w.eq_ignore_ascii_case("host"))
  }) {
    Kind::SshConfig
  } else if lines()
    .next()
    .is_some_and(|l| l.ends_with(':') && !l.starts_with('['))
  {
    Kind::AnsibleYaml
  } else {
    Kind::AnsibleIni
  }
}

/// Whether `name` is an address rather than a name: it cannot be a host's name.
pub(crate) fn is_address(name: &str) -> bool {
  name.parse::<std::net::IpAddr>().is_ok()
}

impl Imported {
  fn host(&mut self, name: &str) -> Option<&mut ImportedHost> {
    if is_address(name) {
      let note = format!(
        "{name}: an address, not a name; give it a name (a `Host` alias in ssh_config) and add it by that name"
      );
      if !self.dropped.contains(&note) {
        self.dropped.push(note);
      }
      return None;
    }
    if !self.hosts.iter().any(|h| h.name == name) {
      self.hosts.push(ImportedHost {
        name: name.to_string(),
        ..ImportedHost::default()
      });
    }
    self.hosts.iter_mut().find(|h| h.name == name)
  }

  fn set_var(&mut self, host: &str, key: &str, value: &str) {
    let Some(h) = self.host(host) else { return };
    match key {
      "ansible_host" | "ansible_ssh_host" => h.address = Some(value.to_string()),
      "ansible_user" | "ansible_ssh_user" => h.user = Some(value.to_string()),
      "ansible_port" | "ansible_ssh_port" => h.port = Some(value.to_string()),
      other => {
        let note = format!("{host}: `{other}` is not carried over");
        self.dropped.push(note);
      }
    }
  }

  fn add_group(&mut self, host: &str, group: &str) {
    if matches!(group, "all" | "ungrouped") {
      self.host(host);
      return;
    }
    if let Some(h) = self.host(host)
      && !h.groups.iter().any(|g| g == group)
    {
      h.groups.push(group.to_string());
    }
  }

  /// Children's hosts belong to their parents' groups too.
  fn apply_children(&mut self, children: &BTreeMap<String, Vec<String>>) {
    let parents_of = |group: &str| -> Vec<String> {
      let mut out = Vec::new();
      let mut todo = vec![group.to_string()];
      while let Some(g) = todo.pop() {
        for (parent, kids) in children {
          if kids.contains(&g) && !out.contains(parent) && parent != group {
            out.push(parent.clone());
            todo.push(parent.clone());
          }
        }
      }
      out
    };
    let pairs: Vec<(String, Vec<String>)> = self
      .hosts
      .iter()
      .map(|h| (h.name.clone(), h.groups.clone()))
      .collect();
    for (host, groups) in pairs {
      for group in groups {
        for parent in parents_of(&group) {
          self.add_group(&host, &parent);
        }
      }
    }
  }
}

/// An Ansible INI inventory: `[group]` host lines with `key=value` vars, `[group:children]`,
/// `[group:vars]` (not carried), numeric ranges `web[01:03]`.
pub(crate) fn ansible_ini(text: &str) -> Imported {
  let mut out = Imported::default();
  let mut children: BTreeMap<String, Vec<String>> = BTreeMap::new();
  let mut section = ("ungrouped".to_string(), "");
  for line in text.lines() {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
      continue;
    }
    if let Some(inner) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
      section = match inner.split_once(':') {
        Some((group, "children")) => (group.to_string(), "children"),
        Some((group, "vars")) => {
          out.dropped.push(format!(
            "[{group}:vars]: group variables are not carried over"
          ));
          (group.to_string(), "vars")
        }
        _ => (inner.to_string(), ""),
      };
      continue;
    }
    match section.1 {
      "children" => children
        .entry(section.0.clone())
        .or_default()
        .push(line.to_string()),
      "vars" => {}
      _ => {
        let mut words = line.split_whitespace();
        let Some(pattern) = words.next() else {
          continue;
        };
        let vars: Vec<(&str, &str)> = words.filter_map(|w| w.split_once('=')).collect();
        for name in expand_range(pattern) {
          out.add_group(&name, &section.0);
          for (k, v) in &vars {
            out.set_var(&name, k, v.trim_matches(['"', '\'']));
          }
        }
      }
    }
  }
  out.apply_children(&children);
  out
}

/// `web[01:03].example` → web01.example, web02.example, web03.example (Ansible's numeric and
/// letter ranges); anything else as is.
fn expand_range(pattern: &str) -> Vec<String> {
  let (Some(open), Some(close)) = (pattern.find('['), pattern.find(']')) else {
    return vec![pattern.to_string()];
  };
  let (head, inner, tail) = (
    &pattern[..open],
    &pattern[open + 1..close],
    &pattern[close + 1..],
  );
  let Some((from, to)) = inner.split_once(':') else {
    return vec![pattern.to_string()];
  };
  let mut out = Vec::new();
  if let (Ok(a), Ok(b)) = (from.parse::<u64>(), to.parse::<u64>()) {
    let width = from.len();
    for n in a..=b.min(a + 10_000) {
      out.extend(expand_range(&format!("{head}{n:0width$}{tail}")));
    }
  } else if let (Some(a), Some(b)) = (from.chars().next(), to.chars().next()) {
    for c in a..=b {
      out.extend(expand_range(&format!("{head}{c}{tail}")));
    }
  }
  out
}

/// An Ansible YAML inventory: `all:` (or any top-level group) with `hosts:`, `children:` and
/// `vars:` (not carried), nested.
pub(crate) fn ansible_yaml(text: &str) -> Result<Imported, String> {
  let root: serde_json::Value = serde_saphyr::from_str(text).map_err(|e| {
    format!(
      "not a YAML inventory: {}",
      e.to_string().lines().next().unwrap_or("")
    )
  })?;
  let mut out = Imported::default();
  let mut children: BTreeMap<String, Vec<String>> = BTreeMap::new();
  let serde_json::Value::Object(groups) = root else {
    return Err("a YAML inventory is a mapping of groups (`all:`)".into());
  };
  for (name, group) in &groups {
    walk_group(name, group, &mut out, &mut children);
  }
  out.apply_children(&children);
  Ok(out)
}

fn walk_group(
  name: &str,
  group: &serde_json::Value,
  out: &mut Imported,
  children: &mut BTreeMap<String, Vec<String>>,
) {
  if let Some(hosts) = group.get("hosts").and_then(|h| h.as_object()) {
    for (pattern, vars) in hosts {
      for host in expand_range(pattern) {
        out.add_group(&host, name);
        if let Some(vars) = vars.as_object() {
          for (k, v) in vars {
            let value = match v {
              serde_json::Value::String(s) => s.clone(),
              other => other.to_string(),
            };
            out.set_var(&host, k, &value);
          }
        }
      }
    }
  }
  if group.get("vars").is_some() {
    out
      .dropped
      .push(format!("{name}: group variables are not carried over"));
  }
  if let Some(kids) = group.get("children").and_then(|c| c.as_object()) {
    for (kid, body) in kids {
      children
        .entry(name.to_string())
        .or_default()
        .push(kid.clone());
      walk_group(kid, body, out, children);
    }
  }
}

/// The `Host` entries of an ssh_config: each plain name (patterns and negations are not hosts).
/// Their settings stay in the ssh_config, where megacity's ssh reads them.
pub(crate) fn ssh_config(text: &str) -> Imported {
  let mut out = Imported::default();
  for line in text.lines() {
    let line = line.trim();
    let mut words = line.split_whitespace();
    let Some(key) = words.next() else { continue };
    if !key.eq_ignore_ascii_case("host") {
      if key.eq_ignore_ascii_case("include") {
        out.dropped.push(format!(
          "`{line}`: included files are not read; import them one by one"
        ));
      }
      continue;
    }
    for name in words {
      if name.contains(['*', '?', '!']) {
        out
          .dropped
          .push(format!("`Host {name}`: a pattern, not a host"));
        continue;
      }
      out.host(name);
    }
  }
  out
}

impl Imported {
  /// The inventory as YAML, in megacity's format.
  pub(crate) fn inventory(&self, source: &str) -> String {
    let mut text = format!(
      "# Imported by `megacity hosts import` from {source}.\n# Names only: the operator's ssh_config says how to reach each host.\nhosts:\n"
    );
    for h in &self.hosts {
      text.push_str(&format!("  - name: {}\n", h.name));
      if !h.groups.is_empty() {
        text.push_str(&format!("    groups: [{}]\n", h.groups.join(", ")));
      }
      if let Some(user) = &h.user {
        text.push_str(&format!("    user: {user}\n"));
      }
    }
    text
  }

  /// An ssh_config snippet for the hosts Ansible said how to reach; empty when none did.
  pub(crate) fn ssh_snippet(&self) -> String {
    let mut text = String::new();
    for h in self
      .hosts
      .iter()
      .filter(|h| h.address.is_some() || h.port.is_some())
    {
      text.push_str(&format!("Host {}\n", h.name));
      if let Some(address) = &h.address {
        text.push_str(&format!("  HostName {address}\n"));
      }
      if let Some(port) = &h.port {
        text.push_str(&format!("  Port {port}\n"));
      }
    }
    text
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  const INI: &str = "\
# production
bastion.example.org ansible_user=ops

[redis]
redis-master-01 ansible_host=127.0.0.10 ansible_port=2222
redis-replica-01 ansible_host=127.0.0.11 some_var=1
127.0.0.99

[web]
web[01:02].example.org

[datastores:children]
redis

[datastores:vars]
ansible_become=true
";

  #[test]
  fn an_ini_inventory_keeps_names_groups_children_and_how_to_reach_them() {
    let got = ansible_ini(INI);
    let names: Vec<(&str, Vec<&str>)> = got
      .hosts
      .iter()
      .map(|h| {
        (
          h.name.as_str(),
          h.groups.iter().map(String::as_str).collect(),
        )
      })
      .collect();
    assert_eq!(
      names,
      [
        ("bastion.example.org", vec![]),
        ("redis-master-01", vec!["redis", "datastores"]),
        ("redis-replica-01", vec!["redis", "datastores"]),
        ("web01.example.org", vec!["web"]),
        ("web02.example.org", vec!["web"]),
      ]
    );
    assert_eq!(got.hosts[0].user.as_deref(), Some("ops"));
    assert!(
      got
        .dropped
        .iter()
        .any(|d| d.starts_with("127.0.0.99: an address"))
    );
    assert!(got.dropped.iter().any(|d| d.contains("`some_var`")));
    assert!(got.dropped.iter().any(|d| d.contains("[datastores:vars]")));
    assert_eq!(
      got.ssh_snippet(),
      "Host redis-master-01\n  HostName 127.0.0.10\n  Port 2222\nHost redis-replica-01\n  HostName 127.0.0.11\n"
    );
    let inventory = got.inventory("hosts.ini");
    assert!(inventory.contains("  - name: redis-master-01\n    groups: [redis, datastores]\n"));
    assert!(
      !inventory.contains("127.0.0"),
      "no address in the inventory: {inventory}"
    );
  }

  #[test]
  fn a_yaml_inventory_is_read_the_same_way() {
    let yaml = "\
all:
  hosts:
    bastion: {ansible_user: ops}
  children:
    redis:
      hosts:
        redis-master-01: {ansible_host: 127.0.0.10}
        redis-replica-01:
      vars: {x: 1}
    datastores:
      children:
        redis:
";
    assert_eq!(kind(yaml), Kind::AnsibleYaml);
    let got = ansible_yaml(yaml).unwrap();
    let master = got
      .hosts
      .iter()
      .find(|h| h.name == "redis-master-01")
      .unwrap();
    assert_eq!(master.groups, ["redis", "datastores"]);
    assert_eq!(master.address.as_deref(), Some("127.0.0.10"));
    assert_eq!(
      got
        .hosts
        .iter()
        .find(|h| h.name == "bastion")
        .unwrap()
        .user
        .as_deref(),
      Some("ops")
    );
    assert!(
      got
        .dropped
        .iter()
        .any(|d| d.contains("redis: group variables"))
    );
  }

  #[test]
  fn an_ssh_config_gives_its_plain_host_names() {
    let config = "Host *\n  ServerAliveInterval 10\nHost db-primary-01 db-replica-01\n  User postgres\nHost !bad web-?\nInclude conf.d/*\n";
    assert_eq!(kind(config), Kind::SshConfig);
    let got = ssh_config(config);
    let names: Vec<&str> = got.hosts.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(names, ["db-primary-01", "db-replica-01"]);
    assert_eq!(got.dropped.len(), 4, "{:?}", got.dropped);
    assert_eq!(kind(INI), Kind::AnsibleIni);
  }
}
