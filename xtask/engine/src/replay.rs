//! `race-hunt replay CELL --seed S [--start I] [--file F]`: rerun one
//! detection the way the report's `replay_xtask` line says, building what
//! it needs first. Works on a developer's machine from a fresh clone, not
//! only beside the run that found it.

use std::path::PathBuf;

use crate::cell::Subject;
use crate::cells;
use crate::exit::{self, Failure};
use crate::invocation::Replay as Request;
use crate::outcome::Outcome;
use crate::process;
use crate::session::{self, RunDir, Selection};

/// Rerun one detection of a cell (exit 1 when it reproduces, 0 when not).
#[derive(Debug, clap::Args)]
#[command(after_help = "Example (the report prints this line for every detection):
  cargo xtask race-hunt replay 'bank/racy-two-sections shuttle@x86_64' --seed 7 --file target/race-hunt/runs/.../schedule000.txt

Exit codes: 1 the detection reproduced; 0 it did not; 2 usage or manifest error; 4 the harness could not run it.")]
pub struct Replay {
    /// The cell as the report names it: `FIXTURE/VARIANT DETECTOR@TARGET`.
    pub cell: String,
    /// The seed of the detection.
    #[arg(long)]
    pub seed: u64,
    /// The iteration (real threads) to start at.
    #[arg(long)]
    pub start: Option<u64>,
    /// The schedule (shuttle) or checkpoint (loom) file of the detection
    /// (a relative path is from the repository root, as the report prints it).
    #[arg(long, value_name = "PATH")]
    pub file: Option<PathBuf>,
    /// A suite's failing test, as the report names it (`BINARY TEST`).
    #[arg(long, value_name = "TEST")]
    pub test: Option<String>,
    /// Budget level from the manifest (the detection's own).
    #[arg(long)]
    pub budget: Option<String>,
    /// The manifest (default: race-hunt.toml in the current directory or the nearest parent).
    #[arg(long, value_name = "PATH")]
    pub manifest: Option<PathBuf>,
    /// Never install anything.
    #[arg(long)]
    pub no_install: bool,
}

/// `fixture/variant detector@target` into its three parts.
pub fn parse_cell(id: &str) -> Result<(String, String, String), String> {
    let bad = || {
        format!(
            "`{}` is not a cell: write it as the report does, `FIXTURE/VARIANT DETECTOR@TARGET`",
            crate::exit::shown(id)
        )
    };
    let (fv, dt) = id.trim().split_once(' ').ok_or_else(bad)?;
    let (d, t) = dt.trim().split_once('@').ok_or_else(bad)?;
    if !fv.contains('/') || d.is_empty() || t.is_empty() {
        return Err(bad());
    }
    Ok((fv.to_string(), d.to_string(), t.to_string()))
}

impl Replay {
    pub fn run(&self) -> exit::Result {
        let (fv, d, t) = parse_cell(&self.cell).map_err(Failure::Usage)?;
        let selection = Selection {
            detector: vec![d],
            target: vec![t],
            fixture: vec![fv.clone()],
            budget: self.budget.clone(),
            manifest: self.manifest.clone(),
            changed_since: None,
        };
        let mut session = selection.open()?;
        // A suite's column also plans its canaries; a replay reruns the
        // one cell it names.
        session.plan.cells.retain(|c| c.fixture_variant() == fv);
        let [cell] = session.plan.cells.as_slice() else {
            let why =
                session.plan.not_planned.first().map_or("the filters select no cell".to_string(), |n| n.reason.clone());
            return Err(Failure::usage(format!("`{}` is not a planned cell: {why}", crate::exit::shown(&self.cell))));
        };
        // A relative --file is the report's: from the repository root (the
        // manifest's directory), wherever the replay is typed.
        let file = self.file.as_ref().map(|f| {
            let f = if f.is_relative() { session.root.join(f) } else { f.clone() };
            f.display().to_string()
        });
        if let Some(f) = &file {
            if !std::path::Path::new(f).is_file() {
                return Err(Failure::usage(format!("--file {f}: no such file")));
            }
        }
        let request = Request { seed: self.seed, start: self.start, file, test: self.test.clone() };
        process::install_signal_handlers();
        process::start_reaper();
        let run_dir = RunDir::create(&session.state, self.seed).map_err(Failure::Usage)?;
        let builds = session.builds();
        let env = session.env(self.seed, &builds, session::command_name());
        let groups = session::prepare(&session, &env, &run_dir.path, !self.no_install);
        let group = &groups[cell.column.0];
        let dir = cells::cell_dir(&run_dir.path, cell).join("replay");
        let log = dir.join("output.log");
        println!("replay {} (seed {}): output in {}", cell.id(), self.seed, log.display());
        let (outcome, attempts) = match &cell.subject {
            Subject::Suite(suite) => {
                if self.test.is_none() {
                    return Err(Failure::usage("a suite's replay needs --test BINARY TEST (the report names it)"));
                }
                match group.suite_builds.get(&cell.fixture_variant()) {
                    Some(Ok(())) => {
                        let r = crate::cells::suite_run::execute(cell, suite, group, &env, &dir, &log, Some(&request));
                        (r.outcome, r.attempts)
                    }
                    other => {
                        return Err(Failure::Infrastructure(anyhow::anyhow!("cannot replay {}: {other:?}", cell.id())))
                    }
                }
            }
            Subject::Fixture => {
                let artifact = match &group.artifact {
                    Ok(a) => a,
                    Err(o) => {
                        return Err(Failure::Infrastructure(anyhow::anyhow!("cannot replay {}: {o:?}", cell.id())))
                    }
                };
                cells::execute(cell, group, artifact, &env, &dir, &log, Some(&request))
            }
        };
        match outcome {
            Outcome::Detected(e) | Outcome::Hang(e) => {
                println!("replay: reproduced ({}) after {attempts} attempts: {}", e.kind, e.message);
                if let Some(loc) = e.location {
                    println!("  at {loc}");
                }
                Ok(exit::GATE_FAILED)
            }
            Outcome::Clean => {
                println!("replay: did not reproduce in {attempts} attempts (real threads replay the seed and the noise, not the OS scheduler's interleaving; rerun, or raise the budget)");
                Ok(exit::OK)
            }
            Outcome::Skipped(m) | Outcome::Error(m) | Outcome::NotRun(m) => {
                Err(Failure::Infrastructure(anyhow::anyhow!("replay could not run: {m}")))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_parse_as_the_report_writes_them() {
        assert_eq!(
            parse_cell("bank/racy-two-sections shuttle@x86_64").unwrap(),
            ("bank/racy-two-sections".into(), "shuttle".into(), "x86_64".into())
        );
        for bad in ["bank", "bank/x shuttle", "bank shuttle@x86_64", "bank/x @x"] {
            assert!(parse_cell(bad).unwrap_err().contains("is not a cell"), "{bad}");
        }
    }
}
