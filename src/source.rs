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

/// A file that is not UTF-8 is an invalid runbook or inventory, with the place of the first
/// bad byte: a usage error the operator can fix, not megacity failing to work.
fn not_utf8(display: &str, bytes: &[u8], valid: usize) -> Error {
  let before = String::from_utf8_lossy(&bytes[..valid]);
  let line = before.matches('\n').count() as u32 + 1;
  let line_start = before.rfind('\n').map_or(0, |i| i + 1);
  let column = before[line_start..].chars().count() as u32 + 1;
  let source_line = String::from_utf8_lossy(&bytes[line_start..])
    .lines()
    .next()
    .map(str::to_string);
  Error::Invalid {
    what: display.to_string(),
    diagnostics: vec![crate::diagnostic::Diagnostic {
      level: crate::diagnostic::Level::Error,
      file: display.to_string(),
      line,
      column,
      message: format!("byte 0x{:02x} is not UTF-8", bytes[valid]),
      hint: Some("save the file as UTF-8 (runbooks and inventories are UTF-8 text)".into()),
      source_line,
    }],
  }
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
    // A path that names nothing is a mistake on the command line, not megacity failing.
    let io = |source: std::io::Error| match source.kind() {
      std::io::ErrorKind::NotFound => Error::Missing {
        path: path.to_path_buf(),
      },
      _ => Error::Io {
        path: path.to_path_buf(),
        source,
      },
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    // A device or a FIFO would be read forever (or block): only regular files are runbooks.
    if !meta.is_file() {
      return Err(Error::NotAFile {
        path: path.to_path_buf(),
      });
    }
    if meta.len() > crate::yaml::MAX_FILE_BYTES as u64 {
      return Err(Error::TooLarge {
        path: path.to_path_buf(),
        size: meta.len(),
      });
    }
    // The limit holds whatever the file claims (it may grow while it is read).
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(
      &mut std::io::Read::take(
        std::fs::File::open(path).map_err(io)?,
        crate::yaml::MAX_FILE_BYTES as u64 + 1,
      ),
      &mut bytes,
    )
    .map_err(io)?;
    if bytes.len() > crate::yaml::MAX_FILE_BYTES {
      return Err(Error::TooLarge {
        path: path.to_path_buf(),
        size: bytes.len() as u64,
      });
    }
    let display = path.display().to_string();
    let text = match String::from_utf8(bytes) {
      Ok(text) => text,
      Err(e) => {
        return Err(not_utf8(
          &display,
          e.as_bytes(),
          e.utf8_error().valid_up_to(),
        ));
      }
    };
    Ok(Source {
      display,
      text: Cow::Owned(text),
    })
  }
}
