//! `connections list` and `connections close`: the masters `--keep-connections` left open.

use std::time::Duration;

use crate::cli::{ConnectionsCloseArgs, Format};

use crate::config::Config;
use crate::error::Error;
use crate::exec::transport::{kept_masters, masters};
use crate::{exit_code, ui};

pub fn list(config: &Config) -> Result<i32, Error> {
  // The idle limit only matters when opening; listing and closing read what each master recorded.
  let masters = kept_masters(Duration::ZERO)?;
  let runtime = crate::exec::runtime()?;
  let kept = runtime.block_on(masters.list());
  if config.format == Format::Json {
    ui::emit_json(&kept)?;
    return Ok(exit_code::SUCCESS);
  }
  if kept.is_empty() {
    eprintln!("no kept connections (in {})", masters.dir().display());
    return Ok(exit_code::SUCCESS);
  }
  let now = masters::now();
  let mut rows = vec![
    [
      "HOST",
      "USER",
      "SSH CONFIG",
      "OPENED",
      "IDLE LIMIT",
      "STATE",
    ]
    .map(|h| ui::style::bold(h).to_string())
    .to_vec(),
  ];
  for k in &kept {
    rows.push(vec![
      k.key.host.clone(),
      k.key.user.clone().unwrap_or_else(|| "-".into()),
      k.key
        .ssh_config
        .as_ref()
        .map_or_else(|| "-".into(), |p| p.display().to_string()),
      format!(
        "{} ago",
        humantime::format_duration(Duration::from_secs(now.saturating_sub(k.opened)))
      ),
      humantime::format_duration(Duration::from_secs(k.idle_limit_secs)).to_string(),
      if k.alive { "open" } else { "ended" }.to_string(),
    ]);
  }
  ui::emit(&ui::text::table(&rows))?;
  Ok(exit_code::SUCCESS)
}

pub fn close(args: &ConnectionsCloseArgs) -> Result<i32, Error> {
  let masters = kept_masters(Duration::ZERO)?;
  let runtime = crate::exec::runtime()?;
  let (closed, warnings) = runtime.block_on(masters.close(&args.hosts));
  for warning in &warnings {
    ui::warn(warning);
  }
  eprintln!(
    "closed {} kept connection{}{}",
    closed.len(),
    if closed.len() == 1 { "" } else { "s" },
    if closed.is_empty() {
      String::new()
    } else {
      format!(": {}", closed.join(", "))
    }
  );
  Ok(if warnings.is_empty() {
    exit_code::SUCCESS
  } else {
    exit_code::FAILURE
  })
}
