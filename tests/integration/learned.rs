//! Runbooks that carry what they learn, on a real sshd: a capture naming another step's host,
//! questions answered at a real prompt or with `--var`, choices, waits, one host at a time, and
//! the shell. All hosts share this machine, so commands name `{{host}}` in what they leave.

use rexpect::process::WaitStatus;
use rexpect::session::spawn_command;
use serde_json::Value;

use crate::fleet::Fleet;
use crate::test::{answer, exit};

/// The host results of `step` in the newest journal.
fn results<'j>(journal: &'j [Value], step: &str) -> Vec<&'j Value> {
  journal
    .iter()
    .filter(|r| r["type"] == "host-result" && r["step"] == step)
    .collect()
}

fn exists(path: &str) -> bool {
  std::path::Path::new(path).exists()
}

#[test]
fn a_value_captured_on_one_host_picks_the_host_of_a_later_action() {
  let fleet = Fleet::new();
  let dir = fleet.path("");
  let fleet = fleet.runbook(
    "primary",
    &format!(
      r#"steps:
  - id: find
    title: which host is primary
    targets: [host-a]
    check: {{command: 'echo "role=replica primary=host-b"', expect: {{exit_code: 0}}}}
    capture:
      primary: 'primary=(\S+)'
  - id: act
    title: act on {{{{steps.find.primary}}}}
    targets: ['{{{{steps.find.primary}}}}']
    action: {{command: 'touch {dir}/acted.{{{{host}}}}'}}
"#
    ),
  );
  let (fleet, run) = fleet.run("primary", &["--yes"]);
  assert_eq!(run.code, exit::SUCCESS, "{}\n{}", run.stdout, run.stderr);
  assert!(exists(&format!("{dir}/acted.host-b")), "{}", run.stdout);
  assert!(!exists(&format!("{dir}/acted.host-a")));
  assert!(
    run.stdout.contains("captured primary = host-b"),
    "{}",
    run.stdout
  );
  assert!(run.stdout.contains("act on host-b"), "{}", run.stdout);
  let journal = fleet.test.newest_journal();
  assert_eq!(
    results(&journal, "find")[0]["captured"],
    serde_json::json!([["primary", "host-b"]])
  );
  assert_eq!(results(&journal, "act")[0]["host"], "host-b");
  fleet.assert_clean();
}

#[test]
fn a_capture_naming_a_host_outside_the_inventory_runs_nothing() {
  let fleet = Fleet::new();
  let dir = fleet.path("");
  let fleet = fleet.runbook(
    "primary",
    &format!(
      r#"steps:
  - id: find
    title: which host is primary
    targets: [host-a]
    check: {{command: 'echo primary=db.example.invalid', expect: {{exit_code: 0}}}}
    capture: {{primary: 'primary=(\S+)'}}
  - id: act
    title: act
    targets: ['{{{{steps.find.primary}}}}']
    action: {{command: 'touch {dir}/acted'}}
"#
    ),
  );
  let (fleet, run) = fleet.run("primary", &["--yes"]);
  assert_eq!(run.code, exit::FAILURE, "{}\n{}", run.stdout, run.stderr);
  assert!(!exists(&format!("{dir}/acted")));
  assert!(
    run
      .stdout
      .contains("neither an inventory host nor the address of one"),
    "{}",
    run.stdout
  );
  fleet.assert_clean();
}

/// An address that several inventory hosts reach (every test host's ssh_config says HostName
/// 127.0.0.1) names none of them: which one is not known, so nothing runs.
#[test]
fn a_captured_address_several_hosts_share_runs_nothing() {
  let fleet = Fleet::new();
  let dir = fleet.path("");
  let fleet = fleet.runbook(
    "primary",
    &format!(
      r#"steps:
  - id: find
    title: which host is primary
    targets: [host-a]
    check: {{command: 'echo primary=127.0.0.1', expect: {{exit_code: 0}}}}
    capture: {{primary: 'primary=(\S+)'}}
  - id: act
    title: act
    targets: ['{{{{steps.find.primary}}}}']
    action: {{command: 'touch {dir}/acted'}}
"#
    ),
  );
  let (fleet, run) = fleet.run("primary", &["--yes"]);
  assert_eq!(run.code, exit::FAILURE, "{}\n{}", run.stdout, run.stderr);
  assert!(!exists(&format!("{dir}/acted")));
  assert!(
    run
      .stdout
      .contains("the address of several inventory hosts (host-a, host-b"),
    "{}",
    run.stdout
  );
  fleet.assert_clean();
}

fn ask_runbook(fleet: Fleet) -> (Fleet, String) {
  let dir = fleet.path("");
  let fleet = fleet.runbook(
    "clean",
    &format!(
      r#"steps:
  - id: which
    title: which file to remove
    input:
      name: victim
      help: a file name under the scratch directory
      pattern: '[a-z]+'
  - id: remove
    title: remove {{{{victim}}}}
    targets: [host-a]
    action: {{command: 'touch {dir}/removed.{{{{victim}}}}', confirm: 'Remove {{{{victim}}}}?'}}
"#
    ),
  );
  (fleet, dir)
}

#[test]
fn a_question_is_answered_at_the_prompt_and_checked_against_its_pattern() {
  let (fleet, dir) = ask_runbook(Fleet::new());
  let mut command = fleet.test.command();
  let config = fleet.sshd.ssh_config();
  command.args([
    "--color",
    "never",
    "runbook",
    "run",
    "clean",
    "--ssh-config",
    config.to_str().unwrap(),
  ]);
  let mut s = spawn_command(command, Some(30_000)).expect("megacity starts in a pty");
  s.exp_string("a file name under the scratch directory")
    .unwrap();
  s.exp_string("victim").unwrap();
  answer(&mut s, "Not/Allowed");
  s.exp_string("does not match the pattern").unwrap();
  answer(&mut s, "logs");
  s.exp_string("Remove logs?").unwrap();
  answer(&mut s, "y");
  let rest = s.exp_eof().unwrap_or_default();
  let code = match s.process().wait().unwrap() {
    WaitStatus::Exited(_, code) => code,
    other => panic!("{other:?}"),
  };
  assert_eq!(code, exit::SUCCESS, "{rest}");
  assert!(exists(&format!("{dir}/removed.logs")));
  let journal = fleet.test.newest_journal();
  let decision = journal
    .iter()
    .find(|r| r["type"] == "decision" && r["question"] == "input")
    .expect("the answer is recorded");
  assert_eq!(decision["value"], "logs");
  assert_eq!(decision["by"], "operator");
  assert!(decision["shown"].is_string());
}

#[test]
fn a_question_is_answered_ahead_with_var_and_an_unattended_run_without_it_stops() {
  let (fleet, dir) = ask_runbook(Fleet::new());
  let (fleet, run) = fleet.run("clean", &["--yes"]);
  assert_ne!(run.code, exit::SUCCESS);
  assert!(run.stdout.contains("--var victim="), "{}", run.stdout);
  assert!(
    std::fs::read_dir(&dir)
      .unwrap()
      .flatten()
      .all(|e| !e.file_name().to_string_lossy().starts_with("removed"))
  );
  let (fleet, run) = fleet.run("clean", &["--yes", "--var", "victim=cache"]);
  assert_eq!(run.code, exit::SUCCESS, "{}\n{}", run.stdout, run.stderr);
  assert!(exists(&format!("{dir}/removed.cache")));
  // The pattern holds for --var too.
  let (fleet, run) = fleet.run("clean", &["--yes", "--var", "victim=../etc"]);
  assert_eq!(run.code, exit::USAGE, "{}\n{}", run.stdout, run.stderr);
  assert!(
    run.stderr.contains("does not match the pattern"),
    "{}",
    run.stderr
  );
  fleet.assert_clean();
}

#[test]
fn a_choice_runs_its_branch_and_the_branch_not_taken_is_no_failure() {
  let fleet = Fleet::new();
  let dir = fleet.path("");
  let fleet = fleet.runbook(
    "branches",
    &format!(
      r#"steps:
  - id: how
    title: how to recover
    choice:
      name: recovery
      options:
        restart: Restart it
        failover: Fail over
  - id: restart
    title: restart
    targets: [host-a]
    when: {{is: {{recovery: restart}}}}
    action: {{command: 'touch {dir}/restarted'}}
  - id: failover
    title: failover
    targets: [host-a]
    when: {{is: {{recovery: failover}}}}
    action: {{command: 'touch {dir}/failed-over'}}
"#
    ),
  );
  let (fleet, run) = fleet.run("branches", &["--yes", "--var", "recovery=failover"]);
  assert_eq!(run.code, exit::SUCCESS, "{}\n{}", run.stdout, run.stderr);
  assert!(exists(&format!("{dir}/failed-over")));
  assert!(!exists(&format!("{dir}/restarted")));
  assert!(
    run.stdout.contains("when recovery is restart"),
    "{}",
    run.stdout
  );
  let journal = fleet.test.newest_journal();
  let skipped = journal
    .iter()
    .find(|r| r["type"] == "step-skipped" && r["step"] == "restart")
    .expect("the branch not taken is recorded as skipped");
  assert!(
    skipped["reason"]
      .as_str()
      .unwrap()
      .contains("recovery = failover"),
    "{skipped}"
  );
  assert!(results(&journal, "restart").is_empty());
  fleet.assert_clean();
}

/// A check whose number is the count of its own polls (kept in a file on the host).
fn counting(fleet: Fleet, id: &str, value: &str, expect: &str, wait: &str) -> Fleet {
  let counter = fleet.path(&format!("{id}.count"));
  fleet.runbook(
    id,
    &format!(
      r#"steps:
  - id: poll
    title: poll
    targets: [host-a]
    check:
      command: 'n=$(cat {counter} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {counter}; echo "value={value}"'
      expect: {expect}
    wait: {wait}
"#
    ),
  )
}

#[test]
fn a_wait_polls_until_its_expectation_holds_or_its_deadline_passes() {
  let fleet = counting(
    Fleet::new(),
    "settles",
    "$n",
    "{thresholds: [{name: polls, regex: 'value=(\\d+)', min: 3}]}",
    "{every: 200ms, up_to: 30s}",
  );
  let (fleet, run) = fleet.run("settles", &["--checks-only"]);
  assert_eq!(run.code, exit::SUCCESS, "{}\n{}", run.stdout, run.stderr);
  let journal = fleet.test.newest_journal();
  let samples = results(&journal, "poll")[0]["samples"]
    .as_array()
    .unwrap()
    .clone();
  assert_eq!(samples.len(), 3, "{samples:?}");
  assert_eq!(samples[2]["passed"], true);
  assert!(run.stdout.contains("waiting"), "{}", run.stdout);

  let fleet = counting(
    fleet,
    "never",
    "$n",
    "{thresholds: [{name: polls, regex: 'value=(\\d+)', max: 0}]}",
    "{every: 200ms, up_to: 1s}",
  );
  let (fleet, run) = fleet.run("never", &["--checks-only"]);
  assert_eq!(run.code, exit::FAILURE, "{}\n{}", run.stdout, run.stderr);
  assert!(
    run.stdout.contains("still not met after 1s"),
    "{}",
    run.stdout
  );
  fleet.assert_clean();
}

#[test]
fn a_trend_wait_ends_when_the_number_stops_rising() {
  // 10, 20, 30, 30, …: it stops rising at the fourth poll.
  let fleet = counting(
    Fleet::new(),
    "trend",
    "$(( n < 3 ? n * 10 : 30 ))",
    "{thresholds: [{name: lag, regex: 'value=(\\d+)', max: 100}]}",
    "{every: 200ms, up_to: 30s, until: stops_rising, value: lag}",
  );
  let (fleet, run) = fleet.run("trend", &["--checks-only"]);
  assert_eq!(run.code, exit::SUCCESS, "{}\n{}", run.stdout, run.stderr);
  let journal = fleet.test.newest_journal();
  let values: Vec<f64> = results(&journal, "poll")[0]["samples"]
    .as_array()
    .unwrap()
    .iter()
    .map(|s| s["value"].as_f64().unwrap())
    .collect();
  assert_eq!(values, [10.0, 20.0, 30.0, 30.0]);
  fleet.assert_clean();
}

#[test]
fn a_serial_step_stops_after_the_first_host_that_fails() {
  let fleet = Fleet::new();
  let dir = fleet.path("");
  let fleet = fleet.runbook(
    "rolling",
    &format!(
      r#"steps:
  - id: roll
    title: rolling restart
    targets: [web]
    serial: true
    on_failure: continue
    action: {{command: 'touch {dir}/rolled.{{{{host}}}}; test {{{{host}}}} != host-a'}}
"#
    ),
  );
  let (fleet, run) = fleet.run("rolling", &["--yes"]);
  assert_eq!(run.code, exit::FAILURE, "{}\n{}", run.stdout, run.stderr);
  assert!(exists(&format!("{dir}/rolled.host-a")));
  assert!(!exists(&format!("{dir}/rolled.host-b")), "{}", run.stdout);
  let journal = fleet.test.newest_journal();
  let roll = results(&journal, "roll");
  assert_eq!(roll[1]["host"], "host-b");
  assert_eq!(roll[1]["outcome"], "not-run");
  fleet.assert_clean();
}

#[test]
fn a_pipeline_fails_under_bash_where_sh_would_pass_it() {
  let fleet = Fleet::new().runbook(
    "pipes",
    r#"steps:
  - id: under-sh
    title: under sh
    targets: [host-a]
    check: {command: 'false | cat', expect: {exit_code: 0}}
  - id: under-bash
    title: under bash
    targets: [host-a]
    shell: bash
    check: {command: 'false | cat', expect: {exit_code: 0}}
"#,
  );
  let (fleet, run) = fleet.run("pipes", &["--checks-only"]);
  assert_eq!(run.code, exit::FAILURE, "{}\n{}", run.stdout, run.stderr);
  let journal = fleet.test.newest_journal();
  assert_eq!(results(&journal, "under-sh")[0]["outcome"], "passed");
  assert_eq!(results(&journal, "under-bash")[0]["outcome"], "failed");
  fleet.assert_clean();
}

#[test]
fn a_called_runbook_runs_as_nested_steps_in_the_journal_and_the_reports() {
  let fleet = Fleet::new();
  let dir = fleet.path("");
  let fleet = fleet
    .runbook(
      "inner",
      &format!(
        r#"parameters:
  mark: {{default: inner-default}}
steps:
  - id: look
    title: look
    targets: [host-a]
    check: {{command: 'test -e {dir}/absent', expect: {{exit_code: 0}}}}
  - id: touch
    title: touch {{{{mark}}}}
    targets: [host-a]
    when: {{failed: [look]}}
    action: {{command: 'touch {dir}/inner.{{{{mark}}}}'}}
"#
      ),
    )
    .runbook(
      "outer",
      r#"parameters:
  label: {default: from-outer}
steps:
  - id: call-inner
    title: the inner runbook
    runbook: inner
    vars: {mark: '{{label}}'}
"#,
    );
  let (fleet, run) = fleet.run("outer", &["--yes"]);
  assert!(exists(&format!("{dir}/inner.from-outer")), "{}", run.stdout);
  assert!(run.stdout.contains("call-inner/touch"), "{}", run.stdout);
  let journal = fleet.test.newest_journal();
  assert_eq!(
    results(&journal, "call-inner/touch")[0]["outcome"],
    "passed"
  );
  let Fleet { test, sshd } = fleet;
  let test = test.args(["--color", "never", "journal", "show", "last"]);
  let timeline = test.run();
  assert!(
    timeline.stdout.contains("call-inner/touch"),
    "{}",
    timeline.stdout
  );
  let test = test.reset().args(["report", "last", "--postmortem"]);
  let report = test.run();
  assert!(
    report.stdout.contains("call-inner/touch"),
    "{}",
    report.stdout
  );
  let fleet = Fleet {
    test: test.reset(),
    sshd,
  };
  // A call to a runbook that does not exist is found by validate, where the call is written.
  let fleet = fleet.runbook(
    "broken",
    "steps:\n  - id: call\n    title: call\n    runbook: innr\n",
  );
  let check = fleet
    .test
    .args(["--color", "never", "runbook", "validate", "broken"])
    .run();
  assert_eq!(
    check.code,
    exit::USAGE,
    "{}\n{}",
    check.stdout,
    check.stderr
  );
  assert!(
    check.stdout.contains("broken.yaml:7:14"),
    "{}",
    check.stdout
  );
  assert!(
    check.stdout.contains("inner"),
    "did you mean: {}",
    check.stdout
  );
}
