//! Checks that need more than the file's structure: hosts and groups from the inventory,
//! parameters used in templates, regexes, and commands that would never end.

use crate::diagnostic::{Collector, did_you_mean};
use crate::inventory::Inventory;
use crate::runbook::model::*;
use crate::runbook::template;

pub(crate) fn validate(c: &mut Collector, runbook: &Runbook, inventory: &Inventory) {
  for rung in &runbook.escalate_on {
    for reference in rung.when.references() {
      if runbook.step(reference).is_none() {
        c.error(
          reference.pos,
          format!(
            "escalation `when:` refers to unknown step `{}`",
            reference.value
          ),
          did_you_mean(
            &reference.value,
            runbook.steps.iter().map(|s| s.id.value.as_str()),
          ),
        );
      }
    }
  }
  // Names usable so far: parameters, `host`, answers and captures of earlier steps.
  let mut known: Vec<String> = runbook
    .parameters
    .iter()
    .map(|p| p.name.value.clone())
    .chain(["host".to_string()])
    .collect();
  for step in &runbook.steps {
    for target in &step.targets {
      if target.value.contains("{{") {
        // Known at run time; it must then name an inventory host.
        check_placeholders(c, step, target, &known);
      } else if inventory.resolve(target).is_none() {
        c.error(
          target.pos,
          format!(
            "unknown host or group `{}` in step `{}`",
            target.value, step.id.value
          ),
          inventory
            .suggest(target)
            .or_else(|| Some("see `megacity hosts list`".into())),
        );
      }
    }
    let mut texts: Vec<&crate::schema::Loc<String>> = match &step.kind {
      StepKind::Check { command, .. } => vec![command],
      StepKind::Action {
        command, confirm, ..
      } => std::iter::once(command).chain(confirm).collect(),
      StepKind::Manual { instructions } => vec![instructions],
      StepKind::Input(q) => q.default.iter().collect(),
    };
    let expect = match &step.kind {
      StepKind::Check { expect, .. } | StepKind::Action { expect, .. } => Some(expect),
      StepKind::Manual { .. } | StepKind::Input(_) => None,
    };
    texts.extend(
      expect
        .into_iter()
        .flat_map(Expect::patterns)
        .map(|(_, p)| p),
    );
    for text in texts {
      check_placeholders(c, step, text, &known);
    }
    for test in &step.when.values {
      let name = test.name.value.as_str();
      if !known.iter().any(|k| k == name) {
        c.error(
          test.name.pos,
          format!(
            "`when:` tests `{name}`, which no parameter, earlier question or capture provides"
          ),
          did_you_mean(name, known.iter().map(String::as_str)),
        );
      }
    }
    if let Some(command) = step.command() {
      check_sudo(c, step, command);
      if step.shell.unwrap_or(runbook.shell) == Shell::Sh {
        for (what, at, len) in bashisms(command) {
          let pos = c.locate(command.pos, &command[at..at + len]);
          c.warning(
            pos,
            format!(
              "{what} in step `{}` is bash syntax; commands run under `sh` (dash on Debian), where it fails",
              step.id.value
            ),
            Some("set `shell: bash` on the runbook or the step, or write it in POSIX sh".into()),
          );
        }
      }
      for (name, offset) in quoted_placeholders(command) {
        // The rest of that line, which the source holds as written (a block keeps each line).
        let rest = command[offset..].lines().next().unwrap_or("{{");
        let pos = c.locate(command.pos, rest);
        c.warning(
          pos,
          format!(
            "`{{{{{name}}}}}` is inside quotes in step `{}`: megacity already quotes every value as one shell word, and the extra quotes undo that, so a value could run as code",
            step.id.value
          ),
          Some(format!("write {{{{{name}}}}} without quotes around it")),
        );
      }
      for found in unbounded(command) {
        let pos = c.locate(command.pos, &found.program);
        c.warning(
          pos,
          format!(
            "`{}` never ends on its own (step `{}`)",
            found.label, step.id.value
          ),
          Some(found.hint.to_string()),
        );
      }
    }
    for (key, pattern) in expect.into_iter().flat_map(Expect::patterns) {
      match regex::Regex::new(&template::stand_in(pattern)) {
        Err(e) => c.error(
          pattern.pos,
          format!(
            "invalid regex in `{key}`: {}",
            first_line_of_regex_error(&e)
          ),
          Some("regexes use Rust `regex` syntax; write them in single quotes in YAML".into()),
        ),
        Ok(re) if key == "regex" && re.captures_len() < 2 => c.error(
          pattern.pos,
          "a threshold regex needs a capture group around the number",
          Some(format!("e.g. `{}`", r"used=(\d+(?:\.\d+)?)")),
        ),
        Ok(_) => {}
      }
    }
    for capture in &step.capture {
      if let CaptureFrom::Regex(r) = &capture.from
        && let Err(e) = regex::Regex::new(r)
      {
        c.error(
          r.pos,
          format!(
            "invalid regex in capture `{}`: {}",
            capture.name.value,
            first_line_of_regex_error(&e)
          ),
          Some("regexes use Rust `regex` syntax; the first group is the value".into()),
        );
      }
      if !matches!(step.kind, StepKind::Check { .. } | StepKind::Action { .. }) {
        c.error(
          capture.name.pos,
          "`capture` is for checks and actions, which have output",
          None,
        );
      }
    }
    if let Some(value) = step.wait.as_ref().and_then(|w| w.until.value()) {
      let thresholds = expect.map(|e| e.thresholds.as_slice()).unwrap_or_default();
      let named = thresholds
        .iter()
        .map(|t| t.name.as_str())
        .chain(step.capture.iter().map(|c| c.name.value.as_str()));
      if !named.clone().any(|n| n == value.value) {
        c.error(
          value.pos,
          format!(
            "`value: {}` names no threshold or capture of step `{}`",
            value.value, step.id.value
          ),
          did_you_mean(&value.value, named),
        );
      }
    }
    // What this step makes available to the steps after it.
    if let StepKind::Input(q) = &step.kind {
      if known.contains(&q.name.value) {
        c.error(
          q.name.pos,
          format!(
            "`{}` is already a parameter or an earlier question's name",
            q.name.value
          ),
          Some("give the answer its own name".into()),
        );
      }
      known.push(q.name.value.clone());
    }
    for capture in &step.capture {
      known.push(format!("steps.{}.{}", step.id.value, capture.name.value));
    }
  }
}

/// Every `{{name}}` in `text` must be known at that point of the runbook.
fn check_placeholders(
  c: &mut Collector,
  step: &Step,
  text: &crate::schema::Loc<String>,
  known: &[String],
) {
  for (name, _) in template::placeholders(text) {
    if known.iter().any(|k| k == name) {
      continue;
    }
    let pos = c.locate(text.pos, &format!("{{{{{name}"));
    let pos = if pos == text.pos {
      c.locate(text.pos, "{{")
    } else {
      pos
    };
    let (what, hint) = if let Some(rest) = name.strip_prefix("steps.") {
      (
        format!(
          "`{name}` in step `{}` is not a capture of an earlier step",
          step.id.value
        ),
        did_you_mean(name, known.iter().map(String::as_str)).or_else(|| {
          Some(format!(
            "an earlier step must declare it: `capture: {{{}: '<regex>'}}` in step `{}`",
            rest.split('.').nth(1).unwrap_or("name"),
            rest.split('.').next().unwrap_or("")
          ))
        }),
      )
    } else {
      (
        format!("undefined parameter `{name}` in step `{}`", step.id.value),
        did_you_mean(name, known.iter().map(String::as_str))
          .or_else(|| Some(format!("declare it under `parameters:` as `{name}:`"))),
      )
    };
    c.error(pos, what, hint);
  }
}

/// Bash-only syntax that POSIX sh rejects or reads differently: (what, byte offset, length).
/// Quoted text (an awk program, a message) is not shell syntax and is not looked at.
pub(crate) fn bashisms(command: &str) -> Vec<(&'static str, usize, usize)> {
  let mut out = Vec::new();
  let unquoted = blank_quotes(command);
  let patterns: &[(&str, &str)] = &[
    ("`[[ … ]]`", r"(^|[\s;&|(])\[\[\s"),
    ("`set -o pipefail`", r"set\s+-o\s+pipefail"),
    ("a here-string (`<<<`)", r"<<<"),
    ("brace expansion", r"\{[^{}\s,]*,[^{}\s]*\}|\{\d+\.\.\d+\}"),
    (
      "`function` definition",
      r"(^|[\s;])function\s+\w+\s*(\(\s*\)\s*)?\{",
    ),
    ("process substitution", r"[<>]\("),
    ("`source`", r"(^|[\s;&|])source\s"),
  ];
  for (what, pattern) in patterns {
    let re = regex::Regex::new(pattern).expect("fixed regex");
    for m in re.find_iter(&unquoted) {
      // `{{name}}` placeholders are megacity's, not brace expansion.
      if m.as_str().starts_with("{{") || unquoted[..m.start()].ends_with('{') {
        continue;
      }
      out.push((*what, m.start(), m.len()));
    }
  }
  out
}

/// `command` with the contents of '…' and "…" replaced by spaces, offsets kept.
fn blank_quotes(command: &str) -> String {
  let mut out = String::with_capacity(command.len());
  let mut quote: Option<char> = None;
  let mut escaped = false;
  for ch in command.chars() {
    let keep = match quote {
      None if escaped => {
        escaped = false;
        true
      }
      None if ch == '\\' => {
        escaped = true;
        true
      }
      None if ch == '\'' || ch == '"' => {
        quote = Some(ch);
        true
      }
      None => true,
      Some('"') if escaped => {
        escaped = false;
        false
      }
      Some('"') if ch == '\\' => {
        escaped = true;
        false
      }
      Some(q) if ch == q => {
        quote = None;
        true
      }
      Some(_) => false,
    };
    if keep || ch == '\n' {
      out.push(ch);
    } else {
      // Same byte length, so offsets into `command` stay valid.
      out.extend(std::iter::repeat_n(' ', ch.len_utf8()));
    }
  }
  out
}

fn check_sudo(c: &mut Collector, step: &Step, command: &crate::schema::Loc<String>) {
  if step.sudo && command.trim_start().starts_with("sudo ") {
    let pos = c.locate(command.pos, "sudo");
    c.warning(
      pos,
      format!(
        "step `{}` has `sudo: true` and also starts its command with sudo",
        step.id.value
      ),
      Some("drop `sudo` from the command; `sudo: true` runs it as `sudo -n`".into()),
    );
  }
}

fn first_line_of_regex_error(e: &regex::Error) -> String {
  let text = e.to_string();
  text
    .lines()
    .rev()
    .find(|l| l.starts_with("error:"))
    .unwrap_or(text.lines().next().unwrap_or(""))
    .trim()
    .to_string()
}

/// A command that runs until interrupted: what to call it, where it starts, what to use instead.
pub(crate) struct Unbounded {
  pub(crate) label: String,
  pub(crate) program: String,
  pub(crate) hint: &'static str,
}

/// A rough shell-word scan for the usual never-ending commands; never used for execution.
/// Placeholders (name, byte offset) that sit inside single or double quotes in a command.
/// Inside `'…'` the quoted value's own quotes end the author's; inside `"…"` they are literal
/// and `$(…)` in the value runs. Either way the value is no longer one inert word.
pub(crate) fn quoted_placeholders(command: &str) -> Vec<(&str, usize)> {
  #[derive(Clone, Copy, PartialEq)]
  enum Ctx {
    Plain,
    Single,
    Double,
    /// `$( … )`: quoting starts afresh inside, whatever surrounds it.
    Subst,
  }
  let placeholders: Vec<(&str, usize)> = template::placeholders(command).collect();
  let mut quoted = Vec::new();
  let mut stack = vec![Ctx::Plain];
  let mut chars = command.char_indices().peekable();
  let mut word_start = true;
  while let Some((i, ch)) = chars.next() {
    let ctx = *stack.last().expect("never empty");
    if let Some((name, _)) = placeholders.iter().find(|(_, at)| *at == i)
      && matches!(ctx, Ctx::Single | Ctx::Double)
    {
      quoted.push((*name, i));
    }
    match (ctx, ch) {
      (Ctx::Single, '\'') => {
        stack.pop();
      }
      (Ctx::Single, _) => {}
      (_, '\\') => {
        chars.next();
      }
      (Ctx::Double, '"') => {
        stack.pop();
      }
      (_, '$') if chars.peek().map(|(_, c)| *c) == Some('(') => {
        chars.next();
        stack.push(Ctx::Subst);
      }
      (Ctx::Double, _) => {}
      (Ctx::Subst, ')') => {
        stack.pop();
      }
      (_, '\'') => stack.push(Ctx::Single),
      (_, '"') => stack.push(Ctx::Double),
      // A comment runs to the end of the line; quotes in it mean nothing.
      (_, '#') if word_start => {
        while let Some((_, c)) = chars.peek() {
          if *c == '\n' {
            break;
          }
          chars.next();
        }
      }
      _ => {}
    }
    word_start = ch.is_whitespace() || matches!(ch, ';' | '&' | '|' | '(');
  }
  quoted
}

pub(crate) fn unbounded(command: &str) -> Vec<Unbounded> {
  let mut found = Vec::new();
  for segment in command.split(['|', ';', '&', '\n', '(', ')', '`']) {
    let words: Vec<&str> = segment
      .split_whitespace()
      .skip_while(|w| w.contains('=') || matches!(*w, "sudo" | "-n" | "exec" | "nohup"))
      .collect();
    let Some(&program) = words.first() else {
      continue;
    };
    let args = &words[1..];
    let has = |long: &str, short: char| {
      args.iter().any(|a| {
        *a == long || (a.starts_with('-') && !a.starts_with("--") && a[1..].contains(short))
      })
    };
    let (label, hint) = match program {
      "tail" if has("--follow", 'f') || has("--follow", 'F') => {
        ("tail -f", "use `tail -n 200 FILE`")
      }
      "journalctl" if has("--follow", 'f') => (
        "journalctl -f",
        "use `journalctl -u UNIT -n 200 --no-pager`",
      ),
      "watch" => (
        "watch",
        "run the command once; use `retry:` to poll until it holds",
      ),
      "htop" => ("htop", "use `ps aux --sort=-%mem | head -n 20`"),
      "top" if !has("--batch", 'b') => ("top without -b", "use `top -b -n 1 | head -n 20`"),
      "ping" if !has("--count", 'c') => ("ping without -c", "use `ping -c 3 HOST`"),
      "tcpdump" if !has("--count", 'c') => ("tcpdump without -c", "use `tcpdump -c 100 …`"),
      "docker" | "kubectl" if args.first() == Some(&"logs") && has("--follow", 'f') => {
        ("logs -f", "use `docker logs --tail 100 NAME`")
      }
      "less" | "more" | "vi" | "vim" | "nano" => (
        "an interactive program",
        "interactive programs wait for a terminal; use `cat` or `head`",
      ),
      _ => continue,
    };
    found.push(Unbounded {
      label: label.to_string(),
      program: program.to_string(),
      hint,
    });
  }
  found
}

#[cfg(test)]
mod tests {
  use super::unbounded;

  #[test]
  fn flags_unbounded_commands() {
    let flagged = |c: &str| {
      unbounded(c)
        .into_iter()
        .map(|u| u.label)
        .collect::<Vec<_>>()
    };
    assert_eq!(flagged("tail -f /var/log/x"), vec!["tail -f"]);
    assert_eq!(flagged("tail -n 100 /var/log/x"), Vec::<String>::new());
    assert_eq!(flagged("sudo tail -F x | grep y"), vec!["tail -f"]);
    assert_eq!(flagged("watch -n1 df"), vec!["watch"]);
    assert_eq!(flagged("top"), vec!["top without -b"]);
    assert_eq!(flagged("top -b -n 1 | head"), Vec::<String>::new());
    assert_eq!(flagged("top -bn1"), Vec::<String>::new());
    assert_eq!(flagged("htop"), vec!["htop"]);
    assert_eq!(flagged("journalctl -u x -f"), vec!["journalctl -f"]);
    assert_eq!(
      flagged("journalctl -u x -n 10 --no-pager"),
      Vec::<String>::new()
    );
    assert_eq!(flagged("ping db"), vec!["ping without -c"]);
    assert_eq!(flagged("ping -c 3 db"), Vec::<String>::new());
    assert_eq!(flagged("docker logs -f api"), vec!["logs -f"]);
  }
}

#[cfg(test)]
mod quote_tests {
  use super::quoted_placeholders;

  #[test]
  fn finds_placeholders_the_author_quoted() {
    let names = |c: &str| -> Vec<String> {
      quoted_placeholders(c)
        .into_iter()
        .map(|(n, _)| n.to_string())
        .collect()
    };
    assert_eq!(names("ls {{path}}"), Vec::<String>::new());
    assert_eq!(names("ls '{{path}}'"), ["path"]);
    assert_eq!(names("echo \"x {{path}} y\" {{port}}"), ["path"]);
    assert_eq!(names("echo 'it''s' {{path}}"), Vec::<String>::new());
    assert_eq!(names("echo \"a\\\"b\" {{path}}"), Vec::<String>::new());
    assert_eq!(names("awk '{print $1}' {{file}}"), Vec::<String>::new());
    assert_eq!(names("x=\"$(cat {{file}})\""), Vec::<String>::new());
    assert_eq!(names("# don't\nls {{file}}"), Vec::<String>::new());
    assert_eq!(names("x=$(echo \"{{file}}\")"), ["file"]);
  }
}
