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
      StepKind::Call(call) => call.vars.iter().map(|(_, v)| v).collect(),
    };
    let expect = match &step.kind {
      StepKind::Check { expect, .. } | StepKind::Action { expect, .. } => Some(expect),
      StepKind::Manual { .. } | StepKind::Input(_) | StepKind::Call(_) => None,
    };
    texts.extend(
      expect
        .into_iter()
        .flat_map(Expect::patterns)
        .map(|(_, p)| p),
    );
    texts.extend(expect.into_iter().flat_map(Expect::bounds));
    for text in texts {
      check_placeholders(c, step, text, &known);
    }
    for test in &step.when.values {
      let name = test.name.value.as_str();
      if !is_known(&known, name) {
        c.error(
          test.name.pos,
          format!(
            "`when:` tests `{name}`, which no parameter, earlier question or capture provides"
          ),
          did_you_mean(
            name,
            known
              .iter()
              .filter(|k| !k.ends_with('*'))
              .map(String::as_str),
          ),
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
    // What a called runbook's steps provide is known once it is loaded: by prefix here.
    if let StepKind::Call(_) = &step.kind {
      let id = &step.id.value;
      known.extend([
        format!("steps.{id}/*"),
        format!("steps.{id}#*"),
        format!("{id}.*"),
        format!("{id}#*"),
      ]);
    }
  }
  // A rung may fire at any point of the run: whatever the runbook provides may be tested (and a
  // name provided only later is unknown until then, never an empty string).
  for rung in &runbook.escalate_on {
    for test in &rung.when.values {
      let name = test.name.value.as_str();
      if !is_known(&known, name) {
        c.error(
          test.name.pos,
          format!(
            "escalation `when:` tests `{name}`, which no parameter, question or capture provides"
          ),
          did_you_mean(
            name,
            known
              .iter()
              .filter(|k| !k.ends_with('*'))
              .map(String::as_str),
          ),
        );
      }
    }
  }
}

/// Whether `name` is in `known`, where an entry ending in `*` stands for every name it begins.
fn is_known(known: &[String], name: &str) -> bool {
  known.iter().any(|k| match k.strip_suffix('*') {
    Some(prefix) => name.starts_with(prefix),
    None => k == name,
  })
}

/// Every `{{name}}` in `text` must be known at that point of the runbook.
fn check_placeholders(
  c: &mut Collector,
  step: &Step,
  text: &crate::schema::Loc<String>,
  known: &[String],
) {
  for (name, _) in template::placeholders(text) {
    if is_known(known, name) {
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
        did_you_mean(
          name,
          known
            .iter()
            .filter(|k| !k.ends_with('*'))
            .map(String::as_str),
        )
        .or_else(|| {
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
        did_you_mean(
          name,
          known
            .iter()
            .filter(|k| !k.ends_with('*'))
            .map(String::as_str),
        )
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

/// Words that run the next word as the command (shell keywords, wrappers), and for wrappers
/// the options that take a value: `sudo -u redis tail -f` runs `tail`.
const PREFIXES: &[(&str, &[&str])] = &[
  (
    "sudo",
    &["-u", "-g", "-C", "-D", "-h", "-p", "-U", "-r", "-t", "-T"],
  ),
  ("env", &["-u", "-C", "-S"]),
  ("nice", &["-n"]),
  ("ionice", &["-c", "-n", "-p"]),
  ("stdbuf", &["-i", "-o", "-e"]),
  ("exec", &[]),
  ("nohup", &[]),
  ("command", &[]),
  ("time", &[]),
  ("if", &[]),
  ("then", &[]),
  ("else", &[]),
  ("elif", &[]),
  ("do", &[]),
  ("while", &[]),
  ("until", &[]),
  ("!", &[]),
  ("{", &[]),
];

/// The command word of a segment and its arguments, past assignments and wrappers.
fn command_words(segment: &str) -> Vec<&str> {
  let words: Vec<&str> = segment.split_whitespace().collect();
  let mut i = 0;
  let mut valued: &[&str] = &[];
  while let Some(word) = words.get(i) {
    if let Some((_, options)) = PREFIXES.iter().find(|(w, _)| w == word) {
      valued = options;
    } else if word.starts_with('-') {
      // A wrapper's option; its value is the next word when it takes one.
      if valued.contains(word) {
        i += 1;
      }
    } else if !is_assignment(word) {
      break;
    }
    i += 1;
  }
  words[i.min(words.len())..].to_vec()
}

/// `NAME=value` before a command sets its environment.
fn is_assignment(word: &str) -> bool {
  word
    .split_once('=')
    .is_some_and(|(name, _)| !name.is_empty())
}

/// The word after the options of a command whose options `valued` take a value.
fn first_operand<'a>(args: &[&'a str], valued: &[&str]) -> Option<&'a str> {
  let mut words = args.iter();
  while let Some(word) = words.next() {
    if valued.contains(word) {
      words.next();
    } else if !word.starts_with('-') {
      return Some(word);
    }
  }
  None
}

/// redis-cli options that take a value.
const REDIS_CLI_VALUED: &[&str] = &[
  "-h",
  "-p",
  "-s",
  "-a",
  "-u",
  "-r",
  "-i",
  "-n",
  "-d",
  "-D",
  "-t",
  "-X",
  "--user",
  "--pass",
  "--sni",
  "--cacert",
  "--cacertdir",
  "--cert",
  "--key",
  "--tls-ciphers",
  "--tls-ciphersuites",
  "--show-pushes",
  "--rdb",
  "--functions-rdb",
  "--pipe-timeout",
  "--memkeys-samples",
  "--pattern",
  "--count",
  "--quoted-pattern",
  "--intrinsic-latency",
  "--eval",
  "--cluster",
];

/// kubectl's global options that take a value (before the subcommand).
const KUBECTL_VALUED: &[&str] = &[
  "-n",
  "--namespace",
  "--context",
  "--kubeconfig",
  "-s",
  "--server",
  "--cluster",
  "--user",
  "--token",
  "--as",
  "--as-group",
  "--request-timeout",
  "--cache-dir",
  "-v",
];

/// A rough shell-word scan for the usual never-ending commands; never used for execution. A
/// command under `timeout` is bounded, and not reported.
pub(crate) fn unbounded(command: &str) -> Vec<Unbounded> {
  let mut found = Vec::new();
  for segment in command.split(['|', ';', '&', '\n', '(', ')', '`']) {
    let words = command_words(segment);
    let Some(&program) = words.first() else {
      continue;
    };
    let args = &words[1..];
    let is = |flags: &[&str]| args.iter().any(|a| flags.contains(a));
    // `--long`, `--long=…`, or a cluster of short options containing `short`.
    let has = |long: &str, short: char| {
      args.iter().any(|a| {
        *a == long
          || a
            .strip_prefix(long)
            .is_some_and(|rest| rest.starts_with('='))
          || (a.starts_with('-') && !a.starts_with("--") && a[1..].contains(short))
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
      "dmesg" if has("--follow", 'w') || has("--follow-new", 'W') => {
        ("dmesg -w", "use `dmesg -T | tail -n 200`")
      }
      "watch" => (
        "watch",
        "run the command once; use `retry:` to poll until it holds",
      ),
      "sleep"
        if args
          .iter()
          .any(|a| a.to_ascii_lowercase().starts_with("inf")) =>
      {
        (
          "sleep infinity",
          "sleep a bounded time, or use `retry:` to wait until something holds",
        )
      }
      "htop" => ("htop", "use `ps aux --sort=-%mem | head -n 20`"),
      "top" if !has("--batch", 'b') => ("top without -b", "use `top -b -n 1 | head -n 20`"),
      "ping" if !has("--count", 'c') => ("ping without -c", "use `ping -c 3 HOST`"),
      "tcpdump" if !has("--count", 'c') => ("tcpdump without -c", "use `tcpdump -c 100 …`"),
      "docker" if args.first() == Some(&"logs") && has("--follow", 'f') => {
        ("docker logs -f", "use `docker logs --tail 100 NAME`")
      }
      "docker" if args.first() == Some(&"stats") && !is(&["--no-stream"]) => (
        "docker stats without --no-stream",
        "use `docker stats --no-stream`",
      ),
      "kubectl" => match first_operand(args, KUBECTL_VALUED) {
        // kubectl's `-f` elsewhere is a file name, so only these exact spellings count.
        Some("get")
          if is(&[
            "-w",
            "--watch",
            "--watch=true",
            "--watch-only",
            "--watch-only=true",
          ]) =>
        {
          (
            "kubectl get -w",
            "list once, without --watch; use `retry:` to poll until it holds",
          )
        }
        Some("logs") if is(&["-f", "--follow", "--follow=true"]) => {
          ("kubectl logs -f", "use `kubectl logs --tail=200 POD`")
        }
        Some("port-forward") => (
          "kubectl port-forward",
          "a port-forward holds until killed; check from inside the cluster (`kubectl exec POD -- curl …`)",
        ),
        Some("edit") => (
          "kubectl edit",
          "`kubectl edit` waits for an editor; use `kubectl patch` or `kubectl apply -f`",
        ),
        _ => continue,
      },
      "redis-cli" => {
        let operand = first_operand(args, REDIS_CLI_VALUED).map(str::to_ascii_lowercase);
        match operand.as_deref() {
          Some("monitor") => (
            "redis-cli MONITOR",
            "MONITOR streams every command until killed; use `redis-cli SLOWLOG GET 20` or `INFO commandstats`",
          ),
          Some("subscribe" | "psubscribe" | "ssubscribe") => (
            "redis-cli SUBSCRIBE",
            "a subscriber waits for messages until killed; use `redis-cli PUBSUB NUMSUB CHANNEL`",
          ),
          _ if is(&["--stat", "--latency", "--latency-history", "--latency-dist"]) => (
            "redis-cli --stat/--latency",
            "these modes sample until killed; use `redis-cli INFO stats` or `LATENCY LATEST`",
          ),
          _ if args
            .windows(2)
            .any(|w| w[0] == "-r" && w[1].starts_with('-')) =>
          {
            ("redis-cli -r -1", "give -r a positive count of repeats")
          }
          _ => continue,
        }
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

  fn flagged(command: &str) -> Vec<String> {
    unbounded(command).into_iter().map(|u| u.label).collect()
  }

  fn none(command: &str) {
    assert_eq!(flagged(command), Vec::<String>::new(), "{command}");
  }

  fn one(command: &str, label: &str) {
    assert_eq!(flagged(command), vec![label], "{command}");
  }

  #[test]
  fn tail_follow_in_every_spelling() {
    one("tail -f /var/log/x", "tail -f");
    one("sudo tail -F x | grep y", "tail -f");
    one("tail --follow=name --retry x", "tail -f");
    one("tail -fn 100 x", "tail -f");
    none("tail -n 100 /var/log/x");
    none("timeout 30 tail -f /var/log/x");
  }

  #[test]
  fn journalctl_follow() {
    one("journalctl -u x -f", "journalctl -f");
    one("journalctl --follow -u x", "journalctl -f");
    one("journalctl -fu nginx", "journalctl -f");
    none("journalctl -u x -n 10 --no-pager");
  }

  #[test]
  fn dmesg_follow() {
    one("dmesg -w", "dmesg -w");
    one("dmesg -Tw", "dmesg -w");
    one("dmesg --follow", "dmesg -w");
    one("dmesg -W", "dmesg -w");
    one("dmesg --follow-new", "dmesg -w");
    none("dmesg -T | tail -n 50");
    none("dmesg --level=err,warn");
  }

  #[test]
  fn watch_and_sleep_infinity() {
    one("watch -n1 df", "watch");
    one("sleep infinity", "sleep infinity");
    one("sleep inf", "sleep infinity");
    one("while true; do sleep Infinity; done", "sleep infinity");
    none("sleep 10");
  }

  #[test]
  fn interactive_and_unbounded_system_tools() {
    one("top", "top without -b");
    none("top -b -n 1 | head");
    none("top -bn1");
    one("htop", "htop");
    one("ping db", "ping without -c");
    none("ping -c 3 db");
    one("tcpdump -i eth0", "tcpdump without -c");
    one("less /var/log/syslog", "an interactive program");
  }

  #[test]
  fn docker_follow_and_stats() {
    one("docker logs -f api", "docker logs -f");
    none("docker logs --tail 100 api");
    one("docker stats", "docker stats without --no-stream");
    none("docker stats --no-stream");
  }

  #[test]
  fn kubectl_watch_follow_port_forward_and_edit() {
    one("kubectl get pods -w", "kubectl get -w");
    one("kubectl get pods --watch", "kubectl get -w");
    one(
      "kubectl --context prod -n api get pods --watch-only",
      "kubectl get -w",
    );
    // `-owide` holds a `w` but is not --watch; `-f` is a file name for `get`.
    none("kubectl get pods -owide");
    none("kubectl get -f deploy.yaml");
    none("kubectl get pods --watch=false");
    one("kubectl logs -f api-0", "kubectl logs -f");
    one(
      "kubectl --namespace api logs --follow deploy/api",
      "kubectl logs -f",
    );
    none("kubectl logs --tail=200 api-0");
    one(
      "kubectl port-forward svc/api 8080:80",
      "kubectl port-forward",
    );
    one(
      "kubectl -n api port-forward pod/x 5432",
      "kubectl port-forward",
    );
    one("kubectl edit deploy/api", "kubectl edit");
    none("kubectl --context c --namespace n set env deployment d X=1");
    none("kubectl -n edit get pods");
  }

  #[test]
  fn redis_cli_monitor_subscribe_and_sampling_modes() {
    one("redis-cli MONITOR", "redis-cli MONITOR");
    one("redis-cli -h db -p 6380 monitor", "redis-cli MONITOR");
    one(
      "sudo -u redis redis-cli -a {{pass}} Monitor",
      "redis-cli MONITOR",
    );
    one("redis-cli subscribe alerts", "redis-cli SUBSCRIBE");
    one(
      "redis-cli -p 6379 PSUBSCRIBE 'news.*'",
      "redis-cli SUBSCRIBE",
    );
    one("redis-cli ssubscribe shard", "redis-cli SUBSCRIBE");
    one("redis-cli --stat", "redis-cli --stat/--latency");
    one(
      "redis-cli --latency-history -i 5",
      "redis-cli --stat/--latency",
    );
    one("redis-cli -r -1 -i 1 ping", "redis-cli -r -1");
    // A key or a password named like a command is an argument, not the command.
    none("redis-cli GET monitor");
    none("redis-cli -a monitor ping");
    none("redis-cli -r 3 ping");
    none("redis-cli PUBSUB NUMSUB alerts");
    none("out=$(redis-cli -p {{redis_port}} ping 2>&1); rc=$?");
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
