//! The `Detector` trait and the registry of detectors.
//!
//! Architecture invariant: one file per detector under `detectors/`, each
//! owning its build flags, runtime environment and output parsing. A
//! detector reports an [`Outcome`]; it never decides pass or fail (that is
//! `grade::grade`, one function).

use std::path::{Path, PathBuf};

use crate::budget::Budget;
use crate::builds::BuildSpec;
use crate::outcome::{Evidence, Outcome};
use crate::plan::Cell;
use crate::process::Exit;
use crate::provision::Prerequisite;
use crate::runner_result::RunnerResult;
use crate::shell;
use crate::target::Target;

/// Detector names the manifest may use, in matrix column order.
pub const KNOWN: &[&str] = &["stress", "chaos", "shuttle", "tsan"];

/// Everything a detector may consult while planning and running.
pub struct Context<'a> {
    pub seed: u64,
    pub nightly: &'a str,
    pub root: &'a Path,
    pub tsan_suppressions: Option<&'a Path>,
}

/// One process to start for a cell.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// Arguments after the runner binary.
    pub args: Vec<String>,
    /// Extra environment for the child.
    pub env: Vec<(String, String)>,
    /// A word for the log ("random", "pct", ...), empty when there is one.
    pub label: String,
}

/// What came back from one invocation.
pub struct Finished<'a> {
    pub cell: &'a Cell,
    pub exit: Exit,
    pub log: &'a Path,
    pub log_text: &'a str,
    pub result: Option<RunnerResult>,
    /// The exact command line that was run (for replays).
    pub command: Vec<String>,
}

pub trait Detector: Send + Sync {
    fn name(&self) -> &'static str;

    /// Check a `[budgets.LEVEL.<this>]` table. Default: a real-thread loop's
    /// budget (`iterations`, `seconds`, `timeout`, `ops`).
    fn budget(&self, knobs: &toml::Table) -> Result<Budget, String> {
        crate::budget::parse(knobs, "iterations", &["ops"])
    }

    /// `Err(reason)` when this detector cannot run on `target` at all: the
    /// cells are not planned and the matrix shows the reason. Default: every
    /// target.
    fn supports(&self, target: &Target) -> Result<(), String> {
        let _ = target;
        Ok(())
    }

    /// What must be installed before building for `target`.
    fn prerequisites(&self, target: &Target, ctx: &Context<'_>) -> Vec<Prerequisite> {
        let _ = ctx;
        target.prerequisites(None)
    }

    /// How to build the scenario runner for this detector on `target`.
    fn build(&self, target: &Target, ctx: &Context<'_>) -> BuildSpec;

    /// The processes to run for one cell, in order; the cell stops at the
    /// first detection. Default: one real-thread run of the runner.
    fn invocations(&self, cell: &Cell, budget: &Budget, ctx: &Context<'_>, cell_dir: &Path) -> Vec<Invocation> {
        let _ = cell_dir;
        vec![Invocation { args: run_args(cell, budget, ctx.seed), env: Vec::new(), label: String::new() }]
    }

    /// Turn one finished invocation into an outcome.
    fn interpret(&self, done: &Finished<'_>) -> Outcome {
        interpret_runner(done)
    }

    /// Cores one cell of this detector keeps busy. Cells run in parallel
    /// only while their cores fit on the machine: two real-thread cells
    /// sharing two cores would time-slice their workers and hide the very
    /// overlap a stress loop needs.
    fn cores(&self) -> usize {
        facade_workers()
    }

    /// Rerun a finished invocation differently (TSan's ASLR retry), or `None`.
    fn retry(&self, done: &Finished<'_>) -> Option<(Vec<String>, String)> {
        let _ = done;
        None
    }
}

/// Worker threads of a real-thread scenario (`facade::Params::STRESS`).
pub fn facade_workers() -> usize {
    2
}

pub fn all() -> Vec<Box<dyn Detector>> {
    vec![
        Box::new(crate::detectors::stress::Stress),
        Box::new(crate::detectors::chaos::Chaos),
        Box::new(crate::detectors::shuttle::Shuttle),
        Box::new(crate::detectors::tsan::Tsan),
    ]
}

pub fn by_name(name: &str) -> Option<Box<dyn Detector>> {
    all().into_iter().find(|d| d.name() == name)
}

/// Manifest check hook: is `knobs` a valid budget for `detector`?
pub fn check_budget(detector: &str, knobs: &toml::Table) -> Result<(), String> {
    by_name(detector).ok_or_else(|| format!("unknown detector `{detector}`"))?.budget(knobs).map(|_| ())
}

/// The common arguments of a real-thread run of the runner.
pub fn run_args(cell: &Cell, budget: &Budget, seed: u64) -> Vec<String> {
    let mut args = vec![
        "run".into(),
        format!("{}/{}", cell.fixture, cell.variant),
        "--iterations".into(),
        budget.iterations.to_string(),
        "--seconds".into(),
        budget.seconds.to_string(),
        "--seed".into(),
        seed.to_string(),
    ];
    if let Some(ops) = budget.ops {
        args.extend(["--ops".into(), ops.to_string()]);
    }
    args
}

/// The shared reading of a runner's exit: its result line, a crash signal,
/// a hang, or an error.
pub fn interpret_runner(done: &Finished<'_>) -> Outcome {
    let replay = shell::join(&done.command);
    match (&done.exit, &done.result) {
        (Exit::TimedOut(after), _) => Outcome::Detected(Evidence {
            kind: "hang".into(),
            message: format!("no result after {:.0}s: the scenario hung (deadlock or livelock)", after.as_secs_f64()),
            location: None,
            replay,
            details: serde_json::json!({ "log": done.log }),
        }),
        (Exit::Signal(sig), _) => Outcome::Detected(Evidence {
            kind: "crash-signal".into(),
            message: format!("the scenario process was killed by signal {sig} ({})", signal_name(*sig)),
            location: None,
            replay,
            details: serde_json::json!({ "signal": sig, "log": done.log }),
        }),
        (Exit::Interrupted, _) => Outcome::Error("interrupted".into()),
        (Exit::Code(_), Some(r)) if r.detected => Outcome::Detected(Evidence {
            kind: match r.kind.as_deref() {
                Some("oracle") => "oracle-violation".into(),
                Some(other) => other.to_string(),
                None => "unknown".into(),
            },
            message: r.message.clone().unwrap_or_default(),
            location: None,
            replay: replay_from(done, r),
            details: r.details(),
        }),
        (Exit::Code(0), Some(_)) => Outcome::Clean,
        (Exit::Code(code), _) => Outcome::Error(format!(
            "the runner exited with code {code} without a result line; see {}",
            done.log.display()
        )),
    }
}

/// A replay command for a real-thread detection: the same command starting
/// at the iteration that failed, so the noise seed of that iteration (when
/// noise is on) comes first.
fn replay_from(done: &Finished<'_>, r: &RunnerResult) -> String {
    let mut command = done.command.clone();
    if let Some(i) = r.iteration {
        command.push("--start".into());
        command.push(i.to_string());
    }
    shell::join(&command)
}

pub fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGILL => "SIGILL",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGTERM => "SIGTERM",
        _ => "signal",
    }
}

/// Where a cell's files live.
pub fn cell_dir(run_dir: &Path, cell: &Cell) -> PathBuf {
    run_dir.join(&cell.fixture).join(&cell.variant).join(format!("{}@{}", cell.detector, cell.target.name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn cell() -> Cell {
        crate::plan::test_cell("counter", "racy-unsync", "stress")
    }

    fn interpret(exit: Exit, text: &str) -> Outcome {
        let c = cell();
        let command: Vec<String> = ["runner", "run", "counter/racy-unsync", "--seed", "5"].map(String::from).to_vec();
        interpret_runner(&Finished {
            cell: &c,
            exit,
            log: Path::new("output.log"),
            log_text: text,
            result: RunnerResult::find(text),
            command,
        })
    }

    const DETECTED: &str = "RACE-HUNT-RESULT {\"outcome\":\"detected\",\"kind\":\"oracle\",\"message\":\"lost 3 of 4 increments\",\"attempts\":7,\"elapsed_ms\":2,\"iteration\":6,\"seed\":5}\n";
    const CLEAN: &str =
        "RACE-HUNT-RESULT {\"outcome\":\"clean\",\"kind\":null,\"message\":null,\"attempts\":9,\"elapsed_ms\":2}\n";

    #[test]
    fn an_oracle_violation_replays_from_the_failing_iteration() {
        let Outcome::Detected(e) = interpret(Exit::Code(0), DETECTED) else { panic!() };
        assert_eq!(e.kind, "oracle-violation");
        assert_eq!(e.message, "lost 3 of 4 increments");
        assert_eq!(e.replay, "runner run counter/racy-unsync --seed 5 --start 6");
        assert_eq!(e.details["seed"], 5);
    }

    #[test]
    fn hangs_crashes_and_silent_exits_are_told_apart() {
        let Outcome::Detected(hang) = interpret(Exit::TimedOut(Duration::from_secs(38)), "") else { panic!() };
        assert_eq!(hang.kind, "hang");
        assert!(hang.message.contains("no result after 38s"), "{}", hang.message);
        let Outcome::Detected(crash) = interpret(Exit::Signal(libc::SIGSEGV), "") else { panic!() };
        assert_eq!(crash.kind, "crash-signal");
        assert!(crash.message.contains("SIGSEGV"));
        assert!(
            matches!(interpret(Exit::Code(101), "thread main panicked"), Outcome::Error(m) if m.contains("exited with code 101"))
        );
        assert_eq!(interpret(Exit::Interrupted, CLEAN), Outcome::Error("interrupted".into()));
        assert_eq!(interpret(Exit::Code(0), CLEAN), Outcome::Clean);
    }
}
