//! `--format json` on every command: valid JSON on stdout, or refused as a usage error.

use crate::test::{Run, Test};

use crate::test::exit::USAGE;

/// A scratch directory whose runtime directory is private to it, so `connections` reads no
/// other test's kept masters.
fn test() -> Test {
  let test = Test::new();
  let runtime = test.path("rt");
  std::fs::create_dir(&runtime).unwrap();
  std::fs::set_permissions(
    &runtime,
    std::os::unix::fs::PermissionsExt::from_mode(0o700),
  )
  .unwrap();
  test.env("XDG_RUNTIME_DIR", runtime.to_str().unwrap())
}

fn json(args: &[&str]) -> (Run, serde_json::Value) {
  let run = test().arg("--format").arg("json").args(args).run();
  let value = serde_json::from_str(&run.stdout).unwrap_or_else(|e| {
    panic!(
      "{args:?} (exit {}): stdout is not JSON ({e})\n--- stdout\n{}\n--- stderr\n{}",
      run.code, run.stdout, run.stderr
    )
  });
  (run, value)
}

#[test]
fn data_commands_print_json() {
  let commands: &[&[&str]] = &[
    &["runbook", "list"],
    &["runbook", "show", "redis-outage"],
    &[
      "runbook",
      "show",
      "redis-outage",
      "--step",
      "ping-after-restart",
    ],
    &["runbook", "validate"],
    &["runbook", "validate", "redis-outage"],
    &["hosts", "list"],
    &["hosts", "list", "redis"],
    &["connections", "list"],
    &["connections", "close"],
  ];
  for args in commands {
    let (run, _) = json(args);
    assert_eq!(
      run.code,
      crate::test::exit::SUCCESS,
      "{args:?}: {}",
      run.stderr
    );
  }
}

#[test]
fn connections_json_shapes() {
  let (_, list) = json(&["connections", "list"]);
  assert_eq!(list, serde_json::json!([]));
  let (_, closed) = json(&["connections", "close"]);
  assert_eq!(closed, serde_json::json!({"closed": [], "warnings": []}));
}

#[test]
fn a_failed_validation_is_still_json() {
  let test = test().write("runbooks/broken.yaml", "id: broken\ntitle: [\n");
  let run = test
    .args(["--format", "json", "runbook", "validate", "broken"])
    .expect_code(USAGE);
  let json = run.json();
  assert_eq!(json["runbooks"][0]["valid"], false, "{json}");
  assert!(json["errors"].as_u64().unwrap() >= 1, "{json}");
}

#[test]
fn completions_refuse_json_as_a_usage_error() {
  let run = test()
    .args([
      "--color",
      "never",
      "--format",
      "json",
      "completions",
      "bash",
    ])
    .expect_code(USAGE);
  assert_eq!(run.stdout, "");
  assert_eq!(
    run.stderr,
    "error: `megacity completions` has no JSON output\n"
  );
}

#[test]
fn a_run_prints_its_records_as_json_lines_and_people_read_stderr() {
  let test = test();
  let journal = test.path("journal");
  let test = test
    .args([
      "--format",
      "json",
      "--journal-dir",
      journal.to_str().unwrap(),
    ])
    .args(["runbook", "run", "redis-outage", "--dry-run", "--yes"]);
  let run = test.run();
  assert_eq!(run.code, crate::test::exit::SUCCESS, "{}", run.stderr);
  let records: Vec<serde_json::Value> = run
    .stdout
    .lines()
    .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
    .collect();
  assert_eq!(records[0]["type"], "header");
  assert_eq!(records.last().unwrap()["type"], "end");
  assert!(records.iter().any(|r| r["type"] == "would-run"));
  // The same records as the journal, in the same order.
  let file = std::fs::read_dir(&journal)
    .unwrap()
    .flatten()
    .find(|e| e.path().extension().is_some_and(|x| x == "jsonl"))
    .unwrap()
    .path();
  assert_eq!(std::fs::read_to_string(file).unwrap(), run.stdout);
  assert!(run.stderr.contains("[dry-run]"), "{}", run.stderr);
}

#[test]
fn the_journal_and_reports_answer_json_and_an_empty_journal_is_a_usage_error() {
  let (run, _) = json(&["journal", "list"]);
  assert_eq!(run.code, crate::test::exit::SUCCESS, "{}", run.stderr);
  let run = test()
    .args(["--format", "json", "report", "last", "--drill"])
    .run();
  assert_eq!(run.code, USAGE, "{}", run.stderr);
  assert!(run.stderr.contains("no runs recorded"), "{}", run.stderr);
}

#[test]
fn a_bidi_override_in_a_step_title_reaches_the_run_output_escaped() {
  let test = test().write(
    "runbooks/bidi.yaml",
    "id: bidi\ntitle: bidi\nseverity: P3\nsteps:\n  - id: fix\n    title: \"restart \u{202e}db-primary\"\n    targets: [local]\n    action: {command: 'true'}\n",
  );
  let run = test
    .args(["runbook", "run", "bidi", "--dry-run", "--yes"])
    .run();
  assert_eq!(run.code, crate::test::exit::SUCCESS, "{}", run.stderr);
  let all = format!("{}{}", run.stdout, run.stderr);
  assert!(
    !all.contains('\u{202e}'),
    "a raw U+202E reached the terminal: {all}"
  );
  assert!(all.contains("restart \\u{202e}db-primary"), "{all}");
}

#[test]
fn a_wrong_ssh_config_or_journal_dir_is_said_before_anything_runs() {
  let test = test();
  let run = test.run_with(&[
    "runbook",
    "run",
    "redis-outage",
    "--checks-only",
    "--ssh-config",
    "/nonexistent/ssh_config",
  ]);
  assert_eq!(run.code, USAGE, "{}", run.stderr);
  assert!(
    run
      .stderr
      .contains("cannot read the ssh_config /nonexistent/ssh_config"),
    "{}",
    run.stderr
  );
  assert!(
    !run.stdout.contains("redis-ping"),
    "it started: {}",
    run.stdout
  );
  let file = test.path("a-file");
  std::fs::write(&file, "").unwrap();
  let run = test.run_with(&[
    "--journal-dir",
    file.to_str().unwrap(),
    "runbook",
    "run",
    "redis-outage",
    "--dry-run",
    "--yes",
  ]);
  assert_eq!(run.code, crate::test::exit::ERROR, "{}", run.stderr);
  assert!(run.stderr.contains("is not a directory"), "{}", run.stderr);
  assert!(!run.stderr.contains("cannot read"), "{}", run.stderr);
}

#[test]
fn a_closed_stdout_or_stderr_never_panics() {
  let bin = crate::test::BIN;
  for (pipe, expected) in [
    ("runbook list | head -1", 0),
    ("runbook run redis-outage --dry-run --yes 2>&1 | head -1", 0),
    ("runbook run no-such-runbook 2>&1 | head -c 1", 2),
  ] {
    let script = format!("{bin} {pipe} ; echo \"exit=${{PIPESTATUS[0]}}\" >&2");
    let out = std::process::Command::new("bash")
      .arg("-c")
      .arg(&script)
      .env("HOME", std::env::temp_dir())
      .output()
      .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{pipe}: {stderr}");
    assert!(
      stderr.contains(&format!("exit={expected}")),
      "{pipe}: {stderr}"
    );
  }
}

#[test]
fn devices_fifos_and_missing_files_are_refused_at_once() {
  let test = test();
  let fifo = test.path("inventory.fifo");
  let made = std::process::Command::new("mkfifo")
    .arg(&fifo)
    .status()
    .unwrap();
  assert!(made.success());
  for inventory in [fifo.to_str().unwrap(), "/dev/zero"] {
    let run = test.run_with(&["--inventory", inventory, "hosts", "list"]);
    assert_eq!(run.code, USAGE, "{inventory}: {}", run.stderr);
    assert!(
      run.stderr.contains("is not a regular file"),
      "{}",
      run.stderr
    );
  }
  let run = test.run_with(&[
    "--inventory",
    "/nonexistent/inventory.yaml",
    "hosts",
    "list",
  ]);
  assert_eq!(run.code, USAGE, "{}", run.stderr);
  assert!(run.stderr.contains("does not exist"), "{}", run.stderr);
}

/// The README's test command refuses to start without root, saying how to run it, before it
/// builds or runs anything.
#[test]
fn the_test_command_says_what_it_needs_without_root() {
  let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/test");
  let out = std::process::Command::new("setpriv")
    .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
    .arg(&script)
    .output()
    .expect("setpriv runs (util-linux)");
  let stderr = String::from_utf8_lossy(&out.stderr);
  assert_eq!(out.status.code(), Some(2), "{stderr}");
  assert!(stderr.contains("sudo"), "{stderr}");
}
