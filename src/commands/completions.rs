//! `completions`: the shell's registration script (a script, so there is no JSON of it).

use clap_complete::env::Shells;

use crate::cli::CompletionsArgs;
use crate::config::Config;
use crate::error::Error;
use crate::ui::render;
use crate::{complete, exit_code, ui};

/// Prints the registration script: the shell calls `COMPLETE=<shell> megacity -- <words>` for
/// every completion, so runbook ids, hosts and step ids come from the live catalog.
pub(crate) fn run(config: &Config, args: &CompletionsArgs) -> Result<i32, Error> {
  render::text_only(config.format, "megacity completions")?;
  let name = args.shell.to_string();
  let shells = Shells::builtins();
  let shell = shells
    .completer(&name)
    .expect("every clap_complete shell has an env completer");
  let mut script = Vec::new();
  shell
    .write_registration(
      complete::VAR,
      "megacity",
      "megacity",
      "megacity",
      &mut script,
    )
    .map_err(Error::Output)?;
  ui::emit(&String::from_utf8_lossy(&script))?;
  // Where it goes, on stderr: stdout is the script, redirected into that place.
  let place = match name.as_str() {
    "bash" => "megacity completions bash > ~/.local/share/bash-completion/completions/megacity",
    "zsh" => {
      "megacity completions zsh > ~/.zfunc/_megacity  (with fpath=(~/.zfunc $fpath) before compinit in ~/.zshrc)"
    }
    "fish" => "megacity completions fish > ~/.config/fish/completions/megacity.fish",
    "elvish" => "megacity completions elvish >> ~/.config/elvish/rc.elv",
    _ => "megacity completions powershell >> $PROFILE",
  };
  say!("# install: {place}");
  Ok(exit_code::SUCCESS)
}
