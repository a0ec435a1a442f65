//! Fire drill: the primary PostgreSQL cannot come back, and db-primary-failure, unchanged,
//! fences it before it promotes the streaming replica — never two writable primaries.

use crate::drill::{Drill, Prompt};

const PSQL: &str = "runuser -u postgres -- psql -X -qAt -d dreamseed";

#[test]
fn db_primary_failure_fences_the_broken_primary_then_promotes_the_replica() {
  let drill = Drill::up(&["db-primary-01", "db-replica-01"]);
  drill.stock_postgres("db-primary-01");
  drill.stock_replica("db-replica-01", "db-primary-01");
  // Rows the replica must carry over, streamed before the break.
  drill.script(
    "db-primary-01",
    &format!(
      "{PSQL} -c 'CREATE TABLE orders (id int PRIMARY KEY)' -c 'INSERT INTO orders SELECT generate_series(1, 1000)'
       for i in $(seq 1 100); do [ \"$({PSQL} -c 'SELECT state FROM pg_stat_replication')\" = streaming ] && break; sleep 0.1; done"
    ),
  );
  drill.script(
    "db-replica-01",
    &format!(
      "for i in $(seq 1 100); do [ \"$({PSQL} -c 'SELECT count(*) FROM orders' 2>/dev/null)\" = 1000 ] && exit 0; sleep 0.1; done; exit 1"
    ),
  );
  // The break: the primary stops and its control file is gone, so no restart brings it back.
  drill.systemctl("db-primary-01", "stop", "postgresql@15-main");
  drill.script(
    "db-primary-01",
    "mv /var/lib/postgresql/15/main/global/pg_control /var/lib/postgresql/pg_control.lost",
  );

  // A pg_unit that names no unit there: systemd would mask the name and fence nothing. The
  // fence refuses it, masks nothing, and the unattended run stops there, before any promotion.
  let wrong = drill.run(
    "db-primary-failure",
    &[
      "--host",
      "db-primary-01",
      "--host",
      "db-replica-01",
      "--yes",
      "--yes-destructive",
      "--var",
      "pg_unit=postgresql@99-main",
      "--from",
      "fence-primary",
    ],
  );
  let said = format!("{}{}", wrong.stdout, wrong.stderr);
  assert_eq!(wrong.code, crate::test::exit::FAILURE, "{said}");
  assert!(
    said.contains("no systemd unit for the PostgreSQL cluster"),
    "{said}"
  );
  let units = drill.exec(
    "db-primary-01",
    "systemctl show -p LoadState --value postgresql@99-main; systemctl show -p LoadState --value postgresql@15-main",
  );
  assert_eq!(
    String::from_utf8_lossy(&units.stdout),
    "not-found\nloaded\n",
    "{said}"
  );
  assert_eq!(
    drill
      .script(
        "db-replica-01",
        &format!("{PSQL} -c 'SELECT pg_is_in_recovery()'")
      )
      .trim(),
    "t",
    "promoted after a fence that fenced nothing: {said}"
  );

  let (answered, _) = drill.walk(
    "db-primary-failure",
    &["--host", "db-primary-01", "--host", "db-replica-01"],
    |prompt, step| match (prompt, step) {
      (Prompt::Run, "restart-postgres") => "yes".into(),
      (Prompt::Destructive, "fence-primary") => "db-primary-01".into(),
      (Prompt::Destructive, "promote-replica") => "db-replica-01".into(),
      _ => "skip".into(),
    },
  );

  // The old primary is fenced: stopped, masked, not answering.
  let fenced = drill.exec(
    "db-primary-01",
    "systemctl is-enabled postgresql@15-main; systemctl is-active postgresql@15-main",
  );
  let fenced = String::from_utf8_lossy(&fenced.stdout);
  assert!(
    fenced.contains("masked") && fenced.contains("inactive"),
    "{fenced}\nanswered: {answered:#?}"
  );
  // The replica is the primary now, with every row, and takes writes.
  let promoted = drill.script(
    "db-replica-01",
    &format!(
      "{PSQL} -c 'SELECT pg_is_in_recovery()' -c 'SELECT count(*) FROM orders' -c 'INSERT INTO orders VALUES (1001)' -c 'SELECT count(*) FROM orders'"
    ),
  );
  assert_eq!(
    promoted.split_whitespace().collect::<Vec<_>>(),
    ["f", "1000", "1001"],
    "answered: {answered:#?}"
  );
  // Fenced before promoted, each after the operator confirmed it.
  let journal = drill.journal();
  let at = |step: &str| {
    journal
      .iter()
      .position(|r| r["type"] == "host-result" && r["step"] == step && r["outcome"] == "passed")
      .unwrap_or_else(|| panic!("{step} did not pass; answered: {answered:#?}"))
  };
  assert!(at("fence-primary") < at("primary-fenced"));
  assert!(at("primary-fenced") < at("promote-replica"));
  for step in ["fence-primary", "promote-replica"] {
    assert!(
      journal.iter().any(|r| r["type"] == "decision"
        && r["step"] == step
        && r["answer"] == "yes"
        && r["by"] == "operator"),
      "{step}: no operator's confirmation"
    );
  }
}
