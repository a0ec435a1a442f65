//! Parser fuzzing kept in the repository: the shipped runbooks, mutated (lines deleted,
//! duplicated, swapped or re-indented, bytes flipped, tabs and invalid UTF-8 inserted,
//! truncation, deep nesting, anchors and aliases), each read as `runbook validate` reads a file
//! (`Source::read`, then parse and validate against the embedded inventory, then rendering).
//! Every mutant must come back without a panic and with every problem at a line and column.
//!
//! A few hundred mutants run with the unit tests. More, or another seed:
//!
//!     MEGACITY_FUZZ_MUTANTS=20000 MEGACITY_FUZZ_SEED=7 cargo test --bin megacity fuzz
//!
//! The run is bounded by construction: a fixed number of mutants, each under the 256 KiB a
//! runbook may have, read by a parser with a node, alias and depth budget. A mutant that fails
//! is written to a file named in the failure, to replay with `megacity runbook validate FILE`.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use crate::diagnostic::Diagnostic;
use crate::error::Error;
use crate::source::Source;

const DEFAULT_MUTANTS: usize = 300;
const DEFAULT_SEED: u64 = 0x6d65_6761_6369_7479;

/// splitmix64: tiny, fixed-seed, and good enough to pick mutations.
struct Rng(u64);

impl Rng {
  fn next(&mut self) -> u64 {
    self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = self.0;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
  }

  /// A number in `0..n` (`n` > 0).
  fn below(&mut self, n: usize) -> usize {
    (self.next() % n as u64) as usize
  }
}

fn lines(text: &[u8]) -> Vec<Vec<u8>> {
  text.split(|b| *b == b'\n').map(<[u8]>::to_vec).collect()
}

fn join(lines: &[Vec<u8>]) -> Vec<u8> {
  lines.join(&b'\n')
}

/// YAML that nests `depth` levels, in one of three styles.
fn nesting(rng: &mut Rng) -> Vec<u8> {
  let depth = 1 + rng.below(200);
  match rng.below(3) {
    0 => format!("deep: {}{}", "[".repeat(depth), "]".repeat(depth)).into_bytes(),
    1 => format!("deep: {}x{}", "{a: ".repeat(depth), "}".repeat(depth)).into_bytes(),
    _ => (0..depth.min(60))
      .map(|i| format!("{}k{i}:", " ".repeat(i * 2)))
      .collect::<Vec<_>>()
      .join("\n")
      .into_bytes(),
  }
}

/// Anchors and aliases: merges, undefined aliases, aliases of aliases (a small "billion
/// laughs"), an alias as a key.
fn aliases(rng: &mut Rng) -> Vec<u8> {
  let snippets: [&str; 6] = [
    "base: &b {targets: [local]}\nmerged:\n  <<: *b",
    "x: *nowhere",
    "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c]",
    "&k key: value\n*k : again",
    "steps: &s\n  - *s",
    "id: &id1 x\ntitle: *id1",
  ];
  snippets[rng.below(snippets.len())].as_bytes().to_vec()
}

/// One mutation of `text`; its name says what was done, for a failure to report.
fn mutate(rng: &mut Rng, text: &mut Vec<u8>, others: &[&str]) -> &'static str {
  let mut ls = lines(text);
  let n = ls.len().max(1);
  let name = match rng.below(12) {
    0 => {
      ls.remove(rng.below(n).min(ls.len() - 1));
      "delete a line"
    }
    1 => {
      let i = rng.below(n).min(ls.len() - 1);
      let line = ls[i].clone();
      for _ in 0..1 + rng.below(3) {
        ls.insert(i, line.clone());
      }
      "duplicate a line"
    }
    2 => {
      let (a, b) = (
        rng.below(n).min(ls.len() - 1),
        rng.below(n).min(ls.len() - 1),
      );
      ls.swap(a, b);
      "swap two lines"
    }
    3 => {
      let i = rng.below(n).min(ls.len() - 1);
      let line = &mut ls[i];
      match rng.below(2) {
        0 => line.splice(0..0, b"  ".iter().copied()).for_each(drop),
        _ => {
          let spaces = line.iter().take_while(|b| **b == b' ').count();
          line.drain(..spaces.min(1 + rng.below(4)));
        }
      }
      "re-indent a line"
    }
    4 => {
      *text = join(&ls);
      if !text.is_empty() {
        let i = rng.below(text.len());
        text[i] ^= 1 << rng.below(8);
      }
      return "flip a bit";
    }
    5 => {
      *text = join(&ls);
      let i = rng.below(text.len() + 1);
      text.insert(i, b'\t');
      return "insert a tab";
    }
    6 => {
      *text = join(&ls);
      text.truncate(rng.below(text.len() + 1));
      return "truncate";
    }
    7 => {
      *text = join(&ls);
      let bad: [&[u8]; 4] = [b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xf4\x90\x80\x80"];
      let i = rng.below(text.len() + 1);
      text.splice(i..i, bad[rng.below(bad.len())].iter().copied());
      return "insert invalid UTF-8";
    }
    8 => {
      let i = rng.below(n + 1).min(ls.len());
      ls.insert(i, nesting(rng));
      "insert deep nesting"
    }
    9 => {
      let i = rng.below(n + 1).min(ls.len());
      for (k, line) in lines(&aliases(rng)).into_iter().enumerate() {
        ls.insert(i + k, line);
      }
      "insert anchors and aliases"
    }
    10 => {
      let punctuation = b"-:?|>!&*#%@`'\"{}[],";
      let i = rng.below(n).min(ls.len() - 1);
      let line = &mut ls[i];
      let at = rng.below(line.len() + 1);
      line.insert(at, punctuation[rng.below(punctuation.len())]);
      "insert YAML punctuation"
    }
    _ => {
      let other = lines(others[rng.below(others.len())].as_bytes());
      let from = rng.below(other.len());
      let count = 1 + rng.below(8);
      let i = rng.below(n + 1).min(ls.len());
      for (k, line) in other.into_iter().skip(from).take(count).enumerate() {
        ls.insert(i + k, line);
      }
      "splice lines from another runbook"
    }
  };
  *text = join(&ls);
  name
}

/// What reading `path` as `runbook validate` does found: its diagnostics, or why it could not.
fn validate(path: &Path, id: &str, inventory: &crate::inventory::Inventory) -> Vec<Diagnostic> {
  match Source::read(path) {
    Ok(source) => {
      let diagnostics = super::load(&source, Some(id), Some(inventory)).diagnostics;
      crate::ui::diagnostics::render_all(&diagnostics);
      diagnostics
    }
    // Not UTF-8: a diagnostic at the first bad byte.
    Err(Error::Invalid { diagnostics, .. }) => diagnostics,
    Err(e) => panic!("a mutant was refused without a position: {e}"),
  }
}

#[test]
fn mutated_shipped_runbooks_never_panic_and_every_problem_has_a_position() {
  let env = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<u64>().ok());
  let mutants = env("MEGACITY_FUZZ_MUTANTS").map_or(DEFAULT_MUTANTS, |n| n as usize);
  let seed = env("MEGACITY_FUZZ_SEED").unwrap_or(DEFAULT_SEED);
  let runbooks = crate::embedded::RUNBOOKS;
  assert!(!runbooks.is_empty(), "no shipped runbooks to mutate");
  let texts: Vec<&str> = runbooks.iter().map(|(_, text)| *text).collect();
  let inventory = crate::inventory::load(None).unwrap();
  let dir = tempfile::tempdir().unwrap();
  let mut rng = Rng(seed);
  let mut invalid = 0;
  for m in 0..mutants {
    let (id, original) = runbooks[rng.below(runbooks.len())];
    let mut text = original.as_bytes().to_vec();
    let done: Vec<&str> = (0..1 + rng.below(3))
      .map(|_| mutate(&mut rng, &mut text, &texts))
      .collect();
    text.truncate(crate::yaml::MAX_FILE_BYTES);
    let path = dir.path().join(format!("{id}.yaml"));
    std::fs::write(&path, &text).unwrap();
    let keep = || {
      let kept = std::env::temp_dir().join(format!("megacity-fuzz-{seed}-{m}-{id}.yaml"));
      std::fs::write(&kept, &text).unwrap();
      format!(
        "mutant {m} of seed {seed} ({id}: {}), kept as {}",
        done.join(", "),
        kept.display()
      )
    };
    let diagnostics = match catch_unwind(AssertUnwindSafe(|| validate(&path, id, &inventory))) {
      Ok(d) => d,
      Err(_) => panic!("panicked on {}", keep()),
    };
    if let Some(d) = diagnostics.iter().find(|d| d.line == 0 || d.column == 0) {
      panic!(
        "no position for `{}` ({:?}) in {}",
        d.message,
        d.level,
        keep()
      );
    }
    invalid += usize::from(
      diagnostics
        .iter()
        .any(|d| d.level == crate::diagnostic::Level::Error),
    );
  }
  // The mutations must reach the error paths, or the test proves nothing.
  assert!(
    invalid * 2 > mutants,
    "only {invalid} of {mutants} mutants were invalid: the mutations are too gentle"
  );
}
