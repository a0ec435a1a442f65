//! A real OpenSSH sshd on a free loopback port, with its own host key and authorized_keys, and
//! an ssh_config that maps test host names onto it. Started by the tests themselves.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub(crate) const SSHD: &str = "/usr/sbin/sshd";
/// The login of `nosudo-01`: an account with no sudo rights.
pub(crate) const NO_SUDO_LOGIN: &str = "megacity-nosudo";

pub(crate) struct Sshd {
  pub(crate) dir: tempfile::TempDir,
  pub(crate) port: u16,
  child: Child,
  /// Accepts connections (the kernel completes them) and never says a word: `silent-01`.
  _silent: TcpListener,
}

fn require(program: &str, install: &str) {
  let found = Path::new(program).exists()
    || Command::new("sh")
      .arg("-c")
      .arg(format!("command -v {program}"))
      .output()
      .is_ok_and(|o| o.status.success());
  assert!(
    found,
    "`{program}` is missing; these tests need it: {install}"
  );
}

fn run(program: &str, args: &[&str]) {
  let status = Command::new(program)
    .args(args)
    .stdout(Stdio::null())
    .status()
    .unwrap();
  assert!(status.success(), "{program} {args:?} failed");
}

fn free_port() -> u16 {
  TcpListener::bind("127.0.0.1:0")
    .unwrap()
    .local_addr()
    .unwrap()
    .port()
}

fn user() -> String {
  let out = Command::new("id").arg("-un").output().unwrap();
  String::from_utf8_lossy(&out.stdout).trim().to_string()
}

impl Sshd {
  /// Starts sshd; `hosts` become names in the generated ssh_config that all reach it.
  pub(crate) fn start(hosts: &[&str]) -> Sshd {
    require(SSHD, "apt-get install -y openssh-server");
    require("ssh", "apt-get install -y openssh-client");
    require("ssh-keygen", "apt-get install -y openssh-client");
    // A short path: control sockets live under it in some tests.
    let dir = tempfile::Builder::new()
      .prefix("mc")
      .tempdir_in("/tmp")
      .unwrap();
    let d = dir.path();
    let path = |name: &str| d.join(name).to_str().unwrap().to_string();
    run(
      "ssh-keygen",
      &["-q", "-t", "ed25519", "-N", "", "-f", &path("host_key")],
    );
    run(
      "ssh-keygen",
      &["-q", "-t", "ed25519", "-N", "", "-f", &path("client_key")],
    );
    // A key the server does not accept, and a host key that is not the server's.
    run(
      "ssh-keygen",
      &["-q", "-t", "ed25519", "-N", "", "-f", &path("stranger_key")],
    );
    run(
      "ssh-keygen",
      &[
        "-q",
        "-t",
        "ed25519",
        "-N",
        "",
        "-f",
        &path("impostor_host_key"),
      ],
    );
    std::fs::copy(d.join("client_key.pub"), d.join("authorized_keys")).unwrap();
    // sshd wants its privilege-separation directory when started as root.
    let _ = std::fs::create_dir_all("/run/sshd");
    let port = free_port();
    let config = format!(
      "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nPidFile {}\nAuthorizedKeysFile {}\n\
       StrictModes no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n\
       PermitRootLogin yes\nLogLevel VERBOSE\nMaxSessions 20\nMaxStartups 100\n\
       SetEnv MEGACITY_LOCK_DIR={}\n",
      path("host_key"),
      path("sshd.pid"),
      path("authorized_keys"),
      // Every test's sshd is "the same machine": each keeps its host locks apart.
      path("locks")
    );
    std::fs::create_dir_all(d.join("locks")).unwrap();
    std::fs::write(d.join("sshd_config"), config).unwrap();
    let child = Command::new(SSHD)
      .args(["-D", "-f", &path("sshd_config"), "-E", &path("sshd.log")])
      .stdin(Stdio::null())
      .spawn()
      .expect("sshd starts");
    let host_key = std::fs::read_to_string(d.join("host_key.pub")).unwrap();
    let key: Vec<&str> = host_key.split_whitespace().take(2).collect();
    std::fs::write(
      d.join("known_hosts"),
      format!("[127.0.0.1]:{port} {}\n", key.join(" ")),
    )
    .unwrap();
    std::fs::write(d.join("empty_known_hosts"), "").unwrap();
    let impostor = std::fs::read_to_string(d.join("impostor_host_key.pub")).unwrap();
    let impostor: Vec<&str> = impostor.split_whitespace().take(2).collect();
    std::fs::write(
      d.join("changed_known_hosts"),
      format!("[127.0.0.1]:{port} {}\n", impostor.join(" ")),
    )
    .unwrap();
    let mut ssh_config = String::new();
    let user = user();
    let common = format!(
      "  User {user}\n  IdentityFile {}\n  IdentitiesOnly yes\n  BatchMode yes\n  StrictHostKeyChecking yes\n  LogLevel ERROR\n",
      path("client_key")
    );
    for host in hosts {
      ssh_config.push_str(&format!(
        "Host {host}\n  HostName 127.0.0.1\n  Port {port}\n  UserKnownHostsFile {}\n{common}",
        path("known_hosts")
      ));
    }
    // A host whose recorded key is not the one it presents (rebuilt, or someone in the middle).
    ssh_config.push_str(&format!(
      "Host changed-01\n  HostName 127.0.0.1\n  Port {port}\n  UserKnownHostsFile {}\n{common}",
      path("changed_known_hosts")
    ));
    // A host that does not accept our key.
    ssh_config.push_str(&format!(
      "Host wrongkey-01\n  HostName 127.0.0.1\n  Port {port}\n  UserKnownHostsFile {}\n{}",
      path("known_hosts"),
      common.replace(&path("client_key"), &path("stranger_key"))
    ));
    // A host whose key nobody has seen: strict checking must refuse it.
    ssh_config.push_str(&format!(
      "Host stranger-01\n  HostName 127.0.0.1\n  Port {port}\n  UserKnownHostsFile {}\n{common}",
      path("empty_known_hosts")
    ));
    // The same sshd, logged into as an account whose sudo wants a password (see
    // `login_without_sudo`, which creates it: only the test that needs it pays for it).
    ssh_config.push_str(&format!(
      "Host nosudo-01\n  HostName 127.0.0.1\n  Port {port}\n  UserKnownHostsFile {}\n{}",
      path("known_hosts"),
      common.replace(
        &format!("User {user}\n"),
        &format!("User {NO_SUDO_LOGIN}\n")
      )
    ));
    // A host where nothing listens.
    ssh_config.push_str(&format!(
      "Host refused-01\n  HostName 127.0.0.1\n  Port {}\n  UserKnownHostsFile {}\n  ConnectTimeout 3\n{common}",
      free_port(),
      path("known_hosts")
    ));
    // A host that accepts the connection and never answers: a hung sshd or a black hole.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    ssh_config.push_str(&format!(
      "Host silent-01\n  HostName 127.0.0.1\n  Port {}\n  UserKnownHostsFile {}\n{common}",
      silent.local_addr().unwrap().port(),
      path("known_hosts")
    ));
    std::fs::write(d.join("ssh_config"), ssh_config).unwrap();
    let sshd = Sshd {
      dir,
      port,
      child,
      _silent: silent,
    };
    sshd.wait_until_listening();
    sshd
  }

  fn wait_until_listening(&self) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
      assert!(
        Instant::now() < deadline,
        "sshd did not start: {}",
        self.log()
      );
      std::thread::sleep(Duration::from_millis(50));
    }
    // That probe was a connection too; wait until sshd has logged it so counts start clean.
    std::thread::sleep(Duration::from_millis(200));
  }

  /// Makes `nosudo-01` log in: an unprivileged account (created once, as root) that has no
  /// sudoers entry, so `sudo -n` wants a password there. sshd reads authorized_keys as the
  /// account logging in, so that file (not the private keys) becomes readable to it.
  pub(crate) fn login_without_sudo(&self) {
    require("sudo", "apt-get install -y sudo");
    assert!(
      user() == "root",
      "this test creates the account `{NO_SUDO_LOGIN}`: run it as root (sudo scripts/test)"
    );
    static CREATED: std::sync::Once = std::sync::Once::new();
    CREATED.call_once(|| {
      let exists = Command::new("id")
        .arg(NO_SUDO_LOGIN)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
      if !exists {
        run("useradd", &["-m", "-s", "/bin/sh", NO_SUDO_LOGIN]);
      }
      // Without a password, but not locked: sshd (UsePAM no) refuses a locked account.
      run("usermod", &["-p", "*", NO_SUDO_LOGIN]);
    });
    use std::os::unix::fs::PermissionsExt;
    let d = self.dir.path();
    std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o711)).unwrap();
    std::fs::set_permissions(
      d.join("authorized_keys"),
      std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
  }

  pub(crate) fn ssh_config(&self) -> PathBuf {
    self.dir.path().join("ssh_config")
  }

  pub(crate) fn log(&self) -> String {
    std::fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
  }

  /// Sessions opened (public-key logins) so far.
  pub(crate) fn logins(&self) -> usize {
    self
      .log()
      .lines()
      .filter(|l| l.contains("Accepted publickey"))
      .count()
  }

  /// Connections made so far, including the readiness probe.
  pub(crate) fn connections(&self) -> usize {
    self
      .log()
      .lines()
      .filter(|l| l.contains("Connection from"))
      .count()
  }
}

impl Drop for Sshd {
  fn drop(&mut self) {
    let _ = self.child.kill();
    let _ = self.child.wait();
  }
}
