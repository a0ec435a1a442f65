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

/// zone-api-outage's scenario (seed 001 §2.4 B): one zone's backend unit is down while the other
/// zone keeps answering. The runbook restarts that unit, and only it: the other zone's backend
/// and Nginx keep their processes.
#[test]
fn zone_api_outage_restarts_only_the_broken_zone() {
  let drill = Drill::up(&["edge-proxy-01", "backend-api-01"]);
  // Two zones on backend-api-01, each its own unit (backend-api-<zone>), behind one Nginx.
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
  let kzone = format!("https://{KZONE}/health");
  let other = "https://api.dreamseedai.com/health";
  until_200(&drill, "edge-proxy-01", &kzone);
  until_200(&drill, "edge-proxy-01", other);
  let zone = [
    "--var",
    "zone=kzone",
    "--var",
    "domain=api.my-ktube.ai",
    "--var",
    "service=backend-api-kzone",
  ];
  // A healthy zone: triage finds nothing.
  let triage = drill.run(
    "zone-api-outage",
    &[&["--checks-only"][..], &zone[..]].concat(),
  );
  assert_eq!(
    triage.code,
    crate::test::exit::SUCCESS,
    "{}",
    triage.stdout
  );

  // The break: the zone's backend is down; Nginx answers 502 for that zone only.
  drill.systemctl("backend-api-01", "stop", "backend-api-kzone");
  assert_eq!(http_status(&drill, "edge-proxy-01", &kzone), "502");
  assert_eq!(http_status(&drill, "edge-proxy-01", other), "200");
  let other_pid = main_pid(&drill, "backend-api-01", "backend-api");
  let nginx_pid = main_pid(&drill, "edge-proxy-01", "nginx");

  let started = std::time::Instant::now();
  let run = drill.run("zone-api-outage", &[&["--yes"][..], &zone[..]].concat());
  let took = started.elapsed();
  assert_eq!(
    http_status(&drill, "edge-proxy-01", &kzone),
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
  for step in ["service-logs", "zone-cert", "nginx-config-test", "nginx-zone-route"] {
    assert_eq!(outcome(&journal, step), ["passed"], "{step}:\n{}", run.stdout);
  }
  assert!(decided(&journal, "restart-service", "yes"));
  assert_eq!(outcome(&journal, "restart-service"), ["passed"]);
  for step in ["verify-service", "verify-service-logs", "verify-zone-health"] {
    assert_eq!(outcome(&journal, step), ["passed"], "{step}");
  }
  // No certificate renewal and no Nginx reload for a zone whose backend was the fault.
  for step in ["renew-cert", "reload-nginx"] {
    assert!(outcome(&journal, step).is_empty(), "{step} ran");
    assert!(!decided(&journal, step, "yes"), "{step} was confirmed");
  }
  println!("zone-api-outage run took {took:?}:\n{}", run.stdout);
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
  let (answered, _) = drill.walk(
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
}
