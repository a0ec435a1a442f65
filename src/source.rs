//! Where a runbook or inventory came from, and its text.

use std::borrow::Cow;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::Error;

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Origin {
  Embedded,
  File(PathBuf),
}

impl fmt::Display for Origin {
  fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
    match self {
      Origin::Embedded => f.write_str("embedded"),
      Origin::File(path) => write!(f, "{}", path.display()),
    }
  }
}

/// A loaded file: a name for messages, and its text.
pub(crate) struct Source {
  pub(crate) display: String,
  pub(crate) text: Cow<'static, str>,
}

impl Source {
  pub(crate) fn embedded(display: String, text: &'static str) -> Source {
    Source {
      display,
      text: Cow::Borrowed(text),
    }
  }

  /// Reads a file, refusing oversized ones before reading them whole.
  pub(crate) fn read(path: &Path) -> Result<Source, Error> {
    let io = |source| Error::Io {
      path: path.to_path_buf(),
      source,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if meta.len() > crate::yaml::MAX_FILE_BYTES as u64 {
      return Err(Error::TooLarge {
        path: path.to_path_buf(),
        size: meta.len(),
      });
    }
    let text = std::fs::read_to_string(path).map_err(io)?;
    Ok(Source {
      display: path.display().to_string(),
      text: Cow::Owned(text),
    })
  }
}
