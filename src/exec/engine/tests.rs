//! The engine driven in-process by a scripted transport, operator and reporter: the rules for
//! conditions, retries, timeouts, failure policies, checks-only and dry runs, in milliseconds.
//! (Integration tests drive the real binary over a real sshd; these pin the engine's logic.)

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use futures_util::future::BoxFuture;

use super::{Engine, Prior};
use crate::exec::event::*;
use crate::exec::interrupt::{Interrupter, Interrupts};
use crate::exec::plan::{Plan, RunMode};
use crate::exec::transport::{LockState, Output, Sweep, Transport, TransportError};
use crate::inventory::Inventory;
use crate::runbook::Runbook;
use crate::runbook::values::Values;
use crate::source::Source;

pub(super) const INVENTORY: &str =
  "hosts:\n  - name: a\n    groups: [web]\n  - name: b\n    groups: [web]\n";

/// What the scripted transport answers: by command substring, in order, per host.
type Reply = Result<Output, TransportError>;

#[derive(Default)]
pub(super) struct Scripted {
  /// (host, command substring, replies left); the last reply repeats.
  replies: Mutex<Vec<(String, String, VecDeque<Reply>)>>,
  /// Every command run, as (host, command).
  ran: Mutex<Vec<(String, String)>>,
  unreachable: Vec<String>,
  /// An unreachable host answers again once a command containing this has run (anywhere).
  mended_by: Option<String>,
  /// Every connection attempt, by host.
  connects: Mutex<Vec<String>>,
  /// Commands during which the operator presses Ctrl-C.
  interrupted_by: Vec<String>,
  interrupter: Mutex<Option<Interrupter>>,
  /// Each host's lock, as the transport would answer (none: no lock asked for).
  locks: Vec<(String, LockState)>,
}

pub(super) fn ok(code: i32, stdout: &str) -> Reply {
  Ok(Output {
    exit_code: Some(code),
    stdout: stdout.into(),
    stderr: String::new(),
  })
}

impl Scripted {
  pub(super) fn on(self, host: &str, command: &str, replies: Vec<Reply>) -> Scripted {
    self
      .replies
      .lock()
      .unwrap()
      .push((host.into(), command.into(), replies.into()));
    self
  }

  fn ctrl_c_during(mut self, command: &str) -> Scripted {
    self.interrupted_by.push(command.into());
    self
  }

  pub(super) fn locked(mut self, host: &str, state: LockState) -> Scripted {
    self.locks.push((host.into(), state));
    self
  }

  pub(super) fn down(mut self, host: &str) -> Scripted {
    self.unreachable.push(host.into());
    self
  }

  /// The unreachable hosts answer again once `command` ran somewhere (a link put back).
  pub(super) fn mended_by(mut self, command: &str) -> Scripted {
    self.mended_by = Some(command.into());
    self
  }

  pub(super) fn connects(&self, host: &str) -> usize {
    self
      .connects
      .lock()
      .unwrap()
      .iter()
      .filter(|h| *h == host)
      .count()
  }

  pub(super) fn ran(&self) -> Vec<(String, String)> {
    self.ran.lock().unwrap().clone()
  }

  pub(super) fn ran_matching(&self, needle: &str) -> Vec<String> {
    self
      .ran()
      .into_iter()
      .filter(|(_, c)| c.contains(needle))
      .map(|(h, _)| h)
      .collect()
  }
}

impl Transport for Scripted {
  fn connect<'a>(&'a self, host: &'a str) -> BoxFuture<'a, Result<(), TransportError>> {
    self.connects.lock().unwrap().push(host.into());
    let mended = self.mended_by.as_ref().is_some_and(|m| {
      self
        .ran
        .lock()
        .unwrap()
        .iter()
        .any(|(_, c)| c.contains(m.as_str()))
    });
    let down = self.unreachable.iter().any(|h| h == host) && !mended;
    Box::pin(async move {
      if down {
        Err(TransportError::connect("refused", None))
      } else {
        Ok(())
      }
    })
  }

  fn run<'a>(
    &'a self,
    host: &'a str,
    command: &'a str,
    _timeout: Duration,
    _interrupts: Interrupts,
  ) -> BoxFuture<'a, Result<Output, TransportError>> {
    self.ran.lock().unwrap().push((host.into(), command.into()));
    if self
      .interrupted_by
      .iter()
      .any(|c| command.contains(c.as_str()))
    {
      if let Some(ctrl_c) = self.interrupter.lock().unwrap().as_ref() {
        ctrl_c.interrupt();
      }
      return Box::pin(async {
        Err(TransportError::Interrupted {
          partial: Output::default(),
          sweep: Sweep::Clean,
        })
      });
    }
    let mut replies = self.replies.lock().unwrap();
    let reply = replies
      .iter_mut()
      .find(|(h, c, _)| h == host && command.contains(c.as_str()))
      .map(|(_, _, queue)| {
        if queue.len() > 1 {
          queue.pop_front().unwrap()
        } else {
          queue.front().cloned().unwrap()
        }
      })
      .unwrap_or_else(|| ok(0, ""));
    Box::pin(async move { reply })
  }

  fn lock<'a>(&'a self, host: &'a str) -> BoxFuture<'a, Option<LockState>> {
    let state = self
      .locks
      .iter()
      .find(|(h, _)| h == host)
      .map(|(_, s)| s.clone());
    Box::pin(async move { state })
  }

  fn close(&self) -> BoxFuture<'_, Vec<String>> {
    Box::pin(async { Vec::new() })
  }

  /// Hosts `a` and `b` are reached at 127.0.0.11 and 127.0.0.12 (as their ssh_config says).
  fn addresses<'a>(&'a self, host: &'a str) -> BoxFuture<'a, Vec<String>> {
    let address = match host {
      "a" => vec!["127.0.0.11".to_string()],
      "b" => vec!["127.0.0.12".to_string()],
      _ => Vec::new(),
    };
    Box::pin(async move { address })
  }
}

/// Answers prompts from a list, in order; records what it was asked.
pub(super) struct Script {
  answers: Mutex<VecDeque<Answer>>,
  pub(super) asked: Mutex<Vec<String>>,
  person: bool,
  /// Typed in answer to questions, in order.
  typed: Mutex<VecDeque<String>>,
}

impl Script {
  pub(super) fn person(answers: &[Answer]) -> Script {
    Script {
      answers: Mutex::new(answers.iter().copied().collect()),
      asked: Mutex::new(Vec::new()),
      person: true,
      typed: Mutex::new(VecDeque::new()),
    }
  }

  pub(super) fn typing(self, values: &[&str]) -> Script {
    *self.typed.lock().unwrap() = values.iter().map(|v| v.to_string()).collect();
    self
  }
}

impl Operator for Script {
  fn decide<'a>(&'a self, request: Request<'a>) -> BoxFuture<'a, Decision> {
    let what = match &request {
      Request::Confirm { planned, host, .. } => format!("confirm {} {host}", planned.step.id.value),
      Request::AfterFailure { planned, result } => {
        format!("after-failure {} {}", planned.step.id.value, result.host)
      }
      Request::Manual { planned } => format!("manual {}", planned.step.id.value),
      Request::Interrupted { planned } => format!("interrupted {}", planned.step.id.value),
      Request::Input { planned, .. } => {
        let value = self.typed.lock().unwrap().pop_front();
        self
          .asked
          .lock()
          .unwrap()
          .push(format!("input {}", planned.step.id.value));
        let mut decision = Decision::from(if value.is_some() {
          Answer::Yes
        } else {
          Answer::Skip
        });
        decision.value = value;
        return Box::pin(async move { decision });
      }
    };
    self.asked.lock().unwrap().push(what);
    let answer = self
      .answers
      .lock()
      .unwrap()
      .pop_front()
      .unwrap_or(Answer::Abort);
    Box::pin(async move { Decision::from(answer) })
  }

  fn interactive(&self) -> bool {
    self.person
  }
}

/// Keeps the notices and which steps were reported done; the rest is checked in the records.
#[derive(Default)]
struct Notices(Mutex<Vec<String>>, Mutex<Vec<String>>);

impl Reporter for Notices {
  fn event(&self, event: Event<'_>) {
    match event {
      Event::Notice(text) => self.0.lock().unwrap().push(text.to_string()),
      Event::EscalationOn { to, reason, .. } => self
        .0
        .lock()
        .unwrap()
        .push(format!("escalate to {to}: {reason}")),
      Event::SeverityRaised { from, to, .. } => {
        self
          .0
          .lock()
          .unwrap()
          .push(format!("severity {} -> {}", from.name(), to.name()))
      }
      Event::Escalation { rung, elapsed } => {
        self
          .0
          .lock()
          .unwrap()
          .push(format!("call {} at {}m", rung.to, elapsed.as_secs() / 60))
      }
      Event::StepDone { planned } => self.1.lock().unwrap().push(planned.step.id.value.clone()),
      _ => {}
    }
  }
}

pub(super) fn runbook(steps: &str) -> (Runbook, Inventory) {
  let text = format!("id: t\ntitle: T\nseverity: P3\nsteps:\n{steps}");
  let leaked: &'static str = Box::leak(text.into_boxed_str());
  let mut c = crate::diagnostic::Collector::new("inventory", INVENTORY);
  let inventory = Inventory::parse(&mut c, INVENTORY);
  let runbook = crate::runbook::load(
    &Source::embedded("t.yaml".into(), leaked),
    Some("t"),
    Some(&inventory),
  )
  .valid()
  .unwrap_or_else(|d| panic!("{d:?}"));
  (runbook, inventory)
}

pub(super) struct Ran {
  pub(super) result: crate::exec::result::RunResult,
  pub(super) asked: Vec<String>,
  pub(super) notices: Vec<String>,
  done: Vec<String>,
}

impl Ran {
  pub(super) fn outcome(&self, step: &str, host: &str) -> Option<Outcome> {
    self
      .result
      .records
      .iter()
      .find(|r| r.id == step)?
      .results
      .iter()
      .find(|r| r.host == host)
      .map(|r| r.outcome)
  }
}

pub(super) fn run(
  steps: &str,
  mode: RunMode,
  transport: &Scripted,
  operator: &dyn Operator,
) -> Ran {
  run_after(steps, mode, transport, operator, 0)
}

/// Runs after `ctrl_c` presses that came before the first step (while nothing ran).
fn run_after(
  steps: &str,
  mode: RunMode,
  transport: &Scripted,
  operator: &dyn Operator,
  ctrl_c: usize,
) -> Ran {
  run_with(steps, mode, transport, operator, ctrl_c, &[])
}

pub(super) fn run_with(
  steps: &str,
  mode: RunMode,
  transport: &Scripted,
  operator: &dyn Operator,
  ctrl_c: usize,
  vars: &[(&str, &str)],
) -> Ran {
  let (runbook, inventory) = runbook(steps);
  run_runbook(
    &runbook, &inventory, mode, transport, operator, ctrl_c, vars,
  )
}

pub(super) fn run_runbook(
  runbook: &Runbook,
  inventory: &Inventory,
  mode: RunMode,
  transport: &Scripted,
  operator: &dyn Operator,
  ctrl_c: usize,
  vars: &[(&str, &str)],
) -> Ran {
  run_resumed(
    runbook,
    inventory,
    mode,
    transport,
    operator,
    ctrl_c,
    vars,
    Prior::default(),
  )
}

/// As `run_runbook`, continuing a run that `prior` describes.
#[allow(clippy::too_many_arguments)]
pub(super) fn run_resumed(
  runbook: &Runbook,
  inventory: &Inventory,
  mode: RunMode,
  transport: &Scripted,
  operator: &dyn Operator,
  ctrl_c: usize,
  vars: &[(&str, &str)],
  prior: Prior,
) -> Ran {
  let vars: Vec<(String, String)> = vars
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
  let values = Values::resolve(runbook, &vars, true).unwrap();
  let plan = Plan::new(runbook, inventory, values, mode, &[], None).unwrap();
  let notices = Notices::default();
  let (tx, interrupts) = Interrupts::channel();
  for _ in 0..ctrl_c {
    tx.interrupt();
  }
  *transport.interrupter.lock().unwrap() = Some(tx);
  let rt = tokio::runtime::Builder::new_current_thread()
    .enable_all()
    .start_paused(true)
    .build()
    .unwrap();
  let result = rt.block_on(
    Engine::new(&plan, transport, operator, &notices, interrupts)
      .resuming(prior)
      .run(),
  );
  Ran {
    result,
    asked: Vec::new(),
    notices: notices.0.into_inner().unwrap(),
    done: notices.1.into_inner().unwrap(),
  }
}

pub(super) fn run_person(
  steps: &str,
  mode: RunMode,
  transport: &Scripted,
  answers: &[Answer],
) -> Ran {
  let script = Script::person(answers);
  let mut ran = run(steps, mode, transport, &script);
  ran.asked = script.asked.into_inner().unwrap();
  ran
}

const CHECK_THEN_FIX: &str = "  - id: ping
    title: ping
    targets: [web]
    check:
      command: ping-it
      expect:
        exit_code: 0
  - id: restart
    title: restart
    targets: [web]
    when:
      failed: [ping]
    action:
      command: restart-it
";

#[test]
fn a_remedy_runs_only_where_its_check_failed_and_after_a_yes() {
  let t = Scripted::default().on("b", "ping-it", vec![ok(1, "")]);
  let ran = run_person(CHECK_THEN_FIX, RunMode::Live, &t, &[Answer::Yes]);
  assert_eq!(ran.asked, ["confirm restart b"]);
  assert_eq!(t.ran_matching("restart-it"), ["b"]);
  assert_eq!(ran.outcome("restart", "a"), Some(Outcome::Skipped));
  assert_eq!(ran.outcome("restart", "b"), Some(Outcome::Passed));
  assert_eq!(ran.result.end, RunEnd::Completed);
}

#[test]
fn no_change_runs_where_another_run_holds_the_host_or_this_run_lost_its_lock() {
  for state in [
    LockState::HeldBy("alice on ops-1, run 7".into()),
    LockState::Lost("flock is not installed".into()),
  ] {
    let t = Scripted::default()
      .on("b", "ping-it", vec![ok(1, "")])
      .locked("b", state.clone());
    let ran = run_person(CHECK_THEN_FIX, RunMode::Live, &t, &[Answer::Yes]);
    assert!(t.ran_matching("restart-it").is_empty(), "{state:?}");
    assert_eq!(ran.result.end, RunEnd::Stopped, "{state:?}");
    assert_eq!(ran.outcome("restart", "b"), Some(Outcome::Declined));
    assert!(
      ran.notices.iter().any(|n| n.contains("Nothing was run")),
      "{:?}",
      ran.notices
    );
  }
  // Held by this run, or a host that cannot lock (said at the preflight): the change runs.
  for state in [LockState::Held, LockState::Unavailable("no flock".into())] {
    let t = Scripted::default()
      .on("b", "ping-it", vec![ok(1, "")])
      .locked("b", state);
    let _ = run_person(CHECK_THEN_FIX, RunMode::Live, &t, &[Answer::Yes]);
    assert_eq!(t.ran_matching("restart-it"), ["b"]);
  }
}

#[test]
fn a_skipped_confirmation_runs_nothing_and_abort_ends_the_run() {
  let t = Scripted::default().on("b", "ping-it", vec![ok(1, "")]);
  let ran = run_person(CHECK_THEN_FIX, RunMode::Live, &t, &[Answer::Skip]);
  assert!(t.ran_matching("restart-it").is_empty());
  // A person's no is said as such, apart from a rule's.
  assert_eq!(ran.outcome("restart", "b"), Some(Outcome::OperatorSkipped));
  let t = Scripted::default().on("b", "ping-it", vec![ok(1, "")]);
  let ran = run_person(CHECK_THEN_FIX, RunMode::Live, &t, &[Answer::Abort]);
  assert!(t.ran_matching("restart-it").is_empty());
  assert_eq!(ran.result.end, RunEnd::Aborted);
  assert_eq!(ran.outcome("restart", "b"), Some(Outcome::Aborted));
}

#[test]
fn checks_only_never_acts_and_dry_run_never_runs() {
  let t = Scripted::default().on("b", "ping-it", vec![ok(1, "")]);
  let ran = run_person(CHECK_THEN_FIX, RunMode::ChecksOnly, &t, &[]);
  assert!(ran.asked.is_empty(), "triage asked {:?}", ran.asked);
  assert!(t.ran_matching("restart-it").is_empty());
  assert_eq!(ran.outcome("restart", "b"), Some(Outcome::NotRun));

  let t = Scripted::default();
  let ran = run_person(
    CHECK_THEN_FIX,
    RunMode::DryRun,
    &t,
    &[Answer::Yes, Answer::Yes],
  );
  assert!(t.ran().is_empty(), "a dry run ran {:?}", t.ran());
  // A rehearsal walks every branch: both hosts are asked, whatever the check would say.
  assert_eq!(ran.asked, ["confirm restart a", "confirm restart b"]);
  assert_eq!(ran.outcome("ping", "a"), Some(Outcome::Rehearsed));
}

#[test]
fn retries_until_the_expectation_holds() {
  let steps = "  - id: wait
    title: wait
    targets: [a]
    retry:
      attempts: 3
      delay: 5s
    check:
      command: up
      expect:
        exit_code: 0
";
  let t = Scripted::default().on("a", "up", vec![ok(1, ""), ok(1, ""), ok(0, "")]);
  let ran = run_person(steps, RunMode::Live, &t, &[]);
  assert_eq!(t.ran_matching("up").len(), 3);
  let result = &ran.result.records[0].results[0];
  assert_eq!((result.outcome, result.attempts), (Outcome::Passed, 3));

  let t = Scripted::default().on("a", "up", vec![ok(1, "")]);
  let ran = run_person(steps, RunMode::Live, &t, &[]);
  assert_eq!(t.ran_matching("up").len(), 3, "no more than its attempts");
  assert_eq!(ran.outcome("wait", "a"), Some(Outcome::Failed));
}

#[test]
fn a_timeout_leaves_a_check_unknown_with_its_reason() {
  let steps = "  - id: slow
    title: slow
    targets: [a]
    timeout: 2s
    check:
      command: slow
      expect:
        exit_code: 0
";
  let t = Scripted::default().on(
    "a",
    "slow",
    vec![Err(TransportError::TimedOut {
      after: Duration::from_secs(2),
      partial: Output {
        exit_code: None,
        stdout: "halfway\n".into(),
        stderr: String::new(),
      },
      sweep: Sweep::Killed(vec!["4242 sleep 300".into()]),
    })],
  );
  let ran = run_person(steps, RunMode::Live, &t, &[]);
  let result = &ran.result.records[0].results[0];
  assert_eq!(result.outcome, Outcome::Unknown);
  assert!(
    result
      .error
      .as_deref()
      .unwrap()
      .contains("had survived and were killed: 4242 sleep 300"),
    "{result:?}"
  );
  assert_eq!(
    result.output.as_ref().unwrap().stdout,
    "halfway\n",
    "the output so far is kept"
  );
  assert!(
    result.error.as_deref().unwrap().contains("timed out"),
    "{result:?}"
  );
}

const FAILING_ACTION: &str = "  - id: fix
    title: fix
    targets: [a]
    on_failure: POLICY
    action:
      command: fix-it
      expect:
        exit_code: 0
  - id: after
    title: after
    targets: [a]
    check:
      command: after-it
      expect:
        exit_code: 0
";

#[test]
fn failure_policies() {
  let failing = || Scripted::default().on("a", "fix-it", vec![ok(1, "")]);
  // abort: the run stops at once.
  let t = failing();
  let ran = run_person(
    &FAILING_ACTION.replace("POLICY", "abort"),
    RunMode::Live,
    &t,
    &[Answer::Yes],
  );
  assert_eq!(ran.result.end, RunEnd::Stopped);
  assert!(t.ran_matching("after-it").is_empty());
  // continue: the next step runs.
  let t = failing();
  let ran = run_person(
    &FAILING_ACTION.replace("POLICY", "continue"),
    RunMode::Live,
    &t,
    &[Answer::Yes],
  );
  assert_eq!(ran.result.end, RunEnd::Completed);
  assert_eq!(t.ran_matching("after-it"), ["a"]);
  // ask: retry re-runs the command; skip goes on.
  let t = failing();
  let ran = run_person(
    &FAILING_ACTION.replace("POLICY", "ask"),
    RunMode::Live,
    &t,
    &[Answer::Yes, Answer::Retry, Answer::Skip],
  );
  assert_eq!(t.ran_matching("fix-it").len(), 2);
  assert_eq!(
    ran.asked,
    [
      "confirm fix a",
      "after-failure fix a",
      "after-failure fix a"
    ]
  );
  assert_eq!(ran.result.end, RunEnd::Completed);
  // ask, with nobody there: the run stops and says why.
  let t = failing();
  let unattended = Unattended {
    yes: true,
    destructive: false,
  };
  let ran = run(
    &FAILING_ACTION.replace("POLICY", "ask"),
    RunMode::Live,
    &t,
    &unattended,
  );
  assert_eq!(ran.result.end, RunEnd::Stopped);
  assert!(
    ran
      .notices
      .iter()
      .any(|n| n.contains("nobody is here to decide")),
    "{:?}",
    ran.notices
  );
}

#[test]
fn unattended_runs_decline_destructive_actions_without_the_flag() {
  let steps = "  - id: wipe
    title: wipe
    targets: [a]
    action:
      command: wipe-it
      destructive: true
";
  let t = Scripted::default();
  let ran = run(
    steps,
    RunMode::Live,
    &t,
    &Unattended {
      yes: true,
      destructive: false,
    },
  );
  assert!(t.ran_matching("wipe-it").is_empty());
  assert_eq!(ran.outcome("wipe", "a"), Some(Outcome::Declined));
  let t = Scripted::default();
  run(
    steps,
    RunMode::Live,
    &t,
    &Unattended {
      yes: true,
      destructive: true,
    },
  );
  assert_eq!(t.ran_matching("wipe-it"), ["a"]);
}

#[test]
fn an_unreachable_host_sits_out_and_the_others_go_on() {
  let t = Scripted::default()
    .down("a")
    .on("b", "ping-it", vec![ok(1, "")]);
  let ran = run_person(CHECK_THEN_FIX, RunMode::Live, &t, &[Answer::Yes]);
  assert_eq!(ran.outcome("ping", "a"), Some(Outcome::Unreachable));
  assert_eq!(t.ran_matching("ping-it"), ["b"]);
  assert_eq!(t.ran_matching("restart-it"), ["b"]);
}

/// A host lost at the start is tried once more after an action ran (it may have mended the
/// link), and verified; without any work done since, it is not tried again step after step.
#[test]
fn a_lost_host_is_tried_again_after_an_action_and_only_then() {
  let steps = "  - id: probe
    title: probe
    targets: [a]
    check: {command: probe-it, expect: {exit_code: 0}}
  - id: mend
    title: put the link back
    targets: [b]
    action: {command: mend-link}
  - id: verify
    title: verify
    targets: [a]
    check: {command: probe-it, expect: {exit_code: 0}}
  - id: verify-again
    title: verify again
    targets: [a]
    check: {command: probe-it, expect: {exit_code: 0}}
";
  let t = Scripted::default().down("a").mended_by("mend-link");
  let ran = run_person(steps, RunMode::Live, &t, &[Answer::Yes]);
  assert_eq!(ran.outcome("probe", "a"), Some(Outcome::Unreachable));
  assert_eq!(ran.outcome("verify", "a"), Some(Outcome::Passed));
  assert!(
    ran.notices.iter().any(|n| n.contains("a answers again")),
    "{:?}",
    ran.notices
  );
  // Declined: nothing changed, so the lost host is not tried again (one connect, the preflight).
  let t = Scripted::default().down("a").mended_by("mend-link");
  let ran = run_person(steps, RunMode::Live, &t, &[Answer::Skip]);
  assert_eq!(ran.outcome("verify", "a"), Some(Outcome::Unreachable));
  assert_eq!(t.connects("a"), 1);
  // Mended by nothing: tried once after the action, then left alone.
  let t = Scripted::default().down("a");
  let ran = run_person(steps, RunMode::Live, &t, &[Answer::Yes]);
  assert_eq!(ran.outcome("verify-again", "a"), Some(Outcome::Unreachable));
  assert_eq!(t.connects("a"), 2);
}

#[test]
fn a_manual_step_waits_for_a_person() {
  let steps = "  - id: flip
    title: flip
    manual:
      instructions: Flip the pool.
";
  let t = Scripted::default();
  let ran = run_person(steps, RunMode::Live, &t, &[Answer::Yes]);
  assert_eq!(ran.asked, ["manual flip"]);
  assert_eq!(ran.outcome("flip", MANUAL_HOST), Some(Outcome::Passed));
  let ran = run(
    steps,
    RunMode::Live,
    &t,
    &Unattended {
      yes: true,
      destructive: true,
    },
  );
  assert_eq!(ran.outcome("flip", MANUAL_HOST), Some(Outcome::Unconfirmed));
}

#[test]
fn a_step_cut_off_by_ctrl_c_is_interrupted_and_not_done() {
  let t = Scripted::default()
    .on("b", "ping-it", vec![ok(1, "")])
    .ctrl_c_during("restart-it");
  let ran = run_person(
    CHECK_THEN_FIX,
    RunMode::Live,
    &t,
    &[Answer::Yes, Answer::Abort],
  );
  assert_eq!(ran.asked, ["confirm restart b", "interrupted restart"]);
  assert_eq!(ran.outcome("restart", "b"), Some(Outcome::Interrupted));
  assert_eq!(ran.result.end, RunEnd::Aborted);
  // A resume starts from the step that did not finish.
  assert_eq!(ran.done, ["ping"]);
}

#[test]
fn a_ctrl_c_while_nothing_runs_is_asked_about_before_the_next_step() {
  let t = Scripted::default();
  let script = Script::person(&[Answer::Abort]);
  let ran = run_after(CHECK_THEN_FIX, RunMode::Live, &t, &script, 1);
  assert_eq!(*script.asked.lock().unwrap(), ["interrupted ping"]);
  assert!(t.ran_matching("ping-it").is_empty(), "{:?}", t.ran());
  assert_eq!(ran.result.end, RunEnd::Aborted);
  assert!(ran.done.is_empty());
}

/// The shape of the Redis memory branch: a threshold check, its remedy, and the remedy's
/// verification.
const MEASURE_THEN_FIX: &str = "  - id: memory
    title: memory
    targets: [a]
    check:
      command: measure
      expect:
        thresholds:
          - name: used
            regex: 'used=([0-9]+)'
            max: 90
  - id: raise-limit
    title: raise the limit
    targets: [a]
    when:
      failed: [memory]
    action:
      command: raise-it
  - id: memory-after
    title: memory after
    targets: [a]
    after: raise-limit
    check:
      command: measure
      expect:
        thresholds:
          - name: used
            regex: 'used=([0-9]+)'
            max: 90
  - id: call-someone
    title: call someone
    targets: [a]
    when:
      unknown: [memory]
    action:
      command: page-it
";

#[test]
fn a_check_that_cannot_measure_never_leads_to_its_remedy() {
  // The service is down: the number is missing and the command failed.
  let t = Scripted::default().on("a", "measure", vec![ok(1, "Could not connect")]);
  let ran = run_person(MEASURE_THEN_FIX, RunMode::Live, &t, &[Answer::Skip]);
  assert_eq!(ran.outcome("memory", "a"), Some(Outcome::Unknown));
  assert!(t.ran_matching("raise-it").is_empty());
  assert_eq!(ran.outcome("raise-limit", "a"), Some(Outcome::Skipped));
  // `when: {unknown: …}` is how a runbook acts on "could not tell".
  assert_eq!(ran.asked, ["confirm call-someone a"]);
  // Nothing was raised, so there is nothing to verify.
  assert_eq!(
    ran.outcome("memory-after", "a"),
    Some(Outcome::NotApplicable)
  );
  assert_eq!(t.ran_matching("measure").len(), 1);
}

#[test]
fn a_real_measurement_over_the_limit_is_a_failure() {
  let t = Scripted::default().on("a", "measure", vec![ok(0, "used=95"), ok(0, "used=40")]);
  let ran = run_person(MEASURE_THEN_FIX, RunMode::Live, &t, &[Answer::Yes]);
  assert_eq!(ran.outcome("memory", "a"), Some(Outcome::Failed));
  assert_eq!(t.ran_matching("raise-it"), ["a"]);
  assert_eq!(ran.outcome("memory-after", "a"), Some(Outcome::Passed));
}

#[test]
fn triage_does_not_verify_actions_it_did_not_run() {
  let t = Scripted::default().on("a", "measure", vec![ok(0, "used=95")]);
  let ran = run_person(MEASURE_THEN_FIX, RunMode::ChecksOnly, &t, &[]);
  assert_eq!(ran.outcome("raise-limit", "a"), Some(Outcome::NotRun));
  assert_eq!(
    ran.outcome("memory-after", "a"),
    Some(Outcome::NotApplicable)
  );
  assert_eq!(t.ran_matching("measure").len(), 1, "the verification ran");
}
