//! `shuttle`: randomized schedules over shuttle's models of threads, locks
//! and atomics (`--cfg shuttle`). Half the budget runs the random
//! scheduler, half PCT (probabilistic concurrency testing, which targets
//! bugs of small depth); a racy cell stops at its first failing schedule.
//! Shuttle writes the failing schedule to a file in the cell's directory;
//! the replay command feeds it back through `shuttle::replay_from_file`.
//!
//! What it cannot see: shuttle models every atomic as SeqCst (no
//! Relaxed reorderings) and does not watch plain memory, so a single
//! plain access is indivisible to it.

use std::path::Path;

use crate::budget::{self, Budget};
use crate::builds::BuildSpec;
use crate::detector::{interpret_runner, Context, Detector, Finished, Invocation};
use crate::outcome::Outcome;
use crate::plan::Cell;
use crate::target::Target;

pub struct Shuttle;

impl Detector for Shuttle {
    fn name(&self) -> &'static str {
        "shuttle"
    }

    fn budget(&self, knobs: &toml::Table) -> Result<Budget, String> {
        budget::parse(knobs, "schedules", &["pct-depth"])
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

    fn build(&self, _: &Target, _: &Context<'_>) -> BuildSpec {
        BuildSpec { rustflags: vec!["--cfg".into(), "shuttle".into()], ..BuildSpec::plain("shuttle") }
    }

    fn invocations(&self, cell: &Cell, budget: &Budget, ctx: &Context<'_>, cell_dir: &Path) -> Vec<Invocation> {
        let half = (budget.iterations / 2).max(1);
        let seconds = budget.seconds / 2.0;
        let common = |scheduler: &str| {
            let mut args = vec![
                "run".to_string(),
                format!("{}/{}", cell.fixture, cell.variant),
                "--iterations".into(),
                half.to_string(),
                "--seconds".into(),
                seconds.to_string(),
                "--seed".into(),
                ctx.seed.to_string(),
                "--scheduler".into(),
                scheduler.into(),
                "--schedule-dir".into(),
                cell_dir.display().to_string(),
            ];
            if scheduler == "pct" {
                args.extend(["--pct-depth".into(), budget.pct_depth.to_string()]);
            }
            Invocation { args, env: Vec::new(), label: scheduler.into() }
        };
        vec![common("random"), common("pct")]
    }

    fn interpret(&self, done: &Finished<'_>) -> Outcome {
        let mut outcome = interpret_runner(done);
        if let Outcome::Detected(e) = &mut outcome {
            if e.kind == "shuttle" {
                e.kind = "shuttle-failure".into();
                if let Some(file) = schedule_file(done.log_text) {
                    // Replay: the same binary, `replay CELL FILE`.
                    let mut replay: Vec<String> = done.command.iter().take_while(|w| *w != "run").cloned().collect();
                    replay.extend([
                        "replay".into(),
                        format!("{}/{}", done.cell.fixture, done.cell.variant),
                        file.clone(),
                    ]);
                    e.replay = crate::shell::join(&replay);
                    if let serde_json::Value::Object(map) = &mut e.details {
                        map.insert("schedule_file".into(), file.into());
                    }
                }
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
