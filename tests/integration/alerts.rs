//! From the alert to the runbook, against a real Alertmanager on loopback: the firing alerts
//! with their runbooks and hosts, and a run started for one of them.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::test::{Test, exit};

const BIN: &str = "/usr/bin/prometheus-alertmanager";

/// A real Alertmanager on a free loopback port, stopped when dropped.
pub(crate) struct Alertmanager {
  child: Child,
  pub(crate) url: String,
  _dir: tempfile::TempDir,
}

impl Alertmanager {
  pub(crate) fn start() -> Alertmanager {
    assert!(
      std::path::Path::new(BIN).exists(),
      "`{BIN}` is missing; the alert tests need it: apt-get install -y prometheus-alertmanager"
    );
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("alertmanager.yml");
    std::fs::write(
      &config,
      "route:\n  receiver: nobody\nreceivers:\n  - name: nobody\n",
    )
    .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
      .unwrap()
      .local_addr()
      .unwrap()
      .port();
    let cluster = std::net::TcpListener::bind("127.0.0.1:0")
      .unwrap()
      .local_addr()
      .unwrap()
      .port();
    let child = Command::new(BIN)
      .arg(format!("--config.file={}", config.display()))
      .arg(format!(
        "--storage.path={}",
        dir.path().join("data").display()
      ))
      .arg(format!("--web.listen-address=127.0.0.1:{port}"))
      .arg(format!("--cluster.listen-address=127.0.0.1:{cluster}"))
      .stdout(Stdio::null())
      .stderr(Stdio::null())
      .spawn()
      .expect("alertmanager starts");
    let url = format!("http://127.0.0.1:{port}");
    let am = Alertmanager {
      child,
      url,
      _dir: dir,
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while !am.curl(&["-fsS", &format!("{}/-/ready", am.url)]) {
      assert!(
        Instant::now() < deadline,
        "alertmanager did not become ready"
      );
      std::thread::sleep(Duration::from_millis(200));
    }
    am
  }

  fn curl(&self, args: &[&str]) -> bool {
    Command::new("curl")
      .args(args)
      .stdout(Stdio::null())
      .stderr(Stdio::null())
      .status()
      .is_ok_and(|s| s.success())
  }

  /// Fires alerts as Prometheus would (POST /api/v2/alerts).
  pub(crate) fn fire(&self, alerts: &str) {
    assert!(self.curl(&[
      "-fsS",
      "-H",
      "Content-Type: application/json",
      "-d",
      alerts,
      &format!("{}/api/v2/alerts", self.url),
    ]));
    // Alertmanager lists an alert once it has taken it in.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
      let out = Command::new("curl")
        .args(["-fsS", &format!("{}/api/v2/alerts", self.url)])
        .output()
        .unwrap();
      if String::from_utf8_lossy(&out.stdout).contains("fingerprint") {
        return;
      }
      assert!(
        Instant::now() < deadline,
        "alertmanager did not take the alerts"
      );
      std::thread::sleep(Duration::from_millis(200));
    }
  }
}

impl Drop for Alertmanager {
  fn drop(&mut self) {
    let _ = self.child.kill();
    let _ = self.child.wait();
  }
}

const FIRING: &str = r#"[
  {"labels": {"alertname": "HighErrorRate", "severity": "critical", "instance": "backend-api-01:8000"},
   "annotations": {"summary": "API error rate > 5%"}},
  {"labels": {"alertname": "RedisDown", "severity": "critical", "instance": "127.0.0.5:9121"},
   "annotations": {"runbook_url": "https://wiki.example/runbooks/redis-outage"}},
  {"labels": {"alertname": "SomethingElse", "host": "gpu-cluster-01"}}
]"#;

#[test]
fn firing_alerts_are_routed_to_their_runbooks_and_hosts_and_a_run_starts_for_one() {
  let am = Alertmanager::start();
  am.fire(FIRING);
  let run = Test::new()
    .args(["--format", "json", "alerts", "--alertmanager", &am.url])
    .run();
  assert_eq!(run.code, exit::SUCCESS, "{}", run.stderr);
  let json = run.json();
  let alerts = json.as_array().unwrap();
  let by_name = |name: &str| {
    alerts
      .iter()
      .find(|a| a["alert"] == name)
      .unwrap_or_else(|| panic!("no {name}: {}", run.stdout))
  };
  // By the runbook's own `alerts:` list; the instance's port stripped.
  let errors = by_name("HighErrorRate");
  assert_eq!(errors["runbook"], "api-down");
  assert_eq!(errors["found_by"], "alerts:");
  assert_eq!(errors["hosts"], serde_json::json!(["backend-api-01"]));
  // By the runbook_url's last segment; an address is shown unmatched, never guessed.
  let redis = by_name("RedisDown");
  assert_eq!(redis["runbook"], "redis-outage");
  assert_eq!(redis["found_by"], "runbook_url");
  assert_eq!(redis["hosts"], serde_json::json!([]));
  assert_eq!(redis["unmatched"], serde_json::json!(["127.0.0.5:9121"]));
  // No runbook: said, not invented.
  let other = by_name("SomethingElse");
  assert!(other.get("runbook").is_none(), "{other}");
  assert_eq!(other["hosts"], serde_json::json!(["gpu-cluster-01"]));

  // A run for the alert: its runbook on its host, the alert in the record and the postmortem.
  let test = Test::new().args([
    "--color",
    "never",
    "run",
    "--alert",
    "HighErrorRate",
    "--alertmanager",
    &am.url,
    "--dry-run",
    "--yes",
  ]);
  let run = test.run();
  assert_eq!(run.code, exit::SUCCESS, "{}\n{}", run.stdout, run.stderr);
  assert!(
    run.stderr.contains("for alert HighErrorRate ("),
    "{}",
    run.stderr
  );
  assert!(run.stdout.contains("api-down"), "{}", run.stdout);
  let journal = test.newest_journal();
  let setup = &journal[0]["setup"];
  assert!(
    setup["alert"]
      .as_str()
      .unwrap()
      .starts_with("HighErrorRate ("),
    "{setup}"
  );
  assert_eq!(setup["hosts"], serde_json::json!(["backend-api-01"]));
  let test = test.reset().args(["report", "last", "--postmortem"]);
  let report = test.run();
  assert!(
    report.stdout.contains("| Alert | HighErrorRate ("),
    "{}",
    report.stdout
  );

  // An alert that is not firing: a usage error naming what is.
  let none = test
    .reset()
    .args([
      "run",
      "--alert",
      "NoSuchThing",
      "--alertmanager",
      &am.url,
      "--dry-run",
      "--yes",
    ])
    .run();
  assert_eq!(none.code, exit::USAGE, "{}", none.stderr);
  assert!(none.stderr.contains("firing: "), "{}", none.stderr);
}

#[test]
fn an_alertmanager_that_does_not_answer_is_said_as_such() {
  let port = std::net::TcpListener::bind("127.0.0.1:0")
    .unwrap()
    .local_addr()
    .unwrap()
    .port();
  let run = Test::new()
    .args([
      "alerts",
      "--alertmanager",
      &format!("http://127.0.0.1:{port}"),
    ])
    .run();
  assert_eq!(run.code, exit::ERROR, "{}", run.stderr);
  assert!(
    run.stderr.contains("cannot ask Alertmanager"),
    "{}",
    run.stderr
  );
}

/// `--until-resolved`: after the run, megacity asks Alertmanager until the alert is gone (or
/// the time is up), says which, and records it.
#[test]
fn until_resolved_records_whether_the_alert_went_away() {
  let am = Alertmanager::start();
  // One that Prometheus will stop sending: it ends in three seconds. One that goes on.
  let ends = String::from_utf8(
    Command::new("date")
      .args(["-u", "-d", "+3 seconds", "+%Y-%m-%dT%H:%M:%SZ"])
      .output()
      .unwrap()
      .stdout,
  )
  .unwrap();
  am.fire(&format!(
    r#"[{{"labels": {{"alertname": "HighErrorRate", "instance": "backend-api-01:8000"}}, "endsAt": "{}"}},
        {{"labels": {{"alertname": "HighDBConnections", "instance": "db-primary-01:9187"}}}}]"#,
    ends.trim()
  ));
  let resolved = |alert: &str, limit: &str| {
    let test = Test::new().args([
      "run",
      "--alert",
      alert,
      "--alertmanager",
      &am.url,
      "--dry-run",
      "--yes",
      "--until-resolved",
      limit,
    ]);
    let run = test.run();
    assert_eq!(run.code, exit::SUCCESS, "{}\n{}", run.stdout, run.stderr);
    let journal = test.newest_journal();
    let record = journal
      .iter()
      .find(|r| r["type"] == "alert-resolved")
      .unwrap_or_else(|| panic!("not recorded: {}", run.stderr))
      .clone();
    (record, run.stderr)
  };
  let (record, said) = resolved("HighErrorRate", "60s");
  assert_eq!(record["resolved"], true, "{said}");
  assert!(said.contains("alert HighErrorRate resolved"), "{said}");
  let (record, said) = resolved("HighDBConnections", "2s");
  assert_eq!(record["resolved"], false, "{said}");
  assert!(said.contains("still fires"), "{said}");
}
