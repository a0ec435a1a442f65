//! Problems found in a runbook or inventory file, each tied to a position in its source.

use serde::Serialize;

use crate::yaml::Pos;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Level {
  Error,
  Warning,
}

#[derive(Clone, Debug, Serialize)]
pub(crate) struct Diagnostic {
  pub(crate) level: Level,
  pub(crate) file: String,
  pub(crate) line: u32,
  pub(crate) column: u32,
  pub(crate) message: String,
  #[serde(skip_serializing_if = "Option::is_none")]
  pub(crate) hint: Option<String>,
  /// The offending source line, for the renderer.
  #[serde(skip)]
  pub(crate) source_line: Option<String>,
}

/// Collects diagnostics for one file, attaching the source line to each.
pub(crate) struct Collector<'a> {
  file: &'a str,
  text: &'a str,
  pub(crate) items: Vec<Diagnostic>,
}

impl<'a> Collector<'a> {
  pub(crate) fn new(file: &'a str, text: &'a str) -> Self {
    Collector {
      file,
      text,
      items: Vec::new(),
    }
  }

  pub(crate) fn error(&mut self, pos: Pos, message: impl Into<String>, hint: Option<String>) {
    self.push(Level::Error, pos, message.into(), hint);
  }

  pub(crate) fn warning(&mut self, pos: Pos, message: impl Into<String>, hint: Option<String>) {
    self.push(Level::Warning, pos, message.into(), hint);
  }

  fn push(&mut self, level: Level, pos: Pos, message: String, hint: Option<String>) {
    let source_line = (pos.line > 0)
      .then(|| {
        self
          .text
          .lines()
          .nth(pos.line as usize - 1)
          .map(str::to_string)
      })
      .flatten();
    self.items.push(Diagnostic {
      level,
      file: self.file.to_string(),
      line: pos.line,
      column: pos.column,
      message,
      hint,
      source_line,
    });
  }

  /// Where `needle` first appears in the source at or after `from`: a value's position points
  /// at its start, but a problem inside it (a placeholder, a `tail -f`) deserves its own column.
  pub(crate) fn locate(&self, from: Pos, needle: &str) -> Pos {
    if from.line == 0 || needle.is_empty() {
      return from;
    }
    for (i, line) in self.text.lines().enumerate().skip(from.line as usize - 1) {
      let start = if i + 1 == from.line as usize {
        from.column.saturating_sub(1) as usize
      } else {
        0
      };
      // Columns count characters, not bytes.
      let Some((byte_start, _)) = line.char_indices().nth(start).or(Some((line.len(), ' '))) else {
        continue;
      };
      if let Some(found) = line[byte_start..].find(needle) {
        let column = line[..byte_start + found].chars().count() as u32 + 1;
        return Pos {
          line: i as u32 + 1,
          column,
        };
      }
    }
    from
  }

  pub(crate) fn has_errors(&self) -> bool {
    self.items.iter().any(|d| d.level == Level::Error)
  }
}

/// "did you mean `x`?" for the closest candidate, when one is close enough to be a typo.
pub(crate) fn did_you_mean<'c>(
  wrong: &str,
  candidates: impl IntoIterator<Item = &'c str>,
) -> Option<String> {
  suggest(wrong, candidates).map(|s| format!("did you mean `{s}`?"))
}

pub(crate) fn suggest<'c>(
  wrong: &str,
  candidates: impl IntoIterator<Item = &'c str>,
) -> Option<&'c str> {
  candidates
    .into_iter()
    .map(|c| (strsim::jaro_winkler(wrong, c), c))
    .filter(|(score, _)| *score > 0.8)
    .max_by(|a, b| a.0.total_cmp(&b.0))
    .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn suggests_close_names_only() {
    assert_eq!(suggest("comand", ["command", "confirm"]), Some("command"));
    assert_eq!(
      suggest("redis-mster-01", ["redis-master-01", "db-primary-01"]),
      Some("redis-master-01")
    );
    assert_eq!(suggest("zzz", ["command", "confirm"]), None);
  }

  #[test]
  fn locates_text_inside_a_value() {
    let c = Collector::new("f.yaml", "a: x {{p}}\nb: |\n  tail -f log\n");
    assert_eq!(
      c.locate(Pos { line: 1, column: 4 }, "{{p}}"),
      Pos { line: 1, column: 6 }
    );
    assert_eq!(
      c.locate(Pos { line: 2, column: 4 }, "tail -f"),
      Pos { line: 3, column: 3 }
    );
    assert_eq!(
      c.locate(Pos { line: 2, column: 4 }, "nowhere"),
      Pos { line: 2, column: 4 }
    );
  }

  #[test]
  fn attaches_source_line() {
    let mut c = Collector::new("f.yaml", "a: 1\nb: 2\n");
    c.error(Pos { line: 2, column: 4 }, "bad", None);
    assert_eq!(c.items[0].source_line.as_deref(), Some("b: 2"));
    assert!(c.has_errors());
  }
}
