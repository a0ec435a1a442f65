//! `runbook run` and `hosts check` over a real sshd.

use std::path::Path;
use std::time::Duration;

use crate::fleet::{Fleet, still_running};
use crate::test::Test;

fn exists(path: &str) -> bool {
  Path::new(path).exists()
}

#[test]
fn checks_pass_and_fail_with_every_kind_of_expectation() {
  let fleet = Fleet::new().runbook(
    "checks",
    r#"steps:
  - id: exit-ok
    title: exit code
    targets: [host-a]
    check: {command: 'exit 0', expect: {exit_code: 0}}
  - id: exit-bad
    title: exit code fails
    targets: [host-a]
    check: {command: 'exit 3', expect: {exit_code: 0}}
  - id: stdout-ok
    title: stdout matches
    targets: [host-a]
    check: {command: 'echo PONG', expect: {stdout_matches: '^PONG'}}
  - id: stdout-bad
    title: stdout must not match
    targets: [host-a]
    check: {command: 'echo LOADING', expect: {stdout_not_matches: 'LOADING'}}
  - id: stderr-ok
    title: stderr matches
    targets: [host-a]
    check: {command: 'echo warn >&2', expect: {stderr_matches: 'warn'}}
  - id: stderr-bad
    title: stderr must not match
    targets: [host-a]
    check: {command: 'echo denied >&2', expect: {stderr_not_matches: 'denied'}}
  - id: disk-ok
    title: threshold holds
    targets: [host-a]
    check:
      command: echo 42%
      expect: {thresholds: [{name: disk, regex: '(\d+)%', max: 80, unit: '%'}]}
  - id: disk-bad
    title: threshold breached
    targets: [host-a]
    check:
      command: echo 91%
      expect: {thresholds: [{name: disk, regex: '(\d+)%', max: 80, unit: '%'}]}
"#,
  );
  let (fleet, run) = fleet.run("checks", &["--yes"]);
  assert_eq!(
    run.code,
    crate::test::exit::FAILURE,
    "{}\n{}",
    run.stdout,
    run.stderr
  );
  let line = |id: &str| {
    run
      .stdout
      .lines()
      .skip_while(|l| !l.contains(&format!("] {id} ")))
      .nth(1)
      .unwrap_or("")
      .to_string()
  };
  for id in ["exit-ok", "stdout-ok", "stderr-ok", "disk-ok"] {
    assert!(
      line(id).contains("passed"),
      "{id}: {}\n{}",
      line(id),
      run.stdout
    );
  }
  for id in ["exit-bad", "stdout-bad", "stderr-bad", "disk-bad"] {
    assert!(
      line(id).contains("failed"),
      "{id}: {}\n{}",
      line(id),
      run.stdout
    );
  }
  assert!(
    run.stdout.contains("exit code 3, expected 0"),
    "{}",
    run.stdout
  );
  assert!(
    run.stdout.contains("disk = 91%, above the maximum 80%"),
    "{}",
    run.stdout
  );
  assert!(
    run.stdout.contains("disk = 42% (wanted ≤ 80%)"),
    "{}",
    run.stdout
  );
  fleet.assert_clean();
}

#[test]
fn failed_check_leads_to_action_then_verification() {
  let fleet = Fleet::new();
  let flag = fleet.path("healthy");
  let fleet = fleet.runbook(
    "heal",
    &format!(
      r#"steps:
  - id: probe
    title: healthy?
    targets: [web]
    check: {{command: 'test -e {flag}', expect: {{exit_code: 0}}}}
  - id: fix
    title: make healthy
    targets: [web]
    when: {{failed: probe}}
    action: {{command: 'touch {flag}'}}
  - id: verify
    title: healthy now
    targets: [web]
    check: {{command: 'test -e {flag}', expect: {{exit_code: 0}}}}
"#
    ),
  );
  let logins = fleet.sshd.logins();
  let (fleet, run) = fleet.run("heal", &["--yes"]);
  assert_eq!(
    run.code,
    crate::test::exit::SUCCESS,
    "{}\n{}",
    run.stdout,
    run.stderr
  );
  assert!(exists(&flag));
  // One master per host, opened by the preflight and reused by all three steps.
  assert_eq!(fleet.sshd.logins() - logins, 2, "{}", fleet.sshd.log());
  // The action ran once per failing host; both hosts share this machine, so the second may
  // already be healthy — but the first must have failed and been fixed.
  assert!(run.stdout.contains("[host-a] ✘ failed"), "{}", run.stdout);
  assert!(run.stdout.contains("verify"), "{}", run.stdout);
  fleet.assert_clean();
}

fn marker_runbook(fleet: Fleet, destructive: bool) -> (Fleet, String) {
  let marker = fleet.path("marker");
  let fleet = fleet.runbook(
    "mark",
    &format!(
      r#"steps:
  - id: look
    title: look
    targets: [host-a]
    check: {{command: 'true', expect: {{exit_code: 0}}}}
  - id: change
    title: change something
    targets: [host-a]
    action: {{command: 'touch {marker}', confirm: 'Touch it on {{{{host}}}}?', destructive: {destructive}}}
"#
    ),
  );
  (fleet, marker)
}

#[test]
fn refuses_without_a_terminal_and_without_yes_before_connecting() {
  let (fleet, marker) = marker_runbook(Fleet::new(), false);
  let before = fleet.sshd.connections();
  let (fleet, run) = fleet.run("mark", &[]);
  assert_eq!(run.code, crate::test::exit::USAGE, "{}", run.stderr);
  assert!(run.stderr.contains("pass --yes"), "{}", run.stderr);
  assert!(!exists(&marker));
  assert_eq!(
    fleet.sshd.connections(),
    before,
    "it connected before refusing"
  );
  fleet.assert_clean();
}

#[test]
fn yes_runs_ordinary_actions() {
  let (fleet, marker) = marker_runbook(Fleet::new(), false);
  let (fleet, run) = fleet.run("mark", &["--yes"]);
  assert_eq!(
    run.code,
    crate::test::exit::SUCCESS,
    "{}\n{}",
    run.stdout,
    run.stderr
  );
  assert!(exists(&marker));
  fleet.assert_clean();
}

#[test]
fn destructive_actions_need_their_own_flag_when_unattended() {
  let (fleet, marker) = marker_runbook(Fleet::new(), true);
  let (fleet, run) = fleet.run("mark", &["--yes"]);
  assert!(
    !exists(&marker),
    "a destructive action ran with --yes alone"
  );
  assert!(run.stdout.contains("--yes-destructive"), "{}", run.stdout);
  assert!(run.stdout.contains("declined"), "{}", run.stdout);
  let (fleet, run) = fleet.run("mark", &["--yes", "--yes-destructive"]);
  assert_eq!(
    run.code,
    crate::test::exit::SUCCESS,
    "{}\n{}",
    run.stdout,
    run.stderr
  );
  assert!(exists(&marker));
  fleet.assert_clean();
}

#[test]
fn dry_run_opens_no_connection_and_runs_nothing() {
  let (fleet, marker) = marker_runbook(Fleet::new(), true);
  let before = (fleet.sshd.connections(), fleet.sshd.logins());
  let (fleet, run) = fleet.run("mark", &["--dry-run", "--yes"]);
  assert_eq!(
    run.code,
    crate::test::exit::SUCCESS,
    "{}\n{}",
    run.stdout,
    run.stderr
  );
  assert!(!exists(&marker));
  assert_eq!(
    (fleet.sshd.connections(), fleet.sshd.logins()),
    before,
    "sshd saw a connection"
  );
  assert!(
    run
      .stdout
      .lines()
      .filter(|l| !l.trim().is_empty())
      .all(|l| l.starts_with("[dry-run]")),
    "{}",
    run.stdout
  );
  assert!(
    run.stdout.contains(&format!("would run: $ touch {marker}")),
    "{}",
    run.stdout
  );
  fleet.assert_clean();
}

#[test]
fn checks_only_never_runs_an_action_and_says_what_would_have_run() {
  let fleet = Fleet::new();
  let marker = fleet.path("marker");
  let fleet = fleet.runbook(
    "triage",
    &format!(
      r#"steps:
  - id: probe
    title: probe
    targets: [host-a]
    check: {{command: 'false', expect: {{exit_code: 0}}}}
  - id: fix
    title: fix
    targets: [host-a]
    when: {{failed: probe}}
    action: {{command: 'touch {marker}'}}
"#
    ),
  );
  let (fleet, run) = fleet.run("triage", &["--checks-only"]);
  assert_eq!(
    run.code,
    crate::test::exit::FAILURE,
    "a failed check is a finding: {}",
    run.stdout
  );
  assert!(!exists(&marker));
  assert!(run.stdout.contains("would run: $ touch"), "{}", run.stdout);
  assert!(run.stdout.contains("when probe failed"), "{}", run.stdout);
  fleet.assert_clean();
}

#[test]
fn a_timed_out_command_is_gone_from_the_host() {
  let fleet = Fleet::new();
  let marker = fleet.path("late");
  let token = format!("megacity-timeout-{}", std::process::id());
  let fleet = fleet.runbook(
    "slow",
    &format!(
      r#"steps:
  - id: slow
    title: slow
    targets: [host-a]
    timeout: 1s
    check: {{command: 'sleep 5 && touch {marker} # {token}', expect: {{exit_code: 0}}}}
"#
    ),
  );
  let (fleet, run) = fleet.run("slow", &["--yes"]);
  assert_eq!(run.code, crate::test::exit::FAILURE, "{}", run.stdout);
  assert!(run.stdout.contains("timed out"), "{}", run.stdout);
  std::thread::sleep(Duration::from_secs(6));
  assert!(
    !exists(&marker),
    "the command kept running after its timeout"
  );
  assert_eq!(still_running(&token), "", "still running");
  fleet.assert_clean();
}

#[test]
fn unreachable_hosts_fail_alone() {
  let fleet = Fleet::new().runbook(
    "reach",
    r#"steps:
  - id: hello
    title: hello
    targets: [host-a, refused-01, stranger-01]
    check: {command: 'echo hi', expect: {stdout_matches: hi}}
"#,
  );
  let (fleet, run) = fleet.run("reach", &["--yes"]);
  assert_eq!(run.code, crate::test::exit::FAILURE, "{}", run.stdout);
  assert!(run.stdout.contains("[host-a] ✔ passed"), "{}", run.stdout);
  let refused = run
    .stdout
    .lines()
    .find(|l| l.starts_with("[refused-01] ✘"))
    .expect("refused line");
  assert!(refused.to_lowercase().contains("refused"), "{refused}");
  let stranger = run
    .stdout
    .lines()
    .find(|l| l.starts_with("[stranger-01] ✘"))
    .expect("stranger line");
  assert!(stranger.to_lowercase().contains("host key"), "{stranger}");
  fleet.assert_clean();
}

#[test]
fn hostile_parameter_values_run_nothing() {
  let fleet = Fleet::new();
  let dir = fleet.path("");
  let fleet = fleet.runbook(
    "hostile",
    r#"parameters:
  name:
    required: true
steps:
  - id: echo
    title: echo the value
    targets: [host-a, local]
    check: {command: 'printf "%s" {{name}}', expect: {exit_code: 0}}
"#,
  );
  let mut fleet = fleet;
  for (i, value) in [
    "$(touch {d}pwned1)",
    "`touch {d}pwned2`",
    "x; touch {d}pwned3",
    "x' ; touch {d}pwned4 ; '",
    "x\" ; touch {d}pwned5 ; \"",
    "x\ntouch {d}pwned6",
    "x && touch {d}pwned7 || touch {d}pwned7",
  ]
  .iter()
  .enumerate()
  {
    let value = value.replace("{d}", &dir);
    let (f, run) = fleet.run("hostile", &["--yes", "--var", &format!("name={value}")]);
    fleet = f;
    assert_eq!(
      run.code,
      crate::test::exit::SUCCESS,
      "{}\n{}",
      run.stdout,
      run.stderr
    );
    assert!(
      !exists(&format!("{dir}pwned{}", i + 1)),
      "value {value:?} ran a command"
    );
  }
  fleet.assert_clean();
}

#[test]
fn a_step_on_five_hosts_runs_them_concurrently() {
  let fleet = Fleet::new();
  let log = fleet.path("spans");
  let fleet = fleet.runbook(
    "five",
    &format!(
      r#"steps:
  - id: overlap
    title: overlap
    targets: [five]
    check:
      command: 'echo "{{{{host}}}} start $(date +%s%N)" >> {log}; sleep 1; echo "{{{{host}}}} end $(date +%s%N)" >> {log}'
      expect: {{exit_code: 0}}
"#
    ),
  );
  let (fleet, run) = fleet.run("five", &["--yes", "--concurrency", "5"]);
  assert_eq!(
    run.code,
    crate::test::exit::SUCCESS,
    "{}\n{}",
    run.stdout,
    run.stderr
  );
  // The preflight says each host as it answers, with how many have.
  for done in 1..=5 {
    assert!(
      run.stdout.contains(&format!("✔ connected ({done}/5)")),
      "{}",
      run.stdout
    );
  }
  let spans = std::fs::read_to_string(&log).unwrap();
  let times = |kind: &str| -> Vec<u128> {
    spans
      .lines()
      .filter(|l| l.contains(kind))
      .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
      .collect()
  };
  let (starts, ends) = (times(" start "), times(" end "));
  assert_eq!(starts.len(), 5, "{spans}");
  assert!(
    starts.iter().max() < ends.iter().min(),
    "some host started only after another finished:\n{spans}"
  );
  fleet.assert_clean();
}

#[test]
fn hosts_check_reports_each_host() {
  let fleet = Fleet::new();
  let config = fleet.sshd.ssh_config();
  let test = fleet.test.args([
    "--format",
    "json",
    "hosts",
    "check",
    "web",
    "refused-01",
    "--ssh-config",
    config.to_str().unwrap(),
  ]);
  let run = test.run();
  assert_eq!(
    run.code,
    crate::test::exit::FAILURE,
    "{}\n{}",
    run.stdout,
    run.stderr
  );
  let rows = run.json();
  let reachable: Vec<(String, bool)> = rows
    .as_array()
    .unwrap()
    .iter()
    .map(|r| {
      (
        r["host"].as_str().unwrap().to_string(),
        r["reachable"].as_bool().unwrap(),
      )
    })
    .collect();
  assert_eq!(
    reachable,
    vec![
      ("host-a".into(), true),
      ("host-b".into(), true),
      ("refused-01".into(), false)
    ]
  );
  let fleet = Fleet {
    sshd: fleet.sshd,
    test: test.reset(),
  };
  fleet.assert_clean();
}

#[test]
fn host_narrows_targets_and_from_starts_at_a_step() {
  let fleet = Fleet::new();
  let log = fleet.path("ran");
  let fleet = fleet.runbook(
    "narrow",
    &format!(
      r#"steps:
  - id: first
    title: first
    targets: [five]
    check: {{command: 'echo "first {{{{host}}}}" >> {log}', expect: {{exit_code: 0}}}}
  - id: second
    title: second
    targets: [five]
    check: {{command: 'echo "second {{{{host}}}}" >> {log}', expect: {{exit_code: 0}}}}
"#
    ),
  );
  let (fleet, run) = fleet.run("narrow", &["--yes", "--host", "host-c", "--from", "second"]);
  assert_eq!(
    run.code,
    crate::test::exit::SUCCESS,
    "{}\n{}",
    run.stdout,
    run.stderr
  );
  assert_eq!(std::fs::read_to_string(&log).unwrap(), "second host-c\n");
  let (fleet, run) = fleet.run("narrow", &["--yes", "--host", "host-z"]);
  assert_eq!(run.code, crate::test::exit::USAGE);
  assert!(
    run.stderr.contains("unknown host or group `host-z`"),
    "{}",
    run.stderr
  );
  let (fleet, run) = fleet.run("narrow", &["--yes", "--from", "secnod"]);
  assert_eq!(run.code, crate::test::exit::USAGE);
  assert!(
    run.stderr.contains("did you mean `second`?"),
    "{}",
    run.stderr
  );
  fleet.assert_clean();
}

#[test]
fn secrets_never_reach_the_terminal() {
  let fleet = Fleet::new().runbook(
    "secret",
    r#"parameters:
  token:
    secret_env: MC_TEST_TOKEN
    required: true
steps:
  - id: leak
    title: a command that echoes its secret
    targets: [host-a]
    check: {command: 'echo token={{token}}; echo {{token}} >&2; exit 1', expect: {exit_code: 0}}
"#,
  );
  let Fleet { sshd, test } = fleet;
  let fleet = Fleet {
    sshd,
    test: test.env("MC_TEST_TOKEN", "s3cr3t-value"),
  };
  let (fleet, run) = fleet.run("secret", &["--yes"]);
  assert_eq!(run.code, crate::test::exit::FAILURE, "{}", run.stdout);
  assert!(run.stdout.contains("token=********"), "{}", run.stdout);
  assert!(!run.stdout.contains("s3cr3t-value") && !run.stderr.contains("s3cr3t-value"));
  let (fleet, run) = fleet.run("secret", &["--yes", "--dry-run"]);
  assert!(!run.stdout.contains("s3cr3t-value"), "{}", run.stdout);
  let (fleet, run) = fleet.run("secret", &["--yes", "--var", "token=x"]);
  assert_eq!(
    run.code,
    crate::test::exit::USAGE,
    "secrets cannot come from the command line"
  );
  fleet.assert_clean();
}

#[test]
fn retries_until_the_expectation_holds_and_abort_policy_stops_the_run() {
  let fleet = Fleet::new();
  let counter = fleet.path("count");
  let marker = fleet.path("after");
  let fleet = fleet.runbook(
    "retry",
    &format!(
      r#"steps:
  - id: third-time-lucky
    title: passes on the third try
    targets: [host-a]
    retry: {{attempts: 5, delay: 100ms}}
    check: {{command: 'echo x >> {counter}; test $(wc -l < {counter}) -ge 3', expect: {{exit_code: 0}}}}
  - id: hard-stop
    title: fails and stops the run
    targets: [host-a]
    on_failure: abort
    check: {{command: 'false', expect: {{exit_code: 0}}}}
  - id: never
    title: never reached
    targets: [host-a]
    action: {{command: 'touch {marker}'}}
"#
    ),
  );
  let (fleet, run) = fleet.run("retry", &["--yes"]);
  assert_eq!(run.code, crate::test::exit::FAILURE, "{}", run.stdout);
  assert!(
    run.stdout.contains("passed") && run.stdout.contains("after 3 attempts"),
    "{}",
    run.stdout
  );
  assert_eq!(
    std::fs::read_to_string(&counter).unwrap().lines().count(),
    3
  );
  assert!(!exists(&marker));
  assert!(
    run.stdout.contains("stopped early: 2 of 3 steps"),
    "{}",
    run.stdout
  );
  assert!(
    run
      .stdout
      .contains("why it stopped: `hard-stop` failed and its policy is abort"),
    "{}",
    run.stdout
  );
  fleet.assert_clean();
}

/// One check on the `web` hosts, for the kept-connection tests.
const PING_WEB: &str = r#"steps:
  - id: ping
    title: answers
    targets: [web]
    check: {command: 'true', expect: {exit_code: 0}}
"#;

/// The pid of the kept master for `host`, found by its command line.
fn master_pid(fleet: &Fleet, host: &str) -> Option<u32> {
  let dir = fleet.sshd.dir.path().to_str().unwrap().to_string();
  std::fs::read_dir("/proc")
    .unwrap()
    .flatten()
    .find_map(|entry| {
      let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
      let args: Vec<String> = String::from_utf8_lossy(&cmdline)
        .split('\0')
        .map(str::to_string)
        .collect();
      let is_master = args.iter().any(|a| a == "-M") && args.iter().any(|a| a.contains(&dir));
      let for_host = args
        .iter()
        .rev()
        .find(|a| !a.is_empty())
        .is_some_and(|a| a == host);
      (is_master && for_host).then(|| entry.file_name().to_str()?.parse().ok())?
    })
}

#[test]
fn kept_connections_serve_later_runs_until_closed() {
  let fleet = Fleet::new().runbook("ping", PING_WEB);
  let logins = fleet.sshd.logins();
  let (fleet, first) = fleet.run("ping", &["--yes", "--keep-connections=2m"]);
  assert_eq!(
    first.code,
    crate::test::exit::SUCCESS,
    "{}\n{}",
    first.stdout,
    first.stderr
  );
  assert!(
    first.stderr.contains("connections kept open (0 reused"),
    "{}",
    first.stderr
  );
  assert_eq!(fleet.sshd.logins() - logins, 2);
  assert_eq!(fleet.leftovers().len(), 2, "two masters stay open");

  // The next run of the incident logs in nowhere: both masters are reused.
  let (fleet, second) = fleet.run("ping", &["--yes", "--keep-connections"]);
  assert_eq!(second.code, crate::test::exit::SUCCESS, "{}", second.stderr);
  assert!(second.stderr.contains("(2 reused"), "{}", second.stderr);
  assert_eq!(
    fleet.sshd.logins() - logins,
    2,
    "the second run logged in again"
  );

  // A run without the flag neither uses nor closes them.
  let (mut fleet, third) = fleet.run("ping", &["--yes"]);
  assert_eq!(third.code, crate::test::exit::SUCCESS, "{}", third.stderr);
  assert_eq!(fleet.sshd.logins() - logins, 4);
  assert_eq!(fleet.leftovers().len(), 2);

  let list = fleet.megacity(&["--format", "json", "connections", "list"]);
  assert_eq!(list.code, crate::test::exit::SUCCESS, "{}", list.stderr);
  let kept: Vec<serde_json::Value> = serde_json::from_str(&list.stdout).unwrap();
  let hosts: Vec<&str> = kept.iter().map(|k| k["host"].as_str().unwrap()).collect();
  assert_eq!(hosts, ["host-a", "host-b"]);
  assert!(
    kept
      .iter()
      .all(|k| k["alive"] == true && k["idle_limit_secs"] == 120)
  );

  // A master that died is noticed and replaced, not used.
  let pid = master_pid(&fleet, "host-a").expect("host-a's master");
  std::process::Command::new("kill")
    .args(["-9", &pid.to_string()])
    .status()
    .unwrap();
  let (mut fleet, fourth) = fleet.run("ping", &["--yes", "--keep-connections"]);
  assert_eq!(
    fourth.code,
    crate::test::exit::SUCCESS,
    "{}\n{}",
    fourth.stdout,
    fourth.stderr
  );
  assert!(fourth.stderr.contains("(1 reused"), "{}", fourth.stderr);
  assert_eq!(fleet.sshd.logins() - logins, 5);

  let one = fleet.megacity(&["connections", "close", "host-a"]);
  assert_eq!(one.code, crate::test::exit::SUCCESS, "{}", one.stderr);
  assert!(
    one.stderr.contains("closed 1 kept connection: host-a"),
    "{}",
    one.stderr
  );
  assert_eq!(fleet.leftovers().len(), 1);
  let all = fleet.megacity(&["connections", "close"]);
  assert!(
    all.stderr.contains("closed 1 kept connection: host-b"),
    "{}",
    all.stderr
  );
  let list = fleet.megacity(&["--format", "json", "connections", "list"]);
  assert_eq!(list.stdout.trim(), "[]");
  fleet.assert_clean();
}

#[test]
fn kept_connections_refuse_a_directory_others_can_reach() {
  use std::os::unix::fs::PermissionsExt;
  let fleet = Fleet::new().runbook("ping", PING_WEB);
  let masters = fleet.sshd.dir.path().join("rt/megacity/masters");
  std::fs::create_dir_all(&masters).unwrap();
  std::fs::set_permissions(&masters, std::fs::Permissions::from_mode(0o777)).unwrap();
  let logins = fleet.sshd.logins();
  let (mut fleet, run) = fleet.run("ping", &["--yes", "--keep-connections"]);
  assert_eq!(run.code, crate::test::exit::ERROR, "{}", run.stderr);
  assert!(
    run.stderr.contains("refusing to keep SSH connections"),
    "{}",
    run.stderr
  );
  assert!(run.stderr.contains("mode 777"), "{}", run.stderr);
  assert!(run.stderr.contains("hint:"), "{}", run.stderr);
  assert_eq!(fleet.sshd.logins(), logins, "it connected anyway");
  let close = fleet.megacity(&["connections", "close"]);
  assert_eq!(close.code, crate::test::exit::ERROR, "{}", close.stderr);
  std::fs::set_permissions(&masters, std::fs::Permissions::from_mode(0o700)).unwrap();
  fleet.assert_clean();
}

#[test]
fn hosts_check_opens_the_connections_a_later_run_reuses() {
  let mut fleet = Fleet::new().runbook("ping", &PING_WEB.replace("[web]", "[five]"));
  let config = fleet.sshd.ssh_config();
  let config = config.to_str().unwrap().to_string();
  let logins = fleet.sshd.logins();
  // The incident shell exports it once; every command after that shares the connections.
  fleet.test =
    std::mem::replace(&mut fleet.test, Test::new()).env("MEGACITY_KEEP_CONNECTIONS", "5m");
  let check = fleet.megacity(&["hosts", "check", "five", "--ssh-config", &config]);
  assert_eq!(
    check.code,
    crate::test::exit::SUCCESS,
    "{}\n{}",
    check.stdout,
    check.stderr
  );
  assert_eq!(fleet.sshd.logins() - logins, 5);
  let (mut fleet, run) = fleet.run("ping", &["--yes"]);
  assert_eq!(
    run.code,
    crate::test::exit::SUCCESS,
    "{}\n{}",
    run.stdout,
    run.stderr
  );
  assert!(run.stderr.contains("(5 reused"), "{}", run.stderr);
  assert_eq!(fleet.sshd.logins() - logins, 5, "the run logged in again");
  let close = fleet.megacity(&["connections", "close"]);
  assert!(
    close.stderr.contains("closed 5 kept connections"),
    "{}",
    close.stderr
  );
  fleet.assert_clean();
}

#[test]
fn a_host_left_idle_longer_than_control_persist_still_answers() {
  // The operator reads a manual step (here: a local wait) for 90 s; the master's idle limit
  // is 60 s, but a run's connections live as long as the run.
  let fleet = Fleet::new().runbook(
    "idle",
    r#"steps:
  - id: before
    title: before
    targets: [host-a]
    check: {command: 'echo before', expect: {stdout_matches: before}}
  - id: wait
    title: the operator reads
    targets: [local]
    timeout: 2m
    check: {command: 'sleep 90', expect: {exit_code: 0}}
  - id: after
    title: after
    targets: [host-a]
    check: {command: 'echo after', expect: {stdout_matches: after}}
"#,
  );
  let (fleet, run) = fleet.run("idle", &["--checks-only"]);
  assert_eq!(
    run.code,
    crate::test::exit::SUCCESS,
    "{}\n{}",
    run.stdout,
    run.stderr
  );
  assert!(run.stdout.contains("[host-a] ✔ passed"), "{}", run.stdout);
  assert!(!run.stdout.contains("UNKNOWN"), "{}", run.stdout);
  fleet.assert_clean();
}

#[test]
fn a_connection_killed_mid_run_is_reopened_and_a_retry_succeeds() {
  let fleet = Fleet::new().runbook(
    "reconnect",
    r#"steps:
  - id: before
    title: before
    targets: [host-a]
    check: {command: 'echo before', expect: {stdout_matches: before}}
  - id: cut
    title: the connection dies
    targets: [local]
    check: {command: 'pkill -f -- "-S $XDG_RUNTIME_DIR/megacity/" ; sleep 1; true', expect: {exit_code: 0}}
  - id: after
    title: after
    targets: [host-a]
    retry: {attempts: 2, delay: 1s}
    check: {command: 'echo after', expect: {stdout_matches: after}}
"#,
  );
  let logins = fleet.sshd.logins();
  let (fleet, run) = fleet.run("reconnect", &["--checks-only"]);
  assert_eq!(
    run.code,
    crate::test::exit::SUCCESS,
    "{}\n{}",
    run.stdout,
    run.stderr
  );
  assert!(
    run.stdout.contains("after 2 attempts"),
    "the first attempt should have met the dead connection:\n{}",
    run.stdout
  );
  assert_eq!(
    fleet.sshd.logins() - logins,
    2,
    "one login, then one reconnection"
  );
  let records = fleet.test.newest_journal();
  let after = records
    .iter()
    .find(|r| r["type"] == "host-result" && r["step"] == "after")
    .unwrap();
  assert_eq!(after["outcome"], "passed", "{after}");
  fleet.assert_clean();
}

#[test]
fn a_dry_run_plan_shows_conditions_privilege_destructive_and_what_an_unattended_run_would_do() {
  let fleet = Fleet::new().runbook(
    "plan",
    r#"steps:
  - id: ping
    title: ping
    targets: [web]
    check: {command: 'true', expect: {exit_code: 0}}
  - id: restart
    title: restart
    targets: [web]
    sudo: true
    when: {failed: [ping]}
    action: {command: 'systemctl restart app'}
  - id: wipe
    title: wipe the cache
    targets: [web]
    when: {failed: [ping]}
    action: {command: 'rm -rf /var/cache/app', destructive: true}
"#,
  );
  let (fleet, plan) = fleet.run("plan", &["--dry-run", "--yes", "--host", "host-b"]);
  assert_eq!(
    plan.code,
    crate::test::exit::SUCCESS,
    "{}\n{}",
    plan.stdout,
    plan.stderr
  );
  let out = &plan.stdout;
  assert!(out.contains("as root (`#`) · when ping failed"), "{out}");
  assert!(out.contains("DESTRUCTIVE · when ping failed"), "{out}");
  assert!(
    out.contains("[host-b] would run: # systemctl restart app  (an unattended run confirms it; if it fails, the run stops)"),
    "{out}"
  );
  assert!(
    out.contains("[host-b] would run: $ rm -rf /var/cache/app  (an unattended run declines it: destructive, needs --yes-destructive)"),
    "{out}"
  );
  assert!(!out.contains("[host-a]"), "--host narrows the plan: {out}");
  let (_fleet, plan) = fleet.run(
    "plan",
    &[
      "--dry-run",
      "--yes",
      "--yes-destructive",
      "--host",
      "host-b",
    ],
  );
  assert!(
    plan.stdout.contains("[host-b] would run: $ rm -rf /var/cache/app  (an unattended run confirms it; if it fails, the run stops)"),
    "{}",
    plan.stdout
  );
}

#[test]
fn a_child_that_escapes_its_session_is_found_after_a_timeout_named_and_killed() {
  let fleet = Fleet::new();
  let token = format!("megacity-escapee-{}", std::process::id());
  let fleet = fleet.runbook(
    "escape",
    &format!(
      r#"steps:
  - id: slow
    title: slow
    targets: [host-a]
    timeout: 2s
    check: {{command: 'setsid sh -c "sleep 300; : {token}" & sleep 60', expect: {{exit_code: 0}}}}
"#
    ),
  );
  let (fleet, run) = fleet.run("escape", &["--checks-only"]);
  assert_eq!(run.code, crate::test::exit::FAILURE, "{}", run.stdout);
  let records = fleet.test.newest_journal();
  let result = records
    .iter()
    .find(|r| r["type"] == "host-result" && r["step"] == "slow")
    .unwrap();
  assert_eq!(result["outcome"], "unknown", "{result}");
  let error = result["error"].as_str().unwrap();
  assert!(error.contains("had survived and were killed"), "{error}");
  assert!(error.contains(&token), "the survivor is not named: {error}");
  assert_eq!(still_running(&token), "", "still running");
  fleet.assert_clean();
}

#[test]
fn each_kind_of_connection_failure_says_what_it_is() {
  let fleet = Fleet::new();
  let config = fleet.sshd.ssh_config();
  let test = fleet.test.args([
    "--format",
    "json",
    "hosts",
    "check",
    "refused-01",
    "stranger-01",
    "changed-01",
    "wrongkey-01",
    "silent-01",
    "--connect-timeout",
    "3s",
    "--ssh-config",
    config.to_str().unwrap(),
  ]);
  let run = test.run();
  assert_eq!(run.code, crate::test::exit::FAILURE, "{}", run.stderr);
  let rows = run.json();
  let problem = |host: &str| -> String {
    rows
      .as_array()
      .unwrap()
      .iter()
      .find(|r| r["host"] == host)
      .unwrap_or_else(|| panic!("no row for {host}: {rows}"))["problem"]
      .as_str()
      .unwrap_or_default()
      .to_string()
  };
  for (host, says) in [
    ("refused-01", "connection refused"),
    ("stranger-01", "the host key is not trusted"),
    ("changed-01", "the host key CHANGED"),
    ("wrongkey-01", "authentication failed"),
    // Accepts the connection, never speaks: a hung sshd or a black hole.
    ("silent-01", "no answer"),
  ] {
    let text = problem(host);
    assert!(text.contains(says), "{host}: {text}");
    assert!(!text.contains('\r'), "{host}: a carriage return: {text:?}");
  }
  let fleet = Fleet {
    sshd: fleet.sshd,
    test: test.reset(),
  };
  fleet.assert_clean();
}

#[test]
fn doctor_says_what_blocks_a_run_and_what_is_missing_on_each_host() {
  let fleet = Fleet::new().runbook(
    "needs-tools",
    r#"steps:
  - id: probe
    title: probe
    targets: [web]
    check: {command: 'definitely-not-installed-tool --version | grep -c x', expect: {exit_code: 0}}
"#,
  );
  let config = fleet.sshd.ssh_config();
  let config = config.to_str().unwrap().to_string();
  let config = config.as_str();
  let Fleet { test, sshd } = fleet;
  let test = test.args(["--format", "json", "doctor", "web", "--ssh-config", config]);
  let run = test.run();
  assert_eq!(
    run.code,
    crate::test::exit::SUCCESS,
    "{}\n{}",
    run.stdout,
    run.stderr
  );
  let json = run.json();
  let findings = json["findings"].as_array().unwrap();
  let find = |subject: &str, area: &str| {
    findings
      .iter()
      .find(|f| f["subject"] == subject && f["area"] == area)
      .unwrap_or_else(|| panic!("no {subject} {area}: {}", run.stdout))
  };
  assert_eq!(find("host-a", "login")["level"], "ok");
  assert_eq!(find("host-b", "name")["level"], "ok");
  assert_eq!(find("host-a", "host key")["level"], "ok");
  let tools = find("host-a", "tools");
  assert_eq!(tools["level"], "warning");
  let message = tools["message"].as_str().unwrap();
  assert!(
    message.contains("definitely-not-installed-tool (needs-tools)") && !message.contains("grep"),
    "{message}"
  );
  assert_eq!(find("local", "journal")["level"], "ok");

  // A host that refuses connections and one whose key is unknown: a run would fail there.
  let test = test.reset();
  let run = test
    .args([
      "--color",
      "never",
      "doctor",
      "refused-01",
      "stranger-01",
      "--ssh-config",
      config,
    ])
    .run();
  assert_eq!(
    run.code,
    crate::test::exit::FAILURE,
    "{}\n{}",
    run.stdout,
    run.stderr
  );
  assert!(
    run.stdout.contains("✘ [refused-01] login"),
    "{}",
    run.stdout
  );
  assert!(
    run.stdout.contains("[stranger-01] host key"),
    "{}",
    run.stdout
  );
  assert!(run.stdout.contains("fix:"), "{}", run.stdout);
  assert!(run.stderr.contains("block a run"), "{}", run.stderr);
  drop(sshd);
}

#[test]
fn an_inventory_imported_from_ssh_config_drives_a_run_and_ansible_ini_keeps_its_groups() {
  let fleet = Fleet::new();
  let config = fleet.sshd.ssh_config();
  let imported = fleet.path("imported.yaml");
  let Fleet { test, sshd } = fleet;
  let test = test.args(["hosts", "import", config.to_str().unwrap(), "-o", &imported]);
  let run = test.run();
  assert_eq!(run.code, crate::test::exit::SUCCESS, "{}", run.stderr);
  let text = std::fs::read_to_string(&imported).unwrap();
  assert!(text.contains("  - name: host-a\n"), "{text}");
  assert!(!text.contains("127.0.0.1"), "no address as a name: {text}");
  // The imported inventory drives a run on the test hosts.
  let test = test
    .reset()
    .write(
      "runbooks/hello.yaml",
      "id: hello\ntitle: hello\nseverity: P4\nsteps:\n  - id: hi\n    title: hi\n    targets: [host-a]\n    check: {command: 'echo hi', expect: {stdout_matches: hi}}\n",
    )
    .args([
      "--inventory",
      &imported,
      "run",
      "hello",
      "--checks-only",
      "--ssh-config",
      config.to_str().unwrap(),
    ]);
  let run = test.run();
  assert_eq!(
    run.code,
    crate::test::exit::SUCCESS,
    "{}\n{}",
    run.stdout,
    run.stderr
  );
  assert!(run.stdout.contains("[host-a] ✔ passed"), "{}", run.stdout);

  // Ansible INI: groups and children kept, addresses into an ssh_config snippet, the rest said.
  let test = test.reset().write(
    "hosts.ini",
    "[redis]\nredis-master-01 ansible_host=127.0.0.10 ansible_become=true\n127.0.0.3\n\n[data:children]\nredis\n",
  );
  let ini = test.path("hosts.ini");
  let snippet = test.path("snippet.conf");
  // Kept alive: its scratch directory holds the snippet read below.
  let test = test.args([
    "hosts",
    "import",
    ini.to_str().unwrap(),
    "--ssh-config-out",
    snippet.to_str().unwrap(),
  ]);
  let run = test.run();
  assert_eq!(run.code, crate::test::exit::SUCCESS, "{}", run.stderr);
  assert!(
    run
      .stdout
      .contains("  - name: redis-master-01\n    groups: [redis, data]\n"),
    "{}",
    run.stdout
  );
  assert!(!run.stdout.contains("127.0.0.3"), "{}", run.stdout);
  assert_eq!(
    std::fs::read_to_string(&snippet).unwrap(),
    "Host redis-master-01\n  HostName 127.0.0.10\n"
  );
  assert!(
    run
      .stderr
      .contains("not carried over: 127.0.0.3: an address"),
    "{}",
    run.stderr
  );
  assert!(run.stderr.contains("`ansible_become`"), "{}", run.stderr);
  drop(sshd);
}

#[test]
fn an_ansible_yaml_inventory_is_imported_with_its_groups() {
  let test = crate::test::Test::new().write(
    "inventory.yml",
    "all:\n  children:\n    redis:\n      hosts:\n        redis-master-01: {ansible_user: ops, ansible_port: 2222}\n        redis-replica-01:\n    datastores:\n      children:\n        redis:\n",
  );
  let file = test.path("inventory.yml");
  let test = test.args(["hosts", "import", file.to_str().unwrap()]);
  let run = test.run();
  assert_eq!(run.code, crate::test::exit::SUCCESS, "{}", run.stderr);
  assert!(
    run
      .stdout
      .contains("  - name: redis-master-01\n    groups: [redis, datastores]\n    user: ops\n"),
    "{}",
    run.stdout
  );
  assert!(
    run.stderr.contains("Host redis-master-01\n  Port 2222"),
    "{}",
    run.stderr
  );
  assert!(
    run.stderr.contains("Ansible YAML inventory"),
    "{}",
    run.stderr
  );
  // What it wrote is an inventory megacity reads.
  let test = test.reset().write("imported.yaml", &run.stdout);
  let imported = test.path("imported.yaml");
  let listed = test
    .args([
      "--inventory",
      imported.to_str().unwrap(),
      "hosts",
      "list",
      "datastores",
    ])
    .run();
  assert_eq!(listed.code, 0, "{}", listed.stderr);
  assert!(
    listed.stdout.contains("redis-replica-01"),
    "{}",
    listed.stdout
  );
}

/// `hosts check` and `journal list` fit an 80-column terminal (cut with …), and a 120-column one
/// shows more of each line.
#[test]
fn hosts_check_and_journal_list_fit_the_terminal() {
  let fleet = Fleet::new().runbook(
    "a-runbook-with-a-rather-long-identifier-for-its-list-entry",
    "steps:\n  - id: look\n    title: look\n    targets: [five]\n    check: {command: 'true', expect: {exit_code: 0}}\n",
  );
  let config = fleet.sshd.ssh_config().display().to_string();
  let (fleet, run) = fleet.run(
    "a-runbook-with-a-rather-long-identifier-for-its-list-entry",
    &["--checks-only"],
  );
  assert_eq!(run.code, 0, "{}", run.stderr);
  let shown = |columns: u16, args: &str| -> Vec<String> {
    let command = fleet.test.shell(&format!(
      "stty cols {columns} rows 24; exec {} --color never {args}",
      crate::test::BIN
    ));
    let mut s = rexpect::session::spawn_command(command, Some(30_000)).unwrap();
    let bytes: Vec<u8> = s
      .exp_eof()
      .unwrap()
      .chars()
      .map(|c| c as u32 as u8)
      .collect();
    String::from_utf8_lossy(&bytes)
      .lines()
      .map(|l| l.trim_end_matches('\r').to_string())
      .filter(|l| !l.trim().is_empty())
      .collect()
  };
  for args in [
    format!("hosts check five --ssh-config {config}"),
    "journal list".to_string(),
  ] {
    let narrow = shown(80, &args);
    assert!(narrow.len() >= 2, "{args}: {narrow:?}");
    for line in &narrow {
      assert!(
        console::measure_text_width(line) <= 80,
        "{args}: wider than 80: {line:?}"
      );
    }
    let wide = shown(120, &args);
    assert_eq!(wide.len(), narrow.len(), "{args}");
    for line in &wide {
      assert!(console::measure_text_width(line) <= 120, "{args}: {line:?}");
    }
  }
  let journal = shown(80, "journal list");
  assert!(journal.iter().any(|l| l.contains('…')), "{journal:?}");
  let journal = shown(120, "journal list");
  assert!(
    journal
      .iter()
      .any(|l| l.contains("a-runbook-with-a-rather-long-identifier")),
    "{journal:?}"
  );
}

/// Removes the sudoers entry a test granted, however the test ends.
struct SudoersEntry(std::path::PathBuf);

impl SudoersEntry {
  fn grant(login: &str) -> SudoersEntry {
    let path = std::path::PathBuf::from(format!("/etc/sudoers.d/{login}"));
    std::fs::write(&path, format!("{login} ALL=(ALL) NOPASSWD: ALL\n")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o440)).unwrap();
    SudoersEntry(path)
  }
}

impl Drop for SudoersEntry {
  fn drop(&mut self) {
    let _ = std::fs::remove_file(&self.0);
  }
}

#[test]
fn sudo_that_wants_a_password_is_told_before_anything_runs_and_doctor_passes_once_mended() {
  let fleet = Fleet::new().runbook(
    "rooted",
    r#"steps:
  - id: as-root
    title: who runs this
    targets: [nosudo-01]
    sudo: true
    check: {command: 'id -un', expect: {stdout_matches: '^root$'}}
"#,
  );
  fleet.sshd.login_without_sudo();
  let config = fleet.sshd.ssh_config();
  let config = config.to_str().unwrap().to_string();

  // The preflight says it before the first step; the root step is unknown, not failed.
  let (fleet, run) = fleet.run("rooted", &["--checks-only"]);
  let out = format!("{}{}", run.stdout, run.stderr);
  assert!(out.contains("sudo wants a password"), "{out}");
  assert!(
    !out.contains("FAILED"),
    "could not judge is not failed: {out}"
  );
  assert_ne!(run.code, crate::test::exit::SUCCESS, "{out}");

  let Fleet { test, sshd } = fleet;
  let test = test.args([
    "--color",
    "never",
    "doctor",
    "nosudo-01",
    "--ssh-config",
    &config,
  ]);
  let run = test.run();
  assert_eq!(
    run.code,
    crate::test::exit::FAILURE,
    "{}\n{}",
    run.stdout,
    run.stderr
  );
  assert!(run.stdout.contains("✘ [nosudo-01] sudo"), "{}", run.stdout);
  assert!(run.stdout.contains("NOPASSWD"), "the fix: {}", run.stdout);
  assert!(run.stdout.contains("✔ [nosudo-01] login"), "{}", run.stdout);

  // Mended: NOPASSWD for that login. doctor passes and the step runs as root.
  let _granted = SudoersEntry::grant(crate::sshd::NO_SUDO_LOGIN);
  let run = test.run();
  assert_eq!(
    run.code,
    crate::test::exit::SUCCESS,
    "{}\n{}",
    run.stdout,
    run.stderr
  );
  assert!(run.stdout.contains("✔ [nosudo-01] sudo"), "{}", run.stdout);
  let fleet = Fleet {
    sshd,
    test: test.reset(),
  };
  let (_fleet, run) = fleet.run("rooted", &["--checks-only"]);
  assert_eq!(
    run.code,
    crate::test::exit::SUCCESS,
    "{}\n{}",
    run.stdout,
    run.stderr
  );
  assert!(run.stdout.contains("root"), "{}", run.stdout);
}
