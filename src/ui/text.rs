//! Text helpers: terminal-safe text and simple aligned tables.

use console::measure_text_width;

/// Replaces control characters (escape sequences from a file or a remote host could rewrite
/// the operator's screen) with visible escapes. Newlines and tabs are kept.
pub fn sanitize(s: &str) -> std::borrow::Cow<'_, str> {
  if !s.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
    return s.into();
  }
  s.chars()
    .map(|c| {
      if c.is_control() && c != '\n' && c != '\t' {
        c.escape_default().to_string()
      } else {
        c.to_string()
      }
    })
    .collect::<String>()
    .into()
}

/// Left-aligned columns separated by two spaces; the last column is not padded.
/// Cells may hold styled text: widths are measured without escape codes.
pub fn table(rows: &[Vec<String>]) -> String {
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
  fn table_aligns_columns() {
    let rows = vec![
      vec!["a".into(), "bb".into(), "c".into()],
      vec!["aaa".into(), "b".into(), "c".into()],
    ];
    assert_eq!(table(&rows), "a    bb  c\naaa  b   c\n");
  }
}
