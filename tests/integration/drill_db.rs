//! Fire drills for the database runbooks: db-slow-query and data-corruption, shipped and
//! unchanged, against a PostgreSQL cluster as Debian installs it (tests/integration/stock.rs) on
//! a fleet host, broken for real. Each drill looks at the database itself before and after: the
//! break healed, and nothing else touched.

use std::time::{Duration, Instant};

use crate::drill::{Drill, Prompt, outcome};

const DB: &str = "db-primary-01";

/// The application's connection: the `app` role over TCP (scram), as the API connects.
const AS_APP: &str =
  "env PGPASSWORD=fleet-app psql -X -h 127.0.0.1 -U app -d dreamseed -v ON_ERROR_STOP=1";

/// One shell word.
fn quote(s: &str) -> String {
  format!("'{}'", s.replace('\'', "'\\''"))
}

/// `sql` as `postgres` (peer authentication) in `database` on the database host: its output.
fn psql(drill: &Drill, database: &str, sql: &str) -> String {
  drill
    .script(
      DB,
      &format!(
        "runuser -u postgres -- psql -X -qAt -v ON_ERROR_STOP=1 -d {database} -c {}",
        quote(sql)
      ),
    )
    .trim()
    .to_string()
}

fn answered(journal: &[serde_json::Value], step: &str) -> Vec<String> {
  journal
    .iter()
    .filter(|r| r["type"] == "decision" && r["step"] == step)
    .map(|r| r["answer"].as_str().unwrap_or("").to_string())
    .collect()
}

/// Polls `probe` until it holds; false after `limit` (a bound, not a timing assertion).
fn eventually(limit: Duration, mut probe: impl FnMut() -> bool) -> bool {
  let deadline = Instant::now() + limit;
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

/// What a table holds: its row count and a digest of every row.
fn fingerprint(drill: &Drill, database: &str, table: &str) -> String {
  psql(
    drill,
    database,
    &format!(
      "SELECT count(*) || ' ' || coalesce(md5(string_agg(t::text, ',' ORDER BY t.id)), '-') FROM {table} t"
    ),
  )
}

/// Runs `id` in a pty as an operator at the keyboard, like [`Drill::walk_prompts`], but answers
/// by step id: `answers` names the answer to a step's prompt (`yes` for an action, the host name
/// for a destructive one, `done`/`skip` for a manual step); every other prompt is skipped.
/// `operator` runs before a manual step is answered (the operator's own work at that step).
/// Returns what was answered and everything the run printed, for failure messages.
fn walk(
  drill: &Drill,
  id: &str,
  args: &[&str],
  answers: &[(&str, &str)],
  mut operator: impl FnMut(&str),
) -> (Vec<String>, String) {
  drill.walk(id, args, |prompt, step| {
    if prompt == Prompt::Failed {
      return "skip".into();
    }
    if prompt == Prompt::Manual {
      operator(step);
    }
    answers
      .iter()
      .find(|(id, _)| *id == step)
      .map_or("skip".into(), |(_, a)| a.to_string())
  })
}

// --- db-slow-query ------------------------------------------------------------------------------

/// A background client on the database host, bounded (`timeout 900`: longer than the drill,
/// whose two runs wait minutes on checks behind the lock; a client that ended on its own bound
/// would pass for one the runbook stopped), named `name`
/// (application_name), its output and exit code in the returned file; `input` feeds psql's
/// standard input (a pipe that stays open: the session stays connected). It outlives the exec;
/// the fleet's end kills it.
fn client(drill: &Drill, name: &str, input: Option<&str>, psql_args: &str) -> std::path::PathBuf {
  let log = drill.host_dir(DB).join(format!("{name}.log"));
  let feed = input.map_or(String::new(), |i| format!("{i} | "));
  let line = format!(
    "{feed}PGAPPNAME={name} timeout 900 {AS_APP} {psql_args} >{log} 2>&1; echo \"exit=$?\" >>{log}",
    log = log.display()
  );
  let out = drill.exec(
    DB,
    &format!("setsid sh -c {} </dev/null >/dev/null 2>&1 &", quote(&line)),
  );
  assert!(out.status.success(), "{out:?}");
  log
}

/// The backend pid of the session named `name` (application_name), if it is connected.
fn backend(drill: &Drill, name: &str) -> Option<String> {
  let pid = psql(
    drill,
    "dreamseed",
    &format!("SELECT pid FROM pg_stat_activity WHERE application_name = '{name}'"),
  );
  (!pid.is_empty()).then_some(pid)
}

/// How the session that holds the lock holds it.
#[derive(PartialEq)]
enum Blocker {
  /// Inside a query that runs for fifteen minutes: a cancel ends it.
  SlowQuery,
  /// In a transaction the client left open, doing nothing ("idle in transaction"): a cancel
  /// has no query to stop, only a terminate ends it.
  IdleInTransaction,
}

/// db-slow-query against a session that holds an exclusive lock on exam_attempts, with a client
/// of that table waiting behind it and an unrelated idle application session; the operator
/// confirms only the cancel and the terminate of the lock holder's pid.
fn lock_drill(blocker: Blocker) {
  let drill = Drill::up(&[DB]);
  drill.stock_postgres(DB);
  drill.application_tables(DB);

  // A healthy, unrelated session of the application: connected, idle, for the whole drill.
  client(
    &drill,
    "bystander",
    Some("{ echo 'SELECT 1;'; sleep 900; }"),
    "-qAt",
  );
  // The break.
  let blocker_log = match blocker {
    Blocker::SlowQuery => client(
      &drill,
      "blocker",
      None,
      "-c BEGIN -c 'LOCK TABLE exam_attempts IN ACCESS EXCLUSIVE MODE' -c 'SELECT pg_sleep(900)'",
    ),
    Blocker::IdleInTransaction => client(
      &drill,
      "blocker",
      Some(
        "{ echo 'BEGIN;'; echo 'LOCK TABLE exam_attempts IN ACCESS EXCLUSIVE MODE;'; sleep 900; }",
      ),
      "",
    ),
  };
  assert!(
    eventually(Duration::from_secs(20), || psql(
      &drill,
      "dreamseed",
      "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE a.application_name = 'blocker' AND l.mode = 'AccessExclusiveLock' AND l.granted AND l.relation = 'exam_attempts'::regclass"
    ) == "1"),
    "the blocker did not take its lock: {}",
    std::fs::read_to_string(&blocker_log).unwrap_or_default()
  );
  let waiter_log = client(
    &drill,
    "waiter",
    None,
    "-qAt -c 'SELECT count(*) FROM exam_attempts'",
  );
  // Both are past the runbook's 5-second mark, the waiter waiting on the lock.
  let state = match blocker {
    Blocker::SlowQuery => "active",
    Blocker::IdleInTransaction => "idle in transaction",
  };
  assert!(
    eventually(Duration::from_secs(30), || psql(
      &drill,
      "dreamseed",
      &format!(
        "SELECT count(*) FROM pg_stat_activity WHERE now() - query_start > interval '6 seconds' AND ((application_name = 'blocker' AND state = '{state}') OR (application_name = 'waiter' AND state = 'active' AND wait_event_type = 'Lock'))"
      )
    ) == "2"),
    "the lock holder and its waiter did not settle"
  );
  let bystander = backend(&drill, "bystander").expect("the bystander session is connected");
  // The operator finds the pid as the runbook's lock-waits check shows it: the waiter's blocker.
  let pid = psql(
    &drill,
    "dreamseed",
    "SELECT unnest(pg_blocking_pids(pid)) FROM pg_stat_activity WHERE application_name = 'waiter'",
  );
  assert_eq!(Some(pid.clone()), backend(&drill, "blocker"));

  // Triage sees it and changes nothing.
  let started = Instant::now();
  let triage = drill.run("db-slow-query", &["--checks-only"]);
  println!(
    "triage took {:?}:\n{}\n{}",
    started.elapsed(),
    triage.stdout,
    triage.stderr
  );
  let journal = drill.journal();
  assert_eq!(outcome(&journal, "long-running-queries"), vec!["failed"]);
  assert_eq!(outcome(&journal, "lock-waits"), vec!["failed"]);
  assert_eq!(triage.code, crate::test::exit::FAILURE);
  assert_eq!(backend(&drill, "blocker"), Some(pid.clone()));
  assert!(backend(&drill, "waiter").is_some());

  // The run: only the stop of that one backend is confirmed; ANALYZE and the replica are not.
  let started = Instant::now();
  let target = format!("pid={pid}");
  let (given, transcript) = walk(
    &drill,
    "db-slow-query",
    &["--var", &target],
    &[("cancel-query", DB), ("terminate-query", DB)],
    |_| {},
  );
  println!("run took {:?}:\n{transcript}", started.elapsed());
  let context = format!("answered: {given:#?}\n{transcript}");

  // The lock holder is gone, its transaction rolled back.
  assert!(
    eventually(Duration::from_secs(20), || backend(&drill, "blocker")
      .is_none()),
    "the blocking backend {pid} is still there; {context}"
  );
  if blocker == Blocker::SlowQuery {
    let blocker_said = std::fs::read_to_string(&blocker_log).unwrap();
    assert!(
      blocker_said.contains("canceling statement due to user request"),
      "{blocker_said}"
    );
  }
  // The waiting client got its lock and its answer.
  assert!(
    eventually(Duration::from_secs(30), || std::fs::read_to_string(
      &waiter_log
    )
    .unwrap_or_default()
    .contains("exit=")),
    "the waiting client never finished; {context}"
  );
  assert_eq!(
    std::fs::read_to_string(&waiter_log).unwrap(),
    "5000\nexit=0\n",
    "{context}"
  );
  // Only the target was stopped: the idle application session is still connected, and the
  // table's rows are all there.
  assert_eq!(
    backend(&drill, "bystander"),
    Some(bystander),
    "the unrelated session was stopped; {context}"
  );
  assert_eq!(
    psql(&drill, "dreamseed", "SELECT count(*) FROM exam_attempts"),
    "5000"
  );

  let journal = drill.journal();
  assert_eq!(outcome(&journal, "long-running-queries"), vec!["failed"]);
  assert_eq!(outcome(&journal, "lock-waits"), vec!["failed"]);
  assert_eq!(
    outcome(&journal, "target-query"),
    vec!["passed"],
    "{context}"
  );
  assert_eq!(answered(&journal, "cancel-query"), vec!["yes"], "{context}");
  assert_eq!(
    outcome(&journal, "cancel-query"),
    vec!["passed"],
    "{context}"
  );
  match blocker {
    Blocker::SlowQuery => {
      assert_eq!(
        outcome(&journal, "query-still-busy"),
        vec!["passed"],
        "{context}"
      );
      // A cancel was enough: the terminate was neither asked nor run.
      assert!(
        answered(&journal, "terminate-query").is_empty(),
        "{context}"
      );
      assert!(
        !outcome(&journal, "terminate-query")
          .iter()
          .any(|o| *o == "passed" || *o == "failed"),
        "{context}"
      );
    }
    Blocker::IdleInTransaction => {
      // The cancel found no query to stop; the session survived it and was terminated.
      assert_eq!(
        outcome(&journal, "query-still-busy"),
        vec!["failed"],
        "{context}"
      );
      assert_eq!(
        answered(&journal, "terminate-query"),
        vec!["yes"],
        "{context}"
      );
      assert_eq!(
        outcome(&journal, "terminate-query"),
        vec!["passed"],
        "{context}"
      );
    }
  }
  // Nothing else was done: ANALYZE was offered and declined, no index was built.
  assert!(!outcome(&journal, "analyze").contains(&"passed"));
  assert!(!outcome(&journal, "create-indexes").contains(&"passed"));
  assert_eq!(
    outcome(&journal, "verify-long-queries"),
    vec!["passed"],
    "{context}"
  );
}

#[test]
fn db_slow_query_cancels_the_lock_holder_and_nothing_else() {
  lock_drill(Blocker::SlowQuery);
}

#[test]
fn db_slow_query_terminates_an_idle_transaction_that_survives_the_cancel() {
  lock_drill(Blocker::IdleInTransaction);
}

// --- data-corruption -------------------------------------------------------------------------

#[test]
fn data_corruption_freezes_writes_and_restores_into_a_scratch_database() {
  let drill = Drill::up(&[DB, "backend-api-01", "backend-api-02"]);
  for api in ["backend-api-01", "backend-api-02"] {
    drill.app(api, "backend-api", 8000, "/var/log/backend-api/app.log", "");
  }
  drill.stock_postgres(DB);
  drill.application_tables(DB);
  // Last night's backup, where seed 002 B keeps it.
  drill.private(DB, "/backup", false);
  drill.script(
    DB,
    "chown postgres:postgres /backup
     runuser -u postgres -- pg_dump -Fc -d dreamseed -f /backup/dreamseed-nightly.dump",
  );
  // Written after the backup, before the damage: a restore over the live database would lose it.
  drill.script(
    DB,
    &format!("{AS_APP} -q -c \"INSERT INTO questions (body) VALUES ('written after the backup')\""),
  );
  let others = [
    "questions",
    "test_results",
    "exam_attempts",
    "exam_responses",
  ];
  let before: Vec<String> = others
    .iter()
    .map(|t| fingerprint(&drill, "dreamseed", t))
    .collect();
  let users = fingerprint(&drill, "dreamseed", "users");
  assert!(users.starts_with("500 "), "{users}");

  // The break: the application deleted every user.
  drill.script(DB, &format!("{AS_APP} -q -c 'DELETE FROM users'"));
  assert!(fingerprint(&drill, "dreamseed", "users").starts_with("0 "));

  // Triage sees it and changes nothing.
  let triage = drill.run("data-corruption", &["--checks-only"]);
  let journal = drill.journal();
  assert_eq!(
    outcome(&journal, "key-tables"),
    vec!["failed"],
    "{}",
    triage.stdout
  );
  assert_eq!(
    psql(&drill, "dreamseed", "SHOW default_transaction_read_only"),
    "off"
  );

  // The run, answered as a careful operator: freeze writes, restore into the scratch database,
  // copy the lost rows back (by hand, as the manual step says), and only then allow writes.
  let mut frozen = None;
  let mut copied = None;
  let started = Instant::now();
  let (given, transcript) = walk(
    &drill,
    "data-corruption",
    &["--var", "backup_file=/backup/dreamseed-nightly.dump"],
    &[
      ("read-only-on", "yes"),
      ("restore-to-temp", DB),
      ("copy-back-rows", "done"),
      ("security-response", "done"),
      ("read-only-off", "yes"),
    ],
    |step| {
      if step != "copy-back-rows" {
        return;
      }
      // The live database refuses the application's writes now.
      let out = drill.exec(
        DB,
        &format!("{AS_APP} -q -c \"INSERT INTO questions (body) VALUES ('during the freeze')\""),
      );
      frozen = Some((
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
      ));
      // The copy-back the instructions give: the missing rows from the restored copy into the
      // live database, in a session that turns read-only off for itself.
      let out = drill.exec(
        DB,
        "runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -d dreamseed_temp -c '\\copy (SELECT * FROM users ORDER BY id) TO STDOUT CSV' \
         | runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -d dreamseed -c 'SET default_transaction_read_only = off' -c '\\copy users FROM pstdin CSV'",
      );
      copied = Some((
        out.status.success(),
        format!(
          "{}{}",
          String::from_utf8_lossy(&out.stdout),
          String::from_utf8_lossy(&out.stderr)
        ),
      ));
    },
  );
  println!("run took {:?}:\n{transcript}", started.elapsed());
  let context = format!("answered: {given:#?}\n{transcript}");

  // During the run the live database was read-only for new sessions.
  let (wrote, said) =
    frozen.unwrap_or_else(|| panic!("copy-back-rows was never reached; {context}"));
  assert!(!wrote, "a write got through during the freeze; {context}");
  assert!(said.contains("read-only transaction"), "{said}");
  let (ok, said) = copied.unwrap();
  assert!(ok, "the copy-back failed: {said}");

  // The scratch database holds the backup's users: the same rows as before the damage.
  assert_eq!(
    psql(
      &drill,
      "postgres",
      "SELECT count(*) FROM pg_database WHERE datname = 'dreamseed_temp'"
    ),
    "1"
  );
  assert_eq!(fingerprint(&drill, "dreamseed_temp", "users"), users);
  // Nothing was restored over the live database: its other tables are as they were, the row
  // written after the backup included; the users are back, copied by hand.
  let after: Vec<String> = others
    .iter()
    .map(|t| fingerprint(&drill, "dreamseed", t))
    .collect();
  assert_eq!(before, after, "{context}");
  assert_eq!(
    psql(
      &drill,
      "dreamseed",
      "SELECT count(*) FROM questions WHERE body = 'written after the backup'"
    ),
    "1"
  );
  assert_eq!(fingerprint(&drill, "dreamseed", "users"), users);
  // Writes work again, for the application's new sessions; no setting is left on the database.
  drill.script(
    DB,
    &format!("{AS_APP} -q -c \"INSERT INTO users (email) VALUES ('after@example.com')\""),
  );
  assert_eq!(
    psql(
      &drill,
      "dreamseed",
      "SELECT count(*) FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase WHERE d.datname = 'dreamseed' AND array_to_string(s.setconfig, ',') LIKE '%default_transaction_read_only=on%'"
    ),
    "0"
  );

  let journal = drill.journal();
  assert_eq!(outcome(&journal, "key-tables"), vec!["failed"], "{context}");
  assert_eq!(answered(&journal, "read-only-on"), vec!["yes"], "{context}");
  assert_eq!(
    outcome(&journal, "read-only-on"),
    vec!["passed"],
    "{context}"
  );
  assert_eq!(
    outcome(&journal, "read-only-active"),
    vec!["passed"],
    "{context}"
  );
  assert_eq!(
    outcome(&journal, "backup-available"),
    vec!["passed"],
    "{context}"
  );
  assert_eq!(
    answered(&journal, "restore-to-temp"),
    vec!["yes"],
    "{context}"
  );
  assert_eq!(
    outcome(&journal, "restore-to-temp"),
    vec!["passed"],
    "{context}"
  );
  assert_eq!(
    outcome(&journal, "restored-tables"),
    vec!["passed"],
    "{context}"
  );
  assert_eq!(
    outcome(&journal, "writes-allowed"),
    vec!["failed"],
    "{context}"
  );
  assert_eq!(
    answered(&journal, "read-only-off"),
    vec!["yes"],
    "{context}"
  );
  assert_eq!(
    outcome(&journal, "read-only-off"),
    vec!["passed"],
    "{context}"
  );
  assert_eq!(
    outcome(&journal, "verify-writable"),
    vec!["passed"],
    "{context}"
  );
  assert_eq!(
    outcome(&journal, "verify-key-tables"),
    vec!["passed"],
    "{context}"
  );
  assert_eq!(
    outcome(&journal, "verify-api-health"),
    vec!["passed", "passed"],
    "{context}"
  );
}
