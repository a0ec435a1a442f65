//! Typed reading of a spanned YAML tree. Every reader reports into a `Collector` and carries on,
//! so one pass finds every structural problem in a file (serde stops at the first).

use std::time::Duration;

use crate::diagnostic::{Collector, did_you_mean};
use crate::yaml::{Node, Pos, Value};

/// A value with the position it came from.
#[derive(Clone, Debug)]
pub(crate) struct Loc<T> {
  pub(crate) value: T,
  pub(crate) pos: Pos,
}

impl<T: serde::Serialize> serde::Serialize for Loc<T> {
  fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
    self.value.serialize(s)
  }
}

impl<T> std::ops::Deref for Loc<T> {
  type Target = T;
  fn deref(&self) -> &T {
    &self.value
  }
}

/// The entries of one mapping, checked against the keys its reader knows.
pub(crate) struct Fields<'n> {
  pub(crate) pos: Pos,
  what: &'static str,
  entries: Vec<(&'n str, &'n Node)>,
  /// Where each entry's key is written, in the order of `entries`.
  keys: Vec<Pos>,
}

impl<'n> Fields<'n> {
  /// Reads `node` as a mapping whose keys must be among `known`.
  pub(crate) fn new(
    c: &mut Collector,
    node: &'n Node,
    what: &'static str,
    known: &[&str],
  ) -> Option<Fields<'n>> {
    let Value::Map(map) = &node.value else {
      c.error(
        node.pos,
        format!("{what} must be a mapping, found {}", node.kind()),
        None,
      );
      return None;
    };
    let mut entries: Vec<(&str, &Node)> = Vec::with_capacity(map.len());
    let mut keys = Vec::with_capacity(map.len());
    for (key, value) in map {
      let Value::Str(name) = &key.value else {
        c.error(
          key.pos,
          format!("keys in {what} must be strings, found {}", key.kind()),
          None,
        );
        continue;
      };
      if !known.contains(&name.as_str()) {
        let hint = did_you_mean(name, known.iter().copied())
          .or_else(|| Some(format!("known keys: {}", known.join(", "))));
        c.error(key.pos, format!("unknown key `{name}` in {what}"), hint);
        continue;
      }
      if entries.iter().any(|(k, _)| *k == name.as_str()) {
        c.error(key.pos, format!("duplicate key `{name}` in {what}"), None);
        continue;
      }
      entries.push((name.as_str(), value));
      keys.push(key.pos);
    }
    Some(Fields {
      pos: node.pos,
      what,
      entries,
      keys,
    })
  }

  /// Where `key` is written, for problems with the key itself.
  pub(crate) fn key_pos(&self, key: &str) -> Option<Pos> {
    let at = self.entries.iter().position(|(k, _)| *k == key)?;
    Some(self.keys[at])
  }

  pub(crate) fn get(&self, key: &str) -> Option<&'n Node> {
    self
      .entries
      .iter()
      .find(|(k, _)| *k == key)
      .map(|(_, v)| *v)
  }

  pub(crate) fn has(&self, key: &str) -> bool {
    self.get(key).is_some()
  }

  pub(crate) fn required(&self, c: &mut Collector, key: &str) -> Option<&'n Node> {
    let node = self.get(key);
    if node.is_none() {
      c.error(
        self.pos,
        format!("missing required key `{key}` in {}", self.what),
        None,
      );
    }
    node
  }

  pub(crate) fn req_string(&self, c: &mut Collector, key: &str) -> Option<Loc<String>> {
    self.required(c, key).and_then(|n| string(c, n, key))
  }

  pub(crate) fn opt_string(&self, c: &mut Collector, key: &str) -> Option<Loc<String>> {
    self.get(key).and_then(|n| string(c, n, key))
  }

  pub(crate) fn opt_bool(&self, c: &mut Collector, key: &str) -> Option<bool> {
    let node = self.get(key)?;
    match node.value {
      Value::Bool(b) => Some(b),
      _ => {
        c.error(
          node.pos,
          format!("`{key}` must be true or false, found {}", node.kind()),
          None,
        );
        None
      }
    }
  }

  pub(crate) fn opt_duration(&self, c: &mut Collector, key: &str) -> Option<Loc<Duration>> {
    self.get(key).and_then(|n| duration(c, n, key))
  }

  pub(crate) fn string_list(&self, c: &mut Collector, key: &str) -> Vec<Loc<String>> {
    self
      .get(key)
      .map(|n| string_list(c, n, key))
      .unwrap_or_default()
  }
}

/// A string; numbers and booleans are accepted as their text (YAML users write `default: 6379`).
pub(crate) fn string(c: &mut Collector, node: &Node, key: &str) -> Option<Loc<String>> {
  match &node.value {
    Value::Str(_) | Value::Int(_) | Value::Float(_) | Value::Bool(_) => Some(Loc {
      value: node.scalar_text()?,
      pos: node.pos,
    }),
    _ => {
      c.error(
        node.pos,
        format!("`{key}` must be a string, found {}", node.kind()),
        None,
      );
      None
    }
  }
}

/// A list of strings; a single string is accepted as a list of one.
pub(crate) fn string_list(c: &mut Collector, node: &Node, key: &str) -> Vec<Loc<String>> {
  match &node.value {
    Value::Seq(items) => items
      .iter()
      .filter_map(|item| string(c, item, key))
      .collect(),
    Value::Str(_) => string(c, node, key).into_iter().collect(),
    _ => {
      c.error(
        node.pos,
        format!("`{key}` must be a list of strings, found {}", node.kind()),
        None,
      );
      Vec::new()
    }
  }
}

pub(crate) fn number(c: &mut Collector, node: &Node, key: &str) -> Option<f64> {
  match node.value {
    Value::Int(i) => Some(i as f64),
    Value::Float(f) => Some(f),
    _ => {
      c.error(
        node.pos,
        format!("`{key}` must be a number, found {}", node.kind()),
        None,
      );
      None
    }
  }
}

pub(crate) fn integer(c: &mut Collector, node: &Node, key: &str) -> Option<i64> {
  match node.value {
    Value::Int(i) => Some(i),
    _ => {
      c.error(
        node.pos,
        format!("`{key}` must be an integer, found {}", node.kind()),
        None,
      );
      None
    }
  }
}

pub(crate) fn duration(c: &mut Collector, node: &Node, key: &str) -> Option<Loc<Duration>> {
  let Value::Str(text) = &node.value else {
    c.error(
      node.pos,
      format!(
        "`{key}` must be a duration such as `30s` or `5m`, found {}",
        node.kind()
      ),
      Some("write the unit: `30s`, `5m`, `1h30m`".into()),
    );
    return None;
  };
  match humantime::parse_duration(text) {
    Ok(value) if !value.is_zero() => Some(Loc {
      value,
      pos: node.pos,
    }),
    Ok(_) => {
      c.error(node.pos, format!("`{key}` must be longer than zero"), None);
      None
    }
    Err(e) => {
      c.error(
        node.pos,
        format!("invalid duration `{text}` in `{key}`: {e}"),
        Some("durations look like `500ms`, `30s`, `5m`, `1h30m`".into()),
      );
      None
    }
  }
}

/// `[a-z0-9][a-z0-9-]*`: ids appear in file names, completions and journal records.
pub(crate) fn is_id(s: &str) -> bool {
  let mut chars = s.chars();
  matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit())
    && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

pub(crate) fn format_duration(d: Duration) -> String {
  humantime::format_duration(d).to_string()
}
