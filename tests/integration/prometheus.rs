//! Prometheus checks (`prometheus: {query: …}`) against a real Prometheus on loopback that
//! scrapes itself: a series judged per threshold, no series unknown (or a pass where the
//! runbook says so), no Prometheus configured unknown.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::test::{Test, exit};

const BIN: &str = "/usr/bin/prometheus";

/// A real Prometheus on a free loopback port, scraping itself every second; stopped when
/// dropped.
struct Prometheus {
  child: Child,
  url: String,
  _dir: tempfile::TempDir,
}

impl Prometheus {
  fn start() -> Prometheus {
    assert!(
      std::path::Path::new(BIN).exists(),
      "`{BIN}` is missing; the Prometheus check tests need it: apt-get install -y prometheus"
    );
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
      .unwrap()
      .local_addr()
      .unwrap()
      .port();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
      &config,
      format!(
        "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: prometheus\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n"
      ),
    )
    .unwrap();
    let child = Command::new(BIN)
      .arg(format!("--config.file={}", config.display()))
      .arg(format!(
        "--storage.tsdb.path={}",
        dir.path().join("data").display()
      ))
      .arg(format!("--web.listen-address=127.0.0.1:{port}"))
      .stdout(Stdio::null())
      .stderr(Stdio::null())
      .spawn()
      .expect("prometheus starts");
    let prometheus = Prometheus {
      child,
      url: format!("http://127.0.0.1:{port}"),
      _dir: dir,
    };
    // Ready once its own `up` has a sample.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
      let out = Command::new("curl")
        .args(["-fsS", "-G", "--data-urlencode", "query=up"])
        .arg(format!("{}/api/v1/query", prometheus.url))
        .output()
        .unwrap();
      if String::from_utf8_lossy(&out.stdout).contains("\"value\"") {
        break;
      }
      assert!(
        Instant::now() < deadline,
        "prometheus did not scrape itself"
      );
      std::thread::sleep(Duration::from_millis(300));
    }
    prometheus
  }
}

impl Drop for Prometheus {
  fn drop(&mut self) {
    let _ = self.child.kill();
    let _ = self.child.wait();
  }
}

const RUNBOOK: &str = r#"id: prom
title: Prometheus checks
severity: P3
parameters:
  up_max:
    default: 0
    help: the most `up` may be (a threshold written as a parameter)
steps:
  - id: up
    title: Prometheus scrapes itself
    targets: [local]
    check:
      prometheus:
        query: up{job="prometheus"}
      expect:
        thresholds:
          - {name: up, min: 1}
  - id: too-many
    title: A threshold the series exceeds
    targets: [local]
    check:
      prometheus:
        query: up{job="prometheus"}
      expect:
        thresholds:
          - {name: up, max: '{{up_max}}'}
  - id: missing
    title: A metric nobody exports
    targets: [local]
    check:
      prometheus:
        query: up{job="nothing"}
      expect:
        thresholds:
          - {name: up, min: 1}
  - id: missing-is-fine
    title: A metric nobody exports, and the runbook accepts that
    targets: [local]
    check:
      prometheus:
        query: up{job="nothing"}
        empty: pass
      expect:
        thresholds:
          - {name: up, min: 1}
"#;

fn outcomes(test: &Test) -> Vec<(String, String)> {
  test
    .newest_journal()
    .iter()
    .filter(|r| r["type"] == "host-result")
    .map(|r| {
      (
        r["step"].as_str().unwrap().to_string(),
        r["outcome"].as_str().unwrap().to_string(),
      )
    })
    .collect()
}

#[test]
fn prometheus_checks_judge_each_series_and_say_unknown_when_there_is_none() {
  let prometheus = Prometheus::start();
  let test = Test::new()
    .write("runbooks/prom.yaml", RUNBOOK)
    .env("MEGACITY_PROMETHEUS", &prometheus.url)
    .args(["--color", "never", "run", "prom", "--yes"]);
  let run = test.run();
  assert_eq!(run.code, exit::FAILURE, "{}\n{}", run.stdout, run.stderr);
  let want = [
    ("up", "passed"),
    ("too-many", "failed"),
    ("missing", "unknown"),
    ("missing-is-fine", "passed"),
  ];
  assert_eq!(
    outcomes(&test),
    want.map(|(s, o)| (s.to_string(), o.to_string())),
    "{}",
    run.stdout
  );
  // The series and the verdict are shown, with the query's labels.
  assert!(
    run.stdout.contains("up = 1, above the maximum 0"),
    "{}",
    run.stdout
  );
  let journal = test.newest_journal();
  let up = journal
    .iter()
    .find(|r| r["type"] == "host-result" && r["step"] == "up")
    .unwrap();
  assert!(
    up["stdout"]
      .as_str()
      .unwrap()
      .contains("job=\"prometheus\""),
    "{up}"
  );

  // The bound is a parameter: raised, the series is within it; not a number, nothing is judged.
  let raised = test.reset().args([
    "--color", "never", "run", "prom", "--yes", "--var", "up_max=1",
  ]);
  raised.run();
  assert!(outcomes(&raised).contains(&("too-many".into(), "passed".into())));
  let nonsense = raised.reset().args([
    "--color",
    "never",
    "run",
    "prom",
    "--yes",
    "--var",
    "up_max=lots",
  ]);
  let run = nonsense.run();
  assert!(
    outcomes(&nonsense).contains(&("too-many".into(), "unknown".into())),
    "{}",
    run.stdout
  );
  assert!(
    run.stdout.contains("is `lots`, not a number"),
    "{}",
    run.stdout
  );
  let test = nonsense
    .reset()
    .args(["--color", "never", "run", "prom", "--yes"]);

  // Without a configured Prometheus nothing can be judged: unknown, never failed.
  let test = test.env("MEGACITY_PROMETHEUS", "");
  let run = test.run();
  assert_eq!(run.code, exit::FAILURE);
  assert!(
    outcomes(&test).iter().all(|(_, o)| o == "unknown"),
    "{:?}\n{}",
    outcomes(&test),
    run.stdout
  );
  assert!(run.stdout.contains("MEGACITY_PROMETHEUS"), "{}", run.stdout);
}

#[test]
fn a_prometheus_check_runs_on_the_operators_machine_only() {
  let text = RUNBOOK.replacen("targets: [local]", "targets: [redis-master-01]", 1);
  let run = Test::new()
    .write("runbooks/prom.yaml", &text)
    .args(["runbook", "validate", "runbooks/prom.yaml"])
    .run();
  assert_eq!(run.code, exit::USAGE, "{}", run.stdout);
  assert!(
    run.stderr.contains("runs on the operator's machine")
      || run.stdout.contains("runs on the operator's machine"),
    "{}\n{}",
    run.stdout,
    run.stderr
  );
}
