//! The `Detector` trait, its optional suite capability (`SuiteHunter`,
//! which a detector offers through `Detector::suites`), and what detectors
//! share (the registry of them is `detectors::kinds`).
//!
//! Architecture invariant: one file per detector under `detectors/`, each
//! owning its settings and typed budget (read from its manifest tables),
//! its build, its programs and environment, and the parsing of its output.
//! No other module names a detector. A detector reports an [`Outcome`]; it
//! never decides pass or fail (that is `grade::grade`, one function).

use std::path::Path;

use race_hunt_report::{Evidence, EvidenceKind, RunnerKind, RunnerOutcome, RunnerResult};

use crate::builds::BuildSpec;
use crate::cell::{Cell, SuiteCell};
use crate::invocation::{Artifact, Env, Invocation, Replay};
use crate::knobs::{KnobError, Knobs};
use crate::nextest::{FailedTest, SuitePlan};
use crate::outcome::Outcome;
use crate::prerequisite::Prerequisite;
use crate::process::Exit;
use crate::shell;
use crate::target::Target;

/// What came back from one invocation.
pub struct Finished<'a> {
    pub cell: &'a Cell,
    pub exit: Exit,
    pub log: &'a Path,
    pub log_text: &'a str,
    pub result: Option<RunnerResult>,
    /// The invocation that was run (after any retry prefix).
    pub invocation: &'a Invocation,
    pub env: &'a Env<'a>,
}

impl Finished<'_> {
    /// The invocation as a shell command from the project root.
    pub fn replay(&self) -> String {
        replay_command(&self.invocation.env, &self.invocation.argv, self.env.root)
    }
}

pub trait Detector: Send + Sync {
    fn name(&self) -> &'static str;

    /// `Err(reason)` when this detector cannot run on `target` at all: the
    /// cells are not planned and the matrix shows the reason.
    fn supports(&self, target: &Target) -> Result<(), String> {
        let _ = target;
        Ok(())
    }

    /// What must be installed before building for `target`.
    fn prerequisites(&self, target: &Target, env: &Env<'_>) -> Vec<Prerequisite> {
        let _ = env;
        target.prerequisites(None)
    }

    /// How to build for this detector on `target`.
    fn build(&self, target: &Target, env: &Env<'_>) -> BuildSpec;

    /// The processes to run for one cell, in order; the cell stops at the
    /// first detection. With `replay`, the processes that rerun one detection.
    fn invocations(
        &self,
        cell: &Cell,
        artifact: &Artifact,
        env: &Env<'_>,
        cell_dir: &Path,
        replay: Option<&Replay>,
    ) -> Vec<Invocation>;

    /// Turn one finished invocation into an outcome.
    fn interpret(&self, done: &Finished<'_>) -> Outcome {
        interpret_runner(done)
    }

    /// Cores one cell keeps busy. Cells run in parallel only while their
    /// cores fit on the machine: two real-thread cells sharing two cores
    /// would time-slice their workers and hide the very overlap they need.
    fn cores(&self) -> usize {
        facade_workers()
    }

    /// Rerun a finished invocation with this program prefix and note
    /// (TSan's ASLR retry), or `None`.
    fn retry(&self, done: &Finished<'_>) -> Option<(Vec<String>, String)> {
        let _ = done;
        None
    }

    /// Whether the target's litmus probe may run from this detector's build
    /// (a plain real-thread build of the runner).
    fn hosts_probe(&self) -> bool {
        false
    }

    /// Whether this detector's findings depend on threads really running at
    /// the same time: its clean cells are weak on a starved machine.
    fn needs_parallelism(&self) -> bool {
        false
    }

    /// How this detector hunts suites (a package's own tests through
    /// cargo-nextest), if it does. `None`: no suite is planned for it, for
    /// [`Detector::no_suites`]'s reason.
    fn suites(&self) -> Option<&dyn SuiteHunter> {
        None
    }

    /// Why a detector without [`Detector::suites`] hunts no suite: the
    /// reason `suite`'s pairs with it are "not planned".
    fn no_suites(&self, suite: &SuiteCell) -> String {
        let _ = suite;
        format!("{} runs the lesson's fixture scenarios, not a package's own tests", self.name())
    }
}

/// A detector's suite capability (see [`Detector::suites`]): which suites
/// it hunts, how it builds and runs their tests, and how it reads a run.
pub trait SuiteHunter {
    /// Whether this detector can hunt `suite` (a package's ordinary tests)
    /// on `target`; `Err(reason)` makes the pair "not planned" for it.
    fn hunts_suite(&self, suite: &SuiteCell, target: &Target) -> Result<(), String> {
        let _ = (suite, target);
        Ok(())
    }

    /// How to build and run `suite`'s tests (called only where
    /// [`SuiteHunter::hunts_suite`] said yes).
    fn suite_plan(&self, suite: &SuiteCell, target: &Target, env: &Env<'_>) -> SuitePlan;

    /// The detector's own mechanism's evidence in a suite run's output (a
    /// ThreadSanitizer or Miri report), if it printed one; `failed` is the
    /// test nextest saw fail, if any. `None`: only the tests themselves
    /// failed, which is a `test-failure` under this detector.
    fn suite_evidence(&self, done: &Finished<'_>, failed: Option<&FailedTest>) -> Option<Evidence> {
        let _ = (done, failed);
        None
    }

    /// Why a suite run could not hunt at all, if the detector's own tool
    /// said so (Miri's "unsupported operation": an interpreter limit, never
    /// a detection): the cell is an `error` with this message, which says
    /// how to exclude the test. `None`: read the run as usual.
    fn suite_error(&self, done: &Finished<'_>, failed: Option<&FailedTest>) -> Option<String> {
        let _ = (done, failed);
        None
    }

    /// The environment that replays one failing test of a suite run with
    /// `vars`, given the detection's seed (Miri replays exactly that seed).
    fn suite_replay_vars(&self, vars: &[(String, String)], seed: Option<u64>) -> Vec<(String, String)> {
        let _ = seed;
        vars.to_vec()
    }
}

/// Whether `detector` hunts `suite` on `target`: `Err(reason)` makes the
/// pair "not planned" for it.
pub fn hunts_suite(detector: &dyn Detector, suite: &SuiteCell, target: &Target) -> Result<(), String> {
    match detector.suites() {
        Some(hunter) => hunter.hunts_suite(suite, target),
        None => Err(detector.no_suites(suite)),
    }
}

/// A registry entry: a detector's name and how to configure it from its
/// manifest tables (`[detectors.NAME]` settings, `[budgets.LEVEL.NAME]`).
pub struct Kind {
    pub name: &'static str,
    pub configure: Configure,
    /// The cfg a suite declares (`cfgs = [...]`) when its tests are written
    /// for this detector (tokio's `#[cfg(loom)]` convention), if any.
    pub suite_cfg: Option<&'static str>,
    /// The evidence kinds of this detector's own mechanism: a racy canary
    /// proves the column only when caught by one of these (an oracle that
    /// fails in the TSan build does not prove ThreadSanitizer works).
    pub proof: &'static [EvidenceKind],
}

/// A configured detector shows as its name.
impl std::fmt::Debug for dyn Detector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Read `[detectors.NAME]` (settings) and `[budgets.LEVEL.NAME]` (budget).
pub type Configure = fn(settings: &Knobs<'_>, budget: &Knobs<'_>) -> Result<Box<dyn Detector>, KnobError>;

/// Worker threads of a real-thread scenario (`facade::Params::STRESS`).
pub fn facade_workers() -> usize {
    2
}

/// `target`'s runner prefix (qemu), then `program` and `args`.
pub fn on_target(target: &Target, program: &Path, args: Vec<String>) -> Vec<String> {
    let mut argv = target.runner_prefix();
    argv.push(program.display().to_string());
    argv.extend(args);
    argv
}

/// The common arguments of a real-thread run of the runner.
pub fn loop_args(cell: &Cell, budget: &crate::budget::Loop, seed: u64, replay: Option<&Replay>) -> Vec<String> {
    let mut args = vec!["run".into(), cell.fixture_variant(), "--seconds".into(), budget.seconds.to_string()];
    if let Some(n) = budget.iterations {
        args.extend(["--iterations".into(), n.to_string()]);
    }
    args.extend(["--seed".into(), replay.map_or(seed, |r| r.seed).to_string()]);
    if let Some(start) = replay.and_then(|r| r.start) {
        args.extend(["--start".into(), start.to_string()]);
    }
    if let Some(ops) = budget.ops {
        args.extend(["--ops".into(), ops.to_string()]);
    }
    args
}

/// A shell command (sh or bash) that runs `argv` with `env` from `root`:
/// `NAME='value' program args`, the program's path relative to `root`
/// when it lives under it.
pub fn replay_command(env: &[(String, String)], argv: &[String], root: &Path) -> String {
    let mut words: Vec<String> = env.iter().map(|(k, v)| format!("{k}={}", shell::quote(v))).collect();
    for w in argv {
        let rel = Path::new(w).strip_prefix(root).ok().filter(|_| Path::new(w).is_absolute());
        let w = match rel {
            Some(r) if !r.as_os_str().is_empty() => r.display().to_string(),
            _ => w.clone(),
        };
        words.push(shell::quote(&w));
    }
    words.join(" ")
}

/// The `cargo xtask race-hunt replay ...` line of a detection.
pub fn replay_xtask(env: &Env<'_>, cell: &Cell, replay: &Replay) -> String {
    let mut words: Vec<String> = env.command.split_whitespace().map(str::to_string).collect();
    words.extend(["race-hunt".into(), "replay".into(), cell.id()]);
    let manifest = env.manifest.strip_prefix(env.root).unwrap_or(env.manifest);
    if manifest != Path::new("race-hunt.toml") {
        words.extend(["--manifest".into(), manifest.display().to_string()]);
    }
    if env.budget != "standard" {
        words.extend(["--budget".into(), env.budget.to_string()]);
    }
    words.extend(["--seed".into(), replay.seed.to_string()]);
    if let Some(s) = replay.start {
        words.extend(["--start".into(), s.to_string()]);
    }
    if let Some(f) = &replay.file {
        let f = Path::new(f).strip_prefix(env.root).map_or(f.clone(), |p| p.display().to_string());
        words.extend(["--file".into(), f]);
    }
    if let Some(t) = &replay.test {
        words.extend(["--test".into(), t.clone()]);
    }
    shell::join(&words)
}

/// The shared reading of a runner's exit: its result line, a crash signal
/// of its own, a kill from outside, a hang, or an error.
pub fn interpret_runner(done: &Finished<'_>) -> Outcome {
    let replay = done.replay();
    match (&done.exit, &done.result) {
        (Exit::TimedOut(after), _) => Outcome::Hang(Evidence::new(
            EvidenceKind::Hang,
            format!("no result after {:.0}s: the program hung (a deadlock, a livelock, or far too slow)", after.as_secs_f64()),
            replay,
        )),
        (Exit::Stopped(sig), _) => Outcome::NotRun(format!("stopped by {} before the cell finished", crate::process::signal_name(*sig))),
        (Exit::Signal(sig), _) if is_outside_kill(*sig) => Outcome::Error(format!(
            "the program was killed by signal {sig} ({}) from outside (the OOM killer, a cancel, a user): not a detection; see {}",
            crate::process::signal_name(*sig),
            done.log.display()
        )),
        (Exit::Signal(sig), _) => {
            let mut e = Evidence::new(
                EvidenceKind::CrashSignal,
                format!("the program crashed with signal {sig} ({})", crate::process::signal_name(*sig)),
                replay,
            );
            e.seed = Some(done.env.seed);
            Outcome::Detected(e)
        }
        (Exit::Code(code), Some(r)) => match r.outcome {
            RunnerOutcome::Detected => {
                let kind = match r.kind {
                    Some(RunnerKind::Oracle) | None => EvidenceKind::OracleViolation,
                    Some(RunnerKind::Panic) => EvidenceKind::Panic,
                    Some(RunnerKind::Shuttle) => EvidenceKind::ShuttleFailure,
                    Some(RunnerKind::Loom) => EvidenceKind::LoomFailure,
                    Some(RunnerKind::Limit) => {
                        return Outcome::Error(r.message.clone().unwrap_or_else(|| "a limit cut the run short".into()))
                    }
                };
                // A real-thread detection replays from the iteration that
                // failed, so that iteration's noise seed comes first.
                let replay = match r.iteration {
                    Some(i) => {
                        let mut argv = done.invocation.argv.clone();
                        argv.extend(["--start".to_string(), i.to_string()]);
                        replay_command(&done.invocation.env, &argv, done.env.root)
                    }
                    None => replay,
                };
                let mut e = Evidence::new(kind, r.message.clone().unwrap_or_default(), replay);
                e.location = r.location.clone();
                e.seed = r.seed;
                e.iteration = r.iteration;
                e.replay_file = r.replay_file.clone();
                Outcome::Detected(e)
            }
            RunnerOutcome::Error => Outcome::Error(r.message.clone().unwrap_or_else(|| "the runner gave up".into())),
            RunnerOutcome::Clean if *code == 0 => Outcome::Clean,
            RunnerOutcome::Clean => Outcome::Error(format!(
                "the runner reported clean but exited with code {code}; see {}",
                done.log.display()
            )),
        },
        (Exit::Code(code), None) => Outcome::Error(format!(
            "the program exited with code {code} without a result line; see {}",
            done.log.display()
        )),
    }
}

/// Signals that come from outside the program, never from a race in it.
pub fn is_outside_kill(sig: i32) -> bool {
    matches!(sig, libc::SIGKILL | libc::SIGTERM | libc::SIGINT | libc::SIGHUP | libc::SIGQUIT | libc::SIGPIPE)
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use std::time::Duration;

    pub fn env(root: &Path) -> Env<'_> {
        Env {
            seed: 5,
            nightly: "nightly",
            root,
            engine: root,
            builds: root,
            command: "cargo xtask",
            manifest: Path::new("/r/race-hunt.toml"),
            budget: "standard",
        }
    }

    fn interpret(exit: Exit, text: &str) -> Outcome {
        let c = crate::plan::test_cell("counter", "racy-unsync", "stress");
        let invocation = Invocation {
            argv: [
                "/r/target/race-hunt/build/stress/x/release/scenario-runner",
                "run",
                "counter/racy-unsync",
                "--seed",
                "5",
            ]
            .map(String::from)
            .to_vec(),
            env: vec![],
            label: String::new(),
            timeout: Duration::from_secs(9),
            unset: Vec::new(),
        };
        let root = Path::new("/r");
        let e = env(root);
        interpret_runner(&Finished {
            cell: &c,
            exit,
            log: Path::new("output.log"),
            log_text: text,
            result: RunnerResult::find(text),
            invocation: &invocation,
            env: &e,
        })
    }

    fn line(outcome: RunnerOutcome, kind: Option<RunnerKind>) -> String {
        let mut r = RunnerResult::new(outcome);
        r.kind = kind;
        r.message = Some("lost 3 of 4 increments".into());
        r.attempts = 7;
        r.iteration = Some(6);
        r.seed = Some(5);
        r.to_line()
    }

    #[test]
    fn an_oracle_violation_is_a_detection_with_seed_and_iteration() {
        let Outcome::Detected(e) = interpret(Exit::Code(0), &line(RunnerOutcome::Detected, Some(RunnerKind::Oracle)))
        else {
            panic!()
        };
        assert_eq!(e.kind, EvidenceKind::OracleViolation);
        assert_eq!(e.message, "lost 3 of 4 increments");
        assert_eq!(
            e.replay,
            "target/race-hunt/build/stress/x/release/scenario-runner run counter/racy-unsync --seed 5 --start 6"
        );
        assert_eq!((e.seed, e.iteration), (Some(5), Some(6)));
    }

    #[test]
    fn kills_from_outside_hangs_and_stops_are_never_detections() {
        for sig in [libc::SIGKILL, libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
            let o = interpret(Exit::Signal(sig), "");
            assert!(matches!(&o, Outcome::Error(m) if m.contains("from outside")), "{sig}: {o:?}");
        }
        assert!(
            matches!(interpret(Exit::TimedOut(Duration::from_secs(38)), ""), Outcome::Hang(e) if e.message.contains("no result after 38s"))
        );
        assert!(matches!(interpret(Exit::Stopped(libc::SIGTERM), ""), Outcome::NotRun(m) if m.contains("SIGTERM")));
        assert!(
            matches!(interpret(Exit::Code(101), "thread main panicked"), Outcome::Error(m) if m.contains("exited with code 101"))
        );
        assert!(matches!(interpret(Exit::Code(0), &line(RunnerOutcome::Error, None)), Outcome::Error(_)));
        assert!(matches!(interpret(Exit::Code(3), &line(RunnerOutcome::Clean, None)), Outcome::Error(_)));
        assert_eq!(interpret(Exit::Code(0), &line(RunnerOutcome::Clean, None)), Outcome::Clean);
    }

    #[test]
    fn a_crash_signal_of_the_program_itself_is_a_crash_signal_detection() {
        for sig in [libc::SIGSEGV, libc::SIGABRT, libc::SIGBUS] {
            let Outcome::Detected(e) = interpret(Exit::Signal(sig), "") else { panic!("{sig}") };
            assert_eq!(e.kind, EvidenceKind::CrashSignal);
            assert!(e.message.contains(crate::process::signal_name(sig)));
        }
    }

    #[test]
    fn replay_commands_assign_the_environment_before_the_program() {
        let env = vec![("TSAN_OPTIONS".to_string(), "halt_on_error=0 suppressions=/r/my dir/s.txt".to_string())];
        let argv: Vec<String> = ["/r/target/b/scenario-runner", "run", "x/y"].map(String::from).to_vec();
        assert_eq!(
            replay_command(&env, &argv, Path::new("/r")),
            "TSAN_OPTIONS='halt_on_error=0 suppressions=/r/my dir/s.txt' target/b/scenario-runner run x/y"
        );
        let qemu: Vec<String> =
            ["qemu-arm", "-L", "/usr/arm-linux-gnueabihf", "/r/t/runner", "run"].map(String::from).to_vec();
        assert_eq!(replay_command(&[], &qemu, Path::new("/r")), "qemu-arm -L /usr/arm-linux-gnueabihf t/runner run");
    }

    /// A detector without the suite capability hunts no suite, and says
    /// why in the words every such detector uses unless it has better ones.
    #[test]
    fn a_detector_without_the_suite_capability_hunts_no_suite() {
        struct FixturesOnly;
        impl Detector for FixturesOnly {
            fn name(&self) -> &'static str {
                "fixtures-only"
            }
            fn build(&self, _: &Target, _: &Env<'_>) -> BuildSpec {
                unreachable!()
            }
            fn invocations(
                &self,
                _: &Cell,
                _: &Artifact,
                _: &Env<'_>,
                _: &Path,
                _: Option<&Replay>,
            ) -> Vec<Invocation> {
                unreachable!()
            }
        }
        let m = crate::manifest::tests::repo_manifest();
        let (v, features) = &m.suites[0].variants[0];
        let suite = m.suites[0].cell(&v.name, features);
        let target = crate::plan::test_cell("counter", "racy-unsync", "fixtures-only").target;
        assert!(FixturesOnly.suites().is_none());
        assert_eq!(
            hunts_suite(&FixturesOnly, &suite, &target),
            Err("fixtures-only runs the lesson's fixture scenarios, not a package's own tests".to_string())
        );
    }

    #[test]
    fn the_registry_names_each_detector_once() {
        let mut names = crate::detectors::names();
        let n = names.len();
        names.dedup();
        assert_eq!(names.len(), n);
    }
}

/// Architecture invariant, checked: no code outside `detectors/` names a
/// detector (as a string literal or a path into its module).
#[cfg(test)]
mod no_names_outside {
    #[test]
    fn only_detectors_name_detectors() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut offenders = Vec::new();
        // `layers.rs` (all test code, whose table places
        // `detectors::tsan::bench`) is not read.
        for path in crate::layers::rust_files(&src, &[src.join("detectors")]) {
            if path == src.join("detectors.rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            // Only the code, not the tests at the bottom of a file.
            let code = text.split("#[cfg(test)]").next().unwrap_or("");
            for name in crate::detectors::names() {
                for needle in [format!("\"{name}\""), format!("detectors::{name}")] {
                    if code.contains(&needle) {
                        offenders.push(format!("{} names {needle}", path.display()));
                    }
                }
            }
        }
        assert!(offenders.is_empty(), "detector names outside detectors/: {offenders:#?}");
    }
}
