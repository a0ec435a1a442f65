//! `--format json` on every command: valid JSON on stdout, or refused as a usage error.

use crate::test::{Run, Test};

const USAGE: i32 = 2;

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
    assert_eq!(run.code, 0, "{args:?}: {}", run.stderr);
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
