//! Fire drills: the shipped runbooks, unchanged, against real broken services on test hosts that
//! the fleet helper (tests/fleet/fleet.sh) creates as network namespaces. Root only (CI is root).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard};

use crate::test::{Run, Test};

/// One fleet at a time: they share the machine's network configuration.
static FLEETS: Mutex<()> = Mutex::new(());

const PG_BIN: &str = "/usr/lib/postgresql/15/bin";
/// Runs the rest of a command line as the `postgres` account (PostgreSQL refuses root), in place:
/// the unit's process stays the service's own, which the systemctl stand-in signals.
const AS_POSTGRES: &str = "setpriv --reuid=postgres --regid=postgres --init-groups";

/// A shell command on the machine (outside the fleet), which must succeed.
pub(crate) fn sh(command: &str) {
  let out = Command::new("sh").arg("-c").arg(command).output().unwrap();
  assert!(
    out.status.success(),
    "`{command}` failed: {}{}",
    String::from_utf8_lossy(&out.stdout),
    String::from_utf8_lossy(&out.stderr)
  );
}

fn script() -> PathBuf {
  Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fleet/fleet.sh")
}

pub(crate) struct Drill {
  pub(crate) dir: tempfile::TempDir,
  pub(crate) test: Test,
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
  pub(crate) fn up(hosts: &[&str]) -> Drill {
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
    let k = |n: u32| 20 + (std::process::id() * 7 + n) % 230;
    // Steps on the operator's machine trust the fleet's certificate authority, as its hosts do.
    let ca = dir.path().join("ca.pem");
    let drill = Drill {
      dir,
      test: Test::new().env("CURL_CA_BUNDLE", ca.to_str().unwrap()),
      _one_at_a_time: guard,
    };
    // A subnet still taken (another process's fleet, or one the kernel has not finished
    // removing) is given back and the next one tried.
    let path = drill.dir.path().display().to_string();
    let mut tries = 0;
    loop {
      let mut args = vec![
        "up".to_string(),
        path.clone(),
        k(n + tries * 37).to_string(),
      ];
      args.extend(hosts.iter().map(|h| h.to_string()));
      let out = Command::new(script()).args(&args).output().unwrap();
      if out.status.success() {
        break;
      }
      let err = String::from_utf8_lossy(&out.stderr).into_owned();
      assert!(
        err.contains("File exists") && tries < 4,
        "fleet up failed: {err}"
      );
      let _ = Command::new(script()).args(["down", &path]).output();
      for entry in std::fs::read_dir(drill.dir.path()).unwrap().flatten() {
        let _ = std::fs::remove_dir_all(entry.path());
        let _ = std::fs::remove_file(entry.path());
      }
      tries += 1;
    }
    drill
  }

  pub(crate) fn host_dir(&self, host: &str) -> PathBuf {
    self.dir.path().join(host)
  }

  pub(crate) fn ip(&self, host: &str) -> String {
    let out = Command::new(script())
      .args(["ip", self.dir.path().to_str().unwrap(), host])
      .output()
      .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
  }

  /// Defines a service unit for the systemctl stand-in; `ready` is a probe for "started".
  pub(crate) fn unit(&self, host: &str, unit: &str, command: &str, ready: &str) {
    let units = self.host_dir(host).join("units");
    std::fs::write(units.join(unit), format!("exec {command}\n")).unwrap();
    std::fs::write(units.join(format!("{unit}.ready")), format!("{ready}\n")).unwrap();
  }

  /// Runs a command on a test host as its sessions see it (network, hostname, mounts).
  pub(crate) fn exec(&self, host: &str, command: &str) -> std::process::Output {
    let dir = self.dir.path().to_str().unwrap();
    let path = format!("{dir}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    let command = format!(
      "export FLEET_DIR={dir} FLEET_HOST={host} PATH={path} CURL_CA_BUNDLE={dir}/ca.pem; {command}"
    );
    Command::new(script())
      .args(["nsexec", dir, host, "sh", "-c", &command])
      .output()
      .unwrap()
  }

  /// A small file system of `mb` MiB mounted at `path` on `host` alone.
  pub(crate) fn small_fs(&self, host: &str, mb: u32, path: &str) {
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

  pub(crate) fn systemctl(&self, host: &str, action: &str, unit: &str) {
    let out = self.exec(host, &format!("systemctl {action} {unit}"));
    assert!(
      out.status.success(),
      "systemctl {action} {unit} on {host}: {}",
      String::from_utf8_lossy(&out.stderr)
    );
  }

  pub(crate) fn link(&self, host: &str, state: &str) {
    let out = Command::new(script())
      .args(["link", self.dir.path().to_str().unwrap(), host, state])
      .output()
      .unwrap();
    assert!(out.status.success());
  }

  /// `megacity runbook run ID --ssh-config <fleet> ARGS…`, non-interactive.
  pub(crate) fn run(&self, id: &str, args: &[&str]) -> Run {
    let out = self.megacity(id, args).output().expect("megacity runs");
    Run {
      code: out.status.code().unwrap_or(-1),
      stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
      stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
  }

  /// `megacity runbook run ID --ssh-config <fleet> ARGS…` on a machine that resolves the fleet's
  /// names, as a real operator's resolves production's: megacity runs with the fleet's hosts
  /// file over /etc/hosts (in a mount namespace of its own).
  fn megacity(&self, id: &str, args: &[&str]) -> Command {
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
    let hosts = self.dir.path().join("etc-hosts");
    let script = format!("mount --bind {} /etc/hosts && exec \"$@\"", hosts.display());
    self.under_fleet(&script, &all)
  }

  /// megacity with `args` exactly as an operator types them, on a machine whose own hosts file
  /// and `~/.ssh/config` (the account's home, which is where ssh reads it) reach the fleet.
  pub(crate) fn operator(&self, args: &[&str]) -> Command {
    let home = self.dir.path().join("operator-home");
    let ssh = home.join(".ssh");
    if !ssh.exists() {
      use std::os::unix::fs::PermissionsExt;
      std::fs::create_dir_all(&ssh).unwrap();
      std::fs::copy(self.dir.path().join("ssh_config"), ssh.join("config")).unwrap();
      std::fs::set_permissions(&ssh, std::fs::Permissions::from_mode(0o700)).unwrap();
      std::fs::set_permissions(ssh.join("config"), std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let script = format!(
      "mount --bind {} /etc/hosts && mount --bind {} \"$(getent passwd $(id -u) | cut -d: -f6)\" && exec \"$@\"",
      self.dir.path().join("etc-hosts").display(),
      home.display()
    );
    let mut all = vec!["--color", "never"];
    all.extend_from_slice(args);
    self.under_fleet(&script, &all)
  }

  /// megacity with `args`, after `script` (in a mount namespace of its own) set up the machine.
  fn under_fleet(&self, script: &str, args: &[&str]) -> Command {
    self.test.command_under(
      &[
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        script,
        "sh",
      ],
      args,
    )
  }

  /// Runs `id` in a pty and answers every prompt as a cautious operator would: the destructive
  /// prompt of a step named in `confirm` gets its answer (the host name), every other action is
  /// skipped, manual steps get `manual`. Returns what was answered, for failure messages.
  pub(crate) fn walk_prompts(
    &self,
    id: &str,
    args: &[&str],
    confirm: &[(&str, &str)],
    manual: &str,
  ) -> Vec<String> {
    let (answered, _) = self.walk(id, args, |prompt, step| match prompt {
      Prompt::Destructive => confirm
        .iter()
        .find(|(id, _)| step == *id)
        .map_or("skip".into(), |(_, answer)| answer.to_string()),
      Prompt::Manual => manual.into(),
      Prompt::Run | Prompt::Failed => "skip".into(),
    });
    answered
  }

  /// [`walk_command`] for `megacity runbook run ID --ssh-config <fleet> ARGS…`.
  pub(crate) fn walk(
    &self,
    id: &str,
    args: &[&str],
    answer: impl FnMut(Prompt, &str) -> String,
  ) -> (Vec<String>, String) {
    walk_command(self.megacity(id, args), answer)
  }

  /// The newest journal's records.
  pub(crate) fn journal(&self) -> Vec<serde_json::Value> {
    self.test.newest_journal()
  }

  // --- services -------------------------------------------------------------------------------

  pub(crate) fn redis(&self, host: &str, replica_of: Option<&str>) {
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

  pub(crate) fn backend(&self, host: &str) {
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

  /// PostgreSQL 15 on `host`, run as `postgres`: a fresh cluster (trust authentication) with the
  /// application database `dreamseed`, listening on the host's address and on a socket in a
  /// private directory that is bind-mounted over /var/run/postgresql in the host's mount
  /// namespace only, so the runbooks' plain `psql -U postgres` finds it (the machine's own
  /// /var/run/postgresql is never touched). Returns the socket directory.
  pub(crate) fn postgres(&self, host: &str) -> PathBuf {
    for program in ["initdb", "postgres"] {
      let path = format!("{PG_BIN}/{program}");
      assert!(
        Path::new(&path).exists(),
        "`{path}` is missing; the fire-drill tests need PostgreSQL 15: apt-get install -y postgresql"
      );
    }
    require("psql", "apt-get install -y postgresql-client");
    require("setpriv", "apt-get install -y util-linux");
    assert!(
      Path::new("/var/run/postgresql").is_dir(),
      "/var/run/postgresql is missing (the fleet mounts a private directory over it): apt-get install -y postgresql"
    );
    let h = self.host_dir(host);
    // The postgres account must reach its files under the (root-only) fleet directory.
    for dir in [self.dir.path(), &h] {
      use std::os::unix::fs::PermissionsExt;
      std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let data = h.join("pgdata");
    let sock = h.join("pgsock");
    std::fs::create_dir_all(&sock).unwrap();
    std::fs::create_dir_all(&data).unwrap();
    sh(&format!(
      "chown postgres:postgres {sock} {data} && chmod 2775 {sock} && chmod 700 {data} && {AS_POSTGRES} {PG_BIN}/initdb -D {data} --auth=trust -U postgres -E UTF8 --locale=C --no-sync >{h}/initdb.log 2>&1 || {{ cat {h}/initdb.log; exit 1; }}",
      sock = sock.display(),
      data = data.display(),
      h = h.display()
    ));
    let out = self.exec(
      host,
      &format!("mount --bind {} /var/run/postgresql", sock.display()),
    );
    assert!(
      out.status.success(),
      "bind mount on {host}: {}",
      String::from_utf8_lossy(&out.stderr)
    );
    let ip = self.ip(host);
    self.unit(
      host,
      "postgresql",
      &format!(
        "{AS_POSTGRES} {PG_BIN}/postgres -D {} -c listen_addresses={ip} -c unix_socket_directories={} -c shared_buffers=16MB -c fsync=off -c client_connection_check_interval=1s",
        data.display(),
        sock.display()
      ),
      &format!("{PG_BIN}/pg_isready -q -h {}", sock.display()),
    );
    // Fast shutdown: a smart one (TERM) waits for every client to leave.
    std::fs::write(h.join("units/postgresql.signal"), "INT\n").unwrap();
    self.systemctl(host, "start", "postgresql");
    let out = self.exec(
      host,
      &format!(
        "psql -h {} -U postgres -d postgres -qAt -c 'CREATE DATABASE dreamseed'",
        sock.display()
      ),
    );
    assert!(
      out.status.success(),
      "createdb: {}",
      String::from_utf8_lossy(&out.stderr)
    );
    sock
  }

  /// PgBouncer in front of `host`'s PostgreSQL (see [`Drill::postgres`]) on port 6432, session
  /// pooling with `pool_size` server connections per pool, trust authentication, `postgres` an
  /// admin (the `pgbouncer` console); its socket next to PostgreSQL's.
  pub(crate) fn pgbouncer(&self, host: &str, pool_size: u32) {
    require("pgbouncer", "apt-get install -y pgbouncer");
    let h = self.host_dir(host);
    let sock = h.join("pgsock");
    let ip = self.ip(host);
    std::fs::write(h.join("userlist.txt"), "\"postgres\" \"\"\n").unwrap();
    let ini = format!(
      "[databases]\ndreamseed = host={sock} port=5432 dbname=dreamseed\n\n[pgbouncer]\nlisten_addr = 127.0.0.1,{ip}\nlisten_port = 6432\nunix_socket_dir = {sock}\nauth_type = trust\nauth_file = {h}/userlist.txt\nadmin_users = postgres\npool_mode = session\ndefault_pool_size = {pool_size}\nmin_pool_size = 0\nreserve_pool_size = 0\nmax_client_conn = 100\n",
      sock = sock.display(),
      h = h.display()
    );
    std::fs::write(h.join("pgbouncer.ini"), ini).unwrap();
    self.unit(
      host,
      "pgbouncer",
      &format!("{AS_POSTGRES} pgbouncer {}/pgbouncer.ini", h.display()),
      &format!(
        "psql -h {} -p 6432 -U postgres -d pgbouncer -qAt -c 'SHOW VERSION'",
        sock.display()
      ),
    );
    self.systemctl(host, "start", "pgbouncer");
  }

  /// Nginx proxying to the backend, and a self-signed certificate valid for a year.
  pub(crate) fn nginx(&self, host: &str, backend: &str) -> PathBuf {
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
      // Started when it answers at all: a proxy whose backends are down (502) is still up.
      "curl -sS -o /dev/null http://127.0.0.1/health",
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

/// Runs `command` in a pty and answers each prompt with what `answer` says, given the kind of
/// prompt and the step it is for. Returns what was answered, and everything megacity wrote to
/// its terminal.
pub(crate) fn walk_command(
  command: Command,
  mut answer: impl FnMut(Prompt, &str) -> String,
) -> (Vec<String>, String) {
  use rexpect::reader::ReadUntil;
  // Longer than any one step may take between two prompts.
  let mut s = rexpect::session::spawn_command(command, Some(300_000)).unwrap();
  let mut answered = Vec::new();
  let mut screen = String::new();
  let mut transcript = String::new();
  loop {
    let (before, found) = s
      .exp_any(vec![
        ReadUntil::String("(or skip / abort)".into()),
        ReadUntil::String("Run it? [yes/skip/abort/all]".into()),
        ReadUntil::String("Done? [done/skip/abort]".into()),
        ReadUntil::String("What now? [retry/skip/abort/output]".into()),
        ReadUntil::EOF,
      ])
      .unwrap_or_else(|e| {
        panic!("{e}\nanswered so far: {answered:#?}\nscreen since the last answer:\n{screen}")
      });
    screen.push_str(&before);
    transcript.push_str(&before);
    transcript.push_str(&found);
    let prompt = if found.contains("(or skip / abort)") {
      Prompt::Destructive
    } else if found.contains("Run it?") {
      Prompt::Run
    } else if found.contains("Done?") {
      Prompt::Manual
    } else if found.contains("What now?") {
      Prompt::Failed
    } else {
      break;
    };
    // An answered prompt is drawn again with its answer; only a fresh header means a new one.
    let fresh = ["DESTRUCTIVE", "Manual step", " failed on ", "  $ ", "  # "];
    if !fresh.iter().any(|h| before.contains(h)) {
      continue;
    }
    let step = prompt_step(&screen).to_string();
    let reply = answer(prompt, &step);
    answered.push(format!("{prompt:?} {step} -> {reply}"));
    crate::test::answer(&mut s, &reply);
    screen.clear();
  }
  (answered, transcript)
}

/// The kind of prompt a run stopped at.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Prompt {
  /// A destructive action: type the host name (or skip / abort).
  Destructive,
  /// An action: yes / skip / abort / all.
  Run,
  /// A manual step: done / skip / abort.
  Manual,
  /// A failed step: retry / skip / abort / output.
  Failed,
}

/// The step a prompt is for: the id that starts the line above an action's command
/// (`ID [DESTRUCTIVE] title on host`, then `  $ command`), or a manual step's header.
fn prompt_step(screen: &str) -> &str {
  let lines: Vec<&str> = screen.lines().collect();
  for (i, line) in lines.iter().enumerate().rev() {
    if let Some(rest) = line.strip_prefix("Manual step `") {
      return rest.split('`').next().unwrap_or("");
    }
    if (line.starts_with("  $ ") || line.starts_with("  # ")) && i > 0 {
      return lines[i - 1].split_whitespace().next().unwrap_or("");
    }
  }
  ""
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

/// Whether the journal records `answer` to `step`'s question.
pub(crate) fn decided(journal: &[serde_json::Value], step: &str, answer: &str) -> bool {
  journal
    .iter()
    .any(|r| r["type"] == "decision" && r["step"] == step && r["answer"] == answer)
}

/// Where `step` ran and how it ended, per host.
pub(crate) fn on_hosts<'a>(
  journal: &'a [serde_json::Value],
  step: &str,
) -> Vec<(&'a str, &'a str)> {
  journal
    .iter()
    .filter(|r| r["type"] == "host-result" && r["step"] == step)
    .map(|r| (r["host"].as_str().unwrap(), r["outcome"].as_str().unwrap()))
    .collect()
}

/// Each host's outcome of `step`, in the order the journal has them.
pub(crate) fn outcome<'a>(journal: &'a [serde_json::Value], step: &str) -> Vec<&'a str> {
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
  assert_eq!(dry.code, crate::test::exit::SUCCESS, "{}", dry.stderr);
  assert!(!redis_answers(&drill), "a dry run healed the service");
  let triage = drill.run("redis-outage", &["--checks-only"]);
  assert_eq!(triage.code, crate::test::exit::FAILURE, "{}", triage.stdout);
  assert!(
    triage.stdout.contains("[redis-master-01] ✘ failed"),
    "{}",
    triage.stdout
  );
  assert!(
    !redis_answers(&drill),
    "a checks-only run healed the service"
  );
  // A Redis that is down says nothing about its memory, and triage recommends nothing that
  // follows from a restart it did not make (no fencing, no failover, no restore).
  let journal = drill.journal();
  assert_eq!(outcome(&journal, "redis-memory"), vec!["unknown"]);
  let recommended: Vec<&str> = journal
    .iter()
    .filter(|r| r["type"] == "would-run")
    .map(|r| r["step"].as_str().unwrap())
    .collect();
  for never in [
    "fence-redis-master",
    "sentinel-failover",
    "restore-rdb",
    "raise-maxmemory",
    "set-eviction-policy",
  ] {
    assert!(
      !recommended.contains(&never),
      "triage of a stopped Redis recommended {never}: {recommended:?}"
    );
  }
  assert_eq!(
    outcome(&journal, "ping-after-restart"),
    vec!["not-applicable"]
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
  // The memory branch never fires on a Redis that was down: nothing touched its limits.
  for memory in ["raise-maxmemory", "set-eviction-policy"] {
    assert!(
      outcome(&journal, memory).iter().all(|o| *o == "skipped"),
      "{memory}: {:?}",
      outcome(&journal, memory)
    );
  }
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
  assert_eq!(run.code, crate::test::exit::FAILURE);
}

#[test]
fn disk_full_frees_space_interactively_through_a_pty() {
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

  let answered = drill.walk_prompts(
    "disk-full",
    &["--host", "edge-proxy-01"],
    // Only the truncate of the big log is confirmed; every other action is skipped.
    &[("truncate-log", "edge-proxy-01")],
    "done",
  );
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

/// `SELECT 1` through PgBouncer on db-primary-01, as a client on that host sees it (gives up
/// after `seconds`, so a waiting client fails rather than hangs).
fn select_one(drill: &Drill, seconds: u32) -> Result<(), String> {
  let out = drill.exec(
    "db-primary-01",
    &format!("timeout {seconds} psql -p 6432 -U postgres -d dreamseed -qAt -c 'SELECT 1'"),
  );
  let stdout = String::from_utf8_lossy(&out.stdout).trim().to_string();
  if out.status.success() && stdout == "1" {
    Ok(())
  } else {
    Err(format!(
      "{:?}: {stdout} {}",
      out.status,
      String::from_utf8_lossy(&out.stderr)
    ))
  }
}

/// Clients waiting for a server connection in PgBouncer (SHOW POOLS, summed).
fn pgbouncer_waiting(drill: &Drill) -> u32 {
  let out = drill.exec(
    "db-primary-01",
    "psql -p 6432 -U postgres -d pgbouncer -At -F ' ' -c 'SHOW POOLS' | awk '{ w += $4 } END { print w + 0 }'",
  );
  String::from_utf8_lossy(&out.stdout)
    .trim()
    .parse()
    .unwrap_or(0)
}

#[test]
fn db_connection_pool_restarts_an_exhausted_pgbouncer() {
  let drill = Drill::up(&["db-primary-01", "backend-api-01", "backend-api-02"]);
  drill.postgres("db-primary-01");
  drill.pgbouncer("db-primary-01", 2);
  drill.backend("backend-api-01");
  drill.backend("backend-api-02");
  select_one(&drill, 5).expect("PgBouncer answers before the break");

  // The break: sessions that never end hold both server connections; the next clients wait.
  drill.exec(
    "db-primary-01",
    "for i in 1 2 3 4; do setsid psql -p 6432 -U postgres -d dreamseed -c 'SELECT pg_sleep(600)' </dev/null >/dev/null 2>&1 & done",
  );
  let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
  while pgbouncer_waiting(&drill) < 2 {
    assert!(
      std::time::Instant::now() < deadline,
      "the pool did not fill up: {} waiting",
      pgbouncer_waiting(&drill)
    );
    std::thread::sleep(std::time::Duration::from_millis(100));
  }
  assert!(
    select_one(&drill, 2).is_err(),
    "a client got through an exhausted pool"
  );

  let started = std::time::Instant::now();
  let run = drill.run("db-connection-pool", &["--yes"]);
  let took = started.elapsed();
  select_one(&drill, 5).unwrap_or_else(|e| {
    panic!(
      "PgBouncer still refuses clients after the runbook ({e}):\n{}\n{}",
      run.stdout, run.stderr
    )
  });
  let journal = drill.journal();
  assert_eq!(
    outcome(&journal, "pgbouncer-waiting"),
    vec!["failed"],
    "{}",
    run.stdout
  );
  assert!(
    journal
      .iter()
      .any(|r| r["type"] == "decision" && r["step"] == "restart-pgbouncer" && r["answer"] == "yes")
  );
  assert_eq!(outcome(&journal, "restart-pgbouncer"), vec!["passed"]);
  // The heal is the PgBouncer restart: without --yes-destructive no session was terminated.
  assert!(
    journal
      .iter()
      .any(|r| r["type"] == "decision" && r["step"] == "terminate-idle" && r["answer"] == "skip")
  );
  assert!(outcome(&journal, "terminate-idle").is_empty());
  assert_eq!(outcome(&journal, "verify-conn-count"), vec!["passed"]);
  assert_eq!(
    outcome(&journal, "verify-api-latency"),
    vec!["passed", "passed"]
  );
  println!("db-connection-pool run took {took:?}:\n{}", run.stdout);
}

#[test]
fn api_down_restarts_stopped_backends() {
  let hosts = [
    "edge-proxy-01",
    "backend-api-01",
    "backend-api-02",
    "db-primary-01",
    "redis-master-01",
  ];
  let drill = Drill::up(&hosts);
  drill.backend("backend-api-01");
  drill.backend("backend-api-02");
  drill.nginx("edge-proxy-01", "backend-api-01");
  drill.postgres("db-primary-01");
  drill.pgbouncer("db-primary-01", 2);
  drill.redis("redis-master-01", None);
  let proxy = format!("http://{}/health", drill.ip("edge-proxy-01"));
  // A real HTTP check from this machine, through nginx to the backend.
  let health = || {
    let out = Command::new("curl")
      .args([
        "-s",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "--max-time",
        "3",
      ])
      .arg(&proxy)
      .output()
      .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
  };
  assert_eq!(health(), "200", "the API does not answer before the break");

  // The break: the backends are down; nginx answers 502.
  drill.systemctl("backend-api-01", "stop", "backend-api");
  drill.systemctl("backend-api-02", "stop", "backend-api");
  assert_eq!(health(), "502");

  // Only the fleet's hosts (the GPU and monitoring servers are not part of it); the public
  // health check goes to the test proxy, never to the real URLs.
  let urls = format!("health_urls={proxy}");
  let mut args = vec!["--yes", "--var", &urls];
  for host in &hosts {
    args.extend(["--host", host]);
  }
  let started = std::time::Instant::now();
  let run = drill.run("api-down", &args);
  let took = started.elapsed();
  assert_eq!(
    health(),
    "200",
    "the API is still down after the runbook:\n{}\n{}",
    run.stdout,
    run.stderr
  );
  let journal = drill.journal();
  assert_eq!(
    outcome(&journal, "backend-health"),
    vec!["failed", "failed"],
    "{}",
    run.stdout
  );
  for host in ["backend-api-01", "backend-api-02"] {
    assert!(
      journal.iter().any(|r| r["type"] == "decision"
        && r["step"] == "restart-backend"
        && r["host"] == host
        && r["answer"] == "yes"),
      "no confirmed restart on {host}"
    );
  }
  assert_eq!(
    outcome(&journal, "restart-backend"),
    vec!["passed", "passed"]
  );
  assert_eq!(
    outcome(&journal, "verify-backend"),
    vec!["passed", "passed"]
  );
  assert_eq!(outcome(&journal, "verify-nginx"), vec!["passed"]);
  assert_eq!(outcome(&journal, "verify-public"), vec!["passed"]);
  // Nothing outside the fleet was contacted.
  assert!(
    !journal
      .iter()
      .any(|r| r["type"] == "host-result" && r["host"] == "gpu-cluster-01"),
    "{}",
    run.stdout
  );
  println!("api-down run took {took:?}:\n{}", run.stdout);
}

#[test]
fn a_link_cut_under_a_running_check_leaves_that_host_unknown_within_the_connect_timeout() {
  let drill = Drill::up(&["backend-api-01", "backend-api-02"]);
  let inventory = drill.test.path("drill-inventory.yaml");
  std::fs::write(
    &inventory,
    "hosts:\n  - name: backend-api-01\n    groups: [drill]\n  - name: backend-api-02\n    groups: [drill]\n",
  )
  .unwrap();
  let runbooks = drill.test.path("drill-runbooks");
  std::fs::create_dir_all(&runbooks).unwrap();
  std::fs::write(
    runbooks.join("long-check.yaml"),
    "id: long-check\ntitle: A check that outlasts a link\nseverity: P2\nsteps:\n  - id: slow\n    title: Twelve seconds of work, then done\n    targets: [drill]\n    check:\n      command: 'sleep 12; echo done'\n      expect: {stdout_matches: '(?m)^done$'}\n    timeout: 2m\n",
  )
  .unwrap();

  let started = std::time::Instant::now();
  let run = std::thread::scope(|s| {
    s.spawn(|| {
      std::thread::sleep(std::time::Duration::from_secs(2));
      drill.link("backend-api-02", "down");
    });
    drill.run(
      "long-check",
      &[
        "--inventory",
        inventory.to_str().unwrap(),
        "--runbooks",
        runbooks.to_str().unwrap(),
        "--connect-timeout",
        "3s",
        "--checks-only",
      ],
    )
  });
  let took = started.elapsed();
  println!("run took {took:?}:\n{}\n{}", run.stdout, run.stderr);
  assert!(
    took < std::time::Duration::from_secs(20),
    "took {took:?}:\n{}",
    run.stdout
  );
  let journal = drill.journal();
  let result = |host: &str| {
    journal
      .iter()
      .find(|r| r["type"] == "host-result" && r["step"] == "slow" && r["host"] == host)
      .unwrap_or_else(|| panic!("no result for {host}:\n{}", run.stdout))
      .clone()
  };
  let kept = result("backend-api-01");
  assert_eq!(kept["outcome"], "passed", "{kept}");
  let cut = result("backend-api-02");
  // A lost connection says nothing about what the check measures.
  assert_eq!(cut["outcome"], "unknown", "{cut}");
  let error = cut["error"].as_str().unwrap_or_default();
  assert!(error.contains("connection was lost"), "{cut}");
  // Cut at about 2 s, keepalives every second, three missed: well before the command's 12 s.
  let ms = cut["duration_ms"].as_u64().unwrap();
  assert!(ms < 10_000, "the cut host failed only after {ms} ms: {cut}");
  let line = run
    .stdout
    .lines()
    .find(|l| l.starts_with("[backend-api-02] ? unknown"))
    .unwrap_or_else(|| panic!("{}", run.stdout));
  assert!(line.contains("connection was lost"), "{line}");
  assert!(
    run.stdout.contains("[backend-api-01] ✔ passed"),
    "{}",
    run.stdout
  );
  assert_eq!(run.code, crate::test::exit::FAILURE);
}

#[test]
fn a_full_postgres_disk_drops_the_inactive_slot_that_a_check_named() {
  let drill = Drill::up(&["db-primary-01"]);
  drill.postgres("db-primary-01");
  // A standby that is gone left its slot behind: it retains WAL.
  let out = drill.exec(
    "db-primary-01",
    "psql -U postgres -d postgres -qAt -c \"SELECT pg_create_physical_replication_slot('gone_standby', true)\" -c \"SELECT pg_create_physical_replication_slot('newer_slot', true)\"",
  );
  assert!(
    out.status.success(),
    "{}",
    String::from_utf8_lossy(&out.stderr)
  );
  // The data file system is full (a small one stands in for it).
  drill.small_fs("db-primary-01", 8, "/srv/pgfs");
  let fill = drill.exec(
    "db-primary-01",
    "dd if=/dev/zero of=/srv/pgfs/fill bs=1M count=8 status=none; df -P /srv/pgfs | awk 'NR==2 {print $5}'",
  );
  assert!(
    String::from_utf8_lossy(&fill.stdout)
      .trim()
      .trim_end_matches('%')
      .parse::<u32>()
      .unwrap_or(0)
      >= 90,
    "the file system did not fill: {fill:?}"
  );
  // Slots retain WAL from their restart LSN: write some so the gone standby's retains the most.
  let out = drill.exec(
    "db-primary-01",
    "psql -U postgres -d dreamseed -qAt -c 'CREATE TABLE t AS SELECT generate_series(1, 20000) AS n' -c \"SELECT pg_drop_replication_slot('newer_slot')\" -c \"SELECT pg_create_physical_replication_slot('newer_slot', true)\" -c 'SELECT pg_switch_wal()'",
  );
  assert!(
    out.status.success(),
    "{}",
    String::from_utf8_lossy(&out.stderr)
  );
  let answered = drill.walk_prompts(
    "db-primary-failure",
    &[
      "--host",
      "db-primary-01",
      "--var",
      "pg_data_mount=/srv/pgfs",
    ],
    &[("drop-inactive-slot", "db-primary-01")],
    "skip",
  );
  let slots = drill.exec(
    "db-primary-01",
    "psql -U postgres -d postgres -qAt -c 'SELECT slot_name FROM pg_replication_slots ORDER BY 1'",
  );
  assert_eq!(
    String::from_utf8_lossy(&slots.stdout).trim(),
    "newer_slot",
    "answered: {answered:#?}"
  );
  let journal = drill.journal();
  let found = journal
    .iter()
    .find(|r| r["type"] == "host-result" && r["step"] == "inactive-slot")
    .expect("the slot was looked for");
  assert_eq!(
    found["captured"],
    serde_json::json!([["slot", "gone_standby"]])
  );
  assert_eq!(outcome(&journal, "drop-inactive-slot"), vec!["passed"]);
  let dropped = journal
    .iter()
    .find(|r| r["type"] == "host-result" && r["step"] == "drop-inactive-slot")
    .unwrap();
  assert!(
    dropped["command"]
      .as_str()
      .unwrap()
      .contains("slot=gone_standby"),
    "{dropped}"
  );
}
