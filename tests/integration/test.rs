//! `Test`: runs the real `megacity` binary in a scratch directory with a clean environment.

use std::path::PathBuf;
use std::process::{Command, Output};

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_megacity");

pub(crate) struct Test {
  pub(crate) dir: tempfile::TempDir,
  args: Vec<String>,
  env: Vec<(String, String)>,
}

pub(crate) struct Run {
  pub(crate) code: i32,
  pub(crate) stdout: String,
  pub(crate) stderr: String,
}

impl Test {
  pub(crate) fn new() -> Test {
    Test {
      dir: tempfile::tempdir().unwrap(),
      args: Vec::new(),
      env: Vec::new(),
    }
  }

  pub(crate) fn path(&self, relative: &str) -> PathBuf {
    self.dir.path().join(relative)
  }

  /// Writes a file under the scratch directory, creating parent directories.
  pub(crate) fn write(self, relative: &str, content: &str) -> Test {
    let path = self.path(relative);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
    self
  }

  pub(crate) fn arg(mut self, arg: impl AsRef<str>) -> Test {
    self.args.push(arg.as_ref().to_string());
    self
  }

  pub(crate) fn args<I: IntoIterator<Item = S>, S: AsRef<str>>(mut self, args: I) -> Test {
    self
      .args
      .extend(args.into_iter().map(|a| a.as_ref().to_string()));
    self
  }

  pub(crate) fn env(mut self, key: &str, value: impl AsRef<str>) -> Test {
    self.set_env(key, value);
    self
  }

  /// Sets an environment variable for every later run.
  pub(crate) fn set_env(&mut self, key: &str, value: impl AsRef<str>) {
    self.env.push((key.to_string(), value.as_ref().to_string()));
  }

  /// Runs with these arguments instead of the builder's, keeping the directory and environment.
  pub(crate) fn run_with(&self, args: &[&str]) -> Run {
    self.run_under(&[], args)
  }

  /// Like [`Test::run_with`], with megacity started by `prefix` (a program and its arguments
  /// that end by running the rest of the command line).
  pub(crate) fn run_under(&self, prefix: &[&str], args: &[&str]) -> Run {
    let mut command = self.command_under(prefix, args);
    let Output {
      status,
      stdout,
      stderr,
    } = command.output().expect("megacity runs");
    Run {
      code: status.code().unwrap_or(-1),
      stdout: String::from_utf8_lossy(&stdout).into_owned(),
      stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
  }

  /// Records of the newest journal megacity wrote for this test (its XDG state directory).
  /// A torn line (a crash mid-write) is skipped, as megacity's own reader does.
  pub(crate) fn newest_journal(&self) -> Vec<serde_json::Value> {
    let dir = self.path("xdg-state/megacity/journal");
    let files: Vec<PathBuf> = std::fs::read_dir(dir)
      .unwrap()
      .flatten()
      .map(|e| e.path())
      .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
      .collect();
    // By start time (the header's, to the millisecond), as `last` picks: file names sort by
    // the second and then by pid, which says nothing about order within a second.
    let records = |path: &PathBuf| -> Vec<serde_json::Value> {
      std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
    };
    files
      .iter()
      .map(records)
      .max_by_key(|r| {
        r.first()
          .and_then(|h| h["started"].as_str())
          .unwrap_or_default()
          .to_string()
      })
      .expect("a journal")
  }

  /// The same scratch directory and environment, without the arguments.
  pub(crate) fn reset(mut self) -> Test {
    self.args.clear();
    self
  }

  /// megacity with `args`, started by `prefix` (see [`Test::run_under`]), in this scratch
  /// directory and environment.
  pub(crate) fn command_under(&self, prefix: &[&str], args: &[&str]) -> Command {
    let mut command = match prefix.split_first() {
      Some((program, rest)) => {
        let mut c = Command::new(program);
        c.args(rest).arg(BIN);
        c
      }
      None => Command::new(BIN),
    };
    command.args(args);
    self.scratch(command)
  }

  pub(crate) fn command(&self) -> Command {
    let mut command = Command::new(BIN);
    command.args(&self.args);
    self.scratch(command)
  }

  /// `sh -c script` in this scratch directory and environment (for pipes, `stty`).
  pub(crate) fn shell(&self, script: &str) -> Command {
    let mut command = Command::new("sh");
    command.arg("-c").arg(script);
    self.scratch(command)
  }

  fn scratch(&self, mut command: Command) -> Command {
    command
      .current_dir(self.dir.path())
      .env_remove("MEGACITY_RUNBOOKS")
      .env_remove("MEGACITY_INVENTORY")
      .env_remove("COMPLETE")
      .env_remove("NO_COLOR")
      .env("HOME", self.dir.path())
      .env("XDG_CONFIG_HOME", self.path("xdg-config"))
      .env("XDG_STATE_HOME", self.path("xdg-state"));
    for (k, v) in &self.env {
      command.env(k, v);
    }
    command
  }

  pub(crate) fn run(&self) -> Run {
    let Output {
      status,
      stdout,
      stderr,
    } = self.command().output().expect("megacity runs");
    Run {
      code: status.code().unwrap_or(-1),
      stdout: String::from_utf8_lossy(&stdout).into_owned(),
      stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
  }

  /// Runs and asserts the exit code, showing all output when it differs.
  pub(crate) fn expect_code(&self, code: i32) -> Run {
    let run = self.run();
    assert_eq!(
      run.code, code,
      "exit code {} (wanted {code}) for {:?}\n--- stdout\n{}\n--- stderr\n{}",
      run.code, self.args, run.stdout, run.stderr
    );
    run
  }
}

impl Run {
  pub(crate) fn json(&self) -> serde_json::Value {
    serde_json::from_str(&self.stdout)
      .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", self.stdout))
  }
}

/// Answers a prompt through the pty as a person would: after reading it. megacity ignores an
/// answer that arrives faster than anyone could read the question (type-ahead).
pub(crate) fn answer(session: &mut rexpect::session::PtySession, text: &str) {
  std::thread::sleep(std::time::Duration::from_millis(250));
  session.send_line(text).unwrap();
}

/// The documented exit codes (README "Exit codes").
pub(crate) mod exit {
  pub(crate) const SUCCESS: i32 = 0;
  pub(crate) const FAILURE: i32 = 1;
  pub(crate) const USAGE: i32 = 2;
  pub(crate) const ABORTED: i32 = 3;
  pub(crate) const ERROR: i32 = 4;
  pub(crate) const INTERRUPTED: i32 = 130;
}
