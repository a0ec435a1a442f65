//! Judging a command's result against a step's expectations.

use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::runbook::model::{ExitCodes, Expect, Stream};

/// A number pulled out of the output and the bounds it was held to.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Measurement {
  pub(crate) name: String,
  pub(crate) value: Option<f64>,
  pub(crate) min: Option<f64>,
  pub(crate) max: Option<f64>,
  pub(crate) unit: Option<String>,
  pub(crate) ok: bool,
}

#[derive(Clone, Debug, Default, Serialize)]
pub(crate) struct Verdict {
  pub(crate) passed: bool,
  /// The command could not run at all (not found, not executable, killed): trying again will
  /// not judge it either.
  pub(crate) cannot_run: bool,
  /// It could not be judged: the command was not found or killed, or a threshold's number is
  /// missing. Such a result says nothing about what the check measures.
  pub(crate) unknown: bool,
  /// Why it failed, one line each; empty when it passed.
  pub(crate) reasons: Vec<String>,
  pub(crate) measurements: Vec<Measurement>,
}

/// Regexes compiled once per step, not once per host.
pub(crate) struct Compiled {
  expect: Expect,
  stdout_matches: Option<Regex>,
  stdout_not_matches: Option<Regex>,
  stderr_matches: Option<Regex>,
  stderr_not_matches: Option<Regex>,
  thresholds: Vec<Regex>,
}

/// Output as `$(command)` would give it, without its final newline, so that `^PONG$` matches
/// what `redis-cli ping` prints; `(?m)` still anchors at every line.
pub(crate) fn as_substituted(output: &str) -> &str {
  output
    .strip_suffix('\n')
    .map(|o| o.strip_suffix('\r').unwrap_or(o))
    .unwrap_or(output)
}

fn compile(p: &Option<crate::schema::Loc<String>>) -> Option<Regex> {
  p.as_ref().map(|p| regex(p))
}

/// Validation compiled every pattern already (values stood in by a word, and values are
/// escaped when filled in); a failure here would be a bug, so it is loud. A pattern still
/// waiting for its values is compiled as a placeholder and recompiled per host.
fn regex(p: &str) -> Regex {
  if p.contains("{{") {
    return Regex::new(&regex::escape(p)).expect("escaped");
  }
  Regex::new(p).expect("validated regex")
}

impl Compiled {
  pub(crate) fn new(expect: &Expect) -> Compiled {
    Compiled {
      stdout_matches: compile(&expect.stdout_matches),
      stdout_not_matches: compile(&expect.stdout_not_matches),
      stderr_matches: compile(&expect.stderr_matches),
      stderr_not_matches: compile(&expect.stderr_not_matches),
      thresholds: expect.thresholds.iter().map(|t| regex(&t.regex)).collect(),
      expect: expect.clone(),
    }
  }

  /// Whether a pattern uses a value (`{{name}}`), so it is compiled per host when it runs.
  pub(crate) fn uses_values(&self) -> bool {
    self.expect.patterns().any(|(_, p)| p.value.contains("{{"))
      || self.expect.bounds().next().is_some()
  }

  /// The expectation with its values filled in: patterns by `render` (which escapes them),
  /// threshold bounds by `text` (which must give a number).
  pub(crate) fn for_values(
    &self,
    render: impl Fn(&str) -> Result<String, String>,
    text: impl Fn(&str) -> Result<String, String>,
  ) -> Result<Compiled, String> {
    let mut expect = self.expect.clone();
    let fill = |p: &mut Option<crate::schema::Loc<String>>| -> Result<(), String> {
      if let Some(p) = p {
        p.value = render(&p.value)?;
      }
      Ok(())
    };
    fill(&mut expect.stdout_matches)?;
    fill(&mut expect.stdout_not_matches)?;
    fill(&mut expect.stderr_matches)?;
    fill(&mut expect.stderr_not_matches)?;
    let number = |template: &str| -> Result<f64, String> {
      let given = text(template)?;
      given
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|n| n.is_finite())
        .ok_or_else(|| format!("the threshold `{template}` is `{given}`, not a number"))
    };
    for t in &mut expect.thresholds {
      t.regex.value = render(&t.regex.value)?;
      if let Some(from) = t.min_from.take() {
        t.min = Some(number(&from.value)?);
      }
      if let Some(from) = t.max_from.take() {
        t.max = Some(number(&from.value)?);
      }
    }
    Ok(Compiled::new(&expect))
  }

  pub(crate) fn judge(&self, exit_code: Option<i32>, stdout: &str, stderr: &str) -> Verdict {
    let (stdout, stderr) = (as_substituted(stdout), as_substituted(stderr));
    let mut reasons = Vec::new();
    match (&self.expect.exit_code, exit_code) {
      (ExitCodes::Any, _) => {}
      (ExitCodes::OneOf(codes), Some(code)) if codes.contains(&code) => {}
      (ExitCodes::OneOf(codes), Some(code)) => reasons.push(format!(
        "exit code {code}, expected {}",
        codes
          .iter()
          .map(|c| c.to_string())
          .collect::<Vec<_>>()
          .join(" or ")
      )),
      (ExitCodes::OneOf(_), None) => reasons.push("killed by a signal, no exit code".into()),
    }
    // The shell's own codes: the command could not run at all (not found, not executable).
    let cannot_run = matches!(exit_code, Some(126 | 127) | None)
      && !matches!(&self.expect.exit_code, ExitCodes::OneOf(codes) if exit_code.is_some_and(|c| codes.contains(&c)));
    let regexes = [
      (&self.stdout_matches, stdout, "stdout", true),
      (&self.stdout_not_matches, stdout, "stdout", false),
      (&self.stderr_matches, stderr, "stderr", true),
      (&self.stderr_not_matches, stderr, "stderr", false),
    ];
    for (regex, text, stream, must) in regexes {
      let Some(regex) = regex else { continue };
      match (must, regex.find(text)) {
        (true, None) => reasons.push(format!("{stream} does not match /{}/", regex.as_str())),
        (false, Some(m)) => reasons.push(format!(
          "{stream} matches /{}/: {:?}",
          regex.as_str(),
          truncate(m.as_str(), 80)
        )),
        _ => {}
      }
    }
    let mut measurements = Vec::new();
    for (threshold, regex) in self.expect.thresholds.iter().zip(&self.thresholds) {
      let text = match threshold.stream {
        Stream::Stdout => stdout,
        Stream::Stderr => stderr,
      };
      let value = regex
        .captures(text)
        .and_then(|c| c.get(1).or_else(|| c.get(0)))
        .and_then(|m| m.as_str().trim().parse::<f64>().ok());
      let ok = match value {
        // Allowed to be absent, and the command said nothing went wrong.
        None if threshold.absent_ok && reasons.is_empty() => true,
        None => {
          reasons.push(format!(
            "{}: no number found by /{}/",
            threshold.name,
            regex.as_str()
          ));
          false
        }
        Some(v) => {
          let low = threshold.min.is_some_and(|min| v < min);
          let high = threshold.max.is_some_and(|max| v > max);
          let unit = threshold.unit.as_deref().unwrap_or("");
          if low {
            reasons.push(format!(
              "{} = {v}{unit}, below the minimum {}{unit}",
              threshold.name,
              threshold.min.unwrap()
            ));
          }
          if high {
            reasons.push(format!(
              "{} = {v}{unit}, above the maximum {}{unit}",
              threshold.name,
              threshold.max.unwrap()
            ));
          }
          !low && !high
        }
      };
      measurements.push(Measurement {
        name: threshold.name.clone(),
        value,
        min: threshold.min,
        max: threshold.max,
        unit: threshold.unit.clone(),
        ok,
      });
    }
    let number_missing = measurements.iter().any(|m| m.value.is_none());
    let unknown = !reasons.is_empty() && (cannot_run || number_missing);
    if unknown {
      reasons.push(
        "megacity cannot tell: this is not evidence that what the check measures is wrong".into(),
      );
    }
    Verdict {
      passed: reasons.is_empty(),
      cannot_run: cannot_run && !reasons.is_empty(),
      unknown,
      reasons,
      measurements,
    }
  }
}

fn truncate(s: &str, max: usize) -> String {
  if s.chars().count() <= max {
    s.to_string()
  } else {
    s.chars().take(max).collect::<String>() + "…"
  }
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::runbook::model::Threshold;
  use crate::schema::Loc;
  use crate::yaml::Pos;

  fn loc(s: &str) -> Option<Loc<String>> {
    Some(Loc {
      value: s.to_string(),
      pos: Pos::default(),
    })
  }

  #[test]
  fn exit_code_and_regexes() {
    let expect = Expect {
      stdout_matches: loc("^PONG"),
      stderr_not_matches: loc("(?i)error"),
      ..Expect::default()
    };
    let c = Compiled::new(&expect);
    assert!(c.judge(Some(0), "PONG\n", "").passed);
    let v = c.judge(Some(1), "nope", "ERROR: x");
    assert_eq!(v.reasons.len(), 3, "{:?}", v.reasons);
    assert!(!c.judge(None, "PONG", "").passed);
  }

  #[test]
  fn output_is_matched_as_command_substitution_gives_it() {
    let whole = Compiled::new(&Expect {
      stdout_matches: loc("^root$"),
      ..Expect::default()
    });
    assert!(whole.judge(Some(0), "root\n", "").passed);
    assert!(whole.judge(Some(0), "root\r\n", "").passed);
    assert!(whole.judge(Some(0), "root", "").passed);
    assert!(
      !whole.judge(Some(0), "root\nroot\n", "").passed,
      "one line only"
    );
    assert!(
      !whole.judge(Some(0), "root\n\n", "").passed,
      "one newline only"
    );
    let per_line = Compiled::new(&Expect {
      stdout_matches: loc("(?m)^root$"),
      ..Expect::default()
    });
    assert!(per_line.judge(Some(0), "x\nroot\ny\n", "").passed);
  }

  #[test]
  fn thresholds_measure_and_bound() {
    let expect = Expect {
      thresholds: vec![Threshold {
        name: "disk".into(),
        regex: Loc {
          value: r"(\d+)%".into(),
          pos: Pos::default(),
        },
        stream: Stream::Stdout,
        min: None,
        max: Some(80.0),
        min_from: None,
        max_from: None,
        unit: Some("%".into()),
        absent_ok: false,
      }],
      ..Expect::default()
    };
    let c = Compiled::new(&expect);
    let ok = c.judge(Some(0), "45%\n", "");
    assert!(ok.passed);
    assert_eq!(ok.measurements[0].value, Some(45.0));
    let high = c.judge(Some(0), "91%\n", "");
    assert_eq!(high.reasons, vec!["disk = 91%, above the maximum 80%"]);
    let missing = c.judge(Some(0), "n/a", "");
    assert!(!missing.passed && missing.reasons[0].contains("no number"));
    assert!(
      missing.unknown,
      "a missing number cannot say a limit was exceeded"
    );
  }

  #[test]
  fn a_command_that_could_not_run_is_unknown_not_failed() {
    let expect = Expect {
      exit_code: ExitCodes::OneOf(vec![0]),
      ..Expect::default()
    };
    let c = Compiled::new(&expect);
    assert!(c.judge(Some(127), "", "sh: redis-cli: not found").unknown);
    assert!(c.judge(None, "", "").unknown);
    let failed = c.judge(Some(1), "", "Could not connect to Redis");
    assert!(
      !failed.passed && !failed.unknown,
      "a real exit code is a verdict"
    );
  }
}
