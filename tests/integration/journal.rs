//! The incident record: journals, resume, escalation, reports.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use rexpect::session::spawn_command;

use crate::fleet::Fleet;
use crate::test::Test;

fn journal_dir(fleet: &Fleet) -> PathBuf {
  fleet.test.path("xdg-state/megacity/journal")
}

/// Every record of the only (or newest) journal, as JSON values.
fn journal_records(fleet: &Fleet) -> Vec<serde_json::Value> {
  fleet.test.newest_journal()
}

fn types(records: &[serde_json::Value]) -> Vec<String> {
  records
    .iter()
    .map(|r| r["type"].as_str().unwrap().to_string())
    .collect()
}

fn everything_written(fleet: &Fleet) -> String {
  let mut all = String::new();
  fn walk(dir: &Path, all: &mut String) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
      if e.path().is_dir() {
        walk(&e.path(), all);
      } else {
        all.push_str(&std::fs::read_to_string(e.path()).unwrap_or_default());
      }
    }
  }
  walk(&journal_dir(fleet), &mut all);
  all
}

const HEAL: &str = r#"parameters:
  token:
    secret_env: MC_SECRET
    required: true
  depth:
    default: "3"
steps:
  - id: probe
    title: probe
    targets: [host-a]
    check: {command: 'echo used=91% {{token}}', expect: {thresholds: [{name: used, regex: 'used=(\d+)%', max: 80, unit: '%'}]}}
  - id: fix
    title: fix it
    targets: [host-a]
    when: {failed: probe}
    action: {command: 'echo fixed {{depth}}', confirm: 'Fix {{host}}?'}
  - id: verify
    title: verify
    targets: [host-a]
    check: {command: 'echo used=10%', expect: {thresholds: [{name: used, regex: 'used=(\d+)%', max: 80, unit: '%'}]}}
"#;

fn heal_fleet() -> Fleet {
  let fleet = Fleet::new().runbook("heal", HEAL);
  let Fleet { sshd, test } = fleet;
  Fleet {
    sshd,
    test: test.env("MC_SECRET", "hunter2-secret"),
  }
}

#[test]
fn a_live_run_records_header_verdicts_commands_and_decisions() {
  let (fleet, run) = heal_fleet().run("heal", &["--yes"]);
  assert_eq!(
    run.code,
    crate::test::exit::SUCCESS,
    "{}\n{}",
    run.stdout,
    run.stderr
  );
  let records = journal_records(&fleet);
  let header = &records[0];
  assert_eq!(header["type"], "header");
  assert_eq!(header["v"], 1);
  assert_eq!(header["runbook"], "heal");
  assert_eq!(header["mode"], "live");
  assert!(header["hash"].as_str().unwrap().starts_with("sha256:"));
  assert_eq!(header["parameters"]["depth"], "3");
  assert_eq!(header["parameters"]["token"], "********");
  let t = types(&records);
  for wanted in [
    "preflight",
    "step-started",
    "host-result",
    "decision",
    "step-done",
    "end",
  ] {
    assert!(t.contains(&wanted.to_string()), "no {wanted} in {t:?}");
  }
  let probe = records
    .iter()
    .find(|r| r["type"] == "host-result" && r["step"] == "probe")
    .unwrap();
  assert_eq!(probe["outcome"], "failed");
  assert_eq!(probe["command"], "echo used=91% '********'");
  assert_eq!(probe["exit_code"], 0);
  assert_eq!(probe["measurements"][0]["value"], 91.0);
  assert!(
    probe["reasons"][0]
      .as_str()
      .unwrap()
      .contains("above the maximum")
  );
  let decision = records.iter().find(|r| r["type"] == "decision").unwrap();
  assert_eq!(
    (decision["step"].as_str(), decision["answer"].as_str()),
    (Some("fix"), Some("yes"))
  );
  assert_eq!(records.last().unwrap()["end"], "completed");
  assert!(
    !everything_written(&fleet).contains("hunter2-secret"),
    "a secret reached the journal"
  );
  assert!(!run.stdout.contains("hunter2-secret") && !run.stderr.contains("hunter2-secret"));
  for kind in ["--postmortem", "--drill"] {
    let out = fleet.test.run_with(&["report", "last", kind]);
    assert_eq!(out.code, crate::test::exit::SUCCESS, "{}", out.stderr);
    assert!(!out.stdout.contains("hunter2-secret"));
  }
  // --format json: the data each report is drawn from, not its markdown.
  let pm = fleet
    .test
    .run_with(&["--format", "json", "report", "last", "--postmortem"]);
  assert_eq!(pm.code, crate::test::exit::SUCCESS, "{}", pm.stderr);
  assert!(!pm.stdout.contains("hunter2-secret"));
  let pm = pm.json();
  assert_eq!(pm["report"], "postmortem");
  assert_eq!(pm["header"]["runbook"], "heal");
  assert_eq!(pm["end"], "completed");
  assert_eq!(pm["hosts_touched"], serde_json::json!(["host-a"]));
  // --yes confirmed it: a decision nobody was asked for is not the operator's.
  assert_eq!(pm["decisions"], 0);
  assert_eq!(pm["by_policy"], 1);
  assert!(
    pm["changed"][0]
      .as_str()
      .unwrap()
      .contains("`fix` on host-a: passed"),
    "{}",
    pm["changed"]
  );
  // The fix passed and the verification passed: the run recovered, and says when and by which
  // check (the time of that check's result).
  let verified = records
    .iter()
    .find(|r| r["type"] == "host-result" && r["step"] == "verify")
    .unwrap();
  assert_eq!(pm["recovered"], verified["t"], "{pm}");
  assert_eq!(
    pm["recovered_by"],
    serde_json::json!({"step": "verify", "host": "host-a"})
  );
  let decision = records.iter().find(|r| r["type"] == "decision").unwrap();
  assert!(
    decision.get("shown").is_none(),
    "--yes showed no prompt: {decision}"
  );
  assert_eq!(decision["by"], "--yes", "{decision}");
  assert_eq!(pm["decided_by"]["--yes"], 1, "{}", pm["decided_by"]);
  assert_eq!(pm["failures"].as_array().unwrap().len(), 1);
  assert!(
    pm["timeline"]
      .as_array()
      .unwrap()
      .iter()
      .any(|e| e["event"] == "decision on `fix` on host-a (confirm): yes — by --yes")
  );
  let drill = fleet
    .test
    .run_with(&["--format", "json", "report", "last", "--drill"])
    .json();
  assert_eq!(drill["report"], "drill");
  let steps: Vec<(&str, &str)> = drill["steps"]
    .as_array()
    .unwrap()
    .iter()
    .map(|s| {
      (
        s["step"].as_str().unwrap(),
        s["results"][0].as_str().unwrap(),
      )
    })
    .collect();
  assert_eq!(
    steps,
    vec![("probe", "failed"), ("fix", "passed"), ("verify", "passed")]
  );
  assert_eq!(drill["recovery_met"], true);
  let show = fleet
    .test
    .run_with(&["--format", "json", "journal", "show", "last"])
    .json();
  assert_eq!(show.as_array().unwrap().len(), records.len());
}

#[test]
fn checks_only_and_dry_runs_are_recorded_too() {
  let (fleet, run) = heal_fleet().run("heal", &["--checks-only"]);
  assert_eq!(run.code, crate::test::exit::FAILURE, "{}", run.stdout);
  let records = journal_records(&fleet);
  assert_eq!(records[0]["mode"], "checks-only");
  assert!(
    records
      .iter()
      .any(|r| r["type"] == "would-run" && r["step"] == "fix")
  );
  assert!(
    !records.iter().any(|r| r["type"] == "decision"),
    "checks-only asks nothing"
  );
  // Triage recovers nothing: the postmortem must not say it did.
  let pm = fleet
    .test
    .run_with(&["--format", "json", "report", "last", "--postmortem"])
    .json();
  assert!(pm["recovered"].is_null(), "{}", pm["recovered"]);
  assert_eq!(pm["changed"], serde_json::json!([]));
  std::thread::sleep(Duration::from_millis(1100)); // run ids have one-second resolution
  let (fleet, run) = fleet.run("heal", &["--dry-run", "--yes"]);
  assert_eq!(run.code, crate::test::exit::SUCCESS, "{}", run.stdout);
  let records = journal_records(&fleet);
  assert_eq!(records[0]["mode"], "dry-run");
  assert!(records.iter().filter(|r| r["type"] == "would-run").count() >= 3);
  // A rehearsal is not an incident, and a runbook walked without failures or findings is accurate.
  let pm = fleet.test.run_with(&["report", "last", "--postmortem"]);
  assert!(
    pm.stdout
      .starts_with("# Rehearsal record (a dry run, not an incident)"),
    "{}",
    pm.stdout
  );
  let drill = fleet
    .test
    .run_with(&["--format", "json", "report", "last", "--drill"])
    .json();
  assert_eq!(drill["accurate"], true, "{drill}");
  assert_eq!(drill["findings"], serde_json::json!([]));
  let list = fleet
    .test
    .run_with(&["--format", "json", "journal", "list"])
    .json();
  let modes: Vec<&str> = list
    .as_array()
    .unwrap()
    .iter()
    .map(|r| r["mode"].as_str().unwrap())
    .collect();
  assert_eq!(modes, vec!["dry run", "checks only"], "newest first");
  let outcomes: Vec<&str> = list
    .as_array()
    .unwrap()
    .iter()
    .map(|r| r["outcome"].as_str().unwrap())
    .collect();
  assert_eq!(outcomes, vec!["completed", "completed"]);
}

/// A run that is not recorded, or not named uniquely, is a usage error with a way forward; a
/// rehearsal's drill report is data under `--format json`. Nothing here connects anywhere.
#[test]
fn runs_not_recorded_or_not_unique_are_usage_errors() {
  let test = Test::new();
  let none = test.run_with(&["report", "last", "--drill"]);
  assert_eq!(none.code, crate::test::exit::USAGE, "{}", none.stderr);
  assert!(
    none.stderr.contains("no runs recorded in"),
    "{}",
    none.stderr
  );
  assert!(
    none
      .stderr
      .contains("runs are recorded by `megacity runbook run`"),
    "{}",
    none.stderr
  );
  let rehearse = ["runbook", "run", "redis-outage", "--dry-run", "--yes"];
  assert_eq!(test.run_with(&rehearse).code, crate::test::exit::SUCCESS);
  let unknown = test.run_with(&["journal", "show", "nope"]);
  assert_eq!(unknown.code, crate::test::exit::USAGE, "{}", unknown.stderr);
  assert!(
    unknown.stderr.contains("no run `nope` in"),
    "{}",
    unknown.stderr
  );
  let drill = test
    .run_with(&["--format", "json", "report", "last", "--drill"])
    .json();
  assert_eq!(drill["header"]["mode"], "dry-run");
  assert!(drill["steps"].as_array().unwrap().iter().all(|s| {
    s["results"]
      .as_array()
      .unwrap()
      .iter()
      .all(|r| r == "rehearsed")
  }));
  std::thread::sleep(Duration::from_millis(1100)); // run ids have one-second resolution
  assert_eq!(test.run_with(&rehearse).code, crate::test::exit::SUCCESS);
  let two = test.run_with(&["report", "2", "--postmortem"]);
  assert_eq!(two.code, crate::test::exit::USAGE, "{}", two.stderr);
  assert!(two.stderr.contains("`2` matches 2 runs"), "{}", two.stderr);
  assert!(
    two.stderr.contains("give more of the run id"),
    "{}",
    two.stderr
  );
}

fn slow_runbook(fleet: Fleet, marker_dir: &str) -> Fleet {
  fleet.runbook(
    "long",
    &format!(
      r#"steps:
  - id: one
    title: one
    targets: [host-a]
    check: {{command: 'echo x >> {marker_dir}/one', expect: {{exit_code: 0}}}}
  - id: two
    title: two, slow
    targets: [host-a]
    check: {{command: 'echo x >> {marker_dir}/two; sleep 8', expect: {{exit_code: 0}}}}
    timeout: 2m
  - id: three
    title: three
    targets: [host-a]
    check: {{command: 'echo x >> {marker_dir}/three', expect: {{exit_code: 0}}}}
"#
    ),
  )
}

/// Starts `runbook run long --yes` in the background and waits until step two is running.
fn start_long(fleet: &Fleet) -> std::process::Child {
  let config = fleet.sshd.ssh_config();
  let mut command = fleet.test.command();
  command.args([
    "runbook",
    "run",
    "long",
    "--yes",
    "--ssh-config",
    config.to_str().unwrap(),
  ]);
  let child = command
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
  let two = format!("{}/two", fleet.path("").trim_end_matches('/'));
  let deadline = Instant::now() + Duration::from_secs(20);
  while count(&two) == 0 {
    assert!(Instant::now() < deadline, "step two never started");
    std::thread::sleep(Duration::from_millis(50));
  }
  child
}

fn kill_during_step_two(fleet: &Fleet) {
  let mut child = start_long(fleet);
  std::thread::sleep(Duration::from_millis(300));
  child.kill().unwrap(); // SIGKILL: no handler runs
  child.wait().unwrap();
}

fn count(path: &str) -> usize {
  std::fs::read_to_string(path)
    .map(|t| t.lines().count())
    .unwrap_or(0)
}

#[test]
fn kill_9_leaves_a_readable_journal_and_resume_continues_at_the_right_step() {
  let fleet = Fleet::new();
  let marks = fleet.path("");
  let marks = marks.trim_end_matches('/').to_string();
  let fleet = slow_runbook(fleet, &marks);
  kill_during_step_two(&fleet);
  let show = fleet.test.run_with(&["journal", "show", "last"]);
  assert_eq!(show.code, crate::test::exit::SUCCESS, "{}", show.stderr);
  assert!(show.stdout.contains("did not finish"), "{}", show.stdout);
  assert!(
    show.stdout.contains("`one` on host-a: passed"),
    "{}",
    show.stdout
  );
  let pm = fleet.test.run_with(&["report", "last", "--postmortem"]);
  assert_eq!(pm.code, crate::test::exit::SUCCESS);
  assert!(pm.stdout.contains("did not finish"), "{}", pm.stdout);
  // Simulate a torn last line, as a crash in the middle of a write would leave.
  let file = std::fs::read_dir(journal_dir(&fleet))
    .unwrap()
    .flatten()
    .find(|e| e.path().extension().is_some_and(|x| x == "jsonl"))
    .unwrap()
    .path();
  std::fs::OpenOptions::new()
    .append(true)
    .open(&file)
    .and_then(|mut f| std::io::Write::write_all(&mut f, br#"{"type":"host-res"#))
    .unwrap();
  assert_eq!(
    fleet.test.run_with(&["journal", "show", "last"]).code,
    crate::test::exit::SUCCESS
  );

  let (fleet, run) = fleet.run_plain(&["--resume", "last", "--yes"]);
  assert_eq!(
    run.code,
    crate::test::exit::SUCCESS,
    "{}\n{}",
    run.stdout,
    run.stderr
  );
  assert_eq!(count(&format!("{marks}/one")), 1, "step one ran again");
  assert_eq!(
    count(&format!("{marks}/two")),
    2,
    "step two was interrupted, so it runs again"
  );
  assert_eq!(count(&format!("{marks}/three")), 1);
  let records = journal_records(&fleet);
  let t = types(&records);
  assert_eq!(
    t.iter().filter(|x| *x == "header").count(),
    1,
    "the same journal continues"
  );
  assert!(t.contains(&"resumed".to_string()));
  assert_eq!(records.last().unwrap()["end"], "completed");
}

#[test]
fn resume_refuses_a_run_whose_called_runbook_changed() {
  let fleet = Fleet::new()
    .runbook(
      "inner",
      "steps:\n  - id: look\n    title: look\n    targets: [host-a]\n    check: {command: 'true', expect: {exit_code: 0}}\n",
    )
    .runbook(
      "outer",
      r#"steps:
  - id: call-inner
    title: the inner runbook
    runbook: inner
  - id: stop
    title: stops the run
    targets: [host-a]
    on_failure: abort
    check: {command: 'false', expect: {exit_code: 0}}
"#,
    );
  let (fleet, run) = fleet.run("outer", &["--yes"]);
  assert_eq!(run.code, crate::test::exit::FAILURE, "{}", run.stdout);
  assert!(run.stdout.contains("stopped early"), "{}", run.stdout);
  let path = fleet.test.path("runbooks/inner.yaml");
  let text = std::fs::read_to_string(&path)
    .unwrap()
    .replace("title: look", "title: look again");
  std::fs::write(&path, text).unwrap();
  let (_fleet, run) = fleet.run_plain(&["--resume", "last", "--yes"]);
  assert_eq!(
    run.code,
    crate::test::exit::USAGE,
    "{}\n{}",
    run.stdout,
    run.stderr
  );
  assert!(run.stderr.contains("changed since run"), "{}", run.stderr);
}

#[test]
fn resume_refuses_a_runbook_that_changed() {
  let fleet = Fleet::new();
  let marks = fleet.path("");
  let marks = marks.trim_end_matches('/').to_string();
  let fleet = slow_runbook(fleet, &marks);
  kill_during_step_two(&fleet);
  let path = fleet.test.path("runbooks/long.yaml");
  let text = std::fs::read_to_string(&path)
    .unwrap()
    .replace("title: three", "title: three, changed");
  std::fs::write(&path, text).unwrap();
  let (fleet, run) = fleet.run_plain(&["--resume", "last", "--yes"]);
  assert_eq!(run.code, crate::test::exit::USAGE, "{}", run.stdout);
  assert!(run.stderr.contains("changed since run"), "{}", run.stderr);
  assert!(run.stderr.contains("--resume-changed"), "{}", run.stderr);
  assert_eq!(count(&format!("{marks}/three")), 0);
  let (_fleet, run) = fleet.run_plain(&["--resume", "last", "--yes", "--resume-changed"]);
  assert_eq!(
    run.code,
    crate::test::exit::SUCCESS,
    "{}\n{}",
    run.stdout,
    run.stderr
  );
  assert!(run.stdout.contains("three, changed"), "{}", run.stdout);
  assert_eq!(count(&format!("{marks}/three")), 1);
}

#[test]
fn escalation_rungs_are_announced_and_recorded_in_order() {
  let fleet = Fleet::new().runbook(
    "ladder",
    r#"escalation:
  - after: 1s
    to: Senior SRE
  - after: 2s
    to: CTO
steps:
  - id: wait
    title: wait
    targets: [host-a]
    check: {command: 'sleep 3', expect: {exit_code: 0}}
"#,
  );
  let (fleet, run) = fleet.run("ladder", &["--yes"]);
  assert_eq!(run.code, crate::test::exit::SUCCESS, "{}", run.stdout);
  assert!(
    run
      .stdout
      .contains("ESCALATE: 1s elapsed: escalate to Senior SRE"),
    "{}",
    run.stdout
  );
  assert!(run.stdout.contains("escalate to CTO"), "{}", run.stdout);
  let records = journal_records(&fleet);
  let rungs: Vec<&str> = records
    .iter()
    .filter(|r| r["type"] == "escalation")
    .map(|r| r["to"].as_str().unwrap())
    .collect();
  assert_eq!(rungs, vec!["Senior SRE", "CTO"]);
}

#[test]
fn notes_typed_at_prompts_reach_the_journal_and_both_reports_in_order() {
  let fleet = heal_fleet();
  let mut command = fleet.test.command();
  let config = fleet.sshd.ssh_config();
  command.args([
    "--color",
    "never",
    "runbook",
    "run",
    "heal",
    "--ssh-config",
    config.to_str().unwrap(),
  ]);
  let mut s = spawn_command(command, Some(30_000)).unwrap();
  s.exp_string("Run it?").unwrap();
  crate::test::answer(&mut s, "note replication lag 30s");
  s.exp_string("noted: replication lag 30s").unwrap();
  s.exp_string("Run it?").unwrap();
  crate::test::answer(&mut s, "yes");
  let rest = s.exp_eof().unwrap();
  // Said once, when typed.
  assert!(!rest.contains("noted"), "{rest}");
  let records = journal_records(&fleet);
  let note = records
    .iter()
    .find(|r| r["type"] == "note")
    .expect("a note record");
  assert_eq!(
    (note["text"].as_str(), note["step"].as_str()),
    (Some("replication lag 30s"), Some("fix"))
  );
  // A person answered this one: the record says when the prompt appeared, before the answer.
  let decision = records.iter().find(|r| r["type"] == "decision").unwrap();
  let shown = decision["shown"].as_str().expect("a shown time");
  assert_eq!(decision["by"], "operator", "{decision}");
  assert!(shown <= decision["t"].as_str().unwrap(), "{decision}");
  let pm = fleet.test.run_with(&["report", "last", "--postmortem"]);
  assert_eq!(pm.code, crate::test::exit::SUCCESS, "{}", pm.stderr);
  let at = |needle: &str| {
    pm.stdout
      .find(needle)
      .unwrap_or_else(|| panic!("no {needle:?} in\n{}", pm.stdout))
  };
  assert!(at("`probe` on host-a: FAILED") < at("note (at `fix`): replication lag 30s"));
  assert!(
    at("note (at `fix`): replication lag 30s") < at("decision on `fix` on host-a (confirm): yes")
  );
  assert!(at("decision on `fix`") < at("`verify` on host-a: passed"));
  assert!(
    pm.stdout
      .contains("(confirm): yes — by the operator (asked at "),
    "{}",
    pm.stdout
  );
  for section in [
    "## Basic information",
    "## Timeline (UTC)",
    "## Root cause (5 whys)",
    "## Action items",
    "## Lessons learned",
    "| Severity | P2",
  ] {
    assert!(pm.stdout.contains(section), "no {section} in postmortem");
  }
  let drill = fleet.test.run_with(&["report", "last", "--drill"]);
  assert!(
    drill.stdout.contains("| `fix` | action |"),
    "{}",
    drill.stdout
  );
  assert!(
    drill.stdout.contains("note: replication lag 30s"),
    "{}",
    drill.stdout
  );
  assert!(
    drill.stdout.contains("| Recovery time (RTO) | within 4h |"),
    "{}",
    drill.stdout
  );
}

#[test]
fn a_journal_has_one_writer() {
  let fleet = Fleet::new();
  let marks = fleet.path("");
  let marks = marks.trim_end_matches('/').to_string();
  let fleet = slow_runbook(fleet, &marks);
  let mut child = start_long(&fleet);
  let config = fleet.sshd.ssh_config();
  let second = fleet.test.run_with(&[
    "runbook",
    "run",
    "--resume",
    "last",
    "--yes",
    "--ssh-config",
    config.to_str().unwrap(),
  ]);
  assert_eq!(second.code, crate::test::exit::ERROR, "{}", second.stderr);
  assert!(
    second.stderr.contains("being written by another megacity"),
    "{}",
    second.stderr
  );
  assert_eq!(child.wait().unwrap().code(), Some(0));
  assert_eq!(count(&format!("{marks}/three")), 1);
}

/// A tmpfs of `size` on a fresh directory, unmounted when dropped (by a failing test too).
/// Mounting needs root, which CI has; without it the test fails saying so.
struct Tmpfs {
  dir: tempfile::TempDir,
}

impl Tmpfs {
  fn mount(size: &str) -> Tmpfs {
    // SAFETY: geteuid has no preconditions.
    let uid = unsafe { libc::geteuid() };
    assert_eq!(
      uid, 0,
      "this test mounts a tmpfs to fill a disk: run it as root (CI does)"
    );
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new("mount")
      .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
      .arg(dir.path())
      .output()
      .expect("`mount` runs (apt-get install mount)");
    assert!(
      out.status.success(),
      "mount -t tmpfs failed: {}",
      String::from_utf8_lossy(&out.stderr)
    );
    Tmpfs { dir }
  }

  fn path(&self, relative: &str) -> PathBuf {
    self.dir.path().join(relative)
  }

  /// Writes zeros into `name` until the filesystem is full.
  fn fill(&self, name: &str) {
    use std::io::Write;
    let mut file = std::fs::File::create(self.path(name)).unwrap();
    let chunk = vec![0u8; 64 * 1024];
    loop {
      match file.write_all(&chunk) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::StorageFull => break,
        Err(e) => panic!("filling the tmpfs: {e}"),
      }
    }
  }

  fn remount_read_only(&self) {
    let out = std::process::Command::new("mount")
      .args(["-o", "remount,ro"])
      .arg(self.dir.path())
      .output()
      .unwrap();
    assert!(
      out.status.success(),
      "{}",
      String::from_utf8_lossy(&out.stderr)
    );
  }
}

impl Drop for Tmpfs {
  fn drop(&mut self) {
    let umount = |lazy: bool| {
      let mut command = std::process::Command::new("umount");
      if lazy {
        command.arg("-l");
      }
      command
        .arg(self.dir.path())
        .status()
        .is_ok_and(|s| s.success())
    };
    // A megacity still holding a file there (a failed test) makes it busy: detach it then.
    if !umount(false) && !umount(true) {
      eprintln!("could not unmount {}", self.dir.path().display());
    }
  }
}

fn jsonl_files(dir: &Path) -> Vec<PathBuf> {
  let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
    .unwrap()
    .flatten()
    .map(|e| e.path())
    .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
    .collect();
  files.sort();
  files
}

fn read_records(path: &Path) -> Vec<serde_json::Value> {
  std::fs::read_to_string(path)
    .unwrap()
    .lines()
    .filter_map(|l| serde_json::from_str(l).ok())
    .collect()
}

/// A local runbook whose check leaves `mark` behind when it runs.
fn marking_runbook(mark: &Path) -> String {
  format!(
    "id: calm\ntitle: Calm\nseverity: P3\nsteps:\n  - id: look\n    title: look\n    targets: [local]\n    check: {{command: 'touch {}', expect: {{exit_code: 0}}}}\n",
    mark.display()
  )
}

/// A journal directory on a full disk: every kind of run is refused before it starts, says why
/// on one line with a way forward, exits 4, runs nothing and leaves no journal; the previous
/// run is still `last`.
#[test]
fn a_full_journal_disk_refuses_the_run_before_it_starts() {
  let tmpfs = Tmpfs::mount("8m");
  let journal = tmpfs.path("journal");
  let test = Test::new();
  let mark = test.path("looked");
  let test = test
    .write("runbooks/calm.yaml", &marking_runbook(&mark))
    .env("MEGACITY_JOURNAL_DIR", journal.to_str().unwrap());
  let first = test.run_with(&["runbook", "run", "calm", "--yes"]);
  assert_eq!(first.code, crate::test::exit::SUCCESS, "{}", first.stderr);
  let previous = jsonl_files(&journal);
  assert_eq!(previous.len(), 1);
  std::fs::remove_file(&mark).unwrap();

  tmpfs.fill("fill");
  for mode in [&["--yes"][..], &["--checks-only"], &["--dry-run", "--yes"]] {
    let mut args = vec!["--color", "never", "runbook", "run", "calm"];
    args.extend_from_slice(mode);
    let run = test.run_with(&args);
    assert_eq!(
      run.code,
      crate::test::exit::ERROR,
      "{mode:?}\n{}\n{}",
      run.stdout,
      run.stderr
    );
    let why: Vec<&str> = run
      .stderr
      .lines()
      .filter(|l| l.contains("did not start"))
      .collect();
    assert_eq!(why.len(), 1, "{mode:?}: {}", run.stderr);
    assert!(
      why[0].contains(&format!(
        "the journal directory {} has 0 B free, and a run needs 4.0 MiB for its record",
        journal.display()
      )),
      "{}",
      why[0]
    );
    assert!(
      run.stderr.contains("point --journal-dir"),
      "{mode:?}: {}",
      run.stderr
    );
    assert!(!mark.exists(), "{mode:?}: the check ran");
    assert_eq!(jsonl_files(&journal), previous, "{mode:?} left a journal");
  }
  let show = test.run_with(&["journal", "show", "last"]);
  assert_eq!(show.code, crate::test::exit::SUCCESS, "{}", show.stderr);
  assert_eq!(
    show.stdout.lines().next(),
    Some(previous[0].to_str().unwrap()),
    "{}",
    show.stdout
  );
}

/// A read-only journal directory refuses the run the same way.
#[test]
fn a_read_only_journal_directory_refuses_the_run() {
  let tmpfs = Tmpfs::mount("8m");
  let journal = tmpfs.path("journal");
  std::fs::create_dir(&journal).unwrap();
  tmpfs.remount_read_only();
  let test = Test::new();
  let mark = test.path("looked");
  let test = test
    .write("runbooks/calm.yaml", &marking_runbook(&mark))
    .env("MEGACITY_JOURNAL_DIR", journal.to_str().unwrap());
  let run = test.run_with(&["runbook", "run", "calm", "--checks-only"]);
  assert_eq!(run.code, crate::test::exit::ERROR, "{}", run.stderr);
  assert!(
    run.stderr.contains(&format!(
      "the run did not start: the journal directory {} is on a read-only filesystem",
      journal.display()
    )),
    "{}",
    run.stderr
  );
  assert!(!mark.exists(), "the check ran");
  assert!(jsonl_files(&journal).is_empty());
}

/// The disk fills during a run (its first check fills it): the run stops before its action,
/// exits 4, and the journal reads back, ending with why it stopped.
#[test]
fn a_disk_that_fills_mid_run_stops_the_run_before_its_action() {
  let tmpfs = Tmpfs::mount("8m");
  let journal = tmpfs.path("journal");
  let test = Test::new();
  let acted = test.path("acted");
  let runbook = format!(
    "id: filling\ntitle: Filling\nseverity: P3\nsteps:\n  - id: fill-disk\n    title: the disk fills\n    targets: [local]\n    check: {{command: 'head -c 64M /dev/zero > {fill} 2>/dev/null; true', expect: {{exit_code: 0}}}}\n  - id: act\n    title: change something\n    targets: [local]\n    action: {{command: 'touch {acted}'}}\n",
    fill = tmpfs.path("fill").display(),
    acted = acted.display()
  );
  let test = test
    .write("runbooks/filling.yaml", &runbook)
    .env("MEGACITY_JOURNAL_DIR", journal.to_str().unwrap());
  let run = test.run_with(&["--color", "never", "runbook", "run", "filling", "--yes"]);
  assert_eq!(
    run.code,
    crate::test::exit::ERROR,
    "{}\n{}",
    run.stdout,
    run.stderr
  );
  assert!(!acted.exists(), "the action ran without a record");
  assert!(
    run.stderr.contains("the record is incomplete"),
    "{}",
    run.stderr
  );
  let files = jsonl_files(&journal);
  assert_eq!(files.len(), 1);
  let records = read_records(&files[0]);
  assert_eq!(
    records.len(),
    std::fs::read_to_string(&files[0]).unwrap().lines().count(),
    "every line of the journal parses"
  );
  let fill = records
    .iter()
    .find(|r| r["type"] == "host-result" && r["step"] == "fill-disk")
    .expect("the check's result is recorded");
  assert_eq!(fill["outcome"], "passed");
  assert!(
    !records
      .iter()
      .any(|r| r["step"] == "act" && r["type"] != "notice"),
    "{records:?}"
  );
  let stops = records
    .iter()
    .position(|r| {
      r["type"] == "notice"
        && r["text"]
          .as_str()
          .unwrap()
          .starts_with("the record stops here: cannot write")
    })
    .expect("the journal says why it stops");
  assert!(
    records[stops]["text"]
      .as_str()
      .unwrap()
      .contains("left on its filesystem"),
    "{}",
    records[stops]
  );
  let last = records.last().unwrap();
  assert_eq!(
    (last["type"].as_str(), last["end"].as_str()),
    (Some("end"), Some("stopped")),
    "{last}"
  );
  assert_eq!(last["exit_code"], crate::test::exit::ERROR);
  let show = test.run_with(&["journal", "show", "last"]);
  assert_eq!(show.code, crate::test::exit::SUCCESS, "{}", show.stderr);
  assert!(
    show.stdout.contains("the record stops here"),
    "{}",
    show.stdout
  );
}

/// A side file that cannot be written (a file stands where its directory goes) stops the run
/// like a journal record that cannot be written: before the action, exit 4, and said.
#[test]
fn a_side_file_that_cannot_be_written_stops_the_run_before_its_action() {
  let test = Test::new();
  let acted = test.path("acted");
  let journal = test.path("journal");
  // The check blocks its own side file, then prints more than the journal keeps inline.
  let runbook = format!(
    "id: loud\ntitle: Loud\nseverity: P3\nsteps:\n  - id: talk\n    title: a long output\n    targets: [local]\n    check: {{command: 'for j in {journal}/*.jsonl; do : > \"${{j%.jsonl}}.out\"; done; seq 20000', expect: {{exit_code: 0}}}}\n  - id: act\n    title: change something\n    targets: [local]\n    action: {{command: 'touch {acted}'}}\n",
    journal = journal.display(),
    acted = acted.display()
  );
  let test = test
    .write("runbooks/loud.yaml", &runbook)
    .env("MEGACITY_JOURNAL_DIR", journal.to_str().unwrap());
  let run = test.run_with(&["--color", "never", "runbook", "run", "loud", "--yes"]);
  assert_eq!(
    run.code,
    crate::test::exit::ERROR,
    "{}\n{}",
    run.stdout,
    run.stderr
  );
  assert!(!acted.exists(), "the action ran without a full record");
  let files = jsonl_files(&journal);
  let records = read_records(&files[0]);
  let talk = records
    .iter()
    .find(|r| r["type"] == "host-result" && r["step"] == "talk")
    .expect("the check's result is recorded");
  assert_eq!(talk["output_file"], serde_json::Value::Null);
  assert!(talk["stdout"].as_str().unwrap().ends_with("20000\n"));
  // The notice right after the result names the side file's directory and why.
  let side = files[0].with_extension("out");
  let at = records
    .iter()
    .position(|r| r["type"] == "host-result" && r["step"] == "talk")
    .unwrap();
  let why = records[at + 1]["text"].as_str().unwrap_or_default();
  assert!(
    why.starts_with(&format!(
      "the record stops here: cannot write {}: ",
      side.display()
    )),
    "{records:?}"
  );
  assert_eq!(
    records.last().unwrap()["exit_code"],
    crate::test::exit::ERROR
  );
}

#[test]
fn journal_show_output_prints_what_a_step_printed_on_a_host() {
  let fleet = crate::fleet::Fleet::new().runbook(
    "talk",
    "steps:\n  - id: say\n    title: say\n    targets: [host-a]\n    check: {command: 'seq 1 3000; echo done-on-stderr >&2', expect: {exit_code: 0}}\n",
  );
  let (fleet, run) = fleet.run("talk", &["--checks-only"]);
  assert_eq!(run.code, 0, "{}", run.stderr);
  let test = fleet
    .test
    .args(["journal", "show", "last", "--output", "say", "host-a"]);
  let shown = test.run();
  assert_eq!(shown.code, 0, "{}", shown.stderr);
  // The whole output (it was long: from the side file), not the record's tail.
  assert!(
    shown.stdout.contains("\n1\n2\n3\n"),
    "{}",
    &shown.stdout[..200.min(shown.stdout.len())]
  );
  assert!(shown.stdout.contains("3000"), "{}", shown.stdout.len());
  assert!(shown.stdout.contains("done-on-stderr"));
  let missing = test
    .reset()
    .args(["journal", "show", "last", "--output", "say", "host-b"])
    .run();
  assert_eq!(missing.code, crate::test::exit::USAGE);
  assert!(
    missing.stderr.contains("recorded: say host-a"),
    "{}",
    missing.stderr
  );
}

/// `doctor` says what blocks a run — a full journal directory, a name nothing resolves — each
/// with its fix, and exits 0 once they are mended.
#[test]
fn doctor_finds_a_full_journal_directory_and_an_unknown_name_and_passes_once_mended() {
  let fleet = crate::fleet::Fleet::new();
  let config = fleet.sshd.ssh_config().display().to_string();
  let full = Tmpfs::mount("1m");
  full.fill("filler");
  let inventory = fleet.path("ghosts.yaml");
  std::fs::write(
    &inventory,
    "hosts:\n  - name: host-a\n    groups: [web]\n  - name: ghost-01\n",
  )
  .unwrap();
  let crate::fleet::Fleet { test, sshd } = fleet;
  let journal_dir = full.path("journal").display().to_string();
  let test = test.args([
    "--color",
    "never",
    "--inventory",
    &inventory,
    "--journal-dir",
    &journal_dir,
    "doctor",
    "host-a",
    "ghost-01",
    "--ssh-config",
    &config,
  ]);
  let run = test.run();
  assert_eq!(run.code, crate::test::exit::FAILURE, "{}", run.stdout);
  assert!(run.stdout.contains("✘ [local] journal:"), "{}", run.stdout);
  assert!(run.stdout.contains("free space there"), "{}", run.stdout);
  assert!(
    run
      .stdout
      .contains("✘ [ghost-01] name: ghost-01 does not resolve"),
    "{}",
    run.stdout
  );
  assert!(
    run
      .stdout
      .contains("add `Host ghost-01` with `HostName <address>`"),
    "{}",
    run.stdout
  );
  // Mended: a journal directory with room, and only hosts that resolve.
  let room = test.path("journal");
  let test = test.reset().args([
    "--color",
    "never",
    "--inventory",
    &inventory,
    "--journal-dir",
    room.to_str().unwrap(),
    "doctor",
    "host-a",
    "--ssh-config",
    &config,
  ]);
  let run = test.run();
  assert_eq!(
    run.code,
    crate::test::exit::SUCCESS,
    "{}\n{}",
    run.stdout,
    run.stderr
  );
  assert!(
    run.stderr.contains("nothing blocks a run"),
    "{}",
    run.stderr
  );
  drop(sshd);
}
