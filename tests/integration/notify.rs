//! Updates to the team from a live run, received by a local HTTP endpoint standing where Slack's
//! webhook and PagerDuty's Events API would be (loopback only).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use crate::fleet::Fleet;

/// Takes HTTP POSTs on loopback and keeps (path, body) of each.
struct Receiver {
  url: String,
  got: Arc<Mutex<Vec<(String, String)>>>,
}

impl Receiver {
  fn start() -> Receiver {
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
        keep
          .lock()
          .unwrap()
          .push((path, String::from_utf8_lossy(&body).into_owned()));
        let _ = reader
          .get_mut()
          .write_all(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
      }
    });
    Receiver { url, got }
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
  assert!(
    texts.first().unwrap().contains("Incident declared: heal"),
    "{texts:?}"
  );
  assert!(
    texts
      .last()
      .unwrap()
      .contains("completed and its checks pass"),
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
  // A rehearsal declares nothing.
  let before = receiver.got.lock().unwrap().len();
  let test = test.reset().args(["run", "heal", "--dry-run", "--yes"]);
  assert_eq!(test.run().code, 0);
  assert_eq!(receiver.got.lock().unwrap().len(), before);
  drop(sshd);
}
