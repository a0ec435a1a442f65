//! The command line a step runs, wrapped so that it dies with its connection.
//!
//! Closing an SSH channel does not stop the remote process (no PTY, no signal forwarding), and a
//! daemonized master never sees Ctrl-C. So every command runs under a small `sh` watchdog: the
//! command gets /dev/null as stdin, its own process group (`setsid`) and a server-side
//! `timeout --kill-after`; the watchdog reads our stdin, and when it ends — because megacity
//! timed out, was interrupted, or died — it kills the whole group.

use std::time::Duration;

pub(crate) const WATCHDOG: &str = r#"exec 3<&0 </dev/null
if command -v timeout >/dev/null 2>&1; then set -- timeout -k 5 "$2" sh -c "$1"; else set -- sh -c "$1"; fi
if command -v setsid >/dev/null 2>&1; then setsid "$@" & else "$@" & fi
p=$!
( cat <&3 >/dev/null 2>&1; kill -TERM -- -$p 2>/dev/null || kill -TERM $p 2>/dev/null; sleep 2; kill -KILL -- -$p 2>/dev/null ) >/dev/null 2>&1 &
w=$!
exec 3<&-
wait $p; s=$?
kill $w 2>/dev/null
exit $s"#;

/// The arguments after `sh -c WATCHDOG`: `$0`, the command, and the timeout in seconds.
pub(crate) fn watchdog_args(command: &str, timeout: Duration) -> [String; 3] {
  // The server-side limit trails ours, so our own timeout reports first.
  let seconds = timeout.as_secs() + 2;
  ["megacity".into(), command.into(), format!("{seconds}s")]
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::shell::quote;

  fn run_local(command: &str) -> std::process::Output {
    let args = watchdog_args(command, Duration::from_secs(10));
    let mut child = std::process::Command::new("sh")
      .arg("-c")
      .arg(WATCHDOG)
      .args(&args)
      .stdin(std::process::Stdio::piped())
      .stdout(std::process::Stdio::piped())
      .stderr(std::process::Stdio::piped())
      .spawn()
      .unwrap();
    // Our end of stdin stays open while the command runs: closing it means "kill".
    let stdin = child.stdin.take();
    let output = child.wait_with_output().unwrap();
    drop(stdin);
    output
  }

  #[test]
  fn passes_exit_code_and_output_through() {
    let out = run_local("echo out; echo err >&2; exit 3");
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "out\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "err\n");
  }

  #[test]
  fn closing_stdin_kills_the_command_group() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("survived");
    let command = format!(
      "sleep 3 && touch {}",
      quote(marker.to_str().unwrap()).unwrap()
    );
    let args = watchdog_args(&command, Duration::from_secs(30));
    let mut child = std::process::Command::new("sh")
      .arg("-c")
      .arg(WATCHDOG)
      .args(&args)
      .stdin(std::process::Stdio::piped())
      .spawn()
      .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    drop(child.stdin.take());
    let status = child.wait().unwrap();
    assert!(!status.success());
    std::thread::sleep(Duration::from_secs(4));
    assert!(!marker.exists(), "the command outlived its watchdog");
  }
}
