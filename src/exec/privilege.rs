//! Running as root: `sudo -n`, never a password typed by megacity.

use crate::shell::quote;

/// A step's command as it is handed to the watchdog: as root through non-interactive sudo
/// (megacity never types a password), the whole line under one `sh -c` so pipelines and
/// `if … fi` run as root throughout.
/// A login that already is root needs no sudo (and may not have it installed).
pub(crate) fn with_privilege(command: &str, sudo: bool) -> Result<String, String> {
  if !sudo {
    return Ok(command.to_string());
  }
  let quoted = quote(command)?;
  // sudo resets the environment: the watchdog's mark (MEGACITY_CMD, by which whatever the
  // command leaves behind is found) is handed over as an argument and exported again.
  let marked = format!("MEGACITY_CMD=$1; export MEGACITY_CMD; shift; {command}");
  let inner = quote(&marked)?;
  Ok(format!(
    "if [ \"$(id -u)\" -eq 0 ]; then sh -c {quoted}; else sudo -n sh -c {inner} megacity \"$MEGACITY_CMD\"; fi"
  ))
}

/// The preflight's question: may this login run commands as root without a password?
pub(crate) const SUDO_PROBE: &str = "[ \"$(id -u)\" -eq 0 ] || sudo -n true";

/// What sudo says when it would need a password: the step fails with an explanation.
pub(crate) fn sudo_wants_password(stderr: &str) -> bool {
  stderr.contains("sudo: a password is required") || stderr.contains("sudo: a terminal is required")
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn sudo_wraps_the_whole_line() {
    let wrapped = with_privilege("echo a | tr a b", true).unwrap();
    assert!(
      wrapped.contains("sudo -n sh -c 'MEGACITY_CMD=$1; export MEGACITY_CMD; shift; echo a | tr a b' megacity \"$MEGACITY_CMD\""),
      "{wrapped}"
    );
    assert_eq!(with_privilege("a | b", false).unwrap(), "a | b");
    if std::process::Command::new("id")
      .arg("-u")
      .output()
      .unwrap()
      .stdout
      == b"0\n"
    {
      let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(&wrapped)
        .output()
        .unwrap();
      assert_eq!(out.stdout, b"b\n", "as root the line runs without sudo");
    }
  }
}
