//! The operator's decisions, asked on the terminal with dialoguer. Answers are typed words
//! (`y`, `s`, `a`…): quick at 03:00 and unambiguous; destructive actions want the host name.

use std::sync::Arc;

use dialoguer::Input;
use dialoguer::theme::{ColorfulTheme, SimpleTheme, Theme};

use crate::exec::event::{Answer, Operator, Request};
use crate::exec::transport::BoxFuture;
use crate::ui::style;
use crate::ui::text::sanitize;

pub struct Interactive {
  colors: bool,
}

impl Interactive {
  pub fn new() -> Interactive {
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
}

impl Operator for Interactive {
  fn decide<'a>(&'a self, request: Request<'a>) -> BoxFuture<'a, Answer> {
    let ask = match request {
      Request::Confirm {
        planned,
        host,
        text,
        command,
        destructive,
      } => {
        let danger = if destructive {
          format!(" {}", style::error("DESTRUCTIVE"))
        } else {
          String::new()
        };
        let prompt = if planned.step.sudo { "#" } else { "$" };
        Ask::Confirm {
          header: format!(
            "\n{}{danger} {} on {host}\n  {prompt} {}\n  {}",
            style::bold(&planned.step.id),
            sanitize(&planned.step.title),
            sanitize(command),
            sanitize(&text)
          ),
          host: host.to_string(),
          destructive,
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
          sanitize(&planned.step.title)
        ),
      },
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
        .unwrap_or(Answer::Abort)
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

/// Asks until the answer is one of `choices` (first letters accepted). A closed terminal or
/// Ctrl-C at a prompt answers abort.
fn choose(colors: bool, prompt: &str, choices: &[(&str, Answer)]) -> Option<Answer> {
  let theme = theme(colors);
  let words: Vec<&str> = choices.iter().map(|(w, _)| *w).collect();
  loop {
    let typed: String = match Input::with_theme(theme.as_ref())
      .with_prompt(format!("{prompt} [{}]", words.join("/")))
      .allow_empty(true)
      .interact_text()
    {
      Ok(typed) => typed,
      Err(e) => return interrupted(e),
    };
    let typed = typed.trim().to_lowercase();
    if let Some((_, answer)) = choices.iter().find(|(w, _)| {
      *w == typed || (!typed.is_empty() && w.starts_with(&typed[..1]) && typed.len() == 1)
    }) {
      return Some(*answer);
    }
    eprintln!("  answer one of: {}", words.join(", "));
  }
}

/// A prompt that could not be answered: Ctrl-C stops the run, anything else (a closed
/// terminal) aborts it.
fn interrupted(error: dialoguer::Error) -> Option<Answer> {
  let dialoguer::Error::IO(e) = &error;
  (e.kind() == std::io::ErrorKind::Interrupted).then_some(Answer::Interrupt)
}

fn ask_blocking(ask: &Ask, colors: bool) -> Answer {
  let answer = match ask {
    Ask::Confirm {
      header,
      host: _,
      destructive: false,
    } => {
      eprintln!("{header}");
      choose(
        colors,
        "Run it?",
        &[
          ("yes", Answer::Yes),
          ("skip", Answer::Skip),
          ("abort", Answer::Abort),
        ],
      )
    }
    Ask::Confirm {
      header,
      host,
      destructive: true,
    } => {
      eprintln!("{header}");
      let theme = theme(colors);
      loop {
        let typed: Result<String, _> = Input::with_theme(theme.as_ref())
          .with_prompt(format!(
            "Type the host name `{host}` to run it (or skip / abort)"
          ))
          .allow_empty(true)
          .interact_text();
        let typed = match typed {
          Ok(t) => t,
          Err(e) => break interrupted(e),
        };
        match Some(typed.trim()) {
          None => break None,
          Some(t) if t == host => break Some(Answer::Yes),
          Some("skip") => break Some(Answer::Skip),
          Some("abort") => break Some(Answer::Abort),
          Some(other) => eprintln!("  `{}` is not `{host}`; nothing was run", sanitize(other)),
        }
      }
    }
    Ask::AfterFailure { header, output } => {
      eprintln!("{header}");
      loop {
        let choices = [
          ("retry", Answer::Retry),
          ("skip", Answer::Skip),
          ("abort", Answer::Abort),
          ("output", Answer::Yes),
        ];
        match choose(colors, "What now?", &choices) {
          Some(Answer::Yes) => eprintln!("{output}"),
          other => break other,
        }
      }
    }
    Ask::Manual { header } => {
      eprintln!("{header}");
      choose(
        colors,
        "Done?",
        &[
          ("done", Answer::Yes),
          ("skip", Answer::Skip),
          ("abort", Answer::Abort),
        ],
      )
    }
    Ask::Interrupted { header } => {
      eprintln!("{header}");
      choose(
        colors,
        "Retry, skip or abort?",
        &[
          ("retry", Answer::Retry),
          ("skip", Answer::Skip),
          ("abort", Answer::Abort),
        ],
      )
    }
  };
  let _ = console::Term::stderr().show_cursor();
  answer.unwrap_or(Answer::Abort)
}
