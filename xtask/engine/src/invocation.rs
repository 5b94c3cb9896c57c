//! What a detector and the code that runs it speak in: the run's
//! environment, the processes to start, what a build produced, and what a
//! replay asks for.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// Everything a detector may consult while planning and running.
pub struct Env<'a> {
    pub seed: u64,
    /// The nightly toolchain (ThreadSanitizer, Miri).
    pub nightly: &'a str,
    /// The project's root (the manifest's directory): replays run from here.
    pub root: &'a Path,
    /// The engine's source tree, where the fixture workspace (the scenario
    /// runner and the lesson's fixtures) lives.
    pub engine: &'a Path,
    /// Build directories live under here (`<root>/target/race-hunt/build`).
    pub builds: &'a Path,
    /// How the user invokes the engine (`cargo xtask`, `cargo race-hunt`).
    pub command: &'a str,
    /// The manifest and budget level of this run (for `replay_xtask`).
    pub manifest: &'a Path,
    pub budget: &'a str,
}

/// One process to start for a cell.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// The program and its arguments (a target's runner prefix included).
    pub argv: Vec<String>,
    /// Extra environment for the child (shown in the replay command).
    pub env: Vec<(String, String)>,
    /// A word for the log ("random", "pct", "seed 3", ...), empty when there is one.
    pub label: String,
    /// After this long the child is killed and the cell is a `hang`.
    pub timeout: Duration,
    /// Variables removed from the child's environment (a target runner
    /// that would replace Miri's).
    pub unset: Vec<String>,
}

/// What a build produced for a detector on a target.
#[derive(Debug, Clone)]
pub struct Artifact {
    /// The build's target directory.
    pub target_dir: PathBuf,
    /// The scenario runner binary, for detectors that run it directly.
    pub binary: Option<PathBuf>,
}

/// Asked by `race-hunt replay`: rerun one detection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Replay {
    pub seed: u64,
    /// The iteration (real threads) or seed index to start at.
    pub start: Option<u64>,
    /// A schedule or checkpoint file.
    pub file: Option<String>,
    /// A suite's failing test (`binary test::path`).
    pub test: Option<String>,
}
