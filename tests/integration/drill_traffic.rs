//! Fire drills for traffic and release incidents: Nginx workers out of connections, an HTTP
//! flood, a bad deploy and an intrusion, each made real on test hosts and met by the shipped
//! runbook, unchanged. Loads stay on the fleet's hosts, bounded in connections, requests and time.

use std::time::{Duration, Instant};

use crate::drill::{Drill, Prompt, decided, outcome};
use crate::test::exit;

/// The edge, both API hosts (the runbooks check both upstreams) and one more host to send
/// traffic from.
const EDGE_FLEET: [&str; 4] = [
  "edge-proxy-01",
  "backend-api-01",
  "backend-api-02",
  "monitoring-01",
];

/// The packaged Nginx on the edge in front of both API hosts' application stand-ins.
fn edge(drill: &Drill) {
  for api in ["backend-api-01", "backend-api-02"] {
    drill.app(api, "backend-api", 8000, "/var/log/backend-api/app.log", "");
  }
  drill.stock_nginx(
    "edge-proxy-01",
    &["backend-api-01", "backend-api-02"],
    "api.dreamseedai.com edge-proxy-01",
  );
}

/// The HTTP status of `url` fetched on `host` (000: no answer within 3 s).
fn status(drill: &Drill, host: &str, url: &str) -> String {
  let out = drill.exec(
    host,
    &format!("curl -s -o /dev/null -w '%{{http_code}}' --max-time 3 {url}"),
  );
  String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Polls `probe` every 200 ms for up to `secs`: whether it came true.
fn eventually(secs: u64, mut probe: impl FnMut() -> bool) -> bool {
  let deadline = Instant::now() + Duration::from_secs(secs);
  loop {
    if probe() {
      return true;
    }
    if Instant::now() > deadline {
      return false;
    }
    std::thread::sleep(Duration::from_millis(200));
  }
}

fn main_pid(drill: &Drill, host: &str, unit: &str) -> String {
  drill
    .script(host, &format!("systemctl show -p MainPID {unit}"))
    .trim()
    .to_string()
}

/// Keeps `n` connections to the edge's port 80 open from `host`, each with a request header it
/// never finishes (Nginx keeps such a connection until client_header_timeout, 60 s, and the
/// holder opens a new one for every one closed, at most five a second), for at most `secs`.
/// Its pid file is under the host's run/, so the fleet's `down` ends it too.
fn hold_connections(drill: &Drill, host: &str, n: u32, secs: u32) -> String {
  let pidfile = drill.host_dir(host).join("run/holder.pid");
  let holder = r#"
import select, socket, sys, time
host, n = sys.argv[1], int(sys.argv[2])
def connect():
    try:
        s = socket.create_connection((host, 80), timeout=2)
        s.sendall(b"GET /health HTTP/1.1\r\nHost: api.dreamseedai.com\r\n")
        return s
    except OSError:
        return None
socks = []
while True:
    socks = [s for s in socks if s is not None]
    if socks:
        readable, _, _ = select.select(socks, [], [], 0.2)
        for s in readable:
            try:
                gone = s.recv(4096) == b""
            except OSError:
                gone = True
            if gone:
                s.close()
                socks.remove(s)
    else:
        time.sleep(0.2)
    if len(socks) < n:
        socks.append(connect())
        time.sleep(0.2)
"#;
  std::fs::write(drill.host_dir(host).join("holder.py"), holder).unwrap();
  drill.script(
    host,
    &format!(
      "setsid timeout {secs} python3 {} edge-proxy-01 {n} </dev/null >/dev/null 2>&1 & echo $! > {}",
      drill.host_dir(host).join("holder.py").display(),
      pidfile.display()
    ),
  );
  std::fs::read_to_string(pidfile).unwrap().trim().to_string()
}

/// proxy-outage, worker exhaustion: the packaged Nginx with `worker_connections 16`, and
/// another host holding 64 connections open. The runbook finds the "worker_connections are not
/// enough" alerts, raises the setting to the seed's 2048 and reloads Nginx (its master stays:
/// no restart), and the route answers again while the connections are still held. Before the
/// break, the stock `worker_connections 768` is left alone.
#[test]
fn proxy_outage_raises_exhausted_worker_connections_by_a_reload() {
  let drill = Drill::up(&EDGE_FLEET);
  edge(&drill);
  let public = "public_health_url=http://edge-proxy-01/health";
  let health = || status(&drill, "edge-proxy-01", "http://127.0.0.1/health");
  assert_eq!(health(), "200");

  let started = Instant::now();
  let stock = drill.run("proxy-outage", &["--checks-only", "--var", public]);
  assert_eq!(stock.code, exit::SUCCESS, "{}", stock.stdout);
  let journal = drill.journal();
  assert_eq!(outcome(&journal, "worker-config"), ["passed"]);
  assert!(
    !journal.iter().any(|r| r["type"] == "would-run"),
    "a stock Nginx had something proposed:\n{}",
    stock.stdout
  );
  println!("stock triage took {:?}", started.elapsed());

  // The break: few connections per worker, applied as an administrator would (a reload).
  drill.script(
    "edge-proxy-01",
    "sed -i 's/worker_connections 768;/worker_connections 16;/' /etc/nginx/nginx.conf
     grep -q 'worker_connections 16;' /etc/nginx/nginx.conf",
  );
  let before_conf = drill.script("edge-proxy-01", "cat /etc/nginx/nginx.conf");
  drill.systemctl("edge-proxy-01", "reload", "nginx");
  let master = main_pid(&drill, "edge-proxy-01", "nginx");
  let holder = hold_connections(&drill, "monitoring-01", 64, 240);
  // Exhausted: the route fails three times running (the holder needs a few seconds to fill
  // both workers).
  let mut failures = 0;
  assert!(
    eventually(40, || {
      failures = if health() == "200" { 0 } else { failures + 1 };
      failures >= 3
    }),
    "the held connections did not exhaust the workers"
  );
  let alerts = drill.script(
    "edge-proxy-01",
    "grep -c 'worker_connections are not enough' /var/log/nginx/error.log || true",
  );
  assert_ne!(alerts.trim(), "0", "no exhaustion in the error log");

  let started = Instant::now();
  let run = drill.run("proxy-outage", &["--yes", "--var", public]);
  let took = started.elapsed();
  println!("proxy-outage run took {took:?}:\n{}", run.stdout);
  // Healed while the connections are still held.
  assert!(
    drill
      .exec("monitoring-01", &format!("kill -0 {holder}"))
      .status
      .success(),
    "the holder ended before the check"
  );
  assert_eq!(health(), "200", "{}\n{}", run.stdout, run.stderr);
  assert_eq!(
    status(&drill, "monitoring-01", "http://edge-proxy-01/health"),
    "200"
  );
  assert_eq!(
    main_pid(&drill, "edge-proxy-01", "nginx"),
    master,
    "Nginx was restarted, not reloaded"
  );
  // Only the one setting changed, and the file before the change is kept next to it.
  let diff = drill.script(
    "edge-proxy-01",
    "for f in /etc/nginx/nginx.conf.megacity-*; do diff \"$f\" /etc/nginx/nginx.conf || true; done",
  );
  let changed: Vec<&str> = diff
    .lines()
    .filter(|l| l.starts_with('<') || l.starts_with('>'))
    .collect();
  assert_eq!(
    changed,
    ["< \tworker_connections 16;", "> \tworker_connections 2048;"],
    "{diff}"
  );
  let kept = drill.script("edge-proxy-01", "cat /etc/nginx/nginx.conf.megacity-*");
  assert_eq!(kept, before_conf);

  let journal = drill.journal();
  assert_eq!(outcome(&journal, "proxy-health"), ["failed"]);
  assert_eq!(outcome(&journal, "nginx-status"), ["passed"]);
  assert_eq!(outcome(&journal, "worker-config"), ["failed"]);
  assert!(decided(&journal, "raise-worker-connections", "yes"));
  assert_eq!(outcome(&journal, "raise-worker-connections"), ["passed"]);
  assert_eq!(outcome(&journal, "reload-nginx"), ["passed"]);
  assert!(
    outcome(&journal, "restart-nginx").is_empty(),
    "{}",
    run.stdout
  );
  assert!(!decided(&journal, "restart-nginx", "yes"));
  assert_eq!(outcome(&journal, "verify-proxy-health"), ["passed"]);
  assert_eq!(outcome(&journal, "verify-public"), ["passed"]);
}

/// The result record of `step` on `host`.
fn result<'a>(journal: &'a [serde_json::Value], step: &str, host: &str) -> &'a serde_json::Value {
  journal
    .iter()
    .rev()
    .find(|r| r["type"] == "host-result" && r["step"] == step && r["host"] == host)
    .unwrap_or_else(|| panic!("no result of {step} on {host}"))
}

/// The machine's clock, `date +FORMAT`.
fn clock(format: &str) -> String {
  let out = std::process::Command::new("date")
    .arg(format!("+{format}"))
    .output()
    .unwrap();
  String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// ddos: the edge has a web-port ACCEPT rule (as ufw or firewalld would) and an access log with
/// an hour of ordinary traffic (40 requests a minute from 50 addresses, written as history);
/// ordinary traffic goes on from monitoring-01 (one request a second). gpu-cluster-01 then
/// floods the edge: 3,000 requests, at most 15 s, all within one minute. The runbook finds the
/// flood (last full minute against the older baseline) and the top client; the operator writes
/// that address into the blocklist; the destructive block drops it on 80/443 only, before the
/// ACCEPT rule, so SSH from it still works; and once the flood's minute is past, the
/// verification no longer declares a flood.
#[test]
fn ddos_blocks_the_flooding_host_on_web_ports_only_and_sees_the_flood_end() {
  let mut hosts = EDGE_FLEET.to_vec();
  hosts.push("gpu-cluster-01");
  let drill = Drill::up(&hosts);
  edge(&drill);
  let attacker = "gpu-cluster-01";
  let attacker_ip = drill.ip(attacker);
  drill.script(
    "edge-proxy-01",
    "command -v iptables >/dev/null || { echo 'iptables is missing; the ddos drill needs it: apt-get install -y iptables' >&2; exit 1; }
     iptables -A INPUT -p tcp -m multiport --dports 80,443 -j ACCEPT
     iptables -A INPUT -p tcp --dport 22 -j ACCEPT",
  );
  let history = r#"
import time
now = int(time.time()) // 60 * 60
with open("/var/log/nginx/access.log") as f:
    live = f.read()
lines = []
for m in range(90, 30, -1):
    for i in range(40):
        t = time.localtime(now - m * 60 + i)
        ts = time.strftime("%d/%b/%Y:%H:%M:%S %z", t)
        lines.append(f'127.0.1.{i % 50 + 1} - - [{ts}] "GET /health HTTP/1.1" 200 3 "-" "curl/7.88.1"\n')
with open("/var/log/nginx/access.log", "w") as f:
    f.write("".join(lines) + live)
"#;
  drill.script("edge-proxy-01", &format!("python3 - <<'PY'\n{history}PY"));
  drill.script(
    "monitoring-01",
    "setsid timeout 420 sh -c 'while :; do curl -s -o /dev/null --max-time 2 http://edge-proxy-01/health; sleep 1; done' </dev/null >/dev/null 2>&1 &",
  );

  // The flood, within one minute of the clock: it starts at second 40 at the latest.
  let second: u32 = clock("%S").parse().unwrap();
  if second > 40 {
    std::thread::sleep(Duration::from_secs(u64::from(61 - second)));
  }
  let flood_started = Instant::now();
  let flood = drill.exec(
    attacker,
    "timeout 15 curl -s -Z --parallel-max 8 -o /dev/null 'http://edge-proxy-01/health?n=[1-3000]' >/dev/null; echo done",
  );
  assert!(flood.status.success(), "{flood:?}");
  let flood_minute = clock("%H:%M");
  println!("flood took {:?}", flood_started.elapsed());
  let flooded = drill.script(
    "edge-proxy-01",
    &format!("grep -c '^{attacker_ip} ' /var/log/nginx/access.log || true"),
  );
  let flooded: u32 = flooded.trim().parse().unwrap();
  assert!(
    flooded > 1500,
    "only {flooded} requests of the flood arrived"
  );
  // The flood's minute is over, and ordinary traffic has logged the next one.
  assert!(eventually(70, || clock("%H:%M") != flood_minute));
  std::thread::sleep(Duration::from_secs(2));

  let public = "public_health_url=http://edge-proxy-01/health";
  let blocklist = "/etc/nginx/ddos-blocklist.txt";
  let started = Instant::now();
  let (answered, screen) = drill.walk("ddos", &["--var", public], |prompt, step| {
    match (prompt, step) {
      (Prompt::Manual, "write-blocklist") => {
        // What the operator does with top-clients' list: the flooding address, nothing else.
        drill.script(
          "edge-proxy-01",
          &format!("printf '# flood from the drill\\n{attacker_ip}\\n' > {blocklist}"),
        );
        "done".into()
      }
      (Prompt::Destructive, "block-addresses") => "edge-proxy-01".into(),
      _ => "skip".into(),
    }
  });
  let took = started.elapsed();
  println!("ddos walk took {took:?}; answered: {answered:#?}");
  let journal = drill.journal();

  // Found: the flood's minute against the baseline, and the one address behind it.
  assert_eq!(outcome(&journal, "traffic-ratio"), ["failed"], "{screen}");
  let top = result(&journal, "top-clients", "edge-proxy-01");
  assert_eq!(top["outcome"], "failed", "{top}");
  let first = top["stdout"].as_str().unwrap().lines().next().unwrap_or("");
  assert!(first.ends_with(&format!(" {attacker_ip}")), "{top}");

  // Blocked as a destructive step, on the web ports only, ahead of the ACCEPT rule.
  assert!(
    answered.contains(&"Destructive block-addresses -> edge-proxy-01".to_string()),
    "{answered:#?}"
  );
  assert_eq!(outcome(&journal, "block-addresses"), ["passed"]);
  let rules = drill.script("edge-proxy-01", "iptables -S INPUT");
  let rules: Vec<&str> = rules.lines().collect();
  assert_eq!(
    rules,
    [
      "-P INPUT ACCEPT",
      &format!("-A INPUT -s {attacker_ip}/32 -p tcp -m multiport --dports 80,443 -j DROP"),
      "-A INPUT -p tcp -m multiport --dports 80,443 -j ACCEPT",
      "-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT",
    ],
    "{answered:#?}"
  );
  assert_eq!(
    status(&drill, attacker, "http://edge-proxy-01/health"),
    "000"
  );
  let ssh = drill.exec(
    attacker,
    &format!(
      "ssh -F {} edge-proxy-01 hostname",
      drill.dir.path().join("ssh_config").display()
    ),
  );
  assert_eq!(
    String::from_utf8_lossy(&ssh.stdout).trim(),
    "edge-proxy-01",
    "SSH from the blocked host: {}",
    String::from_utf8_lossy(&ssh.stderr)
  );
  assert_eq!(
    status(&drill, "monitoring-01", "http://edge-proxy-01/health"),
    "200"
  );

  // The flood is over: the verification says so once a full minute without it is logged.
  assert_eq!(
    result(&journal, "verify-traffic", "edge-proxy-01")["outcome"],
    "passed",
    "{screen}"
  );
  assert_eq!(outcome(&journal, "verify-public-health"), ["passed"]);
  // Nothing on the operator's machine or in the cloud was touched.
  assert!(decided(&journal, "cap-cloud-run", "skip"));
  assert!(outcome(&journal, "cap-cloud-run").is_empty());
}
