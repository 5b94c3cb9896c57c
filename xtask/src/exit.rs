//! Exit codes of `cargo xtask race-hunt`, in one place.

/// The gate passed.
pub const OK: i32 = 0;
/// The gate failed: some cell's verdict is `fail`.
pub const GATE_FAILED: i32 = 1;
/// Usage or manifest error.
pub const USAGE: i32 = 2;
/// A required prerequisite is missing (`--require-all` with skipped cells).
pub const MISSING_PREREQUISITE: i32 = 3;
/// Interrupted (Ctrl-C); the report, if asked for, lists what finished.
pub const INTERRUPTED: i32 = 130;
