//! Step 5, run: the cells in parallel, each holding the cores it keeps
//! busy, each child in its own process group with its timeout; a racy
//! cell stops at its first detection, a clean one spends its budget. A
//! panic in the harness while running a cell makes that cell an `error`
//! and the run goes on.

use std::io::Write;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::sync::{Condvar, Mutex};
use std::time::Instant;

use race_hunt_report::RunnerResult;

use crate::detector::{replay_xtask, Artifact, Env, Finished as Done, Invocation, Replay};
use crate::manifest::Expectation;
use crate::matrix;
use crate::outcome::Outcome;
use crate::plan::Cell;
use crate::process::{self, Exit};
use crate::race_hunt::Group;

/// What running one cell gave.
#[derive(Debug, Clone)]
pub struct Finished {
    pub outcome: Outcome,
    pub attempts: u64,
    pub elapsed_ms: u64,
    pub log: Option<String>,
}

/// Where a cell's files live: `<run>/<fixture>/<variant>/<detector>@<target>/`.
/// Names are checked path components (see `manifest::check_name`).
pub fn cell_dir(run_dir: &Path, cell: &Cell) -> PathBuf {
    run_dir.join(&cell.fixture).join(&cell.variant).join(format!("{}@{}", cell.detector, cell.target.name))
}

/// Run every cell; the result is in the plan's order.
pub fn run_all(
    cells: &[Cell],
    expectations: &[Expectation],
    groups: &[Group],
    env: &Env<'_>,
    run_dir: &Path,
    jobs: usize,
) -> Vec<Finished> {
    let mut order: Vec<usize> = (0..cells.len()).collect();
    // Cells that will spend their whole budget first: better packing.
    order.sort_by_key(|&i| (matches!(expectations[i], Expectation::Detect), i));
    let queue = Mutex::new(order.into_iter());
    let cores = Slots::new(jobs);
    let total = cells.len();
    let (tx, rx) = mpsc::channel::<(usize, Finished)>();
    let mut results: Vec<Option<Finished>> = vec![None; total];
    std::thread::scope(|s| {
        for _ in 0..jobs.min(total) {
            let tx = tx.clone();
            let (queue, cores) = (&queue, &cores);
            s.spawn(move || loop {
                let Some(i) = queue.lock().unwrap_or_else(|p| p.into_inner()).next() else { break };
                let cell = &cells[i];
                let group = groups
                    .iter()
                    .find(|g| g.detector.name() == cell.detector && g.target.name == cell.target.name)
                    .expect("every cell has a group");
                let held = cores.acquire(group.detector.cores());
                let t0 = Instant::now();
                let run = panic::catch_unwind(AssertUnwindSafe(|| run_cell(cell, group, env, run_dir))).unwrap_or_else(
                    |payload| Finished {
                        outcome: Outcome::Error(format!(
                            "the harness panicked while running this cell: {}",
                            panic_message(&payload)
                        )),
                        attempts: 0,
                        elapsed_ms: t0.elapsed().as_millis() as u64,
                        log: None,
                    },
                );
                cores.release(held);
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
                log: None,
            })
        })
        .collect()
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
            matrix::duration(r.elapsed_ms),
            r.attempts,
            e.message
        ),
        Outcome::Clean => format!("clean after {} attempts in {}", r.attempts, matrix::duration(r.elapsed_ms)),
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
    let built = match &cell.suite {
        Some(_) => group
            .suite_builds
            .get(&cell.fixture_variant())
            .cloned()
            .unwrap_or_else(|| Err(Outcome::Error("no build for this suite cell".into()))),
        None => group.artifact.clone().map(|_| ()),
    };
    let (outcome, attempts) = match (built, &group.artifact) {
        (Err(outcome), _) => (outcome, 0),
        _ if process::interrupted() => {
            let sig = crate::detector::signal_name(process::stop_signal().unwrap_or(2));
            (Outcome::NotRun(format!("stopped by {sig} before it ran")), 0)
        }
        (Ok(()), _) if cell.suite.is_some() => crate::suite_run::execute(cell, group, env, &dir, &log, None),
        (Ok(()), Ok(artifact)) => execute(cell, group, artifact, env, &dir, &log, None),
        (Ok(()), Err(outcome)) => (outcome.clone(), 0),
    };
    Finished {
        outcome,
        attempts,
        elapsed_ms: t0.elapsed().as_millis() as u64,
        log: log.is_file().then(|| log.display().to_string()),
    }
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
    if let Err(e) = std::fs::create_dir_all(dir) {
        return (Outcome::Error(format!("failed to create {}: {e}", dir.display())), 0);
    }
    let _ = std::fs::remove_file(log);
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
                return (Outcome::NotRun(format!("stopped by {}", crate::detector::signal_name(sig))), attempts);
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
    let (exit, _, text) =
        process::run_kept(cmd, log, inv.timeout).map_err(|e| format!("failed to start {}: {e}", inv.argv[0]))?;
    Ok((exit, text))
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
    use crate::detector::{Artifact, Detector};
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

    #[test]
    fn a_harness_panic_makes_the_cell_an_error_and_the_run_completes() {
        let mut cell = crate::plan::test_cell("counter", "racy-unsync", "panics");
        let other = cell.clone();
        cell.variant = "racy-load-store".into();
        let group = Group {
            detector: Box::new(Panics),
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
        let runs = run_all(&cells, &expect, std::slice::from_ref(&group), &env, dir.path(), 2);
        assert_eq!(runs.len(), 2);
        for r in runs {
            assert!(matches!(&r.outcome, Outcome::Error(m) if m.contains("the harness panicked")), "{:?}", r.outcome);
        }
    }
}
