//! Styles. Whether they color anything was decided once, in `config` (--color, NO_COLOR, TTY).

use console::{StyledObject, style};

use crate::runbook::model::Severity;

pub fn error(s: &str) -> StyledObject<&str> {
  style(s).red().bold()
}

pub fn warning(s: &str) -> StyledObject<&str> {
  style(s).yellow().bold()
}

pub fn hint(s: &str) -> StyledObject<&str> {
  style(s).cyan().bold()
}

pub fn dim(s: &str) -> StyledObject<&str> {
  style(s).dim()
}

pub fn bold(s: &str) -> StyledObject<&str> {
  style(s).bold()
}

pub fn severity(s: Severity) -> StyledObject<&'static str> {
  let styled = style(s.name()).bold();
  match s {
    Severity::P1 => styled.red(),
    Severity::P2 => styled.yellow(),
    Severity::P3 => styled.cyan(),
    Severity::P4 => styled,
  }
}
