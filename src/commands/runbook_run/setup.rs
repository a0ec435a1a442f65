//! How this run is set up from its arguments: the mode, the parameters, who may confirm what,
//! and the refusal of a run that nobody could answer.

use crate::cli::RunArgs;
use crate::error::Error;
use crate::exec::event::{Operator, Unattended};
use crate::exec::plan::RunMode;
use crate::runbook::Runbook;
use crate::ui;

use super::resume::Resume;

pub(crate) struct RunSetup {
  pub(crate) mode: RunMode,
  pub(crate) vars: Vec<(String, String)>,
  /// Whether a person answers the prompts (a terminal on stdin and no `--yes`).
  interactive: bool,
  yes: bool,
  yes_destructive: bool,
}

impl RunSetup {
  pub(crate) fn new(
    args: &RunArgs,
    resume: Option<&Resume>,
    runbook: &Runbook,
    terminal: bool,
  ) -> Result<RunSetup, Error> {
    let (mode, vars) = match resume {
      // The same mode and parameters; secrets come from their environment variables again.
      Some(r) => (
        RunMode::from(r.header.mode),
        r.header
          .parameters
          .iter()
          .filter(|(name, _)| {
            runbook
              .parameter(name)
              .is_some_and(|p| p.secret_env.is_none())
          })
          .map(|(k, v)| (k.clone(), v.clone()))
          .collect(),
      ),
      None => (
        match (args.dry_run, args.checks_only) {
          (true, _) => RunMode::DryRun,
          (_, true) => RunMode::ChecksOnly,
          _ => RunMode::Live,
        },
        args.vars.clone(),
      ),
    };
    // Refuse before connecting anywhere: a run nobody can answer must not start.
    if !terminal && !args.yes && mode != RunMode::ChecksOnly {
      return Err(Error::NoTerminal);
    }
    Ok(RunSetup {
      mode,
      vars,
      interactive: terminal && !args.yes,
      yes: args.yes,
      yes_destructive: args.yes_destructive,
    })
  }

  /// Who answers the prompts.
  pub(crate) fn operator(&self) -> Box<dyn Operator> {
    match (self.interactive, self.mode) {
      (true, _) => Box::new(ui::prompt::Interactive::new()),
      // A printed plan says what an unattended run with these flags would do with each action.
      (false, RunMode::DryRun) => Box::new(Unattended {
        yes: true,
        destructive: self.yes_destructive,
      }),
      (false, _) => Box::new(Unattended {
        yes: self.yes,
        destructive: self.yes_destructive,
      }),
    }
  }
}
