//! The lines the scenario runner prints for the harness to read.

use serde::{Deserialize, Serialize};

/// The prefix of the runner's result line (the last line of its stdout).
pub const RESULT_PREFIX: &str = "RACE-HUNT-RESULT ";
/// The prefix of the runner's probe line.
pub const PROBE_PREFIX: &str = "RACE-HUNT-PROBE ";

/// How one runner invocation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunnerOutcome {
    Detected,
    Clean,
    /// The runner could not answer (a model checker's limit, a bad size):
    /// never a detection, never clean.
    Error,
}

/// Which mechanism of the runner saw a detection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunnerKind {
    /// The scenario's oracle (real threads, or under Miri's scheduler).
    Oracle,
    /// A worker of the scenario panicked.
    Panic,
    /// shuttle reported a failing schedule.
    Shuttle,
    /// loom reported a failing execution.
    Loom,
    /// (with outcome `error`) a model checker's limit cut the run short.
    Limit,
}

/// What one runner invocation saw: the `RACE-HUNT-RESULT {json}` line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunnerResult {
    pub outcome: RunnerOutcome,
    #[serde(default)]
    pub kind: Option<RunnerKind>,
    #[serde(default)]
    pub message: Option<String>,
    /// Where the oracle (or the panic) was raised, `file:line:column`.
    #[serde(default)]
    pub location: Option<String>,
    /// Iterations (real threads), schedules (shuttle) or executions (loom) run.
    pub attempts: u64,
    pub elapsed_ms: u64,
    /// The facade backend the runner was built with (`std`, `std+noise`, `shuttle`, `loom`, `miri`).
    #[serde(default)]
    pub backend: Option<String>,
    #[serde(default)]
    pub seed: Option<u64>,
    /// The iteration that failed (real threads).
    #[serde(default)]
    pub iteration: Option<u64>,
    /// shuttle's scheduler (`random`, `pct(depth 3)`).
    #[serde(default)]
    pub scheduler: Option<String>,
    /// A file that replays the failure (shuttle schedule, loom checkpoint).
    #[serde(default)]
    pub replay_file: Option<String>,
    /// Worker threads and operations per worker of the scenario.
    #[serde(default)]
    pub threads: Option<u64>,
    #[serde(default)]
    pub ops: Option<u64>,
    /// loom: the checkpoint of the failing execution, and the arguments
    /// after the runner binary that replay it.
    #[serde(default)]
    pub checkpoint_file: Option<String>,
    #[serde(default)]
    pub replay_args: Option<Vec<String>>,
    /// loom, on error: the limit that cut the exploration short.
    #[serde(default)]
    pub limit: Option<String>,
    /// Backend fields beyond these (loom's bound and accesses, the noise flag, ...).
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl RunnerResult {
    pub fn new(outcome: RunnerOutcome) -> RunnerResult {
        RunnerResult {
            outcome,
            kind: None,
            message: None,
            location: None,
            attempts: 0,
            elapsed_ms: 0,
            backend: None,
            seed: None,
            iteration: None,
            scheduler: None,
            replay_file: None,
            threads: None,
            ops: None,
            checkpoint_file: None,
            replay_args: None,
            limit: None,
            extra: serde_json::Map::new(),
        }
    }

    /// The line to print.
    pub fn to_line(&self) -> String {
        format!("{RESULT_PREFIX}{}", serde_json::to_string(self).expect("a result serializes"))
    }

    /// The last result line in `log`, if any.
    pub fn find(log: &str) -> Option<RunnerResult> {
        log.lines().rev().find_map(|line| serde_json::from_str(line.trim_end().strip_prefix(RESULT_PREFIX)?).ok())
    }
}

/// The litmus probe's counts: message passing (MP), store buffering (SB)
/// and torn `u64` reads, over `iterations` rounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Litmus {
    pub iterations: u64,
    pub mp_weak: u64,
    pub sb_weak: u64,
    pub u64_torn: u64,
    pub elapsed_ms: u64,
    /// Overlap windows measured (0 from a runner without the overlap probe).
    #[serde(default)]
    pub windows: u64,
    /// Windows during which the probe's other thread made progress: the two
    /// threads ran at the same time.
    #[serde(default)]
    pub overlap_windows: u64,
}

impl Litmus {
    pub fn to_line(&self) -> String {
        format!("{PROBE_PREFIX}{}", serde_json::to_string(self).expect("a litmus result serializes"))
    }

    pub fn find(log: &str) -> Option<Litmus> {
        log.lines().rev().find_map(|line| serde_json::from_str(line.trim_end().strip_prefix(PROBE_PREFIX)?).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_result_line_round_trips_and_the_last_one_wins() {
        let mut r = RunnerResult::new(RunnerOutcome::Detected);
        r.kind = Some(RunnerKind::Oracle);
        r.message = Some("lost 3 of 4 increments".into());
        r.attempts = 7;
        r.iteration = Some(6);
        let clean = RunnerResult::new(RunnerOutcome::Clean);
        let log = format!("noise\n{}\nthread panicked\n{}\n", clean.to_line(), r.to_line());
        assert_eq!(RunnerResult::find(&log), Some(r));
    }

    #[test]
    fn no_line_or_a_broken_line_is_none() {
        assert_eq!(RunnerResult::find("just output\n"), None);
        assert_eq!(RunnerResult::find("RACE-HUNT-RESULT {\"outcome\":"), None);
        assert_eq!(
            RunnerResult::find("RACE-HUNT-RESULT {\"outcome\":\"maybe\",\"attempts\":1,\"elapsed_ms\":1}"),
            None
        );
    }

    #[test]
    fn litmus_round_trips() {
        let l = Litmus {
            iterations: 10,
            mp_weak: 0,
            sb_weak: 3,
            u64_torn: 1,
            elapsed_ms: 2,
            windows: 20,
            overlap_windows: 19,
        };
        assert_eq!(Litmus::find(&format!("x\n{}\n", l.to_line())), Some(l));
    }
}
