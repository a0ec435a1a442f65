//! Writing a run's journal: one record per engine event, each flushed to disk before the run
//! moves on. The journal never prints: a failed write is kept, for the caller to report.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::record::{Header, Record, Rung, VERSION, now, sha256};
use super::{io, room, write_err};
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
  /// Bytes of whole records in the file; a failed write may have left a torn piece past it.
  len: u64,
  /// The first failure: a write that failed, a side file that could not be written, or a disk
  /// nearly full. Nothing is written after it but the record of why it stopped and the end.
  failure: Option<Failure>,
}

/// What could not be written, kept as its parts (an `io::Error` is not `Clone`).
struct Failure {
  path: PathBuf,
  kind: std::io::ErrorKind,
  message: String,
}

impl Failure {
  fn new(path: &Path, e: &std::io::Error) -> Failure {
    Failure {
      path: path.to_path_buf(),
      kind: e.kind(),
      message: e.to_string(),
    }
  }

  fn error(&self) -> Error {
    Error::Write {
      path: self.path.clone(),
      source: std::io::Error::new(self.kind, self.message.clone()),
    }
  }
}

impl Appender {
  fn append(&mut self, line: &[u8]) -> std::io::Result<()> {
    self.file.write_all(line)?;
    self.file.sync_data()?;
    self.len += line.len() as u64;
    Ok(())
  }

  /// Best effort, after a failure: a torn piece left by the failed write is ended with a
  /// newline first (readers skip it), and the line goes into the reserve if the disk is full.
  fn last_words(&mut self, line: &[u8]) -> bool {
    let torn = self.file.metadata().map_or(true, |m| m.len() != self.len);
    let mut bytes = Vec::with_capacity(line.len() + 1);
    if torn {
      bytes.push(b'\n');
    }
    bytes.extend_from_slice(line);
    let written = self
      .file
      .write_all(&bytes)
      .and_then(|_| self.file.sync_data());
    if let Ok(meta) = self.file.metadata() {
      self.len = meta.len();
    }
    written.is_ok()
  }
}

fn line_of(record: &Record) -> Vec<u8> {
  let mut line = serde_json::to_vec(record).expect("records serialize");
  line.push(b'\n');
  line
}

impl Journal {
  /// A new journal in `dir`, refused before the file exists when `dir` has no room for it: a
  /// run that cannot start leaves no journal behind to become `last`.
  pub(crate) fn create(dir: &Path, header: &Header) -> Result<Journal, Error> {
    std::fs::create_dir_all(dir).map_err(write_err(dir))?;
    room::check_start(dir)?;
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

  /// Continues an existing journal (a resume), if its directory has room. A torn last line
  /// from a crash is sealed first.
  pub(crate) fn reopen(path: &Path) -> Result<Journal, Error> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
      room::check_start(dir)?;
    }
    let text = std::fs::read(path).map_err(io(path))?;
    let file = OpenOptions::new()
      .append(true)
      .open(path)
      .map_err(write_err(path))?;
    let journal = Journal::locked(path.to_path_buf(), file)?;
    if !text.is_empty() && !text.ends_with(b"\n") {
      let mut appender = journal.file.lock().unwrap();
      appender.append(b"\n").map_err(write_err(path))?;
    }
    Ok(journal)
  }

  fn locked(path: PathBuf, file: File) -> Result<Journal, Error> {
    if file.try_lock().is_err() {
      return Err(Error::JournalLocked { path });
    }
    let len = file.metadata().map_err(io(&path))?.len();
    room::reserve(&file, len);
    Ok(Journal {
      path,
      file: Mutex::new(Appender {
        file,
        len,
        failure: None,
      }),
      echo: std::sync::atomic::AtomicBool::new(false),
    })
  }

  pub(crate) fn path(&self) -> &Path {
    &self.path
  }

  fn dir(&self) -> &Path {
    self.path.parent().unwrap_or(Path::new("."))
  }

  /// From now on every record is also printed on stdout as one JSON line (`--format json`),
  /// starting with `header`.
  pub(crate) fn echo_to_stdout(&self, header: &Header) {
    self.echo.store(true, std::sync::atomic::Ordering::Relaxed);
    echo(&line_of(&Record::Header(header.clone())));
  }

  fn echoed(&self, line: &[u8]) {
    if self.echo.load(std::sync::atomic::Ordering::Relaxed) {
      echo(line);
    }
  }

  /// One record: one line, one write, then fsync, before the run moves on. After a failure
  /// nothing more is written, and every later write returns that first failure. A disk nearly
  /// full after a write is a failure too: the record just written is kept, the next is not.
  pub(crate) fn write(&self, record: &Record) -> Result<(), Error> {
    let line = line_of(record);
    let mut appender = self.file.lock().unwrap();
    if let Some(failure) = &appender.failure {
      return Err(failure.error());
    }
    if let Err(e) = appender.append(&line) {
      let failure = Failure::new(&self.path, &e);
      let error = failure.error();
      self.fail(&mut appender, failure);
      return Err(error);
    }
    self.echoed(&line);
    // Nothing follows the end: a disk filling then leaves the record whole.
    if !matches!(record, Record::End { .. })
      && let Some(why) = room::low(self.dir())
    {
      let e = std::io::Error::new(std::io::ErrorKind::StorageFull, why);
      self.fail(&mut appender, Failure::new(&self.path, &e));
    }
    Ok(())
  }

  /// Keeps the first failure and records it as the journal's last words.
  fn fail(&self, appender: &mut Appender, failure: Failure) {
    let text = format!(
      "the record stops here: {}; megacity changes nothing more in this run",
      failure.error()
    );
    appender.failure = Some(failure);
    let line = line_of(&Record::Notice { t: now(), text });
    if appender.last_words(&line) {
      self.echoed(&line);
    }
  }

  /// The first failure, if any: from then on the run went unrecorded.
  pub(crate) fn failure(&self) -> Option<Error> {
    let appender = self.file.lock().unwrap();
    appender.failure.as_ref().map(Failure::error)
  }

  /// A setting a resume was given again with another value than the run started with.
  /// A notice from outside the engine (an update to the team that was not delivered).
  pub(crate) fn note(&self, text: &str) {
    self.record(Record::Notice {
      t: now(),
      text: text.to_string(),
    });
  }

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

  /// After a failure only why the run stopped and how it ended are still written (into the
  /// reserve, when the disk is full), so that the journal ends with the truth.
  fn after_failure(&self, record: Record) {
    let line = line_of(&record);
    let mut appender = self.file.lock().unwrap();
    if appender.last_words(&line) {
      self.echoed(&line);
    }
  }

  /// Full output of a long command, beside the journal; its path, or why it could not be
  /// written (a partly written file is removed: the record points to none).
  fn side_file(&self, step: &str, host: &str, output: &str) -> Result<String, Failure> {
    let dir = self.path.with_extension("out");
    std::fs::create_dir_all(&dir).map_err(|e| Failure::new(&dir, &e))?;
    let path = dir.join(format!("{step}.{host}.txt"));
    let written = File::create(&path).and_then(|mut file| {
      file
        .write_all(output.as_bytes())
        .and_then(|_| file.sync_data())
    });
    match written {
      Ok(()) => Ok(path.display().to_string()),
      Err(e) => {
        let _ = std::fs::remove_file(&path);
        Err(Failure::new(&path, &e))
      }
    }
  }

  /// A host's result; with the side file's failure, if its long output could not be kept.
  fn host_result(
    &self,
    step: &str,
    command: Option<&str>,
    result: &HostResult,
  ) -> (Record, Option<Failure>) {
    let (stdout, stderr, exit_code) = match &result.output {
      Some(o) => (o.stdout.as_str(), o.stderr.as_str(), o.exit_code),
      None => ("", "", None),
    };
    let long = stdout.len() > INLINE_OUTPUT || stderr.len() > INLINE_OUTPUT;
    let side = long.then(|| {
      self.side_file(
        step,
        &result.host,
        &format!("--- stdout\n{stdout}\n--- stderr\n{stderr}\n"),
      )
    });
    let (output_file, side_failure) = match side {
      Some(Ok(path)) => (Some(path), None),
      Some(Err(failure)) => (None, Some(failure)),
      None => (None, None),
    };
    let Verdict {
      reasons,
      measurements,
      ..
    } = result.verdict.clone().unwrap_or_default();
    let record = Record::HostResult {
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
    };
    (record, side_failure)
  }
}

impl Drop for Journal {
  fn drop(&mut self) {
    if let Ok(appender) = self.file.get_mut() {
      room::release(&appender.file);
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
    // After a failure nothing more is recorded, side files of long output included, but the
    // engine's word on why it stops and the run's end.
    if self.file.lock().unwrap().failure.is_some() {
      match event {
        Event::Notice(text) => self.after_failure(Record::Notice {
          t: now(),
          text: text.into(),
        }),
        Event::Finish { end, elapsed, .. } => self.after_failure(Record::End {
          t: now(),
          end: end.into(),
          elapsed_ms: elapsed.as_millis() as u64,
          // What `runbook run` exits with when its record is incomplete.
          exit_code: Some(crate::exit_code::ERROR),
        }),
        _ => {}
      }
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
      Event::Preflight { host, problem, .. } => Record::Preflight {
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
        let (record, side_failure) = self.host_result(&planned.step.id, command, result);
        self.record(record);
        // A side file that could not be written is a record that could not be written.
        if let Some(failure) = side_failure {
          let mut appender = self.file.lock().unwrap();
          if appender.failure.is_none() {
            self.fail(&mut appender, failure);
          }
        }
        return;
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

/// The name of the account megacity runs as, from the password database: who the operator is
/// when the environment does not say (cron, `env -i`, some sudo set-ups).
fn account_name() -> Option<String> {
  let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
  let mut buf = vec![0 as libc::c_char; 4096];
  let mut found: *mut libc::passwd = std::ptr::null_mut();
  // SAFETY: getpwuid_r writes only into `pwd` and `buf`, which outlive the call; the name is
  // read from `buf` before it is dropped.
  let rc = unsafe {
    libc::getpwuid_r(
      libc::getuid(),
      &mut pwd,
      buf.as_mut_ptr(),
      buf.len(),
      &mut found,
    )
  };
  if rc != 0 || found.is_null() || pwd.pw_name.is_null() {
    return None;
  }
  let name = unsafe { std::ffi::CStr::from_ptr(pwd.pw_name) };
  Some(name.to_string_lossy().into_owned())
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
      .ok()
      .filter(|u| !u.is_empty())
      .or_else(account_name)
      // SAFETY: getuid cannot fail.
      .unwrap_or_else(|| format!("uid {}", unsafe { libc::getuid() })),
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

  fn records(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
      .unwrap()
      .lines()
      .map(|l| serde_json::from_str(l).unwrap())
      .collect()
  }

  /// Output long enough to go to a side file that cannot be written (a file stands where its
  /// directory would be): the result is recorded, the failure is kept and written as the
  /// journal's last word before the end, and nothing else is written after it.
  #[test]
  fn a_side_file_that_cannot_be_written_stops_the_record_and_says_so() {
    use crate::exec::event::{Outcome, RunEnd};
    use crate::exec::plan::{Plan, RunMode};
    use crate::exec::transport::Output;
    let text = "id: t\ntitle: T\nseverity: P3\nsteps:\n  - id: big\n    title: Big\n    targets: [local]\n    check: {command: 'seq 10000', expect: {exit_code: 0}}\n";
    let inventory = crate::inventory::load(None).unwrap();
    let source = crate::source::Source::embedded("t.yaml".into(), text);
    let runbook = crate::runbook::load(&source, Some("t"), Some(&inventory))
      .valid()
      .unwrap();
    let values = crate::runbook::values::Values::resolve(&runbook, &[], true).unwrap();
    let plan = Plan::new(&runbook, &inventory, values, RunMode::Live, &[], None).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::create(dir.path(), &header("side")).unwrap();
    std::fs::write(dir.path().join("side.out"), "in the way").unwrap();
    let mut result = crate::exec::event::HostResult::new("local", Outcome::Passed);
    result.output = Some(Output {
      exit_code: Some(0),
      stdout: "x".repeat(INLINE_OUTPUT * 2),
      stderr: String::new(),
    });
    let planned = &plan.steps[0];
    journal.event(Event::HostDone {
      planned,
      result: &result,
    });
    let failure = journal.failure().expect("the side file's failure is kept");
    assert!(failure.to_string().contains("side.out"), "{failure}");
    assert_eq!(failure.exit_code(), crate::exit_code::ERROR);
    assert_eq!(
      crate::exec::event::Reporter::failure(&journal),
      Some(failure.to_string())
    );
    journal.event(Event::StepDone { planned });
    journal.event(Event::Notice("the run stops"));
    journal.event(Event::Finish {
      plan: &plan,
      records: &[],
      end: RunEnd::Stopped,
      elapsed: std::time::Duration::ZERO,
      exit_code: crate::exit_code::FAILURE,
    });
    let records = records(journal.path());
    let types: Vec<&str> = records
      .iter()
      .map(|r| r["type"].as_str().unwrap())
      .collect();
    assert_eq!(types, ["header", "host-result", "notice", "notice", "end"]);
    assert_eq!(records[1]["output_file"], serde_json::Value::Null);
    assert_eq!(
      records[1]["stdout"].as_str().unwrap().len(),
      INLINE_OUTPUT + "…".len()
    );
    let why = records[2]["text"].as_str().unwrap();
    assert!(
      why.starts_with("the record stops here: cannot write"),
      "{why}"
    );
    assert!(why.contains("side.out"), "{why}");
    assert_eq!(records[3]["text"], "the run stops");
    assert_eq!(records[4]["end"], "stopped");
    assert_eq!(records[4]["exit_code"], crate::exit_code::ERROR);
  }

  /// A write that tears a line (a full disk mid-record) is sealed by the last words' newline:
  /// every line but the torn one still parses.
  #[test]
  fn last_words_after_a_torn_line_start_on_a_line_of_their_own() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::create(dir.path(), &header("torn")).unwrap();
    let mut appender = journal.file.lock().unwrap();
    appender.file.write_all(br#"{"type":"host-res"#).unwrap();
    assert!(appender.last_words(&line_of(&notice())));
    drop(appender);
    let text = std::fs::read_to_string(journal.path()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(serde_json::from_str::<Record>(lines[1]).is_err());
    assert!(serde_json::from_str::<Record>(lines[2]).is_ok(), "{text}");
  }
}
