//! `cargo xtask race-hunt`: its arguments and subcommands, and the flow
//! of `session.rs` run in order.

use std::path::PathBuf;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use race_hunt_report::{Report, SCHEMA};

use crate::cells;
use crate::exit::{self, Failure};
use crate::grade;
use crate::process;
use crate::report;
use crate::session::{
    baseline_status, command_name, expectation_words, git_commit, grade_cells, prepare, probe_targets, report_run,
    resolve_expectations, target_reports, Outputs, RunDir, Selection, Session,
};

/// Hunt races with every detector on every target and grade the result.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true, after_help = format!("{}
Examples:
  cargo xtask race-hunt
  cargo xtask race-hunt --detector stress,chaos,shuttle --json r.json
  cargo xtask race-hunt --detector tsan --fixture counter,session
  cargo xtask race-hunt --target aarch64,armv7 --detector stress,chaos --require-all
  cargo xtask race-hunt replay 'counter/racy-unsync stress@x86_64' --seed 5 --start 3", crate::exit::help()))]
pub struct RaceHunt {
    #[command(subcommand)]
    pub command: Option<Sub>,
    #[command(flatten)]
    pub selection: Selection,
    /// Write the race-hunt/v1 JSON report here (atomically).
    #[arg(long, value_name = "PATH")]
    pub json: Option<PathBuf>,
    /// Also write the cells as JUnit XML here (atomically).
    #[arg(long, value_name = "PATH")]
    pub junit: Option<PathBuf>,
    /// Also write the findings as SARIF 2.1.0 here (for GitHub code scanning).
    #[arg(long, value_name = "PATH")]
    pub sarif: Option<PathBuf>,
    /// Seed for noise, schedules and Miri (default: from the clock; printed).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Cores the cells may keep busy at once (default: all); a real-thread
    /// cell holds two, a model-checker cell one.
    #[arg(long)]
    pub jobs: Option<usize>,
    /// A skipped cell (missing prerequisite) fails the run with exit code 3.
    #[arg(long)]
    pub require_all: bool,
    /// Never install anything; cells whose prerequisites are missing are skipped.
    #[arg(long)]
    pub no_install: bool,
    /// Print the planned cells and exit.
    #[arg(long)]
    pub list: bool,
    /// Run only slice I of N of the planned cells (a CI shard; `gate` merges them).
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,
}

#[derive(Debug, clap::Subcommand)]
pub enum Sub {
    Replay(crate::replay::Replay),
    Matrix(crate::ci::MatrixCmd),
    Gate(crate::ci::GateCmd),
    Init(crate::init::Init),
    Baseline(crate::baseline_cmd::BaselineCmd),
}

impl RaceHunt {
    pub fn run(&self) -> exit::Result {
        match &self.command {
            Some(Sub::Replay(r)) => return r.run(),
            Some(Sub::Matrix(m)) => return m.run(),
            Some(Sub::Gate(g)) => return g.run(),
            Some(Sub::Init(i)) => return i.run(),
            Some(Sub::Baseline(b)) => return b.run(),
            None => {}
        }
        if self.jobs == Some(0) {
            return Err(Failure::usage("--jobs must be at least 1"));
        }
        let mut session = self.selection.open()?;
        let shard = self.shard.as_deref().map(crate::ci::parse_shard).transpose().map_err(Failure::Usage)?;
        if let Some(shard) = shard {
            let cells = std::mem::take(&mut session.plan.cells);
            session.plan.cells =
                cells.into_iter().enumerate().filter(|(i, _)| crate::ci::in_shard(*i, shard)).map(|(_, c)| c).collect();
        }
        if self.list {
            list(&session);
            return Ok(exit::OK);
        }
        if session.plan.cells.is_empty() && shard.is_none() && session.plan.not_planned.is_empty() {
            return Err(Failure::usage("nothing to run: the filters select no cell"));
        }
        // Outputs are checked before anything runs: a bad path is a usage
        // error now, not a lost report after the whole matrix.
        report::check_outputs(self.json.as_deref(), self.junit.as_deref())
            .map_err(|e| Failure::usage(format!("cannot write the report there: {e}")))?;
        if let Some(path) = &self.sarif {
            report::check_writable(path).map_err(|e| Failure::usage(format!("cannot write the report there: {e}")))?;
        }
        let seed = self.seed.unwrap_or_else(|| {
            SystemTime::now().duration_since(UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64 % 1_000_000_007)
        });
        let run_dir = RunDir::create(&session.state, seed).map_err(|e| {
            Failure::usage(format!(
                "{e} (race-hunt keeps every run's output there; set RACE_HUNT_TARGET_DIR to use another place)"
            ))
        })?;
        process::install_signal_handlers();
        process::start_reaper();
        let started = Instant::now();
        let cpu_at_start = crate::cpu::used_ms();
        let builds_dir = session.builds();
        let env = session.env(seed, &builds_dir, command_name());
        let p = &session.plan;
        println!(
            "race-hunt: {} cells ({} detectors x {} targets), budget {}, seed {seed}, raw output under {}",
            p.cells.len(),
            p.detectors.len(),
            p.targets.len(),
            session.level,
            run_dir.path.display()
        );

        for line in &session.changes {
            println!("  {line}");
        }
        let groups = prepare(&session, &env, &run_dir.path, !self.no_install);
        let build_ms = started.elapsed().as_millis() as u64;
        let probes = probe_targets(&session.plan, &groups, &run_dir.path);
        let jobs = self.jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get())).max(1);
        let expectations = resolve_expectations(&session.plan, &probes);
        let runs =
            cells::run_all(&session.manifest, &session.plan.cells, &expectations, &groups, &env, &run_dir.path, jobs);
        let baseline = session.manifest.baseline.as_ref();
        let mut graded = grade_cells(&session.plan.cells, &expectations, runs, &groups, &probes, baseline);
        grade::credit(&session.manifest, &mut graded);
        let proofs = grade::prove(&session.manifest, &mut graded);
        let elapsed_ms = started.elapsed().as_millis() as u64;
        let usage = race_hunt_report::Usage {
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            wall_ms: elapsed_ms,
            busy_core_ms: crate::cpu::used_ms().saturating_sub(cpu_at_start),
            build_ms,
        };
        let report = Report {
            schema: SCHEMA.into(),
            race_hunt_version: env!("CARGO_PKG_VERSION").into(),
            manifest: session.manifest.path.display().to_string(),
            manifest_digest: session.manifest.digest.clone(),
            commit: git_commit(&session.root),
            budget: session.level.clone(),
            seed,
            shard,
            changed_since: self.selection.changed_since.clone(),
            require_all: self.require_all,
            started_unix: run_dir.started_unix,
            elapsed_ms,
            run_dir: run_dir.path.display().to_string(),
            detectors: session.plan.detectors.iter().map(|d| d.name().to_string()).collect(),
            targets: target_reports(&session.plan, &probes),
            summary: race_hunt_report::Summary {
                proofs,
                ..report::summarize(&graded, self.require_all, process::stop_signal())
            },
            baseline: baseline_status(&session.manifest, &graded),
            cells: graded,
            not_planned: session.plan.not_planned.clone(),
            usage: Some(usage),
        };
        let outputs =
            Outputs { json: self.json.as_deref(), junit: self.junit.as_deref(), sarif: self.sarif.as_deref() };
        report_run(&report, &run_dir, &session.state, outputs)
    }
}

/// `--list`: the fixtures and suites, then every planned cell.
fn list(session: &Session) {
    let m = &session.manifest;
    for f in m.fixtures.iter().filter(|f| session.plan.cells.iter().any(|c| c.fixture == f.name)) {
        println!("{}: {}", f.name, f.lesson);
        for v in &f.variants {
            let what = v.class.map_or("fixed".to_string(), |c| format!("racy, {}", c.word()));
            println!("  {} ({what}){}", v.name, v.note.as_deref().map(|n| format!(": {n}")).unwrap_or_default());
        }
    }
    for line in &session.changes {
        println!("{line}");
    }
    for c in &session.plan.cells {
        println!("{}  expect {}", c.id(), expectation_words(&c.expect));
    }
    for n in &session.plan.not_planned {
        let subject = n.subject.as_deref().map(|s| format!("{s} ")).unwrap_or_default();
        println!("not planned: {subject}{}@{}: {}", n.detector, n.target, n.reason);
    }
    let canaries = session.plan.cells.iter().filter(|c| c.role == race_hunt_report::Role::Canary).count();
    println!(
        "{} cells ({canaries} of them canaries), {} pairs not planned",
        session.plan.cells.len(),
        session.plan.not_planned.len()
    );
}
