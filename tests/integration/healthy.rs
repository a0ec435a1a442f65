//! Silence on a healthy fleet: the whole inventory's hosts, each service healthy and configured as
//! its Debian package installs it (tests/integration/stock.rs), and every shipped runbook run
//! against them. A runbook that proposes an action, or calls a check failed, on this fleet would
//! send an operator down a harmful branch on a healthy production.

use crate::drill::Drill;

/// The inventory, as the manuals name it.
const FLEET: [&str; 10] = [
  "edge-proxy-01",
  "backend-api-01",
  "backend-api-02",
  "gpu-cluster-01",
  "gpu-cluster-02",
  "db-primary-01",
  "db-replica-01",
  "redis-master-01",
  "redis-replica-01",
  "monitoring-01",
];

/// Parameters that point a runbook at the fleet instead of the manuals' public sites (tests may
/// reach only their own hosts; the fleet's hosts file names the edge api.dreamseedai.com too).
/// Nothing here changes what a runbook checks, only where.
fn fleet_vars(id: &str) -> Vec<String> {
  let public = "public_health_url=http://edge-proxy-01/health".to_string();
  let vars: &[&str] = match id {
    "api-down" => &["health_urls=https://api.dreamseedai.com/health"],
    "proxy-outage" | "ddos" | "dr-failover" | "deploy-rollback" | "dr-failback" => &[&public],
    "network-outage" => &[
      &public,
      // Any reliable URL outside the edge: here, another fleet host.
      "external_probe_url=http://backend-api-01:8000/health",
    ],
    "ssl-expiry" => &["public_tls_endpoint=api.dreamseedai.com:443"],
    // The external API the backends call: here, the edge's TLS site.
    "external-api-timeout" => &["external_api_url=https://edge-proxy-01/health"],
    "zone-api-outage" => &[
      "zone=dreamseed",
      "domain=api.dreamseedai.com",
      "service=backend-api",
    ],
    _ => &[],
  };
  vars.iter().map(|v| v.to_string()).collect()
}

/// Checks that may be unknown on this fleet, because the fleet lacks what they measure.
const MAY_BE_UNKNOWN: &[(&str, &str)] = &[
  // No certbot: the edge's certificate is the fleet's own, renewed by nobody.
  ("ssl-expiry", "certbot-status"),
  ("ssl-expiry", "auto-renew"),
  // No Loki, no cloud account.
  ("ai-model-outage", "loki-ai-oom"),
  ("dr-failback", "cloud-sql-state"),
];

/// Steps that measure what every test host shares with the machine the suite runs on (its CPU,
/// busy with the suite's own parallel tests), and the manual step such a measure leads to:
/// their verdicts are the machine's, not the fleet's, and are not judged here.
const THE_MACHINES: &[(&str, &str)] = &[
  ("db-slow-query", "db-cpu"),
  ("db-slow-query", "verify-db-cpu"),
  ("db-slow-query", "route-to-replica"),
];

/// Brings up every inventory host with its services healthy.
fn healthy_fleet() -> Drill {
  let mut drill = Drill::up(&FLEET);
  for api in ["backend-api-01", "backend-api-02"] {
    drill.app(api, "backend-api", 8000, "/var/log/backend-api/app.log", "");
  }
  // The edge serves the manuals' four sites (api-down checks all four by default).
  let sites = [
    "api.dreamseedai.com",
    "api.univprepai.com",
    "api.collegeprepai.com",
    "api.skillprepai.com",
  ];
  drill.stock_nginx(
    "edge-proxy-01",
    &["backend-api-01", "backend-api-02"],
    &format!("{} edge-proxy-01", sites.join(" ")),
  );
  for site in sites {
    drill.alias("edge-proxy-01", site);
  }
  drill.stock_postgres("db-primary-01");
  drill.stock_pgbouncer("db-primary-01");
  drill.stock_replica("db-replica-01", "db-primary-01");
  drill.stock_redis("redis-master-01", None);
  drill.stock_redis("redis-replica-01", Some("redis-master-01"));
  drill.sentinel("redis-master-01", "redis-master-01");
  drill.sentinel("redis-replica-01", "redis-master-01");
  for gpu in ["gpu-cluster-01", "gpu-cluster-02"] {
    drill.app(gpu, "vllm-server", 8100, "/var/log/vllm/inference.log", "");
  }
  drill.app(
    "gpu-cluster-01",
    "whisper-server",
    8200,
    "/var/log/whisper/whisper.log",
    " --batch-size 4",
  );
  drill.app(
    "gpu-cluster-01",
    "posenet-server",
    8300,
    "/var/log/posenet/posenet.log",
    "",
  );
  application_data(&drill);
  // Monitoring: Prometheus on monitoring-01 scrapes both API hosts, which serve light traffic
  // through the edge (bounded), so its rates and latency quantiles have data; megacity's
  // Prometheus checks ask it by name, as an operator's machine would.
  drill.prometheus(
    "monitoring-01",
    &["backend-api-01:8000", "backend-api-02:8000"],
  );
  drill.script(
    "monitoring-01",
    "setsid timeout 900 sh -c 'while :; do curl -s -o /dev/null http://edge-proxy-01/health; sleep 0.2; done' </dev/null >/dev/null 2>&1 &",
  );
  drill
    .test
    .set_env("MEGACITY_PROMETHEUS", "http://monitoring-01:9090");
  drill.script(
    "monitoring-01",
    "q='sum(rate(http_request_duration_seconds_bucket[5m])) by (le)'
     for i in $(seq 1 100); do curl -fsS -G --data-urlencode \"query=$q\" http://127.0.0.1:9090/api/v1/query | grep -q '\"le\"' && exit 0; sleep 0.3; done; exit 1",
  );
  // The replica streams before anything is judged.
  let state = drill.script(
    "db-primary-01",
    "for i in $(seq 1 100); do s=$(runuser -u postgres -- psql -X -qAt -c 'SELECT state FROM pg_stat_replication'); [ \"$s\" = streaming ] && break; sleep 0.1; done; echo $s",
  );
  assert_eq!(state.trim(), "streaming", "the replica does not stream");
  drill
}

/// The application's own data on the primary (seed 001's tables, with rows and the indexes of
/// seed 001 §2.4 B), and last night's backup where seed 002 B keeps it.
fn application_data(drill: &Drill) {
  drill.private("db-primary-01", "/backup", false);
  drill.application_tables("db-primary-01");
  drill.script(
    "db-primary-01",
    "chown postgres:postgres /backup
     runuser -u postgres -- pg_dump -Fc -d dreamseed -f /backup/dreamseed.dump",
  );
}

/// Every shipped runbook's id.
fn shipped(drill: &Drill) -> Vec<String> {
  let list = drill
    .test
    .run_with(&["runbook", "list", "--format", "json"]);
  let list: serde_json::Value = serde_json::from_str(&list.stdout).unwrap();
  list
    .as_array()
    .unwrap()
    .iter()
    .map(|r| r["id"].as_str().unwrap().to_string())
    .collect()
}

/// What a run must not change, host by host: every unit's state and main process (a restart
/// changes it, a reload does not), configuration files, the database's settings, roles of
/// primary and replica, slots and replication, the application's rows, Redis's roles and
/// memory settings, Sentinel's master, the GPUs' state, routes and firewall rules.
fn snapshot(drill: &Drill) -> std::collections::BTreeMap<String, String> {
  const EVERY_HOST: &str = r#"cd /
    for u in $(ls "$FLEET_DIR/$FLEET_HOST/units" | grep -v '\.'); do
      echo "unit:$u $(systemctl show -p ActiveState,MainPID "$u" | tr '\n' ' ')"
    done
    echo "route $(ip route show default)"
    echo "link $(ip -o link show eth0 | grep -o 'state [A-Z]*')"
    if command -v iptables >/dev/null; then echo "iptables $(iptables -S 2>&1 | md5sum)"; fi
    for f in /etc/nginx/nginx.conf /etc/nginx/sites-enabled/* /etc/nginx/ssl/* /etc/redis/redis.conf /etc/postgresql/15/main/*.conf /etc/pgbouncer/*; do
      [ -f "$f" ] && echo "file:$f $(md5sum < "$f")"
    done
    m="$FLEET_DIR/$FLEET_HOST/nvidia-smi.mode"
    [ -f "$m" ] && echo "gpu $(cat "$m")"
    true
  "#;
  const DATABASE: &str = r#"
    q() { runuser -u postgres -- psql -X -qAt -d dreamseed -c "$1"; }
    echo "pg:recovery $(q 'SELECT pg_is_in_recovery()')"
    echo "pg:settings $(q "SELECT string_agg(name || '=' || setting, ' ' ORDER BY name) FROM pg_settings WHERE source NOT IN ('default', 'override', 'environment variable', 'client', 'session')")"
    echo "pg:role-settings $(q 'SELECT setdatabase, setrole, setconfig FROM pg_db_role_setting')"
    echo "pg:databases $(q "SELECT string_agg(datname, ' ' ORDER BY datname) FROM pg_database")"
    echo "pg:slots $(q 'SELECT slot_name FROM pg_replication_slots')"
    echo "pg:replication $(q 'SELECT state FROM pg_stat_replication')"
    echo "pg:rows $(q "SELECT (SELECT count(*) FROM users) || ' ' || (SELECT count(*) FROM questions) || ' ' || (SELECT count(*) FROM test_results) || ' ' || (SELECT count(*) FROM exam_attempts)")"
    echo "pg:indexes $(q "SELECT string_agg(indexname, ' ' ORDER BY indexname) FROM pg_indexes WHERE schemaname = 'public'")"
    echo "backups $(ls /backup 2>/dev/null | tr '\n' ' ')"
  "#;
  const REDIS: &str = r#"
    echo "redis:role $(redis-cli role | head -n 1)"
    echo "redis:memory $(redis-cli config get maxmemory | tail -n 1) $(redis-cli config get maxmemory-policy | tail -n 1)"
    echo "redis:keys $(redis-cli dbsize)"
    echo "sentinel:master $(redis-cli -p 26379 sentinel get-master-addr-by-name mymaster | tr '\n' ' ')"
  "#;
  let mut all = std::collections::BTreeMap::new();
  for host in FLEET {
    let mut script = EVERY_HOST.to_string();
    if host.starts_with("db-") {
      script.push_str(DATABASE);
    }
    if host.starts_with("redis-") {
      script.push_str(REDIS);
    }
    for line in drill.script(host, &script).lines() {
      let (what, value) = line.split_once(' ').unwrap_or((line, ""));
      all.insert(format!("{host} {what}"), value.trim().to_string());
    }
  }
  all
}

/// A problem a run's journal shows on a healthy fleet, or nothing.
fn judge(id: &str, r: &serde_json::Value) -> Option<String> {
  let step = r["step"].as_str().unwrap_or("");
  if THE_MACHINES.contains(&(id, step)) {
    return None;
  }
  let host = r["host"].as_str().unwrap_or("");
  // psql run as the postgres OS user from the SSH login's home warns about it: noise an
  // operator at 03:00 should not have to read past.
  if r["type"] == "host-result"
    && r["stderr"]
      .as_str()
      .unwrap_or("")
      .contains("could not change directory")
  {
    return Some(format!(
      "{id}: {step} on {host}: psql warns about its working directory"
    ));
  }
  let verdict = match (
    r["type"].as_str(),
    r["outcome"].as_str().or(r["end"].as_str()),
  ) {
    (Some("would-run"), _) => "proposed",
    (Some("decision"), _) => "a decision was asked for",
    (Some("manual"), _) => "a manual step was reached",
    (Some("host-result"), Some("failed")) => "failed",
    (Some("host-result"), Some("unknown")) if !MAY_BE_UNKNOWN.contains(&(id, step)) => "unknown",
    (Some("host-result"), Some("unreachable")) => "unreachable",
    (Some("preflight"), _) if !r["problem"].is_null() => "preflight problem",
    (Some("end"), Some(end)) if end != "completed" => "run ended",
    _ => return None,
  };
  let output = r["stdout"].as_str().unwrap_or("").trim();
  let err = r["stderr"].as_str().unwrap_or("").trim();
  Some(format!(
    "{id}: {step} on {host}: {verdict}\n    stdout: {output}\n    stderr: {err}"
  ))
}

/// Every shipped runbook, first in triage (`--checks-only`), then unattended with every
/// confirmation given (`--yes --yes-destructive`): on a healthy fleet neither proposes, asks,
/// runs or changes anything.
#[test]
fn no_shipped_runbook_proposes_or_changes_anything_on_a_healthy_fleet() {
  let drill = healthy_fleet();
  let mut wrong = Vec::new();
  let ids = shipped(&drill);
  let before = snapshot(&drill);
  for mode in [&["--checks-only"][..], &["--yes", "--yes-destructive"]] {
    for id in &ids {
      let vars = fleet_vars(id);
      let mut args = mode.to_vec();
      for v in &vars {
        args.extend(["--var", v]);
      }
      let run = drill.run(id, &args);
      if run.code == crate::test::exit::USAGE {
        wrong.push(format!("{id}: refused: {}", run.stderr));
        continue;
      }
      let journal = drill.journal();
      wrong.extend(journal.iter().filter_map(|r| judge(id, r)));
      // For the README's triage figures; not judged (timing targets live in benchmarks).
      let took = journal
        .iter()
        .find(|r| r["type"] == "end")
        .and_then(|r| r["elapsed_ms"].as_u64())
        .unwrap_or(0);
      eprintln!(
        "{id} {}: exit {}, {:.1} s",
        mode.join(" "),
        run.code,
        took as f64 / 1000.0
      );
    }
  }
  wrong.extend(readme_examples(&drill));
  let after = snapshot(&drill);
  for (key, value) in &before {
    match after.get(key) {
      Some(now) if now == value => {}
      now => wrong.push(format!("changed: {key}: {value} -> {now:?}")),
    }
  }
  for key in after.keys().filter(|k| !before.contains_key(*k)) {
    wrong.push(format!("new: {key}: {}", after[key]));
  }
  assert!(
    wrong.is_empty(),
    "on a healthy fleet:\n{}",
    wrong.join("\n")
  );
}

/// The README's examples that reach hosts, run exactly as written by an operator whose own
/// `~/.ssh/config` reaches the fleet, with an Alertmanager where `MEGACITY_ALERTMANAGER` says:
/// each finishes with exit 0, asks nothing and, for runs, records nothing [`judge`] objects to.
/// Returns what went wrong.
fn readme_examples(drill: &Drill) -> Vec<String> {
  use crate::catalog::{README_NEEDS_HOSTS, readme_examples};
  let mut wrong = Vec::new();
  let examples = readme_examples();
  for example in README_NEEDS_HOSTS {
    assert!(
      examples.iter().any(|e| e == example),
      "`megacity {example}` is no longer in the README: update README_NEEDS_HOSTS"
    );
  }
  let am = crate::alerts::Alertmanager::start();
  am.fire(
    r#"[{"labels": {"alertname": "HighErrorRate", "severity": "critical", "instance": "backend-api-01:8000"}}]"#,
  );
  for example in README_NEEDS_HOSTS {
    let line = example.replace(['[', ']'], "").replace("URL", &am.url);
    let words: Vec<&str> = line.split_whitespace().collect();
    let mut command = drill.operator(&words);
    command.env("MEGACITY_ALERTMANAGER", &am.url);
    let live = words[0] == "run" && !line.contains("--checks-only");
    // `--from` says the findings before that step were made: its actions are asked for (and
    // skipped here), except one whose command needs a value a skipped step would have found.
    let from = line.contains("--from");
    let code = if live {
      // A person at the terminal; any other question on a healthy fleet is wrong (aborted).
      let answer = if from { "skip" } else { "abort" };
      let (asked, _) = crate::drill::walk_command(command, |_, _| answer.into());
      let offered = |a: &&String| !from || a.contains("truncate-log");
      wrong.extend(
        asked
          .iter()
          .filter(offered)
          .map(|a| format!("`megacity {example}` asked: {a}")),
      );
      None
    } else {
      let out = command.output().unwrap();
      let stdout = String::from_utf8_lossy(&out.stdout);
      if out.status.code() != Some(0) {
        wrong.push(format!(
          "`megacity {example}` exited {:?}:\n{stdout}\n{}",
          out.status.code(),
          String::from_utf8_lossy(&out.stderr)
        ));
      }
      let routed = stdout.contains("api-down") && stdout.contains("backend-api-01");
      if words[0] == "alerts" && !routed {
        wrong.push(format!(
          "`megacity {example}` did not route the alert:\n{stdout}"
        ));
      }
      out.status.code()
    };
    if words[0] != "run" {
      eprintln!("readme: megacity {example}: exit {code:?}");
      continue;
    }
    let journal = drill.journal();
    let id = journal[0]["runbook"]
      .as_str()
      .unwrap_or_default()
      .to_string();
    let exit = journal
      .iter()
      .find(|r| r["type"] == "end")
      .and_then(|r| r["exit_code"].as_i64());
    eprintln!("readme: megacity {example}: {id}, exit {exit:?}");
    if !from {
      wrong.extend(journal.iter().filter_map(|r| judge(&id, r)));
      if exit != Some(0) {
        wrong.push(format!(
          "`megacity {example}` ({id}) recorded exit {exit:?}"
        ));
      }
      continue;
    }
    // Not offered, so unknown (and the run ends 1); every other action skipped by the person.
    let truncate = crate::drill::outcome(&journal, "truncate-log");
    if truncate != ["unknown", "unknown"] {
      wrong.push(format!("`megacity {example}`: truncate-log {truncate:?}"));
    }
    let acted: Vec<&serde_json::Value> = journal
      .iter()
      .filter(|r| r["type"] == "host-result" && r["step"] != "truncate-log")
      .filter(|r| {
        !["skipped-by-operator", "passed", "skipped"].contains(&r["outcome"].as_str().unwrap_or(""))
      })
      .collect();
    if !acted.is_empty() {
      wrong.push(format!("`megacity {example}`: more than skips: {acted:#?}"));
    }
  }
  wrong
}
