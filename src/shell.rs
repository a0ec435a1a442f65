//! Shell quoting: a value handed to `sh` is always exactly one inert word. The transport and the
//! templates share it, so neither has to know about the other.

use std::borrow::Cow;

/// POSIX-shell quoting of one word. NUL cannot be passed to a shell at all, so it is refused.
pub(crate) fn quote(value: &str) -> Result<Cow<'_, str>, String> {
  shlex::try_quote(value).map_err(|_| "a value contains a NUL byte, which no shell can take".into())
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn nul_is_refused() {
    assert!(quote("a\0b").is_err());
  }

  #[test]
  fn plain_words_stay_plain() {
    assert_eq!(quote("redis-master-01").unwrap(), "redis-master-01");
    assert_eq!(quote("a b").unwrap(), "'a b'");
  }
}
