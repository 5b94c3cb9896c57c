//! `chaos`: `stress` with the facade's seeded schedule noise (`--cfg
//! race_chaos`): random yields and short spins at every sync point and
//! cell access, so narrow check-then-act windows open. Its own column so
//! the matrix shows what noise adds over plain stress. The seed is in the
//! evidence; the replay starts at the failing iteration, whose noise
//! stream is derived from (seed, iteration).

use std::path::Path;

use crate::budget::Loop;
use crate::builds::BuildSpec;
use crate::detector::{Artifact, Detector, Env, Invocation, Kind, Replay};
use crate::detectors::stress::real_thread_run;
use crate::knobs::{KnobError, Knobs};
use crate::plan::Cell;
use crate::target::Target;

pub const KIND: Kind = Kind { name: "chaos", configure, suite_cfg: None };

fn configure(_: &Knobs<'_>, budget: &Knobs<'_>) -> Result<Box<dyn Detector>, KnobError> {
    Ok(Box::new(Chaos { budget: Loop::read(budget)? }))
}

pub struct Chaos {
    budget: Loop,
}

impl Detector for Chaos {
    fn name(&self) -> &'static str {
        KIND.name
    }

    fn build(&self, target: &Target, env: &Env<'_>) -> BuildSpec {
        BuildSpec::runner(KIND.name, target, env, &["--cfg", "race_chaos"], &[])
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

    fn needs_parallelism(&self) -> bool {
        true
    }
}
