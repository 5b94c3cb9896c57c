//! The flow of a run, one function per step (see ARCHITECTURE.md):
//! [`Selection::open`] (manifest and plan) → [`prepare`] (provision and
//! build) → [`probe_targets`] → [`crate::cells::run_all`] (run) →
//! [`grade_cells`] → [`report_run`]. `race-hunt` and its subcommands,
//! `setup` and the benches call these steps.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use race_hunt_report::{CellReport, Expect, Probe, Report, TargetReport, Verdict};

use crate::builds::{self, BuildSpec};
use crate::cell::{Cell, Expectation, Subject};
use crate::cells::{Finished as CellRun, Group};
use crate::detector::Detector;
use crate::exit::{self, Failure};
use crate::grade::{self, Conditions};
use crate::invocation::{Artifact, Env};
use crate::manifest::{self, Manifest};
use crate::matrix;
use crate::outcome::Outcome;
use crate::plan::{self, Filters, Plan};
use crate::probe;
use crate::process;
use crate::provision::Provisioner;
use crate::report;
use crate::shell;
use crate::target::Target;

/// What to hunt: the manifest and the filters every subcommand shares.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Selection {
    /// Detectors to run (comma list, or `all`; default: the manifest's `run.detectors`).
    #[arg(long, value_delimiter = ',')]
    pub detector: Vec<String>,
    /// Targets: short names or triples (comma list, or `all`; default: `run.targets`).
    #[arg(long, value_delimiter = ',')]
    pub target: Vec<String>,
    /// Fixtures or suites, or NAME/VARIANT (comma list; default: all).
    #[arg(long, value_delimiter = ',')]
    pub fixture: Vec<String>,
    /// Budget level from the manifest (quick, standard, soak, ...).
    #[arg(long)]
    pub budget: Option<String>,
    /// The manifest (default: race-hunt.toml in the current directory or the nearest parent).
    #[arg(long, value_name = "PATH")]
    pub manifest: Option<PathBuf>,
    /// Hunt only what the changes since the merge base with REF can affect:
    /// the suites whose packages (or path dependencies) changed, the
    /// fixtures when the engine or they changed, the canaries always; a
    /// changed manifest, lock file or toolchain file hunts everything.
    #[arg(long, value_name = "REF")]
    pub changed_since: Option<String>,
}

/// The manifest, the budget level and the plan of one invocation.
pub struct Session {
    pub manifest: Manifest,
    pub level: String,
    pub plan: Plan,
    /// The project root: the manifest's directory.
    pub root: PathBuf,
    /// Where builds and runs go: `RACE_HUNT_TARGET_DIR`, else
    /// `$CARGO_TARGET_DIR/race-hunt`, else `<root>/target/race-hunt`.
    pub state: PathBuf,
    pub nightly: String,
    /// Why each suite (and the fixtures) is in or out under `--changed-since`.
    pub changes: Vec<String>,
}

impl Session {
    pub fn env<'a>(&'a self, seed: u64, builds: &'a Path, command: &'a str) -> Env<'a> {
        Env {
            seed,
            nightly: &self.nightly,
            root: &self.root,
            engine: crate::root::engine_root(),
            builds,
            command,
            manifest: &self.manifest.path,
            budget: &self.level,
        }
    }

    /// Build directories, one per (detector build, target).
    pub fn builds(&self) -> PathBuf {
        self.state.join("build")
    }
}

impl Selection {
    /// Step 1, plan: read the manifest and plan the cells.
    pub fn open(&self) -> exit::Result<Session> {
        let path = match &self.manifest {
            Some(p) => p.clone(),
            None => crate::manifest::find_manifest().ok_or_else(|| {
                Failure::usage("no race-hunt.toml in this directory or any parent (pass --manifest PATH, or write one with `race-hunt init`)")
            })?,
        };
        let path = std::path::absolute(&path).unwrap_or(path);
        let m = manifest::load(&path).map_err(|e| Failure::Manifest(e.to_string()))?;
        let level = self.budget.clone().unwrap_or_else(|| m.default_budget.clone());
        if !m.budget_levels.contains(&level) {
            return Err(Failure::usage(format!(
                "unknown budget `{level}` (this manifest has: {})",
                m.budget_levels.join(", ")
            )));
        }
        let filters =
            Filters { detectors: self.detector.clone(), targets: self.target.clone(), fixtures: self.fixture.clone() };
        let host = crate::target::host_triple();
        let mut plan = plan::plan(&m, &filters, &level, &host, &|k| std::env::var(k).ok()).map_err(Failure::Usage)?;
        let root = m.dir.clone();
        let mut changes = Vec::new();
        if let Some(since) = &self.changed_since {
            let found =
                crate::changes::find(&root, since, &m.path, crate::root::engine_root()).map_err(Failure::Usage)?;
            changes = crate::changes::narrow(&mut plan, &m, &found).map_err(Failure::Usage)?;
        }
        let nightly = m.nightly();
        let state = state_dir(&root);
        Ok(Session { manifest: m, level, plan, root, state, nightly, changes })
    }
}

/// Where builds and runs go (see [`Session::state`]).
pub fn state_dir(root: &Path) -> PathBuf {
    let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    var("RACE_HUNT_TARGET_DIR")
        .or_else(|| var("CARGO_TARGET_DIR").map(|d| d.join("race-hunt")))
        .map(|d| if d.is_relative() { root.join(d) } else { d })
        .unwrap_or_else(|| root.join("target/race-hunt"))
}

/// Where this run keeps its files: `<state>/runs/<start>-<seed>-<unique>/`.
pub struct RunDir {
    pub path: PathBuf,
    pub started_unix: u64,
}

impl RunDir {
    /// A fresh directory no other run can share, even with the same seed in
    /// the same second.
    pub fn create(state: &Path, seed: u64) -> Result<RunDir, String> {
        let started_unix = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let runs = state.join("runs");
        std::fs::create_dir_all(&runs).map_err(|e| format!("cannot create {}: {e}", runs.display()))?;
        let dir = tempfile::Builder::new()
            .prefix(&format!("{started_unix}-{seed}-"))
            .rand_bytes(4)
            .tempdir_in(&runs)
            .map_err(|e| format!("cannot create a run directory in {}: {e}", runs.display()))?;
        Ok(RunDir { path: dir.keep(), started_unix })
    }

    /// Point `<state>/latest` at this run, atomically (called once the
    /// run's report is complete).
    pub fn mark_latest(&self, state: &Path) {
        let latest = state.join("latest");
        let tmp = state.join(format!(".latest-{}", std::process::id()));
        let _ = std::fs::remove_file(&tmp);
        if std::os::unix::fs::symlink(&self.path, &tmp).is_ok() {
            let _ = std::fs::rename(&tmp, &latest);
        }
    }
}

/// `cargo xtask` or `cargo race-hunt`: how the user runs the engine.
pub fn command_name() -> &'static str {
    let exe = std::env::args().next().unwrap_or_default();
    if Path::new(&exe).file_name().is_some_and(|n| n.to_string_lossy().starts_with("cargo-race-hunt")) {
        "cargo race-hunt"
    } else {
        "cargo xtask"
    }
}

/// An expectation as `--list` shows it, before any probe ran: `detect-if`
/// says what decides it.
pub fn expectation_words(e: &Expectation) -> String {
    match e {
        Expectation::DetectIf(cond) => format!("detect-if {cond} (decided by the target's probe at run time)"),
        Expectation::May(reason) => format!("may ({reason})"),
        other => other.word().to_string(),
    }
}

/// Steps 2 and 3, provision and build: for every (detector, target) with
/// cells, install what it needs (or mark its cells `skipped` with the
/// command to run), then make every build the cells need. Builds are shared
/// by every cell, and by every detector whose build spec is the same; they
/// run [`BUILDERS`] at a time (see [`builders`]), so one build's serial steps (the last crate,
/// the link) leave no core idle while another compiles. One group per
/// column of the plan, in its order (a column left without cells gets an
/// unbuilt group), so that `groups[cell.column.0]` is a cell's group.
pub fn prepare(session: &Session, env: &Env<'_>, run_dir: &Path, allow_install: bool) -> Vec<Group> {
    let plan = &session.plan;
    let mut provisioner = Provisioner::new(allow_install);
    // Pass 1, provision (one at a time: apt and rustup hold locks), and
    // list each group's builds.
    struct Pending {
        detector: Arc<dyn Detector>,
        target: Target,
        ready: Result<(), Outcome>,
        fixture: Option<String>,
        suites: Vec<(String, String, String)>,
    }
    let mut specs: Vec<(String, BuildSpec, Target)> = Vec::new();
    let mut want = |key: String, spec: BuildSpec, t: &Target| {
        if !specs.iter().any(|(k, _, _)| *k == key) {
            specs.push((key.clone(), spec, t.clone()));
        }
        key
    };
    let mut pending = Vec::new();
    for (k, column) in plan.columns.iter().enumerate() {
        let (det, t) = (&column.detector, &column.target);
        let d = det.name();
        let cells: Vec<&Cell> = plan.cells.iter().filter(|c| c.column.0 == k).collect();
        if cells.is_empty() {
            let ready = Err(Outcome::NotRun("no cell in this column".into()));
            let p = Pending { detector: det.clone(), target: t.clone(), ready, fixture: None, suites: Vec::new() };
            pending.push(p);
            continue;
        }
        let mut needs = det.prerequisites(t, env);
        if cells.iter().any(|c| matches!(c.subject, Subject::Suite(_))) {
            needs.push(crate::nextest::prerequisite());
        }
        let ready: Result<(), Outcome> = if let Some(sig) = process::stop_signal() {
            Err(Outcome::NotRun(format!("stopped by {} before it was built", crate::process::signal_name(sig))))
        } else {
            provisioner.ensure(&needs).map_err(|reason| {
                println!("  skip  {d}@{}: {reason}", t.name);
                Outcome::Skipped(reason)
            })
        };
        let mut fixture = None;
        let mut suites = Vec::new();
        if ready.is_ok() {
            if cells.iter().any(|c| matches!(c.subject, Subject::Fixture)) {
                let spec = det.build(t, env);
                fixture = Some(want(spec.key(t), spec, t));
            }
            for c in &cells {
                let Subject::Suite(suite) = &c.subject else { continue };
                let sp = crate::cells::suite_run::plan(det.as_ref(), suite, t, env);
                let spec = crate::cells::suite_run::build_spec(&sp, suite, t, env);
                let key = want(crate::cells::suite_run::build_key(&sp, suite, t), spec, t);
                suites.push((c.fixture_variant(), suite.name.clone(), key));
            }
        }
        pending.push(Pending { detector: det.clone(), target: t.clone(), ready, fixture, suites });
    }
    // Pass 2, build.
    let log_of = |key: &str| run_dir.join("builds").join(format!("{}.log", file_name(key)));
    let built = build_all(&specs, env, &log_of);
    let outcome = |key: &str| -> Result<Artifact, Outcome> {
        built[key].clone().map_err(|e| match process::stop_signal() {
            Some(_) => Outcome::NotRun(e),
            None => Outcome::Error(e),
        })
    };
    // Pass 3, each group with its builds.
    pending
        .into_iter()
        .enumerate()
        .map(|(k, p)| {
            let artifact = match (&p.ready, &p.fixture) {
                (Err(o), _) => Err(o.clone()),
                (Ok(()), Some(key)) => outcome(key),
                (Ok(()), None) => Err(Outcome::Error("no fixture cell in this group".into())),
            };
            let mut suite_builds = BTreeMap::new();
            for (cell, suite, key) in &p.suites {
                let result = outcome(key).and_then(|_| {
                    let log = log_of(key);
                    match std::fs::read_to_string(&log).ok().and_then(|l| crate::cells::suite_run::tests_listed(&l)) {
                        Some(0) => Err(Outcome::Error(format!(
                            "suite `{suite}` has no test that its filter selects; see {}",
                            log.display()
                        ))),
                        _ => Ok(()),
                    }
                });
                suite_builds.insert(cell.clone(), result);
            }
            if let Err(o) = &p.ready {
                for c in plan.cells.iter().filter(|c| matches!(c.subject, Subject::Suite(_)) && c.column.0 == k) {
                    suite_builds.insert(c.fixture_variant(), Err(o.clone()));
                }
            }
            Group { detector: p.detector, target: p.target, artifact, suite_builds }
        })
        .collect()
}

/// How many builds run at once, unless `RACE_HUNT_BUILDERS` says otherwise
/// (1 makes them one after another, as before; the README's build
/// benchmark compares the two).
pub const BUILDERS: usize = 2;

fn builders() -> usize {
    std::env::var("RACE_HUNT_BUILDERS").ok().and_then(|v| v.parse().ok()).filter(|n| *n >= 1).unwrap_or(BUILDERS)
}

/// Make every build, [`builders`] at a time, in the order given; each
/// prints one line when it ends. A stop signal leaves the rest unbuilt.
fn build_all(
    specs: &[(String, BuildSpec, Target)],
    env: &Env<'_>,
    log_of: &(dyn Fn(&str) -> PathBuf + Sync),
) -> BTreeMap<String, Result<Artifact, String>> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results = std::sync::Mutex::new(BTreeMap::new());
    let workers = builders().min(specs.len());
    if !specs.is_empty() {
        println!("  {} build(s), {workers} at a time", specs.len());
    }
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let Some((key, spec, t)) = specs.get(i) else { break };
                let r = if let Some(sig) = process::stop_signal() {
                    Err(format!("stopped by {} before it was built", crate::process::signal_name(sig)))
                } else {
                    let t0 = Instant::now();
                    let r = builds::build(spec, t, env, &log_of(key));
                    match &r {
                        Ok(_) => println!(
                            "  build {key} ({}) done in {}",
                            t.triple,
                            crate::stats::duration(t0.elapsed().as_millis() as u64)
                        ),
                        Err(e) => println!("  build {key} ({}) FAILED\n{e}", t.triple),
                    }
                    r
                };
                results.lock().unwrap_or_else(|e| e.into_inner()).insert(key.clone(), r);
            });
        }
    });
    results.into_inner().unwrap_or_else(|e| e.into_inner())
}

/// A build key as a file name.
/// A build key as a file name: the key's safe characters, cut short with a
/// hash of the whole key when it is long (a suite's key carries its filter,
/// and a file name is at most 255 bytes).
fn file_name(key: &str) -> String {
    const KEEP: usize = 100;
    let safe: String =
        key.chars().map(|c| if c.is_ascii_alphanumeric() || "-_.@".contains(c) { c } else { '_' }).collect();
    if safe.len() <= KEEP + 17 {
        return safe;
    }
    // FNV-1a: stable across runs and toolchains.
    let hash = key.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    format!("{}-{hash:016x}", &safe[..KEEP])
}

/// Step 4, probe: one litmus run per target that has a build hosting it.
pub fn probe_targets(plan: &Plan, groups: &[Group], run_dir: &Path) -> BTreeMap<String, (Probe, Conditions)> {
    let mut probes = BTreeMap::new();
    for t in &plan.targets {
        let Some(bin) = groups
            .iter()
            .filter(|g| g.target.name == t.name && g.detector.hosts_probe())
            .find_map(|g| g.artifact.as_ref().ok().and_then(|a| a.binary.clone()))
        else {
            continue;
        };
        if process::interrupted() {
            break;
        }
        let log = run_dir.join("probes").join(format!("{}.log", t.name));
        match probe::run(&bin, t, &log) {
            Ok(found) => {
                println!("  probe {}: {}", t.name, found.1.finding);
                probes.insert(t.name.clone(), found);
            }
            Err(e) => println!("  probe {}: failed: {e}", t.name),
        }
    }
    probes
}

/// Each cell's expectation with `detect-if` resolved by its target's probe.
pub fn resolve_expectations(plan: &Plan, probes: &BTreeMap<String, (Probe, Conditions)>) -> Vec<Expectation> {
    plan.cells.iter().map(|c| grade::resolve(&c.expect, probes.get(&c.target.name).map(|p| &p.1))).collect()
}

/// What the manifest's baseline says about `cells`, when it names one.
pub fn baseline_status(m: &Manifest, cells: &[CellReport]) -> Option<race_hunt_report::BaselineStatus> {
    let b = m.baseline.as_ref()?;
    Some(b.status(m.baseline_name.as_deref().unwrap_or(crate::baseline::DEFAULT_FILE), cells))
}

/// Step 6, grade: each cell's outcome (its evidence fingerprinted) against
/// its expectation and the baseline, in the plan's order, with the
/// starved-machine note where it applies.
pub fn grade_cells(
    cells: &[Cell],
    expectations: &[Expectation],
    runs: Vec<CellRun>,
    groups: &[Group],
    probes: &BTreeMap<String, (Probe, Conditions)>,
    baseline: Option<&crate::baseline::Baseline>,
) -> Vec<CellReport> {
    cells
        .iter()
        .zip(expectations)
        .zip(runs)
        .map(|((cell, expect), mut run)| {
            run.outcome = crate::fingerprint::assign_outcome(&cell.detector, run.outcome);
            let (verdict, mut reason) = grade::grade(expect, &run.outcome, cell.hang_detects, baseline);
            let group = groups.get(cell.column.0);
            // A racy cell that came up clean without getting its CPU is not a
            // missed race but an inconclusive run: it still fails (it did not
            // hunt), and says why.
            if let (Some(why), Verdict::Fail, Outcome::Clean) = (&run.starved, verdict, &run.outcome) {
                reason = Some(format!("inconclusive ({why})"));
            }
            let starved = match (&run.outcome, probes.get(&cell.target.name)) {
                (Outcome::Clean, _) if run.starved.is_some() => run.starved.clone(),
                (Outcome::Clean, Some((p, _))) if !p.parallel && group.is_some_and(|g| g.detector.needs_parallelism()) => Some(format!(
                    "run on a starved machine: the probe on {} saw its two threads make progress at the same time in {} of {} windows, so they (almost) never ran at the same time; a clean real-thread result here says little",
                    cell.target.name, p.litmus.overlap_windows, p.litmus.windows
                )),
                _ => None,
            };
            let (expect_word, expect_reason) = match expect {
                Expectation::Detect => (Expect::Detect, None),
                Expectation::Pass => (Expect::Pass, None),
                Expectation::May(r) => (Expect::May, Some(r.clone())),
                Expectation::DetectIf(c) => (Expect::May, Some(format!("unresolved condition `{c}`"))),
            };
            CellReport {
                fixture: cell.fixture.clone(),
                variant: cell.variant.clone(),
                subject: cell.subject.kind(),
                role: cell.role,
                racy: cell.racy,
                class: cell.class,
                detector: cell.detector.clone(),
                target: cell.target.triple.clone(),
                target_name: cell.target.name.clone(),
                expect: expect_word,
                expect_reason,
                outcome: run.outcome.kind(),
                verdict,
                reason,
                elapsed_ms: run.elapsed_ms,
                cpu_ms: run.cpu_ms,
                attempts: run.attempts,
                evidence: run.outcome.evidence().cloned(),
                log: run.log,
                starved,
                notes: run.notes,
                not_credited: None,
            }
        })
        .collect()
}

pub fn target_reports(plan: &Plan, probes: &BTreeMap<String, (Probe, Conditions)>) -> Vec<TargetReport> {
    plan.targets
        .iter()
        .map(|t| TargetReport {
            name: t.name.clone(),
            triple: t.triple.clone(),
            native: t.native,
            runner: t.runner.as_ref().map(|(w, _)| shell::join(w)),
            runner_source: t.runner.as_ref().map(|(_, s)| format!("{s:?}").to_lowercase()),
            probe: probes.get(&t.name).map(|p| p.0.clone()),
        })
        .collect()
}

/// The commit of the project, when it is a git checkout.
pub fn git_commit(root: &Path) -> Option<String> {
    let out = std::process::Command::new("git").args(["rev-parse", "HEAD"]).current_dir(root).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// What to say of the racy variants no cell detected: a note where their
/// expectations allowed it (every cell of the variant `ok`), and a plain
/// statement where some cell had to detect it and failed.
fn undetected_notes(report: &Report) -> Vec<String> {
    let (allowed, failed): (Vec<&String>, Vec<&String>) =
        report.summary.undetected_racy_variants.iter().partition(|name| {
            report
                .cells
                .iter()
                .filter(|c| format!("{}/{}", c.fixture, c.variant) == **name)
                .all(|c| c.verdict != race_hunt_report::Verdict::Fail)
        });
    let join = |v: &[&String]| v.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ");
    let mut lines = Vec::new();
    if !allowed.is_empty() {
        lines.push(format!(
            "note: racy variants no cell of this run detected (their expectations allow it; see the manifest for the detectors that can): {}",
            join(&allowed)
        ));
    }
    if !failed.is_empty() {
        lines.push(format!(
            "racy variants no cell of this run detected although some cell had to (see the failures above): {}",
            join(&failed)
        ));
    }
    lines
}

/// Where a run or the gate writes its report besides the run directory.
#[derive(Debug, Clone, Copy, Default)]
pub struct Outputs<'a> {
    pub json: Option<&'a Path>,
    pub junit: Option<&'a Path>,
    pub sarif: Option<&'a Path>,
}

/// The command that writes a baseline from this report, when a
/// pass-expected cell failed on findings (a race the crate may allow by
/// design): printed so a team can accept them with a reason.
pub fn baseline_hint(report: &Report, written: &Path) -> Option<String> {
    let failing = report.cells.iter().any(|c| {
        c.expect == Expect::Pass
            && !c.racy
            && c.verdict == race_hunt_report::Verdict::Fail
            && c.outcome == race_hunt_report::Outcome::Detected
            && c.evidence.as_ref().is_some_and(|e| !e.fingerprints.is_empty())
    });
    if !failing {
        return None;
    }
    let out = report.baseline.as_ref().map_or(crate::baseline::DEFAULT_FILE, |b| b.path.as_str());
    let written = std::path::absolute(written).unwrap_or_else(|_| written.to_path_buf());
    Some(format!(
        "to accept these findings as known (a race the code allows by design), list them with a reason and name the file in the manifest ([run] baseline):\n  {} race-hunt baseline {} --out {} --reason 'WHY'",
        command_name(),
        shell::quote(&written.display().to_string()),
        shell::quote(out)
    ))
}

/// Step 7, report: the matrix, detections and failures on the terminal;
/// the JSON report in the run directory and at `--json`; JUnit; SARIF; the
/// GitHub step summary and annotations; the exit code.
pub fn report_run(report: &Report, run_dir: &RunDir, state: &Path, outputs: Outputs<'_>) -> exit::Result {
    let Outputs { json, junit, sarif } = outputs;
    println!("\n{}", matrix::render(report));
    let detections = matrix::detections(report);
    if !detections.is_empty() {
        println!("detections:\n{detections}");
    }
    let failures = matrix::failures(report);
    if !failures.is_empty() {
        println!("{failures}");
    }
    for line in undetected_notes(report) {
        println!("{line}");
    }
    if let Some(status) = &report.baseline {
        crate::report::print_baseline_status(status);
    }
    crate::github::annotate(report);
    let mut write_failures = Vec::new();
    let own = Path::new(&report.run_dir).join("report.json");
    if let Err(e) = report::write(report, &own) {
        write_failures.push(format!("failed to write {}: {e}", own.display()));
    } else {
        run_dir.mark_latest(state);
    }
    if let Some(path) = json {
        match report::write(report, path) {
            Ok(()) => println!("report: {}", path.display()),
            Err(e) => write_failures.push(format!("failed to write {}: {e}", path.display())),
        }
    }
    if let Some(path) = junit {
        match report::write_atomic(path, crate::junit::render(report).as_bytes()) {
            Ok(()) => println!("junit: {}", path.display()),
            Err(e) => write_failures.push(format!("failed to write {}: {e}", path.display())),
        }
    }
    if let Some(path) = sarif {
        match report::write_atomic(path, crate::sarif::render(report).as_bytes()) {
            Ok(()) => println!("sarif: {}", path.display()),
            Err(e) => write_failures.push(format!("failed to write {}: {e}", path.display())),
        }
    }
    if let Some(line) = baseline_hint(report, json.unwrap_or(&own)) {
        println!("{line}");
    }
    crate::github::step_summary(report);
    let s = &report.summary;
    println!(
        "gate: {} ({} ok, {} fail, {} skipped{} of {} cells) in {}",
        matrix::gate_word(s.gate),
        s.ok,
        s.fail,
        s.skipped,
        if s.not_run > 0 { format!(", {} not run", s.not_run) } else { String::new() },
        s.cells,
        crate::stats::duration(report.elapsed_ms)
    );
    if let Some(u) = &report.usage {
        println!("{}", crate::matrix::usage_line(u));
    }
    if !write_failures.is_empty() {
        return Err(Failure::Infrastructure(anyhow::anyhow!(write_failures.join("; "))));
    }
    Ok(s.exit_code)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Configure once: opening a run configures each detector once per
    /// budget level (the manifest's parse-time check, kept), nothing after
    /// it configures again, every column of a detector shares that one
    /// instance, and a cell's column is its own detector and target.
    #[test]
    fn a_run_configures_each_detector_once_and_each_cell_indexes_its_column() {
        let configured = || crate::manifest::tests::CONFIGURED.with(|n| n.get());
        let before = configured();
        let selection = Selection {
            detector: vec!["all".into()],
            target: vec!["all".into()],
            manifest: Some(crate::root::engine_root().join("race-hunt.toml")),
            ..Selection::default()
        };
        let session = selection.open().unwrap();
        let m = &session.manifest;
        assert_eq!(configured() - before, m.budget_levels.len() * m.detectors.len(), "once per (detector, level)");
        let after_open = configured();
        // Planning again (as `ci` does per entry) configures nothing.
        let f = Filters { detectors: vec!["all".into()], targets: vec!["all".into()], fixtures: vec![] };
        let again = plan::plan(m, &f, &session.level, &crate::target::host_triple(), &|_| None).unwrap();
        assert_eq!(configured(), after_open);

        let plan = &session.plan;
        let shared = m.configured(&session.level);
        assert!(plan.detectors.len() >= 2 && plan.columns.len() > plan.detectors.len(), "{plan:?}");
        for d in &plan.detectors {
            assert!(shared.iter().any(|s| Arc::ptr_eq(s, d)), "{d:?} is the manifest's instance");
        }
        for column in plan.columns.iter().chain(&again.columns) {
            assert!(
                shared.iter().any(|s| Arc::ptr_eq(s, &column.detector)),
                "{:?}@{} shares its detector",
                column.detector,
                column.target.name
            );
        }
        assert!(
            plan.cells.iter().any(|c| matches!(c.subject, Subject::Suite(_))),
            "suite cells and their canaries too"
        );
        for c in &plan.cells {
            let column = &plan.columns[c.column.0];
            assert_eq!(
                (column.detector.name(), column.target.name.as_str()),
                (c.detector.as_str(), c.target.name.as_str())
            );
        }
    }

    #[test]
    fn a_suite_build_with_a_long_filter_gets_a_log_file_the_system_accepts() {
        let filter = (0..8).map(|i| format!("binary_id(crossbeam-utils::test_file_{i})")).collect::<Vec<_>>();
        let key = format!("suites-release@x86_64 [crossbeam-utils /a/b/Cargo.toml -E {}]", filter.join(" | "));
        let name = file_name(&key);
        assert!(name.len() <= 117, "{name}");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(format!("{name}.log")), "x").unwrap();
        // Two keys that differ only past the cut still get their own files.
        assert_ne!(name, file_name(&key.replace("file_7", "file_9")));
        // A short key keeps its readable name.
        assert_eq!(file_name("stress@x86_64"), "stress@x86_64");
    }

    #[test]
    fn a_report_that_cannot_be_written_at_the_end_is_exit_4_never_1() {
        let state = tempfile::tempdir().unwrap();
        let run_dir = RunDir::create(state.path(), 1).unwrap();
        let mut report = crate::matrix::tests_report();
        report.run_dir = run_dir.path.display().to_string();
        report.cells.retain(|c| c.verdict == race_hunt_report::Verdict::Ok);
        report.summary = crate::report::summarize(&report.cells, false, None);
        assert_eq!(report_run(&report, &run_dir, state.path(), Outputs::default()).unwrap(), 0);
        let err = report_run(
            &report,
            &run_dir,
            state.path(),
            Outputs { json: Some(Path::new("/proc/race-hunt.json")), ..Outputs::default() },
        )
        .unwrap_err();
        assert_eq!(err.code(), exit::INFRASTRUCTURE);
        assert!(err.to_string().contains("/proc/race-hunt.json"), "{err}");
    }

    #[test]
    fn undetected_racy_variants_are_allowed_only_where_every_cell_passed() {
        use race_hunt_report::{Outcome as O, Verdict as V};
        let mut report = crate::matrix::tests_report();
        let cell = |variant: &str, verdict: V| {
            let mut c = crate::report::tests::cell(variant, true, O::Clean, verdict);
            c.fixture = "bank".into();
            c
        };
        report.cells = vec![cell("racy-narrow-window", V::Ok), cell("racy-two-sections", V::Fail)];
        report.summary = crate::report::summarize(&report.cells, false, None);
        let notes = undetected_notes(&report);
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert!(notes[0].contains("expectations allow it") && notes[0].ends_with("bank/racy-narrow-window"));
        assert!(!notes[1].contains("allow") && notes[1].ends_with("bank/racy-two-sections"), "{notes:?}");
    }

    #[test]
    fn run_directories_are_unique_and_latest_points_at_a_complete_one() {
        let state = tempfile::tempdir().unwrap();
        let a = RunDir::create(state.path(), 7).unwrap();
        let b = RunDir::create(state.path(), 7).unwrap();
        assert_ne!(a.path, b.path);
        a.mark_latest(state.path());
        assert_eq!(std::fs::read_link(state.path().join("latest")).unwrap(), a.path);
    }
}
