//! The programs a command calls, as far as a shell-word scan can tell: what `doctor` asks each
//! host for (`command -v`). Never used to run anything; quoted text (an awk program, a SQL
//! string) is not looked into, and shell builtins are left out.

/// Words that are the shell's own, or wrappers whose next word is the program.
const BUILTINS: &[&str] = &[
  "if", "then", "else", "elif", "fi", "for", "in", "do", "done", "while", "until", "case", "esac",
  "function", "echo", "printf", "test", "[", "[[", "]]", "]", "cd", "export", "set", "unset",
  "local", "read", "exit", "return", "true", "false", ":", ".", "source", "shift", "exec", "eval",
  "trap", "wait", "command", "type", "break", "continue", "{", "}", "!", "let", "declare",
  "readonly",
];

/// Wrappers that run the rest of the line: the program is the first word after their options.
const WRAPPERS: &[&str] = &[
  "sudo", "env", "nice", "nohup", "timeout", "runuser", "setpriv", "xargs", "time",
];

/// The programs `command` calls, each once, in order of first use.
pub(crate) fn programs(command: &str) -> Vec<String> {
  let mut out: Vec<String> = Vec::new();
  for segment in segments(&without_heredocs(command)) {
    let words: Vec<&str> = segment.split_whitespace().collect();
    let mut i = 0;
    // Keywords that a command follows: `then systemctl …`, `! grep …`.
    while i < words.len()
      && matches!(
        words[i],
        "if" | "then" | "else" | "elif" | "do" | "while" | "until" | "!" | "{" | "("
      )
    {
      i += 1;
    }
    // Leading assignments (`out=$(…)` keeps its program inside the substitution, seen apart).
    while i < words.len() && is_assignment(words[i]) {
      i += 1;
    }
    while i < words.len() && WRAPPERS.contains(&words[i]) {
      let wrapper = words[i];
      i += 1;
      // The wrapper's own options and their values: `timeout 5`, `runuser -u postgres --`.
      while i < words.len()
        && (words[i].starts_with('-') || is_assignment(words[i]) || is_duration(words[i]))
      {
        let takes_value = matches!(
          (wrapper, words[i]),
          ("sudo" | "runuser", "-u" | "-g")
            | ("nice", "-n")
            | ("timeout", "-k" | "-s")
            | ("xargs", "-I" | "-n" | "-P" | "-d")
            | ("env", "-C" | "-u" | "-S")
        );
        i += 1;
        if takes_value && i < words.len() {
          i += 1;
        }
      }
    }
    let Some(word) = words.get(i) else { continue };
    let word = word.trim_start_matches('(');
    let plain = !word.is_empty()
      && word
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'));
    if plain
      && !BUILTINS.contains(&word)
      && !word.starts_with('-')
      && !out.iter().any(|p| p == word)
    {
      out.push(word.to_string());
    }
  }
  out
}

/// The command without the bodies of its here-documents (`<<'END'` … `END`): data, not commands
/// (a PromQL query, a file's content).
fn without_heredocs(command: &str) -> String {
  let mut out = String::new();
  let mut until: Option<String> = None;
  for line in command.lines() {
    if let Some(end) = &until {
      if line.trim() == end {
        until = None;
      }
      continue;
    }
    out.push_str(line);
    out.push('\n');
    if let Some((_, rest)) = line.split_once("<<") {
      let word: String = rest
        .trim_start_matches('-')
        .trim_start()
        .trim_start_matches(['\'', '"'])
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
      if !word.is_empty() {
        until = Some(word);
      }
    }
  }
  out
}

fn is_assignment(word: &str) -> bool {
  word.split_once('=').is_some_and(|(name, _)| {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
  })
}

fn is_duration(word: &str) -> bool {
  word
    .trim_end_matches(['s', 'm', 'h'])
    .parse::<f64>()
    .is_ok()
}

/// The command's simple commands: split at `|`, `;`, `&&`, `||`, `&`, newlines and `$(`,
/// with quoted text blanked out.
fn segments(command: &str) -> Vec<String> {
  let mut out = Vec::new();
  let mut current = String::new();
  let mut quote: Option<char> = None;
  let mut chars = command.chars().peekable();
  while let Some(ch) = chars.next() {
    match quote {
      Some(q) if ch == q => {
        quote = None;
        // Quoted text stands as one mark that is never a program name (`"$MEGACITY" …`).
        current.push('\u{1}');
      }
      Some(_) => {}
      None => match ch {
        '\'' | '"' => quote = Some(ch),
        '\\' => {
          chars.next();
        }
        '|' | ';' | '&' | '\n' | '`' | ')' => out.push(std::mem::take(&mut current)),
        '$' if chars.peek() == Some(&'(') => {
          chars.next();
          out.push(std::mem::take(&mut current));
        }
        _ => current.push(ch),
      },
    }
  }
  out.push(current);
  out
}

#[cfg(test)]
mod tests {
  use super::programs;

  #[test]
  fn finds_the_programs_of_pipelines_substitutions_and_wrappers() {
    assert_eq!(programs("redis-cli -p 6379 ping"), ["redis-cli"]);
    assert_eq!(
      programs("df -P / | awk 'NR==2 {print $5}' | tr -d %"),
      ["df", "awk", "tr"]
    );
    assert_eq!(
      programs("out=$(pg_isready -h db -t 5); rc=$?; printf '%s\\n' \"$out\""),
      ["pg_isready"]
    );
    assert_eq!(
      programs("runuser -u postgres -- psql -X -At -c 'SELECT 1'"),
      ["psql"]
    );
    // `env -C /`: a directory the OS user may enter (psql warns about the login's home).
    assert_eq!(
      programs("runuser -u postgres -- env -C / PGOPTIONS='-c statement_timeout=9s' psql -X"),
      ["psql"]
    );
    assert_eq!(programs("timeout 5 curl -fsS http://x"), ["curl"]);
    // A here-document is data: a Prometheus check's query names no program.
    assert_eq!(
      programs("\"$MEGACITY\" prometheus-query --empty unknown <<'PROMQL'\nup\nPROMQL"),
      Vec::<String>::new()
    );
    assert_eq!(
      programs("cat > /tmp/x <<EOF\nrm -rf /\nEOF\nnginx -t"),
      ["cat", "nginx"]
    );
    assert_eq!(
      programs("if [ -e /x ]; then systemctl restart nginx; fi"),
      ["systemctl"]
    );
    assert_eq!(programs("sudo -n nvidia-smi -q"), ["nvidia-smi"]);
  }
}
