use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde::Serialize;

use crate::cli::{Format, HostsCheckArgs};
use crate::commands::connection::{self, ControlDir};
use crate::config::Config;
use crate::error::Error;
use crate::exec::transport::Transport;
use crate::inventory::{self, Target};
use crate::{exit_code, ui};

#[derive(Serialize)]
struct Row {
  host: String,
  reachable: bool,
  seconds: f64,
  #[serde(skip_serializing_if = "Option::is_none")]
  problem: Option<String>,
}

pub fn run(config: &Config, args: &HostsCheckArgs) -> Result<i32, Error> {
  let inventory = inventory::load(config.inventory.as_deref())?;
  let mut hosts: Vec<String> = Vec::new();
  for name in &args.targets {
    let members = match inventory.resolve(name) {
      Some(Target::Host(h)) => vec![h],
      Some(Target::Group(_, members)) => members,
      Some(Target::Local) | None => {
        return Err(Error::UnknownTarget {
          name: name.clone(),
          suggestion: inventory.suggest(name),
        });
      }
    };
    hosts.extend(members.into_iter().map(str::to_string));
  }
  if args.targets.is_empty() {
    hosts = inventory.hosts.iter().map(|h| h.name.clone()).collect();
  }
  hosts.dedup();
  let runtime = connection::runtime()?;
  let rows = runtime.block_on(async {
    let interrupts = connection::interrupts();
    let mut stop = interrupts.clone();
    let control = ControlDir::create()?;
    let ssh = connection::ssh(&args.ssh, &control, &inventory)?;
    let probes = futures_util::stream::iter(hosts.iter())
      .map(|host| {
        let ssh = &ssh;
        let interrupts = interrupts.clone();
        async move {
          let started = Instant::now();
          let result = match ssh.connect(host).await {
            Err(e) => Err(e.to_string()),
            Ok(()) => match ssh
              .run(host, "true", Duration::from_secs(10), interrupts)
              .await
            {
              Ok(o) if o.exit_code == Some(0) => Ok(()),
              Ok(o) => Err(format!(
                "`true` exited with {:?}: {}",
                o.exit_code,
                o.stderr.trim()
              )),
              Err(e) => Err(e.to_string()),
            },
          };
          Row {
            host: host.clone(),
            reachable: result.is_ok(),
            seconds: started.elapsed().as_secs_f64(),
            problem: result.err(),
          }
        }
      })
      .buffer_unordered(usize::from(args.ssh.concurrency));
    let rows: Vec<Row> = tokio::select! {
      rows = probes.collect::<Vec<Row>>() => rows,
      _ = stop.changed() => Vec::new(),
    };
    for warning in ssh.close().await {
      ui::warn(&warning);
    }
    if let Some(note) = connection::kept_note(&ssh, &args.ssh) {
      eprintln!("{note}");
    }
    drop(control);
    Ok::<_, Error>(rows)
  })?;
  let mut rows = rows;
  rows.sort_by_key(|r| hosts.iter().position(|h| *h == r.host));
  let code = if rows.len() == hosts.len() && rows.iter().all(|r| r.reachable) {
    exit_code::SUCCESS
  } else if rows.len() < hosts.len() {
    exit_code::INTERRUPTED
  } else {
    exit_code::FAILURE
  };
  if config.format == Format::Json {
    ui::emit_json(&rows)?;
    return Ok(code);
  }
  let mut table = vec![
    ["HOST", "STATUS", "TIME"]
      .map(|h| ui::style::bold(h).to_string())
      .to_vec(),
  ];
  for r in &rows {
    let status = match &r.problem {
      None => ui::style::hint("ok").to_string(),
      Some(p) => format!(
        "{} {}",
        ui::style::error("unreachable:"),
        ui::text::sanitize(p)
      ),
    };
    table.push(vec![r.host.clone(), status, format!("{:.2}s", r.seconds)]);
  }
  ui::emit(&ui::text::table(&table))?;
  Ok(code)
}
