//! Fire drills for redis-outage beyond a stopped Redis: a master that cannot come back in a
//! Sentinel set-up, and a Redis that requires a password. The shipped runbook, unchanged, against
//! the packaged configuration (tests/integration/stock.rs) on fleet hosts. Root only.

use std::time::{Duration, Instant};

use crate::drill::{Drill, Prompt, decided, on_hosts, outcome};

/// The password of the AUTH drill: a string found nowhere else, so a search for it is exact.
const PASSWORD: &str = "drill-pw-7c41e9d2aa";

/// What a command on `host` printed (trimmed), whether or not it succeeded.
fn stdout(drill: &Drill, host: &str, command: &str) -> String {
  let out = drill.exec(host, command);
  String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Polls `probe` until it returns true, for at most `seconds`; the last value of `what` goes into
/// the failure message.
fn wait_for(seconds: u64, what: &str, mut probe: impl FnMut() -> (bool, String)) {
  let deadline = Instant::now() + Duration::from_secs(seconds);
  loop {
    let (ok, seen) = probe();
    if ok {
      return;
    }
    assert!(
      Instant::now() < deadline,
      "{what}: not within {seconds} s (last seen: {seen})"
    );
    std::thread::sleep(Duration::from_millis(250));
  }
}

/// A walk through the run's prompts like [`Drill::walk_prompts`], where the operator also answers
/// `yes` to the non-destructive actions named in `yes` (every other one is skipped). Returns what
/// was answered and everything megacity printed on its terminal.
fn walk(
  drill: &Drill,
  id: &str,
  args: &[&str],
  yes: &[&str],
  confirm: &[(&str, &str)],
  manual: &str,
) -> (Vec<String>, String) {
  drill.walk(id, args, |prompt, step| match prompt {
    Prompt::Destructive => confirm
      .iter()
      .find(|(id, _)| step == *id)
      .map_or("skip".into(), |(_, answer)| answer.to_string()),
    Prompt::Run if yes.contains(&step) => "yes".into(),
    Prompt::Manual => manual.into(),
    Prompt::Run | Prompt::Failed => "skip".into(),
  })
}

/// The machine's /etc/redis/redis.conf (shared by every host that does not mount its own copy).
fn machine_conf() -> Vec<u8> {
  std::fs::read("/etc/redis/redis.conf").unwrap()
}

/// `redis-cli role` on `host`'s Redis, first line (`master` or `slave`).
fn role(drill: &Drill, host: &str, auth: bool) -> String {
  let env = if auth {
    format!("REDISCLI_AUTH={PASSWORD} ")
  } else {
    String::new()
  };
  stdout(drill, host, &format!("{env}redis-cli role | head -n 1"))
}

/// Sentinel on `host`: the address it gives for `mymaster`.
fn sentinel_master(drill: &Drill, host: &str) -> String {
  stdout(
    drill,
    host,
    "redis-cli -p 26379 sentinel get-master-addr-by-name mymaster | head -n 1",
  )
}

/// A Sentinel set-up as the manuals place it: stock Redis master and replica, a Sentinel on each,
/// 50 sessions on the master that the replica has.
fn sentinel_fleet() -> Drill {
  let drill = Drill::up(&["redis-master-01", "redis-replica-01"]);
  drill.stock_redis("redis-master-01", None);
  drill.stock_redis("redis-replica-01", Some("redis-master-01"));
  drill.sentinel("redis-master-01", "redis-master-01");
  drill.sentinel("redis-replica-01", "redis-master-01");
  let replica_ip = drill.ip("redis-replica-01");
  drill.script(
    "redis-master-01",
    "for i in $(seq 1 50); do redis-cli set session:$i user$i >/dev/null; done",
  );
  wait_for(30, "the replica has the master's keys", || {
    let n = stdout(&drill, "redis-replica-01", "redis-cli dbsize");
    (n == "50", n)
  });
  // The replica's Sentinel knows the replica (a failover needs one to promote).
  wait_for(30, "Sentinel on the replica lists the replica", || {
    let out = stdout(
      &drill,
      "redis-replica-01",
      "redis-cli -p 26379 sentinel replicas mymaster",
    );
    (out.contains(&replica_ip), out)
  });
  drill
}

/// The break: the master stops (writing its dump.rdb), and its dump.rdb is then corrupted, so
/// Redis refuses to start again ("Short read … Unrecoverable error, aborting now"). Returns the
/// corrupt file's checksum.
fn master_cannot_start(drill: &Drill) -> String {
  drill.systemctl("redis-master-01", "stop", "redis-server");
  drill.script(
    "redis-master-01",
    "printf 'REDIS0010\\372garbage' > /var/lib/redis/dump.rdb",
  );
  let restart = drill.exec("redis-master-01", "systemctl start redis-server");
  assert!(
    !restart.status.success(),
    "the break did not take: the master started again"
  );
  assert_ne!(stdout(drill, "redis-master-01", "redis-cli ping"), "PONG");
  stdout(drill, "redis-master-01", "md5sum /var/lib/redis/dump.rdb")
}

#[test]
fn redis_outage_fails_over_to_the_replica_when_the_master_cannot_start() {
  let started = Instant::now();
  let machine = machine_conf();
  let drill = sentinel_fleet();
  let master_ip = drill.ip("redis-master-01");
  let replica_ip = drill.ip("redis-replica-01");
  // Sentinel's own failover has failed: a quorum no two Sentinels reach (a classic
  // misconfiguration) never agrees the master is down, so only an operator's `SENTINEL FAILOVER`
  // (which needs no agreement) promotes the replica. Without this, the Sentinels would fail over
  // by themselves within seconds and the drill would not tell the runbook's work from theirs.
  for host in ["redis-master-01", "redis-replica-01"] {
    drill.script(host, "redis-cli -p 26379 sentinel set mymaster quorum 3");
  }
  let corrupt = master_cannot_start(&drill);
  // Nothing healed it yet: the replica is still a replica, Sentinel still names the old master.
  assert_eq!(role(&drill, "redis-replica-01", false), "slave");
  assert_eq!(sentinel_master(&drill, "redis-replica-01"), master_ip);

  // A careful operator: restart first; when it stays down, fence the old master and fail over
  // (destructive: the replica's name); no restore, no memory changes; users are told.
  let run_started = Instant::now();
  let (answered, transcript) = walk(
    &drill,
    "redis-outage",
    &[],
    &["restart-redis", "fence-redis-master"],
    &[("sentinel-failover", "redis-replica-01")],
    "done",
  );
  let run_took = run_started.elapsed();
  println!("answered: {answered:#?}\n{transcript}");

  // Healed: the replica is the master, with the sessions, and Sentinel names it.
  wait_for(30, "redis-replica-01 is a master", || {
    let r = role(&drill, "redis-replica-01", false);
    (r == "master", r)
  });
  wait_for(30, "Sentinel on redis-replica-01 names the replica", || {
    let a = sentinel_master(&drill, "redis-replica-01");
    (a == replica_ip, a)
  });
  wait_for(30, "Sentinel on redis-master-01 names the replica", || {
    let a = sentinel_master(&drill, "redis-master-01");
    (a == replica_ip, a)
  });
  assert_eq!(stdout(&drill, "redis-replica-01", "redis-cli dbsize"), "50");
  assert_eq!(
    stdout(
      &drill,
      "redis-replica-01",
      "redis-cli get session:1; redis-cli get session:50"
    ),
    "user1\nuser50"
  );
  // It takes writes again.
  assert_eq!(
    stdout(&drill, "redis-replica-01", "redis-cli set after:failover 1"),
    "OK"
  );

  let journal = drill.journal();
  assert_eq!(outcome(&journal, "redis-ping"), vec!["failed"]);
  assert!(decided(&journal, "restart-redis", "yes"), "{answered:#?}");
  assert_eq!(outcome(&journal, "restart-redis"), vec!["failed"]);
  assert_eq!(outcome(&journal, "ping-after-restart"), vec!["failed"]);
  assert_eq!(outcome(&journal, "sentinel-present"), vec!["passed"]);
  assert_eq!(outcome(&journal, "fence-redis-master"), vec!["passed"]);
  // Proven from the replica before the promotion was offered.
  assert_eq!(outcome(&journal, "master-fenced"), vec!["passed"]);
  assert!(
    decided(&journal, "sentinel-failover", "yes"),
    "{answered:#?}"
  );
  assert_eq!(outcome(&journal, "sentinel-failover"), vec!["passed"]);
  // The runbook itself verified the promotion, and its closing checks followed the master
  // Sentinel names (an address, matched to the inventory host it reaches).
  assert_eq!(outcome(&journal, "failover-done"), vec!["passed"]);
  for step in ["verify-ping", "verify-memory"] {
    assert_eq!(
      on_hosts(&journal, step),
      [("redis-replica-01", "passed")],
      "{step}"
    );
  }
  // Only that: no restore of an RDB over live data (not even offered), nothing else changed.
  assert!(
    !journal
      .iter()
      .any(|r| r["step"] == "restore-rdb" && (r["type"] == "decision" || r["type"] == "would-run")),
    "a restore was offered after a Sentinel failover:\n{answered:#?}"
  );
  for never in [
    "backup-check",
    "restore-rdb",
    "raise-maxmemory",
    "set-eviction-policy",
  ] {
    assert!(
      outcome(&journal, never)
        .iter()
        .all(|o| *o == "skipped" || *o == "not-applicable"),
      "{never}: {:?}",
      outcome(&journal, never)
    );
  }
  // The old master's files are as the break left them (a restore would have replaced dump.rdb
  // and kept the old one as dump.rdb~), and it stays fenced.
  assert_eq!(
    stdout(&drill, "redis-master-01", "md5sum /var/lib/redis/dump.rdb"),
    corrupt
  );
  assert_eq!(
    stdout(
      &drill,
      "redis-master-01",
      "test -e /var/lib/redis/dump.rdb~ && echo kept || echo none"
    ),
    "none"
  );
  assert_ne!(stdout(&drill, "redis-master-01", "redis-cli ping"), "PONG");
  // The promotion rewrote the replica's own copy, never the machine's file.
  assert!(
    stdout(
      &drill,
      "redis-replica-01",
      "grep -c 'Generated by CONFIG REWRITE' /etc/redis/redis.conf"
    ) == "1",
    "the promoted replica's configuration was not rewritten where expected"
  );
  assert_eq!(
    machine_conf(),
    machine,
    "the machine's /etc/redis/redis.conf changed"
  );
  println!(
    "redis-outage run took {run_took:?}; the drill {:?}",
    started.elapsed()
  );
}

/// Redis as [`Drill::stock_redis`] runs it, with a password: the host's own copy of
/// /etc/redis (the machine's file is never edited) gets `requirepass` (and `masterauth`, which a
/// replica of a password-protected master needs). The unit's readiness probe reads the password
/// from that file, as the runbook does, so it is on no command line.
fn auth_redis(drill: &Drill, host: &str, replica_of: Option<&str>) {
  drill.private(host, "/etc/redis", true);
  drill.script(
    host,
    &format!(
      "printf '\\nrequirepass {PASSWORD}\\nmasterauth {PASSWORD}\\n' >> /etc/redis/redis.conf"
    ),
  );
  drill.private(host, "/var/lib/redis", false);
  drill.private(host, "/var/log/redis", false);
  let replica = replica_of
    .map(|m| format!(" --replicaof {} 6379", drill.ip(m)))
    .unwrap_or_default();
  drill.unit(
    host,
    "redis-server",
    &format!(
      "redis-server /etc/redis/redis.conf --daemonize no --supervised no --pidfile {}/run/redis.pid --bind '127.0.0.1 -::1 {}' --protected-mode no{replica}",
      drill.host_dir(host).display(),
      drill.ip(host)
    ),
    "REDISCLI_AUTH=$(sed -n 's/^requirepass //p' /etc/redis/redis.conf) redis-cli ping | grep -q PONG",
  );
  drill.systemctl(host, "start", "redis-server");
}

/// Every journal megacity wrote for this drill, as text.
fn all_journals(drill: &Drill) -> String {
  let dir = drill.test.path("xdg-state/megacity/journal");
  let mut text = String::new();
  for entry in std::fs::read_dir(dir).unwrap().flatten() {
    text.push_str(&std::fs::read_to_string(entry.path()).unwrap_or_default());
  }
  text
}

#[test]
fn redis_outage_with_a_password_restarts_and_judges_with_auth_without_showing_it() {
  let started = Instant::now();
  let machine = machine_conf();
  let drill = Drill::up(&["redis-master-01", "redis-replica-01"]);
  auth_redis(&drill, "redis-master-01", None);
  auth_redis(&drill, "redis-replica-01", Some("redis-master-01"));
  // Sentinels that know the password, as a password-protected set-up configures them.
  for host in ["redis-master-01", "redis-replica-01"] {
    drill.sentinel(host, "redis-master-01");
    let conf = drill.host_dir(host).join("sentinel.conf");
    let mut text = std::fs::read_to_string(&conf).unwrap();
    text.push_str(&format!("sentinel auth-pass mymaster {PASSWORD}\n"));
    std::fs::write(&conf, text).unwrap();
    drill.systemctl(host, "restart", "redis-sentinel");
  }
  // The password is required, and is the one set: no answer without it, PONG with it.
  let bare = stdout(&drill, "redis-master-01", "redis-cli ping 2>&1");
  assert!(
    bare.contains("NOAUTH"),
    "Redis answered without a password: {bare}"
  );

  let pong = || {
    stdout(
      &drill,
      "redis-master-01",
      &format!("REDISCLI_AUTH={PASSWORD} redis-cli ping"),
    )
  };
  assert_eq!(pong(), "PONG");
  wait_for(30, "the replica follows the master with masterauth", || {
    let r = stdout(
      &drill,
      "redis-replica-01",
      &format!(
        "REDISCLI_AUTH={PASSWORD} redis-cli info replication | tr -d '\\r' | grep '^master_link_status:'"
      ),
    );
    (r == "master_link_status:up", r)
  });
  wait_for(30, "Sentinel sees a healthy master", || {
    let f = stdout(
      &drill,
      "redis-replica-01",
      "redis-cli -p 26379 sentinel master mymaster | grep -A1 -x flags | tail -n 1",
    );
    (f == "master", f)
  });

  // Triage of the healthy set-up: nothing proposed, no check failed, memory judged with AUTH.
  let triage_started = Instant::now();
  let triage = drill.run("redis-outage", &["--checks-only"]);
  let triage_took = triage_started.elapsed();
  println!(
    "triage ({triage_took:?}, exit {}):\n{}\n{}",
    triage.code, triage.stdout, triage.stderr
  );
  let journal = drill.journal();
  let proposed: Vec<String> = journal
    .iter()
    .filter(|r| r["type"] == "would-run")
    .map(|r| r.to_string())
    .collect();
  assert!(proposed.is_empty(), "triage proposed: {proposed:#?}");
  let failed: Vec<String> = journal
    .iter()
    .filter(|r| r["type"] == "host-result" && r["outcome"] == "failed")
    .map(|r| r.to_string())
    .collect();
  assert!(failed.is_empty(), "checks failed: {failed:#?}");
  assert_eq!(outcome(&journal, "redis-ping"), vec!["passed"]);
  assert_eq!(outcome(&journal, "redis-memory"), vec!["passed"]);
  // Without the password there is no number to judge: the pass above was judged with AUTH.
  let bare = stdout(
    &drill,
    "redis-master-01",
    "redis-cli info memory 2>&1 | grep -c '^used_memory:'",
  );
  assert_eq!(bare, "0", "INFO answered without a password");
  assert_eq!(
    outcome(&journal, "sentinel-status"),
    vec!["passed", "passed"]
  );
  assert_eq!(triage.code, crate::test::exit::SUCCESS, "{}", triage.stdout);
  for (what, text) in [("stdout", &triage.stdout), ("stderr", &triage.stderr)] {
    assert!(
      !text.contains(PASSWORD),
      "the password is in triage's {what}"
    );
  }

  // The break: Redis stops.
  drill.systemctl("redis-master-01", "stop", "redis-server");
  assert_ne!(pong(), "PONG", "the break did not take");

  // Only the restart is run; every other action and the manual step are skipped.
  let run_started = Instant::now();
  let (answered, transcript) = walk(&drill, "redis-outage", &[], &["restart-redis"], &[], "skip");
  let run_took = run_started.elapsed();
  println!("answered: {answered:#?}\n{transcript}");
  assert_eq!(pong(), "PONG", "Redis is still down: {answered:#?}");

  let journal = drill.journal();
  assert_eq!(outcome(&journal, "redis-ping"), vec!["failed"]);
  // A Redis that is down says nothing about its memory; after the restart it is judged.
  assert_eq!(outcome(&journal, "redis-memory"), vec!["unknown"]);
  assert!(decided(&journal, "restart-redis", "yes"), "{answered:#?}");
  assert_eq!(outcome(&journal, "restart-redis"), vec!["passed"]);
  assert_eq!(outcome(&journal, "ping-after-restart"), vec!["passed"]);
  assert_eq!(outcome(&journal, "verify-ping"), vec!["passed"]);
  assert_eq!(outcome(&journal, "verify-memory"), vec!["passed"]);
  for never in [
    "fence-redis-master",
    "sentinel-failover",
    "restore-rdb",
    "raise-maxmemory",
    "set-eviction-policy",
  ] {
    assert!(
      outcome(&journal, never)
        .iter()
        .all(|o| *o == "skipped" || *o == "not-applicable"),
      "{never}: {:?}",
      outcome(&journal, never)
    );
  }
  // The password is nowhere: not in any journal record (commands included), not on the terminal.
  let journals = all_journals(&drill);
  assert!(!journals.is_empty());
  assert!(
    !journals.contains(PASSWORD),
    "the password is in the journal: {}",
    journals
      .lines()
      .filter(|l| l.contains(PASSWORD))
      .collect::<Vec<_>>()
      .join("\n")
  );
  assert!(
    !transcript.contains(PASSWORD),
    "the password is on megacity's terminal"
  );
  assert_eq!(
    machine_conf(),
    machine,
    "the machine's /etc/redis/redis.conf changed"
  );
  println!(
    "triage took {triage_took:?}, redis-outage run {run_took:?}; the drill {:?}",
    started.elapsed()
  );
}

/// The same break with Sentinel working as configured (quorum 2, both Sentinels up): Sentinel
/// promotes the replica by itself within seconds, before an operator opens the runbook. The
/// runbook must then leave the new master alone: no second failover of a healthy master (with
/// more replicas it would move the master again and lose what was written since), no restore.
#[test]
fn redis_outage_leaves_a_master_sentinel_already_promoted_alone() {
  let machine = machine_conf();
  let drill = sentinel_fleet();
  let replica_ip = drill.ip("redis-replica-01");
  let corrupt = master_cannot_start(&drill);
  // Sentinel's own failover (down-after 5 s, then agreement and promotion).
  wait_for(60, "Sentinel promotes the replica by itself", || {
    let r = role(&drill, "redis-replica-01", false);
    let a = sentinel_master(&drill, "redis-replica-01");
    (r == "master" && a == replica_ip, format!("{r} {a}"))
  });

  // The operator restarts and fences; the failover prompt, if offered, is skipped.
  let run_started = Instant::now();
  let (answered, transcript) = walk(
    &drill,
    "redis-outage",
    &[],
    &["restart-redis", "fence-redis-master"],
    &[],
    "done",
  );
  println!(
    "redis-outage run took {:?}; answered: {answered:#?}\n{transcript}",
    run_started.elapsed()
  );

  // The new master is untouched: still the master Sentinel names, with every session.
  assert_eq!(role(&drill, "redis-replica-01", false), "master");
  assert_eq!(sentinel_master(&drill, "redis-replica-01"), replica_ip);
  assert_eq!(stdout(&drill, "redis-replica-01", "redis-cli dbsize"), "50");
  let journal = drill.journal();
  for step in ["verify-ping", "verify-memory"] {
    assert_eq!(
      on_hosts(&journal, step),
      [("redis-replica-01", "passed")],
      "{step}"
    );
  }
  assert!(
    !journal
      .iter()
      .any(|r| r["step"] == "restore-rdb" && r["type"] == "decision"),
    "a restore was offered after a Sentinel failover:\n{answered:#?}"
  );
  assert_eq!(
    stdout(&drill, "redis-master-01", "md5sum /var/lib/redis/dump.rdb"),
    corrupt
  );
  assert_eq!(
    machine_conf(),
    machine,
    "the machine's /etc/redis/redis.conf changed"
  );
  // Sentinel already names the replica: a failover is not the runbook's to offer.
  let offered: Vec<&serde_json::Value> = journal
    .iter()
    .filter(|r| r["step"] == "sentinel-failover" && r["type"] == "decision")
    .collect();
  assert!(
    offered.is_empty(),
    "redis-outage offered `SENTINEL FAILOVER` on redis-replica-01, which Sentinel had already promoted: {offered:#?}\nanswered: {answered:#?}"
  );
}
