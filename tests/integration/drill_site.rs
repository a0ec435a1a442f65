//! Fire drills for whole sites and single services: zone-api-outage and ai-model-outage, unchanged,
//! against a broken zone backend and an OOM-killed Whisper; dr-failover against a primary site cut
//! off the network, and dr-failback back from the DR site. Root only.

use crate::drill::{Drill, Prompt, decided, outcome};

/// What a command on `host` printed (trimmed), whether or not it succeeded.
fn stdout(drill: &Drill, host: &str, command: &str) -> String {
  let out = drill.exec(host, command);
  String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A unit's main process on `host` (`MainPID=N`; 0 when it is not running).
fn main_pid(drill: &Drill, host: &str, unit: &str) -> String {
  stdout(drill, host, &format!("systemctl show -p MainPID {unit}"))
}

/// The HTTP status `url` answers with, asked on `host` (000: no answer).
fn http_status(drill: &Drill, host: &str, url: &str) -> String {
  stdout(
    drill,
    host,
    &format!("curl -s -o /dev/null -w '%{{http_code}}' --max-time 5 {url}"),
  )
}

/// The end of a walk's terminal: the step table, how the run ended, and why.
fn summary(screen: &str) -> &str {
  screen.rfind("Summary").map_or(screen, |at| &screen[at..])
}

/// Polls until `url` answers 200 on `host` (a reload takes effect asynchronously).
fn until_200(drill: &Drill, host: &str, url: &str) {
  for _ in 0..50 {
    if http_status(drill, host, url) == "200" {
      return;
    }
    std::thread::sleep(std::time::Duration::from_millis(100));
  }
  panic!("{url} does not answer 200 on {host}");
}

// --- zone-api-outage ---------------------------------------------------------------------------

const KZONE: &str = "api.my-ktube.ai";

/// Two zones on backend-api-01, each its own unit (backend-api-<zone>): the manuals' main API
/// (api.dreamseedai.com, port 8000) and kzone (api.my-ktube.ai, port 8001), behind one Nginx
/// with a server block and certificate per zone. Both answer before the break.
fn zones() -> Drill {
  let drill = Drill::up(&["edge-proxy-01", "backend-api-01"]);
  drill.app(
    "backend-api-01",
    "backend-api",
    8000,
    "/var/log/backend-api/app.log",
    "",
  );
  drill.app(
    "backend-api-01",
    "backend-api-kzone",
    8001,
    "/var/log/backend-api-kzone/app.log",
    "",
  );
  drill.stock_nginx("edge-proxy-01", &["backend-api-01"], "api.dreamseedai.com");
  drill.alias("edge-proxy-01", "api.dreamseedai.com");
  drill.alias("edge-proxy-01", KZONE);
  // The zone's own server block and certificate (signed by the fleet's CA, as the others).
  drill.script(
    "edge-proxy-01",
    &format!(
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 365 -subj /CN={KZONE} -addext subjectAltName=DNS:{KZONE} -CA {fleet}/ca.pem -CAkey {fleet}/ca.key -keyout /etc/nginx/ssl/kzone.key -out /etc/nginx/ssl/kzone.pem 2>/dev/null
       cat > /etc/nginx/sites-enabled/kzone <<'SITE'
upstream kzone {{\n  server backend-api-01:8001;\n}}
server {{\n  listen 80;\n  listen 443 ssl;\n  server_name {KZONE};\n  ssl_certificate /etc/nginx/ssl/kzone.pem;\n  ssl_certificate_key /etc/nginx/ssl/kzone.key;\n  location / {{ proxy_pass http://kzone; }}\n}}
SITE
       nginx -t 2>/dev/null
       systemctl reload nginx",
      fleet = drill.dir.path().display()
    ),
  );
  until_200(&drill, "edge-proxy-01", KZONE_HEALTH);
  until_200(&drill, "edge-proxy-01", OTHER_HEALTH);
  drill
}

const KZONE_HEALTH: &str = "https://api.my-ktube.ai/health";
const OTHER_HEALTH: &str = "https://api.dreamseedai.com/health";
const KZONE_VARS: [&str; 6] = [
  "--var",
  "zone=kzone",
  "--var",
  "domain=api.my-ktube.ai",
  "--var",
  "service=backend-api-kzone",
];

/// zone-api-outage's scenario (seed 001 §2.4 B): one zone's backend unit is down while the other
/// zone keeps answering. The runbook restarts that unit, and only it: the other zone's backend
/// and Nginx keep their processes.
#[test]
fn zone_api_outage_restarts_only_the_broken_zone() {
  let drill = zones();
  let kzone = KZONE_HEALTH;
  let other = OTHER_HEALTH;
  let zone = KZONE_VARS;
  // A healthy zone: triage finds nothing.
  let triage = drill.run(
    "zone-api-outage",
    &[&["--checks-only"][..], &zone[..]].concat(),
  );
  assert_eq!(triage.code, crate::test::exit::SUCCESS, "{}", triage.stdout);

  // The break: the zone's backend is down; Nginx answers 502 for that zone only.
  drill.systemctl("backend-api-01", "stop", "backend-api-kzone");
  assert_eq!(http_status(&drill, "edge-proxy-01", kzone), "502");
  assert_eq!(http_status(&drill, "edge-proxy-01", other), "200");
  let other_pid = main_pid(&drill, "backend-api-01", "backend-api");
  let nginx_pid = main_pid(&drill, "edge-proxy-01", "nginx");

  let started = std::time::Instant::now();
  let run = drill.run("zone-api-outage", &[&["--yes"][..], &zone[..]].concat());
  let took = started.elapsed();
  assert_eq!(
    http_status(&drill, "edge-proxy-01", kzone),
    "200",
    "the zone is still down:\n{}\n{}",
    run.stdout,
    run.stderr
  );
  // Only that zone was touched.
  assert_eq!(main_pid(&drill, "backend-api-01", "backend-api"), other_pid);
  assert_eq!(main_pid(&drill, "edge-proxy-01", "nginx"), nginx_pid);
  assert_eq!(http_status(&drill, "edge-proxy-01", other), "200");
  let journal = drill.journal();
  assert_eq!(outcome(&journal, "service-status"), ["failed"]);
  assert_eq!(outcome(&journal, "zone-health"), ["failed"]);
  // With the backend down the edge's 502 is expected: the route is not judged.
  assert!(outcome(&journal, "edge-zone-route").is_empty());
  for step in [
    "service-logs",
    "zone-cert",
    "nginx-config-test",
    "nginx-zone-route",
  ] {
    assert_eq!(
      outcome(&journal, step),
      ["passed"],
      "{step}:\n{}",
      run.stdout
    );
  }
  assert!(decided(&journal, "restart-service", "yes"));
  assert_eq!(outcome(&journal, "restart-service"), ["passed"]);
  for step in [
    "verify-service",
    "verify-service-logs",
    "verify-zone-health",
  ] {
    assert_eq!(outcome(&journal, step), ["passed"], "{step}");
  }
  // No certificate renewal and no Nginx reload for a zone whose backend was the fault.
  for step in ["renew-cert", "reload-nginx"] {
    assert!(outcome(&journal, step).is_empty(), "{step} ran");
    assert!(!decided(&journal, step, "yes"), "{step} was confirmed");
  }
  // Healed and shown so by the checks that measure the findings again: success.
  assert_eq!(run.code, crate::test::exit::SUCCESS, "{}", run.stdout);
  println!("zone-api-outage run took {took:?}:\n{}", run.stdout);
}

/// zone-api-outage's second cause: Nginx sends the zone to the wrong upstream (a port nothing
/// listens on) while the zone's backend runs. The runbook finds it on the edge (edge-zone-route),
/// the operator fixes the server block when asked, and the runbook reloads Nginx (no restart of
/// anything); the other zone is untouched.
#[test]
fn zone_api_outage_reloads_nginx_after_the_zones_upstream_is_fixed() {
  let drill = zones();
  let site = "/etc/nginx/sites-enabled/kzone";
  // The break: a configuration change points the zone's upstream at the wrong port.
  drill.script(
    "edge-proxy-01",
    &format!(
      "sed -i 's/backend-api-01:8001/backend-api-01:8002/' {site} && systemctl reload nginx"
    ),
  );
  let mut broken = false;
  for _ in 0..50 {
    if http_status(&drill, "edge-proxy-01", KZONE_HEALTH) == "502" {
      broken = true;
      break;
    }
    std::thread::sleep(std::time::Duration::from_millis(100));
  }
  assert!(broken, "the break did not take");
  assert_eq!(http_status(&drill, "edge-proxy-01", OTHER_HEALTH), "200");
  let pids = |drill: &Drill| {
    [
      main_pid(drill, "backend-api-01", "backend-api"),
      main_pid(drill, "backend-api-01", "backend-api-kzone"),
      main_pid(drill, "edge-proxy-01", "nginx"),
    ]
  };
  let before = pids(&drill);

  let started = std::time::Instant::now();
  let (answered, screen) = drill.walk("zone-api-outage", &KZONE_VARS, |prompt, step| {
    match (prompt, step) {
      (Prompt::Manual, "fix-nginx-config") => {
        // What the instructions ask: the zone's upstream back on its backend's port.
        drill.script(
          "edge-proxy-01",
          &format!("sed -i 's/backend-api-01:8002/backend-api-01:8001/' {site}"),
        );
        "done".into()
      }
      (Prompt::Run, "reload-nginx") => "yes".into(),
      (Prompt::Manual, _) => "done".into(),
      _ => "skip".into(),
    }
  });
  let took = started.elapsed();

  assert_eq!(
    http_status(&drill, "edge-proxy-01", KZONE_HEALTH),
    "200",
    "answered: {answered:#?}"
  );
  assert_eq!(http_status(&drill, "edge-proxy-01", OTHER_HEALTH), "200");
  // A reload: no process was replaced (backends and Nginx's master keep their PIDs).
  assert_eq!(pids(&drill), before, "answered: {answered:#?}");
  let journal = drill.journal();
  for (step, want) in [
    ("service-status", "passed"),
    ("zone-health", "failed"),
    ("nginx-config-test", "passed"),
    ("nginx-zone-route", "passed"),
    ("edge-zone-route", "failed"),
    ("nginx-config-recheck", "passed"),
    ("reload-nginx", "passed"),
    ("verify-service", "passed"),
    ("verify-zone-health", "passed"),
  ] {
    assert_eq!(outcome(&journal, step), [want], "{step}: {answered:#?}");
  }
  assert!(decided(&journal, "fix-nginx-config", "yes"));
  assert!(decided(&journal, "reload-nginx", "yes"));
  assert!(outcome(&journal, "restart-service").is_empty());
  assert!(
    !answered.iter().any(|a| a.contains("restart-service")),
    "{answered:#?}"
  );
  println!("zone-api-outage (upstream) walk took {took:?}: {answered:#?}");
  println!("{}", summary(&screen));
}

// --- ai-model-outage ---------------------------------------------------------------------------

const GPU: &str = "gpu-cluster-01";

/// ai-model-outage's scenario (seed 000 §3.2, seed 001 §2.4 C): Whisper fills GPU 0's memory,
/// logs CUDA's out-of-memory error and is killed. The runbook finds it down (and why, in its
/// log), finds no standby Whisper to route to, restarts it and proves it serves again; PoseNet,
/// healthy, is left alone.
#[test]
fn ai_model_outage_restarts_an_oom_killed_whisper() {
  let drill = Drill::up(&[GPU, "gpu-cluster-02"]);
  drill.app(
    GPU,
    "whisper-server",
    8200,
    "/var/log/whisper/whisper.log",
    " --batch-size 16",
  );
  drill.app(
    GPU,
    "posenet-server",
    8300,
    "/var/log/posenet/posenet.log",
    "",
  );
  let whisper_url = "http://localhost:8200/health";
  assert_eq!(http_status(&drill, GPU, whisper_url), "200");
  let posenet_pid = main_pid(&drill, GPU, "posenet-server");
  let whisper_pid = main_pid(&drill, GPU, "whisper-server");
  let pid = whisper_pid.strip_prefix("MainPID=").unwrap().to_string();

  // The break: Whisper holds GPU 0's memory (the stand-in frees it when the process exits, as
  // the driver does), logs the OOM to its journal, and the kernel kills it.
  let h = drill.host_dir(GPU);
  std::fs::write(h.join("nvidia-smi.mode"), "full\n").unwrap();
  std::fs::write(h.join("nvidia-smi.full-pid"), format!("{pid}\n")).unwrap();
  assert!(
    stdout(
      &drill,
      GPU,
      "nvidia-smi -i 0 --query-gpu=memory.used --format=csv,noheader,nounits"
    )
    .parse::<u64>()
    .unwrap()
      > 80000
  );
  std::fs::write(
    h.join("whisper-server.log"),
    "Traceback (most recent call last):\ntorch.cuda.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 80.00 GiB total capacity)\n",
  )
  .unwrap();
  // (This machine's init reaps the killed process within seconds; until then it is a zombie.)
  drill.script(
    GPU,
    &format!(
      "kill -9 {pid}; for i in $(seq 1 100); do systemctl is-active -q whisper-server || exit 0; sleep 0.1; done; exit 1"
    ),
  );
  assert_ne!(http_status(&drill, GPU, whisper_url), "200");

  let started = std::time::Instant::now();
  let (answered, screen) = drill.walk(
    "ai-model-outage",
    &[
      "--host",
      GPU,
      "--host",
      "gpu-cluster-02",
      "--var",
      &format!("whisper_health_url={whisper_url}"),
      "--var",
      "posenet_health_url=http://localhost:8300/health",
    ],
    |prompt, step| match (prompt, step) {
      (Prompt::Run, "restart-whisper") => "yes".into(),
      (Prompt::Manual, _) => "done".into(),
      _ => "skip".into(),
    },
  );
  let took = started.elapsed();

  // Whisper serves again, a new process; GPU 0's memory is free; PoseNet was not touched.
  assert_eq!(
    http_status(&drill, GPU, whisper_url),
    "200",
    "answered: {answered:#?}"
  );
  assert_ne!(main_pid(&drill, GPU, "whisper-server"), whisper_pid);
  assert_eq!(main_pid(&drill, GPU, "posenet-server"), posenet_pid);
  assert_eq!(
    stdout(
      &drill,
      GPU,
      "nvidia-smi -i 0 --query-gpu=memory.used --format=csv,noheader,nounits"
    ),
    "8150"
  );
  let journal = drill.journal();
  assert_eq!(outcome(&journal, "whisper-service"), ["failed"]);
  assert_eq!(outcome(&journal, "posenet-service"), ["passed"]);
  // The OOM is in Whisper's log; the memory went with the process.
  assert_eq!(outcome(&journal, "whisper-log"), ["failed"]);
  assert_eq!(outcome(&journal, "posenet-log"), ["passed"]);
  assert_eq!(outcome(&journal, "gpu-health"), ["passed", "passed"]);
  // No Whisper on gpu-cluster-02: no standby, so no routing to it.
  assert_eq!(outcome(&journal, "whisper-standby"), ["failed"]);
  for step in ["nginx-config-test", "reload-nginx"] {
    assert!(outcome(&journal, step).is_empty(), "{step}: {answered:#?}");
  }
  assert!(decided(&journal, "restart-whisper", "yes"));
  assert_eq!(outcome(&journal, "restart-whisper"), ["passed"]);
  assert_eq!(outcome(&journal, "whisper-after-restart"), ["passed"]);
  assert!(outcome(&journal, "restart-posenet").is_empty());
  assert!(
    answered
      .iter()
      .any(|a| a.starts_with("Manual engine-log-errors")),
    "the OOM lines were not put before the operator: {answered:#?}"
  );
  for step in ["whisper-still-down", "posenet-fallback", "gpu-over-limits"] {
    assert!(
      !answered.iter().any(|a| a.contains(step)),
      "{step}: {answered:#?}"
    );
  }
  println!("ai-model-outage walk took {took:?}: {answered:#?}");
  println!("{}", summary(&screen));
}

// --- dr-failover and dr-failback ---------------------------------------------------------------

/// The primary site (seed 001 §1.3: the replica sits next to the primary) and the DR site
/// (seed 001 §5.3: a standby in Tokyo, and the DR side's API).
const PRIMARY_SITE: [&str; 4] = [
  "edge-proxy-01",
  "backend-api-01",
  "db-primary-01",
  "db-replica-01",
];
const DR_DB: &str = "tokyo-db-01";
const DR_API: &str = "tokyo-api-01";
const PUBLIC: &str = "api.dreamseedai.com";
const PSQL: &str = "runuser -u postgres -- psql -X -qAt -d dreamseed";

/// The shipped inventory with the DR site's standby added (an operator's inventory would name it
/// the same way), written where megacity's `--inventory` reads it.
fn dr_inventory(drill: &Drill) -> String {
  let shipped = std::fs::read_to_string(
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("inventory/default.yaml"),
  )
  .unwrap();
  let path = drill.test.path("dr-inventory.yaml");
  std::fs::write(
    &path,
    format!(
      "{shipped}  - name: {DR_DB}\n    role: PostgreSQL DR standby (Tokyo)\n    groups: [dr]\n"
    ),
  )
  .unwrap();
  path.display().to_string()
}

/// Points the public name at `host`, as the Cloudflare load balancer's default pool does: the
/// fleet's hosts file is rewritten in place (the same file, which every host and megacity's
/// mount namespace see).
fn point_public_at(drill: &Drill, host: &str) {
  let path = drill.dir.path().join("etc-hosts");
  let hosts = std::fs::read_to_string(&path).unwrap();
  let mut lines: Vec<String> = hosts
    .lines()
    .filter(|l| !l.ends_with(&format!(" {PUBLIC}")))
    .map(String::from)
    .collect();
  lines.push(format!("{} {PUBLIC}", drill.ip(host)));
  std::fs::write(&path, lines.join("\n") + "\n").unwrap();
}

/// The service as users reach it: the public health URL, asked from the DR API host (a client
/// outside the primary site).
fn public_health(drill: &Drill) -> String {
  http_status(drill, DR_API, &format!("http://{PUBLIC}/health"))
}

/// A SQL query's answer on `host` (as the postgres OS user), which must succeed.
fn sql(drill: &Drill, host: &str, query: &str) -> String {
  drill
    .script(host, &format!("{PSQL} -c \"{query}\""))
    .trim()
    .to_string()
}

/// Polls until `query` answers `want` on `host`.
fn until_sql(drill: &Drill, host: &str, query: &str, want: &str) {
  drill.script(
    host,
    &format!(
      "for i in $(seq 1 100); do [ \"$({PSQL} -c \"{query}\" 2>/dev/null)\" = '{want}' ] && exit 0; sleep 0.1; done; echo \"$({PSQL} -c \"{query}\" 2>&1)\"; exit 1"
    ),
  );
}

/// The primary site's PostgreSQL with the application's data, the DR site's standby streaming
/// from it (and, when `site_replica`, the primary site's own replica too), the public name on
/// the edge. The DR standby accepts replication connections, as a standby meant to become the
/// primary must (a fail-back rebuilds the old primary from it).
fn sites(drill: &Drill, site_replica: bool) {
  drill.stock_postgres("db-primary-01");
  drill.application_tables("db-primary-01");
  if site_replica {
    drill.stock_replica("db-replica-01", "db-primary-01");
  }
  drill.stock_replica(DR_DB, "db-primary-01");
  drill.script(
    DR_DB,
    &format!(
      "echo 'host replication replicator samenet scram-sha-256' >> /etc/postgresql/15/main/pg_hba.conf
       {PSQL} -c 'SELECT pg_reload_conf()' >/dev/null"
    ),
  );
  let standbys = if site_replica { "2" } else { "1" };
  until_sql(
    drill,
    "db-primary-01",
    "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'",
    standbys,
  );
  drill.app(
    "backend-api-01",
    "backend-api",
    8000,
    "/var/log/backend-api/app.log",
    "",
  );
  drill.stock_nginx("edge-proxy-01", &["backend-api-01"], PUBLIC);
  // The DR side's API (Cloud Run in seed 002), already deployed and idle.
  drill.app(
    DR_API,
    "backend-api",
    80,
    "/var/log/backend-api/app.log",
    "",
  );
  point_public_at(drill, "edge-proxy-01");
  assert_eq!(public_health(drill), "200");
}

/// The journal position of the first record that `pick` accepts.
fn at(journal: &[serde_json::Value], pick: impl Fn(&serde_json::Value) -> bool) -> usize {
  journal
    .iter()
    .position(pick)
    .unwrap_or_else(|| panic!("not in the journal"))
}

/// dr-failover's scenario: the whole primary site is cut off (edge, API, primary and its replica
/// lose their links). First, on the healthy fleet, the runbook proposes nothing. Then, with the
/// default standby (db-replica-01, in the failed site), it never offers a promotion and goes to
/// the Cloud SQL path. With the DR site's standby named, it proves from that standby that the
/// primary does not answer, has the operator fence it, re-checks, and only then promotes it; the
/// public name ends on the DR site's API. The failed site's replica is never promoted.
#[test]
fn dr_failover_promotes_the_dr_sites_standby_after_proof_and_fencing() {
  let mut hosts = PRIMARY_SITE.to_vec();
  hosts.extend([DR_DB, DR_API]);
  let drill = Drill::up(&hosts);
  sites(&drill, true);
  sql(
    &drill,
    "db-primary-01",
    "INSERT INTO users (email) VALUES ('before-the-disaster@example.com')",
  );
  until_sql(
    &drill,
    DR_DB,
    "SELECT count(*) FROM users WHERE email = 'before-the-disaster@example.com'",
    "1",
  );
  let inventory = dr_inventory(&drill);
  let public = format!("public_health_url=http://{PUBLIC}/health");
  let site = format!("site_hosts={}", PRIMARY_SITE.join(" "));
  let standby = format!("standby_host={DR_DB}");
  let mut args = vec![
    "--inventory",
    &inventory,
    "--connect-timeout",
    "3s",
    "--var",
    &public,
    "--var",
    &site,
    // Nothing is posted anywhere: a closed port on this machine.
    "--var",
    "status_url=http://127.0.0.1:9/incidents",
  ];
  for host in PRIMARY_SITE.iter().chain([&DR_DB]) {
    args.extend(["--host", host]);
  }
  let in_recovery = |host: &str| sql(&drill, host, "SELECT pg_is_in_recovery()");

  // A healthy fleet: nothing proposed, asked or changed.
  let with_standby = [&args[..], &["--var", &standby]].concat();
  let healthy = drill.run(
    "dr-failover",
    &[&with_standby[..], &["--yes", "--yes-destructive"]].concat(),
  );
  let journal = drill.journal();
  let noise: Vec<&serde_json::Value> = journal
    .iter()
    .filter(|r| {
      ["would-run", "decision", "manual"].contains(&r["type"].as_str().unwrap_or(""))
        || (r["type"] == "host-result"
          && !["passed", "skipped", "not-applicable"]
            .contains(&r["outcome"].as_str().unwrap_or("")))
    })
    .collect();
  assert!(noise.is_empty(), "{noise:#?}\n{}", healthy.stdout);
  assert_eq!(
    healthy.code,
    crate::test::exit::SUCCESS,
    "{}",
    healthy.stdout
  );
  assert_eq!(in_recovery(DR_DB), "t");

  // The break: the primary site loses its network.
  for host in PRIMARY_SITE {
    drill.link(host, "down");
  }
  assert_ne!(public_health(&drill), "200");

  // The default standby is db-replica-01, in the failed site: no promotion is offered; the
  // runbook goes to Cloud SQL (the walk stops there).
  let (answered, _) = drill.walk("dr-failover", &args, |prompt, step| match (prompt, step) {
    (Prompt::Run, "activate-cloud-sql") => "abort".into(),
    (Prompt::Manual, _) => "done".into(),
    _ => "skip".into(),
  });
  let journal = drill.journal();
  assert_eq!(
    outcome(&journal, "site-answers"),
    ["failed"],
    "{answered:#?}"
  );
  assert_eq!(outcome(&journal, "standby-outside-site"), ["failed"]);
  assert!(
    decided(&journal, "activate-cloud-sql", "abort"),
    "{answered:#?}"
  );
  assert!(
    !answered.iter().any(|a| a.contains("promote-standby")),
    "{answered:#?}"
  );

  // The run with the DR site's standby.
  let fenced = std::cell::Cell::new(false);
  let started = std::time::Instant::now();
  let (answered, screen) = drill.walk("dr-failover", &with_standby, |prompt, step| {
    match (prompt, step) {
      (Prompt::Manual, "cloudflare-failover") => {
        point_public_at(&drill, DR_API);
        "done".into()
      }
      (Prompt::Manual, "fence-old-primary") => {
        // Remote hands at the failed site: PostgreSQL stopped and masked on the old primary.
        drill.script(
          "db-primary-01",
          "systemctl stop postgresql@15-main; systemctl mask postgresql@15-main",
        );
        fenced.set(true);
        "done".into()
      }
      (Prompt::Destructive, "promote-standby") => {
        assert!(fenced.get(), "promotion offered before the fence");
        DR_DB.into()
      }
      (Prompt::Manual, _) => "done".into(),
      _ => "skip".into(),
    }
  });
  let took = started.elapsed();

  // The DR standby is the primary, with the data written before the disaster, and takes writes.
  assert_eq!(in_recovery(DR_DB), "f", "answered: {answered:#?}");
  assert_eq!(
    sql(
      &drill,
      DR_DB,
      "SELECT count(*) FROM users WHERE email = 'before-the-disaster@example.com'"
    ),
    "1"
  );
  sql(
    &drill,
    DR_DB,
    "INSERT INTO users (email) VALUES ('after-the-failover@example.com')",
  );
  // The failed site's replica was never promoted; the old primary is fenced.
  assert_eq!(in_recovery("db-replica-01"), "t");
  let primary = stdout(
    &drill,
    "db-primary-01",
    "systemctl is-enabled postgresql@15-main; systemctl is-active postgresql@15-main",
  );
  assert!(
    primary.contains("masked") && primary.contains("inactive"),
    "{primary}"
  );
  // The primary site comes back: the fenced primary stays down (no second writable primary).
  for host in PRIMARY_SITE {
    drill.link(host, "up");
  }
  let back = drill.exec(DR_DB, "pg_isready -h db-primary-01 -t 5");
  assert_eq!(back.status.code(), Some(2), "{back:?}");
  assert_eq!(in_recovery("db-replica-01"), "t");
  // The public name serves from the DR site.
  assert_eq!(public_health(&drill), "200");
  let served = std::fs::read_to_string(
    drill
      .host_dir(DR_API)
      .join("fs/var_log_backend-api/app.log"),
  )
  .unwrap();
  assert!(served.contains("GET /health 200"), "{served}");

  let journal = drill.journal();
  for (step, want) in [
    ("public-health", "failed"),
    ("site-answers", "failed"),
    ("standby-outside-site", "passed"),
    ("standby-ready", "passed"),
    ("primary-from-standby", "failed"),
    ("primary-fenced", "passed"),
    ("promote-standby", "passed"),
    ("standby-promoted", "passed"),
    ("standby-answers", "passed"),
    ("verify-public-health", "passed"),
  ] {
    assert_eq!(outcome(&journal, step), [want], "{step}: {answered:#?}");
  }
  // Proof, fence, re-check, promotion: in that order, each fence and promotion a person's.
  let result = |step: &'static str, want: &'static str| {
    move |r: &serde_json::Value| {
      r["type"] == "host-result" && r["step"] == step && r["outcome"] == want
    }
  };
  let proof = at(&journal, result("primary-from-standby", "failed"));
  let fence = at(&journal, |r| {
    r["type"] == "decision" && r["step"] == "fence-old-primary" && r["answer"] == "yes"
  });
  let recheck = at(&journal, result("primary-fenced", "passed"));
  let promoted = at(&journal, result("promote-standby", "passed"));
  assert!(proof < fence && fence < recheck && recheck < promoted);
  for step in ["fence-old-primary", "promote-standby"] {
    assert!(
      journal.iter().any(|r| r["type"] == "decision"
        && r["step"] == step
        && r["answer"] == "yes"
        && r["by"] == "operator"),
      "{step}"
    );
  }
  // Promoted on the DR standby alone; the Cloud SQL path was not taken.
  let on: Vec<&str> = journal
    .iter()
    .filter(|r| r["type"] == "host-result" && r["step"] == "promote-standby")
    .map(|r| r["host"].as_str().unwrap())
    .collect();
  assert_eq!(on, [DR_DB]);
  for step in [
    "activate-cloud-sql",
    "fetch-latest-backup",
    "import-cloud-sql",
  ] {
    assert!(
      !answered.iter().any(|a| a.contains(step)),
      "{step}: {answered:#?}"
    );
  }
  println!("dr-failover walk took {took:?}: {answered:#?}");
  println!("{}", summary(&screen));
}

/// dr-failback's scenario (seed 001 §5.5): the state dr-failover leaves — the old primary
/// stopped and masked, the DR site's standby promoted and taking writes, the public name on the
/// DR site's API — with the primary site repaired. The operator rebuilds the old primary as a
/// standby when the runbook asks (reseed-old-primary); the runbook proves it caught up, freezes
/// writes, fences the DR primary, promotes the old primary, and moves the traffic back only
/// when it is proven. Roles end as before the disaster, and the row written on the DR primary
/// is on the primary.
#[test]
fn dr_failback_returns_to_the_primary_site_without_losing_the_dr_sites_writes() {
  let drill = Drill::up(&[
    "edge-proxy-01",
    "backend-api-01",
    "db-primary-01",
    "redis-master-01",
    "gpu-cluster-01",
    DR_DB,
    DR_API,
  ]);
  sites(&drill, false);
  drill.stock_redis("redis-master-01", None);
  drill.app(
    "gpu-cluster-01",
    "vllm-server",
    8100,
    "/var/log/vllm/inference.log",
    "",
  );
  // Users keep calling the public name (bounded: five requests a second, ten minutes at most).
  drill.script(
    DR_API,
    &format!("setsid timeout 600 sh -c 'while :; do curl -s -o /dev/null --max-time 2 http://{PUBLIC}/health; sleep 0.2; done' </dev/null >/dev/null 2>&1 &"),
  );
  // What dr-failover leaves: the old primary fenced, the DR standby promoted, traffic on the
  // DR site; then the DR site takes writes.
  drill.script(
    "db-primary-01",
    "systemctl stop postgresql@15-main; systemctl mask postgresql@15-main",
  );
  assert_eq!(sql(&drill, DR_DB, "SELECT pg_promote()"), "t");
  until_sql(&drill, DR_DB, "SELECT pg_is_in_recovery()", "f");
  point_public_at(&drill, DR_API);
  assert_eq!(public_health(&drill), "200");
  sql(
    &drill,
    DR_DB,
    "INSERT INTO users (email) VALUES ('written-on-the-dr-site@example.com')",
  );
  let users = sql(&drill, DR_DB, "SELECT count(*) FROM users");

  let inventory = dr_inventory(&drill);
  let public = format!("public_health_url=http://{PUBLIC}/health");
  let dr = format!("dr_primary_host={DR_DB}");
  let mut args = vec![
    "--inventory",
    &inventory,
    "--var",
    &public,
    "--var",
    &dr,
    // The person who moves the traffic says so when asked (traffic-moved).
    "--var",
    "traffic_back=moved",
    "--var",
    "status_url=http://127.0.0.1:9/incidents",
  ];
  for host in [
    "edge-proxy-01",
    "backend-api-01",
    "db-primary-01",
    "redis-master-01",
    "gpu-cluster-01",
    DR_DB,
  ] {
    args.extend(["--host", host]);
  }
  let api_pid = main_pid(&drill, "backend-api-01", "backend-api");
  let started = std::time::Instant::now();
  let (answered, screen) = drill.walk("dr-failback", &args, |prompt, step| {
    match (prompt, step) {
      (Prompt::Manual, "reseed-old-primary") => {
        // The instructions, as the operator types them (the replication password from the
        // environment, as ~/.pgpass would give it).
        drill.script(
          "db-primary-01",
          &format!(
            "systemctl stop postgresql@15-main
             mv /var/lib/postgresql/15/main /var/lib/postgresql/15/main.pre-failback
             runuser -u postgres -- env PGPASSWORD=fleet-replication pg_basebackup -h {DR_DB} -U replicator -D /var/lib/postgresql/15/main -R -X stream -c fast
             systemctl unmask postgresql@15-main && systemctl start postgresql@15-main"
          ),
        );
        "done".into()
      }
      (Prompt::Manual, "traffic-back") => {
        point_public_at(&drill, "edge-proxy-01");
        "done".into()
      }
      (Prompt::Destructive, "freeze-db-writes" | "fence-dr-primary") => DR_DB.into(),
      (Prompt::Destructive, "promote-primary") => "db-primary-01".into(),
      (Prompt::Run, "unfreeze-writes" | "restart-api") => "yes".into(),
      (Prompt::Manual, _) => "done".into(),
      _ => "skip".into(),
    }
  });
  let took = started.elapsed();

  // Roles as before the disaster: db-primary-01 the writable primary with every row written on
  // the DR site; the DR primary fenced.
  assert_eq!(
    sql(&drill, "db-primary-01", "SELECT pg_is_in_recovery()"),
    "f",
    "answered: {answered:#?}"
  );
  assert_eq!(
    sql(
      &drill,
      "db-primary-01",
      "SELECT count(*) FROM users WHERE email = 'written-on-the-dr-site@example.com'"
    ),
    "1"
  );
  assert_eq!(
    sql(&drill, "db-primary-01", "SELECT count(*) FROM users"),
    users
  );
  sql(
    &drill,
    "db-primary-01",
    "INSERT INTO users (email) VALUES ('after-the-failback@example.com')",
  );
  let dr = stdout(
    &drill,
    DR_DB,
    "systemctl is-enabled postgresql@15-main; systemctl is-active postgresql@15-main",
  );
  assert!(dr.contains("masked") && dr.contains("inactive"), "{dr}");
  // The API restarted on the primary connection; the public name serves from the primary site.
  assert_ne!(main_pid(&drill, "backend-api-01", "backend-api"), api_pid);
  assert_eq!(public_health(&drill), "200");

  let journal = drill.journal();
  for (step, want) in [
    ("replica-role", "failed"),
    ("site-proxy", "passed"),
    ("site-api", "passed"),
    ("site-redis", "passed"),
    ("site-gpu", "passed"),
    ("old-primary-role", "failed"),
    ("old-primary-recheck", "passed"),
    ("resynced", "passed"),
    ("freeze-db-writes", "passed"),
    ("writes-stopped", "passed"),
    ("final-catch-up", "passed"),
    ("fence-dr-primary", "passed"),
    ("dr-primary-down", "passed"),
    ("standby-complete", "passed"),
    ("promote-primary", "passed"),
    ("primary-promoted", "passed"),
    ("unfreeze-writes", "passed"),
    ("writes-allowed", "passed"),
    ("restart-api", "passed"),
    ("api-after-restart", "passed"),
    ("site-receives-traffic", "passed"),
    ("verify-public", "passed"),
  ] {
    assert_eq!(outcome(&journal, step), [want], "{step}: {answered:#?}");
  }
  // Frozen, fenced, proven down, then promoted; each of them a person's decision.
  let result = |step: &'static str| {
    move |r: &serde_json::Value| {
      r["type"] == "host-result" && r["step"] == step && r["outcome"] == "passed"
    }
  };
  let frozen = at(&journal, result("freeze-db-writes"));
  let fenced = at(&journal, result("fence-dr-primary"));
  let down = at(&journal, result("dr-primary-down"));
  let promoted = at(&journal, result("promote-primary"));
  assert!(frozen < fenced && fenced < down && down < promoted);
  for step in ["freeze-db-writes", "fence-dr-primary", "promote-primary"] {
    assert!(
      journal.iter().any(|r| r["type"] == "decision"
        && r["step"] == step
        && r["answer"] == "yes"
        && r["by"] == "operator"),
      "{step}"
    );
  }
  // Nothing on the Cloud SQL path.
  for step in [
    "cloudsql-export-import",
    "stop-cloud-sql",
    "restart-api-cloudsql",
  ] {
    assert!(
      !answered.iter().any(|a| a.contains(step)),
      "{step}: {answered:#?}"
    );
  }
  println!("dr-failback walk took {took:?}: {answered:#?}");
  println!("{}", summary(&screen));
}

/// ai-model-outage with PoseNet hung: its process is stopped (SIGSTOP, as a wedged CUDA call
/// leaves it), so the unit is active but nothing answers. Judged by the unit alone (the default,
/// the seeds give PoseNet no port) it looks healthy; with its health URL the runbook finds it,
/// restarts PoseNet only, and proves it answers again.
#[test]
fn ai_model_outage_restarts_a_hung_posenet_found_by_its_health_url() {
  let drill = Drill::up(&[GPU]);
  drill.app(
    GPU,
    "whisper-server",
    8200,
    "/var/log/whisper/whisper.log",
    " --batch-size 4",
  );
  drill.app(
    GPU,
    "posenet-server",
    8300,
    "/var/log/posenet/posenet.log",
    "",
  );
  let posenet_url = "http://localhost:8300/health";
  let whisper_pid = main_pid(&drill, GPU, "whisper-server");
  let posenet_pid = main_pid(&drill, GPU, "posenet-server");
  drill.script(
    GPU,
    &format!(
      "kill -STOP {}",
      posenet_pid.strip_prefix("MainPID=").unwrap()
    ),
  );
  assert_eq!(http_status(&drill, GPU, posenet_url), "000");

  // By the unit alone, a hung PoseNet is "serving": triage proposes nothing for it.
  let triage = drill.run("ai-model-outage", &["--checks-only", "--host", GPU]);
  let journal = drill.journal();
  assert_eq!(
    outcome(&journal, "posenet-service"),
    ["passed"],
    "{}",
    triage.stdout
  );

  let vars = [
    "--host",
    GPU,
    "--var",
    "whisper_health_url=http://localhost:8200/health",
    "--var",
    &format!("posenet_health_url={posenet_url}"),
  ];
  let started = std::time::Instant::now();
  let (answered, screen) = drill.walk("ai-model-outage", &vars, |prompt, step| {
    match (prompt, step) {
      (Prompt::Run, "restart-posenet") => "yes".into(),
      (Prompt::Manual, _) => "done".into(),
      _ => "skip".into(),
    }
  });
  let took = started.elapsed();

  assert_eq!(
    http_status(&drill, GPU, posenet_url),
    "200",
    "answered: {answered:#?}"
  );
  assert_ne!(main_pid(&drill, GPU, "posenet-server"), posenet_pid);
  assert_eq!(main_pid(&drill, GPU, "whisper-server"), whisper_pid);
  assert_eq!(answered, ["Run restart-posenet -> yes"]);
  let journal = drill.journal();
  for (step, want) in [
    ("whisper-service", "passed"),
    ("posenet-service", "failed"),
    ("gpu-health", "passed"),
    ("whisper-log", "passed"),
    ("posenet-log", "passed"),
    ("restart-posenet", "passed"),
    ("posenet-after-restart", "passed"),
  ] {
    assert_eq!(outcome(&journal, step), [want], "{step}: {answered:#?}");
  }
  assert!(outcome(&journal, "restart-whisper").is_empty());
  println!("ai-model-outage (hung PoseNet) walk took {took:?}");
  println!("{}", summary(&screen));
}

/// ai-model-outage's first move for Whisper (seed 000 §3.2: route STT to the standby node at
/// once): Whisper on gpu-cluster-01 crashes while gpu-cluster-02 runs a standby, and STT reaches
/// Whisper through the AI engines' site on edge-proxy-01. The operator points the upstream at the
/// standby when asked; the runbook tests the configuration and reloads Nginx (STT is served by the
/// standby), restarts Whisper, and once it serves asks for the route back.
#[test]
fn ai_model_outage_routes_stt_to_the_standby_whisper_while_it_restarts_the_primary() {
  let drill = Drill::up(&[GPU, "gpu-cluster-02", "edge-proxy-01"]);
  for gpu in [GPU, "gpu-cluster-02"] {
    drill.app(
      gpu,
      "whisper-server",
      8200,
      "/var/log/whisper/whisper.log",
      " --batch-size 4",
    );
  }
  drill.app(
    GPU,
    "posenet-server",
    8300,
    "/var/log/posenet/posenet.log",
    "",
  );
  // The edge's stock Nginx with the AI engines' site (seed 001 §3.2): STT on port 8201.
  drill.stock_nginx("edge-proxy-01", &[GPU], "ai.dreamseedai.com");
  let site = "/etc/nginx/sites-enabled/ai-engine";
  drill.script(
    "edge-proxy-01",
    &format!(
      "cat > {site} <<'SITE'
upstream whisper {{\n  server {GPU}:8200;\n}}
server {{\n  listen 8201;\n  location / {{ proxy_pass http://whisper; }}\n}}
SITE
       systemctl reload nginx"
    ),
  );
  let stt = "http://edge-proxy-01:8201/health";
  until_200(&drill, "edge-proxy-01", stt);
  // Which node served STT: the requests each Whisper logged.
  let served = |host: &str| {
    std::fs::read_to_string(drill.host_dir(host).join("fs/var_log_whisper/whisper.log"))
      .unwrap_or_default()
      .lines()
      .count()
  };

  // The break: Whisper on the AI primary crashes; STT fails.
  drill.systemctl(GPU, "stop", "whisper-server");
  assert_eq!(http_status(&drill, "edge-proxy-01", stt), "502");
  let posenet_pid = main_pid(&drill, GPU, "posenet-server");
  let nginx_pid = main_pid(&drill, "edge-proxy-01", "nginx");

  let on_standby = std::cell::Cell::new(false);
  let started = std::time::Instant::now();
  let (answered, screen) = drill.walk(
    "ai-model-outage",
    &[
      "--host",
      GPU,
      "--host",
      "gpu-cluster-02",
      "--host",
      "edge-proxy-01",
      "--var",
      "whisper_health_url=http://localhost:8200/health",
    ],
    |prompt, step| match (prompt, step) {
      (Prompt::Manual, "route-stt-to-standby") => {
        drill.script(
          "edge-proxy-01",
          &format!("sed -i 's/{GPU}:8200/gpu-cluster-02:8200/' {site}"),
        );
        "done".into()
      }
      (Prompt::Run, "reload-nginx") => "yes".into(),
      (Prompt::Run, "restart-whisper") => {
        // The reload has taken effect: STT is served, by the standby.
        let before = served("gpu-cluster-02");
        until_200(&drill, "edge-proxy-01", stt);
        on_standby.set(served("gpu-cluster-02") > before);
        "yes".into()
      }
      (Prompt::Manual, "route-stt-back") => {
        drill.script(
          "edge-proxy-01",
          &format!("sed -i 's/gpu-cluster-02:8200/{GPU}:8200/' {site} && nginx -t 2>/dev/null && systemctl reload nginx"),
        );
        "done".into()
      }
      (Prompt::Manual, _) => "done".into(),
      _ => "skip".into(),
    },
  );
  let took = started.elapsed();

  assert!(
    on_standby.get(),
    "STT was not served by the standby: {answered:#?}"
  );
  // STT is back on the AI primary's Whisper, through the same Nginx master (reloads only).
  let before = served(GPU);
  until_200(&drill, "edge-proxy-01", stt);
  assert!(served(GPU) > before, "STT is not back on {GPU}");
  assert_eq!(main_pid(&drill, "edge-proxy-01", "nginx"), nginx_pid);
  assert_eq!(main_pid(&drill, GPU, "posenet-server"), posenet_pid);
  assert_eq!(
    answered,
    [
      "Manual route-stt-to-standby -> done",
      "Run reload-nginx -> yes",
      "Run restart-whisper -> yes",
      "Manual route-stt-back -> done",
    ],
    "{answered:#?}"
  );
  let journal = drill.journal();
  for (step, want) in [
    ("whisper-service", "failed"),
    ("whisper-standby", "passed"),
    ("nginx-config-test", "passed"),
    ("reload-nginx", "passed"),
    ("nginx-after-reload", "passed"),
    ("restart-whisper", "passed"),
    ("whisper-after-restart", "passed"),
  ] {
    assert_eq!(outcome(&journal, step), [want], "{step}: {answered:#?}");
  }
  println!("ai-model-outage (standby) walk took {took:?}");
  println!("{}", summary(&screen));
}
