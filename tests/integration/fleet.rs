//! `Fleet`: a scratch project wired to a real sshd on loopback (several host names, one
//! inventory), and the helpers that run `megacity` against it.

use std::path::Path;
use std::time::Duration;

use crate::sshd::Sshd;
use crate::test::{Run, Test};

pub(crate) const HOSTS: &[&str] = &["host-a", "host-b", "host-c", "host-d", "host-e"];

const INVENTORY: &str = "hosts:
  - name: host-a
    groups: [web, five]
  - name: host-b
    groups: [web, five]
  - name: host-c
    groups: [five]
  - name: host-d
    groups: [five]
  - name: host-e
    groups: [five]
  - name: stranger-01
  - name: refused-01
  - name: silent-01
  - name: changed-01
  - name: wrongkey-01
  - name: nosudo-01
";

/// A scratch project wired to a fresh sshd: inventory, ssh_config, a short runtime dir.
pub(crate) struct Fleet {
  pub(crate) sshd: Sshd,
  pub(crate) test: Test,
}

impl Fleet {
  pub(crate) fn new() -> Fleet {
    let sshd = Sshd::start(HOSTS);
    let runtime = sshd.dir.path().join("rt");
    std::fs::create_dir_all(&runtime).unwrap();
    let test = Test::new().write("inventory.yaml", INVENTORY);
    let inventory = test.path("inventory.yaml");
    let test = test
      .env("MEGACITY_INVENTORY", inventory.to_str().unwrap())
      .env("XDG_RUNTIME_DIR", runtime.to_str().unwrap());
    Fleet { sshd, test }
  }

  pub(crate) fn runbook(self, id: &str, body: &str) -> Fleet {
    let text = format!("id: {id}\ntitle: {id}\nseverity: P2\n{body}");
    Fleet {
      test: self.test.write(&format!("runbooks/{id}.yaml"), &text),
      sshd: self.sshd,
    }
  }

  pub(crate) fn path(&self, relative: &str) -> String {
    self.test.path(relative).to_str().unwrap().to_string()
  }

  /// `megacity runbook run ID --ssh-config … ARGS…` with stdin not a terminal.
  pub(crate) fn run(self, id: &str, args: &[&str]) -> (Fleet, Run) {
    let config = self.sshd.ssh_config();
    let test = self
      .test
      .args([
        "--color",
        "never",
        "runbook",
        "run",
        id,
        "--ssh-config",
        config.to_str().unwrap(),
      ])
      .args(args);
    let run = test.run();
    let test = test.reset();
    (
      Fleet {
        sshd: self.sshd,
        test,
      },
      run,
    )
  }

  /// `megacity runbook run --ssh-config … ARGS…` (no runbook id: for --resume).
  pub(crate) fn run_plain(self, args: &[&str]) -> (Fleet, Run) {
    let config = self.sshd.ssh_config();
    let test = self
      .test
      .args([
        "--color",
        "never",
        "runbook",
        "run",
        "--ssh-config",
        config.to_str().unwrap(),
      ])
      .args(args);
    let run = test.run();
    let test = test.reset();
    (
      Fleet {
        sshd: self.sshd,
        test,
      },
      run,
    )
  }

  /// Processes that mention this fleet's directory (ssh masters, stray commands), sshd aside.
  pub(crate) fn leftovers(&self) -> Vec<String> {
    std::thread::sleep(Duration::from_millis(300));
    let dir = self.sshd.dir.path().to_str().unwrap().to_string();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
      let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
        continue;
      };
      let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
      if cmdline.contains(&dir) && !cmdline.contains("sshd_config") {
        found.push(cmdline);
      }
    }
    found
  }

  /// The control directory megacity uses must be gone after every run (the kept masters'
  /// directory may stay, empty).
  pub(crate) fn control_dirs(&self) -> Vec<String> {
    let base = self.sshd.dir.path().join("rt/megacity");
    let empty = |p: &Path| std::fs::read_dir(p).is_ok_and(|mut d| d.next().is_none());
    std::fs::read_dir(base)
      .map(|d| {
        d.flatten()
          .filter(|e| !(e.file_name() == "masters" && empty(&e.path())))
          .map(|e| e.path().display().to_string())
          .collect()
      })
      .unwrap_or_default()
  }

  /// `megacity ARGS…` in this fleet's environment.
  pub(crate) fn megacity(&mut self, args: &[&str]) -> Run {
    let test = std::mem::replace(&mut self.test, Test::new()).args(args);
    let run = test.run();
    self.test = test.reset();
    run
  }

  pub(crate) fn assert_clean(&self) {
    assert_eq!(
      self.leftovers(),
      Vec::<String>::new(),
      "ssh processes left behind"
    );
    assert_eq!(
      self.control_dirs(),
      Vec::<String>::new(),
      "control directories left behind"
    );
  }
}

/// Processes on this machine whose command line holds `token` (pgrep itself left out): what a
/// stopped command left behind.
pub(crate) fn still_running(token: &str) -> String {
  let ps = std::process::Command::new("pgrep")
    .args(["-af", token])
    .output()
    .unwrap();
  String::from_utf8_lossy(&ps.stdout)
    .lines()
    .filter(|l| !l.contains("pgrep"))
    .collect::<Vec<_>>()
    .join("\n")
}
