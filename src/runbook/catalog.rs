//! Which runbooks exist: the embedded set, overridden by id from the runbook directories.
//! A directory may hold other YAML (a compose file, CI config): only files that look like
//! runbooks are taken, and the catalog says which it skipped and why, for the command to show.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::diagnostic::suggest;
use crate::embedded;
use crate::error::Error;
use crate::source::{Origin, Source};

/// A runbook directory and how it was chosen; explicit ones must exist.
#[derive(Clone, Debug)]
pub(crate) struct RunbookDir {
  pub(crate) path: PathBuf,
  pub(crate) explicit: bool,
}

#[derive(Clone, Debug)]
pub(crate) struct Entry {
  pub(crate) id: String,
  pub(crate) origin: Origin,
  embedded: Option<&'static str>,
}

impl Entry {
  pub(crate) fn source(&self) -> Result<Source, Error> {
    match (&self.origin, self.embedded) {
      (Origin::File(path), _) => Source::read(path),
      (Origin::Embedded, Some(text)) => Ok(Source::embedded(
        format!("<embedded>/{}.yaml", self.id),
        text,
      )),
      (Origin::Embedded, None) => unreachable!("embedded entries carry their text"),
    }
  }
}

/// A file in a runbook directory that was not taken for a runbook.
#[derive(Clone, Debug)]
pub(crate) struct Skipped {
  pub(crate) path: PathBuf,
  pub(crate) reason: String,
}

impl fmt::Display for Skipped {
  fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    write!(f, "skipped {}: {}", self.path.display(), self.reason)
  }
}

#[derive(Debug, Default)]
pub(crate) struct Catalog {
  entries: BTreeMap<String, Entry>,
  skipped: Vec<Skipped>,
}

/// Why `path` is not a runbook, or `None` when it looks like one: a YAML mapping with a
/// top-level `id:` key. Whether it is a *valid* runbook is for validation to say.
fn not_a_runbook(path: &Path) -> Option<String> {
  let size = match std::fs::metadata(path) {
    Ok(meta) => meta.len(),
    Err(e) => return Some(format!("cannot be read ({e})")),
  };
  if size > crate::yaml::MAX_FILE_BYTES as u64 {
    return Some(format!(
      "{size} bytes, more than the {} a runbook may have",
      crate::yaml::MAX_FILE_BYTES
    ));
  }
  let bytes = match std::fs::read(path) {
    Ok(bytes) => bytes,
    Err(e) => return Some(format!("cannot be read ({e})")),
  };
  if has_top_level_id(&bytes) {
    return None;
  }
  // A flow mapping (a runbook written as JSON) has no `id:` at the start of a line: ask the
  // parser, which only files that failed the cheap look pay for.
  let parsed = std::str::from_utf8(&bytes)
    .ok()
    .and_then(|text| crate::yaml::parse(text).ok());
  if let Some(node) = parsed
    && let crate::yaml::Value::Map(pairs) = &node.value
    && pairs
      .iter()
      .any(|(k, _)| matches!(&k.value, crate::yaml::Value::Str(key) if key == "id"))
  {
    return None;
  }
  Some("no top-level `id:` key, so it is not a runbook".into())
}

/// A line that starts a top-level `id` key in block style (`id: x`, `"id": x`, `id :`). Keys
/// of nested mappings are indented, so they never start a line.
fn has_top_level_id(text: &[u8]) -> bool {
  text.split(|b| *b == b'\n').any(|line| {
    let key = [&b"id"[..], b"\"id\"", b"'id'"]
      .iter()
      .find_map(|k| line.strip_prefix(*k));
    key.is_some_and(|rest| {
      let rest = rest.trim_ascii_start();
      // `id:x` is one plain scalar in YAML, not a key.
      rest.first() == Some(&b':') && rest.get(1).is_none_or(|c| c.is_ascii_whitespace())
    })
  })
}

impl Catalog {
  /// Lists runbooks without parsing them: the file name is the id, so discovery is a directory
  /// listing and a look at each file for its `id:` line (fast enough for tab completion).
  pub(crate) fn discover(dirs: &[RunbookDir]) -> Result<Catalog, Error> {
    let mut skipped = Vec::new();
    let mut entries: BTreeMap<String, Entry> = embedded::RUNBOOKS
      .iter()
      .map(|(id, text)| {
        (
          id.to_string(),
          Entry {
            id: id.to_string(),
            origin: Origin::Embedded,
            embedded: Some(text),
          },
        )
      })
      .collect();
    for dir in dirs {
      let listing = match std::fs::read_dir(&dir.path) {
        Ok(listing) => listing,
        Err(e) if !dir.explicit && e.kind() == std::io::ErrorKind::NotFound => continue,
        Err(source) => {
          return Err(Error::Io {
            path: dir.path.clone(),
            source,
          });
        }
      };
      let mut files: Vec<PathBuf> = listing
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml") && p.is_file())
        .collect();
      files.sort();
      for path in files {
        let Some(id) = path
          .file_stem()
          .and_then(|s| s.to_str())
          .map(str::to_string)
        else {
          continue;
        };
        if let Some(reason) = not_a_runbook(&path) {
          skipped.push(Skipped { path, reason });
          continue;
        }
        entries.insert(
          id.clone(),
          Entry {
            id,
            origin: Origin::File(path),
            embedded: None,
          },
        );
      }
    }
    Ok(Catalog { entries, skipped })
  }

  pub(crate) fn entries(&self) -> impl Iterator<Item = &Entry> {
    self.entries.values()
  }

  /// Files in the runbook directories that were not taken for runbooks, in directory order.
  pub(crate) fn skipped(&self) -> &[Skipped] {
    &self.skipped
  }

  /// Every runbook that parses (not validated, not expanded): for matching alerts and for
  /// what runbooks need of hosts.
  pub(crate) fn parsed(&self) -> Vec<crate::runbook::Runbook> {
    self
      .entries()
      .filter_map(|e| {
        let source = e.source().ok()?;
        crate::runbook::load(&source, Some(&e.id), None).runbook
      })
      .collect()
  }

  pub(crate) fn ids(&self) -> impl Iterator<Item = &str> {
    self.entries.keys().map(String::as_str)
  }

  pub(crate) fn get(&self, id: &str) -> Result<&Entry, Error> {
    // A file named for the id that was skipped says why, rather than "did you mean".
    let skipped = self
      .skipped
      .iter()
      .find(|s| s.path.file_stem().and_then(|f| f.to_str()) == Some(id));
    self.entries.get(id).ok_or_else(|| Error::UnknownRunbook {
      id: id.to_string(),
      suggestion: skipped
        .map(|s| format!("{s}"))
        .or_else(|| suggest(id, self.ids()).map(|s| format!("did you mean `{s}`?")))
        .or_else(|| Some("see `megacity runbook list`".into())),
    })
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn a_top_level_id_line_is_what_makes_a_runbook() {
    for yes in [
      "id: x\n",
      "# a runbook\ntitle: t\nid: x\n",
      "id : x",
      "\"id\": x",
      "'id':\r\n  x",
      "id:\tx",
      "---\nid: x",
    ] {
      assert!(has_top_level_id(yes.as_bytes()), "{yes:?}");
    }
    for no in [
      "services:\n  id: x\n",
      "idle: true\n",
      "id:x\n",
      "- id: x\n",
      "# id: x\n",
      "",
    ] {
      assert!(!has_top_level_id(no.as_bytes()), "{no:?}");
    }
  }

  fn dir_with(files: &[(&str, &[u8])]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
      std::fs::write(dir.path().join(name), text).unwrap();
    }
    dir
  }

  /// Only files that look like runbooks are taken (a JSON one too); the others are returned
  /// with why, and asking for one by name says it was skipped.
  #[test]
  fn discovery_takes_runbooks_and_returns_what_it_skipped() {
    let dir = dir_with(&[
      ("mine.yaml", b"id: mine\ntitle: [broken but a runbook\n"),
      ("json.yaml", br#"{"id": "json", "title": "T"}"#),
      ("compose.yml", b"services:\n  web:\n    image: nginx\n"),
      ("list.yaml", b"- id: a\n- id: b\n"),
      ("bytes.yaml", b"\xff\xfe not text"),
      ("empty.yaml", b""),
    ]);
    let catalog = Catalog::discover(&[RunbookDir {
      path: dir.path().to_path_buf(),
      explicit: true,
    }])
    .unwrap();
    assert!(catalog.get("mine").is_ok());
    assert!(catalog.get("json").is_ok());
    let skipped: Vec<String> = catalog
      .skipped()
      .iter()
      .map(|s| s.path.file_name().unwrap().to_string_lossy().into_owned())
      .collect();
    assert_eq!(
      skipped,
      ["bytes.yaml", "compose.yml", "empty.yaml", "list.yaml"]
    );
    assert!(
      catalog
        .skipped()
        .iter()
        .all(|s| s.reason == "no top-level `id:` key, so it is not a runbook"),
      "{:?}",
      catalog.skipped()
    );
    let Err(Error::UnknownRunbook { suggestion, .. }) = catalog.get("compose") else {
      panic!("compose is not a runbook");
    };
    let hint = suggestion.unwrap();
    assert!(
      hint.starts_with("skipped ")
        && hint.ends_with("compose.yml: no top-level `id:` key, so it is not a runbook"),
      "{hint}"
    );
    let big = dir.path().join("big.yaml");
    std::fs::write(&big, format!("id: big\n{}", "#".repeat(300 * 1024))).unwrap();
    let catalog = Catalog::discover(&[RunbookDir {
      path: dir.path().to_path_buf(),
      explicit: true,
    }])
    .unwrap();
    let big = catalog.skipped().iter().find(|s| s.path == big).unwrap();
    assert!(
      big
        .reason
        .ends_with("bytes, more than the 262144 a runbook may have"),
      "{}",
      big.reason
    );
    // Embedded runbooks are not files in a directory: nothing of theirs is skipped.
    assert!(Catalog::discover(&[]).unwrap().skipped().is_empty());
  }
}
