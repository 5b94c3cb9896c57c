//! `chaos`: `stress` with the facade's seeded schedule noise (`--cfg
//! race_chaos`): random yields and short spins at every sync point and
//! cell access, so narrow check-then-act windows open. Its own column so
//! the matrix shows what noise adds over plain stress. The seed is in the
//! evidence; the replay starts at the failing iteration, whose noise
//! stream is derived from (seed, iteration).

use std::path::Path;

use race_hunt_report::EvidenceKind;

use crate::budget::Loop;
use crate::builds::BuildSpec;
use crate::cell::{Cell, SuiteCell};
use crate::detector::{Detector, Kind, SuiteHunter};
use crate::detectors::stress::{real_thread_run, suite_stress_plan};
use crate::invocation::{Artifact, Env, Invocation, Replay};
use crate::knobs::{KnobError, Knobs};
use crate::nextest::SuitePlan;
use crate::target::Target;

pub const KIND: Kind = Kind {
    name: "chaos",
    configure,
    suite_cfg: None,
    proof: &[EvidenceKind::OracleViolation, EvidenceKind::Panic, EvidenceKind::CrashSignal, EvidenceKind::TestFailure],
};

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

    fn suites(&self) -> Option<&dyn SuiteHunter> {
        Some(self)
    }
}

impl SuiteHunter for Chaos {
    /// Ordinary code has no facade to put noise into. What measurably
    /// raises the catch rate of its logic races over plain stress is the
    /// opposite of noise: cores nobody else takes. So for suites, chaos is
    /// stress at real-time priority (`chrt -r 1` as nextest's target
    /// runner, one test at a time): 97-100% of iterations failed against
    /// 10-28% for plain stress on a loaded 2-core machine, while CPU hogs,
    /// `nice`, extra copies and pinning lowered the rate
    /// (fixtures/suites/README.md, "chaos"). Needs root or CAP_SYS_NICE.
    fn hunts_suite(&self, _: &SuiteCell, target: &Target) -> Result<(), String> {
        if !target.native {
            return Err("real-time priority needs the tests on this host's cores, not under an emulator".into());
        }
        let ok = std::process::Command::new("chrt")
            .args(["-r", "1", "true"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            Ok(())
        } else {
            Err("`chrt -r 1` is not permitted here (suites' chaos runs tests at real-time priority: it needs root or CAP_SYS_NICE)".into())
        }
    }

    fn suite_plan(&self, _: &SuiteCell, target: &Target, _: &Env<'_>) -> SuitePlan {
        let mut plan = suite_stress_plan(&self.budget, "suites-release");
        plan.run_args.extend(["--test-threads".into(), "1".into()]);
        plan.flavor.env.push((crate::target::env_key(&target.triple, "RUNNER"), "chrt -r 1".into()));
        plan
    }
}
