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
  let mut script = String::from_utf8_lossy(&script).into_owned();
  if name == "bash" {
    script = whole_words(&script);
  }
  ui::emit(&script)?;
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

/// bash splits `--var name=value` at `=` (COMP_WORDBREAKS), so megacity would be asked to
/// complete `=` as a word of its own and the choices never reached `name=`. The words are taken
/// from the line as typed instead (split at blanks), and what bash sees as the current word gets
/// the candidates without the `name=` part bash keeps.
fn whole_words(script: &str) -> String {
  const SPLIT: &str = r#"    local words=("${COMP_WORDS[@]}")
    if [[ "${BASH_VERSINFO[0]}" -ge 4 ]]; then
        words[COMP_CWORD]="$2"
    fi"#;
  const WHOLE: &str = r#"    local line="${COMP_LINE:0:COMP_POINT}"
    local words
    IFS=$' \t\n' read -r -a words <<< "$line"
    [[ "$line" =~ [[:space:]]$ ]] && words+=("")
    local _CLAP_COMPLETE_INDEX=$(( ${#words[@]} - 1 ))
    local _megacity_cur="${words[_CLAP_COMPLETE_INDEX]}"
    local _megacity_keep="${_megacity_cur%"$2"}""#;
  const REPLY: &str = "    if [[ $? != 0 ]]; then
        unset COMPREPLY";
  const TRIMMED: &str = r#"    local _megacity_status=$?
    if [[ -n "$_megacity_keep" ]]; then
        COMPREPLY=( "${COMPREPLY[@]#"$_megacity_keep"}" )
    fi
    if [[ $_megacity_status != 0 ]]; then
        unset COMPREPLY"#;
  if !script.contains(SPLIT) || !script.contains(REPLY) {
    // A clap_complete that writes another script: left as it is (the crate is pinned).
    return script.to_string();
  }
  script.replacen(SPLIT, WHOLE, 1).replacen(REPLY, TRIMMED, 1)
}
