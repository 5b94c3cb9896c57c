//! `stress`: the scenario in a loop on real threads, release build, no
//! help: what a user's own loop test would see. Its build also hosts the
//! target's litmus probe.

use std::path::Path;

use race_hunt_report::EvidenceKind;

use crate::budget::Loop;
use crate::builds::BuildSpec;
use crate::cell::{Cell, SuiteCell};
use crate::detector::{loop_args, on_target, Detector, Kind, SuiteHunter};
use crate::invocation::{Artifact, Env, Invocation, Replay};
use crate::knobs::{KnobError, Knobs};
use crate::nextest::{Flavor, SuitePlan};
use crate::target::Target;

pub const KIND: Kind = Kind {
    name: "stress",
    configure,
    suite_cfg: None,
    proof: &[EvidenceKind::OracleViolation, EvidenceKind::Panic, EvidenceKind::CrashSignal, EvidenceKind::TestFailure],
};

fn configure(_: &Knobs<'_>, budget: &Knobs<'_>) -> Result<Box<dyn Detector>, KnobError> {
    Ok(Box::new(Stress { budget: Loop::read(budget)? }))
}

pub struct Stress {
    budget: Loop,
}

impl Detector for Stress {
    fn name(&self) -> &'static str {
        KIND.name
    }

    fn build(&self, target: &Target, env: &Env<'_>) -> BuildSpec {
        BuildSpec::runner(KIND.name, target, env, &[], &[])
    }

    fn invocations(
        &self,
        cell: &Cell,
        artifact: &Artifact,
        env: &Env<'_>,
        _: &Path,
        replay: Option<&Replay>,
    ) -> Vec<Invocation> {
        real_thread_run(cell, artifact, env, &self.budget, replay, Vec::new())
    }

    fn hosts_probe(&self) -> bool {
        true
    }

    fn needs_parallelism(&self) -> bool {
        true
    }

    fn suites(&self) -> Option<&dyn SuiteHunter> {
        Some(self)
    }
}

/// Every suite, on every target stress runs on.
impl SuiteHunter for Stress {
    /// The suite's tests repeated under nextest's stress mode, release
    /// build, on the target (under its qemu runner off the host).
    fn suite_plan(&self, _: &SuiteCell, _: &Target, _: &Env<'_>) -> SuitePlan {
        suite_stress_plan(&self.budget, "suites-release")
    }
}

/// The stress-mode plan of a real-thread budget.
pub fn suite_stress_plan(budget: &Loop, dir: &str) -> SuitePlan {
    SuitePlan {
        flavor: Flavor { dir: dir.into(), cargo_args: vec!["--release".into()], ..Flavor::default() },
        run_args: budget.stress_args(),
        timeout: budget.suite_timeout(),
        test_timeout: budget.test_timeout,
        reruns: 20,
    }
}

/// One real-thread run of the runner binary on the cell's target.
pub fn real_thread_run(
    cell: &Cell,
    artifact: &Artifact,
    env: &Env<'_>,
    budget: &Loop,
    replay: Option<&Replay>,
    vars: Vec<(String, String)>,
) -> Vec<Invocation> {
    let binary = artifact.binary.as_deref().expect("a runner build has a binary");
    vec![Invocation {
        argv: on_target(&cell.target, binary, loop_args(cell, budget, env.seed, replay)),
        env: vars,
        label: String::new(),
        timeout: budget.timeout(),
        unset: Vec::new(),
    }]
}
