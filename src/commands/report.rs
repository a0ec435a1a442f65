//! `megacity report RUN --postmortem|--drill|--status-update`: a report drawn from a run's journal, as markdown
//! or (`--format json`) as the data the markdown is built from.

use crate::cli::{Format, ReportArgs};
use crate::config::Config;
use crate::error::Error;
use crate::report::{Kind, Report};
use crate::{exit_code, journal, ui};

pub(crate) fn run(config: &Config, args: &ReportArgs) -> Result<i32, Error> {
  let path = journal::find(&config.journal_dir, &args.run)?;
  let read = journal::read(&path)?;
  let report = Report::new(kind(args), &read);
  let text = match config.format {
    // Pretty and newline-terminated, as `ui::emit_json` prints every other command's JSON.
    Format::Json => format!(
      "{}\n",
      serde_json::to_string_pretty(&report).expect("reports serialize")
    ),
    Format::Text => report.markdown(),
  };
  match &args.output {
    Some(file) => {
      std::fs::write(file, text).map_err(|source| Error::Write {
        path: file.clone(),
        source,
      })?;
      say!("wrote {}", file.display());
    }
    None => ui::emit(&text)?,
  }
  Ok(exit_code::SUCCESS)
}

/// clap makes exactly one of `--postmortem`, `--drill` and `--status-update` required.
fn kind(args: &ReportArgs) -> Kind {
  if args.drill {
    Kind::Drill
  } else if args.status_update {
    Kind::StatusUpdate
  } else {
    Kind::Postmortem
  }
}
