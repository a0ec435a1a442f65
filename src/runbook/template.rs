//! `{{name}}` placeholders in commands and texts. Values go into commands shell-quoted, so a
//! parameter value is always one inert shell word, whatever characters it holds.

use std::borrow::Cow;

use crate::shell::quote;

/// One piece of a template: literal text or a placeholder with its byte offset in the source.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Piece<'t> {
  Text(&'t str),
  Placeholder { name: &'t str, offset: usize },
}

/// Splits a template into pieces. An unterminated `{{` is kept as text.
pub(crate) fn pieces(template: &str) -> Vec<Piece<'_>> {
  let mut out = Vec::new();
  let mut rest = template;
  let mut base = 0;
  while let Some(start) = rest.find("{{") {
    let Some(len) = rest[start + 2..].find("}}") else {
      break;
    };
    if start > 0 {
      out.push(Piece::Text(&rest[..start]));
    }
    let inner = &rest[start + 2..start + 2 + len];
    out.push(Piece::Placeholder {
      name: inner.trim(),
      offset: base + start,
    });
    let consumed = start + 2 + len + 2;
    base += consumed;
    rest = &rest[consumed..];
  }
  if !rest.is_empty() {
    out.push(Piece::Text(rest));
  }
  out
}

/// Placeholder names used in a template, with their byte offsets.
pub(crate) fn placeholders(template: &str) -> impl Iterator<Item = (&str, usize)> {
  pieces(template).into_iter().filter_map(|p| match p {
    Piece::Placeholder { name, offset } => Some((name, offset)),
    Piece::Text(_) => None,
  })
}

/// How a value is inserted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Quoting {
  /// Into a shell command: every value becomes exactly one quoted word.
  Shell,
  /// Into text meant for a human (confirmations, instructions): as is.
  Text,
  /// Into a regex (an expectation): matched literally.
  Regex,
}

/// The template with every placeholder replaced by a plain word: what validation compiles a
/// regex from when its values are only known at run time.
pub(crate) fn stand_in(template: &str) -> String {
  pieces(template)
    .into_iter()
    .map(|p| match p {
      Piece::Text(t) => t,
      Piece::Placeholder { .. } => "x",
    })
    .collect()
}

/// The template with every placeholder's name replaced by `rename(name)`.
pub(crate) fn rename(template: &str, rename: impl Fn(&str) -> String) -> String {
  pieces(template)
    .into_iter()
    .map(|p| match p {
      Piece::Text(t) => t.to_string(),
      Piece::Placeholder { name, .. } => format!("{{{{{}}}}}", rename(name)),
    })
    .collect()
}

/// Inserts one value as `mode` wants it.
pub(crate) fn insert(out: &mut String, value: &str, mode: Quoting) -> Result<(), String> {
  match mode {
    Quoting::Shell => out.push_str(&quote(value)?),
    Quoting::Text => out.push_str(value),
    Quoting::Regex => out.push_str(&regex::escape(value)),
  }
  Ok(())
}

/// Renders a template for execution. `lookup` returns the value for a name; unknown names are an error
/// (validation has already reported them, so this only guards against misuse).
pub(crate) fn render<'v>(
  template: &str,
  mode: Quoting,
  lookup: impl Fn(&str) -> Option<Cow<'v, str>>,
) -> Result<String, String> {
  let mut out = String::with_capacity(template.len());
  for piece in pieces(template) {
    match piece {
      Piece::Text(text) => out.push_str(text),
      Piece::Placeholder { name, .. } => {
        let value = lookup(name).ok_or_else(|| format!("no value for `{{{{{name}}}}}`"))?;
        insert(&mut out, &value, mode)?;
      }
    }
  }
  Ok(out)
}

#[cfg(test)]
mod tests {
  use super::*;

  fn lookup(name: &str) -> Option<Cow<'static, str>> {
    match name {
      "port" => Some("6379".into()),
      "evil" => Some("$(touch x); `id` 'q' \"d\"\nrm -rf /".into()),
      _ => None,
    }
  }

  #[test]
  fn finds_placeholders_with_spaces_and_offsets() {
    let names: Vec<_> = placeholders("a {{port}} b {{ evil }} {{unterminated").collect();
    assert_eq!(names, vec![("port", 2), ("evil", 13)]);
  }

  #[test]
  fn shell_mode_quotes_every_value() {
    let cmd = render("redis-cli -p {{port}} get {{evil}}", Quoting::Shell, lookup).unwrap();
    let words = shlex::split(&cmd).unwrap();
    let evil = lookup("evil").unwrap().into_owned();
    assert_eq!(words, ["redis-cli", "-p", "6379", "get", evil.as_str()]);
  }

  #[test]
  fn hostile_value_stays_one_word_in_a_real_shell() {
    let cmd = render("printf '%s|' {{evil}}", Quoting::Shell, lookup).unwrap();
    let out = std::process::Command::new("sh")
      .arg("-c")
      .arg(&cmd)
      .output()
      .unwrap();
    assert_eq!(
      String::from_utf8_lossy(&out.stdout),
      "$(touch x); `id` 'q' \"d\"\nrm -rf /|"
    );
  }

  #[test]
  fn unknown_name_is_an_error() {
    assert!(render("{{nope}}", Quoting::Text, lookup).is_err());
  }
}
