//! The command line a step runs, wrapped so that it dies with its connection.
//!
//! Closing an SSH channel does not stop the remote process (no PTY, no signal forwarding), and a
//! daemonized master never sees Ctrl-C. So every command runs under a small `sh` watchdog: the
//! command gets /dev/null as stdin, its own process group (`setsid`) and a server-side
//! `timeout --kill-after`; the watchdog reads our stdin, and when it ends — because megacity
//! timed out, was interrupted, or died — it kills the whole group.
//!
//! A descendant can leave the group and the session (`setsid`, a daemon). So the watchdog also
//! marks the command's environment with `MEGACITY_CMD=<token>`, which every descendant inherits,
//! and after a timeout or interrupt `SWEEP` finds whatever still carries the mark, names it and
//! kills it: megacity says "stopped" only when nothing is left.

use std::time::Duration;

pub(crate) const WATCHDOG: &str = r#"exec 3<&0 </dev/null
MEGACITY_CMD=$3; export MEGACITY_CMD
if command -v timeout >/dev/null 2>&1; then set -- timeout -k 5 "$2" sh -c "$1"; else set -- sh -c "$1"; fi
if command -v setsid >/dev/null 2>&1; then setsid "$@" & else "$@" & fi
p=$!
( cat <&3 >/dev/null 2>&1; kill -TERM -- -$p 2>/dev/null || kill -TERM $p 2>/dev/null; sleep 2; kill -KILL -- -$p 2>/dev/null ) >/dev/null 2>&1 &
w=$!
exec 3<&-
wait $p; s=$?
kill $w 2>/dev/null
exit $s"#;

/// The arguments after `sh -c WATCHDOG`: `$0`, the command, the timeout in seconds, and the
/// token that marks everything the command starts.
pub(crate) fn watchdog_args(command: &str, timeout: Duration, token: &str) -> [String; 4] {
  // The server-side limit trails ours, so our own timeout reports first.
  let seconds = timeout.as_secs() + 2;
  [
    "megacity".into(),
    command.into(),
    format!("{seconds}s"),
    token.into(),
  ]
}

/// A token unique to one command of this megacity process.
pub(crate) fn token() -> String {
  use std::sync::atomic::{AtomicU64, Ordering};
  static NEXT: AtomicU64 = AtomicU64::new(1);
  format!(
    "mc{}x{}",
    std::process::id(),
    NEXT.fetch_add(1, Ordering::Relaxed)
  )
}

/// Run as `sh -c SWEEP megacity TOKEN` after a command was stopped: waits for the watchdog's own
/// kill (it escalates to KILL after 2 s), then finds every process still marked with TOKEN, as
/// root where `sudo -n` allows (a root step's leftovers are root's), prints `left PID ARGS` for
/// each and kills it, and ends with `clean`, `killed` or `unverifiable WHY`.
pub(crate) const SWEEP: &str = r#"t=$1
[ -d /proc/self ] || { echo "unverifiable no /proc on this host"; exit 0; }
sleep 3
S=""; [ "$(id -u)" -eq 0 ] || { sudo -n true 2>/dev/null && S="sudo -n"; }
$S sh -c '
t=$1; left=""
for e in /proc/[0-9]*/environ; do
  p=${e#/proc/}; p=${p%/environ}
  [ "$p" = "$$" ] && continue
  if { tr "\0" "\n" <"$e"; } 2>/dev/null | grep -qx "MEGACITY_CMD=$t"; then left="$left $p"; fi
done
[ -n "$left" ] || { echo clean; exit 0; }
for p in $left; do echo "left $p $({ tr "\0" " " <"/proc/$p/cmdline"; } 2>/dev/null | cut -c1-100)"; done
kill -KILL $left 2>/dev/null; sleep 0.5
for p in $left; do
  st=$({ sed "s/.*) //" "/proc/$p/stat"; } 2>/dev/null | cut -c1)
  [ -n "$st" ] && [ "$st" != Z ] && echo "unverifiable $p survived KILL"
done
echo killed' megacity "$t""#;

/// What the sweep found after a command was stopped.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) enum Sweep {
  /// Nothing of the command was left.
  Clean,
  /// These were left (pid and command line) and were killed.
  Killed(Vec<String>),
  /// Whether anything was left could not be checked: why.
  #[default]
  Unverified,
}

impl Sweep {
  pub(crate) fn parse(output: &str) -> Sweep {
    let left: Vec<String> = output
      .lines()
      .filter_map(|l| l.strip_prefix("left "))
      .map(|l| l.trim().to_string())
      .collect();
    let last = output.lines().last().unwrap_or("");
    match last {
      "clean" => Sweep::Clean,
      "killed" if !output.contains("unverifiable") => Sweep::Killed(left),
      _ => Sweep::Unverified,
    }
  }

  /// How the stop is described: only a clean sweep says nothing is left.
  pub(crate) fn describe(&self) -> String {
    match self {
      Sweep::Clean => "nothing of it is left on the host".into(),
      Sweep::Killed(left) => format!(
        "{} of its processes had survived and were killed: {}",
        left.len(),
        left.join("; ")
      ),
      Sweep::Unverified => "whether anything of it is left on the host could not be checked".into(),
    }
  }
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::shell::quote;

  fn run_local(command: &str) -> std::process::Output {
    let args = watchdog_args(command, Duration::from_secs(10), "mc-test");
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
    let args = watchdog_args(&command, Duration::from_secs(30), "mc-test");
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

#[cfg(test)]
mod sweep_tests {
  use super::*;

  #[test]
  fn the_sweep_finds_a_descendant_that_left_the_session_and_kills_it() {
    // The command's child leaves its session (setsid): the group kill cannot reach it; the
    // mark in its environment can.
    let token = format!("mc-sweep-test-{}", std::process::id());
    let mut child = std::process::Command::new("sh")
      .arg("-c")
      .arg("MEGACITY_CMD=$1; export MEGACITY_CMD; setsid sleep 300 </dev/null >/dev/null 2>&1 &")
      .arg("megacity")
      .arg(&token)
      .spawn()
      .unwrap();
    child.wait().unwrap();
    let out = std::process::Command::new("sh")
      .arg("-c")
      .arg(SWEEP)
      .arg("megacity")
      .arg(&token)
      .output()
      .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    match Sweep::parse(&text) {
      Sweep::Killed(left) => assert!(left.iter().any(|l| l.contains("sleep 300")), "{text}"),
      other => panic!("{other:?} from {text}"),
    }
    let again = std::process::Command::new("sh")
      .arg("-c")
      .arg(SWEEP)
      .arg("megacity")
      .arg(&token)
      .output()
      .unwrap();
    assert_eq!(
      Sweep::parse(&String::from_utf8_lossy(&again.stdout)),
      Sweep::Clean
    );
  }

  #[test]
  fn only_a_clean_sweep_says_nothing_is_left() {
    assert_eq!(Sweep::parse("clean\n"), Sweep::Clean);
    assert_eq!(
      Sweep::parse("left 12 sleep 300\nkilled\n"),
      Sweep::Killed(vec!["12 sleep 300".into()])
    );
    assert_eq!(
      Sweep::parse("left 12 x\nunverifiable 12 survived KILL\nkilled\n"),
      Sweep::Unverified
    );
    assert_eq!(Sweep::parse(""), Sweep::Unverified);
  }
}
