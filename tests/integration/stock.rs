//! Services on fleet hosts as their Debian packages install them: the packaged configuration files
//! (copied from this machine's packages into the host's own mount namespace, so the machine's
//! own /etc and /var are never touched), the packaged layout (/etc/postgresql/15/main,
//! /var/lib/redis, /etc/nginx/sites-enabled) and the packaged authentication (PostgreSQL peer and
//! scram, PgBouncer md5, Redis without a password). Only what a real deployment of the manuals'
//! fleet must change is changed, and each change is named where it is made: the addresses a
//! service listens on, the replication user and its pg_hba line, Nginx's site.

use std::path::{Path, PathBuf};

use crate::drill::Drill;

/// Runs as the `postgres` account, as the packaged scripts do.
const AS_POSTGRES: &str = "runuser -u postgres --";

impl Drill {
  /// A shell script on `host` (inside its namespaces), which must succeed.
  pub(crate) fn script(&self, host: &str, script: &str) -> String {
    let out = self.exec(host, &format!("set -e\n{script}"));
    assert!(
      out.status.success(),
      "on {host}:\n{script}\n--- stdout\n{}--- stderr\n{}",
      String::from_utf8_lossy(&out.stdout),
      String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
  }

  /// Another name for `host` in the fleet's hosts file (which every host and the operator's
  /// machine read), as DNS would give a public name.
  pub(crate) fn alias(&self, host: &str, name: &str) {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
      .append(true)
      .open(self.dir.path().join("etc-hosts"))
      .unwrap();
    writeln!(file, "{} {name}", self.ip(host)).unwrap();
  }

  /// Mounts a directory of the host's own over `path` (an empty one, or a copy of the machine's
  /// `path` when `copy`), in the host's mount namespace only.
  pub(crate) fn private(&self, host: &str, path: &str, copy: bool) -> PathBuf {
    let own = self
      .host_dir(host)
      .join("fs")
      .join(path.trim_start_matches('/').replace('/', "_"));
    std::fs::create_dir_all(own.parent().unwrap()).unwrap();
    if copy {
      assert!(
        Path::new(path).is_dir(),
        "{path} is missing on this machine"
      );
      crate::drill::sh(&format!("cp -a {path} {}", own.display()));
    } else {
      std::fs::create_dir_all(&own).unwrap();
    }
    // The fleet directory is root's; the services' own accounts must reach their files.
    for dir in [self.dir.path(), &self.host_dir(host), own.parent().unwrap()] {
      use std::os::unix::fs::PermissionsExt;
      std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    self.script(
      host,
      &format!("mkdir -p {path} && mount --bind {} {path}", own.display()),
    );
    own
  }

  /// PostgreSQL 15's packaged cluster `15/main` (pg_createcluster: peer for local connections,
  /// scram for TCP) with the application database `dreamseed`, run as the unit
  /// `postgresql@15-main`. Changed from the package: it listens on the host's address too, and
  /// the replication user `replicator` may connect from the fleet's subnet (`samenet`).
  pub(crate) fn stock_postgres(&self, host: &str) {
    for path in [
      "/etc/postgresql",
      "/var/lib/postgresql",
      "/var/log/postgresql",
      "/var/run/postgresql",
    ] {
      self.private(host, path, false);
    }
    self.script(
      host,
      "chown postgres:postgres /var/lib/postgresql /var/log/postgresql /var/run/postgresql
       chmod 2775 /var/run/postgresql
       pg_createcluster 15 main >/dev/null
       echo \"listen_addresses = '*'\" >> /etc/postgresql/15/main/postgresql.conf
       echo 'host replication replicator samenet scram-sha-256' >> /etc/postgresql/15/main/pg_hba.conf",
    );
    self.postgres_unit(host);
    self.systemctl(host, "start", "postgresql@15-main");
    self.script(
      host,
      &format!(
        "{AS_POSTGRES} psql -X -qAt -c 'CREATE DATABASE dreamseed' -c \"CREATE ROLE replicator REPLICATION LOGIN PASSWORD 'fleet-replication'\" -c \"CREATE ROLE app LOGIN PASSWORD 'fleet-app'\" -c 'GRANT ALL ON DATABASE dreamseed TO app' >/dev/null"
      ),
    );
  }

  /// The application's own data on `host`'s cluster: seed 001's tables with rows and the
  /// indexes of seed 001 §2.4 B, which the `app` role may use.
  pub(crate) fn application_tables(&self, host: &str) {
    self.script(
      host,
      "runuser -u postgres -- psql -X -q -d dreamseed -v ON_ERROR_STOP=1 \
         -c 'CREATE TABLE users (id bigserial PRIMARY KEY, email text NOT NULL, zone_id int NOT NULL DEFAULT 1, org_id int NOT NULL DEFAULT 1)' \
         -c 'CREATE INDEX idx_users_zone_org ON users (zone_id, org_id)' \
         -c 'CREATE TABLE questions (id bigserial PRIMARY KEY, body text NOT NULL)' \
         -c 'CREATE TABLE test_results (id bigserial PRIMARY KEY, user_id bigint NOT NULL, score int NOT NULL)' \
         -c 'CREATE TABLE exam_attempts (id bigserial PRIMARY KEY, user_id bigint NOT NULL, exam_id bigint NOT NULL, started timestamptz NOT NULL DEFAULT now())' \
         -c 'CREATE INDEX idx_exam_attempts_user_exam ON exam_attempts (user_id, exam_id)' \
         -c 'CREATE TABLE exam_responses (id bigserial PRIMARY KEY, attempt_id bigint NOT NULL, answer text)' \
         -c 'CREATE INDEX idx_exam_responses_attempt ON exam_responses (attempt_id)' \
         -c \"INSERT INTO users (email) SELECT 'user' || n || '@example.com' FROM generate_series(1, 500) n\" \
         -c \"INSERT INTO questions (body) SELECT 'question ' || n FROM generate_series(1, 200) n\" \
         -c 'INSERT INTO test_results (user_id, score) SELECT n % 500 + 1, n % 100 FROM generate_series(1, 2000) n' \
         -c 'INSERT INTO exam_attempts (user_id, exam_id) SELECT n % 500 + 1, n % 1000 FROM generate_series(1, 5000) n' \
         -c \"INSERT INTO exam_responses (attempt_id, answer) SELECT n, 'answer ' || n FROM generate_series(1, 3000) n\" \
         -c 'GRANT ALL ON ALL TABLES IN SCHEMA public TO app' \
         -c 'GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO app' \
         -c 'ANALYZE'",
    );
  }

  /// A streaming replica of `primary`'s cluster on `host`, as pg_basebackup makes one (`-R`:
  /// standby.signal and primary_conninfo), in the packaged layout.
  pub(crate) fn stock_replica(&self, host: &str, primary: &str) {
    for path in [
      "/etc/postgresql",
      "/var/lib/postgresql",
      "/var/log/postgresql",
      "/var/run/postgresql",
    ] {
      self.private(host, path, false);
    }
    self.script(
      host,
      &format!(
        "chown postgres:postgres /var/lib/postgresql /var/log/postgresql /var/run/postgresql
         chmod 2775 /var/run/postgresql
         pg_createcluster 15 main >/dev/null
         rm -rf /var/lib/postgresql/15/main/*
         {AS_POSTGRES} env PGPASSWORD=fleet-replication pg_basebackup -h {primary} -U replicator -D /var/lib/postgresql/15/main -R -X stream -c fast
         echo \"listen_addresses = '*'\" >> /etc/postgresql/15/main/postgresql.conf"
      ),
    );
    self.postgres_unit(host);
    self.systemctl(host, "start", "postgresql@15-main");
  }

  /// The unit the package's systemd template would run: the cluster's own configuration, its
  /// log where pg_ctlcluster writes it.
  fn postgres_unit(&self, host: &str) {
    self.unit(
      host,
      "postgresql@15-main",
      &format!(
        "{AS_POSTGRES} /usr/lib/postgresql/15/bin/postgres -D /var/lib/postgresql/15/main -c config_file=/etc/postgresql/15/main/postgresql.conf -c fsync=off 2>>/var/log/postgresql/postgresql-15-main.log"
      ),
      "/usr/lib/postgresql/15/bin/pg_isready -q",
    );
    // Fast shutdown, as pg_ctlcluster's default.
    std::fs::write(
      self.host_dir(host).join("units/postgresql@15-main.signal"),
      "INT\n",
    )
    .unwrap();
  }

  /// PgBouncer's packaged configuration (md5 from /etc/pgbouncer/userlist.txt, listening on
  /// localhost:6432 and /var/run/postgresql, no admin users), run as `postgres` like the
  /// package's unit. Changed from the package: the application database, and its user's md5
  /// entry in the userlist.
  pub(crate) fn stock_pgbouncer(&self, host: &str) {
    self.private(host, "/etc/pgbouncer", true);
    self.script(
      host,
      "sed -i 's/^\\[databases\\]$/[databases]\\ndreamseed = host=127.0.0.1 dbname=dreamseed user=app password=fleet-app/' /etc/pgbouncer/pgbouncer.ini
       printf '\"app\" \"md5%s\"\\n' \"$(printf 'fleet-appapp' | md5sum | cut -d' ' -f1)\" > /etc/pgbouncer/userlist.txt
       chown -R postgres:postgres /etc/pgbouncer",
    );
    self.unit(
      host,
      "pgbouncer",
      &format!("{AS_POSTGRES} pgbouncer /etc/pgbouncer/pgbouncer.ini"),
      "PGPASSWORD=fleet-app timeout 2 psql -X -h 127.0.0.1 -p 6432 -U app -d dreamseed -qAt -c 'SELECT 1'",
    );
    self.systemctl(host, "start", "pgbouncer");
  }

  /// Redis with the packaged /etc/redis/redis.conf, copied to the host (no password, `noeviction`, no maxmemory),
  /// in the foreground under the unit `redis-server`, its data and log in the packaged places.
  /// Changed from the package: it also listens on the host's address, without protected mode
  /// (which refuses every other host when there is no password: no replication, no Sentinel),
  /// and a replica follows `replica_of`.
  pub(crate) fn stock_redis(&self, host: &str, replica_of: Option<&str>) {
    // The host's own copy: a promotion (Sentinel) rewrites the file in place (CONFIG REWRITE).
    self.private(host, "/etc/redis", true);
    self.private(host, "/var/lib/redis", false);
    self.private(host, "/var/log/redis", false);
    let replica = replica_of
      .map(|m| format!(" --replicaof {} 6379", self.ip(m)))
      .unwrap_or_default();
    self.unit(
      host,
      "redis-server",
      &format!(
        "redis-server /etc/redis/redis.conf --daemonize no --supervised no --pidfile {}/run/redis.pid --bind '127.0.0.1 -::1 {}' --protected-mode no{replica}",
        self.host_dir(host).display(),
        self.ip(host)
      ),
      "redis-cli ping | grep -q PONG",
    );
    self.systemctl(host, "start", "redis-server");
  }

  /// A Redis Sentinel on port 26379 watching `master` as `mymaster` (quorum 2: one Sentinel per
  /// Redis host, as the manuals place them). Debian ships it as the separate redis-sentinel
  /// package; this is the same server binary in Sentinel mode with the settings that package's
  /// sentinel.conf would need changed: the master to watch.
  pub(crate) fn sentinel(&self, host: &str, master: &str) {
    let conf = self.host_dir(host).join("sentinel.conf");
    std::fs::write(
      &conf,
      format!(
        "port 26379\nbind 127.0.0.1 {}\nsentinel monitor mymaster {} 6379 2\nsentinel down-after-milliseconds mymaster 5000\nsentinel failover-timeout mymaster 60000\n",
        self.ip(host),
        self.ip(master)
      ),
    )
    .unwrap();
    self.unit(
      host,
      "redis-sentinel",
      &format!("redis-server {} --sentinel", conf.display()),
      "redis-cli -p 26379 ping | grep -q PONG",
    );
    self.systemctl(host, "start", "redis-sentinel");
  }

  /// Nginx with the packaged /etc/nginx (stock nginx.conf: `worker_connections 768`), the
  /// default site replaced by the manuals' proxy to both API hosts on port 80 and on 443 with a
  /// certificate valid for a year at /etc/nginx/ssl, signed by the fleet's certificate authority. Changed from the package: the pid file
  /// (the machine's /run is shared), and the site.
  pub(crate) fn stock_nginx(&self, host: &str, backends: &[&str], names: &str) {
    self.private(host, "/etc/nginx", true);
    self.private(host, "/var/log/nginx", false);
    let h = self.host_dir(host);
    let upstream: String = backends
      .iter()
      .map(|b| format!("  server {b}:8000;\n"))
      .collect();
    let site = format!(
      "upstream backend {{\n{upstream}}}\nserver {{\n  listen 80 default_server;\n  listen 443 ssl default_server;\n  server_name {names};\n  ssl_certificate /etc/nginx/ssl/cert.pem;\n  ssl_certificate_key /etc/nginx/ssl/key.pem;\n  location / {{ proxy_pass http://backend; }}\n}}\n"
    );
    self.script(
      host,
      &format!(
        "sed -i 's|^pid .*|pid {h}/run/nginx-master.pid;|' /etc/nginx/nginx.conf
         grep -q 'worker_connections 768' /etc/nginx/nginx.conf
         rm -f /etc/nginx/sites-enabled/default
         cat > /etc/nginx/sites-enabled/megacity <<'SITE'\n{site}SITE
         mkdir -p /etc/nginx/ssl
         san=$(printf 'DNS:%s,' {names})IP:{ip}
         openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 365 -subj /CN={host} -addext \"subjectAltName=$san\" -CA {fleet}/ca.pem -CAkey {fleet}/ca.key -keyout /etc/nginx/ssl/key.pem -out /etc/nginx/ssl/cert.pem 2>/dev/null
         ln -sf /etc/nginx/nginx.conf {h}/nginx.conf",
        h = h.display(),
        ip = self.ip(host),
        fleet = self.dir.path().display()
      ),
    );
    self.unit(
      host,
      "nginx",
      "/usr/sbin/nginx -g 'daemon off;'",
      "curl -sS -o /dev/null http://127.0.0.1/",
    );
    self.systemctl(host, "start", "nginx");
  }

  /// Prometheus on `host` (port 9090, the unit `prometheus`), scraping each of `targets`
  /// (`host:port`) every second; the package's binary, a configuration of the fleet's own.
  pub(crate) fn prometheus(&self, host: &str, targets: &[&str]) {
    let h = self.host_dir(host);
    let list = targets
      .iter()
      .map(|t| format!("'{t}'"))
      .collect::<Vec<_>>()
      .join(", ");
    std::fs::write(
      h.join("prometheus.yml"),
      format!(
        "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: api\n    static_configs:\n      - targets: [{list}]\n"
      ),
    )
    .unwrap();
    self.unit(
      host,
      "prometheus",
      &format!(
        "/usr/bin/prometheus --config.file={h}/prometheus.yml --storage.tsdb.path={h}/prometheus-data --web.listen-address=0.0.0.0:9090",
        h = h.display()
      ),
      "curl -fsS -o /dev/null http://127.0.0.1:9090/-/ready",
    );
    self.systemctl(host, "start", "prometheus");
  }

  /// An application (`tests/fleet/app-server`) as the unit `unit`, answering `/health` on
  /// `port` and logging its requests to `log` (a directory of the host's own); `args` are the
  /// service's further options as its unit would pass them.
  pub(crate) fn app(&self, host: &str, unit: &str, port: u16, log: &str, args: &str) {
    let dir = Path::new(log).parent().unwrap().to_str().unwrap();
    self.private(host, dir, false);
    self.unit(
      host,
      unit,
      &format!("app-server --port {port} --log {log}{args}"),
      &format!("curl -fsS -o /dev/null http://127.0.0.1:{port}/health"),
    );
    self.systemctl(host, "start", unit);
  }
}
