//! Prometheus checks: `"$MEGACITY" prometheus-query` (run on the operator's machine by a check
//! written `prometheus: {query: …}`) asks the configured Prometheus (config file or environment) for
//! an instant query and prints what a check's thresholds read: one line per series, then the
//! highest and the lowest value. A failure to ask says why and exits non-zero, so the check is
//! *unknown*, never failed.

use std::io::Read;
use std::time::Duration;

use serde_json::Value;

/// Exit code when Prometheus could not be asked or answered something else.
const CANNOT_ASK: i32 = 3;
/// Exit code when no Prometheus is configured: like a command that is not there (127), it is
/// unknown at once and not tried again.
const NOT_CONFIGURED: i32 = 127;

/// Runs the query read from stdin against `prometheus` (the configured base URL); prints the
/// series; returns the process's exit code.
pub(crate) fn run(prometheus: Option<&str>, empty_passes: bool) -> i32 {
  let mut query = String::new();
  if std::io::stdin().read_to_string(&mut query).is_err() {
    eprintln!("cannot read the query: cannot judge");
    return CANNOT_ASK;
  }
  let query = query.trim();
  let Some(base) = prometheus else {
    eprintln!(
      "no Prometheus configured (`prometheus: URL` in the config file, or MEGACITY_PROMETHEUS, e.g. http://monitoring-01:9090): cannot judge"
    );
    return NOT_CONFIGURED;
  };
  println!("query: {query}");
  match ask(base, query) {
    Ok(answer) => match render(&answer) {
      Ok(lines) if lines.is_empty() => {
        if empty_passes {
          println!("no series: the runbook accepts an empty result");
        } else {
          eprintln!("no series: nothing to judge (the metric may be missing)");
        }
        0
      }
      Ok(lines) => {
        for line in lines {
          println!("{line}");
        }
        0
      }
      Err(e) => {
        eprintln!("{e}: cannot judge");
        CANNOT_ASK
      }
    },
    Err(e) => {
      eprintln!("Prometheus at {base}: {e}: cannot judge");
      CANNOT_ASK
    }
  }
}

fn ask(base: &str, query: &str) -> Result<Value, String> {
  let url = format!("{}/api/v1/query", base.trim_end_matches('/'));
  let agent: ureq::Agent = ureq::Agent::config_builder()
    .timeout_global(Some(Duration::from_secs(20)))
    .http_status_as_error(false)
    .build()
    .into();
  let mut response = agent
    .get(&url)
    .query("query", query)
    .call()
    .map_err(|e| e.to_string())?;
  let text = response
    .body_mut()
    .with_config()
    .limit(16 * 1024 * 1024)
    .read_to_string()
    .map_err(|e| e.to_string())?;
  serde_json::from_str(&text).map_err(|e| format!("not Prometheus's API answer: {e}"))
}

/// Prometheus's answer as lines: `value=V {labels}` per series, then `highest=` and `lowest=`.
/// An error answer (a bad query) is an error; no series is no lines.
pub(crate) fn render(answer: &Value) -> Result<Vec<String>, String> {
  if answer["status"] != "success" {
    return Err(format!(
      "Prometheus refused the query: {} {}",
      answer["errorType"].as_str().unwrap_or("error"),
      answer["error"].as_str().unwrap_or("")
    ));
  }
  let data = &answer["data"];
  let number = |v: &Value| -> Option<f64> { v[1].as_str()?.parse().ok() };
  let mut series: Vec<(String, f64)> = Vec::new();
  match data["resultType"].as_str() {
    Some("vector") => {
      for s in data["result"].as_array().into_iter().flatten() {
        let labels = s["metric"]
          .as_object()
          .map(|m| {
            let parts: Vec<String> = m
              .iter()
              .map(|(k, v)| format!("{k}={:?}", v.as_str().unwrap_or("")))
              .collect();
            format!("{{{}}}", parts.join(", "))
          })
          .unwrap_or_default();
        let Some(v) = number(&s["value"]) else {
          return Err(format!("a series without a number: {s}"));
        };
        series.push((labels, v));
      }
    }
    Some("scalar") => {
      let Some(v) = number(&data["result"]) else {
        return Err("a scalar without a number".into());
      };
      series.push(("{}".into(), v));
    }
    other => {
      return Err(format!(
        "the query gives a {}, not an instant vector or scalar",
        other.unwrap_or("nothing")
      ));
    }
  }
  // NaN (0/0 in PromQL) judges nothing: it is neither high nor low.
  let judged: Vec<f64> = series.iter().map(|s| s.1).filter(|v| !v.is_nan()).collect();
  let mut lines: Vec<String> = series
    .iter()
    .map(|(labels, v)| format!("value={v} {labels}"))
    .collect();
  if let (Some(hi), Some(lo)) = (
    judged.iter().copied().reduce(f64::max),
    judged.iter().copied().reduce(f64::min),
  ) {
    lines.push(format!("highest={hi}"));
    lines.push(format!("lowest={lo}"));
  }
  Ok(lines)
}

#[cfg(test)]
mod tests {
  use super::render;
  use serde_json::json;

  #[test]
  fn series_become_lines_with_the_highest_and_the_lowest() {
    let answer = json!({"status": "success", "data": {"resultType": "vector", "result": [
      {"metric": {"instance": "backend-api-01"}, "value": [1.0, "0.25"]},
      {"metric": {"instance": "backend-api-02"}, "value": [1.0, "0.75"]},
    ]}});
    let lines = render(&answer).unwrap();
    assert_eq!(
      lines,
      [
        "value=0.25 {instance=\"backend-api-01\"}",
        "value=0.75 {instance=\"backend-api-02\"}",
        "highest=0.75",
        "lowest=0.25"
      ]
    );
  }

  #[test]
  fn no_series_is_no_lines_and_an_error_is_an_error() {
    let empty = json!({"status": "success", "data": {"resultType": "vector", "result": []}});
    assert!(render(&empty).unwrap().is_empty());
    let bad = json!({"status": "error", "errorType": "bad_data", "error": "parse error"});
    assert!(render(&bad).unwrap_err().contains("parse error"));
    let nan = json!({"status": "success", "data": {"resultType": "vector", "result": [
      {"metric": {}, "value": [1.0, "NaN"]}]}});
    assert_eq!(render(&nan).unwrap(), ["value=NaN {}"]);
  }
}
