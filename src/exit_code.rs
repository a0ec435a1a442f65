//! Documented exit codes (README "Exit codes"). Distinct so that scripts and pagers can tell
//! a failed step from a typo from an operator's decision.

/// Everything ran and every step passed.
pub(crate) const SUCCESS: i32 = 0;
/// A step failed, or the run is incomplete.
pub(crate) const FAILURE: i32 = 1;
/// Bad command line, unknown name, or an invalid runbook or inventory.
pub(crate) const USAGE: i32 = 2;
/// The operator aborted the run.
pub(crate) const ABORTED: i32 = 3;
/// megacity itself could not work: a file it could not read or write, a missing program.
pub(crate) const ERROR: i32 = 4;
/// Interrupted by a signal (Ctrl-C).
pub(crate) const INTERRUPTED: i32 = 130;
