//! Fire drills on the edge: the packaged Nginx (tests/integration/stock.rs) broken the way the
//! runbooks' scenarios describe, healed by the shipped runbook, unchanged.

use crate::drill::{Drill, Prompt, outcome};

/// The certificate Nginx serves on `host`: days until it expires.
fn served_days(drill: &Drill, host: &str) -> i64 {
  let end = drill.script(
    host,
    "echo | openssl s_client -connect 127.0.0.1:443 -servername api.dreamseedai.com 2>/dev/null | openssl x509 -noout -enddate | cut -d= -f2",
  );
  let out = drill.script(
    host,
    &format!(
      "echo $(( ($(date -d '{}' +%s) - $(date +%s)) / 86400 ))",
      end.trim()
    ),
  );
  out.trim().parse().unwrap()
}

/// A certificate for the edge from the fleet's CA, valid `days`, installed where Nginx reads it.
fn install_certificate(drill: &Drill, days: u32) {
  let fleet = drill.dir.path().display();
  let ip = drill.ip("edge-proxy-01");
  drill.script(
    "edge-proxy-01",
    &format!(
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days {days} -subj /CN=edge-proxy-01 -addext subjectAltName=DNS:api.dreamseedai.com,DNS:edge-proxy-01,IP:{ip} -CA {fleet}/ca.pem -CAkey {fleet}/ca.key -keyout /etc/nginx/ssl/key.pem -out /etc/nginx/ssl/cert.pem 2>/dev/null"
    ),
  );
}

/// ssl-expiry: the served certificate has three days left. Certbot does not manage it (the
/// packaged Nginx has none), so the operator renews it by hand at the manual step; the runbook
/// then tests the configuration and reloads Nginx (not a restart), and verifies what is served.
#[test]
fn ssl_expiry_reloads_nginx_onto_a_renewed_certificate() {
  let drill = Drill::up(&["edge-proxy-01", "backend-api-01"]);
  drill.app(
    "backend-api-01",
    "backend-api",
    8000,
    "/var/log/backend-api/app.log",
    "",
  );
  drill.stock_nginx(
    "edge-proxy-01",
    &["backend-api-01"],
    "api.dreamseedai.com edge-proxy-01",
  );
  drill.alias("edge-proxy-01", "api.dreamseedai.com");
  install_certificate(&drill, 3);
  drill.systemctl("edge-proxy-01", "reload", "nginx");
  let master = |drill: &Drill| drill.script("edge-proxy-01", "systemctl show -p MainPID nginx");
  let before = master(&drill);
  // A reload replaces the workers a moment later.
  let mut days = served_days(&drill, "edge-proxy-01");
  for _ in 0..50 {
    if days <= 3 {
      break;
    }
    std::thread::sleep(std::time::Duration::from_millis(100));
    days = served_days(&drill, "edge-proxy-01");
  }
  assert!(
    days <= 3,
    "the short certificate is not served: {days} days"
  );

  let (answered, _) = drill.walk(
    "ssl-expiry",
    &["--var", "public_tls_endpoint=api.dreamseedai.com:443"],
    |prompt, step| match (prompt, step) {
      (Prompt::Manual, "renew-elsewhere") => {
        // What the operator does by hand: a new certificate from the CA, in place.
        install_certificate(&drill, 365);
        "done".into()
      }
      (Prompt::Run, "nginx-reload") => "yes".into(),
      _ => "skip".into(),
    },
  );

  let mut days = served_days(&drill, "edge-proxy-01");
  for _ in 0..50 {
    if days >= 360 {
      break;
    }
    std::thread::sleep(std::time::Duration::from_millis(100));
    days = served_days(&drill, "edge-proxy-01");
  }
  assert!(
    days >= 360,
    "the renewed certificate is not served ({days} days); answered: {answered:#?}"
  );
  assert_eq!(master(&drill), before, "Nginx was restarted, not reloaded");
  let journal = drill.journal();

  assert_eq!(
    outcome(&journal, "cert-file-days"),
    ["failed"],
    "{answered:#?}"
  );
  assert_eq!(
    outcome(&journal, "nginx-reload"),
    ["passed"],
    "{answered:#?}"
  );
  assert_eq!(
    outcome(&journal, "verify-served-cert"),
    ["passed"],
    "{answered:#?}"
  );
  // certbot was not run: it does not manage this certificate.
  assert!(
    !outcome(&journal, "certbot-renew")
      .iter()
      .any(|o| *o == "passed" || *o == "failed"),
    "{answered:#?}"
  );
}
