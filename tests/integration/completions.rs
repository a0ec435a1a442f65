//! Completion scripts are current, and dynamic values come from the live catalog.

use std::path::Path;

use crate::test::{BIN, Test};

const SCRIPTS: &[(&str, &str)] = &[
  ("bash", "megacity.bash"),
  ("zsh", "_megacity"),
  ("fish", "megacity.fish"),
  ("elvish", "megacity.elv"),
  ("powershell", "_megacity.ps1"),
];

#[test]
fn committed_completion_scripts_are_current() {
  let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("completions");
  for (shell, file) in SCRIPTS {
    let run = Test::new().args(["completions", shell]).expect_code(0);
    let committed = std::fs::read_to_string(dir.join(file)).unwrap_or_default();
    assert!(
      run.stdout == committed && !committed.is_empty(),
      "completions/{file} is stale: run `cargo run -q -- completions {shell} > completions/{file}`"
    );
  }
}

/// Asks for completions the way the fish script does: one candidate per line, help after a tab.
fn complete(test: Test, words: &[&str]) -> Vec<String> {
  let run = test
    .env("COMPLETE", "fish")
    .arg("--")
    .arg("megacity")
    .args(words)
    .expect_code(0);
  run
    .stdout
    .lines()
    .map(|l| l.split('\t').next().unwrap().to_string())
    .collect()
}

#[test]
fn runbook_ids_complete_dynamically() {
  assert_eq!(
    complete(Test::new(), &["runbook", "show", "red"]),
    vec!["redis-outage"]
  );
  let t = Test::new().write("runbooks/redis-extra.yaml", "id: redis-extra\n");
  assert_eq!(
    complete(t, &["runbook", "validate", "red"]),
    vec!["redis-extra", "redis-outage"]
  );
}

#[test]
fn runbook_ids_complete_from_a_runbooks_flag_on_the_line() {
  let t = Test::new().write("elsewhere/redis-mine.yaml", "id: redis-mine\n");
  let dir = t.path("elsewhere");
  let found = complete(
    t,
    &[
      "--runbooks",
      dir.to_str().unwrap(),
      "runbook",
      "show",
      "redis-m",
    ],
  );
  assert_eq!(found, vec!["redis-mine"]);
}

#[test]
fn hosts_and_groups_complete() {
  assert_eq!(
    complete(Test::new(), &["hosts", "list", "red"]),
    vec!["redis-master-01", "redis-replica-01", "redis"]
  );
}

#[test]
fn step_ids_and_parameters_complete_for_the_runbook_on_the_line() {
  let json = Test::new()
    .args(["--format", "json", "runbook", "show", "redis-outage"])
    .expect_code(0)
    .json();
  let steps: Vec<String> = json["steps"]
    .as_array()
    .unwrap()
    .iter()
    .map(|s| s["id"].as_str().unwrap().to_string())
    .collect();
  assert_eq!(
    complete(
      Test::new(),
      &["runbook", "show", "redis-outage", "--step", ""]
    ),
    steps
  );

  let params: Vec<String> = json["parameters"]
    .as_array()
    .unwrap()
    .iter()
    .map(|p| format!("{}=", p["name"].as_str().unwrap()))
    .collect();
  assert!(!params.is_empty(), "redis-outage declares parameters");
  assert_eq!(
    complete(
      Test::new(),
      &["runbook", "show", "redis-outage", "--var", ""]
    ),
    params
  );
}

#[test]
fn bash_completes_through_the_registration_script() {
  let t = Test::new();
  let bin_dir = Path::new(BIN).parent().unwrap();
  let script = t.path("megacity.bash");
  std::fs::write(
    &script,
    Test::new()
      .args(["completions", "bash"])
      .expect_code(0)
      .stdout,
  )
  .unwrap();
  let run = std::process::Command::new("bash")
    .arg("--norc")
    .arg("-c")
    .arg(
      r#"source "$SCRIPT"
COMP_WORDS=(megacity runbook show red); COMP_CWORD=3; COMP_LINE="megacity runbook show red"; COMP_POINT=${#COMP_LINE}; COMP_TYPE=9
_clap_complete_megacity megacity red show
printf '%s\n' "${COMPREPLY[@]}""#,
    )
    .env("PATH", format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap()))
    .env("SCRIPT", &script)
    .env("HOME", t.dir.path())
    .env("XDG_CONFIG_HOME", t.path("xdg"))
    .current_dir(t.dir.path())
    .output()
    .expect("bash is installed");
  let stdout = String::from_utf8_lossy(&run.stdout);
  assert_eq!(
    stdout.trim(),
    "redis-outage",
    "stderr: {}",
    String::from_utf8_lossy(&run.stderr)
  );
}

#[test]
fn host_completes_the_runbooks_own_hosts_and_groups() {
  let hosts = complete(Test::new(), &["run", "redis-outage", "--host", ""]);
  assert!(hosts.iter().any(|h| h == "redis-master-01"), "{hosts:?}");
  assert!(hosts.iter().any(|h| h == "redis"), "{hosts:?}");
  assert!(
    !hosts
      .iter()
      .any(|h| h.starts_with("db-") || h.starts_with("gpu")),
    "only redis-outage's hosts: {hosts:?}"
  );
  // A question's name completes for --var like a parameter.
  let vars = complete(Test::new(), &["run", "redis-outage", "--var", ""]);
  assert!(vars.iter().any(|v| v == "redis_port="), "{vars:?}");
}

/// Real bash, with the committed script: `--var name=<TAB>` offers that parameter's choices,
/// not `name=--` (bash splits words at `=`).
#[test]
fn bash_completes_a_parameters_choices_after_the_equals_sign() {
  let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("completions/megacity.bash");
  let bin = Path::new(BIN).parent().unwrap().display().to_string();
  let complete = |line: &str, words: &str, cword: usize, cur: &str, prev: &str| {
    let script = format!(
      "source {script}\nCOMP_LINE='{line}'\nCOMP_POINT=${{#COMP_LINE}}\nCOMP_WORDS=({words})\nCOMP_CWORD={cword}\n_clap_complete_megacity megacity '{cur}' '{prev}'\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
      script = dir.display()
    );
    let out = std::process::Command::new("bash")
      .arg("-c")
      .arg(&script)
      .env(
        "PATH",
        format!("{bin}:{}", std::env::var("PATH").unwrap_or_default()),
      )
      .output()
      .expect("bash runs");
    String::from_utf8_lossy(&out.stdout)
      .lines()
      .map(str::to_string)
      .collect::<Vec<_>>()
  };
  let got = complete(
    "megacity run redis-outage --var eviction_policy=all",
    "megacity run redis-outage --var eviction_policy = all",
    6,
    "all",
    "=",
  );
  assert_eq!(got, ["allkeys-lru", "allkeys-lfu"], "{got:?}");
  let got = complete(
    "megacity run redis-outage --var eviction_policy=",
    "megacity run redis-outage --var eviction_policy = ''",
    6,
    "",
    "=",
  );
  assert!(got.contains(&"noeviction".to_string()), "{got:?}");
  assert!(!got.iter().any(|c| c.starts_with("--")), "{got:?}");
  let got = complete("megacity run red", "megacity run red", 2, "red", "run");
  assert_eq!(got, ["redis-outage"], "{got:?}");
}

/// Runs `script` in `shell` with the built megacity first on PATH; its stdout lines.
fn in_shell(shell: &str, args: &[&str], script: &str) -> Vec<String> {
  let bin = Path::new(BIN).parent().unwrap().display().to_string();
  let out = std::process::Command::new(shell)
    .args(args)
    .arg(script)
    .env(
      "PATH",
      format!("{bin}:{}", std::env::var("PATH").unwrap_or_default()),
    )
    .current_dir(env!("CARGO_MANIFEST_DIR"))
    .output()
    .unwrap_or_else(|e| panic!("`{shell}` is missing ({e}): apt-get install -y {shell}"));
  String::from_utf8_lossy(&out.stdout)
    .lines()
    .map(|l| l.split(['\t', ':']).next().unwrap_or("").to_string())
    .filter(|l| !l.is_empty())
    .collect()
}

/// Real fish, with the committed script: ids, and a parameter's choices after `=`.
#[test]
fn fish_completes_runbooks_and_a_parameters_choices() {
  let ids = in_shell(
    "fish",
    &["-c"],
    "source completions/megacity.fish; complete -C 'megacity run red'",
  );
  assert_eq!(ids, ["redis-outage"]);
  let choices = in_shell(
    "fish",
    &["-c"],
    "source completions/megacity.fish; complete -C 'megacity run redis-outage --var eviction_policy=no'",
  );
  assert_eq!(choices, ["eviction_policy=noeviction"]);
}

/// Real zsh, with the committed script: its completer asked as compsys would, `_describe`
/// standing in for the menu (it prints what would be offered).
#[test]
fn zsh_completes_runbooks_and_a_parameters_choices() {
  let script = "autoload -U compinit && compinit -u -D; source completions/_megacity; \
    _describe() { local arr=${@[-1]}; print -l -- ${(P)arr} }; \
    words=(megacity run red); CURRENT=3; _clap_dynamic_completer_megacity; \
    words=(megacity run redis-outage --var eviction_policy=no); CURRENT=5; _clap_dynamic_completer_megacity";
  let got = in_shell("zsh", &["-f", "-c"], script);
  assert_eq!(got, ["redis-outage", "eviction_policy=noeviction"]);
}
