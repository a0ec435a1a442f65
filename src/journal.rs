//! The incident record: one JSON-lines file per run. A versioned header, then one record per
//! event, each written and flushed to disk before the run moves on. A crash or `kill -9` loses
//! nothing already recorded; a torn last line is skipped by readers and sealed by a resume.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::exec::event::{Answer, Event, HostResult, Outcome, Reporter, RunEnd, StepRecord};
use crate::exec::expect::{Measurement, Verdict};
use crate::exec::plan::{Mode, Plan};
use crate::schema::format_duration;

pub const VERSION: u32 = 1;
pub const DIR_ENV: &str = "MEGACITY_JOURNAL_DIR";
/// Output kept inline per stream; the whole (bounded) output goes to a side file beyond this.
pub const INLINE_OUTPUT: usize = 4096;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Rung {
  pub after: String,
  pub to: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Header {
  pub v: u32,
  pub run: String,
  pub runbook: String,
  pub title: String,
  /// sha256 of the runbook's text: a resume refuses a runbook that changed.
  pub hash: String,
  pub severity: String,
  pub response_target: String,
  pub recovery_target: String,
  pub escalation: Vec<Rung>,
  pub mode: Mode,
  /// Parameter values, secrets masked.
  pub parameters: BTreeMap<String, String>,
  pub operator: String,
  pub machine: String,
  pub pid: u32,
  pub started: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Record {
  Header(Header),
  Resumed {
    t: String,
    pid: u32,
    done: Vec<String>,
  },
  Preflight {
    t: String,
    host: String,
    problem: Option<String>,
  },
  StepStarted {
    t: String,
    step: String,
    kind: String,
    title: String,
    hosts: Vec<String>,
  },
  StepSkipped {
    t: String,
    step: String,
    reason: String,
  },
  HostResult {
    t: String,
    step: String,
    host: String,
    outcome: Outcome,
    command: Option<String>,
    exit_code: Option<i32>,
    duration_ms: u64,
    attempts: u32,
    #[serde(default)]
    reasons: Vec<String>,
    #[serde(default)]
    measurements: Vec<Measurement>,
    #[serde(default)]
    stdout: String,
    #[serde(default)]
    stderr: String,
    /// Where the full output is, when it was too long to keep inline.
    output_file: Option<String>,
    error: Option<String>,
  },
  WouldRun {
    t: String,
    step: String,
    host: String,
    command: String,
    note: Option<String>,
  },
  Manual {
    t: String,
    step: String,
    instructions: String,
  },
  Decision {
    t: String,
    step: String,
    host: Option<String>,
    question: String,
    answer: Answer,
  },
  Note {
    t: String,
    step: Option<String>,
    text: String,
  },
  Escalation {
    t: String,
    after: String,
    to: String,
    elapsed_s: u64,
  },
  Notice {
    t: String,
    text: String,
  },
  StepDone {
    t: String,
    step: String,
  },
  End {
    t: String,
    end: RunEnd,
    elapsed_ms: u64,
  },
}

impl Record {
  pub fn time(&self) -> &str {
    match self {
      Record::Header(h) => &h.started,
      Record::Resumed { t, .. }
      | Record::Preflight { t, .. }
      | Record::StepStarted { t, .. }
      | Record::StepSkipped { t, .. }
      | Record::HostResult { t, .. }
      | Record::WouldRun { t, .. }
      | Record::Manual { t, .. }
      | Record::Decision { t, .. }
      | Record::Note { t, .. }
      | Record::Escalation { t, .. }
      | Record::Notice { t, .. }
      | Record::StepDone { t, .. }
      | Record::End { t, .. } => t,
    }
  }
}

pub fn now() -> String {
  humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}

pub fn parse_time(t: &str) -> Option<SystemTime> {
  humantime::parse_rfc3339(t).ok()
}

/// `--journal-dir`, then `$MEGACITY_JOURNAL_DIR`, then `$XDG_STATE_HOME/megacity/journal`
/// (default `~/.local/state/megacity/journal`).
pub fn dir(flag: Option<&Path>) -> PathBuf {
  if let Some(dir) = flag {
    return dir.to_path_buf();
  }
  if let Some(dir) = std::env::var_os(DIR_ENV).filter(|v| !v.is_empty()) {
    return PathBuf::from(dir);
  }
  let state = std::env::var_os("XDG_STATE_HOME")
    .filter(|v| !v.is_empty())
    .map(PathBuf::from)
    .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
    .unwrap_or_else(|| PathBuf::from("."));
  state.join("megacity/journal")
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
  move |source| Error::Io {
    path: path.to_path_buf(),
    source,
  }
}

/// A new run id: sortable by time, readable, unique per process.
pub fn new_run_id(runbook: &str) -> String {
  let stamp = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
  let stamp: String = stamp.chars().filter(|c| c.is_ascii_digit()).collect();
  format!(
    "{}-{}-{runbook}-{}",
    &stamp[..8],
    &stamp[8..14],
    std::process::id()
  )
}

pub fn sha256(text: &str) -> String {
  use sha2::Digest;
  let digest = sha2::Sha256::digest(text.as_bytes());
  format!(
    "sha256:{}",
    digest
      .iter()
      .map(|b| format!("{b:02x}"))
      .collect::<String>()
  )
}

/// The journal of one run, open for appending, locked against a second writer.
pub struct Journal {
  path: PathBuf,
  file: Mutex<File>,
  failed: std::sync::atomic::AtomicBool,
}

impl Journal {
  pub fn create(dir: &Path, header: &Header) -> Result<Journal, Error> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let path = dir.join(format!("{}.jsonl", header.run));
    let file = OpenOptions::new()
      .create_new(true)
      .append(true)
      .open(&path)
      .map_err(io(&path))?;
    let journal = Journal::locked(path, file)?;
    journal.write(&Record::Header(header.clone()))?;
    Ok(journal)
  }

  /// Continues an existing journal (a resume). A torn last line from a crash is sealed first.
  pub fn reopen(path: &Path) -> Result<Journal, Error> {
    let text = std::fs::read(path).map_err(io(path))?;
    let file = OpenOptions::new()
      .append(true)
      .open(path)
      .map_err(io(path))?;
    let journal = Journal::locked(path.to_path_buf(), file)?;
    if !text.is_empty() && !text.ends_with(b"\n") {
      let mut file = journal.file.lock().unwrap();
      file
        .write_all(b"\n")
        .and_then(|_| file.sync_data())
        .map_err(io(path))?;
    }
    Ok(journal)
  }

  fn locked(path: PathBuf, file: File) -> Result<Journal, Error> {
    if file.try_lock().is_err() {
      return Err(Error::Parameter {
        message: format!("{} is being written by another megacity", path.display()),
        hint: Some("one writer per journal: wait for that run to end".into()),
      });
    }
    Ok(Journal {
      path,
      file: Mutex::new(file),
      failed: Default::default(),
    })
  }

  pub fn path(&self) -> &Path {
    &self.path
  }

  /// One record: one line, one write, then fsync, before the run moves on.
  pub fn write(&self, record: &Record) -> Result<(), Error> {
    let mut line = serde_json::to_vec(record).expect("records serialize");
    line.push(b'\n');
    let mut file = self.file.lock().unwrap();
    file
      .write_all(&line)
      .and_then(|_| file.sync_data())
      .map_err(io(&self.path))
  }

  fn record(&self, record: Record) {
    if let Err(e) = self.write(&record) {
      // The run goes on — stopping mid-incident would be worse — but the operator must know.
      if !self.failed.swap(true, std::sync::atomic::Ordering::Relaxed) {
        crate::ui::warn(&format!("the journal is no longer being written: {e}"));
      }
    }
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
      outcome: result.outcome,
      command: command.map(str::to_string),
      exit_code,
      duration_ms: result.duration.as_millis() as u64,
      attempts: result.attempts,
      reasons,
      measurements,
      stdout: tail_bytes(stdout, INLINE_OUTPUT),
      stderr: tail_bytes(stderr, INLINE_OUTPUT),
      output_file,
      error: result.error.clone(),
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
  fn event(&self, event: Event<'_>) {
    let record = match event {
      Event::Start { .. } | Event::HostRunning { .. } => return,
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
        title: planned.step.title.clone(),
        hosts: hosts.to_vec(),
      },
      Event::StepSkipped { planned, reason } => Record::StepSkipped {
        t: now(),
        step: planned.step.id.value.clone(),
        reason: reason.into(),
      },
      Event::HostDone { planned, result } => {
        let command = planned.command(&result.host).map(|c| c.display.as_str());
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
        ..
      } => Record::Decision {
        t: now(),
        step: planned.step.id.value.clone(),
        host: host.map(str::to_string),
        question: question.into(),
        answer,
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
      },
      Event::Notice(text) => Record::Notice {
        t: now(),
        text: text.into(),
      },
      Event::StepDone { planned, .. } => Record::StepDone {
        t: now(),
        step: planned.step.id.value.clone(),
      },
      Event::Finish { end, elapsed, .. } => Record::End {
        t: now(),
        end,
        elapsed_ms: elapsed.as_millis() as u64,
      },
    };
    self.record(record);
  }
}

/// The header for a new run of `plan`.
pub fn header(plan: &Plan<'_>, run: &str, text: &str) -> Header {
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
    mode: plan.mode,
    parameters: plan.values.masked(),
    operator: std::env::var("USER")
      .or_else(|_| std::env::var("LOGNAME"))
      .unwrap_or_else(|_| "unknown".into()),
    machine: std::fs::read_to_string("/proc/sys/kernel/hostname")
      .map(|h| h.trim().to_string())
      .unwrap_or_default(),
    pid: std::process::id(),
    started: now(),
  }
}

/// A journal as read back: every record that parses. A torn last line (a crash mid-write) is
/// skipped; so is any other line that does not parse, and `skipped` says how many.
pub struct Read {
  pub path: PathBuf,
  pub records: Vec<Record>,
  pub skipped: usize,
}

impl Read {
  pub fn header(&self) -> Option<&Header> {
    self.records.iter().find_map(|r| match r {
      Record::Header(h) => Some(h),
      _ => None,
    })
  }

  pub fn end(&self) -> Option<RunEnd> {
    self.records.iter().rev().find_map(|r| match r {
      Record::End { end, .. } => Some(*end),
      _ => None,
    })
  }

  pub fn done_steps(&self) -> Vec<String> {
    let mut done: Vec<String> = Vec::new();
    for r in &self.records {
      if let Record::StepDone { step, .. } = r
        && !done.contains(step)
      {
        done.push(step.clone());
      }
    }
    done
  }

  /// Results of completed steps, for a resumed run's conditions.
  pub fn prior(&self) -> Vec<StepRecord> {
    let done = self.done_steps();
    let mut out: Vec<StepRecord> = done
      .iter()
      .map(|id| StepRecord {
        id: id.clone(),
        kind: "",
        results: Vec::new(),
      })
      .collect();
    for r in &self.records {
      if let Record::HostResult {
        step,
        host,
        outcome,
        ..
      } = r
        && let Some(record) = out.iter_mut().find(|s| s.id == *step)
      {
        record.results.retain(|h| h.host != *host);
        record.results.push(HostResult::new(host, *outcome));
      }
    }
    out
  }

  pub fn elapsed(&self) -> Option<Duration> {
    let start = parse_time(&self.header()?.started)?;
    let last = parse_time(self.records.last()?.time())?;
    last.duration_since(start).ok()
  }

  pub fn run_id(&self) -> String {
    self
      .path
      .file_stem()
      .and_then(|s| s.to_str())
      .unwrap_or("")
      .to_string()
  }
}

pub fn read(path: &Path) -> Result<Read, Error> {
  let text = std::fs::read_to_string(path).map_err(io(path))?;
  let mut records = Vec::new();
  let mut skipped = 0;
  for line in text.lines().filter(|l| !l.trim().is_empty()) {
    match serde_json::from_str::<Record>(line) {
      Ok(r) => records.push(r),
      Err(_) => skipped += 1,
    }
  }
  Ok(Read {
    path: path.to_path_buf(),
    records,
    skipped,
  })
}

/// Journal files in `dir`, newest first (run ids sort by time).
pub fn list(dir: &Path) -> Vec<PathBuf> {
  let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
    .map(|d| {
      d.flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect()
    })
    .unwrap_or_default();
  files.sort();
  files.reverse();
  files
}

/// `last`, a run id, or a unique prefix of one.
pub fn find(dir: &Path, run: &str) -> Result<PathBuf, Error> {
  let files = list(dir);
  let stem = |p: &PathBuf| {
    p.file_stem()
      .and_then(|s| s.to_str())
      .unwrap_or("")
      .to_string()
  };
  if run == "last" {
    return files.into_iter().next().ok_or_else(|| Error::Parameter {
      message: format!("no runs recorded in {}", dir.display()),
      hint: Some("runs are recorded by `megacity runbook run`".into()),
    });
  }
  let matches: Vec<&PathBuf> = files.iter().filter(|p| stem(p).starts_with(run)).collect();
  match matches.as_slice() {
    [one] => Ok((*one).clone()),
    [] => Err(Error::Parameter {
      message: format!("no run `{run}` in {}", dir.display()),
      hint: crate::diagnostic::did_you_mean(
        run,
        files
          .iter()
          .map(|p| p.file_stem().and_then(|s| s.to_str()).unwrap_or("")),
      )
      .or_else(|| Some("see `megacity journal list`".into())),
    }),
    _ => Err(Error::Parameter {
      message: format!("`{run}` matches {} runs", matches.len()),
      hint: Some("give more of the run id".into()),
    }),
  }
}
