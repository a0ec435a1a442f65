//! The operator's decisions, asked on the terminal with dialoguer. Answers are typed words
//! (`y`, `s`, `a`…): quick at 03:00 and unambiguous; destructive actions want the host name.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use dialoguer::Input;
use dialoguer::theme::{ColorfulTheme, SimpleTheme, Theme};

use crate::exec::event::{Answer, Decision, Operator, Request};
use crate::ui::style;
use crate::ui::text::sanitize;
use futures_util::future::BoxFuture;

pub(crate) struct Interactive {
  colors: bool,
}

impl Interactive {
  pub(crate) fn new() -> Interactive {
    Interactive {
      colors: console::colors_enabled_stderr(),
    }
  }
}

/// A request flattened into what the prompt needs, so it can move to a blocking thread.
enum Ask {
  Confirm {
    header: String,
    host: String,
    destructive: bool,
    /// For `steps`: each step and where it stands.
    progress: String,
  },
  AfterFailure {
    header: String,
    output: String,
  },
  Manual {
    header: String,
  },
  Interrupted {
    header: String,
  },
  Input {
    header: String,
    question: crate::runbook::model::Question,
    default: Option<String>,
  },
}

impl Operator for Interactive {
  fn decide<'a>(&'a self, request: Request<'a>) -> BoxFuture<'a, Decision> {
    let ask = match request {
      Request::Confirm {
        planned,
        host,
        text,
        command,
        destructive,
        rehearsal,
        why,
        progress,
      } => {
        let danger = if destructive {
          format!(" {}", style::error("DESTRUCTIVE"))
        } else {
          String::new()
        };
        let prompt = if planned.step.sudo { "#" } else { "$" };
        let rehearsal = if rehearsal {
          format!("{} ", style::warning("[REHEARSAL: nothing runs]"))
        } else {
          String::new()
        };
        // Why it is offered, just above the question: at most two lines that fit 80 columns.
        let because = why
          .map(|w| {
            let lines = crate::ui::text::wrap(&format!("because {}", sanitize(&w)), 76, 2);
            format!("\n  {}", style::dim(&lines.join("\n  ")))
          })
          .unwrap_or_default();
        Ask::Confirm {
          header: format!(
            "\n{rehearsal}{}{danger} {} on {host}\n  {prompt} {}{because}\n  {}",
            style::bold(&planned.step.id),
            sanitize(&planned.title()),
            sanitize(command),
            sanitize(&text)
          ),
          host: host.to_string(),
          destructive,
          progress: progress
            .iter()
            .map(|(id, status)| format!("  {:<24} {}", sanitize(id), sanitize(status)))
            .collect::<Vec<_>>()
            .join("\n"),
        }
      }
      Request::AfterFailure { planned, result } => {
        let output = result
          .output
          .as_ref()
          .map(|o| {
            format!(
              "--- stdout\n{}\n--- stderr\n{}",
              sanitize(&o.stdout),
              sanitize(&o.stderr)
            )
          })
          .unwrap_or_else(|| "(no output)".into());
        Ask::AfterFailure {
          header: format!("\n`{}` failed on {}", planned.step.id.value, result.host),
          output,
        }
      }
      Request::Manual { planned, .. } => Ask::Manual {
        header: format!(
          "\nManual step `{}`: {}",
          planned.step.id.value,
          sanitize(&planned.title())
        ),
      },
      Request::Input {
        planned,
        question,
        default,
        rehearsal,
      } => {
        let mut header = format!(
          "\n{}{} {}",
          if rehearsal {
            format!("{} ", style::warning("[REHEARSAL: nothing runs]"))
          } else {
            String::new()
          },
          style::bold(&planned.step.id),
          sanitize(&planned.title())
        );
        if let Some(help) = &question.help {
          header.push_str(&format!("\n  {}", sanitize(help)));
        }
        for (choice, meaning) in &question.choices {
          header.push_str(&format!(
            "\n  {:<12} {}",
            sanitize(choice),
            sanitize(meaning)
          ));
        }
        Ask::Input {
          header,
          question: question.clone(),
          default,
        }
      }
      Request::Interrupted { planned } => Ask::Interrupted {
        header: format!(
          "\nInterrupted `{}`; its commands were stopped.",
          planned.step.id.value
        ),
      },
    };
    let colors = self.colors;
    Box::pin(async move {
      // dialoguer blocks on the terminal; keep the runtime's threads free meanwhile.
      tokio::task::spawn_blocking(move || ask_blocking(&ask, colors))
        .await
        .unwrap_or_else(|_| Decision::from(Answer::Abort))
    })
  }

  fn interactive(&self) -> bool {
    true
  }
}

fn theme(colors: bool) -> Arc<dyn Theme + Send + Sync> {
  if colors {
    Arc::new(ColorfulTheme::default())
  } else {
    Arc::new(SimpleTheme)
  }
}

const NOTE_HINT: &str = "(or `note <text>` to add a note to the record)";

/// Faster than anyone reads a prompt and types an answer: such an answer was typed before the
/// prompt could be seen (keys that arrived between the flush and the first read).
const TOO_SOON: Duration = Duration::from_millis(100);

/// Discards whatever was typed before the prompt appears: keys pressed while a check ran must
/// not answer the next question. dialoguer reads stdin when it is a terminal, /dev/tty else.
fn discard_typeahead() {
  use std::io::IsTerminal;
  use std::os::fd::AsRawFd;
  // SAFETY: tcflush on a valid descriptor only drops the terminal's pending input.
  if std::io::stdin().is_terminal() {
    unsafe { libc::tcflush(std::io::stdin().as_raw_fd(), libc::TCIFLUSH) };
  } else if let Ok(tty) = std::fs::File::open("/dev/tty") {
    unsafe { libc::tcflush(tty.as_raw_fd(), libc::TCIFLUSH) };
  }
}

/// One prompt line. `note …` answers are collected as notes and the question is asked again.
/// Ctrl-C gives `Err(Some(Interrupt))`; a closed terminal `Err(None)`. `shown` is set to when
/// the prompt first appeared.
fn line(
  theme: &dyn Theme,
  prompt: &str,
  notes: &mut Vec<String>,
  shown: &mut Option<SystemTime>,
) -> Result<String, Option<Answer>> {
  loop {
    discard_typeahead();
    shown.get_or_insert_with(SystemTime::now);
    let asked = Instant::now();
    let typed: String = match Input::with_theme(theme)
      .with_prompt(prompt)
      .allow_empty(true)
      .interact_text()
    {
      Ok(typed) => typed,
      Err(e) => return Err(interrupted(e)),
    };
    let typed = typed.trim();
    if asked.elapsed() < TOO_SOON && !typed.is_empty() {
      say!("  that answer came before the question could be read; nothing was taken: answer again");
      continue;
    }
    if let Some(note) = typed
      .strip_prefix("note ")
      .or_else(|| typed.strip_prefix("note:"))
    {
      if !note.trim().is_empty() {
        notes.push(note.trim().to_string());
        say!("  noted: {}", sanitize(note.trim()));
      }
      continue;
    }
    return Ok(typed.to_string());
  }
}

/// Asks until the answer is one of `choices` (a first letter is enough; `no`/`n` is `skip`).
/// `help` says what each answer does. Returns the answer and the word chosen.
#[allow(clippy::too_many_arguments)]
fn choose(
  colors: bool,
  prompt: &str,
  choices: &[(&'static str, Answer, &str)],
  unlisted: &[(&'static str, Answer, &str)],
  steps: Option<&str>,
  jump_to: &mut Option<String>,
  notes: &mut Vec<String>,
  shown: &mut Option<SystemTime>,
) -> Option<(Answer, &'static str)> {
  let theme = theme(colors);
  let words: Vec<&str> = choices.iter().map(|(w, _, _)| *w).collect();
  let prompt = format!("{prompt} [{}]", words.join("/"));
  loop {
    let typed = match line(theme.as_ref(), &prompt, notes, shown) {
      Ok(t) => t.to_lowercase(),
      Err(answer) => return answer.map(|a| (a, "")),
    };
    if typed == "help" || typed == "?" {
      for (word, _, meaning) in choices.iter().chain(unlisted) {
        say!("  {word:<8} {meaning}");
      }
      say!(
        "  {:<8} {}",
        "note",
        "`note <text>` adds a note to the record"
      );
      if steps.is_some() {
        say!(
          "  {:<8} {}",
          "steps",
          "every step of the run and where it stands"
        );
        say!(
          "  {:<8} {}",
          "jump X",
          "go on at step X, passing over the steps before it (recorded)"
        );
      }
      continue;
    }
    if let (Some(list), "steps") = (steps, typed.as_str()) {
      say!("{list}");
      continue;
    }
    // `jump <step>`: only to a step still to come (the `steps` list says which).
    if let (Some(list), Some(target)) = (steps, typed.strip_prefix("jump ")) {
      let target = target.trim();
      let later = list.lines().any(|l| {
        let mut words = l.split_whitespace();
        words.next() == Some(target) && l.trim_end().ends_with("to come")
      });
      if later {
        *jump_to = Some(target.to_string());
        return Some((Answer::Jump, "jump"));
      }
      say!("  `{target}` is not a step still to come (`steps` lists them)");
      continue;
    }
    let typed = match typed.as_str() {
      "no" | "n" if words.contains(&"skip") => "skip".to_string(),
      _ => typed,
    };
    let found = choices
      .iter()
      .find(|(w, _, _)| *w == typed || (typed.len() == 1 && w.starts_with(&typed)))
      .or_else(|| unlisted.iter().find(|(w, _, _)| *w == typed));
    if let Some((word, answer, _)) = found {
      return Some((*answer, word));
    }
    say!("  answer one of: {}, or help {NOTE_HINT}", words.join(", "));
  }
}

/// Long output through the operator's pager on a terminal (`$PAGER`, else `less -FRX`, which
/// prints one screenful and returns at once); printed as is when there is no terminal or no pager.
fn page(text: &str) {
  use std::io::{IsTerminal, Write};
  if std::io::stderr().is_terminal() {
    let pager = std::env::var("PAGER")
      .ok()
      .filter(|p| !p.trim().is_empty())
      .unwrap_or_else(|| "less -FRX".into());
    let spawned = std::process::Command::new("sh")
      .arg("-c")
      .arg(&pager)
      .stdin(std::process::Stdio::piped())
      .spawn();
    if let Ok(mut child) = spawned {
      if let Some(mut stdin) = child.stdin.take() {
        // A pager quit early closes its input: not an error.
        let _ = stdin.write_all(text.as_bytes());
        let _ = stdin.write_all(b"\n");
      }
      if child.wait().is_ok_and(|s| s.success()) {
        return;
      }
    }
  }
  say!("{text}");
}

/// A prompt that could not be answered: Ctrl-C stops the run, anything else (a closed
/// terminal) aborts it.
fn interrupted(error: dialoguer::Error) -> Option<Answer> {
  let dialoguer::Error::IO(e) = &error;
  (e.kind() == std::io::ErrorKind::Interrupted).then_some(Answer::Interrupt)
}

fn ask_blocking(ask: &Ask, colors: bool) -> Decision {
  if let Ask::Input {
    header,
    question,
    default,
  } = ask
  {
    return ask_value(colors, header, question, default.as_deref());
  }
  let mut notes = Vec::new();
  let mut shown = None;
  let mut value = None;
  let answer = match ask {
    Ask::Confirm {
      header,
      destructive: false,
      progress,
      ..
    } => {
      say!("{header}");
      let picked = choose(
        colors,
        "Run it?",
        &[
          ("yes", Answer::Yes, "run it on this host"),
          ("skip", Answer::Skip, "do not run it here (also: no)"),
          ("abort", Answer::Abort, "stop the run; nothing more runs"),
          (
            "all",
            Answer::Yes,
            "run it here and on the rest of this step's hosts without asking again",
          ),
        ],
        &[(
          "again",
          Answer::Again,
          "run the checks that found this again on this host, then ask again",
        )],
        Some(progress),
        &mut value,
        &mut notes,
        &mut shown,
      );
      if picked.is_some_and(|(_, w)| w == "all") {
        value = Some("all".to_string());
      }
      picked.map(|(a, _)| a)
    }
    Ask::Confirm {
      header,
      host,
      destructive: true,
      ..
    } => {
      say!("{header}");
      let theme = theme(colors);
      let prompt = format!("Type the host name `{host}` to run it (or skip / abort)");
      loop {
        match line(theme.as_ref(), &prompt, &mut notes, &mut shown) {
          Err(answer) => break answer,
          Ok(t) if t == *host => break Some(Answer::Yes),
          Ok(t) if t == "skip" => break Some(Answer::Skip),
          Ok(t) if t == "abort" => break Some(Answer::Abort),
          Ok(other) => say!("  `{}` is not `{host}`; nothing was run", sanitize(&other)),
        }
      }
    }
    Ask::AfterFailure { header, output } => {
      say!("{header}");
      let choices = [
        ("retry", Answer::Retry, "run it again on this host"),
        ("skip", Answer::Skip, "leave it failed and go on (also: no)"),
        ("abort", Answer::Abort, "stop the run"),
        ("output", Answer::Yes, "show what it printed"),
      ];
      loop {
        match choose(
          colors,
          "What now?",
          &choices,
          &[],
          None,
          &mut None,
          &mut notes,
          &mut shown,
        ) {
          Some((Answer::Yes, _)) => page(output),
          other => break other.map(|(a, _)| a),
        }
      }
    }
    Ask::Manual { header } => {
      say!("{header}");
      choose(
        colors,
        "Done?",
        &[
          ("done", Answer::Yes, "it is done"),
          ("skip", Answer::Skip, "it was not done (also: no)"),
          ("abort", Answer::Abort, "stop the run"),
        ],
        &[],
        None,
        &mut None,
        &mut notes,
        &mut shown,
      )
      .map(|(a, _)| a)
    }
    Ask::Input { .. } => unreachable!("asked above"),
    Ask::Interrupted { header } => {
      say!("{header}");
      let choices = [
        ("retry", Answer::Retry, "run the step again"),
        ("skip", Answer::Skip, "leave it and go on (also: no)"),
        ("abort", Answer::Abort, "stop the run"),
      ];
      choose(
        colors,
        "Retry, skip or abort?",
        &choices,
        &[],
        None,
        &mut None,
        &mut notes,
        &mut shown,
      )
      .map(|(a, _)| a)
    }
  };
  let _ = console::Term::stderr().show_cursor();
  Decision {
    answer: answer.unwrap_or(Answer::Abort),
    by: crate::exec::event::DecidedBy::Operator,
    notes,
    shown,
    value,
  }
}

/// A question: a value that passes the question's rules, the default on Enter, or `skip` /
/// `abort` (unless those are among its choices).
fn ask_value(
  colors: bool,
  header: &str,
  question: &crate::runbook::model::Question,
  default: Option<&str>,
) -> Decision {
  say!("{header}");
  let theme = theme(colors);
  let mut notes = Vec::new();
  let mut shown = None;
  let name = &question.name.value;
  let prompt = match default {
    Some(d) => format!("{name} [Enter: {}] (or skip / abort)", sanitize(d)),
    None => format!("{name} (or skip / abort)"),
  };
  let is_choice = |w: &str| question.choices.iter().any(|(c, _)| c.value == w);
  let (answer, value) = loop {
    let typed = match line(theme.as_ref(), &prompt, &mut notes, &mut shown) {
      Ok(t) => t,
      Err(answer) => break (answer.unwrap_or(Answer::Abort), None),
    };
    let typed = match (typed.as_str(), default) {
      ("", Some(d)) => d.to_string(),
      ("skip", _) if !is_choice("skip") => break (Answer::Skip, None),
      ("abort", _) if !is_choice("abort") => break (Answer::Abort, None),
      _ => typed,
    };
    // A unique beginning of a choice is enough.
    let starts: Vec<&str> = question
      .choices
      .iter()
      .map(|(c, _)| c.value.as_str())
      .filter(|c| !typed.is_empty() && c.starts_with(typed.as_str()))
      .collect();
    let typed = match starts.as_slice() {
      [one] if !is_choice(&typed) => one.to_string(),
      _ => typed,
    };
    match question.check(&typed) {
      Ok(()) => break (Answer::Yes, Some(typed)),
      Err(why) => say!("  {}; nothing was taken: answer again", sanitize(&why)),
    }
  };
  let _ = console::Term::stderr().show_cursor();
  Decision {
    answer,
    by: crate::exec::event::DecidedBy::Operator,
    notes,
    shown,
    value,
  }
}
