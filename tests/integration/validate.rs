//! `runbook validate`: every rule, at the right line and column, all problems in one pass.

use crate::test::Test;

const FILE: &str = "runbooks/demo.yaml";

/// Validates `text` as runbooks/demo.yaml and returns (level, line, column, message, hint).
fn diagnostics(text: &str) -> Vec<(String, u64, u64, String, String)> {
  let run = Test::new()
    .write(FILE, text)
    .args(["--format", "json", "runbook", "validate", FILE])
    .run();
  let json = run.json();
  assert_eq!(
    json["runbooks"].as_array().unwrap().len(),
    1,
    "{}",
    run.stdout
  );
  let errors = json["errors"].as_u64().unwrap();
  assert_eq!(
    run.code,
    if errors > 0 {
      crate::test::exit::USAGE
    } else {
      crate::test::exit::SUCCESS
    },
    "exit code follows errors: {}",
    run.stdout
  );
  json["runbooks"][0]["diagnostics"]
    .as_array()
    .unwrap()
    .iter()
    .map(|d| {
      (
        d["level"].as_str().unwrap().to_string(),
        d["line"].as_u64().unwrap(),
        d["column"].as_u64().unwrap(),
        d["message"].as_str().unwrap().to_string(),
        d["hint"].as_str().unwrap_or("").to_string(),
      )
    })
    .collect()
}

/// Asserts exactly one diagnostic, at `line:column`, whose message contains `message`.
#[track_caller]
fn assert_one(text: &str, level: &str, line: u64, column: u64, message: &str, hint: &str) {
  let found = diagnostics(text);
  assert_eq!(found.len(), 1, "wanted one diagnostic, got {found:#?}");
  let (l, ln, col, msg, h) = &found[0];
  assert_eq!((l.as_str(), *ln, *col), (level, line, column), "{found:#?}");
  assert!(msg.contains(message), "message {msg:?} lacks {message:?}");
  assert!(h.contains(hint), "hint {h:?} lacks {hint:?}");
}

const VALID: &str = "\
id: demo
title: Demo
severity: P2
parameters:
  port:
    default: \"6379\"
steps:
  - id: ping
    title: Ping
    targets: [redis-master-01]
    check:
      command: redis-cli -p {{port}} ping
      expect:
        stdout_matches: '^PONG'
  - id: restart
    title: Restart
    targets: [redis]
    when:
      failed: ping
    action:
      command: systemctl restart redis
";

#[test]
fn the_base_runbook_is_valid() {
  assert!(diagnostics(VALID).is_empty());
}

#[test]
fn every_shipped_runbook_validates_without_warnings() {
  let run = Test::new()
    .args(["runbook", "validate", "--deny-warnings"])
    .expect_code(0);
  assert!(
    run.stdout.contains("0 invalid, 0 error(s), 0 warning(s)"),
    "{}",
    run.stdout
  );
}

#[test]
fn yaml_syntax_error() {
  let text = VALID.replace("    title: Ping\n", "    title: [Ping\n");
  let found = diagnostics(&text);
  assert_eq!(found.len(), 1, "{found:#?}");
  assert!(found[0].3.starts_with("invalid YAML"), "{found:#?}");
  assert!(
    found[0].1 >= 9,
    "points at or after the open bracket: {found:#?}"
  );
}

#[test]
fn unknown_key_with_did_you_mean() {
  let text = VALID.replace("      command: redis-cli", "      comand: redis-cli");
  let found = diagnostics(&text);
  let unknown = found
    .iter()
    .find(|d| d.3.contains("unknown key `comand`"))
    .expect("unknown key");
  assert_eq!((unknown.1, unknown.2), (12, 7));
  assert_eq!(unknown.4, "did you mean `command`?");
  // …and the key it was meant to be is missing, reported in the same pass.
  assert!(
    found
      .iter()
      .any(|d| d.3.contains("missing required key `command` in check"))
  );
}

#[test]
fn missing_required_key() {
  let text = VALID.replace("    title: Restart\n", "");
  assert_one(
    &text,
    "error",
    15,
    5,
    "missing required key `title` in step",
    "",
  );
}

#[test]
fn wrong_type() {
  let text = VALID.replace(
    "    targets: [redis]\n",
    "    targets: [redis]\n    sudo: \"yes\"\n",
  );
  assert_one(
    &text,
    "error",
    18,
    11,
    "`sudo` must be true or false, found a string",
    "",
  );
}

#[test]
fn unknown_host_with_did_you_mean() {
  let text = VALID.replace("[redis-master-01]", "[redis-mastr-01]");
  assert_one(
    &text,
    "error",
    10,
    15,
    "unknown host or group `redis-mastr-01`",
    "did you mean `redis-master-01`?",
  );
}

#[test]
fn unknown_group() {
  let text = VALID.replace("targets: [redis]", "targets: [cache]");
  assert_one(
    &text,
    "error",
    17,
    15,
    "unknown host or group `cache`",
    "hosts list",
  );
}

#[test]
fn undefined_parameter_points_at_the_placeholder() {
  let text = VALID.replace("-p {{port}}", "-p {{prot}}");
  assert_one(
    &text,
    "error",
    12,
    29,
    "undefined parameter `prot`",
    "did you mean `port`?",
  );
}

#[test]
fn duplicate_step_ids() {
  let text = VALID.replace("  - id: restart", "  - id: ping");
  let found = diagnostics(&text);
  assert!(
    found
      .iter()
      .any(|d| d.1 == 15 && d.2 == 9 && d.3 == "duplicate step id `ping`"),
    "{found:#?}"
  );
}

#[test]
fn when_on_a_missing_step() {
  let text = VALID.replace("failed: ping", "failed: pong");
  assert_one(
    &text,
    "error",
    19,
    15,
    "`when:` refers to unknown step `pong`",
    "did you mean `ping`?",
  );
}

#[test]
fn when_on_a_later_step() {
  let text =
    format!("{VALID}  - id: later\n    title: Later\n    manual:\n      instructions: x\n")
      .replace("failed: ping", "failed: later");
  assert_one(
    &text,
    "error",
    19,
    15,
    "refers to step `later`, which comes later",
    "earlier step",
  );
}

#[test]
fn invalid_regex() {
  let text = VALID.replace("'^PONG'", "'^PONG('");
  assert_one(
    &text,
    "error",
    14,
    25,
    "invalid regex in `stdout_matches`",
    "",
  );
}

#[test]
fn invalid_duration() {
  let text = VALID.replace(
    "    targets: [redis-master-01]\n",
    "    targets: [redis-master-01]\n    timeout: 10 parsecs\n",
  );
  assert_one(
    &text,
    "error",
    11,
    14,
    "invalid duration `10 parsecs` in `timeout`",
    "`30s`",
  );
}

#[test]
fn check_without_expectations() {
  let text = VALID.replace("      expect:\n        stdout_matches: '^PONG'\n", "");
  assert_one(
    &text,
    "error",
    12,
    7,
    "a check needs expectations",
    "exit_code: 0",
  );
}

#[test]
fn empty_expectations() {
  let text = VALID.replace(
    "      expect:\n        stdout_matches: '^PONG'\n",
    "      expect: {}\n",
  );
  assert_one(
    &text,
    "error",
    13,
    15,
    "a check needs at least one expectation",
    "",
  );
}

#[test]
fn threshold_needs_a_capture_group() {
  let text = VALID.replace(
    "        stdout_matches: '^PONG'\n",
    "        thresholds:\n          - name: used\n            regex: 'used=\\d+'\n            max: 80\n",
  );
  assert_one(&text, "error", 16, 20, "needs a capture group", "");
}

#[test]
fn step_must_be_exactly_one_kind() {
  let text = VALID.replace(
    "    action:\n",
    "    manual:\n      instructions: x\n    action:\n",
  );
  assert_one(
    &text,
    "error",
    15,
    5,
    "exactly one of check, action, manual, input or choice; this one has action and manual",
    "",
  );
}

#[test]
fn id_must_match_file_name() {
  let text = VALID.replace("id: demo", "id: other");
  assert_one(
    &text,
    "error",
    1,
    5,
    "does not match its file name `demo.yaml`",
    "",
  );
}

#[test]
fn unknown_severity() {
  let text = VALID.replace("severity: P2", "severity: P0");
  assert_one(&text, "error", 3, 11, "unknown severity `P0`", "");
}

#[test]
fn default_outside_choices() {
  let text = VALID.replace(
    "    default: \"6379\"\n",
    "    default: \"6397\"\n    choices: [\"6379\", \"6380\"]\n",
  );
  assert_one(
    &text,
    "error",
    6,
    14,
    "default `6397` is not one of the choices",
    "did you mean `6379`?",
  );
}

#[test]
fn escalation_out_of_order() {
  let text = VALID.replace(
    "steps:\n",
    "escalation:\n  - after: 20m\n    to: CTO\n  - after: 10m\n    to: Senior SRE\nsteps:\n",
  );
  assert_one(&text, "error", 10, 12, "increasing order", "");
}

#[test]
fn an_escalation_rung_testing_a_value_nobody_provides_is_an_error() {
  let text = VALID.replace(
    "steps:\n",
    "escalation:\n  - when: {is: {prot: \"6380\"}}\n    to: DBA on call\nsteps:\n",
  );
  assert_one(
    &text,
    "error",
    8,
    17,
    "escalation `when:` tests `prot`",
    "did you mean `port`?",
  );
  // A name the runbook does provide is fine.
  let fine = VALID.replace(
    "steps:\n",
    "escalation:\n  - when: {is: {port: \"6380\"}}\n    to: DBA on call\nsteps:\n",
  );
  assert!(diagnostics(&fine).is_empty(), "{:#?}", diagnostics(&fine));
}

#[test]
fn unbounded_commands_warn_and_deny_warnings_fails() {
  let text = VALID.replace(
    "command: systemctl restart redis",
    "command: tail -f /var/log/redis.log",
  );
  assert_one(
    &text,
    "warning",
    21,
    16,
    "`tail -f` never ends on its own",
    "tail -n 200",
  );
  let test = Test::new().write(FILE, &text);
  test
    .args(["runbook", "validate", "--deny-warnings", FILE])
    .expect_code(2);
}

#[test]
fn every_problem_in_one_pass() {
  let text = VALID
    .replace("severity: P2", "severity: P9")
    .replace("[redis-master-01]", "[nowhere]")
    .replace("{{port}}", "{{nope}}")
    .replace("failed: ping", "failed: pong")
    .replace(
      "    title: Restart\n",
      "    title: Restart\n    retry: {attempts: 0}\n",
    );
  let found = diagnostics(&text);
  let messages: Vec<&str> = found.iter().map(|d| d.3.as_str()).collect();
  assert_eq!(found.len(), 5, "{messages:#?}");
  let lines: Vec<u64> = found.iter().map(|d| d.1).collect();
  assert_eq!(
    lines,
    vec![3, 10, 12, 17, 20],
    "sorted by position: {messages:#?}"
  );
}

#[test]
fn text_rendering_shows_location_source_line_caret_and_hint() {
  let text = VALID.replace("[redis-master-01]", "[redis-mastr-01]");
  let run = Test::new()
    .write(FILE, &text)
    .args(["--color", "never", "runbook", "validate", FILE])
    .expect_code(2);
  let expected = "\
error: unknown host or group `redis-mastr-01` in step `ping`
  --> runbooks/demo.yaml:10:15
   |
10 |     targets: [redis-mastr-01]
   |               ^
   = hint: did you mean `redis-master-01`?

checked 1 runbook(s): 1 invalid, 1 error(s), 0 warning(s)
";
  assert_eq!(run.stdout, expected);
}

#[test]
fn oversized_file_is_refused() {
  let text = format!("{VALID}# {}\n", "x".repeat(300 * 1024));
  let run = Test::new()
    .write(FILE, &text)
    .args(["runbook", "validate", FILE])
    .expect_code(2);
  assert!(
    run.stdout.contains("limited to 262144 bytes")
      || run.stdout.contains("more than the 262144 bytes"),
    "{}",
    run.stdout
  );
}

#[test]
fn alias_bomb_is_refused_quickly() {
  let mut text =
    String::from("id: demo\ntitle: x\nseverity: P1\na0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
  for i in 1..15 {
    let p = i - 1;
    text.push_str(&format!(
      "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
    ));
  }
  let found = diagnostics(&text);
  assert_eq!(found.len(), 1, "{found:#?}");
  assert!(found[0].3.starts_with("invalid YAML"), "{found:#?}");
}

#[test]
fn unknown_runbook_id_gets_did_you_mean() {
  let run = Test::new()
    .args(["runbook", "validate", "redis-outgae"])
    .expect_code(2);
  assert!(
    run.stderr.contains("unknown runbook `redis-outgae`"),
    "{}",
    run.stderr
  );
  assert!(
    run.stderr.contains("did you mean `redis-outage`?"),
    "{}",
    run.stderr
  );
}

const AFTER: &str = "\
id: demo
title: Demo
severity: P2
steps:
  - id: ping
    title: ping
    targets: [redis-master-01]
    check: {command: redis-cli ping, expect: {exit_code: 0}}
  - id: restart
    title: restart
    targets: [redis-master-01]
    when: {failed: [ping]}
    action: {command: systemctl restart redis-server}
  - id: verify
    title: verify
    targets: [redis-master-01]
    after: AFTER
    when: {unknown: [ping], passed: [restart]}
    check: {command: redis-cli ping, expect: {exit_code: 0}}
";

#[test]
fn after_names_an_earlier_action_and_when_can_name_unknown() {
  assert!(diagnostics(&AFTER.replace("AFTER", "restart")).is_empty());
  assert_one(
    &AFTER.replace("AFTER", "ping"),
    "error",
    17,
    12,
    "`after:` names `ping`, which is a check, not an action",
    "verification of that action",
  );
  assert_one(
    &AFTER.replace("AFTER", "restrat"),
    "error",
    17,
    12,
    "`after:` refers to `restrat`, which is not an earlier step",
    "restart",
  );
}

/// `verifies:` names earlier checks only.
#[test]
fn verifies_names_earlier_checks() {
  let with = |v: &str| AFTER.replace("    after: AFTER\n", &format!("    verifies: {v}\n"));
  assert!(diagnostics(&with("ping")).is_empty());
  assert!(diagnostics(&with("[ping]")).is_empty());
  assert_one(
    &with("restart"),
    "error",
    17,
    15,
    "`verifies:` names `restart`, which is an action, not a check",
    "measuring an earlier check again",
  );
  assert_one(
    &with("pign"),
    "error",
    17,
    15,
    "`verifies:` refers to `pign`, which is not an earlier step",
    "ping",
  );
}

#[test]
fn yaml_problems_are_said_without_library_jargon() {
  let dup = diagnostics(&VALID.replacen("title: Demo", "title: Demo\ntitle: Again", 1));
  assert!(
    dup
      .iter()
      .any(|d| d.3.contains("the key `title` appears twice")),
    "{dup:#?}"
  );
  assert!(
    !format!("{dup:?}").contains("DuplicateKeyPolicy"),
    "{dup:#?}"
  );
  let deep = format!("id: demo\nx: {}{}\n", "[".repeat(40), "]".repeat(40));
  let deep = diagnostics(&deep);
  assert!(
    deep
      .iter()
      .any(|d| d.3.contains("nested deeper than the 32 levels")),
    "{deep:#?}"
  );
  assert!(
    !format!("{deep:?}").contains("budget breached"),
    "{deep:#?}"
  );
}

#[test]
fn a_file_that_is_not_utf8_is_invalid_at_its_first_bad_byte() {
  let test = Test::new();
  let path = test.path(FILE);
  std::fs::create_dir_all(path.parent().unwrap()).unwrap();
  std::fs::write(&path, b"id: demo\ntitle: caf\xe9\n").unwrap();
  let run = test.args(["runbook", "validate", FILE]).run();
  assert_eq!(run.code, crate::test::exit::USAGE, "{}", run.stderr);
  assert!(
    run.stderr.contains("runbooks/demo.yaml:2:11"),
    "{}",
    run.stderr
  );
  assert!(run.stderr.contains("is not UTF-8"), "{}", run.stderr);
}

#[test]
fn an_inventory_user_that_ssh_would_read_as_an_option_is_refused() {
  let run = Test::new()
    .write(
      "inventory.yaml",
      "hosts:\n  - name: db-01\n    user: -oProxyCommand=touch\n",
    )
    .args(["--inventory", "inventory.yaml", "hosts", "list"])
    .run();
  assert_eq!(run.code, crate::test::exit::USAGE, "{}", run.stderr);
  assert!(
    run.stderr.contains("cannot be a login user"),
    "{}",
    run.stderr
  );
  assert!(run.stderr.contains("inventory.yaml:3:11"), "{}", run.stderr);
}

#[test]
fn a_placeholder_inside_the_authors_quotes_fails_deny_warnings() {
  let text = "\
id: demo
title: Demo
severity: P2
parameters:
  path:
    default: /var/log
steps:
  - id: look
    title: look
    targets: [local]
    check:
      command: |
        ls \"{{path}}\"
      expect: {exit_code: 0}
";
  let found = diagnostics(text);
  assert_eq!(found.len(), 1, "{found:#?}");
  let (level, line, column, message, hint) = &found[0];
  assert_eq!(
    (level.as_str(), *line, *column),
    ("warning", 13, 13),
    "{found:#?}"
  );
  assert!(message.contains("`{{path}}` is inside quotes"), "{message}");
  assert!(hint.contains("without quotes"), "{hint}");
  let run = Test::new()
    .write(FILE, text)
    .args(["runbook", "validate", "--deny-warnings", FILE])
    .run();
  assert_eq!(run.code, crate::test::exit::USAGE, "{}", run.stdout);
}

#[test]
fn a_manual_step_refuses_keys_about_commands() {
  let text = format!(
    "{VALID}  - id: tell
    title: Tell
    timeout: 5s
    manual:
      instructions: x
"
  );
  assert_one(
    &text,
    "error",
    24,
    5,
    "`timeout` does not apply to a manual step",
    "runs no command",
  );
}

#[test]
fn a_capture_is_usable_only_after_the_step_that_takes_it() {
  let early = VALID.replace(
    "command: systemctl restart redis",
    "command: systemctl restart {{steps.ping.pong}}",
  );
  assert_one(
    &early,
    "error",
    21,
    34,
    "`steps.ping.pong` in step `restart` is not a capture of an earlier step",
    "capture: {pong:",
  );
  let declared = early.replace(
    "        stdout_matches: '^PONG'\n",
    "        stdout_matches: '^PONG'\n    capture: {pong: '^(\\w+)'}\n",
  );
  assert_eq!(diagnostics(&declared), vec![]);
}

#[test]
fn a_when_on_a_value_needs_a_value_of_that_name() {
  let text = VALID.replace("      failed: ping\n", "      is: {prot: '6380'}\n");
  assert_one(&text, "error", 19, 12, "`when:` tests `prot`", "port");
}

#[test]
fn bash_syntax_under_sh_is_a_warning_and_bash_silences_it() {
  let text = VALID.replace(
    "command: systemctl restart redis",
    "command: '[[ -e /run/redis ]] && systemctl restart redis'",
  );
  assert_one(
    &text,
    "warning",
    21,
    17,
    "`[[ … ]]` in step `restart` is bash syntax",
    "shell: bash",
  );
  let bash = text.replace("steps:\n", "shell: bash\nsteps:\n");
  assert_eq!(diagnostics(&bash), vec![]);
}
