//! `shuttle`: randomized schedules over shuttle's models of threads, locks
//! and atomics (`--cfg shuttle`). Half the budget runs the random
//! scheduler, half PCT (probabilistic concurrency testing, which targets
//! bugs of small depth); a racy cell stops at its first failing schedule.
//! Shuttle writes the failing schedule to a file in the cell's directory;
//! the replay feeds it back through `shuttle::replay_from_file`.
//!
//! What it cannot see: shuttle models every atomic as SeqCst (no
//! Relaxed reorderings) and does not watch plain memory, so a single
//! plain access is indivisible to it.

use std::path::Path;
use std::time::Duration;

use race_hunt_report::EvidenceKind;

use crate::budget::read_timeout;
use crate::builds::BuildSpec;
use crate::cell::{Cell, SuiteCell};
use crate::detector::{interpret_runner, on_target, Detector, Finished, Kind};
use crate::invocation::{Artifact, Env, Invocation, Replay};
use crate::knobs::{KnobError, Knobs};
use crate::outcome::Outcome;
use crate::target::Target;

pub const KIND: Kind = Kind { name: "shuttle", configure, suite_cfg: None, proof: &[EvidenceKind::ShuttleFailure] };

/// The most schedules a cell may ask for.
const MAX_SCHEDULES: u64 = 100_000_000;

fn configure(_: &Knobs<'_>, b: &Knobs<'_>) -> Result<Box<dyn Detector>, KnobError> {
    let schedules = b.required_count("schedules", MAX_SCHEDULES)?;
    let seconds = b.required_seconds("seconds")?;
    let pct_depth = b.count("pct-depth", 16)?.unwrap_or(3);
    let timeout = read_timeout(b, seconds)?;
    Ok(Box::new(Shuttle { schedules, seconds, pct_depth, timeout }))
}

pub struct Shuttle {
    /// Schedules per cell, split between the two schedulers.
    schedules: u64,
    seconds: f64,
    /// PCT's bug depth.
    pct_depth: u64,
    timeout: f64,
}

impl Detector for Shuttle {
    fn name(&self) -> &'static str {
        KIND.name
    }

    fn supports(&self, target: &Target) -> Result<(), String> {
        // Shuttle explores interleavings, which do not depend on the target:
        // running it under an emulator only costs time.
        if target.native {
            Ok(())
        } else {
            Err("shuttle explores schedules, not hardware: its results do not depend on the target, so it runs natively only".into())
        }
    }

    fn cores(&self) -> usize {
        // Shuttle runs one modelled thread at a time.
        1
    }

    /// Shuttle hunts no suite (no [`Detector::suites`]): a suite's tests
    /// are not written against its models.
    fn no_suites(&self, suite: &SuiteCell) -> String {
        format!(
            "shuttle hunts the fixtures' scenarios; suite `{}`'s tests are not written for shuttle (race-hunt runs a suite's #[cfg(loom)] models under loom)",
            suite.name
        )
    }

    fn build(&self, target: &Target, env: &Env<'_>) -> BuildSpec {
        BuildSpec::runner(KIND.name, target, env, &["--cfg", "shuttle"], &[])
    }

    fn invocations(
        &self,
        cell: &Cell,
        artifact: &Artifact,
        env: &Env<'_>,
        cell_dir: &Path,
        replay: Option<&Replay>,
    ) -> Vec<Invocation> {
        let binary = artifact.binary.as_deref().expect("a runner build has a binary");
        let timeout = Duration::from_secs_f64(self.timeout);
        if let Some(file) = replay.and_then(|r| r.file.as_ref()) {
            let args = vec!["replay".into(), cell.fixture_variant(), file.clone()];
            return vec![Invocation {
                argv: on_target(&cell.target, binary, args),
                env: Vec::new(),
                label: "replay".into(),
                timeout,
                unset: Vec::new(),
            }];
        }
        let seed = replay.map_or(env.seed, |r| r.seed);
        let half = (self.schedules / 2).max(1);
        let run = |scheduler: &str| {
            let mut args: Vec<String> = vec![
                "run".into(),
                cell.fixture_variant(),
                "--iterations".into(),
                half.to_string(),
                "--seconds".into(),
                (self.seconds / 2.0).to_string(),
                "--seed".into(),
                seed.to_string(),
                "--scheduler".into(),
                scheduler.into(),
                "--schedule-dir".into(),
                cell_dir.display().to_string(),
            ];
            if scheduler == "pct" {
                args.extend(["--pct-depth".into(), self.pct_depth.to_string()]);
            }
            Invocation {
                argv: on_target(&cell.target, binary, args),
                env: Vec::new(),
                label: scheduler.into(),
                timeout,
                unset: Vec::new(),
            }
        };
        vec![run("random"), run("pct")]
    }

    fn interpret(&self, done: &Finished<'_>) -> Outcome {
        let mut outcome = interpret_runner(done);
        if let Outcome::Detected(e) = &mut outcome {
            if let Some(file) = schedule_file(done.log_text) {
                // Replay: the same binary, `replay CELL FILE`.
                let mut argv: Vec<String> = done.invocation.argv.iter().take_while(|w| *w != "run").cloned().collect();
                argv.extend(["replay".into(), done.cell.fixture_variant(), file.clone()]);
                e.replay = crate::detector::replay_command(&[], &argv, done.env.root);
                e.replay_file = Some(file);
            }
        }
        outcome
    }
}

/// The path shuttle printed after "failing schedule persisted to file: ".
pub fn schedule_file(log: &str) -> Option<String> {
    log.lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix("failing schedule persisted to file: ").map(|p| p.trim().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_persisted_schedule() {
        let log = "Task failed, serializing schedule\ntest panicked in task 'main-thread'\nfailing schedule persisted to file: /x/schedule000.txt\npass that path to `shuttle::replay_from_file` to replay the failure\n";
        assert_eq!(schedule_file(log).as_deref(), Some("/x/schedule000.txt"));
        assert_eq!(schedule_file("nothing here"), None);
    }
}
