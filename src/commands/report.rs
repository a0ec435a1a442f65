use crate::cli::ReportArgs;
use crate::config::Config;
use crate::error::Error;
use crate::{exit_code, journal, report, ui};

pub fn run(config: &Config, args: &ReportArgs) -> Result<i32, Error> {
  let path = journal::find(&config.journal_dir, &args.run)?;
  let read = journal::read(&path)?;
  let text = if args.drill {
    report::drill(&read)
  } else {
    report::postmortem(&read)
  };
  match &args.output {
    Some(file) => {
      std::fs::write(file, text).map_err(|source| Error::Io {
        path: file.clone(),
        source,
      })?;
      eprintln!("wrote {}", file.display());
    }
    None => ui::emit(&text)?,
  }
  Ok(exit_code::SUCCESS)
}
