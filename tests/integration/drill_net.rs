//! Fire drills off the hosts themselves: a third-party API that stalls (external-api-timeout) and
//! an edge cut off from its users (network-outage), broken on fleet hosts and healed through the
//! shipped runbooks, unchanged, walked in a pty as an operator would.

use crate::drill::{Drill, Prompt, on_hosts, outcome};

/// The provider's stand-in: an app-server on monitoring-01 (no runbook here touches it),
/// reached by the api hosts under a provider's name.
const PROVIDER_HOST: &str = "monitoring-01";
const PROVIDER_UNIT: &str = "provider-api";
const PROVIDER_NAME: &str = "api.payments-provider.test";
const PROVIDER_PORT: u16 = 8443;
/// How long the stalled provider takes to answer: well past the runbook's 2 s, well within its
/// curl's 30 s (a slow answer, not a dead one).
const STALL_MS: u32 = 6000;

/// The provider's unit, answering after `delay_ms` (its log on its own host).
fn provider(drill: &Drill, delay_ms: u32) {
  drill.unit(
    PROVIDER_HOST,
    PROVIDER_UNIT,
    &format!(
      "app-server --port {PROVIDER_PORT} --log /var/log/provider/access.log --delay-ms {delay_ms}"
    ),
    &format!("curl -fsS -o /dev/null http://127.0.0.1:{PROVIDER_PORT}/health"),
  );
}

/// How long a call from `host` to the provider takes, in ms, and its HTTP status.
fn call_provider(drill: &Drill, host: &str) -> (String, u64) {
  let out = drill.script(
    host,
    &format!(
      "curl -sS -o /dev/null -w '%{{http_code}} %{{time_total}}\\n' --max-time 30 http://{PROVIDER_NAME}:{PROVIDER_PORT}/health"
    ),
  );
  let (code, secs) = out.trim().split_once(' ').unwrap();
  (
    code.to_string(),
    (secs.parse::<f64>().unwrap() * 1000.0) as u64,
  )
}

fn main_pid(drill: &Drill, host: &str, unit: &str) -> String {
  drill
    .script(host, &format!("systemctl show -p MainPID {unit}"))
    .trim()
    .to_string()
}

/// external-api-timeout: the provider the API hosts call stalls (answers, 6 s late). Triage
/// finds the latency failed from both api hosts (not unknown) while the network path is fine;
/// the walk offers the runbook's manual path (status page, circuit breaker, fallback, timeouts,
/// provider, users); the provider recovers while the operator tells users, and the recovery
/// checks pass. The runbook has no action: nothing on the api hosts is restarted.
#[test]
fn external_api_timeout_walks_the_fallback_path_until_a_stalled_provider_recovers() {
  let drill = Drill::up(&["backend-api-01", "backend-api-02", PROVIDER_HOST]);
  for api in ["backend-api-01", "backend-api-02"] {
    drill.app(api, "backend-api", 8000, "/var/log/backend-api/app.log", "");
  }
  drill.private(PROVIDER_HOST, "/var/log/provider", false);
  drill.alias(PROVIDER_HOST, PROVIDER_NAME);
  // Healthy first: the provider answers at once from both api hosts.
  provider(&drill, 0);
  drill.systemctl(PROVIDER_HOST, "start", PROVIDER_UNIT);
  for api in ["backend-api-01", "backend-api-02"] {
    let (code, ms) = call_provider(&drill, api);
    assert_eq!(
      code, "200",
      "{api} does not reach the provider before the break"
    );
    assert!(ms < 2000, "the provider is slow before the break: {ms} ms");
  }
  // The break: the provider stalls.
  provider(&drill, STALL_MS);
  drill.systemctl(PROVIDER_HOST, "restart", PROVIDER_UNIT);
  let (code, ms) = call_provider(&drill, "backend-api-01");
  assert_eq!(code, "200");
  assert!(ms >= u64::from(STALL_MS), "the break did not take: {ms} ms");
  let apis_before: Vec<String> = ["backend-api-01", "backend-api-02"]
    .iter()
    .map(|h| main_pid(&drill, h, "backend-api"))
    .collect();

  let url = format!("external_api_url=http://{PROVIDER_NAME}:{PROVIDER_PORT}/health");
  let port = format!("external_port={PROVIDER_PORT}");
  let args = ["--var", url.as_str(), "--var", port.as_str()];

  // Triage: the latency check failed on both api hosts (a measured 6 s, not "cannot judge"),
  // the network path to the provider is fine.
  let mut triage_args = vec!["--checks-only"];
  triage_args.extend(args);
  // Triage does not wait for a recovery: `provider-recovered` follows manual steps triage does
  // not do, so it is tried once.
  let triage = drill.run("external-api-timeout", &triage_args);
  assert_eq!(
    triage.code,
    crate::test::exit::FAILURE,
    "{}\n{}",
    triage.stdout,
    triage.stderr
  );
  let journal = drill.journal();
  // No manual step is done in triage, only listed.
  assert!(
    journal
      .iter()
      .any(|r| r["type"] == "manual" && r["step"] == "enable-fallback"),
    "{}",
    triage.stdout
  );
  assert_eq!(
    outcome(&journal, "external-latency"),
    ["failed", "failed"],
    "{}",
    triage.stdout
  );
  for r in journal
    .iter()
    .filter(|r| r["type"] == "host-result" && r["step"] == "external-latency")
  {
    let stdout = r["stdout"].as_str().unwrap_or_default();
    assert!(
      stdout.contains("http=200 time_ms="),
      "the stall was not measured as a slow answer: {r}"
    );
  }
  assert_eq!(
    outcome(&journal, "external-connect"),
    ["passed", "passed"],
    "{}",
    triage.stdout
  );
  // One try each, no waiting for the provider to come back.
  for r in journal
    .iter()
    .filter(|r| r["type"] == "host-result" && r["step"] == "provider-recovered")
  {
    assert_eq!(r["outcome"], "failed", "{r}");
    assert_eq!(r["attempts"], 1, "{r}");
  }

  // The provider stalls again, for the walk.
  provider(&drill, STALL_MS);
  drill.systemctl(PROVIDER_HOST, "restart", PROVIDER_UNIT);
  assert!(call_provider(&drill, "backend-api-01").1 >= u64::from(STALL_MS));

  // The walk: every manual step of the path is done; the provider recovers while users are
  // being told (the last manual step before the runbook checks for recovery).
  let (answered, screen) = drill.walk("external-api-timeout", &args, |prompt, step| {
    match (prompt, step) {
      (Prompt::Manual, "notify-users") => {
        provider(&drill, 0);
        drill.systemctl(PROVIDER_HOST, "restart", PROVIDER_UNIT);
        "done".into()
      }
      (Prompt::Manual, _) => "done".into(),
      _ => "skip".into(),
    }
  });
  let manual: Vec<&str> = answered
    .iter()
    .filter_map(|a| a.strip_prefix("Manual "))
    .filter_map(|a| a.split_whitespace().next())
    .collect();
  assert_eq!(
    manual,
    [
      "provider-status",
      "circuit-breaker-state",
      "enable-fallback",
      "tune-timeouts",
      "report-to-provider",
      "notify-users",
      "reset-circuit-breaker",
    ],
    "answered: {answered:#?}\n{screen}"
  );
  let journal = drill.journal();
  assert_eq!(
    outcome(&journal, "external-latency"),
    ["failed", "failed"],
    "answered: {answered:#?}"
  );
  assert_eq!(
    outcome(&journal, "provider-recovered"),
    ["passed", "passed"],
    "answered: {answered:#?}\n{screen}"
  );
  assert_eq!(
    outcome(&journal, "verify-api-latency"),
    ["passed", "passed"],
    "answered: {answered:#?}\n{screen}"
  );
  assert_eq!(
    outcome(&journal, "verify-no-timeouts"),
    ["passed", "passed"],
    "answered: {answered:#?}\n{screen}"
  );
  // Healed: the provider answers at once again; the API hosts were left alone.
  for api in ["backend-api-01", "backend-api-02"] {
    let (code, ms) = call_provider(&drill, api);
    assert_eq!(code, "200");
    assert!(ms < 2000, "the provider still stalls: {ms} ms");
  }
  let apis_after: Vec<String> = ["backend-api-01", "backend-api-02"]
    .iter()
    .map(|h| main_pid(&drill, h, "backend-api"))
    .collect();
  assert_eq!(apis_before, apis_after, "an API host was restarted");
}

/// What the public sees of the edge, from the operator's machine: the HTTP status of its
/// health endpoint ("000" when nothing answers).
fn public_status(drill: &Drill) -> String {
  let out = std::process::Command::new("curl")
    .args([
      "-s",
      "-o",
      "/dev/null",
      "-w",
      "%{http_code}",
      "--max-time",
      "3",
    ])
    .arg(format!("http://{}/health", drill.ip("edge-proxy-01")))
    .output()
    .unwrap();
  String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// network-outage: edge-proxy-01's link goes down (the site is cut off from its users) while the
/// API hosts are healthy. The runbook's checks find it (public health fails, DNS and the
/// internal API pass); the walk offers the user notice, Cloudflare and cloud-routing steps; the
/// link comes back while traffic is being routed, and every recovery check passes. The
/// OpenAI-fallback action (kubectl) is declined: nothing on the fleet is changed by the runbook.
#[test]
fn network_outage_finds_a_cut_edge_and_verifies_it_once_reconnected() {
  let drill = Drill::up(&["edge-proxy-01", "backend-api-01", "backend-api-02"]);
  for api in ["backend-api-01", "backend-api-02"] {
    drill.app(api, "backend-api", 8000, "/var/log/backend-api/app.log", "");
  }
  drill.stock_nginx(
    "edge-proxy-01",
    &["backend-api-01", "backend-api-02"],
    "api.dreamseedai.com edge-proxy-01",
  );
  drill.alias("edge-proxy-01", "api.dreamseedai.com");
  assert_eq!(
    public_status(&drill),
    "200",
    "the edge is down before the break"
  );
  let nginx_before = main_pid(&drill, "edge-proxy-01", "nginx");

  // The fleet's gateway (fleet.sh: .254 of the fleet's subnet), as the edge's default route.
  let gateway = drill.script("edge-proxy-01", "ip route show default | awk '{print $3}'");
  let gateway = gateway.trim().to_string();
  assert!(gateway.ends_with(".254"), "{gateway}");
  // The break: the edge's link is down; nothing reaches it, it reaches nothing.
  drill.link("edge-proxy-01", "down");
  assert_eq!(public_status(&drill), "000", "the break did not take");

  let args = [
    "--var",
    "public_health_url=http://edge-proxy-01/health",
    "--var",
    "external_probe_url=http://backend-api-01:8000/health",
    "--connect-timeout",
    "3s",
  ];
  let mut triage_args = vec!["--checks-only"];
  triage_args.extend(args);
  let triage = drill.run("network-outage", &triage_args);
  assert_eq!(
    triage.code,
    crate::test::exit::FAILURE,
    "{}\n{}",
    triage.stdout,
    triage.stderr
  );
  let journal = drill.journal();
  assert_eq!(
    outcome(&journal, "public-health"),
    ["failed"],
    "{}",
    triage.stdout
  );
  assert_eq!(
    outcome(&journal, "public-dns"),
    ["passed"],
    "{}",
    triage.stdout
  );
  assert_eq!(
    outcome(&journal, "internal-health"),
    ["passed", "passed"],
    "the API hosts are healthy: {}",
    triage.stdout
  );
  // The edge itself cannot be asked: it is cut off (unreachable: neither passed nor failed).
  for step in ["edge-nginx", "edge-default-route", "edge-uplink"] {
    assert_eq!(
      outcome(&journal, step),
      ["unreachable"],
      "{}",
      triage.stdout
    );
  }
  assert_eq!(public_status(&drill), "000", "triage healed the edge");

  // The walk: the manual steps are done, the cloud fallback declined; the link comes back while
  // public traffic is being routed (the last manual step before the recovery checks).
  let (answered, screen) = drill.walk("network-outage", &args, |prompt, step| {
    match (prompt, step) {
      (Prompt::Manual, "route-to-cloud") => {
        // The link back, and the default route the kernel dropped with it.
        drill.link("edge-proxy-01", "up");
        drill.script(
          "edge-proxy-01",
          &format!("ip route replace default via {gateway}"),
        );
        "done".into()
      }
      (Prompt::Manual, _) => "done".into(),
      _ => "skip".into(),
    }
  });
  let offered: Vec<&str> = answered
    .iter()
    .filter_map(|a| a.split_whitespace().nth(1))
    .collect();
  for step in [
    "cloudflare-check",
    "outage-notice",
    "openai-fallback",
    "route-to-cloud",
  ] {
    assert!(
      offered.contains(&step),
      "{step} was not offered; answered: {answered:#?}\n{screen}"
    );
  }
  assert_eq!(public_status(&drill), "200", "answered: {answered:#?}");
  let journal = drill.journal();
  assert_eq!(outcome(&journal, "public-health"), ["failed"], "{screen}");
  assert!(
    outcome(&journal, "openai-fallback").is_empty(),
    "the fallback ran: answered: {answered:#?}"
  );
  for step in ["external-restored", "verify-public-health"] {
    assert_eq!(
      outcome(&journal, step),
      ["passed"],
      "{step}: answered: {answered:#?}\n{screen}"
    );
  }
  // The edge was unreachable at the run's preflight; after the manual steps were done the run
  // tried it once more, reached it, and verified its uplink in the same run.
  assert_eq!(
    outcome(&journal, "verify-edge-uplink"),
    ["passed"],
    "{screen}"
  );
  assert!(screen.contains("edge-proxy-01 answers again"), "{screen}");
  let edge = drill.script(
    "edge-proxy-01",
    "ip route show default; curl -sS -o /dev/null -w '%{http_code}\\n' --max-time 10 http://backend-api-01:8000/health",
  );
  assert!(
    edge.starts_with("default ") && edge.trim_end().ends_with("200"),
    "{edge}"
  );
  // Only the link was broken and only the link came back: Nginx was not restarted.
  assert_eq!(main_pid(&drill, "edge-proxy-01", "nginx"), nginx_before);
}

/// The API as a leaking service: /health answers 200, each POST /api/work keeps 1 MiB for good
/// (written, so resident), as sessions never closed would.
const LEAKY_API: &str = r#"import http.server
kept = []
class H(http.server.BaseHTTPRequestHandler):
    def reply(self, body):
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
        self.reply(b"ok\n")
    def do_POST(self):
        kept.append(b"x" * (1 << 20))
        self.reply(b"done\n")
    def log_message(self, *_):
        pass
http.server.ThreadingHTTPServer(("0.0.0.0", 8000), H).serve_forever()
"#;

/// The resident memory of `host`'s backend-api process, in MiB.
fn api_rss_mib(drill: &Drill, host: &str) -> u64 {
  let pid = main_pid(drill, host, "backend-api");
  let pid = pid.trim_start_matches("MainPID=");
  let rss = drill.script(host, &format!("ps -o rss= -p {pid}"));
  rss.trim().parse::<u64>().unwrap() / 1024
}

/// memory-leak: backend-api-01's API leaks (250 MiB kept by 250 requests; backend-api-02 serves
/// the same way without them), over the limit the operator sets for it (`max_api_rss_mib=200`).
/// The runbook, from its first step, finds the leak on backend-api-01 alone (`api-memory`: the
/// service's own resident memory), has the evidence collected, offers the restart there, and
/// verifies it: a new process, small again, answering; backend-api-02 keeps its process. The
/// host-wide checks (`mem-usage`, `top-process`) measure the machine the test hosts share and
/// are not asserted: whatever they find, backend-api-02's restart is declined here.
#[test]
fn memory_leak_finds_the_leaking_api_host_and_restarts_it_and_only_it() {
  let drill = Drill::up(&["backend-api-01", "backend-api-02"]);
  for api in ["backend-api-01", "backend-api-02"] {
    let script = drill.host_dir(api).join("leaky_api.py");
    std::fs::write(&script, LEAKY_API).unwrap();
    drill.unit(
      api,
      "backend-api",
      &format!("python3 {}", script.display()),
      "curl -fsS -o /dev/null http://127.0.0.1:8000/health",
    );
    drill.systemctl(api, "start", "backend-api");
  }
  let limit = ["--var", "max_api_rss_mib=200"];
  // Before the leak: the API's own memory is within its limit on both hosts.
  let triage = drill.run(
    "memory-leak",
    &[&["--checks-only"][..], &limit[..]].concat(),
  );
  let journal = drill.journal();
  assert_eq!(
    outcome(&journal, "api-memory"),
    ["passed", "passed"],
    "{}",
    triage.stdout
  );
  // The leak: 250 requests on backend-api-01, 250 MiB that are never given back.
  drill.script(
    "backend-api-01",
    "for i in $(seq 1 250); do curl -fsS -o /dev/null -X POST http://127.0.0.1:8000/api/work; done",
  );
  let leaked = api_rss_mib(&drill, "backend-api-01");
  let other = api_rss_mib(&drill, "backend-api-02");
  assert!(leaked >= 250, "the leak did not take: {leaked} MiB");
  assert!(other < 100, "backend-api-02 is not small: {other} MiB");
  let pid_01 = main_pid(&drill, "backend-api-01", "backend-api");
  let pid_02 = main_pid(&drill, "backend-api-02", "backend-api");

  let (answered, screen) = drill.walk("memory-leak", &limit, |prompt, step| match (prompt, step) {
    (Prompt::Run, "restart-api-01") => "yes".into(),
    (Prompt::Manual, _) => "done".into(),
    _ => "skip".into(),
  });
  let journal = drill.journal();
  // Found on backend-api-01 alone, by the service's own memory.
  let found = on_hosts(&journal, "api-memory");
  assert!(
    found.contains(&("backend-api-01", "failed")) && found.contains(&("backend-api-02", "passed")),
    "{found:?}\n{screen}"
  );
  assert!(
    answered.iter().any(|a| a.contains("collect-heap-evidence")),
    "the evidence was not asked for before the restart: {answered:#?}"
  );
  // Healed on backend-api-01: a new process, small again, answering.
  let pid_after = main_pid(&drill, "backend-api-01", "backend-api");
  assert_ne!(pid_after, pid_01, "backend-api-01 was not restarted");
  assert_ne!(pid_after, "MainPID=0", "backend-api-01 is not running");
  let freed = api_rss_mib(&drill, "backend-api-01");
  assert!(
    freed < 100,
    "backend-api-01 still holds {freed} MiB; answered: {answered:#?}"
  );
  // backend-api-02 was not restarted.
  assert_eq!(main_pid(&drill, "backend-api-02", "backend-api"), pid_02);
  assert_eq!(outcome(&journal, "restart-api-01"), ["passed"], "{screen}");
  assert!(outcome(&journal, "restart-api-02").is_empty(), "{screen}");
  assert_eq!(outcome(&journal, "health-api-01"), ["passed"], "{screen}");
  assert_eq!(
    outcome(&journal, "verify-api-memory"),
    ["passed", "passed"],
    "{screen}"
  );
  assert_eq!(
    outcome(&journal, "verify-api-health"),
    ["passed", "passed"],
    "{screen}"
  );
}
