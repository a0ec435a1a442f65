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

/// The run's closing summary (one line per step) from what megacity wrote to its terminal.
fn summary(screen: &str) -> &str {
  screen.rfind("Summary").map_or(screen, |at| &screen[at..])
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
  // The flood's minute is over, and ordinary traffic has logged the next one (the runbook's
  // "last full minute" is the one before the newest logged).
  assert!(eventually(70, || clock("%H:%M") != flood_minute));
  assert!(eventually(15, || {
    drill
      .exec(
        "edge-proxy-01",
        "grep -q \"$(LC_ALL=C date '+%d/%b/%Y:%H:%M')\" /var/log/nginx/access.log",
      )
      .status
      .success()
  }));

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

/// An account of the drill's own on a host with a private /etc and /home: its passwd, shadow
/// and group lines and its home (written directly: useradd would also touch the machine's
/// /var/log/lastlog), with `keys` as its authorized_keys.
fn account(drill: &Drill, host: &str, name: &str, uid: u32, keys: &str) {
  drill.script(
    host,
    &format!(
      "echo '{name}:x:{uid}:{uid}::/home/{name}:/bin/bash' >> /etc/passwd
       echo '{name}:$6$drill$notarealhash:20000:0:99999:7:::' >> /etc/shadow
       echo '{name}:x:{uid}:' >> /etc/group
       mkdir -p /home/{name}/.ssh
       printf '%s\\n' '{keys}' > /home/{name}/.ssh/authorized_keys
       chown -R {uid}:{uid} /home/{name}
       chmod 700 /home/{name}/.ssh"
    ),
  );
}

/// A key pair made for the drill on `host`: (public key line, fingerprint).
fn key(drill: &Drill, host: &str, name: &str) -> (String, String) {
  let path = drill.host_dir(host).join(name);
  drill.script(
    host,
    &format!(
      "ssh-keygen -q -t ed25519 -N '' -C {name} -f {}",
      path.display()
    ),
  );
  let public = std::fs::read_to_string(path.with_extension("pub")).unwrap();
  let fp = drill.script(
    host,
    &format!("ssh-keygen -lf {}.pub | cut -d' ' -f2", path.display()),
  );
  (public.trim().to_string(), fp.trim().to_string())
}

/// security-incident, an intrusion: on backend-api-01 the intruder has an account with its key,
/// a running process, and its key also planted in the deploy account's authorized_keys (next to
/// deploy's own key). Declared as an intrusion, the runbook writes an evidence snapshot (with a
/// manifest whose hash it records) on both API hosts before anything changes, then locks and
/// expires the intruder's account, ends its processes, removes its key everywhere (keeping the
/// originals) and isolates the host but for megacity's SSH. The deploy account, its key and its
/// process, root, and backend-api-02 are left as they were.
#[test]
fn security_incident_collects_evidence_then_contains_an_intrusion_and_nothing_else() {
  let drill = Drill::up(&["edge-proxy-01", "backend-api-01", "backend-api-02"]);
  require_nft(&drill);
  for api in ["backend-api-01", "backend-api-02"] {
    drill.app(api, "backend-api", 8000, "/var/log/backend-api/app.log", "");
    // The evidence and root's home are the host's own (the machine's stay untouched).
    drill.private(api, "/var/lib/megacity-evidence", false);
    drill.private(api, "/root", false);
  }
  let suspect = "backend-api-01";
  drill.private(suspect, "/etc", true);
  drill.private(suspect, "/home", false);
  // The copied /etc hides the fleet's hosts file the host had.
  drill.script(
    suspect,
    &format!(
      "mount --bind {} /etc/hosts",
      drill.dir.path().join("etc-hosts").display()
    ),
  );
  let (intruder_key, fp) = key(&drill, suspect, "intruder-key");
  let (deploy_key, _) = key(&drill, suspect, "deploy-key");
  account(&drill, suspect, "intruder", 4242, &intruder_key);
  account(
    &drill,
    suspect,
    "deploy",
    4243,
    &format!("{deploy_key}\n{intruder_key}"),
  );
  // Processes of both accounts (bounded: they end by themselves after 10 minutes).
  drill.script(
    suspect,
    "setsid setpriv --reuid=4242 --regid=4242 --clear-groups sleep 600 </dev/null >/dev/null 2>&1 &
     setsid setpriv --reuid=4243 --regid=4243 --clear-groups sleep 601 </dev/null >/dev/null 2>&1 &
     sleep 0.2",
  );
  let processes = |uid: u32| {
    drill
      .script(suspect, &format!("pgrep -u {uid} -x sleep | wc -l"))
      .trim()
      .to_string()
  };
  assert_eq!(processes(4242), "1");
  assert_eq!(processes(4243), "1");
  let shadow = |name: &str| {
    drill
      .script(suspect, &format!("getent shadow {name}"))
      .trim()
      .to_string()
  };
  let deploy_shadow = shadow("deploy");
  let root_shadow = shadow("root");
  let machine_passwd = std::fs::read_to_string("/etc/passwd").unwrap();
  let serves = |from: &str, to: &str| status(&drill, from, &format!("http://{to}:8000/health"));
  assert_eq!(serves("edge-proxy-01", suspect), "200");

  let vars = [
    "incident=intrusion".to_string(),
    "incident_id=INC-20261203-7".to_string(),
    format!("suspect_host={suspect}"),
    "os_account=intruder".to_string(),
    format!("key_fingerprint={fp}"),
  ];
  let mut args = vec!["--host", "backend-api-01", "--host", "backend-api-02"];
  for v in &vars {
    args.extend(["--var", v.as_str()]);
  }
  let started = Instant::now();
  let (answered, screen) = drill.walk("security-incident", &args, |prompt, step| {
    match (prompt, step) {
      (Prompt::Manual, "declare" | "evidence-off-host") => "done".into(),
      (Prompt::Run, "evidence-snapshot" | "lock-account") => "yes".into(),
      (Prompt::Destructive, "end-sessions" | "revoke-key" | "isolate-host") => suspect.into(),
      _ => "skip".into(),
    }
  });
  println!(
    "security-incident walk took {:?}; answered: {answered:#?}",
    started.elapsed()
  );
  let journal = drill.journal();

  // Evidence first, on both hosts, with a manifest that still verifies and whose hash the
  // journal holds.
  for host in ["backend-api-01", "backend-api-02"] {
    let snap = result(&journal, "evidence-snapshot", host);
    assert_eq!(snap["outcome"], "passed", "{snap}");
    let captured = &snap["captured"];
    let get = |name: &str| {
      captured
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c[0] == name)
        .unwrap_or_else(|| panic!("no {name} captured: {snap}"))[1]
        .as_str()
        .unwrap()
        .to_string()
    };
    let dir = get("evidence");
    assert!(
      dir.starts_with(&format!(
        "/var/lib/megacity-evidence/INC-20261203-7/{host}-"
      )),
      "{dir}"
    );
    let check = drill.script(
      host,
      &format!("cd {dir} && sha256sum -c --quiet SHA256SUMS && sha256sum SHA256SUMS | cut -d' ' -f1 && grep -c . ps.txt"),
    );
    let mut lines = check.lines();
    assert_eq!(lines.next(), Some(get("manifest").as_str()));
    assert!(lines.next().unwrap().parse::<u32>().unwrap() > 5);
  }
  let first_change = journal
    .iter()
    .position(|r| r["type"] == "host-result" && r["step"] == "lock-account")
    .expect("lock-account ran");
  let last_evidence = journal
    .iter()
    .rposition(|r| r["type"] == "host-result" && r["step"] == "evidence-snapshot")
    .unwrap();
  assert!(last_evidence < first_change, "evidence after a change");

  // Found and contained on the suspect host only.
  for step in ["account-can-login", "key-authorized", "host-isolated"] {
    assert_eq!(
      result(&journal, step, suspect)["outcome"],
      "failed",
      "{step}"
    );
    assert_eq!(
      result(&journal, step, "backend-api-02")["outcome"],
      "passed",
      "{step}"
    );
  }
  for step in ["lock-account", "end-sessions", "revoke-key", "isolate-host"] {
    assert_eq!(
      outcome(&journal, step),
      ["passed"],
      "{step}: {answered:#?}\n{screen}"
    );
    assert_eq!(result(&journal, step, suspect)["outcome"], "passed");
  }
  // Each verification where its action ran, and only there.
  for step in ["account-locked", "key-revoked", "host-isolated-after"] {
    assert_eq!(
      result(&journal, step, suspect)["outcome"],
      "passed",
      "{step}"
    );
    assert_eq!(
      result(&journal, step, "backend-api-02")["outcome"],
      "not-applicable",
      "{step}"
    );
  }
  let intruder = shadow("intruder");
  let fields: Vec<&str> = intruder.split(':').collect();
  assert!(fields[1].starts_with('!'), "{intruder}");
  assert_eq!(fields[7], "1", "{intruder}");
  assert_eq!(processes(4242), "0", "the intruder's process survived");
  let keys = |name: &str| drill.script(suspect, &format!("cat /home/{name}/.ssh/authorized_keys"));
  assert_eq!(keys("intruder").trim(), "");
  assert_eq!(keys("deploy").trim(), deploy_key);
  let kept = drill.script(
    suspect,
    "cat /var/lib/megacity-evidence/revoked-keys-*/_home_deploy_.ssh_authorized_keys",
  );
  assert_eq!(kept.trim(), format!("{deploy_key}\n{intruder_key}"));
  // Isolated: nothing reaches its service; megacity's SSH went on working (the checks after the
  // isolation passed, on the same host).
  assert_eq!(serves("edge-proxy-01", suspect), "000");
  let out = drill.exec(
    suspect,
    "curl -s -o /dev/null -w '%{http_code}' --max-time 3 http://edge-proxy-01/",
  );
  assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "000");

  // Left alone: the deploy account, its process, root, the other API host, the machine.
  assert_eq!(shadow("deploy"), deploy_shadow);
  assert_eq!(shadow("root"), root_shadow);
  assert_eq!(
    processes(4243),
    "1",
    "the deploy account's process was killed"
  );
  assert_eq!(serves("edge-proxy-01", "backend-api-02"), "200");
  let nft = drill.exec("backend-api-02", "nft list tables");
  assert_eq!(String::from_utf8_lossy(&nft.stdout).trim(), "");
  assert_eq!(
    std::fs::read_to_string("/etc/passwd").unwrap(),
    machine_passwd
  );
  for never in ["lock-account", "end-sessions", "revoke-key", "isolate-host"] {
    assert!(
      !journal
        .iter()
        .any(|r| r["step"] == never && r["host"] == "backend-api-02"),
      "{never} on backend-api-02"
    );
  }
}

/// The isolation step needs nft on the test host (the machine's: hosts share its programs).
fn require_nft(drill: &Drill) {
  let out = drill.exec("edge-proxy-01", "command -v nft");
  assert!(
    out.status.success(),
    "`nft` is missing; the security-incident drill needs it: apt-get install -y nftables"
  );
}

const IMAGES: &str = "registry.dreamseedai.com/backend";
/// The release before the bad deploy, and the bad one (its /health answers 500).
const GOOD: &str = "4f2a9c1";
const BAD: &str = "9d81e3b";
/// The run-time environment the pipeline gives the API container (seed 001 §3.2 `-e`).
const RUN_ENV: &str = "-e DATABASE_URL=postgresql://app:fleet-app-secret@db-primary-01:6432/dreamseed -e REDIS_URL=redis://redis-master-01:6379/0";

/// Makes `host` a Docker host (tests/fleet/docker: containers are app-server processes) with
/// both releases' images, as the pipeline's pulls left them.
fn docker_host(drill: &Drill, host: &str) {
  let stand_in = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fleet/docker");
  let bin = drill.dir.path().join("bin/docker");
  if !bin.exists() {
    std::fs::copy(stand_in, bin).unwrap();
  }
  std::fs::create_dir_all(drill.host_dir(host).join("docker")).unwrap();
  drill.script(
    host,
    &format!(
      "docker fleet-image {IMAGES}:{GOOD} --release {GOOD} >/dev/null
       docker fleet-image {IMAGES}:{BAD} --release {BAD} --health-status 500 >/dev/null"
    ),
  );
}

/// The pipeline's deploy of `release` (seed 001 §3.2): the old container removed, the new one
/// run with the pipeline's flags and environment.
fn deploy(drill: &Drill, host: &str, release: &str) {
  drill.script(
    host,
    &format!(
      "if docker container inspect backend-api >/dev/null 2>&1; then docker stop backend-api >/dev/null; docker rm backend-api >/dev/null; fi
       docker run -d --name backend-api --restart unless-stopped -p 8000:8000 {RUN_ENV} {IMAGES}:{release} >/dev/null"
    ),
  );
}

/// `docker container inspect --format TEMPLATE NAME` on `host`.
fn container(drill: &Drill, host: &str, name: &str, template: &str) -> String {
  drill
    .script(
      host,
      &format!("docker container inspect --format '{template}' {name}"),
    )
    .trim()
    .to_string()
}

/// deploy-rollback: a healthy release deployed minutes ago is left alone (triage). Three hours
/// later release 9d81e3b goes out to backend-api-01 (a canary) and its /health answers 500;
/// the edge retries a 500 on the other upstream (seed 001 §3.4), so the public route stays up,
/// and backend-api-02 still runs 4f2a9c1. The runbook (runtime=docker)
/// finds the recent deploy on backend-api-01 only and rolls that host back to 4f2a9c1: the
/// previous release serves again, with the pipeline's flags and the replaced container's
/// run-time environment (whose values the journal never shows), the failed container is kept
/// stopped, and backend-api-02, the images and the schema are left as they were.
#[test]
fn deploy_rollback_puts_the_previous_release_back_on_the_host_that_got_the_bad_one() {
  let drill = Drill::up(&["edge-proxy-01", "backend-api-01", "backend-api-02"]);
  for api in ["backend-api-01", "backend-api-02"] {
    docker_host(&drill, api);
    deploy(&drill, api, GOOD);
  }
  drill.stock_nginx(
    "edge-proxy-01",
    &["backend-api-01", "backend-api-02"],
    "api.dreamseedai.com edge-proxy-01",
  );
  // The manuals' proxy retries a 500 on the other upstream (seed 001 §3.4): the public route
  // stays healthy, and only backend-api-01's own check shows the bad release.
  drill.script(
    "edge-proxy-01",
    "sed -i 's|proxy_pass http://backend;|proxy_pass http://backend; proxy_next_upstream error timeout invalid_header http_500;|' /etc/nginx/sites-enabled/megacity
     grep -q http_500 /etc/nginx/sites-enabled/megacity
     nginx -t 2>/dev/null
     systemctl reload nginx",
  );
  assert!(eventually(10, || (0..4).all(|_| status(
    &drill,
    "edge-proxy-01",
    "http://127.0.0.1/health"
  ) == "200")));
  let vars = [
    "runtime=docker".to_string(),
    format!("target_version={GOOD}"),
    "public_health_url=http://edge-proxy-01/health".to_string(),
  ];
  // The fleet's hosts only: no Prometheus (monitoring-01) or database here.
  let mut args = vec![
    "--host",
    "backend-api-01",
    "--host",
    "backend-api-02",
    "--host",
    "edge-proxy-01",
  ];
  for v in &vars {
    args.extend(["--var", v.as_str()]);
  }

  // A release deployed minutes ago that is healthy: nothing to roll back.
  let mut triage = args.clone();
  triage.push("--checks-only");
  let healthy = drill.run("deploy-rollback", &triage);
  let journal = drill.journal();
  // No Prometheus in this drill: its two Prometheus checks cannot judge (unknown, so exit 1);
  // everything else passes.
  for step in ["error-rate", "p95-latency"] {
    assert_eq!(outcome(&journal, step), ["unknown"], "{step}");
  }
  assert!(
    !journal
      .iter()
      .any(|r| r["type"] == "host-result" && r["outcome"] == "failed"),
    "{}",
    healthy.stdout
  );
  assert_eq!(healthy.code, exit::FAILURE, "{}", healthy.stdout);
  assert_eq!(outcome(&journal, "recent-deploy"), ["passed", "passed"]);
  assert!(
    !journal.iter().any(|r| r["type"] == "would-run"),
    "{}",
    healthy.stdout
  );

  // Three hours later (the runbook's deploy window is 120 minutes), the next release goes out
  // to backend-api-01 only.
  for api in ["backend-api-01", "backend-api-02"] {
    drill.script(
      api,
      "old=$(date -u -d '3 hours ago' +%Y-%m-%dT%H:%M:%S.000000000Z)
       sed -i \"s/^    \\\"Created\\\": \\\"[^\\\"]*\\\"/    \\\"Created\\\": \\\"$old\\\"/\" $FLEET_DIR/$FLEET_HOST/docker/containers/backend-api.json",
    );
  }
  deploy(&drill, "backend-api-01", BAD);
  let version = |host: &str| {
    status(
      &drill,
      "edge-proxy-01",
      &format!("http://{host}:8000/health"),
    ) + " "
      + drill
        .script(
          "edge-proxy-01",
          &format!("curl -sS --max-time 3 http://{host}:8000/version"),
        )
        .trim()
  };
  assert_eq!(version("backend-api-01"), format!("500 {BAD}"));
  assert_eq!(version("backend-api-02"), format!("200 {GOOD}"));
  let whole = |host: &str| drill.script(host, "docker container inspect backend-api");
  // Repository, tag and ID (not the age column, which moves with the clock).
  let images = |host: &str| drill.script(host, "docker images | awk '{ print $1, $2, $3 }'");
  let env = "{{range .Config.Env}}{{println .}}{{end}}";
  let env_before = container(&drill, "backend-api-01", "backend-api", env);
  let other_before = whole("backend-api-02");
  let images_before = [images("backend-api-01"), images("backend-api-02")];
  let bad_id = container(&drill, "backend-api-01", "backend-api", "{{.Image}}");
  let good_id = container(&drill, "backend-api-02", "backend-api", "{{.Image}}");

  let started = Instant::now();
  let (answered, screen) = drill.walk("deploy-rollback", &args, |prompt, step| {
    match (prompt, step) {
      (Prompt::Manual, "freeze-deploys" | "after-rollback") => "done".into(),
      (Prompt::Destructive, "rollback-app") => "backend-api-01".into(),
      // Any other host's or step's destructive question is wrong here: end the run.
      (Prompt::Destructive, _) => "abort".into(),
      _ => "skip".into(),
    }
  });
  println!(
    "deploy-rollback walk took {:?}; answered: {answered:#?}\n{}",
    started.elapsed(),
    summary(&screen)
  );
  let journal = drill.journal();

  // The previous release serves again on the canary, as the pipeline would run it.
  assert_eq!(
    version("backend-api-01"),
    format!("200 {GOOD}"),
    "{answered:#?}\n{screen}"
  );
  assert_eq!(
    container(
      &drill,
      "backend-api-01",
      "backend-api",
      "{{.Image}} {{.Config.Image}} {{.HostConfig.RestartPolicy.Name}} {{.State.Status}}"
    ),
    format!("{good_id} {IMAGES}:{GOOD} unless-stopped running")
  );
  assert_eq!(
    container(&drill, "backend-api-01", "backend-api", env),
    env_before,
    "the run-time environment was not carried over"
  );
  // The failed release is kept, stopped, and will not come back by itself.
  let kept = drill.script(
    "backend-api-01",
    "docker ps -a | awk '$NF ~ /^backend-api-failed-/ { print $NF }'",
  );
  let kept = kept.trim();
  assert!(!kept.is_empty() && !kept.contains('\n'), "kept: {kept:?}");
  assert_eq!(
    container(
      &drill,
      "backend-api-01",
      kept,
      "{{.Image}} {{.HostConfig.RestartPolicy.Name}} {{.State.Status}}"
    ),
    format!("{bad_id} no exited")
  );
  // Nothing else changed: the other API host's container, and the images on both.
  assert_eq!(whole("backend-api-02"), other_before);
  assert_eq!(
    [images("backend-api-01"), images("backend-api-02")],
    images_before
  );
  assert_eq!(version("backend-api-02"), format!("200 {GOOD}"));

  let by_host = |step: &str, host: &str| {
    result(&journal, step, host)["outcome"]
      .as_str()
      .unwrap()
      .to_string()
  };
  assert_eq!(outcome(&journal, "public-health"), ["passed"]);
  assert_eq!(by_host("api-health", "backend-api-01"), "failed");
  assert_eq!(by_host("api-health", "backend-api-02"), "passed");
  // Evidence everywhere; the suspect is the canary alone.
  assert_eq!(by_host("recent-deploy", "backend-api-01"), "passed");
  assert_eq!(by_host("recent-deploy", "backend-api-02"), "passed");
  assert_eq!(by_host("deploy-suspect", "backend-api-01"), "failed");
  assert_eq!(outcome(&journal, "deploy-suspect"), ["failed"]);
  assert_eq!(by_host("target-image", "backend-api-01"), "passed");
  assert_eq!(outcome(&journal, "target-image"), ["passed"]);
  assert!(decided(&journal, "rollback-app", "yes"), "{answered:#?}");
  assert_eq!(outcome(&journal, "rollback-app"), ["passed"]);
  assert_eq!(by_host("rollback-app", "backend-api-01"), "passed");
  assert_eq!(by_host("api-health-after", "backend-api-01"), "passed");
  assert_eq!(
    by_host("api-health-after", "backend-api-02"),
    "not-applicable"
  );
  assert_eq!(outcome(&journal, "public-health-after"), ["passed"]);
  // The schema branch was never reached.
  for step in ["db-revision", "db-backup", "db-downgrade"] {
    assert!(
      outcome(&journal, step).iter().all(|o| *o == "skipped"),
      "{step}"
    );
  }
  assert!(
    !journal
      .iter()
      .any(|r| r["step"] == "db-rollback" && r["type"] == "decision"),
    "{answered:#?}"
  );
  // The rollback resolved what the checks found, and the operator was told what must happen
  // before the pipeline deploys again.
  // (A manual step marked done is recorded as "yes".)
  assert!(decided(&journal, "after-rollback", "yes"), "{answered:#?}");
  // What is left short of success is only what needs the Prometheus this drill lacks.
  let unresolved = screen
    .lines()
    .find_map(|l| l.split("not resolved (exit 1): ").nth(1))
    .unwrap_or_default();
  assert!(
    unresolved.split(", ").filter(|u| !u.is_empty()).all(|u| [
      "error-rate ",
      "p95-latency ",
      "error-rate-after "
    ]
    .iter()
    .any(|p| u.starts_with(p))),
    "{}",
    summary(&screen)
  );
  // The environment's values were never shown.
  let text = journal
    .iter()
    .map(|r| r.to_string())
    .collect::<Vec<_>>()
    .join("\n");
  assert!(!text.contains("fleet-app-secret"));
  assert!(!screen.contains("fleet-app-secret"));
}

/// api-down with runtime=docker (seed 001 §3.2–3.3: the API as a container): both API
/// containers stopped, the edge answers 502; the runbook, unchanged, finds them stopped through
/// `docker container inspect`, reads their logs, restarts them with `docker restart` once
/// confirmed, and the edge serves again. The same release, the same environment.
#[test]
fn api_down_with_docker_restarts_the_stopped_containers() {
  let drill = Drill::up(&["edge-proxy-01", "backend-api-01", "backend-api-02"]);
  for api in ["backend-api-01", "backend-api-02"] {
    docker_host(&drill, api);
    deploy(&drill, api, GOOD);
  }
  drill.stock_nginx(
    "edge-proxy-01",
    &["backend-api-01", "backend-api-02"],
    "api.dreamseedai.com edge-proxy-01",
  );
  let public = || status(&drill, "edge-proxy-01", "http://127.0.0.1/health");
  assert!(
    eventually(10, || public() == "200"),
    "healthy before the break"
  );
  let image = |host: &str| container(&drill, host, "backend-api", "{{.Image}}");
  let before = image("backend-api-01");
  for api in ["backend-api-01", "backend-api-02"] {
    drill.script(api, "docker stop backend-api >/dev/null");
  }
  assert!(eventually(10, || public() == "502"), "the break");

  let run = drill.run(
    "api-down",
    &[
      "--yes",
      "--var",
      "runtime=docker",
      "--var",
      "health_urls=http://edge-proxy-01/health",
      "--host",
      "edge-proxy-01",
      "--host",
      "backend-api-01",
      "--host",
      "backend-api-02",
    ],
  );
  let said = format!("{}\n{}", run.stdout, run.stderr);
  assert!(eventually(10, || public() == "200"), "still down:\n{said}");
  let journal = drill.journal();
  assert_eq!(
    outcome(&journal, "backend-health"),
    ["failed", "failed"],
    "{said}"
  );
  // Its log was read (not "cannot judge"): the container's own output.
  assert_eq!(
    outcome(&journal, "backend-journal"),
    ["passed", "passed"],
    "{said}"
  );
  assert_eq!(
    outcome(&journal, "restart-backend"),
    ["passed", "passed"],
    "{said}"
  );
  assert_eq!(
    outcome(&journal, "verify-backend"),
    ["passed", "passed"],
    "{said}"
  );
  for api in ["backend-api-01", "backend-api-02"] {
    assert_eq!(
      container(&drill, api, "backend-api", "{{.State.Status}}"),
      "running"
    );
    assert!(
      journal.iter().any(|r| r["type"] == "host-result"
        && r["step"] == "restart-backend"
        && r["host"] == api
        && r["command"]
          .as_str()
          .is_some_and(|c| c.contains("docker restart"))),
      "{said}"
    );
  }
  assert_eq!(
    image("backend-api-01"),
    before,
    "the same release runs again"
  );
}

/// memory-leak with runtime=docker: backend-api-01's container leaks (250 MiB kept by 250
/// requests), backend-api-02's serves the same image without them. The runbook finds the leak
/// by the container's own processes (`docker top`), has the evidence collected, restarts that
/// container alone once confirmed, and verifies it: small again, answering; backend-api-02's
/// container keeps its process.
#[test]
fn memory_leak_with_docker_restarts_the_leaking_container_and_only_it() {
  let drill = Drill::up(&["backend-api-01", "backend-api-02"]);
  let leaky = format!("{IMAGES}:{GOOD}-leaky");
  for api in ["backend-api-01", "backend-api-02"] {
    docker_host(&drill, api);
    drill.script(
      api,
      &format!(
        "docker fleet-image {leaky} --release {GOOD} --leak-mib 1 >/dev/null
         docker run -d --name backend-api --restart unless-stopped -p 8000:8000 {leaky} >/dev/null"
      ),
    );
  }
  let pid = |host: &str| container(&drill, host, "backend-api", "{{.State.Pid}}");
  let rss_mib = |host: &str| {
    let kb = drill.script(host, &format!("ps -o rss= -p {}", pid(host)));
    kb.trim().parse::<u64>().unwrap() / 1024
  };
  drill.script(
    "backend-api-01",
    "for i in $(seq 1 250); do curl -fsS -o /dev/null -X POST http://127.0.0.1:8000/api/work; done",
  );
  assert!(rss_mib("backend-api-01") >= 250, "the leak did not take");
  assert!(rss_mib("backend-api-02") < 100);
  let (pid_01, pid_02) = (pid("backend-api-01"), pid("backend-api-02"));

  let args = ["--var", "runtime=docker", "--var", "max_api_rss_mib=200"];
  let (answered, screen) = drill.walk("memory-leak", &args, |prompt, step| match (prompt, step) {
    (Prompt::Run, "restart-api-01") => "yes".into(),
    (Prompt::Manual, _) => "done".into(),
    _ => "skip".into(),
  });
  let journal = drill.journal();
  let found = crate::drill::on_hosts(&journal, "api-memory");
  assert!(
    found.contains(&("backend-api-01", "failed")) && found.contains(&("backend-api-02", "passed")),
    "{found:?}\n{screen}"
  );
  assert_ne!(
    pid("backend-api-01"),
    pid_01,
    "not restarted: {answered:#?}"
  );
  assert!(rss_mib("backend-api-01") < 100, "still big: {answered:#?}");
  assert_eq!(
    pid("backend-api-02"),
    pid_02,
    "backend-api-02 was restarted"
  );
  assert_eq!(outcome(&journal, "restart-api-01"), ["passed"], "{screen}");
  assert_eq!(outcome(&journal, "health-api-01"), ["passed"], "{screen}");
  assert_eq!(
    outcome(&journal, "verify-api-memory"),
    ["passed", "passed"],
    "{screen}"
  );
}
