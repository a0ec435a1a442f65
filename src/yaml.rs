//! The one place YAML is parsed. serde-saphyr gives us positions for every node and a parser
//! budget; we deserialize into a small spanned tree so that the schema readers can report every
//! problem in a file at once instead of stopping at serde's first error.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

/// Files larger than this are refused before parsing: a runbook is a page, not a data set.
pub(crate) const MAX_FILE_BYTES: usize = 256 * 1024;

/// 1-based position in a source file; 0 means unknown.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Pos {
  pub(crate) line: u32,
  pub(crate) column: u32,
}

#[derive(Clone, Debug)]
pub(crate) enum Value {
  Null,
  Bool(bool),
  Int(i64),
  Float(f64),
  Str(String),
  Seq(Vec<Node>),
  Map(Vec<(Node, Node)>),
}

#[derive(Clone, Debug)]
pub(crate) struct Node {
  pub(crate) pos: Pos,
  pub(crate) value: Value,
}

impl Node {
  pub(crate) fn kind(&self) -> &'static str {
    match self.value {
      Value::Null => "null",
      Value::Bool(_) => "a boolean",
      Value::Int(_) | Value::Float(_) => "a number",
      Value::Str(_) => "a string",
      Value::Seq(_) => "a list",
      Value::Map(_) => "a mapping",
    }
  }

  /// The scalar as text, for places where a number is as good as a string (defaults, choices).
  pub(crate) fn scalar_text(&self) -> Option<String> {
    match &self.value {
      Value::Str(s) => Some(s.clone()),
      Value::Int(i) => Some(i.to_string()),
      Value::Float(f) => Some(f.to_string()),
      Value::Bool(b) => Some(b.to_string()),
      _ => None,
    }
  }
}

/// Why a document could not be turned into a tree at all.
#[derive(Debug)]
pub(crate) struct SyntaxError {
  pub(crate) pos: Pos,
  pub(crate) message: String,
}

pub(crate) fn parse(text: &str) -> Result<Node, SyntaxError> {
  if text.len() > MAX_FILE_BYTES {
    return Err(SyntaxError {
      pos: Pos::default(),
      message: format!(
        "file is {} bytes; runbooks and inventories are limited to {} bytes",
        text.len(),
        MAX_FILE_BYTES
      ),
    });
  }
  if text.trim().is_empty() {
    return Err(SyntaxError {
      pos: Pos { line: 1, column: 1 },
      message: "file is empty".into(),
    });
  }
  let options = serde_saphyr::options! {
    budget: serde_saphyr::budget! {
      max_events: 200_000,
      max_aliases: 1_000,
      max_anchors: 1_000,
      max_depth: 32,
      max_recorded_anchor_events: 100_000,
      max_recorded_anchor_bytes: 4 * 1024 * 1024,
    },
    strict_booleans: true,
  };
  serde_saphyr::from_str_with_options::<Spanned<Tree>>(text, options)
    .map(to_node)
    .map_err(|error| syntax_error(&error))
}

fn syntax_error(error: &serde_saphyr::Error) -> SyntaxError {
  let pos = error
    .location()
    .map(|l| Pos {
      line: l.line() as u32,
      column: l.column() as u32,
    })
    .unwrap_or_default();
  // The crate's Display includes a rendered snippet; we render our own, so keep the first line.
  let text = error.to_string();
  let message = text
    .lines()
    .next()
    .unwrap_or("invalid YAML")
    .trim()
    .to_string();
  SyntaxError {
    pos,
    message: plain(&message),
  }
}

/// The parser's words for an operator: no library jargon, no position said twice.
fn plain(message: &str) -> String {
  // "error: line 2 column 1: duplicate mapping key: a, set DuplicateKeyPolicy in Options …"
  let mut text = message.trim();
  text = text.strip_prefix("error:").unwrap_or(text).trim();
  if let Some(rest) = text.strip_prefix("line ")
    && let Some((_, after)) = rest.split_once(": ")
  {
    text = after.trim();
  }
  if let Some(key) = text.strip_prefix("duplicate mapping key: ") {
    let key = key.split(", set DuplicateKeyPolicy").next().unwrap_or(key);
    return format!("the key `{key}` appears twice in this mapping; a runbook names each key once");
  }
  // serde-saphyr: "recursive references require weak recursion types".
  if text.contains("recursive reference") {
    return "an alias refers to a node that contains it (a recursive YAML reference); a runbook \
            cannot loop back on itself"
      .into();
  }
  if let Some(budget) = text.strip_prefix("budget breached: ") {
    let what = budget.split_whitespace().next().unwrap_or("");
    return match what {
      "Depth" => "nested deeper than the 32 levels a runbook may have".into(),
      "Aliases" | "Anchors" => "too many YAML anchors or aliases (at most 1,000)".into(),
      "Events" => "the document is too large to be a runbook".into(),
      _ => format!("the document exceeds a parser limit ({budget})"),
    };
  }
  text.to_string()
}

/// Deserialization target mirroring `Value` but with serde-saphyr spans on every child.
enum Tree {
  Null,
  Bool(bool),
  Int(i64),
  Float(f64),
  Str(String),
  Seq(Vec<Spanned<Tree>>),
  Map(Vec<(Spanned<Tree>, Spanned<Tree>)>),
}

fn to_node(spanned: Spanned<Tree>) -> Node {
  let pos = Pos {
    line: spanned.referenced.line() as u32,
    column: spanned.referenced.column() as u32,
  };
  let value = match spanned.value {
    Tree::Null => Value::Null,
    Tree::Bool(b) => Value::Bool(b),
    Tree::Int(i) => Value::Int(i),
    Tree::Float(f) => Value::Float(f),
    Tree::Str(s) => Value::Str(s),
    Tree::Seq(items) => Value::Seq(items.into_iter().map(to_node).collect()),
    Tree::Map(entries) => Value::Map(
      entries
        .into_iter()
        .map(|(k, v)| (to_node(k), to_node(v)))
        .collect(),
    ),
  };
  Node { pos, value }
}

impl<'de> Deserialize<'de> for Tree {
  fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
    deserializer.deserialize_any(TreeVisitor)
  }
}

struct TreeVisitor;

impl<'de> Visitor<'de> for TreeVisitor {
  type Value = Tree;

  fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
    f.write_str("any YAML value")
  }
  fn visit_unit<E>(self) -> Result<Tree, E> {
    Ok(Tree::Null)
  }
  fn visit_none<E>(self) -> Result<Tree, E> {
    Ok(Tree::Null)
  }
  fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Tree, D::Error> {
    Tree::deserialize(d)
  }
  fn visit_bool<E>(self, v: bool) -> Result<Tree, E> {
    Ok(Tree::Bool(v))
  }
  fn visit_i64<E>(self, v: i64) -> Result<Tree, E> {
    Ok(Tree::Int(v))
  }
  fn visit_u64<E: de::Error>(self, v: u64) -> Result<Tree, E> {
    i64::try_from(v)
      .map(Tree::Int)
      .or(Ok(Tree::Float(v as f64)))
  }
  fn visit_f64<E>(self, v: f64) -> Result<Tree, E> {
    Ok(Tree::Float(v))
  }
  fn visit_str<E>(self, v: &str) -> Result<Tree, E> {
    Ok(Tree::Str(v.to_string()))
  }
  fn visit_string<E>(self, v: String) -> Result<Tree, E> {
    Ok(Tree::Str(v))
  }
  fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Tree, A::Error> {
    let mut items = Vec::new();
    while let Some(item) = seq.next_element::<Spanned<Tree>>()? {
      items.push(item);
    }
    Ok(Tree::Seq(items))
  }
  fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Tree, A::Error> {
    let mut entries = Vec::new();
    while let Some(key) = map.next_key::<Spanned<Tree>>()? {
      let value = map.next_value::<Spanned<Tree>>()?;
      entries.push((key, value));
    }
    Ok(Tree::Map(entries))
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn positions_of_keys_and_values() {
    let node = parse("a: 1\nb:\n  - x\n  - {c: d}\n").unwrap();
    let Value::Map(entries) = &node.value else {
      panic!("not a map")
    };
    assert_eq!(entries[1].0.pos, Pos { line: 2, column: 1 });
    let Value::Seq(items) = &entries[1].1.value else {
      panic!("not a seq")
    };
    assert_eq!(items[0].pos, Pos { line: 3, column: 5 });
    let Value::Map(inner) = &items[1].value else {
      panic!("not a map")
    };
    assert_eq!(inner[0].1.pos, Pos { line: 4, column: 9 });
  }

  #[test]
  fn syntax_error_has_position() {
    let err = parse("a: [1, 2\nb: 3\n").unwrap_err();
    assert!(err.pos.line >= 1, "{err:?}");
  }

  #[test]
  fn alias_bomb_is_refused() {
    let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..12 {
      let p = i - 1;
      text.push_str(&format!(
        "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
      ));
    }
    let err = parse(&text).unwrap_err();
    assert!(!err.message.is_empty());
  }

  #[test]
  fn a_recursive_alias_is_said_in_plain_words() {
    let err = parse("a: &x [1, *x]\n").unwrap_err();
    assert!(
      err.message.contains("recursive YAML reference"),
      "{}",
      err.message
    );
    assert!(!err.message.contains("weak"), "{}", err.message);
  }

  #[test]
  fn oversized_file_is_refused() {
    let text = "a: b\n".repeat(MAX_FILE_BYTES);
    let err = parse(&text).unwrap_err();
    assert!(err.message.contains("limited to"), "{}", err.message);
  }
}
