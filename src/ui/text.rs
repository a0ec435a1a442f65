//! Text helpers: terminal-safe text and simple aligned tables.

use console::measure_text_width;

/// Replaces characters that could mislead the operator with visible escapes: control
/// characters (escape sequences from a file or a remote host could rewrite the screen), and
/// bidi controls and invisible characters (they can make a command read differently from what
/// runs — "Trojan Source"). Newlines and tabs are kept.
pub(crate) fn sanitize(s: &str) -> std::borrow::Cow<'_, str> {
  if !s.chars().any(hidden) {
    return s.into();
  }
  s.chars()
    .map(|c| {
      if hidden(c) {
        c.escape_default().to_string()
      } else {
        c.to_string()
      }
    })
    .collect::<String>()
    .into()
}

/// Whether `c` must not reach the terminal as itself.
fn hidden(c: char) -> bool {
  (c.is_control() && c != '\n' && c != '\t')
    || matches!(c,
      '\u{202A}'..='\u{202E}' // bidi embeddings and overrides
      | '\u{2066}'..='\u{2069}' // bidi isolates
      | '\u{200B}'..='\u{200F}' // zero-width space, joiners, LRM, RLM
      | '\u{061C}' // Arabic letter mark
      | '\u{FEFF}' // zero-width no-break space (BOM)
      | '\u{E0000}'..='\u{E007F}' // tag characters
    )
}

/// Left-aligned columns separated by two spaces; the last column is not padded.
/// Cells may hold styled text: widths are measured without escape codes.
/// The width of the terminal stdout is, if it is one.
pub(crate) fn terminal_width() -> Option<usize> {
  let term = console::Term::stdout();
  term
    .is_term()
    .then(|| term.size_checked())
    .flatten()
    .map(|(_, w)| w as usize)
    .filter(|w| *w > 20)
}

/// `text` with its paragraphs (lines joined up to a blank line, a list item or an indented
/// line) wrapped again to `width`.
pub(crate) fn reflow(text: &str, width: usize) -> String {
  let mut out: Vec<String> = Vec::new();
  let mut paragraph = String::new();
  let flush = |paragraph: &mut String, out: &mut Vec<String>| {
    if !paragraph.is_empty() {
      out.extend(wrap(paragraph, width, usize::MAX));
      paragraph.clear();
    }
  };
  for line in text.lines() {
    let starts_item = line.starts_with(['-', '*', ' ']) || line.trim().is_empty();
    if starts_item {
      flush(&mut paragraph, &mut out);
      if line.trim().is_empty() {
        out.push(String::new());
        continue;
      }
      // A list item keeps its marker and indents what wraps.
      let indent = line.len() - line.trim_start_matches([' ', '-', '*']).len();
      let (marker, body) = line.split_at(indent);
      for (i, l) in wrap(body, width.saturating_sub(indent).max(10), usize::MAX)
        .iter()
        .enumerate()
      {
        let pad = if i == 0 {
          marker.to_string()
        } else {
          " ".repeat(indent)
        };
        out.push(format!("{pad}{l}"));
      }
      continue;
    }
    if !paragraph.is_empty() {
      paragraph.push(' ');
    }
    paragraph.push_str(line.trim());
  }
  flush(&mut paragraph, &mut out);
  out.join("\n")
}

/// `table`, each line cut to the terminal's width (with `…`) when stdout is a terminal; whole
/// when it is not (a pipe, a file: nothing is lost).
pub(crate) fn screen_table(rows: &[Vec<String>]) -> String {
  let text = table(rows);
  let term = console::Term::stdout();
  match term.is_term().then(|| term.size_checked()).flatten() {
    Some((_, width)) if width > 20 => fit(&text, width as usize),
    _ => text,
  }
}

/// Every line of `text` at most `width` columns wide (colours kept), cut with `…`.
pub(crate) fn fit(text: &str, width: usize) -> String {
  let mut out = String::with_capacity(text.len());
  for line in text.lines() {
    out.push_str(&console::truncate_str(line, width, "…"));
    out.push('\n');
  }
  out
}

pub(crate) fn table(rows: &[Vec<String>]) -> String {
  let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
  let widths: Vec<usize> = (0..columns)
    .map(|i| {
      rows
        .iter()
        .filter_map(|r| r.get(i))
        .map(|c| measure_text_width(c))
        .max()
        .unwrap_or(0)
    })
    .collect();
  let mut out = String::new();
  for row in rows {
    let mut line = String::new();
    for (i, cell) in row.iter().enumerate() {
      line.push_str(cell);
      if i + 1 < row.len() {
        line.push_str(&" ".repeat(widths[i] - measure_text_width(cell) + 2));
      }
    }
    out.push_str(line.trim_end());
    out.push('\n');
  }
  out
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn sanitize_escapes_control_characters() {
    assert_eq!(sanitize("ok\x1b[2Jgone\r"), "ok\\u{1b}[2Jgone\\r");
    assert_eq!(sanitize("a\tb\nc"), "a\tb\nc");
  }

  #[test]
  fn sanitize_escapes_bidi_and_invisible_characters() {
    // "Trojan Source": an override makes the text read backwards from what it is.
    assert_eq!(sanitize("rm \u{202E}fdsa"), "rm \\u{202e}fdsa");
    let escaped = [
      ('\u{202A}', "\\u{202a}"),
      ('\u{2066}', "\\u{2066}"),
      ('\u{2069}', "\\u{2069}"),
      ('\u{200B}', "\\u{200b}"),
      ('\u{200F}', "\\u{200f}"),
      ('\u{061C}', "\\u{61c}"),
      ('\u{FEFF}', "\\u{feff}"),
      ('\u{E0001}', "\\u{e0001}"),
      ('\u{E007F}', "\\u{e007f}"),
    ];
    for (c, want) in escaped {
      assert_eq!(sanitize(&format!("a{c}b")), format!("a{want}b"), "{c:?}");
    }
  }

  #[test]
  fn sanitize_keeps_ordinary_unicode() {
    for s in ["café ≤ 90%", "85°C", "→ ✔", "日本語", "👩\u{1F4BB}"] {
      assert!(
        matches!(sanitize(s), std::borrow::Cow::Borrowed(_)),
        "{s:?}"
      );
    }
  }

  #[test]
  fn table_aligns_columns() {
    let rows = vec![
      vec!["a".into(), "bb".into(), "c".into()],
      vec!["aaa".into(), "b".into(), "c".into()],
    ];
    assert_eq!(table(&rows), "a    bb  c\naaa  b   c\n");
  }
}

/// `text` in lines of at most `width` characters, broken at spaces, and at most `max` lines:
/// what does not fit ends the last line with `…`.
pub(crate) fn wrap(text: &str, width: usize, max: usize) -> Vec<String> {
  let mut lines: Vec<String> = Vec::new();
  let mut current = String::new();
  for word in text.split_whitespace() {
    let len = current.chars().count();
    if len > 0 && len + 1 + word.chars().count() > width {
      lines.push(std::mem::take(&mut current));
    }
    if !current.is_empty() {
      current.push(' ');
    }
    current.push_str(word);
  }
  if !current.is_empty() {
    lines.push(current);
  }
  let cut = lines.len() > max;
  lines.truncate(max);
  for line in &mut lines {
    // A single word longer than the width.
    if line.chars().count() > width {
      *line = line.chars().take(width - 1).collect::<String>() + "…";
    }
  }
  if cut && let Some(last) = lines.last_mut() {
    let keep: String = last.chars().take(width.saturating_sub(1)).collect();
    *last = keep + "…";
  }
  lines
}

#[cfg(test)]
mod wrap_tests {
  use super::{fit, wrap};

  #[test]
  fn reflow_joins_paragraphs_and_keeps_list_items() {
    let text = "one two\nthree four five\n\n- an item that is long\n- short";
    assert_eq!(
      super::reflow(text, 12),
      "one two\nthree four\nfive\n\n- an item\n  that is\n  long\n- short"
    );
  }

  #[test]
  fn fit_cuts_long_lines_only() {
    assert_eq!(
      fit("short\na much longer line\n", 10),
      "short\na much lo…\n"
    );
  }

  #[test]
  fn wraps_at_spaces_and_cuts_with_an_ellipsis() {
    assert_eq!(wrap("a bb ccc", 4, 3), ["a bb", "ccc"]);
    let long = "because redis-ping failed on redis-master-01: exit code 1, expected 0; redis-memory could not tell on redis-master-01: no number found";
    let two = wrap(long, 40, 2);
    assert_eq!(two.len(), 2);
    assert!(two.iter().all(|l| l.chars().count() <= 40), "{two:?}");
    assert!(two[1].ends_with('…'), "{two:?}");
  }
}
