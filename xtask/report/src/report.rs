//! The report the engine writes (`--json PATH`, the run directory's
//! `report.json`) and the gate merges.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::runner::Litmus;

/// The schema name every report carries.
pub const SCHEMA: &str = "race-hunt/v1";

/// What a detector saw in one cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// The detector's own mechanism saw the race (see the evidence).
    Detected,
    /// The whole budget was spent without a finding.
    Clean,
    /// The program stopped making progress and was killed at the budget's
    /// timeout. A detection only where the manifest says so for the cell.
    Hang,
    /// Not run, for a reason (a missing prerequisite, say).
    Skipped,
    /// The harness could not get an answer: a build failure, a kill from
    /// outside, a runner without a result, a tool's own limit. Never a
    /// detection.
    Error,
    /// The run was interrupted before this cell finished.
    NotRun,
}

impl Outcome {
    pub fn word(self) -> &'static str {
        match self {
            Outcome::Detected => "detected",
            Outcome::Clean => "clean",
            Outcome::Hang => "hang",
            Outcome::Skipped => "skipped",
            Outcome::Error => "error",
            Outcome::NotRun => "not-run",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.word())
    }
}

/// A cell's expectation, as graded (a `detect-if` is resolved by then).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Expect {
    Detect,
    Pass,
    /// Either outcome is acceptable, for the reason in `expect_reason`.
    May,
}

impl Expect {
    pub fn word(self) -> &'static str {
        match self {
            Expect::Detect => "detect",
            Expect::Pass => "pass",
            Expect::May => "may",
        }
    }
}

impl fmt::Display for Expect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.word())
    }
}

/// The outcome graded against the expectation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Ok,
    Fail,
    Skipped,
    /// The run was interrupted before the cell finished: neither ok nor fail.
    NotRun,
}

impl Verdict {
    pub fn word(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Fail => "fail",
            Verdict::Skipped => "skipped",
            Verdict::NotRun => "not-run",
        }
    }
}

/// The bug class of a racy variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BugClass {
    /// Two unsynchronised accesses, at least one a write.
    DataRace,
    /// A read-modify-write split in two (no data race).
    Atomicity,
    /// A check and the act that depends on it in two critical sections.
    CheckThenAct,
    /// A missing happens-before between atomics.
    Ordering,
    /// Threads wait for each other forever: a lock-order cycle, a lock held
    /// across a blocking wait.
    Deadlock,
    /// A notification sent before its waiter waits, or to no one: the
    /// waiter sleeps forever (a condition variable without its predicate).
    LostWakeup,
    /// An `unsafe impl Send` or `Sync` that does not hold: a type shared or
    /// moved across threads that is not safe to.
    UnsoundSync,
    /// Concurrency that breaks memory safety: a use after free, a double
    /// free, a read of memory another thread reallocated.
    MemorySafety,
}

impl BugClass {
    pub const ALL: [BugClass; 8] = [
        BugClass::DataRace,
        BugClass::Atomicity,
        BugClass::CheckThenAct,
        BugClass::Ordering,
        BugClass::Deadlock,
        BugClass::LostWakeup,
        BugClass::UnsoundSync,
        BugClass::MemorySafety,
    ];

    pub fn word(self) -> &'static str {
        match self {
            BugClass::DataRace => "data-race",
            BugClass::Atomicity => "atomicity",
            BugClass::CheckThenAct => "check-then-act",
            BugClass::Ordering => "ordering",
            BugClass::Deadlock => "deadlock",
            BugClass::LostWakeup => "lost-wakeup",
            BugClass::UnsoundSync => "unsound-sync",
            BugClass::MemorySafety => "memory-safety",
        }
    }

    pub fn from_word(word: &str) -> Option<BugClass> {
        BugClass::ALL.into_iter().find(|c| c.word() == word)
    }
}

/// Which mechanism saw a detection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EvidenceKind {
    /// A fixture scenario's own oracle saw its invariant broken.
    OracleViolation,
    /// The program under test panicked (a corrupted structure, say).
    Panic,
    /// The program under test raised a crash signal itself (SIGSEGV, SIGABRT, ...).
    CrashSignal,
    /// The program hung and the manifest counts a hang as a detection for this cell.
    Hang,
    /// shuttle found a failing schedule.
    ShuttleFailure,
    /// loom found a failing execution (its causality check or the oracle).
    LoomFailure,
    /// ThreadSanitizer printed a report.
    TsanReport,
    /// Miri reported undefined behaviour (a data race, an uninitialised read, ...).
    MiriUb,
    /// An ordinary test of a suite failed (its assertion, under this detector).
    TestFailure,
}

impl EvidenceKind {
    pub fn word(self) -> &'static str {
        match self {
            EvidenceKind::OracleViolation => "oracle-violation",
            EvidenceKind::Panic => "panic",
            EvidenceKind::CrashSignal => "crash-signal",
            EvidenceKind::Hang => "hang",
            EvidenceKind::ShuttleFailure => "shuttle-failure",
            EvidenceKind::LoomFailure => "loom-failure",
            EvidenceKind::TsanReport => "tsan-report",
            EvidenceKind::MiriUb => "miri-ub",
            EvidenceKind::TestFailure => "test-failure",
        }
    }
}

impl fmt::Display for EvidenceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.word())
    }
}

/// One distinct report of a tool (TSan, Miri), after deduplication.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// The tool's kind of report ("data race", "lock-order-inversion", ...).
    pub kind: String,
    /// The report in words: "write at src/lib.rs:12 races with read at src/lib.rs:15".
    pub summary: String,
    /// How often the run printed it.
    pub count: u64,
    /// The first location in the code under test, `file:line:column`.
    pub location: Option<String>,
    /// A digest of what makes this finding the same race on every run and
    /// machine (detector, evidence kind, the racing functions and files;
    /// no addresses, thread ids, line numbers or absolute paths): what a
    /// baseline lists and SARIF's `partialFingerprints` carry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
}

/// How often a detection reproduced when its test was rerun.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reproduction {
    pub failed: u64,
    pub runs: u64,
}

/// Evidence of a detection, or of what went wrong in a failing cell: enough
/// to understand it and to replay it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    pub kind: EvidenceKind,
    pub message: String,
    /// `file:line:column` in the code under test, relative to the repository
    /// root where possible.
    pub location: Option<String>,
    /// A shell command (sh or bash, from the repository root) that reruns
    /// exactly this detection with the binaries of this run.
    pub replay: String,
    /// The same replay through the xtask, which builds what it needs: works
    /// on a developer's machine, not only beside this run's `target/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay_xtask: Option<String>,
    /// The distinct reports of the detector's tool, with counts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<Finding>,
    /// A suite's failing test, by its full name (`binary test::path`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<String>,
    /// How often the failing test failed again when rerun.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reproduced: Option<Reproduction>,
    /// The seed of the detection (noise, schedule, Miri).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// The iteration (stress) or repetition that failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iteration: Option<u64>,
    /// Files the replay needs (a shuttle schedule, a loom checkpoint).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay_file: Option<String>,
    /// Notes on how the evidence was obtained (a retry without ASLR, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// The fingerprint of every finding of this evidence: one per distinct
    /// report of a tool (TSan, Miri; the same as `findings[].fingerprint`),
    /// else one for the evidence itself (a failing test: its full name and
    /// the panic's file).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fingerprints: Vec<String>,
}

impl Evidence {
    pub fn new(kind: EvidenceKind, message: impl Into<String>, replay: impl Into<String>) -> Evidence {
        Evidence {
            kind,
            message: message.into(),
            location: None,
            replay: replay.into(),
            replay_xtask: None,
            findings: Vec::new(),
            test: None,
            reproduced: None,
            seed: None,
            iteration: None,
            replay_file: None,
            notes: Vec::new(),
            fingerprints: Vec::new(),
        }
    }
}

/// What is hunted in a cell: a fixture of the lesson, or a suite (a
/// package's own tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Subject {
    #[default]
    Fixture,
    Suite,
}

/// Why a cell is in the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// A fixture graded for its own sake (the harness's controls).
    #[default]
    Control,
    /// A fixture run beside suites to prove its column works here.
    Canary,
    /// A suite: the user's code.
    Hunt,
}

/// One graded cell: (fixture or suite, variant, detector, target).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellReport {
    /// The fixture's or the suite's name.
    pub fixture: String,
    pub variant: String,
    #[serde(default)]
    pub subject: Subject,
    #[serde(default)]
    pub role: Role,
    pub racy: bool,
    pub class: Option<BugClass>,
    pub detector: String,
    /// The target triple.
    pub target: String,
    /// The target's short name (`x86_64`, `armv7`, ...).
    pub target_name: String,
    pub expect: Expect,
    /// Why `may` (from the manifest or the target's probe).
    pub expect_reason: Option<String>,
    pub outcome: Outcome,
    pub verdict: Verdict,
    /// Why the verdict is not `ok`, why the cell was skipped, or what the
    /// harness error was.
    pub reason: Option<String>,
    pub elapsed_ms: u64,
    /// CPU time (user + system) the cell's processes got, with what they
    /// waited for: against `elapsed_ms`, how much of the machine it had.
    #[serde(default)]
    pub cpu_ms: u64,
    /// Iterations, schedules, executions or seeds run.
    pub attempts: u64,
    pub evidence: Option<Evidence>,
    /// The cell's raw output.
    pub log: Option<String>,
    /// Set when a real-thread cell came up clean on a machine whose probe
    /// saw no parallel overlap: the clean result is weak, and this says why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starved: Option<String>,
    /// How the outcome was reached, when that needs saying (a test stopped
    /// at its timeout that turned out slow, not stuck; a run whose time ran
    /// out after some clean passes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Set on a racy variant's detection that does not count toward
    /// `detect`: the fixed variant of the same fixture or suite shows the
    /// same finding (same detector and target), every finding is in the
    /// baseline, or it came from another test than the variant's
    /// `detect-in`. Says why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_credited: Option<String>,
}

impl CellReport {
    /// `fixture/variant detector@target`, the cell's name everywhere.
    pub fn id(&self) -> String {
        format!("{}/{} {}@{}", self.fixture, self.variant, self.detector, self.target_name)
    }
}

/// The preflight probe of one target, with the harness's reading of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Probe {
    #[serde(flatten)]
    pub litmus: Litmus,
    /// A weak message-passing outcome was seen: the target reorders stores.
    pub weak_memory: bool,
    /// The probe did not find the machine starved: its two threads were
    /// seen running at the same time (the overlap probe), or, under
    /// emulation, overlap could not be measured (`parallel_measured` false).
    pub parallel: bool,
    /// Whether `parallel` is a measurement (false: no overlap seen under
    /// emulation, which does not tell).
    #[serde(default)]
    pub parallel_measured: bool,
    /// The probe's finding in words.
    pub finding: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetReport {
    pub name: String,
    pub triple: String,
    pub native: bool,
    /// The command prefix that runs this target's binaries, and whether it
    /// came from the user's environment or the manifest.
    pub runner: Option<String>,
    pub runner_source: Option<String>,
    /// The preflight litmus probe's result, when it ran.
    pub probe: Option<Probe>,
}

/// A (detector, target) pair that is not run at all, and why; with
/// `subject`, only that suite is not hunted there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotPlanned {
    pub detector: String,
    pub target: String,
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
}

/// How a column (detector@target) proved itself on its canaries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proof {
    pub detector: String,
    pub target: String,
    pub proven: bool,
    /// Why not, naming the canary that did not behave.
    pub reason: Option<String>,
}

/// One entry of the baseline (`[run] baseline`) that this report's cells
/// no longer show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaleEntry {
    pub fingerprint: String,
    pub detector: String,
    /// The finding in words, as the baseline file has it.
    pub what: String,
    /// The cells of the baseline entry that ran here without showing it.
    pub cells: Vec<String>,
}

/// The baseline this report was graded with: findings a crate accepts by
/// design, each with a reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BaselineStatus {
    /// The baseline file, as the manifest names it.
    pub path: String,
    /// A digest of its text: the gate merges only reports graded with the
    /// same baseline.
    pub digest: String,
    pub entries: usize,
    /// Fingerprints of the baseline that some cell of this report showed.
    pub matched: Vec<String>,
    /// Entries whose cells ran here and none showed the finding: stale
    /// (a warning, not a gate failure: a detector may miss a race on one
    /// run). Entries none of whose cells ran are neither.
    pub stale: Vec<StaleEntry>,
}

/// The gate's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Gate {
    Pass,
    /// Some cell's verdict is `fail`.
    Fail,
    /// `--require-all` and some cell was skipped.
    MissingPrerequisites,
    /// No verdict is wrong, but some cell ended in `error`: the harness
    /// could not get an answer there (a build failure, a kill from outside).
    Error,
    /// The run was stopped (SIGINT, SIGTERM) before every cell finished.
    Interrupted,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub cells: usize,
    pub ok: usize,
    pub fail: usize,
    pub skipped: usize,
    #[serde(default)]
    pub not_run: usize,
    /// Cells whose outcome is `error` (each is also a `fail`).
    #[serde(default)]
    pub errors: usize,
    pub gate: Gate,
    /// The exit code the run actually used.
    pub exit_code: i32,
    /// Racy variants that ran and that no cell of this run detected.
    pub undetected_racy_variants: Vec<String>,
    /// Per column of a run with suites: did its canaries prove the detector?
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub proofs: Vec<Proof>,
}

/// Which slice of the planned cells a report holds (`--shard I/N`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// 1-based.
    pub index: usize,
    pub count: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub schema: String,
    pub race_hunt_version: String,
    /// The manifest's path, and a digest of its text: the gate refuses to
    /// merge reports of different manifests.
    pub manifest: String,
    #[serde(default)]
    pub manifest_digest: String,
    /// The commit the run was made at, when the repository is a git checkout.
    #[serde(default)]
    pub commit: Option<String>,
    pub budget: String,
    pub seed: u64,
    #[serde(default)]
    pub shard: Option<Shard>,
    /// `--changed-since REF`: the run hunted only what changes since REF
    /// could affect (the gate must be given the same REF).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed_since: Option<String>,
    pub require_all: bool,
    pub started_unix: u64,
    pub elapsed_ms: u64,
    pub run_dir: String,
    pub detectors: Vec<String>,
    pub targets: Vec<TargetReport>,
    pub cells: Vec<CellReport>,
    pub not_planned: Vec<NotPlanned>,
    pub summary: Summary,
    /// The baseline the cells were graded with, when the manifest names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<BaselineStatus>,
    /// How busy the machine's cores were kept by this run (a gate's merged
    /// report has none: its hunts ran on other machines).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
}

/// The CPU time race-hunt and everything it started used, against what the
/// machine's cores could have given over the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    /// Cores this machine offers the run (`available_parallelism`).
    pub cores: usize,
    /// The run's wall time.
    pub wall_ms: u64,
    /// User and system CPU time of race-hunt and of every process it
    /// started (builds, runners, nextest, tests), in milliseconds.
    pub busy_core_ms: u64,
    /// Wall time spent provisioning and building before the first cell.
    pub build_ms: u64,
}

impl Usage {
    /// `busy_core_ms / (cores * wall_ms)`: 1.0 is every core busy all along.
    pub fn utilization(&self) -> f64 {
        self.busy_core_ms as f64 / (self.cores.max(1) as f64 * self.wall_ms.max(1) as f64)
    }
}

impl Report {
    /// Parse a report, refusing other schemas.
    pub fn from_json(text: &str) -> Result<Report, String> {
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        match value.get("schema").and_then(|s| s.as_str()) {
            Some(SCHEMA) => {}
            Some(other) => return Err(format!("schema `{other}`, expected `{SCHEMA}`")),
            None => return Err(format!("no `schema` field (expected `{SCHEMA}`)")),
        }
        serde_json::from_value(value).map_err(|e| format!("not a {SCHEMA} report: {e}"))
    }

    /// The cell `fixture/variant` for `detector` on target short name `target`.
    pub fn cell(&self, fixture_variant: &str, detector: &str, target: &str) -> Option<&CellReport> {
        let (f, v) = fixture_variant.split_once('/')?;
        self.cells
            .iter()
            .find(|c| c.fixture == f && c.variant == v && c.detector == detector && c.target_name == target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_the_serde_names() {
        for o in [Outcome::Detected, Outcome::Clean, Outcome::Hang, Outcome::Skipped, Outcome::Error, Outcome::NotRun] {
            assert_eq!(serde_json::to_value(o).unwrap(), o.word());
        }
        for c in BugClass::ALL {
            assert_eq!(serde_json::to_value(c).unwrap(), c.word());
            assert_eq!(BugClass::from_word(c.word()), Some(c));
        }
        assert_eq!(serde_json::to_value(EvidenceKind::MiriUb).unwrap(), "miri-ub");
        assert_eq!(serde_json::to_value(Verdict::NotRun).unwrap(), "not-run");
        assert_eq!(serde_json::to_value(Gate::MissingPrerequisites).unwrap(), "missing-prerequisites");
    }

    #[test]
    fn other_schemas_are_refused() {
        assert!(Report::from_json("{\"schema\":\"race-hunt/v0\"}").unwrap_err().contains("race-hunt/v0"));
        assert!(Report::from_json("{}").unwrap_err().contains("no `schema`"));
        assert!(Report::from_json("[").unwrap_err().starts_with("not JSON"));
    }
}
