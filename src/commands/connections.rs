//! `connections list` and `connections close`: the masters `--keep-connections` left open.

use std::time::Duration;

use crate::cli::ConnectionsCloseArgs;
use crate::config::Config;
use crate::error::Error;
use crate::exec::transport::{kept_masters, masters};
use crate::exit_code;
use crate::ui::render::{self, Closed, KeptConnection, KeptList};

pub(crate) fn list(config: &Config) -> Result<i32, Error> {
  // The idle limit only matters when opening; listing and closing read what each master recorded.
  let masters = kept_masters(Duration::ZERO)?;
  let runtime = crate::exec::runtime()?;
  let kept = runtime.block_on(masters.list());
  let view = KeptList {
    kept: kept
      .into_iter()
      .map(|k| KeptConnection {
        host: k.key.host,
        user: k.key.user,
        ssh_config: k.key.ssh_config,
        opened: k.opened,
        idle_limit_secs: k.idle_limit_secs,
        alive: k.alive,
      })
      .collect(),
    dir: masters.dir().to_path_buf(),
    now: masters::now(),
  };
  render::emit(&view, config.format)?;
  Ok(exit_code::SUCCESS)
}

pub(crate) fn close(config: &Config, args: &ConnectionsCloseArgs) -> Result<i32, Error> {
  let masters = kept_masters(Duration::ZERO)?;
  let runtime = crate::exec::runtime()?;
  let (closed, warnings) = runtime.block_on(masters.close(&args.hosts));
  let view = Closed { closed, warnings };
  render::emit(&view, config.format)?;
  Ok(if view.warnings.is_empty() {
    exit_code::SUCCESS
  } else {
    exit_code::FAILURE
  })
}
