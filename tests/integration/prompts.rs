//! Real prompts answered through a pseudo-terminal (dialoguer reads the terminal, not stdin).

use std::path::Path;
use std::time::Duration;

use rexpect::process::WaitStatus;
use rexpect::session::{PtySession, spawn_command};

use crate::fleet::{Fleet, still_running};

fn spawn(fleet: &Fleet, id: &str, extra: &[&str]) -> PtySession {
  let mut command = fleet.test.command();
  let config = fleet.sshd.ssh_config();
  command
    .args([
      "--color",
      "never",
      "runbook",
      "run",
      id,
      "--ssh-config",
      config.to_str().unwrap(),
    ])
    .args(extra);
  spawn_command(command, Some(30_000)).expect("megacity starts in a pty")
}

fn exit_code(mut session: PtySession) -> (i32, String) {
  let rest = match session.exp_eof() {
    Ok(rest) => rest,
    // Still running (waiting at a prompt nobody answers): stop it, and say so, never hang.
    Err(e) => {
      let _ = session.process_mut().exit();
      panic!("megacity did not finish: {e}");
    }
  };
  match session.process().wait().unwrap() {
    WaitStatus::Exited(_, code) => (code, rest),
    other => panic!("megacity did not exit normally: {other:?}\n{rest}"),
  }
}

fn with_action(destructive: bool) -> (Fleet, String) {
  let fleet = Fleet::new();
  let marker = fleet.path("marker");
  let fleet = fleet.runbook(
    "ask",
    &format!(
      r#"steps:
  - id: change
    title: change something
    targets: [host-a]
    action: {{command: 'touch {marker}', confirm: 'Touch the marker on {{{{host}}}}?', destructive: {destructive}}}
  - id: tell
    title: tell someone
    manual: {{instructions: 'Post in #incident'}}
"#
    ),
  );
  (fleet, marker)
}

#[test]
fn an_action_runs_when_confirmed() {
  let (fleet, marker) = with_action(false);
  let mut s = spawn(&fleet, "ask", &[]);
  s.exp_string("Touch the marker on host-a?").unwrap();
  s.exp_string("Run it? [yes/skip/abort/all]").unwrap();
  crate::test::answer(&mut s, "yes");
  s.exp_string("Post in #incident").unwrap();
  s.exp_string("Done? [done/skip/abort]").unwrap();
  crate::test::answer(&mut s, "done");
  let (code, rest) = exit_code(s);
  assert_eq!(code, crate::test::exit::SUCCESS, "{rest}");
  assert!(Path::new(&marker).exists());
  fleet.assert_clean();
}

#[test]
fn a_skipped_action_does_not_run() {
  let (fleet, marker) = with_action(false);
  let mut s = spawn(&fleet, "ask", &[]);
  s.exp_string("Run it?").unwrap();
  crate::test::answer(&mut s, "s");
  s.exp_string("Done?").unwrap();
  crate::test::answer(&mut s, "skip");
  let (code, rest) = exit_code(s);
  assert_eq!(code, crate::test::exit::SUCCESS, "{rest}");
  assert!(!Path::new(&marker).exists());
  fleet.assert_clean();
}

#[test]
fn abort_stops_the_run_with_its_exit_code() {
  let (fleet, marker) = with_action(false);
  let mut s = spawn(&fleet, "ask", &[]);
  s.exp_string("Run it?").unwrap();
  crate::test::answer(&mut s, "abort");
  let (code, rest) = exit_code(s);
  assert_eq!(code, crate::test::exit::ABORTED, "{rest}");
  assert!(!Path::new(&marker).exists());
  fleet.assert_clean();
}

#[test]
fn a_destructive_action_wants_the_host_name_and_refuses_a_wrong_one() {
  let (fleet, marker) = with_action(true);
  let mut s = spawn(&fleet, "ask", &[]);
  s.exp_string("DESTRUCTIVE").unwrap();
  s.exp_string("Type the host name `host-a`").unwrap();
  crate::test::answer(&mut s, "host-b");
  s.exp_string("`host-b` is not `host-a`; nothing was run")
    .unwrap();
  assert!(!Path::new(&marker).exists());
  s.exp_string("Type the host name `host-a`").unwrap();
  crate::test::answer(&mut s, "host-a");
  s.exp_string("Done?").unwrap();
  crate::test::answer(&mut s, "done");
  let (code, rest) = exit_code(s);
  assert_eq!(code, crate::test::exit::SUCCESS, "{rest}");
  assert!(Path::new(&marker).exists());
  fleet.assert_clean();
}

#[test]
fn a_dry_run_walks_the_same_prompts_and_runs_nothing() {
  let (fleet, marker) = with_action(true);
  let before = fleet.sshd.connections();
  let mut s = spawn(&fleet, "ask", &["--dry-run"]);
  s.exp_string("Type the host name `host-a`").unwrap();
  crate::test::answer(&mut s, "host-a");
  s.exp_string("would run: $ touch").unwrap();
  s.exp_string("Done?").unwrap();
  crate::test::answer(&mut s, "done");
  let (code, rest) = exit_code(s);
  assert_eq!(code, crate::test::exit::SUCCESS, "{rest}");
  assert!(!Path::new(&marker).exists());
  assert_eq!(fleet.sshd.connections(), before);
}

fn slow(fleet: Fleet, token: &str) -> (Fleet, String) {
  let marker = fleet.path("late");
  let fleet = fleet.runbook(
    "slow",
    &format!(
      r#"steps:
  - id: wait
    title: wait a long time
    targets: [host-a, host-b]
    timeout: 60s
    check: {{command: 'sleep 20 && touch {marker} # {token}', expect: {{exit_code: 0}}}}
"#
    ),
  );
  (fleet, marker)
}

#[test]
fn ctrl_c_stops_the_step_and_asks_then_abort_cleans_up() {
  let token = format!("mc-ctrlc-{}", std::process::id());
  let (fleet, marker) = slow(Fleet::new(), &token);
  let mut s = spawn(&fleet, "slow", &[]);
  s.exp_string("[1/1] wait").unwrap();
  // Let both hosts start their command before interrupting.
  std::thread::sleep(Duration::from_millis(1500));
  assert!(
    !still_running(&token).is_empty(),
    "the command should be running"
  );
  s.send_control('c').unwrap();
  s.exp_string("Interrupted `wait`; its commands were stopped.")
    .unwrap();
  s.exp_string("Retry, skip or abort?").unwrap();
  crate::test::answer(&mut s, "abort");
  let (code, rest) = exit_code(s);
  assert_eq!(code, crate::test::exit::ABORTED, "{rest}");
  std::thread::sleep(Duration::from_secs(3));
  assert_eq!(still_running(&token), "", "remote commands survived Ctrl-C");
  assert!(!Path::new(&marker).exists());
  fleet.assert_clean();
}

/// Ctrl-C while a step's spinners turn leaves none of them on the screen: the terminal, as an
/// 80×24 emulator draws everything megacity wrote, shows the interruption and the question, and
/// no frozen spinner line (not even one drawn by a tick after the question).
#[test]
fn ctrl_c_leaves_no_spinner_on_the_screen() {
  let token = format!("mc-ctrlc3-{}", std::process::id());
  let (fleet, _) = slow(Fleet::new(), &token);
  let command = fleet.test.shell(&format!(
    "stty cols 80 rows 24; exec {} --color never runbook run slow --ssh-config {}",
    crate::test::BIN,
    fleet.sshd.ssh_config().display()
  ));
  let mut s = spawn_command(command, Some(30_000)).unwrap();
  let size = |n| std::num::NonZeroU16::new(n).unwrap();
  let mut terminal = vt100::Parser::new(size(24), size(80), 0);
  // rexpect hands back one char per byte.
  let mut feed =
    |text: &str| terminal.process(&text.chars().map(|c| c as u32 as u8).collect::<Vec<u8>>());
  let (before, spinner) = s.exp_regex(r"wait \(up to 1m\) *\d+s").unwrap();
  feed(&before);
  feed(&spinner);
  std::thread::sleep(Duration::from_millis(1500));
  s.send_control('c').unwrap();
  let before = s.exp_string("Retry, skip or abort?").unwrap();
  feed(&before);
  feed("Retry, skip or abort?");
  std::thread::sleep(Duration::from_millis(800));
  let mut late = String::new();
  while let Some(c) = s.try_read() {
    late.push(c);
  }
  feed(&late);
  let screen = terminal.screen().contents();
  assert!(screen.contains("Interrupted `wait`"), "{screen}");
  assert!(screen.contains("Retry, skip or abort?"), "{screen}");
  assert!(
    !screen.contains("up to 1m"),
    "a spinner line is left on the screen:\n{screen}"
  );
  crate::test::answer(&mut s, "abort");
  let (code, rest) = exit_code(s);
  assert_eq!(code, crate::test::exit::ABORTED, "{rest}");
  fleet.assert_clean();
}

#[test]
fn a_second_ctrl_c_aborts_as_interrupted() {
  let token = format!("mc-ctrlc2-{}", std::process::id());
  let (fleet, _) = slow(Fleet::new(), &token);
  let mut s = spawn(&fleet, "slow", &[]);
  s.exp_string("[1/1] wait").unwrap();
  std::thread::sleep(Duration::from_millis(1500));
  s.send_control('c').unwrap();
  s.exp_string("Retry, skip or abort?").unwrap();
  s.send_control('c').unwrap();
  let (code, rest) = exit_code(s);
  assert_eq!(code, crate::test::exit::INTERRUPTED, "{rest}");
  std::thread::sleep(Duration::from_secs(3));
  assert_eq!(still_running(&token), "", "remote commands survived Ctrl-C");
  fleet.assert_clean();
}

#[test]
fn after_a_failed_action_the_operator_can_see_the_output_retry_and_skip() {
  let fleet = Fleet::new();
  let counter = fleet.path("tries");
  let fleet = fleet.runbook(
    "flaky",
    &format!(
      r#"steps:
  - id: flaky
    title: fails with a message
    targets: [host-a]
    action: {{command: 'echo try >> {counter}; echo the-full-output; exit 4'}}
"#
    ),
  );
  let mut s = spawn(&fleet, "flaky", &[]);
  s.exp_string("Run it?").unwrap();
  crate::test::answer(&mut s, "y");
  s.exp_string("`flaky` failed on host-a").unwrap();
  s.exp_string("What now? [retry/skip/abort/output]").unwrap();
  crate::test::answer(&mut s, "output");
  s.exp_string("the-full-output").unwrap();
  s.exp_string("What now?").unwrap();
  crate::test::answer(&mut s, "retry");
  s.exp_string("`flaky` failed on host-a").unwrap();
  s.exp_string("What now?").unwrap();
  crate::test::answer(&mut s, "skip");
  let (code, rest) = exit_code(s);
  assert_eq!(
    code,
    crate::test::exit::FAILURE,
    "a failed action fails the run: {rest}"
  );
  assert_eq!(
    std::fs::read_to_string(&counter).unwrap().lines().count(),
    2,
    "ran once, retried once"
  );
  fleet.assert_clean();
}

#[test]
fn a_connection_lost_under_an_action_is_reopened_when_the_operator_answers_retry() {
  let fleet = Fleet::new();
  let marker = fleet.path("cut-once");
  let done = fleet.path("done");
  let masters = fleet.sshd.dir.path().join("rt/megacity");
  let fleet = fleet.runbook(
    "cut",
    &format!(
      r#"steps:
  - id: fix
    title: a fix whose connection dies the first time
    targets: [host-a]
    action: {{command: 'if [ ! -e {marker} ]; then touch {marker}; echo before-the-cut; pkill -f -- "-S {masters}/"; sleep 10; fi; touch {done}'}}
"#,
      masters = masters.display()
    ),
  );
  let logins = fleet.sshd.logins();
  let mut s = spawn(&fleet, "cut", &[]);
  s.exp_string("Run it?").unwrap();
  crate::test::answer(&mut s, "yes");
  s.exp_string("the connection was lost while the command ran")
    .unwrap();
  s.exp_string("before-the-cut").unwrap();
  s.exp_string("What now? [retry/skip/abort/output]").unwrap();
  crate::test::answer(&mut s, "retry");
  let (code, rest) = exit_code(s);
  assert_eq!(code, crate::test::exit::SUCCESS, "{rest}");
  assert!(Path::new(&done).exists(), "the retry did not run: {rest}");
  assert_eq!(
    fleet.sshd.logins() - logins,
    2,
    "one login, then one reconnection"
  );
  fleet.assert_clean();
}

#[test]
fn keys_typed_while_a_check_runs_do_not_answer_the_next_prompt() {
  let fleet = Fleet::new();
  let marker = fleet.path("marker");
  let fleet = fleet.runbook(
    "typeahead",
    &format!(
      r#"steps:
  - id: slow
    title: slow check
    targets: [host-a]
    check: {{command: 'sleep 2', expect: {{exit_code: 0}}}}
  - id: change
    title: change something
    targets: [host-a]
    action: {{command: 'touch {marker}'}}
"#
    ),
  );
  let mut s = spawn(&fleet, "typeahead", &[]);
  s.exp_string("slow check").unwrap();
  // Typed ahead while the check still runs: it must not confirm the action that follows.
  s.send_line("yes").unwrap();
  s.exp_string("Run it? [yes/skip/abort/all]").unwrap();
  std::thread::sleep(Duration::from_secs(1));
  assert!(
    !Path::new(&marker).exists(),
    "type-ahead confirmed the action"
  );
  crate::test::answer(&mut s, "skip");
  let (code, rest) = exit_code(s);
  assert_eq!(code, crate::test::exit::SUCCESS, "{rest}");
  assert!(!Path::new(&marker).exists(), "a skipped action ran");
  fleet.assert_clean();
}

/// `runbook run --resume last` in a pty, with no connection options: the journal has them.
fn spawn_resume(fleet: &Fleet) -> PtySession {
  let mut command = fleet.test.command();
  command.args(["--color", "never", "runbook", "run", "--resume", "last"]);
  spawn_command(command, Some(30_000)).expect("megacity starts in a pty")
}

/// Ends a run at its first confirmation in one of the ways an operator can, then resumes it
/// without --ssh-config: the cut-off action is offered again, and runs when confirmed.
fn ended_at_the_prompt_then_resumed(end: &str) {
  let (fleet, marker) = with_action(false);
  let mut s = spawn(&fleet, "ask", &[]);
  s.exp_string("Run it? [yes/skip/abort/all]").unwrap();
  let expected = match end {
    "abort" => {
      crate::test::answer(&mut s, "abort");
      crate::test::exit::ABORTED
    }
    "ctrl-c" => {
      std::thread::sleep(Duration::from_millis(250));
      s.send_control('c').unwrap();
      crate::test::exit::INTERRUPTED
    }
    signal => {
      std::thread::sleep(Duration::from_millis(250));
      use rexpect::process::Signal;
      let signal = if signal == "-TERM" {
        Signal::SIGTERM
      } else {
        Signal::SIGHUP
      };
      s.process_mut().signal(signal).unwrap();
      crate::test::exit::INTERRUPTED
    }
  };
  let (code, rest) = exit_code(s);
  assert_eq!(code, expected, "{end}: {rest}");
  assert!(!Path::new(&marker).exists(), "{end}: the action ran");
  assert!(
    rest.contains("megacity runbook run --resume "),
    "{end}: no resume command in {rest}"
  );
  let mut s = spawn_resume(&fleet);
  s.exp_string("incident time so far:").unwrap();
  s.exp_string("Touch the marker on host-a?").unwrap();
  s.exp_string("Run it? [yes/skip/abort/all]").unwrap();
  crate::test::answer(&mut s, "yes");
  s.exp_string("Done? [done/skip/abort]").unwrap();
  crate::test::answer(&mut s, "done");
  let (code, rest) = exit_code(s);
  assert_eq!(code, crate::test::exit::SUCCESS, "{end}: {rest}");
  assert!(
    Path::new(&marker).exists(),
    "{end}: the resumed action did not run"
  );
  fleet.assert_clean();
}

#[test]
fn abort_at_a_prompt_is_resumed_with_the_runs_own_ssh_config() {
  ended_at_the_prompt_then_resumed("abort");
}

#[test]
fn ctrl_c_at_a_prompt_is_resumed_with_the_runs_own_ssh_config() {
  ended_at_the_prompt_then_resumed("ctrl-c");
}

#[test]
fn sigterm_at_a_prompt_is_resumed_with_the_runs_own_ssh_config() {
  ended_at_the_prompt_then_resumed("-TERM");
}

#[test]
fn sighup_at_a_prompt_is_resumed_with_the_runs_own_ssh_config() {
  ended_at_the_prompt_then_resumed("-HUP");
}

#[test]
fn ctrl_c_during_the_preflight_stops_the_run_before_any_action() {
  let fleet = Fleet::new();
  let marker = fleet.path("marker");
  let fleet = fleet.runbook(
    "hung",
    &format!(
      r#"steps:
  - id: look
    title: look
    targets: [host-a, silent-01]
    check: {{command: 'true', expect: {{exit_code: 0}}}}
  - id: change
    title: change something
    targets: [host-a]
    action: {{command: 'touch {marker}'}}
"#
    ),
  );
  // --yes: nobody is asked, so only the interrupt can keep the action from running.
  let mut s = spawn(&fleet, "hung", &["--yes"]);
  s.exp_string("connecting to host-a, silent-01").unwrap();
  std::thread::sleep(Duration::from_millis(500));
  s.send_control('c').unwrap();
  let (code, rest) = exit_code(s);
  assert_eq!(code, crate::test::exit::INTERRUPTED, "{rest}");
  assert!(!Path::new(&marker).exists(), "the action ran after Ctrl-C");
  assert!(
    rest.contains("megacity runbook run --resume "),
    "no resume command: {rest}"
  );
  fleet.assert_clean();
}

#[test]
fn a_second_live_run_on_a_host_stops_before_any_action_and_names_the_first() {
  let (fleet, marker) = with_action(false);
  // The first operator's run is at its confirmation: it holds host-a.
  let mut first = spawn(&fleet, "ask", &[]);
  first.exp_string("Run it? [yes/skip/abort/all]").unwrap();
  let (fleet, second) = fleet.run("ask", &["--yes"]);
  assert_eq!(
    second.code,
    crate::test::exit::FAILURE,
    "{}\n{}",
    second.stdout,
    second.stderr
  );
  assert!(
    !Path::new(&marker).exists(),
    "the second run changed a host the first one holds"
  );
  let all = format!("{}{}", second.stdout, second.stderr);
  assert!(all.contains("another run holds"), "{all}");
  assert!(
    all.contains("runbook ask, run 2"),
    "the holder is not named: {all}"
  );
  // Triage takes no lock, and is not stopped by one.
  let (fleet, triage) = fleet.run("ask", &["--checks-only"]);
  assert!(
    !format!("{}{}", triage.stdout, triage.stderr).contains("another run holds"),
    "{}",
    triage.stdout
  );
  crate::test::answer(&mut first, "yes");
  first.exp_string("Done? [done/skip/abort]").unwrap();
  crate::test::answer(&mut first, "done");
  let (code, rest) = exit_code(first);
  assert_eq!(code, crate::test::exit::SUCCESS, "{rest}");
  assert!(Path::new(&marker).exists());
  // The first run is over, and its lock with it.
  std::fs::remove_file(&marker).unwrap();
  let (fleet, third) = fleet.run("ask", &["--yes"]);
  assert_eq!(
    third.code,
    crate::test::exit::SUCCESS,
    "{}\n{}",
    third.stdout,
    third.stderr
  );
  assert!(Path::new(&marker).exists());
  fleet.assert_clean();
}

#[test]
fn break_lock_takes_a_host_over_and_the_run_it_was_taken_from_then_changes_nothing() {
  let (fleet, marker) = with_action(false);
  let mut first = spawn(&fleet, "ask", &[]);
  first.exp_string("Run it? [yes/skip/abort/all]").unwrap();
  // A second operator decides the first run is stale and takes the host over.
  let (fleet, second) = fleet.run("ask", &["--yes", "--break-lock"]);
  let said = format!("{}{}", second.stdout, second.stderr);
  assert_eq!(second.code, crate::test::exit::SUCCESS, "{said}");
  assert!(said.contains("took over the lock held by"), "{said}");
  assert!(
    said.contains("runbook ask"),
    "the previous holder is named: {said}"
  );
  assert!(Path::new(&marker).exists(), "{said}");
  let recorded = said
    .lines()
    .find_map(|l| l.strip_prefix("recorded: "))
    .expect("the journal's path");
  let journal = std::fs::read_to_string(recorded.trim()).unwrap();
  assert!(
    journal.contains("took over the lock"),
    "the break is recorded: {journal}"
  );
  std::fs::remove_file(&marker).unwrap();

  // The first operator, still at the prompt, says yes: nothing runs, and they are told why.
  crate::test::answer(&mut first, "yes");
  let (code, rest) = exit_code(first);
  assert_eq!(code, crate::test::exit::FAILURE, "{rest}");
  assert!(
    !Path::new(&marker).exists(),
    "the action ran on a host another run took over"
  );
  assert!(rest.contains("took this run's lock over"), "{rest}");
  fleet.assert_clean();
}

#[test]
fn a_run_whose_connection_dropped_while_another_changed_the_host_does_not_change_it_again() {
  let (fleet, marker) = with_action(false);
  let mut first = spawn(&fleet, "ask", &[]);
  first.exp_string("Run it? [yes/skip/abort/all]").unwrap();
  // The first run's connection dies while its operator reads the prompt: its lock goes with it.
  // (The only megacity running now: every master under the runtime directory is its.)
  let masters = fleet.sshd.dir.path().join("rt/megacity/");
  // ([0-9]: the pattern must not match the shell that runs pkill.)
  crate::drill::sh(&format!("pkill -f -- '-S {}[0-9]'", masters.display()));
  let lock = fleet.sshd.dir.path().join("locks/megacity.host-a.lock");
  crate::drill::sh(&format!(
    "for i in $(seq 1 100); do flock -n {} true && exit 0; sleep 0.1; done; exit 1",
    lock.display()
  ));
  // Meanwhile a second operator fixes the host.
  let (fleet, second) = fleet.run("ask", &["--yes"]);
  assert_eq!(second.code, crate::test::exit::SUCCESS, "{}", second.stdout);
  assert!(Path::new(&marker).exists());
  std::fs::remove_file(&marker).unwrap();
  // The first operator says yes: it reconnects, finds the host was taken, and runs nothing.
  crate::test::answer(&mut first, "yes");
  let (code, rest) = exit_code(first);
  assert_eq!(code, crate::test::exit::FAILURE, "{rest}");
  assert!(
    !Path::new(&marker).exists(),
    "the remediation ran twice: {rest}"
  );
  assert!(rest.contains("took this run's lock over"), "{rest}");
  fleet.assert_clean();
}

fn two_host_fix() -> (Fleet, String) {
  let fleet = Fleet::new();
  let dir = fleet.path("");
  let fleet = fleet.runbook(
    "fix-both",
    &format!(
      r#"steps:
  - id: probe
    title: healthy?
    targets: [web]
    check: {{command: 'echo status=broken; exit 3', expect: {{exit_code: 0}}}}
  - id: fix
    title: fix it
    targets: [web]
    when: {{failed: probe}}
    action: {{command: 'touch {dir}/fixed.{{{{host}}}}'}}
"#
    ),
  );
  (fleet, dir)
}

#[test]
fn the_prompt_says_why_answers_steps_help_and_all_confirms_the_rest_of_the_step() {
  let (fleet, dir) = two_host_fix();
  let mut s = spawn(&fleet, "fix-both", &[]);
  s.exp_string("because probe failed on host-a: exit code 3, expected 0")
    .unwrap();
  s.exp_string("Run it?").unwrap();
  crate::test::answer(&mut s, "steps");
  s.exp_string("host-a=FAILED host-b=FAILED").unwrap();
  s.exp_string("to come").unwrap();
  crate::test::answer(&mut s, "help");
  s.exp_string("rest of this step's hosts").unwrap();
  crate::test::answer(&mut s, "all");
  let (code, rest) = exit_code(s);
  assert_eq!(code, 0, "{rest}");
  assert!(
    !rest.contains("Run `fix it` on host-b?"),
    "asked again after `all`: {rest}"
  );
  assert!(Path::new(&format!("{dir}/fixed.host-a")).exists());
  assert!(Path::new(&format!("{dir}/fixed.host-b")).exists());
  let journal = fleet.test.newest_journal();
  let decisions: Vec<(&str, &str, &str)> = journal
    .iter()
    .filter(|r| r["type"] == "decision")
    .map(|r| {
      (
        r["host"].as_str().unwrap_or(""),
        r["by"].as_str().unwrap_or(""),
        r["value"].as_str().unwrap_or(""),
      )
    })
    .collect();
  assert_eq!(
    decisions,
    [("host-a", "operator", "all"), ("host-b", "operator", "all")]
  );
}

#[test]
fn no_skips_an_action() {
  let (fleet, dir) = two_host_fix();
  let mut s = spawn(&fleet, "fix-both", &[]);
  s.exp_string("Run it?").unwrap();
  crate::test::answer(&mut s, "no");
  s.exp_string("Run it?").unwrap();
  crate::test::answer(&mut s, "n");
  let (code, rest) = exit_code(s);
  assert_eq!(
    code, 1,
    "a finding whose remedy was declined stands: {rest}"
  );
  assert!(!Path::new(&format!("{dir}/fixed.host-a")).exists());
  assert!(!Path::new(&format!("{dir}/fixed.host-b")).exists());
}

/// Through `| tee log` the prompt is on the terminal; the log still gets the question and the
/// answer, in order.
#[test]
fn through_a_pipe_the_log_has_every_answer() {
  let (fleet, marker) = with_action(false);
  let config = fleet.sshd.ssh_config();
  let log = fleet.path("run.log");
  let command = fleet.test.shell(&format!(
    "{} --color never run ask --ssh-config {} | tee {log} >/dev/null",
    crate::test::BIN,
    config.display()
  ));
  let mut s = spawn_command(command, Some(30_000)).unwrap();
  s.exp_string("Run it?").unwrap();
  crate::test::answer(&mut s, "yes");
  s.exp_string("Done?").unwrap();
  crate::test::answer(&mut s, "done");
  s.exp_eof().unwrap();
  assert!(Path::new(&marker).exists());
  let log = std::fs::read_to_string(&log).unwrap();
  let confirm = log
    .find("answered `change` on host-a (confirm): yes — by operator")
    .unwrap_or_else(|| panic!("{log}"));
  let manual = log
    .find("answered `tell` (manual): yes — by operator")
    .unwrap_or_else(|| panic!("{log}"));
  assert!(confirm < manual, "{log}");
}

/// What a run learned (a capture, an answer) is part of its record: the resumed run uses it,
/// and does not ask again.
#[test]
fn a_resumed_run_has_what_the_first_one_learned() {
  let fleet = Fleet::new();
  let dir = fleet.path("");
  let fleet = fleet.runbook(
    "learn",
    &format!(
      r#"steps:
  - id: find
    title: which host is primary
    targets: [host-a]
    check: {{command: 'echo primary=host-b', expect: {{exit_code: 0}}}}
    capture: {{primary: 'primary=(\S+)'}}
  - id: colour
    title: which colour
    input: {{name: colour, pattern: '[a-z]+'}}
  - id: act
    title: act
    targets: ['{{{{steps.find.primary}}}}']
    action: {{command: 'touch {dir}/acted.{{{{host}}}}.{{{{colour}}}}', confirm: 'Act on {{{{host}}}}?'}}
"#
    ),
  );
  let mut s = spawn(&fleet, "learn", &[]);
  s.exp_string("colour (or skip / abort)").unwrap();
  crate::test::answer(&mut s, "blue");
  s.exp_string("Act on host-b?").unwrap();
  s.exp_string("Run it?").unwrap();
  crate::test::answer(&mut s, "abort");
  let (code, rest) = exit_code(s);
  assert_eq!(code, crate::test::exit::ABORTED, "{rest}");
  let mut s = spawn_resume(&fleet);
  s.exp_string("Act on host-b?").unwrap();
  s.exp_string("Run it?").unwrap();
  crate::test::answer(&mut s, "yes");
  let (code, rest) = exit_code(s);
  assert_eq!(code, crate::test::exit::SUCCESS, "{rest}");
  assert!(!rest.contains("colour (or skip"), "asked again: {rest}");
  assert!(
    Path::new(&format!("{dir}/acted.host-b.blue")).exists(),
    "{rest}"
  );
  fleet.assert_clean();
}

/// `output` at a prompt goes through the operator's pager on a terminal.
#[test]
fn output_at_a_prompt_goes_through_the_pager() {
  let fleet = Fleet::new();
  let paged = fleet.path("paged");
  let fleet = fleet.runbook(
    "noisy",
    "steps:\n  - id: noisy\n    title: fails loudly\n    targets: [host-a]\n    action: {command: 'echo the-full-output; exit 4'}\n",
  );
  let mut command = fleet.test.command();
  let config = fleet.sshd.ssh_config();
  command
    .args(["--color", "never", "run", "noisy", "--ssh-config"])
    .arg(&config)
    .env("PAGER", format!("cat > {paged}"));
  let mut s = spawn_command(command, Some(30_000)).unwrap();
  s.exp_string("Run it?").unwrap();
  crate::test::answer(&mut s, "y");
  s.exp_string("What now?").unwrap();
  crate::test::answer(&mut s, "output");
  s.exp_string("What now?").unwrap();
  crate::test::answer(&mut s, "skip");
  let _ = exit_code(s);
  let shown = std::fs::read_to_string(&paged).expect("the pager got the output");
  assert!(shown.contains("the-full-output"), "{shown}");
}

/// `again` at an action's prompt runs the checks that led to it once more on that host, shows
/// and records what they find now, and asks again.
#[test]
fn again_rechecks_before_the_operator_decides() {
  let fleet = Fleet::new();
  let dir = fleet.path("");
  let fleet = fleet.runbook(
    "recheck",
    &format!(
      r#"steps:
  - id: probe
    title: healthy?
    targets: [host-a]
    check: {{command: 'test -e {dir}/healed', expect: {{exit_code: 0}}}}
  - id: fix
    title: fix it
    targets: [host-a]
    when: {{failed: probe}}
    action: {{command: 'touch {dir}/fixed'}}
"#
    ),
  );
  let mut s = spawn(&fleet, "recheck", &[]);
  s.exp_string("because probe failed on host-a").unwrap();
  s.exp_string("Run it?").unwrap();
  // It healed on its own meanwhile.
  std::fs::write(format!("{dir}/healed"), "").unwrap();
  crate::test::answer(&mut s, "again");
  s.exp_string("passed").unwrap();
  s.exp_string("Run it?").unwrap();
  crate::test::answer(&mut s, "no");
  let (_, rest) = exit_code(s);
  assert!(!Path::new(&format!("{dir}/fixed")).exists(), "{rest}");
  let journal = fleet.test.newest_journal();
  let probes: Vec<&str> = journal
    .iter()
    .filter(|r| r["type"] == "host-result" && r["step"] == "probe")
    .map(|r| r["outcome"].as_str().unwrap())
    .collect();
  assert_eq!(probes, ["failed", "passed"]);
  assert!(
    journal
      .iter()
      .any(|r| r["type"] == "decision" && r["answer"] == "again" && r["by"] == "operator")
  );
}

/// `jump <step>` at an action's prompt goes on at a later step; the steps passed over are
/// recorded as such, and the jump with the operator's name on it.
#[test]
fn jump_goes_on_at_a_later_step_and_says_what_it_passed_over() {
  let fleet = Fleet::new();
  let dir = fleet.path("");
  let fleet = fleet.runbook(
    "leap",
    &format!(
      r#"steps:
  - id: probe
    title: healthy?
    targets: [host-a]
    check: {{command: 'false', expect: {{exit_code: 0}}}}
  - id: fix
    title: fix it
    targets: [host-a]
    when: {{failed: probe}}
    action: {{command: 'touch {dir}/fixed'}}
  - id: middle
    title: middle
    targets: [host-a]
    action: {{command: 'touch {dir}/middle'}}
  - id: last
    title: last
    targets: [host-a]
    check: {{command: 'touch {dir}/last', expect: {{exit_code: 0}}}}
"#
    ),
  );
  let mut s = spawn(&fleet, "leap", &[]);
  s.exp_string("Run it?").unwrap();
  crate::test::answer(&mut s, "jump probe");
  s.exp_string("is not a step still to come").unwrap();
  crate::test::answer(&mut s, "jump last");
  let (_, rest) = exit_code(s);
  assert!(!Path::new(&format!("{dir}/fixed")).exists(), "{rest}");
  assert!(!Path::new(&format!("{dir}/middle")).exists(), "{rest}");
  assert!(Path::new(&format!("{dir}/last")).exists(), "{rest}");
  assert!(rest.contains("jumping to `last`"), "{rest}");
  let journal = fleet.test.newest_journal();
  assert!(journal.iter().any(|r| r["type"] == "decision"
    && r["answer"] == "jump"
    && r["value"] == "last"
    && r["by"] == "operator"));
  assert!(journal.iter().any(|r| r["type"] == "step-skipped"
    && r["step"] == "middle"
    && r["reason"] == "the operator jumped to `last`"));
}
