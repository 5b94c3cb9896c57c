//! `stress`: the scenario in a loop on real threads, release build, no
//! help: what a user's own loop test would see. Its build also hosts the
//! target's litmus probe.

use std::path::Path;

use crate::budget::Loop;
use crate::builds::BuildSpec;
use crate::detector::{loop_args, on_target, Artifact, Detector, Env, Invocation, Kind, Replay};
use crate::knobs::{KnobError, Knobs};
use crate::plan::Cell;
use crate::target::Target;

pub const KIND: Kind = Kind { name: "stress", configure };

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
    }]
}
