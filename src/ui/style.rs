//! Styles. Whether they color anything was decided once, in `config` (--color, NO_COLOR, TTY).
//! Name a style by what the text means (`ok`, `host`), not by a look another meaning has
//! (`hint` is for advice), so one meaning always looks the same.

use console::{StyledObject, style};

use crate::runbook::model::Severity;

pub(crate) fn error(s: &str) -> StyledObject<&str> {
  style(s).red().bold()
}

pub(crate) fn warning(s: &str) -> StyledObject<&str> {
  style(s).yellow().bold()
}

/// Something that went well: a passed check, a valid runbook, an open connection.
pub(crate) fn ok(s: &str) -> StyledObject<&str> {
  style(s).green().bold()
}

/// Something that went wrong and is the result, not the command's error.
pub(crate) fn fail(s: &str) -> StyledObject<&str> {
  style(s).red().bold()
}

pub(crate) fn host(s: &str) -> StyledObject<&str> {
  style(s).cyan()
}

/// A command as it will run.
pub(crate) fn command(s: &str) -> StyledObject<&str> {
  style(s).bold()
}

/// Advice to the operator.
pub(crate) fn hint(s: &str) -> StyledObject<&str> {
  style(s).cyan().bold()
}

pub(crate) fn dim(s: &str) -> StyledObject<&str> {
  style(s).dim()
}

pub(crate) fn bold(s: &str) -> StyledObject<&str> {
  style(s).bold()
}

pub(crate) fn severity(s: Severity) -> StyledObject<&'static str> {
  let styled = style(s.name()).bold();
  match s {
    Severity::P1 => styled.red(),
    Severity::P2 => styled.yellow(),
    Severity::P3 => styled.cyan(),
    Severity::P4 => styled,
  }
}
