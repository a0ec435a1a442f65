//! Writing a run's journal: one record per engine event, each flushed to disk before the run
//! moves on. The journal never prints: a failed write is kept, for the caller to report.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::record::{Header, Record, Rung, VERSION, now, sha256};
use super::{io, write_err};
use crate::error::Error;
use crate::exec::event::{Event, HostResult, Reporter};
use crate::exec::expect::Verdict;
use crate::exec::plan::Plan;
use crate::schema::format_duration;

/// Output kept inline per stream; the whole (bounded) output goes to a side file beyond this.
pub(crate) const INLINE_OUTPUT: usize = 4096;

/// A record on stdout; a closed pipe does not stop the run (the journal has it).
fn echo(line: &[u8]) {
  let mut out = std::io::stdout().lock();
  let _ = out.write_all(line).and_then(|_| out.flush());
}

/// The journal of one run, open for appending, locked against a second writer.
pub(crate) struct Journal {
  path: PathBuf,
  file: Mutex<Appender>,
  /// `--format json`: every record also goes to stdout, as written.
  echo: std::sync::atomic::AtomicBool,
}

struct Appender {
  file: File,
  /// The first write that failed. Nothing is written after it: a partly written line would
  /// otherwise run into the next record.
  failure: Option<(std::io::ErrorKind, String)>,
}

impl Journal {
  pub(crate) fn create(dir: &Path, header: &Header) -> Result<Journal, Error> {
    std::fs::create_dir_all(dir).map_err(write_err(dir))?;
    let path = dir.join(format!("{}.jsonl", header.run));
    let file = OpenOptions::new()
      .create_new(true)
      .append(true)
      .open(&path)
      .map_err(write_err(&path))?;
    let journal = Journal::locked(path.clone(), file)?;
    if let Err(e) = journal.write(&Record::Header(header.clone())) {
      // An empty journal would become `last` and hide the real last run.
      let _ = std::fs::remove_file(&path);
      return Err(e);
    }
    Ok(journal)
  }

  /// Continues an existing journal (a resume). A torn last line from a crash is sealed first.
  pub(crate) fn reopen(path: &Path) -> Result<Journal, Error> {
    let text = std::fs::read(path).map_err(io(path))?;
    let file = OpenOptions::new()
      .append(true)
      .open(path)
      .map_err(write_err(path))?;
    let journal = Journal::locked(path.to_path_buf(), file)?;
    if !text.is_empty() && !text.ends_with(b"\n") {
      let mut appender = journal.file.lock().unwrap();
      let file = &mut appender.file;
      file
        .write_all(b"\n")
        .and_then(|_| file.sync_data())
        .map_err(write_err(path))?;
    }
    Ok(journal)
  }

  fn locked(path: PathBuf, file: File) -> Result<Journal, Error> {
    if file.try_lock().is_err() {
      return Err(Error::JournalLocked { path });
    }
    Ok(Journal {
      path,
      file: Mutex::new(Appender {
        file,
        failure: None,
      }),
      echo: std::sync::atomic::AtomicBool::new(false),
    })
  }

  pub(crate) fn path(&self) -> &Path {
    &self.path
  }

  /// From now on every record is also printed on stdout as one JSON line (`--format json`),
  /// starting with `header`.
  pub(crate) fn echo_to_stdout(&self, header: &Header) {
    self.echo.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut line = serde_json::to_vec(&Record::Header(header.clone())).expect("records serialize");
    line.push(b'\n');
    echo(&line);
  }

  /// One record: one line, one write, then fsync, before the run moves on. After a failed
  /// write nothing more is written, and every later write returns that first failure.
  pub(crate) fn write(&self, record: &Record) -> Result<(), Error> {
    let mut line = serde_json::to_vec(record).expect("records serialize");
    line.push(b'\n');
    let mut appender = self.file.lock().unwrap();
    if let Some((kind, message)) = &appender.failure {
      return Err(self.error(*kind, message));
    }
    let file = &mut appender.file;
    let written = file.write_all(&line).and_then(|_| file.sync_data());
    if let Err(e) = written {
      appender.failure = Some((e.kind(), e.to_string()));
      return Err(write_err(&self.path)(e));
    }
    if self.echo.load(std::sync::atomic::Ordering::Relaxed) {
      echo(&line);
    }
    Ok(())
  }

  /// The first write that failed, if any: from then on the run went unrecorded.
  pub(crate) fn failure(&self) -> Option<Error> {
    let appender = self.file.lock().unwrap();
    let (kind, message) = appender.failure.as_ref()?;
    Some(self.error(*kind, message))
  }

  fn error(&self, kind: std::io::ErrorKind, message: &str) -> Error {
    Error::Write {
      path: self.path.clone(),
      source: std::io::Error::new(kind, message.to_string()),
    }
  }

  /// A setting a resume was given again with another value than the run started with.
  pub(crate) fn note_setup(&self, line: &str) {
    self.record(Record::Notice {
      t: now(),
      text: format!("resumed with {line}"),
    });
  }

  fn record(&self, record: Record) {
    // `failure()` keeps the error; the engine stops before the next step (no record, no
    // action) and the command reports it.
    let _ = self.write(&record);
  }

  /// Full output of a long command, beside the journal; returns its path.
  fn side_file(&self, step: &str, host: &str, output: &str) -> Option<String> {
    let dir = self.path.with_extension("out");
    std::fs::create_dir_all(&dir).ok()?;
    let path = dir.join(format!("{step}.{host}.txt"));
    let mut file = File::create(&path).ok()?;
    file
      .write_all(output.as_bytes())
      .and_then(|_| file.sync_data())
      .ok()?;
    Some(path.display().to_string())
  }

  fn host_result(&self, step: &str, command: Option<&str>, result: &HostResult) -> Record {
    let (stdout, stderr, exit_code) = match &result.output {
      Some(o) => (o.stdout.as_str(), o.stderr.as_str(), o.exit_code),
      None => ("", "", None),
    };
    let long = stdout.len() > INLINE_OUTPUT || stderr.len() > INLINE_OUTPUT;
    let output_file = long
      .then(|| {
        self.side_file(
          step,
          &result.host,
          &format!("--- stdout\n{stdout}\n--- stderr\n{stderr}\n"),
        )
      })
      .flatten();
    let Verdict {
      reasons,
      measurements,
      ..
    } = result.verdict.clone().unwrap_or_default();
    Record::HostResult {
      t: now(),
      step: step.to_string(),
      host: result.host.clone(),
      outcome: result.outcome.into(),
      command: command.map(str::to_string),
      exit_code,
      duration_ms: result.duration.as_millis() as u64,
      attempts: result.attempts,
      reasons,
      measurements: measurements.into_iter().map(Into::into).collect(),
      stdout: tail_bytes(stdout, INLINE_OUTPUT),
      stderr: tail_bytes(stderr, INLINE_OUTPUT),
      output_file,
      error: result.error.clone(),
      captured: result.captured.clone(),
      samples: result.samples.iter().map(Into::into).collect(),
    }
  }
}

fn tail_bytes(s: &str, max: usize) -> String {
  if s.len() <= max {
    return s.to_string();
  }
  let mut start = s.len() - max;
  while !s.is_char_boundary(start) {
    start += 1;
  }
  format!("…{}", &s[start..])
}

impl Reporter for Journal {
  fn failure(&self) -> Option<String> {
    Journal::failure(self).map(|e| e.to_string())
  }

  fn event(&self, event: Event<'_>) {
    // After a failed write nothing more is recorded, side files of long output included.
    if self.file.lock().unwrap().failure.is_some() {
      return;
    }
    let record = match event {
      // A wait's polls are kept with its result (samples), not one record each.
      Event::Start { .. }
      | Event::HostRunning { .. }
      | Event::Connecting { .. }
      | Event::Waiting { .. } => return,
      Event::Resumed { done } => Record::Resumed {
        t: now(),
        pid: std::process::id(),
        done: done.iter().map(|r| r.id.clone()).collect(),
      },
      Event::Preflight { host, problem } => Record::Preflight {
        t: now(),
        host: host.into(),
        problem: problem.map(str::to_string),
      },
      Event::StepStart { planned, hosts } => Record::StepStarted {
        t: now(),
        step: planned.step.id.value.clone(),
        kind: planned.step.kind_name().into(),
        title: planned.title(),
        hosts: hosts.to_vec(),
      },
      Event::StepSkipped { planned, reason } => Record::StepSkipped {
        t: now(),
        step: planned.step.id.value.clone(),
        reason: reason.into(),
      },
      Event::HostDone { planned, result } => {
        let command = result
          .command
          .as_deref()
          .or_else(|| planned.command(&result.host).map(|c| c.display.as_str()));
        self.host_result(&planned.step.id, command, result)
      }
      Event::WouldRun {
        planned,
        host,
        command,
        note,
      } => Record::WouldRun {
        t: now(),
        step: planned.step.id.value.clone(),
        host: host.into(),
        command: command.into(),
        note: note.map(str::to_string),
      },
      Event::Manual {
        planned,
        instructions,
      } => Record::Manual {
        t: now(),
        step: planned.step.id.value.clone(),
        instructions: instructions.into(),
      },
      Event::Decision {
        planned,
        host,
        question,
        answer,
        shown,
        by,
        value,
      } => Record::Decision {
        t: now(),
        step: planned.step.id.value.clone(),
        host: host.map(str::to_string),
        question: question.into(),
        answer: answer.into(),
        shown: shown.map(|t| humantime::format_rfc3339_millis(t).to_string()),
        by: Some(by.label().to_string()),
        value: value.map(str::to_string),
      },
      Event::Note { planned, text } => Record::Note {
        t: now(),
        step: planned.map(|p| p.step.id.value.clone()),
        text: text.into(),
      },
      Event::Escalation { rung, elapsed } => Record::Escalation {
        t: now(),
        after: format_duration(rung.after),
        to: rung.to.clone(),
        elapsed_s: elapsed.as_secs(),
        reason: None,
      },
      Event::EscalationOn {
        to,
        reason,
        elapsed,
      } => Record::Escalation {
        t: now(),
        after: format_duration(std::time::Duration::from_secs(elapsed.as_secs())),
        to: to.to_string(),
        elapsed_s: elapsed.as_secs(),
        reason: Some(reason.to_string()),
      },
      Event::SeverityRaised { planned, from, to } => Record::SeverityRaised {
        t: now(),
        step: planned.step.id.value.clone(),
        from: from.name().into(),
        to: to.name().into(),
      },
      Event::Notice(text) => Record::Notice {
        t: now(),
        text: text.into(),
      },
      Event::StepDone { planned, .. } => Record::StepDone {
        t: now(),
        step: planned.step.id.value.clone(),
      },
      Event::Finish {
        end,
        elapsed,
        exit_code,
        ..
      } => Record::End {
        t: now(),
        end: end.into(),
        elapsed_ms: elapsed.as_millis() as u64,
        exit_code: Some(exit_code),
      },
    };
    self.record(record);
  }
}

/// The header for a new run of `plan`.
pub(crate) fn header(plan: &Plan<'_>, run: &str, text: &str, setup: &super::Setup) -> Header {
  let r = plan.runbook;
  let (respond, _) = r.severity.targets();
  Header {
    v: VERSION,
    run: run.to_string(),
    runbook: r.id.clone(),
    title: r.title.clone(),
    hash: sha256(text),
    severity: r.severity.name().into(),
    response_target: format_duration(respond),
    recovery_target: format_duration(r.recovery_target()),
    escalation: r
      .escalation
      .iter()
      .map(|e| Rung {
        after: format_duration(e.after),
        to: e.to.clone(),
      })
      .collect(),
    mode: plan.mode.into(),
    parameters: plan.values.masked(),
    operator: std::env::var("USER")
      .or_else(|_| std::env::var("LOGNAME"))
      .unwrap_or_else(|_| "unknown".into()),
    machine: std::fs::read_to_string("/proc/sys/kernel/hostname")
      .map(|h| h.trim().to_string())
      .unwrap_or_default(),
    pid: std::process::id(),
    started: now(),
    setup: setup.clone(),
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  fn header(run: &str) -> Header {
    Header {
      v: VERSION,
      run: run.into(),
      runbook: "r".into(),
      title: "t".into(),
      hash: sha256(""),
      severity: "P2".into(),
      response_target: "30m".into(),
      recovery_target: "4h".into(),
      escalation: Vec::new(),
      mode: crate::journal::Mode::Live,
      parameters: Default::default(),
      operator: "ops".into(),
      machine: "box".into(),
      pid: 1,
      started: now(),
      setup: Default::default(),
    }
  }

  fn notice() -> Record {
    Record::Notice {
      t: now(),
      text: "x".into(),
    }
  }

  #[test]
  fn writes_a_line_per_record_and_has_no_failure() {
    let dir = std::env::temp_dir().join(format!("megacity-writer-{}", std::process::id()));
    let journal = Journal::create(&dir, &header("ok")).unwrap();
    journal.write(&notice()).unwrap();
    assert!(journal.failure().is_none());
    let text = std::fs::read_to_string(journal.path()).unwrap();
    assert_eq!(text.lines().count(), 2);
    let _ = std::fs::remove_dir_all(&dir);
  }

  /// A write that fails is kept, not printed, and nothing is written after it.
  #[test]
  fn the_first_failed_write_is_kept_and_later_writes_are_not_made() {
    let dir = std::env::temp_dir().join(format!("megacity-writer-f-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("full.jsonl");
    std::fs::write(&path, "").unwrap();
    // A read-only handle stands in for a full disk: every write to it fails.
    let file = File::open(&path).unwrap();
    let journal = Journal::locked(path.clone(), file).unwrap();
    let first = journal.write(&notice()).unwrap_err().to_string();
    let kept = journal.failure().expect("the failure is kept").to_string();
    assert_eq!(first, kept);
    journal.event(Event::Notice("later"));
    assert_eq!(journal.failure().unwrap().to_string(), kept);
    assert_eq!(journal.write(&notice()).unwrap_err().to_string(), kept);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "");
    let _ = std::fs::remove_dir_all(&dir);
  }
}
