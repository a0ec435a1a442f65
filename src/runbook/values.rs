//! Parameter values for one run or rendering: `--var`, defaults, secrets from the environment.

use std::borrow::Cow;
use std::collections::BTreeMap;

use crate::diagnostic::did_you_mean;
use crate::error::Error;
use crate::runbook::Runbook;
use crate::runbook::template::{self, Quoting};

/// What a secret looks like wherever it would be shown.
pub(crate) const MASK: &str = "********";

#[derive(Clone, Debug)]
pub(crate) struct Value {
  pub(crate) text: String,
  pub(crate) secret: bool,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct Values {
  values: BTreeMap<String, Value>,
}

/// Splits `name=value`.
pub(crate) fn parse_var(s: &str) -> Result<(String, String), String> {
  let (name, value) = s
    .split_once('=')
    .ok_or_else(|| format!("`{s}` is not name=value"))?;
  Ok((name.trim().to_string(), value.to_string()))
}

impl Values {
  /// Resolves values. With `complete`, every required parameter (and every parameter without a
  /// default) must have a value; without it, missing values stay placeholders (for `show`).
  pub(crate) fn resolve(
    runbook: &Runbook,
    vars: &[(String, String)],
    complete: bool,
  ) -> Result<Values, Error> {
    let mut values = BTreeMap::new();
    for (i, (name, text)) in vars.iter().enumerate() {
      // An answer given ahead of time: the question is not asked.
      if let Some(question) = runbook.question(name) {
        if vars[..i].iter().any(|(earlier, _)| earlier == name) {
          return Err(Error::RepeatedParameter { name: name.clone() });
        }
        question
          .check(text)
          .map_err(|reason| Error::UnusableValue { reason })?;
        values.insert(
          name.clone(),
          Value {
            text: text.clone(),
            secret: false,
          },
        );
        continue;
      }
      let Some(parameter) = runbook.parameter(name) else {
        let names = runbook
          .parameters
          .iter()
          .map(|p| p.name.value.as_str())
          .chain(runbook.questions().map(|q| q.name.value.as_str()));
        return Err(Error::UnknownParameter {
          runbook: runbook.id.clone(),
          name: name.clone(),
          hint: did_you_mean(name, names).unwrap_or_else(|| parameter_list(runbook)),
        });
      };
      // Two values for one name: whichever won, the operator meant the other one somewhere.
      if vars[..i].iter().any(|(earlier, _)| earlier == name) {
        return Err(Error::RepeatedParameter { name: name.clone() });
      }
      if let Some(env) = &parameter.secret_env {
        return Err(Error::SecretOnCommandLine {
          name: name.clone(),
          env: env.clone(),
        });
      }
      if !parameter.choices.is_empty() && !parameter.choices.iter().any(|c| c.value == *text) {
        let choices: Vec<String> = parameter.choices.iter().map(|c| c.value.clone()).collect();
        return Err(Error::InvalidChoice {
          suggestion: did_you_mean(text, choices.iter().map(String::as_str)),
          name: name.clone(),
          value: text.clone(),
          choices,
        });
      }
      values.insert(
        name.clone(),
        Value {
          text: text.clone(),
          secret: false,
        },
      );
    }
    for parameter in &runbook.parameters {
      let name = &parameter.name.value;
      if values.contains_key(name) {
        continue;
      }
      if let Some(env) = &parameter.secret_env {
        match std::env::var(env) {
          Ok(text) if !text.is_empty() => {
            values.insert(name.clone(), Value { text, secret: true });
          }
          _ if complete && parameter.required => {
            return Err(Error::MissingSecret {
              name: name.clone(),
              env: env.clone(),
            });
          }
          _ => {}
        }
      } else if let Some(default) = &parameter.default {
        values.insert(
          name.clone(),
          Value {
            text: default.value.clone(),
            secret: false,
          },
        );
      } else if complete {
        return Err(Error::MissingParameter {
          runbook: runbook.id.clone(),
          name: name.clone(),
          help: parameter.help.as_ref().map(|h| h.to_string()),
        });
      }
    }
    Ok(Values { values })
  }

  pub(crate) fn get(&self, name: &str) -> Option<&Value> {
    self.values.get(name)
  }

  /// A command as it will run on `host`: every value shell-quoted, secrets in clear.
  pub(crate) fn command(&self, template: &str, host: &str) -> Result<String, String> {
    self.render(template, host, Quoting::Shell, &|_| None)
  }

  /// `template` on `host` with values learned during the run (`learned`) besides these:
  /// secrets in clear; a name nobody provides is an error, never an empty string.
  pub(crate) fn render(
    &self,
    template: &str,
    host: &str,
    mode: Quoting,
    learned: &dyn Fn(&str) -> Option<Value>,
  ) -> Result<String, String> {
    template::render(template, mode, |name| {
      self
        .lookup(name, host, false)
        .or_else(|| learned(name).map(|v| Cow::Owned(v.text)))
    })
  }

  /// Whether every placeholder of `template` has a value before the run starts.
  pub(crate) fn knows_all(&self, template: &str) -> bool {
    template::placeholders(template).all(|(name, _)| self.lookup(name, "", true).is_some())
  }

  /// Every value, secrets masked: what a record may keep.
  pub(crate) fn masked(&self) -> std::collections::BTreeMap<String, String> {
    self
      .values
      .iter()
      .map(|(k, v)| {
        (
          k.clone(),
          if v.secret {
            MASK.to_string()
          } else {
            v.text.clone()
          },
        )
      })
      .collect()
  }

  /// Secret values, for masking anything that might echo them (a command's own output).
  pub(crate) fn secrets(&self) -> Vec<&str> {
    self
      .values
      .values()
      .filter(|v| v.secret)
      .map(|v| v.text.as_str())
      .collect()
  }

  /// Text for a human (or a command for display): secrets masked, missing values left as
  /// `{{name}}`, values in commands quoted exactly as they will run.
  pub(crate) fn display(&self, template: &str, host: Option<&str>, mode: Quoting) -> String {
    self.display_with(template, host, mode, &|_| None)
  }

  /// `display` with values learned during the run; secret ones are masked too.
  pub(crate) fn display_with(
    &self,
    template: &str,
    host: Option<&str>,
    mode: Quoting,
    learned: &dyn Fn(&str) -> Option<Value>,
  ) -> String {
    let mut out = String::new();
    for piece in template::pieces(template) {
      match piece {
        template::Piece::Text(text) => out.push_str(text),
        template::Piece::Placeholder { name, .. } => {
          // Shown before a host is chosen (`runbook show`, a plan): `<host>`, not a placeholder.
          if name == "host" && host.is_none() {
            out.push_str("<host>");
            continue;
          }
          let value = self.lookup(name, host.unwrap_or(""), true).or_else(|| {
            learned(name).map(|v| {
              if v.secret {
                Cow::Borrowed(MASK)
              } else {
                Cow::Owned(v.text)
              }
            })
          });
          match value {
            Some(value) => {
              if template::insert(&mut out, &value, mode).is_err() {
                out.push_str("'<invalid>'");
              }
            }
            None => out.push_str(&format!("{{{{{name}}}}}")),
          }
        }
      }
    }
    out
  }

  fn lookup(&self, name: &str, host: &str, masked: bool) -> Option<Cow<'_, str>> {
    if name == "host" {
      return Some(Cow::Owned(host.to_string()));
    }
    let value = self.values.get(name)?;
    Some(if masked && value.secret {
      Cow::Borrowed(MASK)
    } else {
      Cow::Borrowed(&value.text)
    })
  }
}

fn parameter_list(runbook: &Runbook) -> String {
  if runbook.parameters.is_empty() {
    return "this runbook takes no parameters".into();
  }
  let names: Vec<&str> = runbook
    .parameters
    .iter()
    .map(|p| p.name.value.as_str())
    .collect();
  format!("parameters: {}", names.join(", "))
}
