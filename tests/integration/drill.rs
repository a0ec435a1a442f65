//! Fire drills: the shipped runbooks, unchanged, against real broken services on test hosts that
//! the fleet helper (tests/fleet/fleet.sh) creates as network namespaces. Root only (CI is root).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard};

use crate::test::{Run, Test};

/// One fleet at a time: they share the machine's network configuration.
static FLEETS: Mutex<()> = Mutex::new(());

fn script() -> PathBuf {
  Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fleet/fleet.sh")
}

pub struct Drill {
  pub dir: tempfile::TempDir,
  pub test: Test,
  _one_at_a_time: MutexGuard<'static, ()>,
}

fn require(program: &str, install: &str) {
  let ok = Command::new("sh")
    .arg("-c")
    .arg(format!("command -v {program}"))
    .output()
    .is_ok_and(|o| o.status.success());
  assert!(
    ok,
    "`{program}` is missing; the fire-drill tests need it: {install}"
  );
}

impl Drill {
  pub fn up(hosts: &[&str]) -> Drill {
    let guard = FLEETS.lock().unwrap_or_else(|e| e.into_inner());
    let uid = Command::new("id").arg("-u").output().unwrap();
    assert_eq!(
      String::from_utf8_lossy(&uid.stdout).trim(),
      "0",
      "the fire-drill tests create network namespaces and must run as root (CI does)"
    );
    for (program, package) in [
      ("redis-server", "redis-server"),
      ("nginx", "nginx-light"),
      ("curl", "curl"),
      ("openssl", "openssl"),
      ("python3", "python3"),
    ] {
      require(program, &format!("apt-get install -y {package}"));
    }
    let dir = tempfile::Builder::new()
      .prefix("mcd")
      .tempdir_in("/tmp")
      .unwrap();
    // A subnet number of its own: unlike a fleet of another process, or the one this process
    // just took down (the kernel removes interfaces lazily).
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let k = 20 + (std::process::id() * 7 + n) % 230;
    let mut args = vec![
      "up".to_string(),
      dir.path().display().to_string(),
      k.to_string(),
    ];
    args.extend(hosts.iter().map(|h| h.to_string()));
    let drill = Drill {
      dir,
      test: Test::new(),
      _one_at_a_time: guard,
    };
    let out = Command::new(script()).args(&args).output().unwrap();
    assert!(
      out.status.success(),
      "fleet up failed: {}",
      String::from_utf8_lossy(&out.stderr)
    );
    drill
  }

  pub fn host_dir(&self, host: &str) -> PathBuf {
    self.dir.path().join(host)
  }

  pub fn ip(&self, host: &str) -> String {
    let out = Command::new(script())
      .args(["ip", self.dir.path().to_str().unwrap(), host])
      .output()
      .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
  }

  /// Defines a service unit for the systemctl stand-in; `ready` is a probe for "started".
  pub fn unit(&self, host: &str, unit: &str, command: &str, ready: &str) {
    let units = self.host_dir(host).join("units");
    std::fs::write(units.join(unit), format!("exec {command}\n")).unwrap();
    std::fs::write(units.join(format!("{unit}.ready")), format!("{ready}\n")).unwrap();
  }

  /// Runs a command on a test host as its sessions see it (network, hostname, mounts).
  pub fn exec(&self, host: &str, command: &str) -> std::process::Output {
    let dir = self.dir.path().to_str().unwrap();
    let path = format!("{dir}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    let command = format!("export FLEET_DIR={dir} FLEET_HOST={host} PATH={path}; {command}");
    Command::new(script())
      .args(["nsexec", dir, host, "sh", "-c", &command])
      .output()
      .unwrap()
  }

  /// A small file system of `mb` MiB mounted at `path` on `host` alone.
  pub fn small_fs(&self, host: &str, mb: u32, path: &str) {
    let dir = self.dir.path().to_str().unwrap();
    let out = Command::new(script())
      .args(["fs", dir, host, &mb.to_string(), path])
      .output()
      .unwrap();
    assert!(
      out.status.success(),
      "{}",
      String::from_utf8_lossy(&out.stderr)
    );
  }

  pub fn systemctl(&self, host: &str, action: &str, unit: &str) {
    let out = self.exec(host, &format!("systemctl {action} {unit}"));
    assert!(
      out.status.success(),
      "systemctl {action} {unit} on {host}: {}",
      String::from_utf8_lossy(&out.stderr)
    );
  }

  pub fn link(&self, host: &str, state: &str) {
    let out = Command::new(script())
      .args(["link", self.dir.path().to_str().unwrap(), host, state])
      .output()
      .unwrap();
    assert!(out.status.success());
  }

  /// `megacity runbook run ID --ssh-config <fleet> ARGS…`, non-interactive.
  pub fn run(&self, id: &str, args: &[&str]) -> Run {
    let config = self.dir.path().join("ssh_config");
    let mut all = vec![
      "--color",
      "never",
      "runbook",
      "run",
      id,
      "--ssh-config",
      config.to_str().unwrap(),
    ];
    all.extend_from_slice(args);
    self.test.run_with(&all)
  }

  /// The newest journal's records.
  pub fn journal(&self) -> Vec<serde_json::Value> {
    self.test.newest_journal()
  }

  // --- services -------------------------------------------------------------------------------

  pub fn redis(&self, host: &str, replica_of: Option<&str>) {
    let ip = self.ip(host);
    let data = self.host_dir(host).join("redis");
    std::fs::create_dir_all(&data).unwrap();
    let replica = replica_of
      .map(|m| format!(" --replicaof {} 6379", self.ip(m)))
      .unwrap_or_default();
    self.unit(
      host,
      "redis-server",
      &format!("redis-server --bind 127.0.0.1 {ip} --port 6379 --daemonize no --save '' --appendonly no --protected-mode no --dir {}{replica}", data.display()),
      "redis-cli -h 127.0.0.1 ping | grep -q PONG",
    );
    self.systemctl(host, "start", "redis-server");
  }

  pub fn backend(&self, host: &str) {
    let www = self.host_dir(host).join("www");
    std::fs::create_dir_all(&www).unwrap();
    std::fs::write(www.join("health"), "ok\n").unwrap();
    self.unit(
      host,
      "backend-api",
      &format!(
        "python3 -m http.server 8000 --bind 0.0.0.0 --directory {}",
        www.display()
      ),
      "curl -fsS -o /dev/null http://127.0.0.1:8000/health",
    );
    self.systemctl(host, "start", "backend-api");
  }

  /// Nginx proxying to the backend, and a self-signed certificate valid for a year.
  pub fn nginx(&self, host: &str, backend: &str) -> PathBuf {
    let h = self.host_dir(host);
    let conf = format!(
      "pid {h}/run/nginx-master.pid;\nerror_log {h}/nginx-error.log;\nworker_processes 1;\nevents {{ worker_connections 2048; }}\nhttp {{\n  access_log off;\n  server {{\n    listen 80;\n    location / {{ proxy_pass http://{}:8000; }}\n  }}\n}}\n",
      self.ip(backend),
      h = h.display()
    );
    std::fs::write(h.join("nginx.conf"), conf).unwrap();
    self.unit(
      host,
      "nginx",
      &format!(
        "/usr/sbin/nginx -c {}/nginx.conf -g 'daemon off;'",
        h.display()
      ),
      "curl -fsS -o /dev/null http://127.0.0.1/health",
    );
    self.systemctl(host, "start", "nginx");
    let cert = h.join("cert.pem");
    let out = Command::new("openssl")
      .args([
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-days",
        "365",
        "-subj",
        "/CN=edge-proxy-01",
      ])
      .arg("-keyout")
      .arg(h.join("key.pem"))
      .arg("-out")
      .arg(&cert)
      .output()
      .unwrap();
    assert!(
      out.status.success(),
      "{}",
      String::from_utf8_lossy(&out.stderr)
    );
    cert
  }
}

impl Drop for Drill {
  fn drop(&mut self) {
    let _ = Command::new(script())
      .args(["down", self.dir.path().to_str().unwrap()])
      .output();
  }
}

fn redis_answers(drill: &Drill) -> bool {
  let out = drill.exec("redis-master-01", "redis-cli -h 127.0.0.1 ping");
  String::from_utf8_lossy(&out.stdout).trim() == "PONG"
}

fn outcome<'a>(journal: &'a [serde_json::Value], step: &str) -> Vec<&'a str> {
  journal
    .iter()
    .filter(|r| r["type"] == "host-result" && r["step"] == step)
    .map(|r| r["outcome"].as_str().unwrap())
    .collect()
}

#[test]
fn redis_outage_heals_a_stopped_redis() {
  let drill = Drill::up(&["redis-master-01", "redis-replica-01"]);
  drill.redis("redis-master-01", None);
  drill.redis("redis-replica-01", Some("redis-master-01"));
  drill.systemctl("redis-master-01", "stop", "redis-server");
  assert!(!redis_answers(&drill), "the break did not take");

  // Rehearsal and triage change nothing.
  let dry = drill.run("redis-outage", &["--dry-run", "--yes"]);
  assert_eq!(dry.code, 0, "{}", dry.stderr);
  assert!(!redis_answers(&drill), "a dry run healed the service");
  let triage = drill.run("redis-outage", &["--checks-only"]);
  assert_eq!(triage.code, 1, "{}", triage.stdout);
  assert!(
    triage.stdout.contains("[redis-master-01] ✘ failed"),
    "{}",
    triage.stdout
  );
  assert!(
    !redis_answers(&drill),
    "a checks-only run healed the service"
  );

  let run = drill.run("redis-outage", &["--yes"]);
  assert!(
    redis_answers(&drill),
    "redis is still down after the runbook:\n{}\n{}",
    run.stdout,
    run.stderr
  );
  let journal = drill.journal();
  assert_eq!(outcome(&journal, "redis-ping"), vec!["failed"]);
  assert!(
    journal
      .iter()
      .any(|r| r["type"] == "decision" && r["step"] == "restart-redis" && r["answer"] == "yes")
  );
  assert_eq!(outcome(&journal, "restart-redis"), vec!["passed"]);
  assert_eq!(outcome(&journal, "verify-ping"), vec!["passed"]);
}

#[test]
fn proxy_outage_heals_a_stopped_nginx() {
  let drill = Drill::up(&["edge-proxy-01", "backend-api-01"]);
  drill.backend("backend-api-01");
  let cert = drill.nginx("edge-proxy-01", "backend-api-01");
  drill.systemctl("edge-proxy-01", "stop", "nginx");
  let health = || {
    let out = drill.exec(
      "edge-proxy-01",
      "curl -s -o /dev/null -w '%{http_code}' --max-time 3 http://127.0.0.1/health",
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
  };
  assert_ne!(health(), "200");
  // The operator-side check goes to the test host, never to the public URL.
  let public = format!(
    "public_health_url=http://{}/health",
    drill.ip("edge-proxy-01")
  );
  let cert = format!("cert_path={}", cert.display());
  let run = drill.run("proxy-outage", &["--yes", "--var", &public, "--var", &cert]);
  assert_eq!(
    health(),
    "200",
    "nginx is still down:\n{}\n{}",
    run.stdout,
    run.stderr
  );
  let journal = drill.journal();
  assert_eq!(outcome(&journal, "proxy-health"), vec!["failed"]);
  assert_eq!(outcome(&journal, "restart-nginx"), vec!["passed"]);
  assert_eq!(outcome(&journal, "verify-proxy-health"), vec!["passed"]);
  assert_eq!(outcome(&journal, "verify-public"), vec!["passed"]);
}

#[test]
fn a_host_cut_off_fails_alone_within_the_connect_timeout() {
  let drill = Drill::up(&["redis-master-01", "redis-replica-01"]);
  drill.redis("redis-master-01", None);
  drill.redis("redis-replica-01", Some("redis-master-01"));
  drill.link("redis-replica-01", "down");
  let started = std::time::Instant::now();
  let run = drill.run(
    "redis-outage",
    &["--checks-only", "--connect-timeout", "3s"],
  );
  assert!(
    started.elapsed() < std::time::Duration::from_secs(40),
    "took {:?}",
    started.elapsed()
  );
  let line = run
    .stdout
    .lines()
    .find(|l| l.starts_with("[redis-replica-01] ✘"))
    .unwrap_or_else(|| panic!("{}", run.stdout));
  assert!(
    line.contains("cannot connect") || line.contains("no answer") || line.contains("timed out"),
    "{line}"
  );
  assert!(
    run.stdout.contains("[redis-master-01] ✔ passed"),
    "{}",
    run.stdout
  );
  let journal = drill.journal();
  assert_eq!(outcome(&journal, "redis-ping"), vec!["passed"]);
  assert_eq!(run.code, 1);
}

#[test]
fn disk_full_frees_space_interactively_through_a_pty() {
  use rexpect::reader::ReadUntil;
  let drill = Drill::up(&["edge-proxy-01"]);
  drill.small_fs("edge-proxy-01", 24, "/var/log");
  let fill = drill.exec("edge-proxy-01", "mkdir -p /var/log/nginx && dd if=/dev/zero of=/var/log/nginx/access.log bs=1M count=20 status=none; df -P /var/log | awk 'NR==2 {print $5}'");
  let used = |out: &std::process::Output| {
    String::from_utf8_lossy(&out.stdout)
      .trim()
      .trim_end_matches('%')
      .parse::<u32>()
      .unwrap_or(0)
  };
  assert!(used(&fill) > 80, "the file system did not fill: {:?}", fill);

  let config = drill.dir.path().join("ssh_config");
  let mut command = drill.test.command();
  command.args([
    "--color",
    "never",
    "runbook",
    "run",
    "disk-full",
    "--host",
    "edge-proxy-01",
    "--ssh-config",
    config.to_str().unwrap(),
  ]);
  let mut s = rexpect::session::spawn_command(command, Some(120_000)).unwrap();
  let mut answered = Vec::new();
  loop {
    let (before, found) = s
      .exp_any(vec![
        ReadUntil::String("(or skip / abort)".into()),
        ReadUntil::String("Run it? [yes/skip/abort]".into()),
        ReadUntil::String("Done? [done/skip/abort]".into()),
        ReadUntil::String("What now? [retry/skip/abort/output]".into()),
        ReadUntil::EOF,
      ])
      .unwrap();
    // An answered prompt is drawn again with its answer; only a fresh header means a new one.
    let header = ["DESTRUCTIVE", "Manual step", " failed on ", "  $ ", "  # "];
    let eof = !["(or skip / abort)", "Run it?", "Done?", "What now?"]
      .iter()
      .any(|p| found.contains(p));
    if !eof && !header.iter().any(|h| before.contains(h)) {
      continue;
    }
    let step = before
      .lines()
      .find(|l| l.contains("DESTRUCTIVE") || l.starts_with("Manual step"))
      .unwrap_or("")
      .to_string();
    let answer = if found.contains("(or skip / abort)") {
      // Only the truncate of the big log is confirmed; every other destructive action is skipped.
      if step.contains("truncate-log") {
        "edge-proxy-01"
      } else {
        "skip"
      }
    } else if found.contains("Run it?") || found.contains("What now?") {
      "skip"
    } else if found.contains("Done?") {
      "done"
    } else {
      break;
    };
    answered.push(format!("{step} -> {answer}"));
    s.send_line(answer).unwrap();
  }
  let after = drill.exec("edge-proxy-01", "df -P /var/log | awk 'NR==2 {print $5}'");
  assert!(
    used(&after) < 80,
    "space was not freed ({}%); answered: {answered:#?}",
    used(&after)
  );
  let journal = drill.journal();
  assert_eq!(outcome(&journal, "disk-usage"), vec!["failed"]);
  assert!(
    journal
      .iter()
      .any(|r| r["type"] == "decision" && r["step"] == "truncate-log" && r["answer"] == "yes")
  );
  assert!(
    journal
      .iter()
      .any(|r| r["type"] == "decision" && r["step"] == "tmp-cleanup" && r["answer"] == "skip")
  );
  assert_eq!(outcome(&journal, "truncate-log"), vec!["passed"]);
  assert_eq!(outcome(&journal, "verify-disk"), vec!["passed"]);
}
