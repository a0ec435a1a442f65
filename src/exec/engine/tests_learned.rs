//! The engine's rules for what a run learns: captures, questions, conditions on values,
//! waits, one-host-at-a-time steps and the shell, driven in-process like `tests.rs`.

use super::tests::*;
use crate::exec::event::*;
use crate::exec::plan::RunMode;
use crate::exec::result::RunResult;

const FIND_THEN_ACT: &str = "  - id: find
    title: which is primary
    targets: [a]
    check:
      command: who-is-primary
      expect: {exit_code: 0}
    capture:
      primary: 'primary=(\\S+)'
  - id: restart
    title: restart {{steps.find.primary}}
    targets: ['{{steps.find.primary}}']
    action:
      command: restart-on {{steps.find.primary}}
";

#[test]
fn a_capture_from_one_host_names_the_target_and_the_argument_of_a_later_step() {
  let t = Scripted::default().on("a", "who-is-primary", vec![ok(0, "primary=b\n")]);
  let ran = run_person(FIND_THEN_ACT, RunMode::Live, &t, &[Answer::Yes]);
  assert_eq!(ran.asked, ["confirm restart b"]);
  assert_eq!(t.ran_matching("restart-on"), ["b"]);
  assert!(
    t.ran().iter().any(|(_, c)| c.contains("restart-on b")),
    "{:?}",
    t.ran()
  );
  let find = ran.result.records.iter().find(|r| r.id == "find").unwrap();
  assert_eq!(
    find.results[0].captured,
    [("primary".to_string(), "b".to_string())]
  );
  assert_eq!(exit(&ran.result), 0);
}

#[test]
fn a_capture_that_was_not_found_runs_nothing_and_is_unknown() {
  let t = Scripted::default().on("a", "who-is-primary", vec![ok(0, "no primary\n")]);
  let ran = run_person(FIND_THEN_ACT, RunMode::Live, &t, &[Answer::Yes]);
  assert!(ran.asked.is_empty(), "{:?}", ran.asked);
  assert!(t.ran_matching("restart-on").is_empty());
  assert_eq!(ran.outcome("restart", MANUAL_HOST), Some(Outcome::Unknown));
  assert_ne!(
    exit(&ran.result),
    0,
    "an unknown leaves the run short of success"
  );
}

/// On a fixed host, an action whose command needs a value nobody learned (its step found
/// nothing, or did not run after `--from`) is not offered: the command shown would not be the
/// one run.
#[test]
fn an_action_missing_a_learned_value_is_not_offered() {
  let t = Scripted::default().on("a", "who-is-primary", vec![ok(0, "no primary\n")]);
  let steps = FIND_THEN_ACT.replace("targets: ['{{steps.find.primary}}']", "targets: [b]");
  let ran = run_person(&steps, RunMode::Live, &t, &[Answer::Yes]);
  assert!(ran.asked.is_empty(), "{:?}", ran.asked);
  assert!(t.ran_matching("restart-on").is_empty());
  assert_eq!(ran.outcome("restart", "b"), Some(Outcome::Unknown));
  let triage = run_person(&steps, RunMode::ChecksOnly, &t, &[]);
  assert_eq!(triage.outcome("restart", "b"), Some(Outcome::Unknown));
}

#[test]
fn a_learned_target_outside_the_inventory_is_refused() {
  let t = Scripted::default().on("a", "who-is-primary", vec![ok(0, "primary=evil\n")]);
  let ran = run_person(FIND_THEN_ACT, RunMode::Live, &t, &[Answer::Yes]);
  assert!(t.ran_matching("restart-on").is_empty());
  assert!(ran.asked.is_empty());
  assert_eq!(ran.outcome("restart", MANUAL_HOST), Some(Outcome::Unknown));
}

/// Sentinel names the master by address: the inventory host that address reaches is the
/// target, said in a notice; an address of no inventory host runs nothing.
#[test]
fn a_learned_address_names_the_inventory_host_it_reaches() {
  let t = Scripted::default().on("a", "who-is-primary", vec![ok(0, "primary=127.0.0.12\n")]);
  let ran = run_person(FIND_THEN_ACT, RunMode::Live, &t, &[Answer::Yes]);
  assert_eq!(t.ran_matching("restart-on"), ["b"]);
  assert!(
    ran.notices.iter().any(|n| n.contains("the address of b")),
    "{:?}",
    ran.notices
  );
  let t = Scripted::default().on("a", "who-is-primary", vec![ok(0, "primary=127.0.0.99\n")]);
  let ran = run_person(FIND_THEN_ACT, RunMode::Live, &t, &[Answer::Yes]);
  assert!(t.ran_matching("restart-on").is_empty());
  assert_eq!(ran.outcome("restart", MANUAL_HOST), Some(Outcome::Unknown));
}

/// A learned target one letter off an inventory host is refused without a suggestion: at run
/// time "did you mean" would pick a host for a remediation (issue #13).
#[test]
fn a_near_miss_learned_target_gets_no_suggestion() {
  let t = Scripted::default().on("a", "who-is-primary", vec![ok(0, "primary=bb\n")]);
  let ran = run_person(FIND_THEN_ACT, RunMode::Live, &t, &[Answer::Yes]);
  assert!(t.ran_matching("restart-on").is_empty());
  assert!(ran.asked.is_empty());
  let record = ran
    .result
    .records
    .iter()
    .find(|r| r.id == "restart")
    .unwrap();
  let said: Vec<String> = record
    .results
    .iter()
    .filter_map(|r| r.error.clone())
    .chain(ran.notices.iter().cloned())
    .collect();
  assert!(
    said
      .iter()
      .any(|e| e.contains("`bb`, which is neither an inventory host")),
    "{said:?}"
  );
  assert!(
    !said
      .iter()
      .any(|e| e.contains("did you mean") || e.contains("`b`?")),
    "{said:?}"
  );
}

#[test]
fn a_capture_is_quoted_like_a_parameter() {
  let t = Scripted::default().on("a", "who-is-primary", vec![ok(0, "primary=b;rm\n")]);
  let steps = FIND_THEN_ACT.replace("targets: ['{{steps.find.primary}}']", "targets: [b]");
  let _ = run_person(&steps, RunMode::Live, &t, &[Answer::Yes]);
  let ran = t.ran_matching("restart-on");
  assert_eq!(ran, ["b"]);
  assert!(
    t.ran().iter().any(|(_, c)| c.contains("restart-on 'b;rm'")),
    "{:?}",
    t.ran()
  );
}

const ASK_THEN_CLEAN: &str = "  - id: which
    title: which directory
    input:
      name: clean_path
      pattern: '/.*'
  - id: clean
    title: clean {{clean_path}}
    targets: [a]
    action:
      command: clean-dir {{clean_path}}
";

#[test]
fn an_answer_is_used_like_a_parameter_and_recorded() {
  let t = Scripted::default();
  let script = Script::person(&[Answer::Yes]).typing(&["/var/log/app"]);
  let ran = run(ASK_THEN_CLEAN, RunMode::Live, &t, &script);
  assert_eq!(
    script.asked.into_inner().unwrap(),
    ["input which", "confirm clean a"]
  );
  assert!(
    t.ran()
      .iter()
      .any(|(_, c)| c.contains("clean-dir /var/log/app"))
  );
  let which = ran.result.records.iter().find(|r| r.id == "which").unwrap();
  assert_eq!(
    which.results[0].captured,
    [("clean_path".to_string(), "/var/log/app".to_string())]
  );
}

#[test]
fn triage_asks_only_what_a_check_needs_and_an_unattended_triage_asks_nobody() {
  // Only an action uses the answer: a checks-only run does not ask, and goes on.
  let t = Scripted::default();
  let script = Script::person(&[]);
  let ran = run(ASK_THEN_CLEAN, RunMode::ChecksOnly, &t, &script);
  assert!(script.asked.into_inner().unwrap().is_empty());
  assert_eq!(
    ran.outcome("which", MANUAL_HOST),
    Some(Outcome::NotApplicable)
  );
  assert_eq!(ran.result.end, RunEnd::Completed);

  // A check uses it: a person is asked; nobody there, and the check cannot judge.
  let steps = "  - id: which
    title: which directory
    input: {name: clean_path, pattern: '/.*'}
  - id: size
    title: how big
    targets: [a]
    check:
      command: du-dir {{clean_path}}
      expect: {exit_code: 0}
";
  let t = Scripted::default();
  let script = Script::person(&[]).typing(&["/var/log/app"]);
  let _ = run(steps, RunMode::ChecksOnly, &t, &script);
  assert_eq!(script.asked.into_inner().unwrap(), ["input which"]);
  assert!(
    t.ran()
      .iter()
      .any(|(_, c)| c.contains("du-dir /var/log/app"))
  );
  let t = Scripted::default();
  let nobody = Unattended {
    yes: false,
    destructive: false,
  };
  let ran = run(steps, RunMode::ChecksOnly, &t, &nobody);
  assert_eq!(ran.result.end, RunEnd::Completed);
  assert_eq!(ran.outcome("size", "a"), Some(Outcome::Unknown));
  assert!(t.ran().is_empty(), "{:?}", t.ran());
}

#[test]
fn an_unattended_run_takes_the_answer_from_var_or_stops() {
  let t = Scripted::default();
  let yes = Unattended {
    yes: true,
    destructive: false,
  };
  let ran = run(ASK_THEN_CLEAN, RunMode::Live, &t, &yes);
  assert_eq!(ran.result.end, RunEnd::Stopped);
  assert!(t.ran().is_empty());
  assert!(
    ran.notices.iter().any(|n| n.contains("--var clean_path=")),
    "{:?}",
    ran.notices
  );

  let t = Scripted::default();
  let ran = run_with(
    ASK_THEN_CLEAN,
    RunMode::Live,
    &t,
    &yes,
    0,
    &[("clean_path", "/tmp/x")],
  );
  assert_eq!(ran.result.end, RunEnd::Completed);
  assert!(t.ran().iter().any(|(_, c)| c.contains("clean-dir /tmp/x")));
}

const CHOOSE: &str = "  - id: how
    title: how to recover
    choice:
      name: recovery
      options:
        restart: Restart it
        failover: Fail over
  - id: restart
    title: restart
    targets: [a]
    when: {is: {recovery: restart}}
    action:
      command: restart-it
  - id: failover
    title: failover
    targets: [a]
    when: {is: {recovery: failover}}
    action:
      command: failover-it
";

#[test]
fn a_choice_runs_its_branch_and_the_other_is_not_a_failure() {
  let t = Scripted::default();
  let script = Script::person(&[Answer::Yes]).typing(&["failover"]);
  let ran = run(CHOOSE, RunMode::Live, &t, &script);
  assert_eq!(t.ran_matching("failover-it"), ["a"]);
  assert!(t.ran_matching("restart-it").is_empty());
  assert_eq!(ran.outcome("restart", "a"), Some(Outcome::Skipped));
  assert_eq!(exit(&ran.result), 0);
}

const WAIT: &str = "  - id: lag
    title: replication lag settles
    targets: [a]
    check:
      command: show-lag
      expect:
        thresholds:
          - {name: lag, regex: 'lag=(\\d+)', max: 10}
    wait: {every: 5s, up_to: 1m}
";

#[test]
fn a_wait_polls_until_the_expectation_holds() {
  let t = Scripted::default().on(
    "a",
    "show-lag",
    vec![ok(0, "lag=50"), ok(0, "lag=30"), ok(0, "lag=4")],
  );
  let ran = run_person(WAIT, RunMode::Live, &t, &[]);
  assert_eq!(ran.outcome("lag", "a"), Some(Outcome::Passed));
  let r = &ran.result.records[0].results[0];
  let seen: Vec<Option<f64>> = r.samples.iter().map(|s| s.value).collect();
  assert_eq!(
    seen,
    [None, None, None],
    "a plain wait records whether it held, not a number"
  );
  assert_eq!(r.samples.iter().filter(|s| s.passed).count(), 1);
  assert_eq!(t.ran_matching("show-lag").len(), 3);
}

#[test]
fn a_wait_that_runs_out_of_time_fails_and_says_so() {
  let t = Scripted::default().on("a", "show-lag", vec![ok(0, "lag=50")]);
  let ran = run_person(WAIT, RunMode::Live, &t, &[]);
  assert_eq!(ran.outcome("lag", "a"), Some(Outcome::Failed));
  let r = &ran.result.records[0].results[0];
  // At 0 s, 5 s, … 60 s: 13 polls, and none after the deadline.
  assert_eq!(t.ran_matching("show-lag").len(), 13);
  let reasons = &r.verdict.as_ref().unwrap().reasons;
  assert!(
    reasons.iter().any(|x| x.contains("still not met after 1m")),
    "{reasons:?}"
  );
}

#[test]
fn a_trend_wait_ends_when_the_number_stops_rising() {
  let steps = WAIT.replace(
    "wait: {every: 5s, up_to: 1m}",
    "wait: {every: 5s, up_to: 1m, until: stops_rising, value: lag}",
  );
  let t = Scripted::default().on(
    "a",
    "show-lag",
    vec![
      ok(0, "lag=3"),
      ok(0, "lag=8"),
      ok(0, "lag=8"),
      ok(0, "lag=20"),
    ],
  );
  let ran = run_person(&steps, RunMode::Live, &t, &[]);
  // Stopped rising at 8; 8 is within the threshold.
  assert_eq!(ran.outcome("lag", "a"), Some(Outcome::Passed));
  assert_eq!(t.ran_matching("show-lag").len(), 3);
  let r = &ran.result.records[0].results[0];
  let seen: Vec<Option<f64>> = r.samples.iter().map(|s| s.value).collect();
  assert_eq!(seen, [Some(3.0), Some(8.0), Some(8.0)]);

  let t = Scripted::default().on(
    "a",
    "show-lag",
    (1..=20).map(|n| ok(0, &format!("lag={n}"))).collect(),
  );
  let ran = run_person(&steps, RunMode::Live, &t, &[]);
  assert_eq!(ran.outcome("lag", "a"), Some(Outcome::Failed));
  let reasons = &ran.result.records[0].results[0]
    .verdict
    .as_ref()
    .unwrap()
    .reasons;
  assert!(
    reasons.iter().any(|x| x.contains("lag still rising")),
    "{reasons:?}"
  );
}

#[test]
fn a_serial_step_stops_at_the_first_host_that_fails() {
  let steps = "  - id: roll
    title: rolling restart
    targets: [web]
    serial: true
    on_failure: continue
    action:
      command: restart-it
";
  let t = Scripted::default().on("a", "restart-it", vec![ok(1, "")]);
  let ran = run_person(steps, RunMode::Live, &t, &[Answer::Yes, Answer::Yes]);
  assert_eq!(t.ran_matching("restart-it"), ["a"]);
  assert_eq!(ran.outcome("roll", "a"), Some(Outcome::Failed));
  assert_eq!(ran.outcome("roll", "b"), Some(Outcome::NotRun));
}

#[test]
fn bash_steps_run_with_pipefail() {
  let steps = "  - id: probe
    title: probe
    targets: [a]
    shell: bash
    check:
      command: false | cat
      expect: {exit_code: 0}
";
  let t = Scripted::default();
  let _ = run_person(steps, RunMode::Live, &t, &[]);
  assert_eq!(t.ran()[0].1, "bash -o pipefail -c 'false | cat'");
}

const DB_DISK: &str = "  - id: db-disk
    title: db disk
    targets: [a]
    check:
      command: df-db
      expect: {exit_code: 0}
  - id: declare-p1
    title: a full database disk is P1
    when: {failed: [db-disk]}
    raise: P1
    manual: {instructions: Declare P1.}
escalation:
  - when: {failed: [db-disk]}
    to: DBA on call
  - after: 1h
    to: CTO
";

#[test]
fn a_finding_escalates_and_raises_the_severity_once() {
  let t = Scripted::default().on("a", "df-db", vec![ok(1, "")]);
  let ran = run_person(DB_DISK, RunMode::Live, &t, &[Answer::Yes]);
  assert_eq!(
    ran.notices,
    [
      "escalate to DBA on call: when db-disk failed",
      "severity P3 -> P1"
    ]
  );
  // Healthy: neither.
  let t = Scripted::default();
  let ran = run_person(DB_DISK, RunMode::Live, &t, &[Answer::Yes]);
  assert!(ran.notices.is_empty(), "{:?}", ran.notices);
  // A rehearsal walks every branch and fires nothing.
  let t = Scripted::default();
  let ran = run_person(DB_DISK, RunMode::DryRun, &t, &[Answer::Yes]);
  assert!(ran.notices.is_empty(), "{:?}", ran.notices);
}

#[test]
fn after_a_raise_the_time_ladder_is_the_new_severity_s() {
  // Forty minutes of retries after the disk is found full: the P1 ladder's 15 and 30 minute
  // rungs are called, not the runbook's own (P3) one at an hour.
  let steps = format!(
    "{}  - id: still-full
    title: still full?
    targets: [a]
    retry: {{attempts: 5, delay: 10m}}
    check:
      command: df-again
      expect: {{exit_code: 0}}
",
    DB_DISK.split("escalation:").next().unwrap()
  ) + "escalation:\n  - after: 20m\n    to: Team lead (P3)\n";
  let t =
    Scripted::default()
      .on("a", "df-db", vec![ok(1, "")])
      .on("a", "df-again", vec![ok(1, ""); 5]);
  let ran = run_person(&steps, RunMode::Live, &t, &[Answer::Yes]);
  assert_eq!(
    ran.notices,
    [
      "severity P3 -> P1",
      "call Incident Commander + all team leads at 15m",
      "call CTO / VP of Engineering at 30m",
    ]
  );
  // Resumed after the raise and the 15-minute call: still P1, and nobody is called twice.
  let (runbook, inventory) = runbook(&steps);
  let t =
    Scripted::default()
      .on("a", "df-db", vec![ok(1, "")])
      .on("a", "df-again", vec![ok(1, ""); 5]);
  let ran = run_resumed(
    &runbook,
    &inventory,
    RunMode::Live,
    &t,
    &Script::person(&[Answer::Yes]),
    0,
    &[],
    super::Prior {
      raised: Some(crate::runbook::model::Severity::P1),
      announced: vec!["Incident Commander + all team leads".into()],
      ..super::Prior::default()
    },
  );
  assert_eq!(ran.notices, ["call CTO / VP of Engineering at 30m"]);
  // Not raised: the runbook's own ladder.
  let t =
    Scripted::default()
      .on("a", "df-db", vec![ok(0, "")])
      .on("a", "df-again", vec![ok(1, ""); 5]);
  let ran = run_person(&steps, RunMode::Live, &t, &[Answer::Yes]);
  assert_eq!(ran.notices, ["call Team lead (P3) at 20m"]);
}

fn exit(result: &RunResult) -> i32 {
  crate::exec::result::exit_code_for(RunMode::Live, result.end, &result.records, |_| {
    crate::exec::result::StepRole::Check
  })
}

/// A runbook `id` from its body (everything after `severity:`), parsed and validated.
fn named(id: &str, body: &str) -> crate::runbook::Runbook {
  let text = format!("id: {id}\ntitle: {id}\nseverity: P3\n{body}");
  let leaked: &'static str = Box::leak(text.into_boxed_str());
  let mut c = crate::diagnostic::Collector::new("inventory", INVENTORY);
  let inventory = crate::inventory::Inventory::parse(&mut c, INVENTORY);
  crate::runbook::load(
    &crate::source::Source::embedded(format!("{id}.yaml"), leaked),
    Some(id),
    Some(&inventory),
  )
  .valid()
  .unwrap_or_else(|d| panic!("{d:?}"))
}

const SCALE: &str = "parameters:
  step_size: {default: '1'}
steps:
  - id: add
    title: add {{step_size}} replica
    targets: [a]
    action:
      command: add-replica {{step_size}}
  - id: settled
    title: lag settled
    targets: [a]
    check:
      command: show-lag
      expect: {exit_code: 0}
";

#[test]
fn a_called_runbook_runs_as_nested_steps_and_a_repeat_stops_when_its_until_holds() {
  let caller = named(
    "caller",
    "steps:
  - id: probe
    title: probe
    targets: [a]
    check: {command: probe-it, expect: {exit_code: 0}}
  - id: scale
    title: scale up until the lag settles
    when: {failed: [probe]}
    runbook: scale
    vars: {step_size: '2'}
    repeat: {times: 4, until: {passed: [settled]}}
  - id: after
    title: after
    targets: [a]
    when: {passed: ['scale#2/settled']}
    check: {command: after-it, expect: {exit_code: 0}}
",
  );
  let load = |id: &str| -> Result<crate::runbook::Runbook, crate::error::Error> {
    assert_eq!(id, "scale");
    Ok(named("scale", SCALE))
  };
  let expanded = crate::runbook::compose::expand(caller, &load).unwrap();
  let ids: Vec<&str> = expanded.steps.iter().map(|s| s.id.value.as_str()).collect();
  assert_eq!(
    ids,
    [
      "probe",
      "scale#1/add",
      "scale#1/settled",
      "scale#2/add",
      "scale#2/settled",
      "scale#3/add",
      "scale#3/settled",
      "scale#4/add",
      "scale#4/settled",
      "after"
    ]
  );
  let mut c = crate::diagnostic::Collector::new("inventory", INVENTORY);
  let inventory = crate::inventory::Inventory::parse(&mut c, INVENTORY);
  // Lag settles at the second round: rounds 3 and 4 never run.
  let t = Scripted::default().on("a", "probe-it", vec![ok(1, "")]).on(
    "a",
    "show-lag",
    vec![ok(1, ""), ok(0, "")],
  );
  let yes = Unattended {
    yes: true,
    destructive: false,
  };
  let ran = run_runbook(&expanded, &inventory, RunMode::Live, &t, &yes, 0, &[]);
  assert_eq!(t.ran_matching("add-replica 2").len(), 2, "{:?}", t.ran());
  assert_eq!(ran.outcome("scale#3/add", "a"), Some(Outcome::Skipped));
  assert_eq!(ran.outcome("after", "a"), Some(Outcome::Passed));
  // `probe` failed and was remedied by the calls; round 1's failed check was repeated.
  let role = |id: &str| {
    if id == "probe" {
      crate::exec::result::StepRole::RemediedCheck {
        by: vec!["scale#1/add".into()],
        verified_by: Vec::new(),
      }
    } else {
      crate::exec::result::StepRole::Check
    }
  };
  let code =
    crate::exec::result::exit_code_for(RunMode::Live, ran.result.end, &ran.result.records, role);
  assert_eq!(code, 0);

  // Healthy: the call's when: keeps every nested step from running.
  let t = Scripted::default();
  let ran = run_runbook(&expanded, &inventory, RunMode::Live, &t, &yes, 0, &[]);
  assert!(t.ran_matching("add-replica").is_empty());
  assert_eq!(ran.outcome("scale#1/add", "a"), Some(Outcome::Skipped));
}

#[test]
fn a_call_to_itself_or_with_an_unknown_var_is_refused() {
  let caller = named(
    "loop",
    "steps:
  - id: again
    title: again
    runbook: loop
",
  );
  let load = |_: &str| {
    Ok(named(
      "loop",
      "steps:\n  - id: again\n    title: again\n    runbook: loop\n",
    ))
  };
  let err = crate::runbook::compose::expand(caller, &load).unwrap_err();
  assert!(err.to_string().contains("cycle"), "{err}");

  let caller = named(
    "caller",
    "steps:
  - id: scale
    title: scale
    runbook: scale
    vars: {stepsize: '2'}
",
  );
  let load = |_: &str| Ok(named("scale", SCALE));
  let err = crate::runbook::compose::expand(caller, &load).unwrap_err();
  assert!(err.to_string().contains("no parameter"), "{err}");
  assert!(err.to_string().contains("step_size"), "{err}");
}

#[test]
fn one_of_runs_on_the_first_reachable_host_only() {
  let steps = "  - id: ask-any
    title: ask any sentinel
    targets: [web]
    one_of: true
    check:
      command: ask-sentinel
      expect: {exit_code: 0}
";
  let t = Scripted::default().down("a");
  let ran = run_person(steps, RunMode::Live, &t, &[]);
  assert_eq!(t.ran_matching("ask-sentinel"), ["b"]);
  assert_eq!(ran.outcome("ask-any", "b"), Some(Outcome::Passed));
  assert_eq!(
    ran.outcome("ask-any", "a"),
    None,
    "the other host is not asked"
  );
  let t = Scripted::default().down("a").down("b");
  let ran = run_person(steps, RunMode::Live, &t, &[]);
  assert!(t.ran_matching("ask-sentinel").is_empty());
  assert_eq!(ran.outcome("ask-any", MANUAL_HOST), Some(Outcome::Unknown));
}

#[test]
fn triage_tries_a_check_after_an_action_once() {
  let steps = "  - id: probe
    title: probe
    targets: [a]
    check: {command: probe-it, expect: {exit_code: 0}}
  - id: fix
    title: fix
    targets: [a]
    when: {failed: [probe]}
    action: {command: fix-it}
  - id: verify
    title: verify
    targets: [a]
    check: {command: verify-it, expect: {exit_code: 0}}
    retry: {attempts: 5, delay: 10s}
";
  let t =
    Scripted::default()
      .on("a", "probe-it", vec![ok(1, "")])
      .on("a", "verify-it", vec![ok(1, "")]);
  let _ = run_person(steps, RunMode::ChecksOnly, &t, &[]);
  assert_eq!(t.ran_matching("verify-it").len(), 1);
  let t =
    Scripted::default()
      .on("a", "probe-it", vec![ok(1, "")])
      .on("a", "verify-it", vec![ok(1, "")]);
  let _ = run_person(steps, RunMode::Live, &t, &[Answer::Yes]);
  assert_eq!(t.ran_matching("verify-it").len(), 5, "a live run retries");
}

/// Targets named by parameters are resolved before the run, like written names: the preflight
/// knows the host (and locks it), `--host` narrows it, and a parameter naming no host is a
/// usage error before anything connects.
#[test]
fn a_parameter_target_is_resolved_before_the_run() {
  use crate::exec::plan::Plan;
  use crate::runbook::values::Values;
  let text = "id: t\ntitle: T\nseverity: P3\nparameters:\n  where:\n    default: b\nsteps:\n  - id: fix\n    title: fix\n    targets: ['{{where}}']\n    action: {command: fix-it}\n";
  let mut c = crate::diagnostic::Collector::new("inventory", INVENTORY);
  let inventory = crate::inventory::Inventory::parse(&mut c, INVENTORY);
  let runbook = crate::runbook::load(
    &crate::source::Source::embedded("t.yaml".into(), text),
    Some("t"),
    Some(&inventory),
  )
  .valid()
  .unwrap();
  let plan_with = |vars: &[(&str, &str)], only: &[&str]| {
    let vars: Vec<(String, String)> = vars
      .iter()
      .map(|(k, v)| (k.to_string(), v.to_string()))
      .collect();
    let only: Vec<String> = only.iter().map(|h| h.to_string()).collect();
    let values = Values::resolve(&runbook, &vars, true).unwrap();
    Plan::new(&runbook, &inventory, values, RunMode::Live, &only, None)
  };
  let plan = plan_with(&[], &[]).unwrap();
  assert!(!plan.steps[0].learned_targets);
  assert_eq!(plan.remote_hosts(), ["b"]);
  assert_eq!(plan.changed_hosts(), ["b"]);
  assert_eq!(
    plan_with(&[("where", "a")], &[]).unwrap().remote_hosts(),
    ["a"]
  );
  assert!(matches!(
    plan_with(&[("where", "bb")], &[]),
    Err(crate::error::Error::UnknownTarget { name, .. }) if name == "bb"
  ));
  assert!(matches!(
    plan_with(&[], &["a"]),
    Err(crate::error::Error::NoSelectedHost { .. })
  ));
}

/// A step whose target is a value nobody learned, but whose `when:` does not hold anyway, is
/// skipped — not unknown, and the run is not short of success for it.
#[test]
fn an_unknown_target_behind_a_condition_that_does_not_hold_is_skipped() {
  let steps = FIND_THEN_ACT.replace(
    "    targets: ['{{steps.find.primary}}']\n",
    "    targets: ['{{steps.find.primary}}']\n    when: {failed: find}\n",
  );
  let t = Scripted::default().on("a", "who-is-primary", vec![ok(0, "no primary\n")]);
  let ran = run_person(&steps, RunMode::Live, &t, &[]);
  assert!(ran.asked.is_empty(), "{:?}", ran.asked);
  assert_eq!(ran.outcome("restart", MANUAL_HOST), None);
  assert_eq!(exit(&ran.result), 0);
}

/// An unattended rehearsal asks nobody: it says what a run would ask, and walks on.
#[test]
fn an_unattended_rehearsal_walks_past_a_question() {
  let t = Scripted::default();
  let ran = run(
    ASK_THEN_CLEAN,
    RunMode::DryRun,
    &t,
    &crate::exec::event::Unattended {
      yes: true,
      destructive: false,
    },
  );
  assert_eq!(ran.result.end, RunEnd::Completed);
  assert_eq!(ran.outcome("which", MANUAL_HOST), Some(Outcome::Rehearsed));
  assert!(
    ran
      .notices
      .iter()
      .any(|n| n.contains("a run asks for `clean_path` here")),
    "{:?}",
    ran.notices
  );
  assert!(t.ran().is_empty());
}
