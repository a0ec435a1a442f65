//! SSH through the system OpenSSH (the `openssh` crate): one multiplexed master per host, opened
//! by the preflight or on first use and reused by every later step, closed at the end.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use openssh::{ControlPersist, KnownHosts, Session, SessionBuilder, Stdio as SshStdio};
use tokio::sync::{Mutex, OnceCell, Semaphore};

use super::masters::{Key, Masters};
use super::watchdog::{WATCHDOG, watchdog_args};
use super::{BoxFuture, Interrupts, Output, Transport, TransportError, bounded, read_bounded};

/// sshd allows `MaxSessions` (default 10) channels per connection; stay under it.
pub const PER_HOST_CHANNELS: usize = 8;

#[derive(Clone, Debug)]
pub struct SshOptions {
  pub config_file: Option<PathBuf>,
  /// Accept unknown host keys (ssh's accept-new). Off by default: strict checking.
  pub accept_new_host_keys: bool,
  pub connect_timeout: Duration,
  /// Where this run's control sockets live (short: Unix socket paths are limited).
  pub control_dir: PathBuf,
  /// Login user per host, from the inventory.
  pub users: HashMap<String, String>,
  /// Keep masters open after the run, and reuse kept ones (`--keep-connections`).
  pub keep: Option<Masters>,
}

struct Host {
  session: OnceCell<Result<Arc<Session>, String>>,
  channels: Semaphore,
}

pub struct Ssh {
  options: SshOptions,
  hosts: Mutex<HashMap<String, Arc<Host>>>,
  /// Concurrent connection attempts (sshd's and a bastion's MaxStartups).
  connects: Semaphore,
  /// Kept masters found when the first host connected.
  kept: OnceCell<HashMap<Key, PathBuf>>,
  reused: AtomicUsize,
}

impl Ssh {
  pub fn new(options: SshOptions, max_connects: usize) -> Ssh {
    Ssh {
      options,
      hosts: Mutex::new(HashMap::new()),
      connects: Semaphore::new(max_connects.max(1)),
      kept: OnceCell::new(),
      reused: AtomicUsize::new(0),
    }
  }

  /// How many hosts ran on a master kept by an earlier run.
  pub fn reused(&self) -> usize {
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
          session: OnceCell::new(),
          channels: Semaphore::new(PER_HOST_CHANNELS),
        })
      })
      .clone()
  }

  async fn session(&self, name: &str) -> Result<Arc<Session>, TransportError> {
    let host = self.host(name).await;
    let result = host
      .session
      .get_or_init(|| async {
        if let Some(session) = self.resume(name).await {
          return Ok(Arc::new(session));
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
            Ok(Arc::new(session))
          }
          Ok(Err(e)) => Err(describe(&e)),
          Err(_) => Err(format!("no answer within {limit:?}")),
        }
      })
      .await;
    result.clone().map_err(TransportError::Connect)
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

/// The whole error chain: the crate's top-level message alone ("failed to connect") hides the
/// useful part (ssh's own "Host key verification failed", "Connection refused").
pub fn describe(error: &(dyn std::error::Error + 'static)) -> String {
  let mut text = error.to_string();
  let mut source = error.source();
  while let Some(s) = source {
    let line = s.to_string();
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
  let session = Arc::try_unwrap(host).ok()?.session.into_inner()?.ok()?;
  Arc::try_unwrap(session).ok()
}

fn lost(error: &openssh::Error) -> TransportError {
  TransportError::Failed(format!(
    "the connection was lost while the command ran (no answer to keepalives): {}",
    describe(error)
  ))
}

impl Transport for Ssh {
  fn connect<'a>(&'a self, host: &'a str) -> BoxFuture<'a, Result<(), TransportError>> {
    Box::pin(async move { self.session(host).await.map(|_| ()) })
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
      let work = async {
        let mut child = session
          .command("sh")
          .arg("-c")
          .arg(WATCHDOG)
          .args(watchdog_args(command, timeout))
          // Never the terminal's stdin: a pipe we hold open is the watchdog's lifeline.
          .stdin(SshStdio::piped())
          .stdout(SshStdio::piped())
          .stderr(SshStdio::piped())
          .spawn()
          .await
          .map_err(|e| TransportError::Failed(describe(&e)))?;
        let _stdin = child.stdin().take();
        let stdout = child.stdout().take().expect("piped");
        let stderr = child.stderr().take().expect("piped");
        let (stdout, stderr) = tokio::join!(read_bounded(stdout), read_bounded(stderr));
        match child.wait().await {
          Ok(status) => Ok(Output {
            exit_code: status.code(),
            stdout,
            stderr,
          }),
          // Either a signal killed it, or the connection died under it: only the master knows.
          Err(openssh::Error::RemoteProcessTerminated) => match session.check().await {
            Ok(()) => Ok(Output {
              exit_code: None,
              stdout,
              stderr,
            }),
            Err(e) => Err(lost(&e)),
          },
          // The crate turns exit status 127 into an error; it is an exit code like any other
          // (the command was not found, and its stderr says which).
          Err(openssh::Error::Remote(e)) if e.kind() == std::io::ErrorKind::NotFound => {
            Ok(Output {
              exit_code: Some(127),
              stdout,
              stderr,
            })
          }
          Err(e) => match session.check().await {
            Ok(()) => Err(TransportError::Failed(describe(&e))),
            Err(_) => Err(lost(&e)),
          },
        }
      };
      bounded(work, timeout, interrupts).await
    })
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
