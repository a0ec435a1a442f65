//! What a run learns as it goes: the operator's answers (`input`, `choice`) and values captured
//! from commands' output (`capture:`), per host. Later steps read them like parameters.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde_json::Value as Json;

use crate::runbook::model::{Capture, CaptureFrom, Stream};
use crate::runbook::values::Value;

#[derive(Default)]
pub(crate) struct Learned {
  inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
  answers: BTreeMap<String, Value>,
  /// step id → (host, capture name, value), in the order they were taken; `None` where the
  /// step ran on that host and its output did not have the value.
  captures: BTreeMap<String, Vec<(String, String, Option<Value>)>>,
}

impl Learned {
  pub(crate) fn answer(&self, name: &str, value: Value) {
    self
      .inner
      .lock()
      .unwrap()
      .answers
      .insert(name.to_string(), value);
  }

  pub(crate) fn capture(&self, step: &str, host: &str, name: &str, value: Option<Value>) {
    let mut inner = self.inner.lock().unwrap();
    let list = inner.captures.entry(step.to_string()).or_default();
    list.retain(|(h, n, _)| !(h == host && n == name));
    list.push((host.to_string(), name.to_string(), value));
  }

  /// The value `name` has for a step on `host`, or why there is none.
  ///
  /// A capture (`steps.ID.NAME`) is the one taken on `host`; where the capturing step did not
  /// run on `host`, the one value it took on its hosts (a primary found by asking one sentinel).
  /// Where it ran on `host` and found nothing, or found different values elsewhere, there is
  /// no value: never another host's, never a guess.
  pub(crate) fn lookup(&self, name: &str, host: &str) -> Result<Value, String> {
    let inner = self.inner.lock().unwrap();
    if let Some(value) = inner.answers.get(name) {
      return Ok(value.clone());
    }
    let Some((step, capture)) = name
      .strip_prefix("steps.")
      .and_then(|rest| rest.split_once('.'))
    else {
      return Err(format!("`{name}` has no value yet"));
    };
    let all: Vec<&(String, String, Option<Value>)> = inner
      .captures
      .get(step)
      .map(|l| l.iter().filter(|(_, n, _)| n == capture).collect())
      .unwrap_or_default();
    match all.iter().find(|(h, _, _)| h == host) {
      Some((_, _, Some(v))) => return Ok(v.clone()),
      Some((_, _, None)) => {
        return Err(format!(
          "step `{step}` found no `{capture}` in its output on {host}"
        ));
      }
      None => {}
    }
    let taken: Vec<(&str, &Value)> = all
      .iter()
      .filter_map(|(h, _, v)| v.as_ref().map(|v| (h.as_str(), v)))
      .collect();
    match taken.as_slice() {
      [] => Err(format!(
        "step `{step}` did not capture `{capture}` (it did not run, or its output did not have it)"
      )),
      [(_, v)] => Ok((*v).clone()),
      [(_, first), rest @ ..] if rest.iter().all(|(_, v)| v.text == first.text) => {
        Ok((*first).clone())
      }
      several => Err(format!(
        "step `{step}` captured different values of `{capture}` on {}; which one applies to {host} is not known",
        several
          .iter()
          .map(|(h, _)| *h)
          .collect::<Vec<_>>()
          .join(", ")
      )),
    }
  }
}

/// Takes `capture` from a command's output: the first group of the regex's first match (the
/// whole match without a group), or the JSON value at the pointer (a string as is, anything
/// else as JSON text). `None` when the output does not have it.
pub(crate) fn take(capture: &Capture, stdout: &str, stderr: &str) -> Option<String> {
  let text = match capture.stream {
    Stream::Stdout => stdout,
    Stream::Stderr => stderr,
  };
  match &capture.from {
    CaptureFrom::Regex(pattern) => {
      let re = regex::Regex::new(pattern).ok()?;
      let found = re.captures(crate::exec::expect::as_substituted(text))?;
      let m = found.get(1).or_else(|| found.get(0))?;
      Some(m.as_str().trim().to_string())
    }
    CaptureFrom::Json(pointer) => {
      let json: Json = serde_json::from_str(text.trim()).ok()?;
      match json.pointer(pointer)? {
        Json::String(s) => Some(s.clone()),
        Json::Null => None,
        other => Some(other.to_string()),
      }
    }
  }
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::schema::Loc;

  fn capture(from: CaptureFrom) -> Capture {
    Capture {
      name: loc("v"),
      from,
      stream: Stream::Stdout,
      secret: false,
    }
  }

  fn loc(s: &str) -> Loc<String> {
    Loc {
      value: s.into(),
      pos: Default::default(),
    }
  }

  fn value(s: &str) -> Value {
    Value {
      text: s.into(),
      secret: false,
    }
  }

  #[test]
  fn takes_a_regex_group_or_a_json_pointer() {
    let re = capture(CaptureFrom::Regex(loc(r"master_host:(\S+)")));
    assert_eq!(
      take(&re, "role:slave\nmaster_host:redis-a\n", "").as_deref(),
      Some("redis-a")
    );
    assert_eq!(take(&re, "role:master\n", ""), None);
    let json = capture(CaptureFrom::Json(loc("/slots/0/name")));
    assert_eq!(
      take(&json, r#"{"slots":[{"name":"standby_1","lag":3}]}"#, "").as_deref(),
      Some("standby_1")
    );
    let number = capture(CaptureFrom::Json(loc("/slots/0/lag")));
    assert_eq!(
      take(&number, r#"{"slots":[{"name":"s","lag":3}]}"#, "").as_deref(),
      Some("3")
    );
    assert_eq!(take(&json, "not json", ""), None);
  }

  #[test]
  fn a_capture_is_per_host_and_never_a_guess() {
    let learned = Learned::default();
    learned.capture("find", "a", "primary", Some(value("db-1")));
    // On its own host, and from a host the step did not run on: the one value.
    assert_eq!(
      learned.lookup("steps.find.primary", "a").unwrap().text,
      "db-1"
    );
    assert_eq!(
      learned.lookup("steps.find.primary", "z").unwrap().text,
      "db-1"
    );
    learned.capture("find", "b", "primary", Some(value("db-2")));
    assert_eq!(
      learned.lookup("steps.find.primary", "b").unwrap().text,
      "db-2"
    );
    let err = learned.lookup("steps.find.primary", "z").unwrap_err();
    assert!(err.contains("different values"), "{err}");
    // Where the step ran and found nothing, another host's value is never used.
    learned.capture("size", "a", "path", Some(value("/var/log/a.log")));
    learned.capture("size", "b", "path", None);
    assert!(
      learned
        .lookup("steps.size.path", "b")
        .unwrap_err()
        .contains("found no `path`")
    );
    assert_eq!(
      learned.lookup("steps.size.path", "z").unwrap().text,
      "/var/log/a.log"
    );
    let err = learned.lookup("steps.other.x", "a").unwrap_err();
    assert!(err.contains("did not capture"), "{err}");
    learned.answer("recovery", value("restart"));
    assert_eq!(learned.lookup("recovery", "a").unwrap().text, "restart");
  }
}
