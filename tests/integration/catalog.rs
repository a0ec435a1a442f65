//! Discovery and overrides of runbooks and inventory; list, show and hosts output.

use crate::test::Test;

/// Every scenario the seeds describe, shipped and embedded.
const SHIPPED: &[&str] = &[
  "ai-inference-latency",
  "ai-model-outage",
  "api-down",
  "data-corruption",
  "db-connection-pool",
  "db-primary-failure",
  "db-slow-query",
  "ddos",
  "deploy-rollback",
  "disk-full",
  "dr-failback",
  "dr-failover",
  "external-api-timeout",
  "gpu-failure",
  "memory-leak",
  "network-outage",
  "proxy-outage",
  "redis-outage",
  "security-incident",
  "ssl-expiry",
  "zone-api-outage",
];

fn runbook(id: &str, title: &str) -> String {
  format!(
    "id: {id}\ntitle: {title}\nseverity: P3\nsteps:\n  - id: look\n    title: Look\n    targets: [local]\n    check:\n      command: 'true'\n      expect: {{exit_code: 0}}\n"
  )
}

#[test]
fn list_works_from_an_unrelated_directory_and_json_parses() {
  let test = Test::new();
  let run = test
    .args(["--format", "json", "runbook", "list"])
    .expect_code(0);
  let rows = run.json();
  let rows = rows.as_array().unwrap();
  let ids: Vec<&str> = rows.iter().map(|r| r["id"].as_str().unwrap()).collect();
  for id in SHIPPED {
    assert!(ids.contains(id), "{id} missing from {ids:?}");
  }
  for row in rows {
    assert_eq!(row["origin"], "embedded", "{row}");
    assert!(row["steps"].as_u64().unwrap() >= 3, "{row}");
    assert!(
      ["P1", "P2", "P3", "P4"].contains(&row["severity"].as_str().unwrap()),
      "{row}"
    );
    assert!(!row["hosts"].as_array().unwrap().is_empty(), "{row}");
  }
}

#[test]
fn list_text_has_a_row_per_runbook() {
  let run = Test::new()
    .args(["--color", "never", "runbook", "list"])
    .expect_code(0);
  let mut lines = run.stdout.lines();
  assert!(lines.next().unwrap().starts_with("ID"), "{}", run.stdout);
  let redis = run
    .stdout
    .lines()
    .find(|l| l.starts_with("redis-outage "))
    .expect("redis-outage row");
  assert!(redis.contains("redis-master-01"), "{redis}");
  assert_eq!(
    run.stdout.lines().count(),
    SHIPPED.len() + 1,
    "{}",
    run.stdout
  );
}

fn origin_and_title(test: Test) -> (String, String) {
  let run = test
    .args(["--format", "json", "runbook", "show", "redis-outage"])
    .expect_code(0);
  let json = run.json();
  (
    json["origin"].as_str().unwrap().to_string(),
    json["title"].as_str().unwrap().to_string(),
  )
}

#[test]
fn runbook_directories_override_in_order() {
  let build = || {
    Test::new()
      .write(
        "xdg-config/megacity/runbooks/redis-outage.yaml",
        &runbook("redis-outage", "from xdg"),
      )
      .write(
        "runbooks/redis-outage.yaml",
        &runbook("redis-outage", "from cwd"),
      )
      .write(
        "env/redis-outage.yaml",
        &runbook("redis-outage", "from env"),
      )
      .write(
        "flag/redis-outage.yaml",
        &runbook("redis-outage", "from flag"),
      )
  };
  // Embedded only: a scratch HOME and cwd with nothing in them.
  let (origin, _) = origin_and_title(Test::new());
  assert_eq!(origin, "embedded");

  let t = build();
  std::fs::remove_dir_all(t.path("runbooks")).unwrap();
  assert_eq!(origin_and_title(t).1, "from xdg");

  let t = build();
  assert_eq!(origin_and_title(t).1, "from cwd");

  let t = build();
  let env = t.path("env");
  let t = t.env("MEGACITY_RUNBOOKS", env.to_str().unwrap());
  assert_eq!(origin_and_title(t).1, "from env");

  let t = build();
  let (env, flag) = (t.path("env"), t.path("flag"));
  let t = t
    .env("MEGACITY_RUNBOOKS", env.to_str().unwrap())
    .args(["--runbooks", flag.to_str().unwrap()]);
  let (origin, title) = origin_and_title(t);
  assert_eq!(title, "from flag");
  assert!(origin.ends_with("flag/redis-outage.yaml"), "{origin}");

  // Overriding one id leaves the others embedded, and adds new ids.
  let t = Test::new().write("runbooks/my-own.yaml", &runbook("my-own", "mine"));
  let rows = t
    .args(["--format", "json", "runbook", "list"])
    .expect_code(0)
    .json();
  let rows = rows.as_array().unwrap();
  assert_eq!(rows.len(), SHIPPED.len() + 1);
  assert!(
    rows
      .iter()
      .any(|r| r["id"] == "my-own" && r["origin"] == "runbooks/my-own.yaml")
  );
}

#[test]
fn missing_explicit_runbook_directory_is_an_error() {
  let run = Test::new()
    .args(["--runbooks", "/nonexistent/megacity", "runbook", "list"])
    .expect_code(4);
  assert!(
    run.stderr.contains("/nonexistent/megacity"),
    "{}",
    run.stderr
  );
}

#[test]
fn an_invalid_user_runbook_does_not_hide_the_others() {
  let t = Test::new().write("runbooks/broken.yaml", "id: broken\ntitle: [\n");
  let run = t
    .args(["--format", "json", "runbook", "list"])
    .expect_code(0);
  assert_eq!(run.json().as_array().unwrap().len(), SHIPPED.len());
  assert!(
    run.stderr.contains("skipped 1 invalid runbook(s): broken"),
    "{}",
    run.stderr
  );
}

const INVENTORY: &str = "hosts:\n  - name: alpha-01\n    groups: [alpha]\n";

fn hosts(test: Test) -> Vec<String> {
  let json = test
    .args(["--format", "json", "hosts", "list"])
    .expect_code(0)
    .json();
  json["hosts"]
    .as_array()
    .unwrap()
    .iter()
    .map(|h| h["name"].as_str().unwrap().to_string())
    .collect()
}

#[test]
fn inventory_override_order() {
  let embedded = hosts(Test::new());
  assert_eq!(embedded.len(), 10);
  assert!(embedded.contains(&"redis-master-01".to_string()));

  let xdg = Test::new().write("xdg-config/megacity/inventory.yaml", INVENTORY);
  assert_eq!(hosts(xdg), vec!["alpha-01"]);

  let env = Test::new()
    .write(
      "xdg-config/megacity/inventory.yaml",
      "hosts:\n  - name: from-xdg\n",
    )
    .write("env.yaml", "hosts:\n  - name: from-env\n");
  let path = env.path("env.yaml");
  assert_eq!(
    hosts(env.env("MEGACITY_INVENTORY", path.to_str().unwrap())),
    vec!["from-env"]
  );

  let flag = Test::new()
    .write("env.yaml", "hosts:\n  - name: from-env\n")
    .write("flag.yaml", INVENTORY);
  let (env_path, flag_path) = (flag.path("env.yaml"), flag.path("flag.yaml"));
  let flag = flag
    .env("MEGACITY_INVENTORY", env_path.to_str().unwrap())
    .args(["--inventory", flag_path.to_str().unwrap()]);
  assert_eq!(hosts(flag), vec!["alpha-01"]);
}

#[test]
fn shipped_runbooks_fail_validation_against_an_inventory_without_their_hosts() {
  let t = Test::new().write("inv.yaml", INVENTORY);
  let run = t
    .args([
      "--inventory",
      "inv.yaml",
      "runbook",
      "validate",
      "redis-outage",
    ])
    .expect_code(2);
  assert!(
    run.stdout.contains("unknown host or group `redis"),
    "{}",
    run.stdout
  );
}

#[test]
fn invalid_inventory_reports_positions() {
  let t = Test::new().write("inv.yaml", "hosts:\n  - name: a\n    gropus: [x]\n");
  let run = t
    .args([
      "--color",
      "never",
      "--inventory",
      "inv.yaml",
      "hosts",
      "list",
    ])
    .expect_code(2);
  assert!(run.stderr.contains("inv.yaml:3:5"), "{}", run.stderr);
  assert!(
    run.stderr.contains("did you mean `groups`?"),
    "{}",
    run.stderr
  );
}

#[test]
fn hosts_list_filters_by_group_and_rejects_unknown_names() {
  let json = Test::new()
    .args(["--format", "json", "hosts", "list", "redis"])
    .expect_code(0)
    .json();
  let names: Vec<&str> = json["hosts"]
    .as_array()
    .unwrap()
    .iter()
    .map(|h| h["name"].as_str().unwrap())
    .collect();
  assert_eq!(names, vec!["redis-master-01", "redis-replica-01"]);
  let run = Test::new().args(["hosts", "list", "reddis"]).expect_code(2);
  assert!(
    run.stderr.contains("did you mean `redis`?"),
    "{}",
    run.stderr
  );
}

#[test]
fn show_lists_every_step_with_targets_and_commands() {
  let json = Test::new()
    .args(["--format", "json", "runbook", "show", "redis-outage"])
    .expect_code(0)
    .json();
  let steps = json["steps"].as_array().unwrap();
  let plan = json["plan"].as_array().unwrap();
  assert_eq!(steps.len(), plan.len());
  assert!(steps.iter().any(|s| s["kind"] == "check"));
  assert!(steps.iter().any(|s| s["kind"] == "action"));
  assert!(plan.iter().any(|p| {
    p["hosts"]
      .as_array()
      .unwrap()
      .iter()
      .any(|h| h == "redis-master-01")
  }));
  assert!(plan.iter().any(|p| {
    p["command"]
      .as_str()
      .is_some_and(|c| c.contains("redis-cli"))
  }));
  let text = Test::new()
    .args(["--color", "never", "runbook", "show", "redis-outage"])
    .expect_code(0);
  assert!(text.stdout.contains("severity P2"), "{}", text.stdout);
  assert!(text.stdout.contains("redis-cli"), "{}", text.stdout);
}

#[test]
fn show_renders_parameter_values_quoted_and_masks_secrets() {
  let t = Test::new()
    .write(
      "runbooks/demo.yaml",
      "id: demo\ntitle: Demo\nseverity: P3\nparameters:\n  name:\n    default: x\n  token:\n    secret_env: DEMO_TOKEN\nsteps:\n  - id: a\n    title: A\n    targets: [local]\n    check:\n      command: echo {{name}} {{token}}\n      expect: {exit_code: 0}\n",
    )
    .env("DEMO_TOKEN", "hunter2");
  let run = t
    .args([
      "--format",
      "json",
      "runbook",
      "show",
      "demo",
      "--var",
      "name=$(touch pwned)",
    ])
    .expect_code(0);
  assert_eq!(
    run.json()["plan"][0]["command"],
    "echo '$(touch pwned)' '********'"
  );
  assert!(!run.stdout.contains("hunter2"));
}

#[test]
fn show_rejects_unknown_parameters_and_steps_with_suggestions() {
  let run = Test::new()
    .args(["runbook", "show", "redis-outage", "--step", "pnig"])
    .expect_code(2);
  assert!(run.stderr.contains("unknown step `pnig`"), "{}", run.stderr);
  let run = Test::new()
    .args(["runbook", "show", "redis-outag"])
    .expect_code(2);
  assert!(
    run.stderr.contains("did you mean `redis-outage`?"),
    "{}",
    run.stderr
  );
}

fn shipped_steps(id: &str) -> Vec<serde_json::Value> {
  let json = Test::new()
    .args(["--format", "json", "runbook", "show", id])
    .expect_code(0)
    .json();
  json["steps"].as_array().unwrap().clone()
}

#[test]
fn every_shipped_runbook_verifies_after_its_last_action() {
  for id in SHIPPED {
    let steps = shipped_steps(id);
    // Actions change hosts; when a runbook has none, its manual steps are the changes.
    let last_change = steps
      .iter()
      .rposition(|s| s["kind"] == "action")
      .or_else(|| steps.iter().rposition(|s| s["kind"] == "manual"));
    let has_check_after = |from: usize| steps[from..].iter().any(|s| s["kind"] == "check");
    assert!(
      last_change.is_some_and(|i| has_check_after(i + 1)),
      "{id}: no verification check after the last change"
    );
    assert!(
      steps
        .iter()
        .any(|s| s["kind"] == "check" && s["when"].is_null()),
      "{id}: no unconditional check"
    );
  }
}

#[test]
fn shipped_actions_that_lose_data_are_marked_destructive() {
  let lossy = [
    "pg_terminate_backend",
    "prune",
    "promote",
    "pg_restore",
    "rm -",
    "-delete",
    "truncate",
    "failover",
  ];
  let mut seen = 0;
  for id in SHIPPED {
    for step in shipped_steps(id).iter().filter(|s| s["kind"] == "action") {
      let command = step["command"].as_str().unwrap();
      if let Some(word) = lossy.iter().find(|w| command.contains(*w)) {
        seen += 1;
        assert_eq!(
          step["destructive"], true,
          "{id}/{}: `{word}` but not destructive",
          step["id"]
        );
      }
    }
  }
  assert!(
    seen >= 5,
    "the check looked at {seen} lossy actions; the word list is out of date"
  );
}

#[test]
fn show_escapes_bidi_and_invisible_characters_from_the_runbook() {
  // U+202E would show `Look here` reversed; U+200B hides inside the command.
  let t = Test::new().write(
    "runbooks/tricky.yaml",
    "id: tricky\ntitle: \"Tricky \\u202e title\"\nseverity: P3\nsteps:\n  - id: look\n    title: \"Look \\u202e here\"\n    targets: [local]\n    check:\n      command: \"echo \\u200b hi\"\n      expect: {exit_code: 0}\n",
  );
  let run = t
    .args(["--color", "never", "runbook", "show", "tricky"])
    .expect_code(0);
  assert_eq!(
    run.stdout,
    "tricky — Tricky \\u{202e} title\n\
     severity P3 (minor): respond within 2h, recover within 1day\n\
     from: runbooks/tricky.yaml\n\
     \n\
     Steps:\n\
     \n  \
     1. look [check] Look \\u{202e} here\n     \
     on   local\n     \
     $ echo \\u{200b} hi\n     \
     expect exit 0\n     \
     timeout 1m, on failure: continue\n"
  );
  assert!(!run.stdout.contains('\u{202e}') && !run.stdout.contains('\u{200b}'));
}

#[test]
fn hosts_list_escapes_bidi_characters_from_the_inventory() {
  let t = Test::new().write(
    "inv.yaml",
    "hosts:\n  - name: web-01\n    groups: [web]\n    role: \"front\\u2066end\"\n",
  );
  let t = t.args([
    "--color",
    "never",
    "--inventory",
    "inv.yaml",
    "hosts",
    "list",
  ]);
  let run = t.expect_code(0);
  assert_eq!(
    run.stdout,
    "HOST    GROUPS  ROLE\nweb-01  web     front\\u{2066}end\n"
  );
  // Host names are refused, and the refusal quotes the name escaped.
  let t = t
    .reset()
    .write("inv.yaml", "hosts:\n  - name: \"web\\u202e-01\"\n");
  let run = t
    .args([
      "--color",
      "never",
      "--inventory",
      "inv.yaml",
      "hosts",
      "list",
    ])
    .expect_code(2);
  assert!(
    run
      .stderr
      .contains("`web\\u{202e}-01` cannot be a host name"),
    "{}",
    run.stderr
  );
  assert!(!run.stderr.contains('\u{202e}'), "{}", run.stderr);
}

/// A runbook directory shared with other YAML: only runbooks are taken, and `list` and
/// `validate` say on stderr, one line each, what they skipped; `run` of a skipped name says why.
#[test]
fn runbook_directories_take_only_runbooks_and_say_what_they_skipped() {
  let t = Test::new()
    .write("runbooks/mine.yaml", &runbook("mine", "mine"))
    .write(
      "runbooks/generated.yaml",
      r#"{"id": "generated", "title": "Generated", "severity": "P3", "steps": [{"id": "look", "title": "Look", "targets": ["local"], "check": {"command": "true", "expect": {"exit_code": 0}}}]}"#,
    )
    .write(
      "runbooks/docker-compose.yml",
      "services:\n  web:\n    image: nginx\n    id: web\n",
    )
    .write("runbooks/hosts.yaml", "- id: a\n- id: b\n");
  let list = t.run_with(&["--format", "json", "runbook", "list"]);
  assert_eq!(list.code, 0, "{}", list.stderr);
  let rows = list.json();
  let ids: Vec<&str> = rows
    .as_array()
    .unwrap()
    .iter()
    .map(|r| r["id"].as_str().unwrap())
    .collect();
  assert_eq!(ids.len(), SHIPPED.len() + 2, "{ids:?}");
  assert!(
    ids.contains(&"mine") && ids.contains(&"generated"),
    "{ids:?}"
  );
  let notes = |stderr: &str| -> Vec<String> {
    stderr
      .lines()
      .filter(|l| l.starts_with("note: skipped "))
      .map(str::to_string)
      .collect()
  };
  let expected = [
    "note: skipped runbooks/docker-compose.yml: no top-level `id:` key, so it is not a runbook",
    "note: skipped runbooks/hosts.yaml: no top-level `id:` key, so it is not a runbook",
  ];
  assert_eq!(notes(&list.stderr), expected, "{}", list.stderr);
  let validate = t.run_with(&["--color", "never", "runbook", "validate"]);
  assert_eq!(validate.code, 0, "{}\n{}", validate.stdout, validate.stderr);
  assert_eq!(notes(&validate.stderr), expected, "{}", validate.stderr);
  assert!(
    !validate.stdout.contains("docker-compose"),
    "{}",
    validate.stdout
  );
  let run = t.run_with(&["runbook", "run", "docker-compose", "--dry-run", "--yes"]);
  assert_eq!(run.code, 2, "{}", run.stderr);
  assert!(
    run.stderr.contains(
      "skipped runbooks/docker-compose.yml: no top-level `id:` key, so it is not a runbook"
    ),
    "{}",
    run.stderr
  );
}

#[test]
fn run_is_a_top_level_command_and_without_an_id_lists_the_runbooks() {
  let run = Test::new()
    .args([
      "run",
      "redis-outage",
      "--dry-run",
      "--yes",
      "--color",
      "never",
    ])
    .run();
  assert_eq!(run.code, crate::test::exit::SUCCESS, "{}", run.stderr);
  assert!(run.stdout.contains("redis-ping"), "{}", run.stdout);
  let bare = Test::new().args(["run"]).run();
  assert_eq!(bare.code, crate::test::exit::USAGE);
  assert!(bare.stderr.contains("which runbook?"), "{}", bare.stderr);
  assert!(bare.stderr.contains("redis-outage"), "{}", bare.stderr);
  let help = Test::new().args(["--help"]).run();
  let first = help
    .stdout
    .lines()
    .find(|l| l.trim_start().starts_with(|c: char| c.is_ascii_lowercase()) && l.starts_with("  "))
    .unwrap_or("");
  assert!(first.trim_start().starts_with("run "), "{}", help.stdout);
  assert!(help.stdout.contains("Examples:"), "{}", help.stdout);
  let run_help = Test::new().args(["run", "--help"]).run();
  assert!(run_help.stdout.contains("Safety:"), "{}", run_help.stdout);
}

/// Tables fit the terminal they are shown on (here 80 columns), and stay whole through a pipe.
#[test]
fn tables_fit_an_80_column_terminal_and_stay_whole_in_a_pipe() {
  let t = Test::new();
  let command = t.shell(&format!(
    "stty cols 80 rows 24; exec {} --color never runbook list",
    crate::test::BIN
  ));
  let mut s = rexpect::session::spawn_command(command, Some(30_000)).unwrap();
  // rexpect hands back one char per byte: put the UTF-8 back together.
  let bytes: Vec<u8> = s
    .exp_eof()
    .unwrap()
    .chars()
    .map(|c| c as u32 as u8)
    .collect();
  let out = String::from_utf8_lossy(&bytes).into_owned();
  let rows: Vec<&str> = out.lines().filter(|l| !l.trim().is_empty()).collect();
  assert_eq!(rows.len(), SHIPPED.len() + 1, "{out}");
  for row in &rows {
    assert!(
      console::measure_text_width(row.trim_end_matches('\r')) <= 80,
      "wider than the terminal: {row:?}"
    );
  }
  assert!(out.contains('…'), "long rows are cut with …: {out}");
  let piped = Test::new()
    .args(["--color", "never", "runbook", "list"])
    .expect_code(0);
  assert!(!piped.stdout.contains('…'), "{}", piped.stdout);
  assert!(piped.stdout.lines().any(|l| l.chars().count() > 80));
}

/// The examples of the README's "Using it", as typed after `megacity `.
pub(crate) fn readme_examples() -> Vec<String> {
  let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
  let section = readme
    .split("## Using it")
    .nth(1)
    .and_then(|s| s.split("Global options").next())
    .expect("the README has its Using it section");
  section
    .lines()
    .filter_map(|l| l.trim().strip_prefix("megacity "))
    .map(|l| l.split(" #").next().unwrap().trim().to_string())
    .collect()
}

/// The README's examples that reach hosts (or an Alertmanager) of the shipped inventory: run
/// as written on a healthy fleet, in tests/integration/healthy.rs.
pub(crate) const README_NEEDS_HOSTS: [&str; 7] = [
  "run redis-outage",
  "run redis-outage --checks-only",
  "run disk-full --host api --from truncate-log",
  "doctor [redis]",
  "alerts --alertmanager URL",
  "run --alert HighErrorRate",
  "hosts check [redis]",
];

/// Every example of the README's "Using it" that needs no host runs as written (in a scratch
/// project holding a recorded run and the files the examples name): none is a usage error or a
/// crash. Those that reach hosts are listed above and run on a fleet, so a new example is run
/// in one place or the other.
#[test]
fn the_readmes_examples_run_as_written() {
  let examples = readme_examples();
  assert!(examples.len() >= 20, "{examples:?}");
  let t = Test::new()
    .write("my-runbooks/x.yaml", "id: x\ntitle: X\nseverity: P4\nsteps:\n  - id: a\n    title: a\n    manual: {instructions: a}\n")
    .write("hosts.ini", "[redis]\nredis-master-01\n");
  // A recorded run for `last`, stopped (nobody answered its question) so that `--resume last`
  // has something to continue.
  let t = t
    .write(
      "runbooks/ask.yaml",
      "id: ask\ntitle: Ask\nseverity: P4\nsteps:\n  - id: q\n    title: q\n    input: {name: answer}\n",
    )
    .args(["run", "ask", "--yes"]);
  assert_eq!(t.run().code, 1);
  let mut t = t.reset();
  for example in &examples {
    if README_NEEDS_HOSTS.contains(&example.as_str()) {
      continue;
    }
    // `[redis]` is an optional argument; `a|b|c` are alternatives: each is run.
    let example = example.replace(['[', ']'], "");
    let words: Vec<&str> = example.split_whitespace().collect();
    let alternatives: Vec<Vec<String>> = match words.iter().position(|w| w.contains('|')) {
      Some(i) => words[i]
        .split('|')
        .map(|alt| {
          let mut w: Vec<String> = words.iter().map(|s| s.to_string()).collect();
          w[i] = alt.to_string();
          w
        })
        .collect(),
      None => vec![words.iter().map(|s| s.to_string()).collect()],
    };
    for words in alternatives {
      let with = t.args(&words);
      let run = with.run();
      t = with.reset();
      let line = words.join(" ");
      // Without a terminal these refuse by design (nobody could answer), saying what to do;
      // `run` without an id lists the runbooks.
      let by_design = match line.as_str() {
        "run redis-outage --dry-run" | "run --resume last" => {
          run.stderr.contains("stdin is not a terminal")
        }
        "run" => run.stderr.contains("which runbook?"),
        _ => false,
      };
      assert!(
        run.code == 0 || run.code == 1 || (run.code == 2 && by_design),
        "`megacity {}` exited {}:\n{}\n{}",
        words.join(" "),
        run.code,
        run.stdout,
        run.stderr
      );
    }
  }
}
