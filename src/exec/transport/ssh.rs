//! SSH through the system OpenSSH (the `openssh` crate): one multiplexed master per host, opened
//! by the preflight or on first use and reused by every later step, closed at the end.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use openssh::{ControlPersist, KnownHosts, Session, SessionBuilder, Stdio as SshStdio};
use tokio::io::AsyncBufReadExt;
use tokio::sync::{Mutex, OnceCell, Semaphore};

use super::masters::{Key, Masters};
use super::watchdog::{self, SWEEP, Sweep, WATCHDOG, watchdog_args};
use super::{
  BoxFuture, Capture, Interrupts, LockState, Output, Transport, TransportError, bounded,
};

/// sshd allows `MaxSessions` (default 10) channels per connection; stay under it.
pub(crate) const PER_HOST_CHANNELS: usize = 8;

#[derive(Clone, Debug)]
pub(crate) struct SshOptions {
  pub(crate) config_file: Option<PathBuf>,
  /// Accept unknown host keys (ssh's accept-new). Off by default: strict checking.
  pub(crate) accept_new_host_keys: bool,
  pub(crate) connect_timeout: Duration,
  /// Where this run's control sockets live (short: Unix socket paths are limited).
  pub(crate) control_dir: PathBuf,
  /// Login user per host, from the inventory.
  pub(crate) users: HashMap<String, String>,
  /// Keep masters open after the run, and reuse kept ones (`--keep-connections`).
  pub(crate) keep: Option<Masters>,
  /// Hosts this run will change, and who it is: their lock is taken for the run.
  pub(crate) lock: Option<LockRequest>,
}

/// One operator at a time per host: a run that will change a host holds a lock there.
#[derive(Clone, Debug)]
pub(crate) struct LockRequest {
  pub(crate) hosts: Vec<String>,
  /// Who holds it, as another run will be told: operator, machine, runbook, run id, since.
  pub(crate) owner: String,
  /// A token unique to this run: a lock left by this same run (before a reconnect) is its own.
  pub(crate) run: String,
  /// Take over a lock another run holds (`--break-lock`), killing its holder.
  pub(crate) break_held: bool,
}

/// The lifeline's remote process, and whether it has ended (its stdout closed) while the
/// connection stayed up: then whatever held the lock is gone, perhaps killed by `--break-lock`.
struct Lifeline {
  _child: openssh::Child<Arc<Session>>,
  ended: Arc<std::sync::atomic::AtomicBool>,
}

/// Why a host could not be reached: the words, and ssh's own error.
#[derive(Clone)]
struct Down {
  reason: String,
  cause: Option<super::Cause>,
}

impl Down {
  fn error(&self) -> TransportError {
    TransportError::connect(self.reason.clone(), self.cause.clone())
  }
}

/// The state of one host's connection.
enum Link {
  New,
  Up(Arc<Session>),
  /// The connection died under a command: the next command reconnects, once.
  Lost,
  Down(Down),
}

struct Host {
  link: Mutex<Link>,
  /// A session held open for the whole run: the master is never idle (so ControlPersist never
  /// ends it mid-run) and, on hosts the run changes, it holds the lock. It closes with the
  /// run — or when megacity dies, and then the master ends after ControlPersist.
  lifeline: Mutex<Option<Lifeline>>,
  lock: Mutex<Option<LockState>>,
  channels: Semaphore,
}

pub(crate) struct Ssh {
  options: SshOptions,
  hosts: Mutex<HashMap<String, Arc<Host>>>,
  /// Concurrent connection attempts (sshd's and a bastion's MaxStartups).
  connects: Semaphore,
  /// Kept masters found when the first host connected.
  kept: OnceCell<HashMap<Key, PathBuf>>,
  reused: AtomicUsize,
  /// Each host's names and addresses (`ssh -G`, resolved), asked once per run.
  addresses: std::sync::Mutex<HashMap<String, Vec<String>>>,
}

impl Ssh {
  pub(crate) fn new(options: SshOptions, max_connects: usize) -> Ssh {
    Ssh {
      options,
      hosts: Mutex::new(HashMap::new()),
      connects: Semaphore::new(max_connects.max(1)),
      kept: OnceCell::new(),
      reused: AtomicUsize::new(0),
      addresses: std::sync::Mutex::new(HashMap::new()),
    }
  }

  /// How many hosts ran on a master kept by an earlier run.
  pub(crate) fn reused(&self) -> usize {
    self.reused.load(Ordering::Relaxed)
  }

  fn key(&self, host: &str) -> Key {
    Key::new(
      host,
      self.options.users.get(host).map(String::as_str),
      self.options.config_file.as_deref(),
    )
  }

  /// A master an earlier run kept for this host, if it still answers.
  async fn resume(&self, host: &str) -> Option<Session> {
    let masters = self.options.keep.as_ref()?;
    let index = self.kept.get_or_init(|| async { masters.index() }).await;
    let dir = index.get(&self.key(host))?;
    let session = Masters::resume(dir).await?;
    self.reused.fetch_add(1, Ordering::Relaxed);
    tracing::debug!(host, dir = %dir.display(), "reusing a kept master");
    Some(session)
  }

  async fn host(&self, name: &str) -> Arc<Host> {
    let mut hosts = self.hosts.lock().await;
    hosts
      .entry(name.to_string())
      .or_insert_with(|| {
        Arc::new(Host {
          link: Mutex::new(Link::New),
          lifeline: Mutex::new(None),
          lock: Mutex::new(None),
          channels: Semaphore::new(PER_HOST_CHANNELS),
        })
      })
      .clone()
  }

  /// The host's session: opened on first use, reopened once after it was lost.
  async fn session(&self, name: &str) -> Result<Arc<Session>, TransportError> {
    let host = self.host(name).await;
    let mut link = host.link.lock().await;
    match &*link {
      Link::Up(session) => return Ok(session.clone()),
      Link::Down(down) => return Err(down.error()),
      Link::New | Link::Lost => {}
    }
    let reconnecting = matches!(*link, Link::Lost);
    let opened = self.open(name).await;
    *link = match opened {
      Ok(session) => {
        let session = Arc::new(session);
        self.hold(&host, name, &session, reconnecting).await;
        Link::Up(session)
      }
      Err(down) if reconnecting => Link::Down(Down {
        reason: format!(
          "reconnecting after the connection was lost: {}",
          down.reason
        ),
        ..down
      }),
      Err(down) => Link::Down(down),
    };
    match &*link {
      Link::Up(session) => Ok(session.clone()),
      Link::Down(down) => Err(down.error()),
      _ => unreachable!("just set"),
    }
  }

  /// Marks `session` as lost, so that the next command reconnects (if nothing did already).
  async fn lost(&self, name: &str, session: &Arc<Session>) {
    let host = self.host(name).await;
    let mut link = host.link.lock().await;
    if matches!(&*link, Link::Up(current) if Arc::ptr_eq(current, session)) {
      *link = Link::Lost;
      host.lifeline.lock().await.take();
    }
  }

  /// Opens the lifeline session, taking the lock where this run will change the host.
  /// `again`: the lock is asked for anew after the lifeline ended, and never broken then (a
  /// run that broke this one's lock keeps it).
  async fn hold(&self, host: &Host, name: &str, session: &Arc<Session>, again: bool) {
    let lock = self
      .options
      .lock
      .as_ref()
      .filter(|l| l.hosts.iter().any(|h| h == name));
    let (owner, run, take, breaks) = match lock {
      Some(l) => (
        l.owner.as_str(),
        l.run.as_str(),
        "1",
        match (again, l.break_held) {
          (true, _) => "2",
          (false, true) => "1",
          (false, false) => "0",
        },
      ),
      None => ("", "", "0", "0"),
    };
    let spawned = session
      .clone()
      .arc_command("sh")
      .arg("-c")
      .arg(LIFELINE)
      .args(["megacity", owner, take, breaks, run, &lock_file(name)])
      .stdin(SshStdio::piped())
      .stdout(SshStdio::piped())
      .stderr(SshStdio::null())
      .spawn()
      .await;
    let mut child = match spawned {
      Ok(child) => child,
      Err(e) => {
        tracing::warn!(
          host = name,
          "cannot open the lifeline session: {}",
          describe(&e)
        );
        if lock.is_some() {
          *host.lock.lock().await = Some(LockState::Unavailable(describe(&e)));
        }
        return;
      }
    };
    let ended = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let first = match child.stdout().take() {
      Some(stdout) => {
        let mut line = String::new();
        let mut reader = tokio::io::BufReader::new(stdout);
        let read = reader.read_line(&mut line);
        let first = match tokio::time::timeout(Duration::from_secs(15), read).await {
          Ok(Ok(_)) => line.trim().to_string(),
          _ => String::new(),
        };
        // The lifeline says nothing more: its stdout closes only when it ends.
        let ended = ended.clone();
        tokio::spawn(async move {
          let mut rest = String::new();
          while matches!(reader.read_line(&mut rest).await, Ok(n) if n > 0) {
            rest.clear();
          }
          ended.store(true, Ordering::SeqCst);
        });
        first
      }
      None => String::new(),
    };
    if lock.is_some() {
      let state = match first.split_once(' ').unwrap_or((first.as_str(), "")) {
        ("locked", _) => LockState::Held,
        ("broke", who) => LockState::Broke(who.to_string()),
        ("held", who) => LockState::HeldBy(who.to_string()),
        (_, why) if !why.is_empty() => LockState::Unavailable(why.to_string()),
        _ => LockState::Unavailable("the host did not answer the lock request".into()),
      };
      *host.lock.lock().await = Some(state);
    }
    *host.lifeline.lock().await = Some(Lifeline {
      _child: child,
      ended,
    });
  }

  /// The host's lock as it stands now: a lock whose holder ended while the connection stayed up
  /// (another run's `--break-lock` kills it) is asked for again, so a run that lost its lock
  /// learns who holds it before it changes anything.
  async fn verified_lock(&self, name: &str) -> Option<LockState> {
    let host = self.host(name).await;
    let state = host.lock.lock().await.clone();
    if !matches!(state, Some(LockState::Held | LockState::Broke(_))) {
      return state;
    }
    let ended = host
      .lifeline
      .lock()
      .await
      .as_ref()
      .is_some_and(|l| l.ended.load(Ordering::SeqCst));
    if ended {
      let link = host.link.lock().await;
      let Link::Up(session) = &*link else {
        return state;
      };
      let session = session.clone();
      if session.check().await.is_ok() {
        // Connected still: the holder was ended on the host (`--break-lock`, or killed).
        self.hold(&host, name, &session, true).await;
        drop(link);
        return taken_over(host.lock.lock().await.clone());
      }
      drop(link);
      self.lost(name, &session).await;
    }
    // The connection, and the lock with it, was lost: reconnecting asks for the lock again
    // (never breaking another run's), before anything is run there.
    if matches!(*host.link.lock().await, Link::Lost) {
      if self.session(name).await.is_err() {
        return state;
      }
      return taken_over(host.lock.lock().await.clone());
    }
    state
  }

  /// Connects: a master kept by an earlier run, or a new one.
  async fn open(&self, name: &str) -> Result<Session, Down> {
    {
      {
        if let Some(session) = self.resume(name).await {
          return Ok(session);
        }
        let _permit = self
          .connects
          .acquire()
          .await
          .expect("semaphore is never closed");
        let mut builder = SessionBuilder::default();
        builder
          .known_hosts_check(if self.options.accept_new_host_keys {
            KnownHosts::Add
          } else {
            KnownHosts::Strict
          })
          .connect_timeout(self.options.connect_timeout)
          // A link that dies under a running command is noticed after about three intervals,
          // roughly the connect timeout, rather than at the TCP timeout minutes later.
          .server_alive_interval(keepalive(self.options.connect_timeout))
          .control_directory(match &self.options.keep {
            Some(masters) => masters.dir(),
            None => &self.options.control_dir,
          })
          // Kept masters end when idle for their limit; otherwise this is a safety net: should
          // megacity die without closing, the master exits after a minute.
          .control_persist(ControlPersist::IdleFor(idle_limit(
            self.options.keep.as_ref().map(|m| m.idle),
          )));
        if let Some(file) = &self.options.config_file {
          builder.config_file(file);
        }
        if let Some(user) = self.options.users.get(name) {
          builder.user(user.clone());
        }
        // The crate's own connect timeout covers the TCP connect; this covers everything else
        // (a server that accepts and then says nothing).
        let limit = self.options.connect_timeout + Duration::from_secs(5);
        match tokio::time::timeout(limit, builder.connect_mux(name)).await {
          Ok(Ok(session)) => {
            if let Some(masters) = &self.options.keep {
              let dir = session.control_socket().parent().map(Path::to_path_buf);
              if let Some(Err(e)) = dir.map(|dir| masters.remember(&dir, &self.key(name))) {
                tracing::warn!(host = name, "cannot record the kept master: {e}");
              }
            }
            Ok(session)
          }
          Ok(Err(e)) => Err(Down {
            reason: why_not(&describe(&e)),
            cause: Some(Arc::new(e)),
          }),
          Err(_) => Err(Down {
            reason: format!("no answer within {limit:?}"),
            cause: None,
          }),
        }
      }
    }
  }
}

/// A lock asked for again: found held by another run, that run took it over; not to be had
/// at all (no `flock` now, an unwritable file), it is lost.
fn taken_over(state: Option<LockState>) -> Option<LockState> {
  state.map(|s| match s {
    LockState::HeldBy(who) => LockState::HeldBy(format!(
      "{who}; it took this run's lock over (and may have finished since)"
    )),
    LockState::Unavailable(why) => LockState::Lost(why),
    other => other,
  })
}

/// The host's lock file: per host name, so that names that reach one machine (test fleets,
/// aliases) do not lock each other out.
fn lock_file(host: &str) -> String {
  let safe: String = host
    .chars()
    .map(|c| {
      if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
        c
      } else {
        '_'
      }
    })
    .collect();
  format!("megacity.{safe}.lock")
}

/// The lifeline: `$1` owner, `$2` 1 to lock, `$3` 1 to break another run's lock (2: take it
/// again only if no other run took it since), `$4` this run, `$5` the lock file's name. It prints one line (ok, locked, held WHO, broke WHO, nolock WHY),
/// then waits on stdin: it ends, and frees the lock, when the connection does. The lock is an
/// flock on a file in $MEGACITY_LOCK_DIR (sshd's `SetEnv`), else /run/lock, else /tmp, held by
/// this process; its first line names the holder.
const LIFELINE: &str = r#"if [ "$2" != 1 ]; then echo ok; exec cat >/dev/null; fi
d=${MEGACITY_LOCK_DIR:-/run/lock}; [ -d "$d" ] && [ -w "$d" ] || d=/tmp
f="$d/$5"
command -v flock >/dev/null 2>&1 || { echo "nolock flock is not installed"; exec cat >/dev/null; }
[ -e "$f" ] || (umask 0; : >"$f") 2>/dev/null
if [ -w "$f" ]; then exec 9<>"$f"; elif [ -r "$f" ]; then exec 9<"$f"; else echo "nolock cannot open $f"; exec cat >/dev/null; fi
take() { if flock -n 9; then printf '%s pid=%s\n' "$1" "$$" >"$f" 2>/dev/null; return 0; fi; return 1; }
if [ "$3" = 2 ]; then
  who=$(head -n 1 "$f" 2>/dev/null)
  case "$who" in *"$4"*) ;; *) echo "held ${who:-a run that left no name}"; exec cat >/dev/null;; esac
fi
if take "$1"; then echo locked; exec cat >/dev/null; fi
who=$(head -n 1 "$f" 2>/dev/null)
case "$who" in *"$4"*) mine=1;; *) mine=0;; esac
if [ "$3" = 1 ] || [ "$mine" = 1 ]; then
  pid=${who##*pid=}
  case "$pid" in ''|*[!0-9]*) ;; *) kill "$pid" 2>/dev/null;; esac
  i=0; while [ $i -lt 20 ]; do if take "$1"; then [ "$mine" = 1 ] && echo locked || echo "broke $who"; exec cat >/dev/null; fi; sleep 0.25; i=$((i+1)); done
fi
echo "held $who"; exec cat >/dev/null"#;

/// After a stop: finds what the command left on the host, kills it, and says so.
async fn sweep(session: &Session, token: &str) -> Sweep {
  let mut command = session.command("sh");
  command
    .arg("-c")
    .arg(SWEEP)
    .arg("megacity")
    .arg(token)
    .stdin(SshStdio::null());
  match tokio::time::timeout(Duration::from_secs(20), command.output()).await {
    Ok(Ok(out)) => Sweep::parse(&String::from_utf8_lossy(&out.stdout)),
    _ => Sweep::Unverified,
  }
}

/// ControlPersist in whole seconds, at least one.
fn idle_limit(keep: Option<Duration>) -> std::num::NonZeroUsize {
  let secs = keep.map_or(60, |d| d.as_secs().max(1)) as usize;
  std::num::NonZeroUsize::new(secs).expect("at least one")
}

/// ServerAliveInterval: a third of the connect timeout, between 1 and 15 seconds.
fn keepalive(connect_timeout: Duration) -> Duration {
  (connect_timeout / 3).clamp(Duration::from_secs(1), Duration::from_secs(15))
}

/// Why a connection failed, in the operator's terms first, then ssh's own words: an
/// authentication failure and an untrusted host key are not "unreachable" the same way.
fn why_not(ssh_said: &str) -> String {
  // A changed key also says "Host key verification failed": it is looked for first.
  let kinds = [
    (
      "REMOTE HOST IDENTIFICATION HAS CHANGED",
      "the host key CHANGED: someone may be in the middle, or the host was rebuilt (check known_hosts; megacity refuses it)",
    ),
    (
      "Permission denied",
      "authentication failed: no key or user the server accepts (check ssh-agent, IdentityFile, User)",
    ),
    (
      "Host key verification failed",
      "the host key is not trusted: unknown to known_hosts (--accept-new-host-keys accepts new ones)",
    ),
    (
      "Could not resolve hostname",
      "the name does not resolve (check ssh_config and DNS)",
    ),
    (
      "Connection refused",
      "connection refused: nothing listens on the SSH port",
    ),
    ("No route to host", "no route to host"),
    ("Connection timed out", "no answer (connection timed out)"),
  ];
  match kinds.iter().find(|(needle, _)| ssh_said.contains(needle)) {
    Some((_, plain)) => format!("{plain} — ssh: {ssh_said}"),
    None => ssh_said.to_string(),
  }
}

/// The whole error chain: the crate's top-level message alone ("failed to connect") hides the
/// useful part (ssh's own "Host key verification failed", "Connection refused").
pub(crate) fn describe(error: &(dyn std::error::Error + 'static)) -> String {
  let mut text = error.to_string().replace('\r', "");
  let mut source = error.source();
  while let Some(s) = source {
    let line = s.to_string().replace('\r', "");
    if !line.trim().is_empty() && !text.contains(line.trim()) {
      text.push_str(": ");
      text.push_str(line.trim());
    }
    source = s.source();
  }
  text
}

/// A host's session, if it connected and nothing else holds it.
fn last_session(host: Arc<Host>) -> Option<Session> {
  let host = Arc::try_unwrap(host).ok()?;
  // The lifeline holds the session too: it ends first (its remote end sees EOF and exits).
  drop(host.lifeline.into_inner());
  match host.link.into_inner() {
    Link::Up(session) => Arc::try_unwrap(session).ok(),
    _ => None,
  }
}

fn lost(error: openssh::Error, partial: Output) -> TransportError {
  TransportError::Lost {
    reason: {
      let text = describe(&error);
      if text.contains("closed by remote host") || text.contains("Connection reset") {
        format!("the server closed it ({text})")
      } else {
        format!("no answer to keepalives ({text})")
      }
    },
    partial,
    cause: Some(Arc::new(error)),
  }
}

impl Transport for Ssh {
  fn connect<'a>(&'a self, host: &'a str) -> BoxFuture<'a, Result<(), TransportError>> {
    Box::pin(async move {
      // Asked to connect, a host found down before is tried again (the engine asks only after
      // work that may have mended it); a command to a down host never is.
      {
        let host = self.host(host).await;
        let mut link = host.link.lock().await;
        if matches!(*link, Link::Down(_)) {
          *link = Link::New;
        }
      }
      self.session(host).await.map(|_| ())
    })
  }

  fn addresses<'a>(&'a self, host: &'a str) -> BoxFuture<'a, Vec<String>> {
    let config = self.options.config_file.clone();
    let user = self.options.users.get(host).cloned();
    let name = host.to_string();
    Box::pin(async move {
      if let Some(known) = self.addresses.lock().unwrap().get(&name) {
        return known.clone();
      }
      let host = name.clone();
      let found = tokio::task::spawn_blocking(move || {
        use std::net::ToSocketAddrs;
        let Some(settings) = settings_for(config.as_deref(), user.as_deref(), &host) else {
          return Vec::new();
        };
        let name = settings.get("hostname").cloned().unwrap_or(host);
        let mut all = vec![name.clone()];
        if let Ok(found) = (name.as_str(), 22).to_socket_addrs() {
          all.extend(found.map(|a| a.ip().to_string()));
        }
        all
      })
      .await
      .unwrap_or_default();
      self.addresses.lock().unwrap().insert(name, found.clone());
      found
    })
  }

  fn run<'a>(
    &'a self,
    host: &'a str,
    command: &'a str,
    timeout: Duration,
    interrupts: Interrupts,
  ) -> BoxFuture<'a, Result<Output, TransportError>> {
    Box::pin(async move {
      let session = self.session(host).await?;
      let slot = self.host(host).await;
      let _channel = slot
        .channels
        .acquire()
        .await
        .expect("semaphore is never closed");
      let capture = Capture::default();
      let token = watchdog::token();
      let work = async {
        let child = session
          .command("sh")
          .arg("-c")
          .arg(WATCHDOG)
          .args(watchdog_args(command, timeout, &token))
          // Never the terminal's stdin: a pipe we hold open is the watchdog's lifeline.
          .stdin(SshStdio::piped())
          .stdout(SshStdio::piped())
          .stderr(SshStdio::piped())
          .spawn()
          .await;
        let mut child = match child {
          Ok(child) => child,
          // A master that died while idle refuses new channels: that is a lost connection too.
          Err(e) => {
            return match session.check().await {
              Ok(()) => Err(TransportError::failed(describe(&e), Some(Arc::new(e)))),
              Err(_) => Err(lost(e, capture.output(None))),
            };
          }
        };
        let _stdin = child.stdin().take();
        let stdout = child.stdout().take().expect("piped");
        let stderr = child.stderr().take().expect("piped");
        capture.read(stdout, stderr).await;
        match child.wait().await {
          Ok(status) => Ok(capture.output(status.code())),
          // Either a signal killed it, or the connection died under it: only the master knows.
          Err(openssh::Error::RemoteProcessTerminated) => match session.check().await {
            Ok(()) => Ok(capture.output(None)),
            Err(e) => Err(lost(e, capture.output(None))),
          },
          // The crate turns exit status 127 into an error; it is an exit code like any other
          // (the command was not found, and its stderr says which).
          Err(openssh::Error::Remote(e)) if e.kind() == std::io::ErrorKind::NotFound => {
            Ok(capture.output(Some(127)))
          }
          Err(e) => match session.check().await {
            Ok(()) => Err(TransportError::failed(describe(&e), Some(Arc::new(e)))),
            Err(_) => Err(lost(e, capture.output(None))),
          },
        }
      };
      let result = match bounded(work, timeout, interrupts, &capture).await {
        Err(e) if e.stopped() => Err(e.swept(sweep(&session, &token).await)),
        other => other,
      };
      if let Err(TransportError::Lost { .. }) = &result {
        // The next command to this host reconnects (once), so `retry` can succeed.
        self.lost(host, &session).await;
      }
      result
    })
  }

  fn lock<'a>(&'a self, host: &'a str) -> BoxFuture<'a, Option<LockState>> {
    Box::pin(self.verified_lock(host))
  }

  fn close(&self) -> BoxFuture<'_, Vec<String>> {
    Box::pin(async move {
      // Every command has finished by now, so these are the last references.
      let hosts: Vec<(String, Arc<Host>)> = self.hosts.lock().await.drain().collect();
      let sessions = hosts
        .into_iter()
        .filter_map(|(name, host)| Some((name, last_session(host)?)));
      if self.options.keep.is_some() {
        // Kept: each master lives on until idle for its limit, or `connections close`.
        for (_, session) in sessions {
          let _ = session.detach();
        }
        return Vec::new();
      }
      let mut closing = tokio::task::JoinSet::new();
      for (name, session) in sessions {
        closing.spawn(async move { (name, session.close().await) });
      }
      let mut warnings = Vec::new();
      while let Some(done) = closing.join_next().await {
        match done {
          Ok((_, Ok(()))) => {}
          Ok((name, Err(e))) => {
            warnings.push(format!("{name}: closing the connection: {}", describe(&e)))
          }
          Err(e) => warnings.push(format!("closing a connection: {e}")),
        }
      }
      warnings
    })
  }
}

/// What ssh would use for `host` (`ssh -G`, with this ssh_config and login user): its settings
/// by keyword, the first value of each. `None` when ssh refuses the name.
pub(crate) fn settings_for(
  config_file: Option<&Path>,
  user: Option<&str>,
  host: &str,
) -> Option<std::collections::BTreeMap<String, String>> {
  let mut command = std::process::Command::new("ssh");
  command.arg("-G");
  if let Some(file) = config_file {
    command.arg("-F").arg(file);
  }
  if let Some(user) = user {
    command.args(["-l", user]);
  }
  let out = command.arg("--").arg(host).output().ok()?;
  if !out.status.success() {
    return None;
  }
  let mut map = std::collections::BTreeMap::new();
  for line in String::from_utf8_lossy(&out.stdout).lines() {
    if let Some((k, v)) = line.split_once(' ') {
      map.entry(k.to_string()).or_insert_with(|| v.to_string());
    }
  }
  Some(map)
}

#[cfg(test)]
mod tests {
  use super::*;

  /// The operator reads the classified words; ssh's own error stays behind them, typed.
  #[test]
  fn a_refused_connection_keeps_ssh_s_error_as_its_cause() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
      .unwrap()
      .local_addr()
      .unwrap()
      .port();
    let config = dir.path().join("ssh_config");
    std::fs::write(
      &config,
      format!("Host refused\n  HostName 127.0.0.1\n  Port {port}\n  BatchMode yes\n"),
    )
    .unwrap();
    let ssh = Ssh::new(
      SshOptions {
        config_file: Some(config),
        accept_new_host_keys: false,
        connect_timeout: Duration::from_secs(5),
        control_dir: dir.path().to_path_buf(),
        users: HashMap::new(),
        keep: None,
        lock: None,
      },
      1,
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
      .enable_all()
      .build()
      .unwrap();
    let error = runtime.block_on(ssh.connect("refused")).unwrap_err();
    assert!(error.to_string().contains("connection refused"), "{error}");
    let cause = error.cause().expect("ssh's own error");
    assert!(
      cause.downcast_ref::<openssh::Error>().is_some(),
      "{cause:?}"
    );
    assert!(std::error::Error::source(&error).is_some());
    // A command to a host found down is refused with the same cause, without a new attempt.
    let (_keep, interrupts) = Interrupts::channel();
    let again = runtime
      .block_on(ssh.run("refused", "true", Duration::from_secs(5), interrupts))
      .unwrap_err();
    assert!(again.cause().is_some(), "{again}");
  }
}
