//! `megacity doctor`: everything a run will need, checked up front and in parallel, one line per
//! finding with its fix. What blocks a run makes the exit code 1; what only may get in the way
//! is a warning.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use futures_util::StreamExt;
use futures_util::stream;

use crate::cli::DoctorArgs;
use crate::config::{self, Config};
use crate::error::Error;
use crate::exec::interrupt::Interrupts;
use crate::exec::preflight::preflight;
use crate::exec::transport::{SshSettings, Transport, Transports};
use crate::inventory::{self, Inventory, LOCAL};
use crate::runbook::catalog::Catalog;
use crate::ui::render::{self, Doctor, Finding, Level};
use crate::{exit_code, ui};

pub(crate) fn run(config: &Config, args: &DoctorArgs) -> Result<i32, Error> {
  let inventory = inventory::load(config.inventory.as_deref())?;
  let hosts = inventory.select(&args.targets)?;
  let ssh = config::ssh_settings(&args.ssh, args.concurrency);
  ssh.check()?;
  let catalog = Catalog::discover(&config.runbook_dirs)?;
  let needs = needs(&catalog, &inventory);

  let mut findings = vec![ssh_client(), agent()];
  findings.push(journal_dir(&config.journal_dir));
  findings.push(Finding::ok("local", "config", &config.settings.describe()));
  findings.extend(runbook_dirs(&catalog));
  findings.push(completions());

  let runtime = crate::exec::runtime()?;
  let per_host = runtime.block_on(async {
    let interrupts = Interrupts::install();
    let transports = Transports::for_mode(false, &ssh, &inventory, None)?;
    let sudo_hosts: Vec<String> = hosts
      .iter()
      .filter(|h| needs.get(*h).is_some_and(|n| n.sudo))
      .cloned()
      .collect();
    let checks = preflight(
      &transports,
      &hosts,
      &sudo_hosts,
      ssh.concurrency,
      &interrupts,
      &|_, _| {},
    )
    .await;
    let mut out: Vec<Finding> = Vec::new();
    if let Some(checks) = checks {
      // Name, host key and tools, in parallel, for the hosts that answered.
      let answered: Vec<&String> = checks
        .iter()
        .filter(|c| c.unreachable.is_none())
        .map(|c| &c.host)
        .collect();
      let tools = stream::iter(answered)
        .map(|host| tools(&transports, host, needs.get(host), &interrupts))
        .buffer_unordered(ssh.concurrency.max(1))
        .collect::<Vec<_>>()
        .await;
      for check in &checks {
        out.push(resolves(&ssh, &inventory, &check.host));
        out.push(known_host(&ssh, &inventory, &check.host));
        out.push(match &check.unreachable {
          None => Finding::ok(&check.host, "login", "batch-mode login works"),
          Some(why) => Finding::block(
            &check.host,
            "login",
            why,
            "see `ssh -v HOST`: a key in the agent (ssh-add), the host key in known_hosts (or --accept-new-host-keys), the name in ssh_config",
          ),
        });
        match &check.sudo {
          Some(Ok(())) => out.push(Finding::ok(&check.host, "sudo", "sudo -n works")),
          Some(Err(why)) => out.push(Finding::block(
            &check.host,
            "sudo",
            why,
            "allow the runbooks' commands with NOPASSWD in sudoers for this login",
          )),
          None => {}
        }
        out.extend(tools.iter().filter(|f| f.subject == check.host).cloned());
      }
    }
    for warning in transports.close().await {
      ui::warn(&warning);
    }
    Ok::<_, Error>(out)
  })?;
  findings.extend(per_host);
  let view = Doctor { findings };
  render::emit(&view, config.format)?;
  Ok(if view.blocking() > 0 {
    exit_code::FAILURE
  } else {
    exit_code::SUCCESS
  })
}

/// What the runbooks need of each host: the programs their commands call there (with the
/// runbooks that call them), and whether some step runs as root there.
#[derive(Default)]
struct Needs {
  programs: BTreeMap<String, Vec<String>>,
  sudo: bool,
}

fn needs(catalog: &Catalog, inventory: &Inventory) -> BTreeMap<String, Needs> {
  let mut out: BTreeMap<String, Needs> = BTreeMap::new();
  for runbook in catalog.parsed() {
    for step in &runbook.steps {
      // Only checks and actions run a command.
      let Some(command) = step.command() else {
        continue;
      };
      let hosts = inventory.expand(step.targets.iter().map(|t| t.value.as_str()));
      for host in hosts.iter().filter(|h| *h != LOCAL) {
        let need = out.entry(host.clone()).or_default();
        need.sudo |= step.sudo;
        for program in crate::runbook::programs::programs(command) {
          let users = need.programs.entry(program).or_default();
          if !users.contains(&runbook.id) {
            users.push(runbook.id.clone());
          }
        }
      }
    }
  }
  out
}

fn ssh_client() -> Finding {
  match Command::new("ssh").arg("-V").output() {
    Ok(out) => {
      let version = String::from_utf8_lossy(&out.stderr).trim().to_string();
      Finding::ok("local", "ssh", &version)
    }
    Err(_) => Finding::block(
      "local",
      "ssh",
      "no `ssh` on PATH: megacity connects through the operator's own OpenSSH",
      "install OpenSSH's client (apt-get install openssh-client)",
    ),
  }
}

fn agent() -> Finding {
  if std::env::var_os("SSH_AUTH_SOCK").is_none() {
    return Finding::warn(
      "local",
      "agent",
      "no ssh agent (SSH_AUTH_SOCK is not set): only key files without a passphrase can log in",
      "eval $(ssh-agent) && ssh-add",
    );
  }
  match Command::new("ssh-add").arg("-l").output() {
    Ok(out) if out.status.success() => {
      let keys = String::from_utf8_lossy(&out.stdout).lines().count();
      Finding::ok("local", "agent", &format!("ssh agent with {keys} key(s)"))
    }
    Ok(out) if out.status.code() == Some(1) => Finding::warn(
      "local",
      "agent",
      "the ssh agent holds no key",
      "ssh-add (or ssh-add ~/.ssh/your_key)",
    ),
    _ => Finding::warn(
      "local",
      "agent",
      "the ssh agent does not answer",
      "eval $(ssh-agent) && ssh-add",
    ),
  }
}

fn journal_dir(dir: &Path) -> Finding {
  // The directory a run would create: its nearest existing parent decides.
  let existing = dir
    .ancestors()
    .find(|p| p.exists())
    .unwrap_or(Path::new("/"));
  match crate::journal::room::check_start(existing) {
    Ok(()) => Finding::ok(
      "local",
      "journal",
      &format!("{} is writable with room", dir.display()),
    ),
    Err(e) => Finding::block(
      "local",
      "journal",
      &e.to_string(),
      "free space there, or point --journal-dir / MEGACITY_JOURNAL_DIR elsewhere",
    ),
  }
}

fn runbook_dirs(catalog: &Catalog) -> Vec<Finding> {
  let mut out = Vec::new();
  let overrides: Vec<String> = catalog
    .entries()
    .filter(|e| !matches!(e.origin, crate::source::Origin::Embedded))
    .map(|e| format!("{} ({})", e.id, e.origin))
    .collect();
  let count = catalog.entries().count();
  out.push(Finding::ok(
    "local",
    "runbooks",
    &if overrides.is_empty() {
      format!("{count} runbooks, all shipped ones")
    } else {
      format!(
        "{count} runbooks; from your directories: {}",
        overrides.join(", ")
      )
    },
  ));
  for skipped in catalog.skipped() {
    out.push(Finding::warn(
      "local",
      "runbooks",
      &skipped.to_string(),
      "a runbook has a top-level `id:`; move other files out of runbook directories",
    ));
  }
  out
}

/// Whether completion is installed for the operator's shell where that shell looks.
fn completions() -> Finding {
  let shell = std::env::var("SHELL").unwrap_or_default();
  let name = Path::new(&shell)
    .file_name()
    .and_then(|n| n.to_str())
    .unwrap_or("")
    .to_string();
  let home = std::env::var("HOME").unwrap_or_default();
  let data = std::env::var("XDG_DATA_HOME").unwrap_or_else(|_| format!("{home}/.local/share"));
  let config = std::env::var("XDG_CONFIG_HOME").unwrap_or_else(|_| format!("{home}/.config"));
  let (places, install): (Vec<String>, String) = match name.as_str() {
    "bash" => (
      vec![
        format!("{data}/bash-completion/completions/megacity"),
        "/usr/share/bash-completion/completions/megacity".into(),
        "/etc/bash_completion.d/megacity".into(),
      ],
      "megacity completions bash > ~/.local/share/bash-completion/completions/megacity".into(),
    ),
    "zsh" => (
      vec![
        format!("{home}/.zfunc/_megacity"),
        "/usr/share/zsh/vendor-completions/_megacity".into(),
        "/usr/local/share/zsh/site-functions/_megacity".into(),
      ],
      "mkdir -p ~/.zfunc && megacity completions zsh > ~/.zfunc/_megacity (and fpath, see README)"
        .into(),
    ),
    "fish" => (
      vec![
        format!("{config}/fish/completions/megacity.fish"),
        "/usr/share/fish/vendor_completions.d/megacity.fish".into(),
      ],
      "megacity completions fish > ~/.config/fish/completions/megacity.fish".into(),
    ),
    _ => {
      return Finding::warn(
        "local",
        "completions",
        &format!("cannot tell for shell `{shell}`"),
        "megacity completions <shell> (README, Completion)",
      );
    }
  };
  match places.iter().find(|p| Path::new(p).exists()) {
    Some(p) => Finding::ok("local", "completions", &format!("{name}: {p}")),
    None => Finding::warn(
      "local",
      "completions",
      &format!("{name}: not installed, so runbook and host names do not complete"),
      &install,
    ),
  }
}

/// `ssh -G` for `host` with this run's ssh_config and the inventory's user: what ssh would use.
fn ssh_g(ssh: &SshSettings, inventory: &Inventory, host: &str) -> Option<BTreeMap<String, String>> {
  let user = inventory.host(host).and_then(|h| h.user.as_deref());
  crate::exec::transport::ssh::settings_for(ssh.config_file.as_deref(), user, host)
}

/// The name resolves: through ssh_config (a HostName) or, failing that, through DNS.
fn resolves(ssh: &SshSettings, inventory: &Inventory, host: &str) -> Finding {
  let Some(g) = ssh_g(ssh, inventory, host) else {
    return Finding::block(
      host,
      "name",
      "`ssh -G` refuses this host name",
      "check ssh_config",
    );
  };
  let target = g
    .get("hostname")
    .cloned()
    .unwrap_or_else(|| host.to_string());
  let port: u16 = g.get("port").and_then(|p| p.parse().ok()).unwrap_or(22);
  let proxied = g.contains_key("proxyjump") || g.contains_key("proxycommand");
  use std::net::ToSocketAddrs;
  let resolved = (target.as_str(), port)
    .to_socket_addrs()
    .is_ok_and(|mut a| a.next().is_some());
  match resolved {
    true => Finding::ok(host, "name", &format!("{host} → {target}:{port}")),
    false if proxied => Finding::ok(
      host,
      "name",
      &format!("{host} → {target}:{port} (through a jump host: resolved there)"),
    ),
    false => Finding::block(
      host,
      "name",
      &format!("{target} does not resolve (ssh_config gives no HostName for `{host}`)"),
      &format!("add `Host {host}` with `HostName <address>` to your ssh_config"),
    ),
  }
}

/// A known_hosts entry for the host, where ssh will look for one.
fn known_host(ssh: &SshSettings, inventory: &Inventory, host: &str) -> Finding {
  let Some(g) = ssh_g(ssh, inventory, host) else {
    return Finding::warn(
      host,
      "host key",
      "cannot ask ssh where known_hosts is",
      "check ssh_config",
    );
  };
  let target = g
    .get("hostname")
    .cloned()
    .unwrap_or_else(|| host.to_string());
  let port = g.get("port").cloned().unwrap_or_else(|| "22".into());
  let alias = g.get("hostkeyalias").cloned();
  let name = match (alias, port.as_str()) {
    (Some(a), _) => a,
    (None, "22") => target.clone(),
    (None, p) => format!("[{target}]:{p}"),
  };
  let home = std::env::var("HOME").unwrap_or_default();
  let files: Vec<String> = g
    .get("userknownhostsfile")
    .map(|f| {
      f.split_whitespace()
        .map(|p| p.replace('~', &home))
        .collect()
    })
    .unwrap_or_default();
  let found = files.iter().any(|file| {
    Command::new("ssh-keygen")
      .args(["-F", &name, "-f", file])
      .output()
      .is_ok_and(|o| o.status.success() && !o.stdout.is_empty())
  });
  if found {
    Finding::ok(host, "host key", &format!("{name} is in known_hosts"))
  } else if ssh.accept_new_host_keys {
    Finding::ok(
      host,
      "host key",
      &format!("{name} is new; --accept-new-host-keys takes it"),
    )
  } else {
    Finding::warn(
      host,
      "host key",
      &format!("no known_hosts entry for {name}: a run refuses it (strict checking)"),
      "connect once with `ssh` and check the fingerprint, or run with --accept-new-host-keys",
    )
  }
}

/// The programs the runbooks call on `host`: which are missing there.
async fn tools(
  transport: &Transports,
  host: &str,
  needs: Option<&Needs>,
  interrupts: &Interrupts,
) -> Finding {
  let Some(needs) = needs.filter(|n| !n.programs.is_empty()) else {
    return Finding::ok(host, "tools", "no shipped runbook runs a command here");
  };
  let names: Vec<&str> = needs.programs.keys().map(String::as_str).collect();
  let mut script = String::from("for p in");
  for name in &names {
    script.push(' ');
    script.push_str(&crate::shell::quote(name).unwrap_or_default());
  }
  // The runbooks' commands run under sudo's secure_path too: look there as well.
  script.push_str("; do PATH=\"$PATH:/usr/local/sbin:/usr/sbin:/sbin\" command -v \"$p\" >/dev/null 2>&1 || echo \"$p\"; done");
  match transport
    .run(
      host,
      &script,
      std::time::Duration::from_secs(20),
      interrupts.clone(),
    )
    .await
  {
    Ok(out) => {
      let missing: Vec<String> = out
        .stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|p| {
          let users = needs
            .programs
            .get(p)
            .map(|u| u.join(", "))
            .unwrap_or_default();
          format!("{p} ({users})")
        })
        .collect();
      if missing.is_empty() {
        Finding::ok(
          host,
          "tools",
          &format!("all {} programs the runbooks call here", names.len()),
        )
      } else {
        Finding::warn(
          host,
          "tools",
          &format!("missing: {}", missing.join("; ")),
          "install them there, or expect those runbooks' steps to be unknown on this host",
        )
      }
    }
    Err(e) => Finding::warn(
      host,
      "tools",
      &format!("cannot check: {e}"),
      "see the login line",
    ),
  }
}

impl Finding {
  fn ok(subject: &str, area: &str, message: &str) -> Finding {
    Finding {
      subject: subject.to_string(),
      area: area.to_string(),
      level: Level::Ok,
      message: message.to_string(),
      fix: None,
    }
  }

  fn warn(subject: &str, area: &str, message: &str, fix: &str) -> Finding {
    Finding {
      level: Level::Warning,
      fix: Some(fix.to_string()),
      ..Finding::ok(subject, area, message)
    }
  }

  fn block(subject: &str, area: &str, message: &str, fix: &str) -> Finding {
    Finding {
      level: Level::Blocking,
      fix: Some(fix.to_string()),
      ..Finding::ok(subject, area, message)
    }
  }
}
