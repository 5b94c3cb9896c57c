//! `cargo xtask bench-suite`: what a suite cell costs over the same tool
//! run by hand. For each detector that hunts the suite, it alternates the
//! cell (as race-hunt runs it: its nextest profile, output capture and
//! parsing) with the equivalent hand-typed command (`cargo nextest run`,
//! `cargo miri nextest run`, with the same flags and budget), warm, and
//! prints the medians and their ratio.

use std::process::Command;
use std::time::Instant;

use crate::cell::Subject;
use crate::exit::{self, Failure};
use crate::nextest;
use crate::session::{self, Selection};
use crate::stats::median;

/// Compare each detector's suite cell with the same nextest command by hand.
#[derive(Debug, clap::Args)]
#[command(after_help = "Example: cargo xtask bench-suite --suite shop-core --detector stress,tsan,miri --runs 5")]
pub struct BenchSuite {
    /// The suite (default: the manifest's first).
    #[arg(long)]
    pub suite: Option<String>,
    /// The variant (default: the suite's first fixed variant).
    #[arg(long)]
    pub variant: Option<String>,
    /// Detectors (default: every detector that hunts the suite on the host).
    #[arg(long, value_delimiter = ',')]
    pub detector: Vec<String>,
    /// Runs of each (cell, hand) pair; the medians are compared.
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    /// Budget level from the manifest.
    #[arg(long, default_value = "quick")]
    pub budget: String,
    /// The manifest (default: race-hunt.toml in the current directory or the nearest parent).
    #[arg(long, value_name = "PATH")]
    pub manifest: Option<std::path::PathBuf>,
}

impl BenchSuite {
    pub fn run(&self) -> exit::Result {
        if self.runs == 0 {
            return Err(Failure::usage("--runs must be at least 1"));
        }
        let probe =
            Selection { manifest: self.manifest.clone(), budget: Some(self.budget.clone()), ..Selection::default() }
                .open()?;
        let suite = match &self.suite {
            Some(s) => probe.manifest.suites.iter().find(|x| x.name == *s),
            None => probe.manifest.suites.first(),
        }
        .ok_or_else(|| Failure::usage("no such suite in the manifest (name one with --suite)"))?;
        let variant = match &self.variant {
            Some(v) => v.clone(),
            None => suite
                .variants
                .iter()
                .find(|(v, _)| !v.racy)
                .map(|(v, _)| v.name.clone())
                .unwrap_or_else(|| suite.variants[0].0.name.clone()),
        };
        let host = crate::target::host_triple();
        let target = probe
            .manifest
            .targets
            .iter()
            .find(|t| t.triple == host)
            .map(|t| t.name.clone())
            .ok_or_else(|| Failure::usage("the manifest has no target for this host"))?;
        let selection = Selection {
            detector: if self.detector.is_empty() { vec!["all".into()] } else { self.detector.clone() },
            target: vec![target],
            fixture: vec![format!("{}/{variant}", suite.name)],
            budget: Some(self.budget.clone()),
            manifest: self.manifest.clone(),
            changed_since: None,
        };
        let mut session = selection.open()?;
        session.plan.cells.retain(|c| matches!(c.subject, Subject::Suite(_)));
        if session.plan.cells.is_empty() {
            return Err(Failure::usage(format!("no detector hunts {}/{variant} here", suite.name)));
        }
        crate::process::install_signal_handlers();
        crate::process::start_reaper();
        let run_dir = session::RunDir::create(&session.state, 1).map_err(Failure::Usage)?;
        let builds = session.builds();
        let env = session.env(1, &builds, session::command_name());
        let groups = session::prepare(&session, &env, &run_dir.path, true);
        println!(
            "bench-suite {}/{variant}, budget {}: the cell as race-hunt runs it vs the same command by hand, alternating, median of {} each",
            suite.name, self.budget, self.runs
        );
        println!("{:<10} {:>10} {:>10} {:>7}  hand-typed command", "detector", "cell ms", "hand ms", "ratio");
        for cell in &session.plan.cells {
            let group = &groups[cell.column.0];
            if let Some(Err(o)) = group.suite_builds.get(&cell.fixture_variant()) {
                println!("{:<10} not measured: {o:?}", cell.detector);
                continue;
            }
            let Subject::Suite(sc) = &cell.subject else { unreachable!("only suite cells were kept") };
            let plan = crate::cells::suite_run::plan(group.detector.as_ref(), sc, &cell.target, &env);
            let vars = nextest::command_env(&plan.flavor, sc, &cell.target, &env);
            let hand: Vec<String> = nextest::command(&plan.flavor, sc, &cell.target, "run", None)
                .into_iter()
                .chain(plan.run_args.iter().cloned())
                .collect();
            // What the last column prints: the command with the variables
            // it needs, pasteable from the repository root.
            let shown = nextest::replay_line(&crate::cells::suite_run::shown_vars(&vars), &hand, env.root);
            let (mut cell_ms, mut hand_ms) = (Vec::new(), Vec::new());
            for i in 0..self.runs {
                let dir = run_dir.path.join(format!("{}-{i}", cell.detector));
                let t0 = Instant::now();
                let outcome =
                    crate::cells::suite_run::execute(cell, sc, group, &env, &dir, &dir.join("output.log"), None)
                        .outcome;
                cell_ms.push(t0.elapsed().as_secs_f64() * 1000.0);
                if !matches!(outcome, crate::outcome::Outcome::Clean | crate::outcome::Outcome::Detected(_)) {
                    return Err(Failure::Infrastructure(anyhow::anyhow!(
                        "the {} cell did not run cleanly: {outcome:?}",
                        cell.detector
                    )));
                }
                // By hand, but started like every child of the harness (its
                // own process group, killed on SIGINT, no inherited
                // NEXTEST_*), so the two sides differ only in what race-hunt adds.
                let mut cmd = Command::new(&hand[0]);
                cmd.args(&hand[1..]).envs(vars.iter().cloned()).current_dir(&session.root);
                let log = dir.join("hand.log");
                let t0 = Instant::now();
                let (exit, _) = crate::process::run(cmd, &log, plan.timeout)
                    .map_err(|e| anyhow::anyhow!("failed to start {}: {e}", hand[0]))?;
                hand_ms.push(t0.elapsed().as_secs_f64() * 1000.0);
                // A clean cell's command must pass by hand too: a run that
                // failed early would time nothing comparable.
                if matches!(outcome, crate::outcome::Outcome::Clean) && exit != crate::process::Exit::Code(0) {
                    return Err(Failure::Infrastructure(anyhow::anyhow!(
                        "the hand-typed {} command ended with {exit:?} (see {}): {}",
                        cell.detector,
                        log.display(),
                        shown
                    )));
                }
            }
            let (c, h) = (median(cell_ms), median(hand_ms));
            println!("{:<10} {c:>10.0} {h:>10.0} {:>6.3}x  {shown}", cell.detector, c / h);
        }
        Ok(exit::OK)
    }
}
