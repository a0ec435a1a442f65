//! Which runbooks exist: the embedded set, overridden by id from the runbook directories.

use std::collections::BTreeMap;
use std::path::PathBuf;

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

#[derive(Debug, Default)]
pub(crate) struct Catalog {
  entries: BTreeMap<String, Entry>,
}

impl Catalog {
  /// Lists runbooks without reading them: the file name is the id, so discovery is a directory
  /// listing (fast enough for tab completion).
  pub(crate) fn discover(dirs: &[RunbookDir]) -> Result<Catalog, Error> {
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
    Ok(Catalog { entries })
  }

  pub(crate) fn entries(&self) -> impl Iterator<Item = &Entry> {
    self.entries.values()
  }

  pub(crate) fn ids(&self) -> impl Iterator<Item = &str> {
    self.entries.keys().map(String::as_str)
  }

  pub(crate) fn get(&self, id: &str) -> Result<&Entry, Error> {
    self.entries.get(id).ok_or_else(|| Error::UnknownRunbook {
      id: id.to_string(),
      suggestion: suggest(id, self.ids())
        .map(|s| format!("did you mean `{s}`?"))
        .or_else(|| Some("see `megacity runbook list`".into())),
    })
  }
}
