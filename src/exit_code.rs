//! Documented exit codes (README "Exit codes"). Distinct so that scripts and pagers can tell
//! a failed step from a typo from an operator's decision.
// FAILURE, ABORTED and INTERRUPTED are part of the documented contract and are returned by
// `runbook run`, which lands with the executor; nothing returns them yet.
#![allow(dead_code)]

/// Everything ran and every step passed.
pub const SUCCESS: i32 = 0;
/// A step failed, or the run is incomplete.
pub const FAILURE: i32 = 1;
/// Bad command line, unknown name, or an invalid runbook or inventory.
pub const USAGE: i32 = 2;
/// The operator aborted the run.
pub const ABORTED: i32 = 3;
/// megacity itself could not work: a file it could not read or write, a missing program.
pub const ERROR: i32 = 4;
/// Interrupted by a signal (Ctrl-C).
pub const INTERRUPTED: i32 = 130;
