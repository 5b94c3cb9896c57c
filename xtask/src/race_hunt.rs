//! `cargo xtask race-hunt`: manifest → plan → provisioning → builds →
//! probes → runs (parallel) → grading → reports → exit code.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::sync::Mutex;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;

use crate::budget::Budget;
use crate::builds;
use crate::detector::{self, Context, Detector, Finished};
use crate::exit;
use crate::grade::{self, Conditions, Verdict};
use crate::manifest::{self, Expectation};
use crate::matrix;
use crate::outcome::Outcome;
use crate::plan::{self, Cell, Filters};
use crate::probe;
use crate::process::{self, Exit};
use crate::provision::Provisioner;
use crate::report::{self, CellReport, Report, TargetReport};
use crate::runner_result::RunnerResult;
use crate::shell;
use crate::suppressions;

/// Hunt races in the fixtures with every detector and grade the result.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Exit codes: 0 the gate passed; 1 the gate failed (some cell's verdict is `fail`);
2 usage or manifest error; 3 a required prerequisite is missing (--require-all);
130 interrupted.

Examples:
  cargo xtask race-hunt
  cargo xtask race-hunt --detector stress,chaos,shuttle --json r.json
  cargo xtask race-hunt --detector tsan --fixture counter,session
  cargo xtask race-hunt --target aarch64,armv7 --detector stress,chaos --require-all")]
pub struct RaceHunt {
    /// Detectors to run (comma list, or `all`; default: the manifest's `run.detectors`).
    #[arg(long, value_delimiter = ',')]
    pub detector: Vec<String>,
    /// Targets: short names or triples (comma list, or `all`; default: `run.targets`).
    #[arg(long, value_delimiter = ',')]
    pub target: Vec<String>,
    /// Fixtures, or FIXTURE/VARIANT (comma list; default: all).
    #[arg(long, value_delimiter = ',')]
    pub fixture: Vec<String>,
    /// Budget level from the manifest (quick, standard, soak, ...).
    #[arg(long)]
    pub budget: Option<String>,
    /// Write the race-hunt/v1 JSON report here (atomically).
    #[arg(long, value_name = "PATH")]
    pub json: Option<PathBuf>,
    /// Also write the report as JUnit XML here (atomically).
    #[arg(long, value_name = "PATH")]
    pub junit: Option<PathBuf>,
    /// Seed for noise and schedules (default: from the clock; printed).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Cores the cells may keep busy at once (default: all); a real-thread
    /// cell holds two, a shuttle cell one.
    #[arg(long)]
    pub jobs: Option<usize>,
    /// A skipped cell (missing prerequisite) fails the run with exit code 3.
    #[arg(long)]
    pub require_all: bool,
    /// Never install anything; cells whose prerequisites are missing are skipped.
    #[arg(long)]
    pub no_install: bool,
    /// The manifest (default: race-hunt.toml at the repository root).
    #[arg(long, value_name = "PATH")]
    pub manifest: Option<PathBuf>,
    /// Print the planned cells and exit.
    #[arg(long)]
    pub list: bool,
}

/// The repository root (the workspace this xtask belongs to).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the workspace").to_path_buf()
}

/// One build the run needs: a detector's build for a target.
struct Group<'a> {
    detector: Box<dyn Detector>,
    target: &'a crate::target::Target,
    budget: Budget,
    /// `Ok(binary)` or the outcome every cell of the group gets.
    binary: Result<PathBuf, Outcome>,
}

impl RaceHunt {
    pub fn run(&self) -> anyhow::Result<i32> {
        let started = Instant::now();
        let root = root();
        let manifest_path = self.manifest.clone().unwrap_or_else(|| root.join("race-hunt.toml"));
        let m = match manifest::load(&manifest_path) {
            Ok(m) => m,
            Err(e) => {
                eprintln!("error: invalid manifest: {e}");
                return Ok(exit::USAGE);
            }
        };
        let budget_level = self.budget.clone().unwrap_or_else(|| m.default_budget.clone());
        if !m.budgets.contains_key(&budget_level) {
            eprintln!(
                "error: unknown budget `{budget_level}` (this manifest has: {})",
                m.budgets.keys().cloned().collect::<Vec<_>>().join(", ")
            );
            return Ok(exit::USAGE);
        }
        let filters =
            Filters { detectors: self.detector.clone(), targets: self.target.clone(), fixtures: self.fixture.clone() };
        let host = crate::target::host_triple();
        let plan = match plan::plan(&m, &filters, &host, &|k| std::env::var(k).ok()) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("error: {e}");
                return Ok(exit::USAGE);
            }
        };
        let suppressions = match suppressions::from_manifest(&m, &root) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("error: invalid manifest: {e}");
                return Ok(exit::USAGE);
            }
        };
        if self.list {
            for f in m.fixtures.iter().filter(|f| plan.cells.iter().any(|c| c.fixture == f.name)) {
                println!("{}: {}", f.name, f.lesson);
                for v in &f.variants {
                    let what = v.class.as_deref().map_or("fixed".to_string(), |c| format!("racy, {c}"));
                    println!(
                        "  {} ({what}){}",
                        v.name,
                        v.note.as_deref().map(|n| format!(": {n}")).unwrap_or_default()
                    );
                }
            }
            for c in &plan.cells {
                println!("{}  expect {}", c.id(), c.expect.word());
            }
            for n in &plan.not_planned {
                println!("not planned: {}@{}: {}", n.detector, n.target, n.reason);
            }
            return Ok(exit::OK);
        }
        if plan.cells.is_empty() {
            eprintln!("error: nothing to run: the filters select no cell");
            return Ok(exit::USAGE);
        }

        let seed = self.seed.unwrap_or_else(|| {
            SystemTime::now().duration_since(UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64 % 1_000_000_007)
        });
        let nightly = m.nightly();
        let started_unix = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let run_dir = root.join("target/race-hunt/runs").join(format!("{started_unix}-{seed}"));
        std::fs::create_dir_all(&run_dir).with_context(|| format!("failed to create {}", run_dir.display()))?;
        let latest = root.join("target/race-hunt/latest");
        let _ = std::fs::remove_file(&latest);
        let _ = std::os::unix::fs::symlink(&run_dir, &latest);
        let ctx = Context { seed, nightly: &nightly, root: &root, tsan_suppressions: suppressions.as_deref() };

        process::install_interrupt_handler();
        println!(
            "race-hunt: {} cells ({} detectors x {} targets), budget {budget_level}, seed {seed}, raw output under {}",
            plan.cells.len(),
            plan.detectors.len(),
            plan.targets.len(),
            run_dir.display()
        );

        // Provisioning and builds, one per (detector, target) with cells.
        let mut provisioner = Provisioner::new(!self.no_install);
        let mut groups: Vec<Group<'_>> = Vec::new();
        for d in &plan.detectors {
            for t in &plan.targets {
                if !plan.cells.iter().any(|c| c.detector == *d && c.target.name == t.name) {
                    continue;
                }
                let det = detector::by_name(d).expect("planned detectors exist");
                let knobs = m.budget(&budget_level, d).expect("manifest checks every budget");
                let budget = det.budget(knobs).map_err(|e| anyhow::anyhow!("budget {budget_level}.{d}: {e}"))?;
                let binary = if process::interrupted() {
                    Err(Outcome::Error("interrupted before it was built".into()))
                } else {
                    match provisioner.ensure(&det.prerequisites(t, &ctx)) {
                        Err(reason) => {
                            println!("  skip  {d}@{}: {reason}", t.name);
                            Err(Outcome::Skipped(reason))
                        }
                        Ok(()) => {
                            let spec = det.build(t, &ctx);
                            print!("  build {d}@{} ({}) ... ", t.name, t.triple);
                            let _ = std::io::stdout().flush();
                            let t0 = Instant::now();
                            let log = run_dir.join("builds").join(format!("{}@{}.log", spec.dir, t.name));
                            match builds::build(&root, &spec, t, &log) {
                                Ok(bin) => {
                                    println!("done in {}", matrix::duration(t0.elapsed().as_millis() as u64));
                                    Ok(bin)
                                }
                                Err(e) => {
                                    println!("FAILED");
                                    eprintln!("{e}");
                                    Err(Outcome::Error(e))
                                }
                            }
                        }
                    }
                };
                groups.push(Group { detector: det, target: t, budget, binary });
            }
        }

        // Preflight probes: one litmus run per target that has a real-thread build.
        let mut probes: BTreeMap<String, (serde_json::Value, Conditions)> = BTreeMap::new();
        for t in &plan.targets {
            let Some(bin) = groups
                .iter()
                .find(|g| g.target.name == t.name && g.detector.name() == "stress")
                .or_else(|| groups.iter().find(|g| g.target.name == t.name && g.detector.name() == "chaos"))
                .and_then(|g| g.binary.as_ref().ok())
            else {
                continue;
            };
            let log = run_dir.join("probes").join(format!("{}.log", t.name));
            match probe::run(bin, t, &log) {
                Ok(found) => {
                    println!("  probe {}: {}", t.name, found.1.finding);
                    probes.insert(t.name.clone(), found);
                }
                Err(e) => println!("  probe {}: failed: {e}", t.name),
            }
        }

        // Run the cells.
        let jobs = self.jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get())).max(1);
        let mut work: Vec<(usize, Cell, Expectation)> = plan
            .cells
            .iter()
            .cloned()
            .enumerate()
            .map(|(i, c)| {
                let e = grade::resolve(&c.expect, probes.get(&c.target.name).map(|p| &p.1));
                (i, c, e)
            })
            .collect();
        // Cells that will spend their whole budget first: better packing.
        work.sort_by_key(|(i, _, e)| (matches!(e, Expectation::Detect), *i));
        let queue = Mutex::new(work.into_iter());
        let cores = Slots::new(jobs);
        let total = plan.cells.len();
        let (tx, rx) = mpsc::channel::<(usize, CellReport)>();
        let mut results: Vec<Option<CellReport>> = vec![None; total];
        std::thread::scope(|s| {
            for _ in 0..jobs.min(total) {
                let tx = tx.clone();
                let queue = &queue;
                let groups = &groups;
                let ctx = &ctx;
                let run_dir = &run_dir;
                let cores = &cores;
                s.spawn(move || loop {
                    let Some((i, cell, expect)) = queue.lock().expect("queue lock").next() else { break };
                    let group = groups
                        .iter()
                        .find(|g| g.detector.name() == cell.detector && g.target.name == cell.target.name)
                        .expect("every cell has a group");
                    let held = cores.acquire(group.detector.cores());
                    let report = run_cell(&cell, expect, group, ctx, run_dir);
                    cores.release(held);
                    if tx.send((i, report)).is_err() {
                        break;
                    }
                });
            }
            drop(tx);
            let mut done = 0;
            for (i, r) in rx {
                done += 1;
                println!("[{done:>3}/{total}] {}", progress_line(&r));
                results[i] = Some(r);
            }
        });
        let cells: Vec<CellReport> = results.into_iter().flatten().collect();

        let summary = report::summarize(&cells, self.require_all);
        let mut exit_code = summary.exit_code;
        if process::interrupted() {
            exit_code = exit::INTERRUPTED;
        }
        let report = Report {
            schema: report::SCHEMA,
            race_hunt_version: env!("CARGO_PKG_VERSION"),
            manifest: manifest_path.display().to_string(),
            budget: budget_level,
            seed,
            require_all: self.require_all,
            started_unix,
            elapsed_ms: started.elapsed().as_millis() as u64,
            run_dir: run_dir.display().to_string(),
            detectors: plan.detectors.clone(),
            targets: plan
                .targets
                .iter()
                .map(|t| TargetReport {
                    name: t.name.clone(),
                    triple: t.triple.clone(),
                    native: t.native,
                    runner: t.runner.as_ref().map(|(w, _)| shell::join(w)),
                    runner_source: t.runner.as_ref().map(|(_, s)| format!("{s:?}").to_lowercase()),
                    probe: probes.get(&t.name).map(|p| p.0.clone()),
                })
                .collect(),
            cells,
            not_planned: plan.not_planned.clone(),
            summary,
        };

        println!("\n{}", matrix::render(&report));
        let detections = matrix::detections(&report);
        if !detections.is_empty() {
            println!("detections:\n{detections}");
        }
        let failures = matrix::failures(&report);
        if !failures.is_empty() {
            println!("{failures}");
        }
        if !report.summary.undetected_racy_variants.is_empty() {
            println!(
                "note: racy variants no cell of this run detected (their expectations allow it; see race-hunt.toml for the detectors that can): {}",
                report.summary.undetected_racy_variants.join(", ")
            );
        }
        report.write(&run_dir.join("report.json")).context("failed to write the run's report")?;
        if let Some(path) = &self.json {
            report.write(path).with_context(|| format!("failed to write {}", path.display()))?;
            println!("report: {}", path.display());
        }
        if let Some(path) = &self.junit {
            report::write_atomic(path, crate::junit::render(&report).as_bytes())
                .with_context(|| format!("failed to write {}", path.display()))?;
            println!("junit: {}", path.display());
        }
        if let Ok(summary_path) = std::env::var("GITHUB_STEP_SUMMARY") {
            if let Ok(mut f) = std::fs::OpenOptions::new().append(true).create(true).open(summary_path) {
                let _ = f.write_all(matrix::markdown(&report).as_bytes());
            }
        }
        println!(
            "gate: {} ({} ok, {} fail, {} skipped of {} cells) in {}",
            report.summary.gate,
            report.summary.ok,
            report.summary.fail,
            report.summary.skipped,
            report.summary.cells,
            matrix::duration(report.elapsed_ms)
        );
        Ok(exit_code)
    }
}

/// Counting semaphore over the cores the cells may keep busy.
struct Slots {
    free: Mutex<usize>,
    changed: std::sync::Condvar,
    capacity: usize,
}

impl Slots {
    fn new(capacity: usize) -> Self {
        Slots { free: Mutex::new(capacity), changed: std::sync::Condvar::new(), capacity }
    }

    fn acquire(&self, want: usize) -> usize {
        let want = want.clamp(1, self.capacity);
        let mut free = self.free.lock().expect("slots lock");
        while *free < want {
            free = self.changed.wait(free).expect("slots lock");
        }
        *free -= want;
        want
    }

    fn release(&self, n: usize) {
        *self.free.lock().expect("slots lock") += n;
        self.changed.notify_all();
    }
}

fn progress_line(r: &CellReport) -> String {
    let what = match r.outcome.as_str() {
        "detected" => format!(
            "detected in {} ({} attempts){}",
            matrix::duration(r.elapsed_ms),
            r.attempts,
            r.evidence.as_ref().map(|e| format!(": {}", e.message)).unwrap_or_default()
        ),
        "clean" => format!("clean after {} attempts in {}", r.attempts, matrix::duration(r.elapsed_ms)),
        _ => r.reason.clone().unwrap_or_default(),
    };
    let mark = match r.verdict {
        Verdict::Ok => "ok  ",
        Verdict::Fail => "FAIL",
        Verdict::Skipped => "skip",
    };
    format!("{mark} {}/{} {}@{}: {what}", r.fixture, r.variant, r.detector, r.target_name)
}

fn run_cell(cell: &Cell, expect: Expectation, group: &Group<'_>, ctx: &Context<'_>, run_dir: &Path) -> CellReport {
    let dir = detector::cell_dir(run_dir, cell);
    let log = dir.join("output.log");
    let t0 = Instant::now();
    let (outcome, attempts) = match &group.binary {
        Err(outcome) => (outcome.clone(), 0),
        Ok(binary) if process::interrupted() => {
            let _ = binary;
            (Outcome::Error("interrupted before it ran".into()), 0)
        }
        Ok(binary) => execute(cell, group, binary, ctx, &dir, &log),
    };
    let (verdict, reason) = grade::grade(&expect, &outcome);
    let expect_reason = match &expect {
        Expectation::May(r) => Some(r.clone()),
        _ => None,
    };
    CellReport {
        fixture: cell.fixture.clone(),
        variant: cell.variant.clone(),
        racy: cell.racy,
        class: cell.class.clone(),
        detector: cell.detector.clone(),
        target: cell.target.triple.clone(),
        target_name: cell.target.name.clone(),
        expect: expect.word().to_string(),
        expect_reason,
        outcome: outcome.word().to_string(),
        verdict,
        reason,
        elapsed_ms: t0.elapsed().as_millis() as u64,
        attempts,
        evidence: match outcome {
            Outcome::Detected(e) => Some(e),
            _ => None,
        },
        log: log.is_file().then(|| log.display().to_string()),
    }
}

/// Run a cell's invocations in order until one detects; return the
/// outcome and the attempts spent.
fn execute(cell: &Cell, group: &Group<'_>, binary: &Path, ctx: &Context<'_>, dir: &Path, log: &Path) -> (Outcome, u64) {
    if let Err(e) = std::fs::create_dir_all(dir) {
        return (Outcome::Error(format!("failed to create {}: {e}", dir.display())), 0);
    }
    let _ = std::fs::remove_file(log);
    let mut attempts = 0;
    for inv in group.detector.invocations(cell, &group.budget, ctx, dir) {
        let mut prefix = group.target.runner_prefix();
        let mut notes: Vec<String> = Vec::new();
        loop {
            let mut command: Vec<String> = inv.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
            command.extend(prefix.iter().cloned());
            command.push(binary.display().to_string());
            command.extend(inv.args.iter().cloned());
            let start_offset = std::fs::metadata(log).map_or(0, |m| m.len());
            if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(log) {
                let _ = writeln!(
                    f,
                    "== race-hunt {}: {}",
                    if inv.label.is_empty() { "run" } else { &inv.label },
                    shell::join(&command)
                );
            }
            let program_and_args = &command[inv.env.len()..];
            let mut cmd = Command::new(&program_and_args[0]);
            cmd.args(&program_and_args[1..]).current_dir(ctx.root);
            for (k, v) in &inv.env {
                cmd.env(k, v);
            }
            let exit = match process::run(cmd, log, group.budget.timeout()) {
                Ok((exit, _)) => exit,
                Err(e) => return (Outcome::Error(format!("failed to start {}: {e}", program_and_args[0])), attempts),
            };
            let text = read_from(log, start_offset);
            let result = RunnerResult::find(&text);
            let done = Finished {
                cell,
                exit: exit.clone(),
                log,
                log_text: &text,
                result: result.clone(),
                command: command.clone(),
            };
            if notes.is_empty() {
                if let Some((more, note)) = group.detector.retry(&done) {
                    notes.push(note);
                    prefix = more.into_iter().chain(prefix).collect();
                    continue;
                }
            }
            attempts += result.as_ref().map_or(0, |r| r.attempts);
            let mut outcome = group.detector.interpret(&done);
            if let Outcome::Detected(e) = &mut outcome {
                if !notes.is_empty() {
                    if let serde_json::Value::Object(map) = &mut e.details {
                        map.insert("notes".into(), notes.clone().into());
                    } else {
                        e.details = serde_json::json!({ "notes": notes });
                    }
                }
            }
            if exit == Exit::Interrupted {
                return (Outcome::Error("interrupted".into()), attempts);
            }
            match outcome {
                Outcome::Clean => break,
                other => return (other, attempts),
            }
        }
    }
    (Outcome::Clean, attempts)
}

fn read_from(path: &Path, offset: u64) -> String {
    let bytes = std::fs::read(path).unwrap_or_default();
    String::from_utf8_lossy(bytes.get(offset as usize..).unwrap_or_default()).into_owned()
}
