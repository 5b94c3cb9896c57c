//! Step 5, run: the cells in parallel, each holding the cores it keeps
//! busy, each child in its own process group with its timeout; a racy
//! cell stops at its first detection, a clean one spends its budget. A
//! panic in the harness while running a cell makes that cell an `error`
//! and the run goes on.

pub mod suite_run;

use std::collections::BTreeMap;
use std::io::Write;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use race_hunt_report::RunnerResult;

use crate::cell::{Cell, ColumnId, Expectation, Subject};
use crate::detector::{replay_xtask, Detector, Finished as Done};
use crate::invocation::{Artifact, Env, Invocation, Replay};
use crate::outcome::Outcome;
use crate::process::{self, Exit};
use crate::target::Target;

/// One detector's build for one target, and what it produced: a planned
/// column (`Plan::columns`) made ready. `prepare` returns one per column,
/// in the plan's order, so a cell's group is `groups[cell.column.0]`.
pub struct Group {
    /// The run's one configured instance of the detector (shared by its columns).
    pub detector: Arc<dyn Detector>,
    pub target: Target,
    /// The fixture build's artifact, or the outcome its cells get.
    pub artifact: Result<Artifact, Outcome>,
    /// Each suite cell's build (by `suite/variant`), or the outcome it gets.
    pub suite_builds: BTreeMap<String, Result<(), Outcome>>,
}

/// What running one cell gave.
#[derive(Debug, Clone)]
pub struct Finished {
    pub outcome: Outcome,
    pub attempts: u64,
    pub elapsed_ms: u64,
    /// CPU time (user + system) of every process the cell ran, with what
    /// they waited for (a runner's threads, nextest's tests).
    pub cpu_ms: u64,
    pub log: Option<String>,
    /// Why a clean real-thread result is inconclusive, measured on the cell.
    pub starved: Option<String>,
    /// How the outcome was reached, when that needs saying.
    pub notes: Vec<String>,
}

/// Where a cell's files live: `<run>/<fixture>/<variant>/<detector>@<target>/`.
/// Names are checked path components (see `manifest::check_name`).
pub fn cell_dir(run_dir: &Path, cell: &Cell) -> PathBuf {
    run_dir.join(&cell.fixture).join(&cell.variant).join(format!("{}@{}", cell.detector, cell.target.name))
}

/// Run every cell; the result is in the plan's order. Each column's
/// canaries run first (they are short, and an interrupted run has then
/// proven what it could); a suite cell waits for its column's canaries,
/// and when they leave the column unproven (`grade::column_problems`) it
/// is not run: its outcome is `error` "detector not proven here", since
/// the detector is broken on this machine and the cell's time would buy
/// nothing.
pub fn run_all(
    m: &crate::manifest::Manifest,
    cells: &[Cell],
    expectations: &[Expectation],
    groups: &[Group],
    env: &Env<'_>,
    run_dir: &Path,
    jobs: usize,
) -> Vec<Finished> {
    let schedule = Mutex::new(Schedule::new(m, cells, expectations));
    let ready = Condvar::new();
    let cores = Slots::new(jobs);
    let total = cells.len();
    let (tx, rx) = mpsc::channel::<(usize, Finished)>();
    let mut results: Vec<Option<Finished>> = vec![None; total];
    std::thread::scope(|s| {
        for _ in 0..jobs.min(total) {
            let tx = tx.clone();
            let (schedule, ready, cores) = (&schedule, &ready, &cores);
            s.spawn(move || loop {
                let (i, blocked) = {
                    let mut sch = schedule.lock().unwrap_or_else(|p| p.into_inner());
                    loop {
                        match sch.next(m, cells, expectations) {
                            Next::Run(i, blocked) => break (i, blocked),
                            Next::Wait => sch = ready.wait(sch).unwrap_or_else(|p| p.into_inner()),
                            Next::Done => return,
                        }
                    }
                };
                let cell = &cells[i];
                let group = &groups[cell.column.0];
                let run = match blocked {
                    Some(why) => not_proven(cell, group, &why),
                    None => {
                        let held = cores.acquire(group.detector.cores());
                        let t0 = Instant::now();
                        let run = panic::catch_unwind(AssertUnwindSafe(|| run_cell(cell, group, env, run_dir)))
                            .unwrap_or_else(|payload| Finished {
                                outcome: Outcome::Error(format!(
                                    "the harness panicked while running this cell: {}",
                                    panic_message(&payload)
                                )),
                                attempts: 0,
                                elapsed_ms: t0.elapsed().as_millis() as u64,
                                cpu_ms: 0,
                                log: None,
                                notes: Vec::new(),
                                starved: None,
                            });
                        cores.release(held);
                        run
                    }
                };
                schedule.lock().unwrap_or_else(|p| p.into_inner()).finished(i, &run.outcome);
                ready.notify_all();
                if tx.send((i, run)).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        let mut done = 0;
        for (i, r) in rx {
            done += 1;
            println!("[{done:>3}/{total}] {}", progress_line(&cells[i], &r));
            results[i] = Some(r);
        }
    });
    results
        .into_iter()
        .map(|r| {
            r.unwrap_or(Finished {
                outcome: Outcome::Error("the cell never reported".into()),
                attempts: 0,
                elapsed_ms: 0,
                cpu_ms: 0,
                log: None,
                notes: Vec::new(),
                starved: None,
            })
        })
        .collect()
}

/// A suite cell of an unproven column: not run. A missing build or a stop
/// signal says so as it would have; otherwise it is the column's error.
fn not_proven(cell: &Cell, group: &Group, why: &str) -> Finished {
    let built = group.suite_builds.get(&cell.fixture_variant()).cloned().unwrap_or(Ok(()));
    let outcome = match built {
        _ if process::interrupted() => {
            let sig = crate::process::signal_name(process::stop_signal().unwrap_or(2));
            Outcome::NotRun(format!("stopped by {sig} before it ran"))
        }
        Err(outcome) => outcome,
        Ok(()) => Outcome::Error(format!("detector not proven here: {why}")),
    };
    Finished { outcome, attempts: 0, elapsed_ms: 0, cpu_ms: 0, log: None, notes: Vec::new(), starved: None }
}

/// The order cells start in: canaries of the columns that hunt suites
/// first, then the cells that spend their whole budget (better packing),
/// then the rest; a suite cell only once its column's canaries finished.
struct Schedule {
    pending: Vec<usize>,
    /// Per column (detector, target): its canary cells in this run, and
    /// the canaries' outcomes as they finish.
    columns: Vec<Column>,
    /// A cell's column, for suite cells and canary cells.
    column_of: Vec<Option<usize>>,
}

struct Column {
    id: ColumnId,
    detector: String,
    target: String,
    canaries: Vec<usize>,
    finished: Vec<(usize, Outcome)>,
    /// Decided once every canary finished: `Some(why)` when not proven.
    blocked: Option<Option<String>>,
}

#[derive(Debug, PartialEq)]
enum Next {
    /// Start cell `i`; `Some(why)` when its column is not proven.
    Run(usize, Option<String>),
    /// Every pending cell waits for a canary that is running.
    Wait,
    Done,
}

impl Schedule {
    fn new(m: &crate::manifest::Manifest, cells: &[Cell], expectations: &[Expectation]) -> Schedule {
        let mut columns: Vec<Column> = Vec::new();
        let mut column_of = vec![None; cells.len()];
        for (i, c) in cells.iter().enumerate().filter(|(_, c)| matches!(c.subject, Subject::Suite(_))) {
            let k = match columns.iter().position(|k| k.id == c.column) {
                Some(k) => k,
                None => {
                    let canary = crate::plan::canaries_for(m, &c.detector, &c.target.name);
                    let canaries = cells
                        .iter()
                        .enumerate()
                        .filter(|(_, f)| {
                            matches!(f.subject, Subject::Fixture)
                                && f.column == c.column
                                && canary.iter().any(|(fx, v)| *fx == f.fixture && v.name == f.variant)
                        })
                        .map(|(j, _)| j)
                        .collect();
                    columns.push(Column {
                        id: c.column,
                        detector: c.detector.clone(),
                        target: c.target.name.clone(),
                        canaries,
                        finished: Vec::new(),
                        blocked: None,
                    });
                    columns.len() - 1
                }
            };
            column_of[i] = Some(k);
        }
        for (k, col) in columns.iter().enumerate() {
            for &j in &col.canaries {
                column_of[j] = Some(k);
            }
        }
        let mut pending: Vec<usize> = (0..cells.len()).collect();
        let is_canary = |i: usize| matches!(cells[i].subject, Subject::Fixture) && column_of[i].is_some();
        pending.sort_by_key(|&i| (!is_canary(i), matches!(expectations[i], Expectation::Detect), i));
        Schedule { pending, columns, column_of }
    }

    /// The first pending cell that may start now.
    fn next(&mut self, m: &crate::manifest::Manifest, cells: &[Cell], expectations: &[Expectation]) -> Next {
        if self.pending.is_empty() {
            return Next::Done;
        }
        let mut chosen = None;
        for (at, &i) in self.pending.iter().enumerate() {
            let column = self.column_of[i].filter(|_| matches!(cells[i].subject, Subject::Suite(_)));
            match column {
                None => {
                    chosen = Some((at, None));
                    break;
                }
                Some(k) => {
                    let col = &mut self.columns[k];
                    if col.finished.len() < col.canaries.len() {
                        continue;
                    }
                    if col.blocked.is_none() {
                        col.blocked = Some(column_verdict(m, col, cells, expectations));
                    }
                    chosen = Some((at, col.blocked.clone().flatten()));
                    break;
                }
            }
        }
        match chosen {
            Some((at, blocked)) => Next::Run(self.pending.remove(at), blocked),
            None => Next::Wait,
        }
    }

    fn finished(&mut self, i: usize, outcome: &Outcome) {
        if let Some(k) = self.column_of[i] {
            let col = &mut self.columns[k];
            if col.canaries.contains(&i) {
                col.finished.push((i, outcome.clone()));
            }
        }
    }
}

/// Whether a column whose canaries all finished is proven: `Some(why)`
/// when not, by `grade`'s own rules. A canary of another shard says
/// nothing yet (the gate proves the column over every shard).
fn column_verdict(
    m: &crate::manifest::Manifest,
    col: &Column,
    cells: &[Cell],
    expectations: &[Expectation],
) -> Option<String> {
    let graded: Vec<(usize, race_hunt_report::Verdict, Option<String>)> = col
        .finished
        .iter()
        .map(|(i, o)| {
            let (verdict, reason) =
                crate::grade::grade(&expectations[*i], o, cells[*i].hang_detects, m.baseline.as_ref());
            (*i, verdict, reason)
        })
        .collect();
    let run = |fixture: &str, variant: &str| {
        let at = col.finished.iter().position(|(i, _)| cells[*i].fixture == fixture && cells[*i].variant == variant)?;
        let (_, outcome) = &col.finished[at];
        let (_, verdict, reason) = &graded[at];
        Some(crate::grade::CanaryRun {
            outcome: outcome.kind(),
            verdict: *verdict,
            evidence: outcome.evidence(),
            reason: reason.as_deref(),
            // Credit across variants is decided once every cell is graded.
            credited: true,
        })
    };
    let problems = crate::grade::column_problems(m, &col.detector, &col.target, run, false);
    (!problems.is_empty()).then(|| problems.join("; "))
}

fn panic_message(payload: &Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

fn progress_line(cell: &Cell, r: &Finished) -> String {
    let what = match &r.outcome {
        Outcome::Detected(e) => format!(
            "detected ({}) in {} ({} attempts): {}",
            e.kind,
            crate::stats::duration(r.elapsed_ms),
            r.attempts,
            e.message
        ),
        Outcome::Clean => format!(
            "clean after {} attempts in {}{}",
            r.attempts,
            crate::stats::duration(r.elapsed_ms),
            r.notes.iter().map(|n| format!(" ({n})")).collect::<String>()
        ),
        Outcome::Hang(e) => format!("hang: {}", e.message),
        Outcome::Skipped(m) => format!("skipped: {m}"),
        Outcome::Error(m) => format!("error: {m}"),
        Outcome::NotRun(m) => format!("not run: {m}"),
    };
    format!("{}: {what}", cell.id())
}

/// Run one cell: its invocations in order until one gives an answer other
/// than clean.
pub fn run_cell(cell: &Cell, group: &Group, env: &Env<'_>, run_dir: &Path) -> Finished {
    let dir = cell_dir(run_dir, cell);
    let log = dir.join("output.log");
    let t0 = Instant::now();
    CELL_CPU.with(|c| c.set(Duration::ZERO));
    let built = match &cell.subject {
        Subject::Suite(_) => group
            .suite_builds
            .get(&cell.fixture_variant())
            .cloned()
            .unwrap_or_else(|| Err(Outcome::Error("no build for this suite cell".into()))),
        Subject::Fixture => group.artifact.clone().map(|_| ()),
    };
    let mut notes = Vec::new();
    let mut starved = None;
    let (outcome, attempts) = match (built, &cell.subject, &group.artifact) {
        (Err(outcome), _, _) => (outcome, 0),
        _ if process::interrupted() => {
            let sig = crate::process::signal_name(process::stop_signal().unwrap_or(2));
            (Outcome::NotRun(format!("stopped by {sig} before it ran")), 0)
        }
        (Ok(()), Subject::Suite(suite), _) => {
            let _ = std::fs::remove_file(&log);
            let mut suite_notes = Vec::new();
            let r = with_its_share(group.detector.as_ref(), Measure::LeftByOthers, || {
                let r = suite_run::execute(cell, suite, group, env, &dir, &log, None);
                suite_notes.extend(r.notes);
                (r.outcome, r.attempts)
            });
            notes = suite_notes;
            notes.extend(r.note);
            starved = r.starved;
            (r.outcome, r.attempts)
        }
        (Ok(()), Subject::Fixture, Ok(artifact)) => {
            let _ = std::fs::remove_file(&log);
            let r = with_its_share(group.detector.as_ref(), Measure::OwnCpu, || {
                run_invocations(cell, group, artifact, env, &dir, &log, None)
            });
            notes.extend(r.note);
            starved = r.starved;
            (r.outcome, r.attempts)
        }
        (Ok(()), Subject::Fixture, Err(outcome)) => (outcome.clone(), 0),
    };
    Finished {
        outcome,
        attempts,
        elapsed_ms: t0.elapsed().as_millis() as u64,
        cpu_ms: cell_cpu().as_millis() as u64,
        log: log.is_file().then(|| log.display().to_string()),
        notes,
        starved,
    }
}

fn cell_cpu() -> Duration {
    CELL_CPU.with(|c| c.get())
}

/// The share of the cores it holds that a clean real-thread fixture cell
/// must get on average: below it, its threads mostly waited for a core
/// instead of racing each other (see the README's measurements of idle and
/// loaded machines), and the clean result says little.
pub const MIN_SHARE: f64 = 0.5;

/// The share of the cores it holds that other processes must leave a clean
/// real-thread suite cell on average. A suite's tests sleep and wait, so
/// their own CPU time says nothing about starvation (on an idle machine the
/// shop suites' fixed cells used 0.50-0.72 of two cores); what other
/// processes took while they ran does.
pub const MIN_LEFT: f64 = 0.75;

/// Rounds of its budget a starved real-thread cell may spend in all
/// before it is marked starved.
pub const MAX_ROUNDS: u32 = 4;

/// How a real-thread cell's share of the cores it held is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measure {
    /// A fixture's scenario keeps its threads running: the CPU time its
    /// processes got.
    OwnCpu,
    /// A suite's tests may sleep or wait: the core time other processes
    /// left it (the machine's busy time from `/proc/stat` less its own).
    LeftByOthers,
}

impl Measure {
    fn min(self) -> f64 {
        match self {
            Measure::OwnCpu => MIN_SHARE,
            Measure::LeftByOthers => MIN_LEFT,
        }
    }
}

/// What [`with_its_share`] made of a cell.
pub struct Shared {
    pub outcome: Outcome,
    pub attempts: u64,
    /// How it was extended, when it was.
    pub note: Option<String>,
    /// Why a clean result is inconclusive: the CPU it got, measured.
    pub starved: Option<String>,
}

/// The cell's measure since `start`, in core-seconds: its own CPU time, or
/// the core time other processes left it.
struct Meter {
    measure: Measure,
    /// The cores the cell held.
    cores: f64,
    /// Of those, the ones this process may use.
    usable: f64,
    t0: Instant,
    own0: Duration,
    machine0: Option<Duration>,
}

impl Meter {
    fn start(measure: Measure, cores: f64) -> Meter {
        // Only the suite measure reads the machine: the cores this process
        // may run on (its CPU affinity and cgroup quota: pinned to one
        // core, a cell that holds two has one) and `/proc/stat`.
        let (usable, machine0) = match measure {
            Measure::OwnCpu => (cores, None),
            Measure::LeftByOthers => (
                std::thread::available_parallelism().map_or(cores, |n| n.get() as f64).min(cores),
                crate::cpu::machine_busy(),
            ),
        };
        Meter { measure, cores, usable, t0: Instant::now(), own0: cell_cpu(), machine0 }
    }

    /// Core-seconds the cell had so far; `None` when it cannot be measured.
    fn got(&self) -> Option<f64> {
        let own = (cell_cpu() - self.own0).as_secs_f64();
        match self.measure {
            Measure::OwnCpu => Some(own),
            Measure::LeftByOthers => {
                let machine = crate::cpu::machine_busy()?.saturating_sub(self.machine0?).as_secs_f64();
                let others = (machine - own).max(0.0);
                Some((self.usable * self.t0.elapsed().as_secs_f64() - others).max(0.0))
            }
        }
    }

    fn what(&self, got: f64, wall: f64) -> String {
        let share = got / (wall.max(1e-3) * self.cores);
        match self.measure {
            Measure::OwnCpu => {
                format!("its processes got {got:.1} s of CPU, {share:.2} of the {} cores it held", self.cores)
            }
            Measure::LeftByOthers => {
                format!("other processes left it {got:.1} s of the {} cores it held, {share:.2} of them", self.cores)
            }
        }
    }
}

/// Run a cell's budget (`round`), and when it came up clean on a
/// real-thread detector but had less than its [`Measure`]'s minimum share
/// of the cores it held, run its budget again until the rounds together had
/// what the first round stood for (at most [`MAX_ROUNDS`] in all); still
/// short, the clean result is marked starved, with the measurement.
pub fn with_its_share(
    detector: &dyn crate::detector::Detector,
    measure: Measure,
    mut round: impl FnMut() -> (Outcome, u64),
) -> Shared {
    let meter = Meter::start(measure, detector.cores() as f64);
    let (outcome, mut attempts) = round();
    let first = meter.t0.elapsed().as_secs_f64();
    let min = measure.min();
    if !matches!(outcome, Outcome::Clean) || !detector.needs_parallelism() || first <= 0.0 {
        return Shared { outcome, attempts, note: None, starved: None };
    }
    let Some(first_got) = meter.got() else {
        return Shared { outcome, attempts, note: None, starved: None };
    };
    let want = first * meter.cores * min;
    let first_what = meter.what(first_got, first);
    let mut rounds = 1;
    loop {
        let got = meter.got().unwrap_or(want);
        let extended = |rounds: u32, got: f64| {
            format!(
                "run {rounds} times its budget: in the first round {first_what} (under {min}), so it ran until it had {got:.1} s"
            )
        };
        if got >= want {
            return Shared { outcome, attempts, note: (rounds > 1).then(|| extended(rounds, got)), starved: None };
        }
        if rounds >= MAX_ROUNDS || process::interrupted() {
            let wall = meter.t0.elapsed().as_secs_f64();
            let starved = format!(
                "starved: in {rounds} round(s) of its budget ({wall:.1} s) {} (a real-thread cell needs {min}); its threads mostly waited for a core, so a clean result says little",
                meter.what(got, wall)
            );
            return Shared { outcome, attempts, note: None, starved: Some(starved) };
        }
        let (again, more) = round();
        attempts += more;
        rounds += 1;
        if !matches!(again, Outcome::Clean) {
            let note = extended(rounds, meter.got().unwrap_or(want));
            return Shared { outcome: again, attempts, note: Some(note), starved: None };
        }
    }
}

thread_local! {
    /// The CPU time of the invocations run so far by the cell on this
    /// thread (a cell runs on one thread, from [`run_cell`] to its end).
    static CELL_CPU: std::cell::Cell<Duration> = const { std::cell::Cell::new(Duration::ZERO) };
}

/// Run a cell's invocations (or its replay's) in order until one answers;
/// return the outcome and the attempts spent.
pub fn execute(
    cell: &Cell,
    group: &Group,
    artifact: &Artifact,
    env: &Env<'_>,
    dir: &Path,
    log: &Path,
    replay: Option<&Replay>,
) -> (Outcome, u64) {
    let _ = std::fs::remove_file(log);
    run_invocations(cell, group, artifact, env, dir, log, replay)
}

/// [`execute`] without emptying the log first (a cell's later rounds add to
/// it); it makes the cell's directory.
fn run_invocations(
    cell: &Cell,
    group: &Group,
    artifact: &Artifact,
    env: &Env<'_>,
    dir: &Path,
    log: &Path,
    replay: Option<&Replay>,
) -> (Outcome, u64) {
    if let Err(e) = std::fs::create_dir_all(dir) {
        return (Outcome::Error(format!("failed to create {}: {e}", dir.display())), 0);
    }
    let mut attempts = 0;
    for planned in group.detector.invocations(cell, artifact, env, dir, replay) {
        let mut invocation = planned.clone();
        let mut notes: Vec<String> = Vec::new();
        loop {
            let (exit, text) = match run_invocation(&invocation, env, log) {
                Ok(r) => r,
                Err(e) => return (Outcome::Error(e), attempts),
            };
            let result = RunnerResult::find(&text);
            let done = Done {
                cell,
                exit: exit.clone(),
                log,
                log_text: &text,
                result: result.clone(),
                invocation: &invocation,
                env,
            };
            if notes.is_empty() {
                if let Some((prefix, note)) = group.detector.retry(&done) {
                    notes.push(note);
                    invocation.argv = prefix.into_iter().chain(planned.argv.iter().cloned()).collect();
                    continue;
                }
            }
            attempts += result.as_ref().map_or(0, |r| r.attempts);
            let mut outcome = group.detector.interpret(&done);
            if let Some(e) = outcome.evidence_mut() {
                e.notes.extend(notes.iter().cloned());
                if e.replay_xtask.is_none() {
                    let r = Replay {
                        seed: e.seed.unwrap_or(env.seed),
                        start: e.iteration,
                        file: e.replay_file.clone(),
                        test: None,
                    };
                    e.replay_xtask = Some(replay_xtask(env, cell, &r));
                }
            }
            if let Exit::Stopped(sig) = exit {
                return (Outcome::NotRun(format!("stopped by {}", crate::process::signal_name(sig))), attempts);
            }
            match outcome {
                Outcome::Clean => break,
                other => return (other, attempts),
            }
        }
    }
    (Outcome::Clean, attempts)
}

/// Start one invocation with its output appended to `log`; return how it
/// ended and the output it added, as the log keeps it (bounded: the first
/// and last few MiB, the middle of a huge output cut; the log is never
/// read back whole).
pub fn run_invocation(inv: &Invocation, env: &Env<'_>, log: &Path) -> Result<(Exit, String), String> {
    if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(log) {
        let _ = writeln!(
            f,
            "== race-hunt {}: {}",
            if inv.label.is_empty() { "run" } else { &inv.label },
            crate::detector::replay_command(&inv.env, &inv.argv, env.root)
        );
    }
    let mut cmd = Command::new(&inv.argv[0]);
    cmd.args(&inv.argv[1..]).current_dir(env.root);
    for k in &inv.unset {
        cmd.env_remove(k);
    }
    for (k, v) in &inv.env {
        cmd.env(k, v);
    }
    let ran =
        process::run_measured(cmd, log, inv.timeout).map_err(|e| format!("failed to start {}: {e}", inv.argv[0]))?;
    CELL_CPU.with(|c| c.set(c.get() + ran.cpu));
    Ok((ran.exit, ran.text))
}

/// Counting semaphore over the cores the cells may keep busy.
pub struct Slots {
    free: Mutex<usize>,
    changed: Condvar,
    capacity: usize,
}

impl Slots {
    pub fn new(capacity: usize) -> Self {
        Slots { free: Mutex::new(capacity), changed: Condvar::new(), capacity }
    }

    pub fn acquire(&self, want: usize) -> usize {
        let want = want.clamp(1, self.capacity);
        let mut free = self.free.lock().unwrap_or_else(|p| p.into_inner());
        while *free < want {
            free = self.changed.wait(free).unwrap_or_else(|p| p.into_inner());
        }
        *free -= want;
        want
    }

    pub fn release(&self, n: usize) {
        *self.free.lock().unwrap_or_else(|p| p.into_inner()) += n;
        self.changed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builds::BuildSpec;
    use crate::detector::Detector;
    use crate::invocation::Artifact;
    use crate::target::Target;
    use std::collections::BTreeMap;

    /// A detector whose planning panics, like a harness bug would.
    struct Panics;

    impl Detector for Panics {
        fn name(&self) -> &'static str {
            "panics"
        }
        fn build(&self, _: &Target, _: &Env<'_>) -> BuildSpec {
            unreachable!()
        }
        fn invocations(&self, _: &Cell, _: &Artifact, _: &Env<'_>, _: &Path, _: Option<&Replay>) -> Vec<Invocation> {
            let seconds: f64 = f64::INFINITY;
            vec![Invocation {
                argv: vec![],
                env: vec![],
                label: String::new(),
                timeout: std::time::Duration::from_secs_f64(seconds),
                unset: Vec::new(),
            }]
        }
    }

    /// A real-thread detector (two cores, clean results need parallelism)
    /// or a model (one core), for [`with_its_share`].
    struct Threads(bool);

    impl Detector for Threads {
        fn name(&self) -> &'static str {
            "threads"
        }
        fn build(&self, _: &Target, _: &Env<'_>) -> BuildSpec {
            unreachable!()
        }
        fn invocations(&self, _: &Cell, _: &Artifact, _: &Env<'_>, _: &Path, _: Option<&Replay>) -> Vec<Invocation> {
            unreachable!()
        }
        fn needs_parallelism(&self) -> bool {
            self.0
        }
        fn cores(&self) -> usize {
            if self.0 {
                2
            } else {
                1
            }
        }
    }

    /// A round of 30 ms whose processes get `share` of two cores, detecting
    /// in round `detect_in` (counting from 1).
    fn rounds(share: f64, detect_in: Option<u32>) -> impl FnMut() -> (Outcome, u64) {
        let mut n = 0;
        move || {
            n += 1;
            let t = Instant::now();
            std::thread::sleep(Duration::from_millis(30));
            let cpu = t.elapsed().mul_f64(2.0 * share);
            CELL_CPU.with(|c| c.set(c.get() + cpu));
            match detect_in {
                Some(k) if k == n => (Outcome::Error("detected".into()), 1),
                _ => (Outcome::Clean, 1),
            }
        }
    }

    #[test]
    fn a_clean_real_thread_cell_that_got_its_cores_runs_its_budget_once() {
        let r = with_its_share(&Threads(true), Measure::OwnCpu, rounds(0.8, None));
        assert!(matches!(r.outcome, Outcome::Clean) && r.attempts == 1 && r.note.is_none() && r.starved.is_none());
    }

    #[test]
    fn a_clean_real_thread_cell_short_of_cpu_runs_again_until_it_got_its_budgets_worth() {
        // 0.3 of the cores a round: two rounds give what one at 0.5 would.
        let r = with_its_share(&Threads(true), Measure::OwnCpu, rounds(0.3, None));
        assert!(matches!(r.outcome, Outcome::Clean) && r.starved.is_none(), "{:?}", r.starved);
        assert_eq!(r.attempts, 2);
        assert!(r.note.as_deref().is_some_and(|n| n.starts_with("run 2 times its budget")), "{:?}", r.note);
        // What a later round finds is the cell's outcome.
        let r = with_its_share(&Threads(true), Measure::OwnCpu, rounds(0.05, Some(2)));
        assert!(matches!(r.outcome, Outcome::Error(_)) && r.attempts == 2 && r.note.is_some());
    }

    #[test]
    fn a_real_thread_cell_still_short_after_its_rounds_is_starved_with_the_measurement() {
        let r = with_its_share(&Threads(true), Measure::OwnCpu, rounds(0.05, None));
        assert!(matches!(r.outcome, Outcome::Clean));
        assert_eq!(r.attempts, u64::from(MAX_ROUNDS));
        let s = r.starved.expect("starved");
        assert!(s.starts_with(&format!("starved: in {MAX_ROUNDS} round(s) of its budget")), "{s}");
        assert!(s.contains("0.05 of the 2 cores it held"), "{s}");
    }

    #[test]
    fn a_model_checker_or_a_detection_is_never_extended() {
        let r = with_its_share(&Threads(false), Measure::OwnCpu, rounds(0.01, None));
        assert!(r.attempts == 1 && r.note.is_none() && r.starved.is_none());
        let r = with_its_share(&Threads(true), Measure::OwnCpu, rounds(0.01, Some(1)));
        assert!(r.attempts == 1 && r.note.is_none() && r.starved.is_none());
    }

    #[test]
    fn a_harness_panic_makes_the_cell_an_error_and_the_run_completes() {
        let mut cell = crate::plan::test_cell("counter", "racy-unsync", "panics");
        let other = cell.clone();
        cell.variant = "racy-load-store".into();
        let group = Group {
            detector: Arc::new(Panics),
            target: cell.target.clone(),
            artifact: Ok(Artifact {
                target_dir: PathBuf::from("/nonexistent"),
                binary: Some(PathBuf::from("/bin/true")),
            }),
            suite_builds: BTreeMap::new(),
        };
        let dir = tempfile::tempdir().unwrap();
        let env = crate::detector::tests::env(dir.path());
        let cells = vec![other, cell];
        let expect = vec![Expectation::Detect, Expectation::Detect];
        let m = crate::manifest::tests::repo_manifest();
        let runs = run_all(&m, &cells, &expect, std::slice::from_ref(&group), &env, dir.path(), 2);
        assert_eq!(runs.len(), 2);
        for r in runs {
            assert!(matches!(&r.outcome, Outcome::Error(m) if m.contains("the harness panicked")), "{:?}", r.outcome);
        }
    }

    /// A planned run of one suite under stress on x86_64, with its column's
    /// canaries (the repository's manifest decides which).
    fn suite_plan() -> (crate::manifest::Manifest, Vec<Cell>, Vec<Expectation>) {
        let m = crate::manifest::tests::repo_manifest();
        let f = crate::plan::Filters {
            detectors: vec!["stress".into()],
            targets: vec!["x86_64".into()],
            fixtures: vec!["shop-hits".into(), "counter".into()],
        };
        let cells = crate::plan::plan(&m, &f, "quick", "x86_64-unknown-linux-gnu", &|_| None).unwrap().cells;
        let expect = cells.iter().map(|c| c.expect.clone()).collect();
        (m, cells, expect)
    }

    /// Take every cell that may start now.
    fn drain(s: &mut Schedule, m: &crate::manifest::Manifest, cells: &[Cell], e: &[Expectation]) -> Vec<Next> {
        let mut out = Vec::new();
        loop {
            match s.next(m, cells, e) {
                Next::Run(i, b) => out.push(Next::Run(i, b)),
                other => {
                    out.push(other);
                    return out;
                }
            }
        }
    }

    fn canary_indices(s: &Schedule) -> Vec<usize> {
        s.columns.iter().flat_map(|c| c.canaries.clone()).collect()
    }

    #[test]
    fn canaries_start_first_and_suite_cells_wait_for_them() {
        let (m, cells, e) = suite_plan();
        let mut s = Schedule::new(&m, &cells, &e);
        let canaries = canary_indices(&s);
        assert!(canaries.len() >= 2, "a racy and a fixed canary: {canaries:?}");
        assert!(
            cells.iter().any(|c| matches!(c.subject, Subject::Suite(_)))
                && cells
                    .iter()
                    .any(|c| matches!(c.subject, Subject::Fixture) && !canaries.contains(&c_index(&cells, c)))
        );
        let started = drain(&mut s, &m, &cells, &e);
        // Every canary starts before any suite cell, and the suite cells
        // wait while a canary runs; the other fixture cells do not wait.
        assert_eq!(started.last(), Some(&Next::Wait), "{started:?}");
        let ran: Vec<usize> = started
            .iter()
            .filter_map(|n| match n {
                Next::Run(i, _) => Some(*i),
                _ => None,
            })
            .collect();
        let mut first = ran[..canaries.len()].to_vec();
        first.sort();
        let mut want = canaries.clone();
        want.sort();
        assert_eq!(first, want, "canaries first: {ran:?}");
        assert!(
            ran.iter().all(|&i| matches!(cells[i].subject, Subject::Fixture)),
            "no suite cell before its canaries finished: {ran:?}"
        );
        for &i in &ran {
            let outcome = if cells[i].racy { detected(&cells[i]) } else { Outcome::Clean };
            s.finished(i, &outcome);
        }
        let rest = drain(&mut s, &m, &cells, &e);
        assert_eq!(rest.last(), Some(&Next::Done));
        let suite: Vec<&Next> = rest
            .iter()
            .filter(|n| matches!(n, Next::Run(i, _) if matches!(cells[*i].subject, Subject::Suite(_))))
            .collect();
        assert!(!suite.is_empty());
        assert!(
            suite.iter().all(|n| matches!(n, Next::Run(_, None))),
            "a proven column runs its suite cells: {suite:?}"
        );
    }

    fn c_index(cells: &[Cell], c: &Cell) -> usize {
        cells.iter().position(|x| x.id() == c.id()).unwrap()
    }

    fn detected(cell: &Cell) -> Outcome {
        let mut e =
            race_hunt_report::Evidence::new(race_hunt_report::EvidenceKind::OracleViolation, "lost updates", "r");
        e.seed = Some(1);
        let _ = cell;
        Outcome::Detected(e)
    }

    /// A racy canary that came out clean leaves the column unproven: its
    /// suite cells are handed out blocked (not run), with the canary's
    /// finding as the reason; `not_proven` makes that an `error`.
    #[test]
    fn an_unproven_column_does_not_spend_its_suite_cells() {
        let (m, cells, e) = suite_plan();
        let mut s = Schedule::new(&m, &cells, &e);
        let canaries = canary_indices(&s);
        let started = drain(&mut s, &m, &cells, &e);
        for n in &started {
            if let Next::Run(i, _) = n {
                s.finished(*i, &Outcome::Clean);
            }
        }
        let rest = drain(&mut s, &m, &cells, &e);
        let mut blocked = 0;
        for n in &rest {
            if let Next::Run(i, why) = n {
                if matches!(cells[*i].subject, Subject::Suite(_)) {
                    let why = why.as_deref().unwrap_or_else(|| panic!("{} ran in an unproven column", cells[*i].id()));
                    assert!(why.contains("racy canary") && why.contains("was clean, not detected"), "{why}");
                    blocked += 1;
                }
            }
        }
        assert!(blocked > 0 && !canaries.is_empty());
        let group = Group {
            detector: Arc::new(Panics),
            target: cells[0].target.clone(),
            artifact: Err(Outcome::Error("unused".into())),
            suite_builds: BTreeMap::new(),
        };
        let suite_cell = cells.iter().find(|c| matches!(c.subject, Subject::Suite(_))).unwrap();
        let r = not_proven(suite_cell, &group, "racy canary counter/racy-unsync was clean, not detected");
        assert!(
            matches!(&r.outcome, Outcome::Error(m) if m.starts_with("detector not proven here: racy canary")),
            "{:?}",
            r.outcome
        );
        assert_eq!(r.attempts, 0);
    }
}
