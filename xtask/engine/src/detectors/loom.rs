//! `loom`: exhaustive exploration of the scenario's interleavings within a
//! preemption bound, over loom's models of threads, locks, atomics (with
//! `Relaxed` reorderings) and `UnsafeCell` (whose concurrent accesses it
//! reports). Build: `--cfg loom -C debug-assertions`, release (tokio's
//! loom CI recipe).
//!
//! The runner's command line is the whole budget: `--preemptions` (2 at the
//! standard budget, 3 at soak; each step multiplies the executions: the
//! fixed bank CAS variant explores 138 executions at 2 and 332 at 3),
//! `--max-branches`, `--seconds`. An exploration a limit cut short is an
//! `error` naming the limit, never `clean`. On a failure the runner leaves
//! loom's checkpoint of exactly the failing execution; the replay reruns it.

use std::path::Path;
use std::time::Duration;

use race_hunt_report::{Evidence, EvidenceKind};

use crate::budget::read_timeout;
use crate::builds::BuildSpec;
use crate::cell::{Cell, Subject, SuiteCell};
use crate::detector::{interpret_runner, on_target, replay_command, Detector, Finished, Kind, SuiteHunter};
use crate::invocation::{Artifact, Env, Invocation, Replay};
use crate::knobs::{KnobError, Knobs};
use crate::nextest::{self, FailedTest, Flavor, SuitePlan};
use crate::outcome::Outcome;
use crate::target::Target;

pub const KIND: Kind = Kind { name: "loom", configure, suite_cfg: Some("loom"), proof: &[EvidenceKind::LoomFailure] };

fn configure(_: &Knobs<'_>, b: &Knobs<'_>) -> Result<Box<dyn Detector>, KnobError> {
    let preemptions = b.count("preemptions", 255)?.unwrap_or(2);
    let max_branches = b.count("max-branches", 1_000_000)?.unwrap_or(1_000);
    let seconds = b.required_seconds("seconds")?;
    let timeout = read_timeout(b, seconds)?;
    Ok(Box::new(Loom { preemptions, max_branches, seconds, timeout }))
}

pub struct Loom {
    preemptions: u64,
    max_branches: u64,
    /// The exploration's time limit (reached: an `error`, not `clean`).
    seconds: f64,
    timeout: f64,
}

impl Loom {
    fn flags(&self) -> &'static [&'static str] {
        &["--cfg", "loom", "-C", "debug-assertions"]
    }
}

impl Detector for Loom {
    fn name(&self) -> &'static str {
        KIND.name
    }

    fn supports(&self, target: &Target) -> Result<(), String> {
        if target.native {
            Ok(())
        } else {
            Err("loom explores schedules in its own model of memory, not hardware: its results do not depend on the target, so it runs natively only".into())
        }
    }

    fn cores(&self) -> usize {
        // loom runs one modelled thread at a time.
        1
    }

    fn build(&self, target: &Target, env: &Env<'_>) -> BuildSpec {
        BuildSpec::runner(KIND.name, target, env, self.flags(), &[])
    }

    fn invocations(
        &self,
        cell: &Cell,
        artifact: &Artifact,
        _: &Env<'_>,
        cell_dir: &Path,
        replay: Option<&Replay>,
    ) -> Vec<Invocation> {
        let binary = artifact.binary.as_deref().expect("a runner build has a binary");
        let timeout = Duration::from_secs_f64(self.timeout);
        let args: Vec<String> = match replay.and_then(|r| r.file.as_ref()) {
            Some(file) => vec![
                "replay".into(),
                cell.fixture_variant(),
                file.clone(),
                "--max-branches".into(),
                self.max_branches.to_string(),
            ],
            None => vec![
                "run".into(),
                cell.fixture_variant(),
                "--preemptions".into(),
                self.preemptions.to_string(),
                "--max-branches".into(),
                self.max_branches.to_string(),
                "--seconds".into(),
                self.seconds.to_string(),
                "--checkpoint-dir".into(),
                cell_dir.display().to_string(),
            ],
        };
        let label = if replay.is_some() { "replay" } else { "" };
        vec![Invocation {
            argv: on_target(&cell.target, binary, args),
            env: Vec::new(),
            label: label.into(),
            timeout,
            unset: Vec::new(),
        }]
    }

    fn interpret(&self, done: &Finished<'_>) -> Outcome {
        let mut outcome = interpret_runner(done);
        if let (Outcome::Detected(e), Some(r)) = (&mut outcome, &done.result) {
            e.kind = EvidenceKind::LoomFailure;
            e.replay_file = r.checkpoint_file.clone();
            if let Some(args) = &r.replay_args {
                // The same binary, then the arguments loom's runner gave.
                let mut argv: Vec<String> =
                    done.invocation.argv.iter().take_while(|w| *w != "run" && *w != "replay").cloned().collect();
                argv.extend(args.iter().cloned());
                e.replay = replay_command(&[], &argv, done.env.root);
            }
        }
        outcome
    }

    fn suites(&self) -> Option<&dyn SuiteHunter> {
        Some(self)
    }
}

impl SuiteHunter for Loom {
    /// Only a suite that declares `cfgs = ["loom"]`: its `#[cfg(loom)]`
    /// tests, built with `--cfg loom` (tokio's convention).
    fn hunts_suite(&self, suite: &SuiteCell, target: &Target) -> Result<(), String> {
        self.supports(target)?;
        if suite.cfgs.iter().any(|c| c == "loom") {
            Ok(())
        } else {
            Err(format!(
                "suite `{}` declares no loom tests (add `cfgs = [\"loom\"]` if it has #[cfg(loom)] tests)",
                suite.name
            ))
        }
    }

    fn suite_plan(&self, _: &SuiteCell, _: &Target, _: &Env<'_>) -> SuitePlan {
        SuitePlan {
            flavor: Flavor {
                dir: "suites-loom".into(),
                cargo_args: vec!["--release".into()],
                rustflags: self.flags().iter().map(|s| s.to_string()).collect(),
                env: vec![
                    ("LOOM_MAX_PREEMPTIONS".into(), self.preemptions.to_string()),
                    ("LOOM_MAX_BRANCHES".into(), self.max_branches.to_string()),
                ],
                ..Flavor::default()
            },
            // loom explores exhaustively: one run is the whole budget.
            run_args: Vec::new(),
            timeout: Duration::from_secs_f64(self.timeout),
            test_timeout: self.seconds,
            reruns: 0,
        }
    }

    /// A test that fails under loom failed in an execution loom chose.
    fn suite_evidence(&self, done: &Finished<'_>, failed: Option<&FailedTest>) -> Option<Evidence> {
        let t = failed.filter(|t| t.status != "TIMEOUT")?;
        let Subject::Suite(suite) = &done.cell.subject else { return None };
        Some(nextest::evidence(EvidenceKind::LoomFailure, t, suite, done.replay(), done.env.root))
    }
}
