//! `when:` conditions, judged from earlier steps' results. Pure functions: the engine supplies
//! the records so far and which steps lie before `--from`.

use crate::exec::event::{HostResult, Outcome, StepRecord};
use crate::runbook::model::{Test, When};

/// Whether `when` holds on `host` (or over all hosts, for a step without one, such as a manual
/// step). `before_from(id)` tells whether step `id` lies before `--from`: conditions on such
/// steps count as met, as do conditions on steps that left no record.
pub(crate) fn holds(
  when: &When,
  host: Option<&str>,
  records: &[StepRecord],
  before_from: impl Fn(&str) -> bool,
  value: &dyn Fn(&str) -> Option<String>,
) -> bool {
  if when.is_empty() {
    return true;
  }
  // A value nobody provided satisfies no test: an unknown is never taken for a match.
  let values_hold = when
    .values
    .iter()
    .all(|t| value(&t.name.value).is_some_and(|v| passes(&t.test, &v)));
  if !values_hold {
    return false;
  }
  let step_is = |id: &str, wanted: Outcome| -> Option<bool> {
    if before_from(id) {
      return None;
    }
    let record = records.iter().find(|r| r.id == id)?;
    Some(outcome_is(record, host, wanted))
  };
  let any_failed = when.failed.is_empty()
    || when
      .failed
      .iter()
      .any(|id| step_is(id, Outcome::Failed).unwrap_or(true));
  let all_passed = when
    .passed
    .iter()
    .all(|id| step_is(id, Outcome::Passed).unwrap_or(true));
  let any_unknown = when.unknown.is_empty()
    || when
      .unknown
      .iter()
      .any(|id| step_is(id, Outcome::Unknown).unwrap_or(true));
  any_failed && all_passed && any_unknown
}

/// Whether `value` passes `test`; a number test on something that is not a number fails.
pub(crate) fn passes(test: &Test, value: &str) -> bool {
  let number = || value.trim().parse::<f64>().ok();
  match test {
    Test::Is(wanted) => value == wanted,
    Test::IsNot(unwanted) => value != unwanted,
    Test::OneOf(list) => list.iter().any(|w| w == value),
    Test::Above(limit) => number().is_some_and(|n| n > *limit),
    Test::Below(limit) => number().is_some_and(|n| n < *limit),
  }
}

/// Judged on `host` where the earlier step ran there; otherwise over every host it ran on:
/// "failed" (or "unknown") if it was so anywhere, "passed" only if it passed everywhere. A check
/// that could not judge is neither failed nor passed.
fn outcome_is(record: &StepRecord, host: Option<&str>, wanted: Outcome) -> bool {
  if let Some(on_host) = host.and_then(|h| record.results.iter().find(|r| r.host == h))
    && on_host.outcome != Outcome::Skipped
  {
    return on_host.outcome == wanted;
  }
  let ran: Vec<&HostResult> = record
    .results
    .iter()
    .filter(|r| r.outcome != Outcome::Skipped)
    .collect();
  match wanted {
    Outcome::Failed | Outcome::Unknown => ran.iter().any(|r| r.outcome == wanted),
    _ => !ran.is_empty() && ran.iter().all(|r| r.outcome == wanted),
  }
}

/// Whether step `id` ran on `host` (or, if it had nothing to do on `host`, anywhere): an action
/// that was declined, skipped or only listed (`--checks-only`) did not run.
pub(crate) fn ran(id: &str, host: &str, records: &[StepRecord]) -> bool {
  let Some(record) = records.iter().find(|r| r.id == id) else {
    return false;
  };
  let executed = |r: &&HostResult| {
    matches!(
      r.outcome,
      Outcome::Passed | Outcome::Failed | Outcome::Interrupted | Outcome::Unknown
    )
  };
  match record.results.iter().find(|r| r.host == host) {
    Some(on_host) => executed(&on_host),
    None => record.results.iter().any(|r| executed(&r)),
  }
}

/// The condition in words, for skipped steps and plans: "when a or b failed, when c passed".
pub(crate) fn describe(when: &When) -> String {
  let ids = |list: &[crate::schema::Loc<String>], joint: &str| {
    list
      .iter()
      .map(|s| s.value.as_str())
      .collect::<Vec<_>>()
      .join(joint)
  };
  let mut parts = Vec::new();
  if !when.failed.is_empty() {
    parts.push(format!("when {} failed", ids(&when.failed, " or ")));
  }
  if !when.passed.is_empty() {
    parts.push(format!("when {} passed", ids(&when.passed, " and ")));
  }
  if !when.unknown.is_empty() {
    parts.push(format!(
      "when {} could not tell",
      ids(&when.unknown, " or ")
    ));
  }
  for t in &when.values {
    let name = &t.name.value;
    parts.push(match &t.test {
      Test::Is(v) => format!("when {name} is {v}"),
      Test::IsNot(v) => format!("when {name} is not {v}"),
      Test::OneOf(list) => format!("when {name} is one of {}", list.join(", ")),
      Test::Above(n) => format!("when {name} is above {n}"),
      Test::Below(n) => format!("when {name} is below {n}"),
    });
  }
  if parts.is_empty() {
    "no condition".into()
  } else {
    parts.join(", ")
  }
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::schema::Loc;

  fn when(failed: &[&str], passed: &[&str]) -> When {
    let locs = |ids: &[&str]| {
      ids
        .iter()
        .map(|i| Loc {
          value: i.to_string(),
          pos: Default::default(),
        })
        .collect()
    };
    When {
      failed: locs(failed),
      passed: locs(passed),
      unknown: Vec::new(),
      values: Vec::new(),
    }
  }

  fn record(id: &str, results: &[(&str, Outcome)]) -> StepRecord {
    StepRecord {
      id: id.into(),
      kind: "check",
      results: results
        .iter()
        .map(|(h, o)| HostResult::new(h, *o))
        .collect(),
    }
  }

  #[test]
  fn table() {
    use Outcome::*;
    let records = vec![
      record("ping", &[("a", Failed), ("b", Passed)]),
      record("mem", &[("a", Passed), ("b", Passed)]),
      record("skipped", &[("a", Skipped), ("b", Skipped)]),
    ];
    let none = |_: &str| false;
    // (when, host, expected)
    let cases: &[(When, Option<&str>, bool)] = &[
      (when(&[], &[]), Some("a"), true),
      (when(&["ping"], &[]), Some("a"), true),
      (when(&["ping"], &[]), Some("b"), false),
      // Over all hosts: failed anywhere.
      (when(&["ping"], &[]), None, true),
      (when(&[], &["ping"]), None, false),
      (when(&[], &["mem"]), None, true),
      (when(&["mem"], &[]), Some("a"), false),
      // Either of two failed.
      (when(&["mem", "ping"], &[]), Some("a"), true),
      // Both clauses must hold.
      (when(&["ping"], &["mem"]), Some("a"), true),
      (when(&["ping"], &["mem"]), Some("b"), false),
      // A step that ran nowhere neither passed nor failed.
      (when(&[], &["skipped"]), Some("a"), false),
      (when(&["skipped"], &[]), Some("a"), false),
      // No record (not reached): counts as met.
      (when(&["later"], &[]), Some("a"), true),
    ];
    for (i, (w, host, expected)) in cases.iter().enumerate() {
      assert_eq!(
        holds(w, *host, &records, none, &|_| None),
        *expected,
        "case {i}: {}",
        describe(w)
      );
    }
    // Before --from: met whatever the record says.
    assert!(holds(
      &when(&[], &["ping"]),
      None,
      &records,
      |id| id == "ping",
      &|_| None
    ));
  }

  #[test]
  fn unknown_is_neither_failed_nor_passed() {
    let records = vec![record(
      "mem",
      &[("a", Outcome::Unknown), ("b", Outcome::Passed)],
    )];
    let none = |_: &str| false;
    assert!(!holds(
      &when(&["mem"], &[]),
      Some("a"),
      &records,
      none,
      &|_| None
    ));
    assert!(!holds(&when(&["mem"], &[]), None, &records, none, &|_| {
      None
    }));
    assert!(!holds(&when(&[], &["mem"]), None, &records, none, &|_| {
      None
    }));
    let mut on_unknown = when(&[], &[]);
    on_unknown.unknown = when(&["mem"], &[]).failed;
    assert!(holds(&on_unknown, Some("a"), &records, none, &|_| None));
    assert!(!holds(&on_unknown, Some("b"), &records, none, &|_| None));
    assert!(holds(&on_unknown, None, &records, none, &|_| None));
    assert_eq!(describe(&on_unknown), "when mem could not tell");
  }

  #[test]
  fn value_tests_need_a_value_that_passes() {
    use crate::runbook::model::ValueTest;
    let mut w = when(&[], &[]);
    let name = |n: &str| Loc {
      value: n.to_string(),
      pos: Default::default(),
    };
    w.values.push(ValueTest {
      name: name("recovery"),
      test: Test::Is("restart".into()),
    });
    w.values.push(ValueTest {
      name: name("steps.lag.seconds"),
      test: Test::Above(30.0),
    });
    let none = |_: &str| false;
    let lookup = |lag: Option<&'static str>| {
      move |n: &str| match n {
        "recovery" => Some("restart".to_string()),
        "steps.lag.seconds" => lag.map(str::to_string),
        _ => None,
      }
    };
    assert!(holds(&w, None, &[], none, &lookup(Some("45"))));
    assert!(!holds(&w, None, &[], none, &lookup(Some("12"))));
    assert!(!holds(&w, None, &[], none, &lookup(Some("n/a"))));
    assert!(
      !holds(&w, None, &[], none, &lookup(None)),
      "no value, no match"
    );
    assert_eq!(
      describe(&w),
      "when recovery is restart, when steps.lag.seconds is above 30"
    );
    assert!(passes(&Test::OneOf(vec!["a".into(), "b".into()]), "b"));
    assert!(passes(&Test::IsNot("none".into()), "4242"));
    assert!(!passes(&Test::IsNot("none".into()), "none"));
    assert!(passes(&Test::Below(1.5), "1"));
  }

  #[test]
  fn describes_both_clauses() {
    assert_eq!(
      describe(&when(&["a", "b"], &["c"])),
      "when a or b failed, when c passed"
    );
    assert_eq!(describe(&when(&[], &[])), "no condition");
  }
}
