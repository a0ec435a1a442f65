//! Updates to the team from a live run, received by a local HTTP endpoint standing where Slack's
//! webhook and PagerDuty's Events API would be (loopback only).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use crate::fleet::Fleet;

/// Takes HTTP POSTs on loopback and keeps (path, body) of each it accepts.
struct Receiver {
  url: String,
  got: Arc<Mutex<Vec<(String, String)>>>,
  /// Every request it got, refused or accepted.
  requests: Arc<Mutex<usize>>,
}

impl Receiver {
  fn start() -> Receiver {
    Receiver::refusing(0)
  }

  /// Answers 500 to the first `refuse` requests, as a service having a bad minute.
  fn refusing(refuse: usize) -> Receiver {
    let requests: Arc<Mutex<usize>> = Arc::default();
    let count = requests.clone();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let got: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let keep = got.clone();
    std::thread::spawn(move || {
      for stream in listener.incoming().flatten() {
        let mut reader = BufReader::new(stream);
        let mut first = String::new();
        if reader.read_line(&mut first).is_err() {
          continue;
        }
        let path = first.split_whitespace().nth(1).unwrap_or("").to_string();
        let mut length = 0;
        loop {
          let mut line = String::new();
          if reader.read_line(&mut line).is_err() || line == "\r\n" || line.is_empty() {
            break;
          }
          if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
          }
        }
        let mut body = vec![0; length];
        let _ = reader.read_exact(&mut body);
        let refuse = {
          let mut n = count.lock().unwrap();
          *n += 1;
          *n <= refuse
        };
        if refuse {
          let _ = reader.get_mut().write_all(
            b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
          );
          continue;
        }
        keep
          .lock()
          .unwrap()
          .push((path, String::from_utf8_lossy(&body).into_owned()));
        let _ = reader
          .get_mut()
          .write_all(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
      }
    });
    Receiver { url, got, requests }
  }

  fn bodies(&self, path: &str) -> Vec<serde_json::Value> {
    self
      .got
      .lock()
      .unwrap()
      .iter()
      .filter(|(p, _)| p.starts_with(path))
      .map(|(_, b)| serde_json::from_str(b).unwrap())
      .collect()
  }
}

#[test]
fn a_live_run_tells_the_team_and_never_shows_where() {
  let fleet = Fleet::new();
  let flag = fleet.path("healthy");
  let fleet = fleet.runbook(
    "heal",
    &format!(
      r#"steps:
  - id: probe
    title: healthy?
    targets: [host-a]
    check: {{command: 'test -e {flag}', expect: {{exit_code: 0}}}}
  - id: fix
    title: make healthy
    targets: [host-a]
    when: {{failed: probe}}
    action: {{command: 'touch {flag}'}}
  - id: verify
    title: healthy now
    targets: [host-a]
    check: {{command: 'test -e {flag}', expect: {{exit_code: 0}}}}
"#
    ),
  );
  let receiver = Receiver::start();
  let slack = format!("{}/slack/T000-SECRET-HOOK", receiver.url);
  let Fleet { test, sshd } = fleet;
  let test = test
    .env("MEGACITY_SLACK_WEBHOOK", &slack)
    .env("MEGACITY_PAGERDUTY_KEY", "ROUTING-KEY-123")
    .env("MEGACITY_PAGERDUTY_URL", format!("{}/pd", receiver.url));
  let config = sshd.ssh_config();
  let test = test.args([
    "--color",
    "never",
    "run",
    "heal",
    "--yes",
    "--ssh-config",
    config.to_str().unwrap(),
  ]);
  let run = test.run();
  assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
  let slack = receiver.bodies("/slack/");
  let texts: Vec<&str> = slack.iter().map(|b| b["text"].as_str().unwrap()).collect();
  // In the seeds' shape (seed 000 §8, seed 002 C.4), in the run's order: declared with its
  // hosts, the findings before the first change, resolved with what verified it.
  assert_eq!(texts.len(), 3, "{texts:?}");
  assert!(
    texts[0].starts_with("🚨 [P2] Incident Declared: heal")
      && texts[0].contains("\nStatus: Investigating")
      && texts[0].contains("\nHosts: host-a")
      && texts[0].contains("\nOn-call: "),
    "{texts:?}"
  );
  assert!(
    texts[1].contains("Status: Identified") && texts[1].contains("✘ probe on host-a: exit code 1"),
    "{texts:?}"
  );
  assert!(
    texts[2].starts_with("✅ [P2] Resolved: heal") && texts[2].contains("✔ verify on host-a"),
    "{texts:?}"
  );
  let pd = receiver.bodies("/pd");
  let actions: Vec<&str> = pd
    .iter()
    .map(|b| b["event_action"].as_str().unwrap())
    .collect();
  assert_eq!(actions, ["trigger", "resolve"]);
  let journal = test.newest_journal();
  let run_id = journal[0]["run"].as_str().unwrap();
  assert!(
    pd.iter()
      .all(|b| b["dedup_key"] == run_id && b["routing_key"] == "ROUTING-KEY-123")
  );
  // Secrets go to the services only.
  let recorded = serde_json::to_string(&journal).unwrap();
  for secret in ["SECRET-HOOK", "ROUTING-KEY-123"] {
    assert!(
      !run.stdout.contains(secret) && !run.stderr.contains(secret) && !recorded.contains(secret)
    );
  }
  // The status page's text, from the journal: resolved, since the final check passed.
  let test = test.reset().args(["report", "last", "--status-update"]);
  let status = test.run();
  assert!(
    status.stdout.starts_with("Resolved — heal\n")
      && status.stdout.contains("verified working since 20"),
    "{}",
    status.stdout
  );
  // A rehearsal declares nothing.
  let before = receiver.got.lock().unwrap().len();
  let test = test.reset().args(["run", "heal", "--dry-run", "--yes"]);
  assert_eq!(test.run().code, 0);
  assert_eq!(receiver.got.lock().unwrap().len(), before);
  drop(sshd);
}

/// The config file says where the team is told; the environment wins over it. A rehearsal posts
/// to the drill channel only (never to the live channel, never to PagerDuty).
#[test]
fn the_config_file_says_where_and_a_rehearsal_posts_only_to_the_drill_channel() {
  let fleet = Fleet::new().runbook(
    "probe",
    "steps:\n  - id: probe\n    title: probe\n    targets: [host-a]\n    check: {command: 'true', expect: {exit_code: 0}}\n",
  );
  let receiver = Receiver::start();
  let Fleet { test, sshd } = fleet;
  let test = test
    .write(
      "xdg-config/megacity/config.yaml",
      &format!(
        "# where megacity tells the team\nslack_webhook: {0}/live/FILE-SECRET\nslack_drill_webhook: {0}/drill/DRILL-SECRET\npagerduty_routing_key: FILE-KEY\n",
        receiver.url
      ),
    )
    .env("MEGACITY_PAGERDUTY_URL", format!("{}/pd", receiver.url));
  let rehearsal = test.args(["--color", "never", "run", "probe", "--dry-run", "--yes"]);
  let run = rehearsal.run();
  assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
  assert!(!receiver.bodies("/drill/").is_empty());
  assert!(receiver.bodies("/live/").is_empty());
  assert!(receiver.bodies("/pd").is_empty());
  let config = sshd.ssh_config();
  let live = rehearsal.reset().args([
    "--color",
    "never",
    "run",
    "probe",
    "--yes",
    "--ssh-config",
    config.to_str().unwrap(),
  ]);
  let run = live.run();
  assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
  assert!(!receiver.bodies("/live/").is_empty());
  let pd = receiver.bodies("/pd");
  assert!(!pd.is_empty() && pd.iter().all(|b| b["routing_key"] == "FILE-KEY"));
  // The environment over the file.
  let env = live
    .reset()
    .env(
      "MEGACITY_SLACK_WEBHOOK",
      format!("{}/env/ENV-SECRET", receiver.url),
    )
    .args([
      "--color",
      "never",
      "run",
      "probe",
      "--yes",
      "--ssh-config",
      config.to_str().unwrap(),
    ]);
  let before = receiver.bodies("/live/").len();
  assert_eq!(env.run().code, 0);
  assert!(!receiver.bodies("/env/").is_empty());
  assert_eq!(receiver.bodies("/live/").len(), before);
  drop(sshd);
}

/// A config file with a mistake stops every command with where it is and what to write, and
/// never echoes a secret back.
#[test]
fn an_invalid_config_file_says_where_and_hides_secrets() {
  let test = crate::test::Test::new().write(
    "xdg-config/megacity/config.yaml",
    "alertmanger: http://monitoring-01:9093\nslack_webhook: hooks.slack.com/services/T0/B0/SECRET\n",
  );
  let test = test.args(["runbook", "list"]);
  let run = test.run();
  assert_eq!(run.code, crate::test::exit::USAGE, "{}", run.stderr);
  assert!(run.stderr.contains("config.yaml:1:1"), "{}", run.stderr);
  assert!(
    run.stderr.contains("did you mean `alertmanager`?"),
    "{}",
    run.stderr
  );
  assert!(run.stderr.contains("config.yaml:2:16"), "{}", run.stderr);
  assert!(!run.stderr.contains("SECRET"), "{}", run.stderr);
  // MEGACITY_CONFIG names another file, which must exist.
  let missing = test
    .reset()
    .env("MEGACITY_CONFIG", "/nonexistent/megacity.yaml")
    .args(["runbook", "list"])
    .run();
  assert_eq!(missing.code, crate::test::exit::USAGE, "{}", missing.stderr);
  assert!(
    missing.stderr.contains("/nonexistent/megacity.yaml"),
    "{}",
    missing.stderr
  );
}

/// A runbook whose fix is destructive, on host-a; `fixed` says whether the fix works.
fn destructive_heal(fleet: Fleet, fixed: bool) -> Fleet {
  let flag = fleet.path(&format!("healthy-{fixed}"));
  let fix = if fixed {
    format!("touch {flag}")
  } else {
    "true".to_string()
  };
  fleet.runbook(
    "wipe",
    &format!(
      r#"steps:
  - id: probe
    title: healthy?
    targets: [host-a]
    check: {{command: 'test -e {flag}', expect: {{exit_code: 0}}}}
  - id: wipe
    title: wipe and rebuild
    targets: [host-a]
    when: {{failed: probe}}
    action: {{command: '{fix}', destructive: true}}
  - id: verify
    title: healthy now
    targets: [host-a]
    check: {{command: 'test -e {flag}', expect: {{exit_code: 0}}}}
"#
    ),
  )
}

/// A service that refuses twice gets the update on the third try (after 1 s and 2 s); one
/// that keeps refusing is said to have missed it, recorded, and the run finishes as it would
/// have. The team hears of a destructive action confirmed, and of what still fails.
#[test]
fn updates_are_retried_in_order_and_a_refusing_service_never_stops_the_run() {
  let fleet = destructive_heal(Fleet::new(), true);
  let receiver = Receiver::refusing(2);
  let Fleet { test, sshd } = fleet;
  let config = sshd.ssh_config();
  let args = [
    "--color",
    "never",
    "run",
    "wipe",
    "--yes",
    "--yes-destructive",
    "--ssh-config",
    config.to_str().unwrap(),
  ];
  let test = test
    .env(
      "MEGACITY_SLACK_WEBHOOK",
      format!("{}/slack/x", receiver.url),
    )
    .args(args);
  let run = test.run();
  assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
  assert!(!run.stderr.contains("not delivered"), "{}", run.stderr);
  assert_eq!(
    *receiver.requests.lock().unwrap(),
    6,
    "2 refused, then 4 accepted"
  );
  let texts: Vec<String> = receiver
    .bodies("/slack/")
    .iter()
    .map(|b| b["text"].as_str().unwrap().to_string())
    .collect();
  assert_eq!(texts.len(), 4, "{texts:?}");
  assert!(texts[0].contains("Incident Declared"), "{texts:?}");
  assert!(texts[1].contains("Status: Identified"), "{texts:?}");
  assert!(
    texts[2]
      .contains("destructive action confirmed by --yes-destructive (unattended): `wipe` on host-a"),
    "{texts:?}"
  );
  assert!(texts[3].contains("Resolved"), "{texts:?}");

  // A fix that does not work, told to a service that never accepts: the run's own outcome.
  let fleet = destructive_heal(
    Fleet {
      test: test.reset(),
      sshd,
    },
    false,
  );
  let down = Receiver::refusing(usize::MAX);
  let Fleet { test, sshd } = fleet;
  let test = test
    .env("MEGACITY_SLACK_WEBHOOK", format!("{}/slack/y", down.url))
    .args(args);
  let run = test.run();
  assert_eq!(
    run.code,
    crate::test::exit::FAILURE,
    "{}\n{}",
    run.stdout,
    run.stderr
  );
  assert!(
    run
      .stderr
      .contains("the Slack update was not delivered (3 tries): the service answered 500"),
    "{}",
    run.stderr
  );
  let recorded = serde_json::to_string(&test.newest_journal()).unwrap();
  assert!(recorded.contains("not delivered"), "{recorded}");
  drop(sshd);

  // What the team would have read at the end: what still fails.
  let fleet = destructive_heal(Fleet::new(), false);
  let receiver = Receiver::start();
  let Fleet { test, sshd } = fleet;
  let config = sshd.ssh_config();
  let test = test
    .env(
      "MEGACITY_SLACK_WEBHOOK",
      format!("{}/slack/z", receiver.url),
    )
    .args([
      "--color",
      "never",
      "run",
      "wipe",
      "--yes",
      "--yes-destructive",
      "--ssh-config",
      config.to_str().unwrap(),
    ]);
  let run = test.run();
  assert_eq!(run.code, crate::test::exit::FAILURE);
  // Not verified: the status page still says investigating.
  let status = test
    .reset()
    .args(["report", "last", "--status-update"])
    .run();
  assert!(
    status.stdout.starts_with("Investigating — wipe\n")
      && status.stdout.contains("Next update in 15 minutes"),
    "{}",
    status.stdout
  );
  let last = receiver.bodies("/slack/").last().unwrap()["text"]
    .as_str()
    .unwrap()
    .to_string();
  assert!(
    last.starts_with("❌ [P2] Unresolved: wipe")
      && last.contains("What failed:\n- ✘ verify on host-a"),
    "{last}"
  );
  drop(sshd);
}
