//! Reliability: no false verdicts, no orphans, no lost reports (issue 11).
//! Each test reproduces a defect the way a user or a CI system would hit it.

use std::process::Command;
use std::time::{Duration, Instant};

use race_hunt_tests::{
    finish, kill, manifest_with, processes_matching, race_hunt, root, spawn, text, wait_for_process, xtask,
    EvidenceKind, Gate, Outcome, Verdict,
};

const SIGKILL: i32 = 9;
const SIGTERM: i32 = 15;
const SIGINT: i32 = 2;
const SIGSTOP: i32 = 19;

/// A soak-budget stress run of one fixed cell: long enough to interrupt.
fn soak(json: &std::path::Path, manifest: Option<&str>) -> Command {
    let mut cmd = xtask();
    cmd.args([
        "race-hunt",
        "--detector",
        "stress",
        "--fixture",
        "counter/fixed-fetch-add",
        "--budget",
        "soak",
        "--json",
    ])
    .arg(json);
    if let Some(m) = manifest {
        cmd.args(["--manifest", m]);
    }
    cmd
}

const SOAK_RUNNER: &str = "run counter/fixed-fetch-add --seconds 60";

fn runner_pids(needle: &str) -> Vec<u32> {
    processes_matching(needle)
        .into_iter()
        .filter(|(_, c)| c.contains("scenario-runner"))
        .map(|(p, _)| p as u32)
        .collect()
}

fn assert_no_runner_within(needle: &str, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let left = runner_pids(needle);
        if left.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "runner(s) {left:?} outlived the harness");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_kill_from_outside_is_an_error_never_a_detection() {
    // Declare the fixed variant racy: a kill must not satisfy `detect`.
    let (_dir, path) = manifest_with(|t| {
        t.replacen(
            "name = \"fixed-fetch-add\"\nracy = false",
            "name = \"fixed-fetch-add\"\nracy = true\nclass = \"atomicity\"",
            1,
        )
    });
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let child = spawn(&mut soak(&json, Some(&path)));
    wait_for_process(SOAK_RUNNER, Duration::from_secs(300));
    for pid in runner_pids(SOAK_RUNNER) {
        kill(pid, SIGKILL);
    }
    let run = finish(child.wait_with_output().unwrap(), &json);
    run.assert_code(4);
    let c = run.cell("counter/fixed-fetch-add", "stress", "x86_64");
    assert_eq!((c.outcome, c.verdict), (Outcome::Error, Verdict::Fail), "{c:#?}");
    assert!(c.reason.as_ref().unwrap().contains("killed by signal 9 (SIGKILL) from outside"), "{c:#?}");
    assert!(c.evidence.is_none());
    assert_eq!(run.report().summary.gate, Gate::Error);
}

#[test]
fn a_hang_is_its_own_outcome_and_not_a_detection() {
    // A racy variant whose runner stops making progress (SIGSTOP) must be a
    // `hang`, graded fail, shown as HANG; never `detected`.
    let (_dir, path) = manifest_with(|t| {
        t.replacen("[budgets.soak.stress]\nseconds = 60", "[budgets.soak.stress]\nseconds = 4\ntimeout = 6", 1)
            .replacen(
                "name = \"fixed-fetch-add\"\nracy = false",
                "name = \"fixed-fetch-add\"\nracy = true\nclass = \"atomicity\"",
                1,
            )
    });
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let child = spawn(&mut soak(&json, Some(&path)));
    let runner = "run counter/fixed-fetch-add --seconds 4";
    wait_for_process(runner, Duration::from_secs(300));
    for pid in runner_pids(runner) {
        kill(pid, SIGSTOP);
    }
    let run = finish(child.wait_with_output().unwrap(), &json);
    run.assert_code(1);
    let c = run.cell("counter/fixed-fetch-add", "stress", "x86_64");
    assert_eq!((c.outcome, c.verdict), (Outcome::Hang, Verdict::Fail), "{c:#?}");
    assert_eq!(c.evidence.as_ref().unwrap().kind, EvidenceKind::Hang);
    assert!(run.stdout.contains("FAIL HANG"), "{}", run.stdout);
    assert!(!run.stdout.contains("ok DET"), "{}", run.stdout);
}

#[test]
fn sigterm_writes_a_complete_report_and_leaves_no_runner() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let child = spawn(&mut soak(&json, None));
    wait_for_process(SOAK_RUNNER, Duration::from_secs(300));
    let t0 = Instant::now();
    kill(child.id(), SIGTERM);
    let run = finish(child.wait_with_output().unwrap(), &json);
    run.assert_code(143);
    assert!(t0.elapsed() < Duration::from_secs(20), "stopping took {:?}", t0.elapsed());
    assert_no_runner_within(SOAK_RUNNER, Duration::from_secs(5));
    let s = &run.report().summary;
    assert_eq!((s.gate, s.exit_code, s.not_run, s.fail), (Gate::Interrupted, 143, 1, 0), "{s:#?}");
    let c = run.cell("counter/fixed-fetch-add", "stress", "x86_64");
    assert_eq!((c.outcome, c.verdict), (Outcome::NotRun, Verdict::NotRun));
    assert!(c.reason.as_ref().unwrap().contains("SIGTERM"));
    assert!(s.undetected_racy_variants.is_empty(), "nothing ran, nothing is undetected");
}

#[test]
fn sigint_marks_unfinished_cells_not_run_with_the_exit_code_used() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let mut cmd = xtask();
    cmd.args([
        "race-hunt",
        "--detector",
        "stress",
        "--fixture",
        "counter",
        "--budget",
        "soak",
        "--jobs",
        "2",
        "--json",
    ])
    .arg(&json);
    let child = spawn(&mut cmd);
    wait_for_process("run counter/", Duration::from_secs(300));
    kill(child.id(), SIGINT);
    let run = finish(child.wait_with_output().unwrap(), &json);
    run.assert_code(130);
    let s = &run.report().summary;
    assert_eq!((s.gate, s.exit_code), (Gate::Interrupted, 130));
    assert!(s.not_run >= 1, "{s:#?}");
    for c in run.cells().iter().filter(|c| c.outcome == Outcome::NotRun) {
        assert_eq!(c.verdict, Verdict::NotRun, "a cell that did not run is neither ok nor fail");
        assert!(!s.undetected_racy_variants.contains(&format!("{}/{}", c.fixture, c.variant)), "{s:#?}");
    }
    assert_no_runner_within("run counter/", Duration::from_secs(5));
}

#[test]
fn sigkill_of_the_harness_takes_its_runners_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let mut child = spawn(&mut soak(&json, None));
    wait_for_process(SOAK_RUNNER, Duration::from_secs(300));
    kill(child.id(), SIGKILL);
    let _ = child.wait();
    assert_no_runner_within(SOAK_RUNNER, Duration::from_secs(5));
}

#[test]
fn sigterm_during_a_build_stops_cargo_and_rustc() {
    // A fresh build directory, so that a build is really running.
    let state = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let mut cmd = xtask();
    cmd.env("RACE_HUNT_TARGET_DIR", state.path())
        .args(["race-hunt", "--detector", "stress", "--fixture", "counter", "--budget", "quick", "--json"])
        .arg(&json);
    let child = spawn(&mut cmd);
    let marker = state.path().display().to_string();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !processes_matching(&marker).iter().any(|(_, c)| c.contains("rustc")) {
        assert!(Instant::now() < deadline, "no rustc started for the fresh build");
        std::thread::sleep(Duration::from_millis(50));
    }
    kill(child.id(), SIGTERM);
    let run = finish(child.wait_with_output().unwrap(), &json);
    run.assert_code(143);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left: Vec<_> = processes_matching(&marker)
            .into_iter()
            .filter(|(_, c)| c.contains("rustc") || c.contains("cargo"))
            .collect();
        if left.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "still compiling after SIGTERM: {left:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    for c in run.cells() {
        assert_eq!(c.outcome, Outcome::NotRun, "{c:#?}");
    }
}

#[test]
fn two_runs_with_the_same_seed_at_once_keep_their_own_run_directories() {
    let dir = tempfile::tempdir().unwrap();
    let children: Vec<_> = (0..2)
        .map(|i| {
            let json = dir.path().join(format!("r{i}.json"));
            let mut cmd = xtask();
            cmd.args([
                "race-hunt",
                "--detector",
                "stress",
                "--fixture",
                "counter/fixed-fetch-add",
                "--budget",
                "quick",
                "--seed",
                "5",
                "--json",
            ])
            .arg(&json);
            (spawn(&mut cmd), json)
        })
        .collect();
    let runs: Vec<_> = children.into_iter().map(|(c, json)| finish(c.wait_with_output().unwrap(), &json)).collect();
    for r in &runs {
        r.assert_code(0);
    }
    let (a, b) = (&runs[0].report().run_dir, &runs[1].report().run_dir);
    assert_ne!(a, b, "two runs shared a run directory");
    for r in &runs {
        let log = r.cells()[0].log.as_ref().unwrap();
        assert!(std::fs::read_to_string(log).unwrap().contains("RACE-HUNT-RESULT"), "{log}");
        assert!(std::path::Path::new(&r.report().run_dir).join("report.json").is_file());
    }
    let latest = std::fs::read_link(root().join("target/race-hunt/latest")).unwrap();
    assert!(latest.join("report.json").is_file(), "latest points at a complete run");
}

#[test]
fn the_quick_budget_runs_for_its_time_not_a_small_iteration_cap() {
    let run = race_hunt(&["--detector", "stress", "--fixture", "counter/fixed-fetch-add", "--budget", "quick"]);
    run.assert_code(0);
    let c = run.cell("counter/fixed-fetch-add", "stress", "x86_64");
    assert!(c.elapsed_ms >= 500, "a clean quick cell spends its 0.5 s: {c:#?}");
}

#[test]
fn a_starved_machine_is_named_in_the_clean_real_thread_cells() {
    // Everything on one core: the probe's two threads never overlap.
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let mut cmd = Command::new("taskset");
    cmd.args(["-c", "0"]).arg(race_hunt_tests::xtask_binary());
    cmd.current_dir(root()).env("RACE_HUNT_TARGET_DIR", root().join("target/race-hunt"));
    cmd.args([
        "race-hunt",
        "--detector",
        "stress",
        "--fixture",
        "counter/fixed-fetch-add",
        "--budget",
        "quick",
        "--json",
    ])
    .arg(&json);
    let run = finish(cmd.output().unwrap(), &json);
    run.assert_code(0);
    let probe = run.report().targets[0].probe.as_ref().unwrap();
    assert!(!probe.parallel, "one core cannot show store buffering: {probe:#?}");
    let c = run.cell("counter/fixed-fetch-add", "stress", "x86_64");
    assert!(c.starved.as_ref().is_some_and(|s| s.contains("starved")), "{c:#?}");
    assert!(run.stdout.contains("clean (starved)"), "{}", run.stdout);
    // The cell measured what it got: its two threads shared one core, so
    // its processes got at most half of the two cores it held, and it ran
    // its budget again until they had a round's worth of CPU (or, with
    // other load on that core too, was marked starved by that measurement).
    assert!(c.cpu_ms > 0 && c.cpu_ms <= c.elapsed_ms + 100, "{c:#?}");
    let extended = c
        .notes
        .iter()
        .any(|n| n.starts_with("run ") && n.contains(" times its budget: in the first round its processes got "));
    let measured = c.starved.as_deref().is_some_and(|s| s.starts_with("starved: in 4 round(s) of its budget"));
    assert!(extended || measured, "{c:#?}");
}

/// Busy loops that end when dropped.
struct Hogs(Vec<std::process::Child>);

impl Hogs {
    fn start(n: usize) -> Hogs {
        Hogs((0..n).map(|_| Command::new("sh").args(["-c", "while :; do :; done"]).spawn().unwrap()).collect())
    }
}

impl Drop for Hogs {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[test]
fn a_suite_cell_beside_busy_loops_runs_again_or_is_named_starved() {
    // A suite's tests sleep and wait, so their own CPU time says nothing;
    // what the cell had is the core time other processes left it. Three
    // busy loops start once the column's canaries have finished (they
    // must prove the column first), so the suite cell shares the two cores
    // it holds with them.
    use std::io::{BufRead, Read};
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let mut cmd = race_hunt_tests::xtask();
    cmd.args(["race-hunt", "--detector", "stress", "--fixture", "shop-wallet/fixed", "--budget", "quick", "--json"])
        .arg(&json)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut err = child.stderr.take().unwrap();
    let errs = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let mut stdout = String::new();
    let mut hogs = None;
    for line in std::io::BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if line.contains("counter/") && line.contains("[  2/3]") {
            hogs = Some(Hogs::start(3));
        }
        stdout.push_str(&line);
        stdout.push('\n');
    }
    let status = child.wait().unwrap();
    drop(hogs);
    let out = std::process::Output { status, stdout: stdout.into_bytes(), stderr: errs.join().unwrap() };
    let run = finish(out, &json);
    run.assert_code(0);
    let c = run.cell("shop-wallet/fixed", "stress", "x86_64");
    assert_eq!(c.outcome, Outcome::Clean, "{c:#?}");
    let extended = c
        .notes
        .iter()
        .any(|n| n.starts_with("run ") && n.contains(" times its budget: in the first round other processes left it "));
    let starved = c.starved.as_deref().is_some_and(|s| {
        s.starts_with("starved: in 4 round(s) of its budget") && s.contains("other processes left it")
    });
    assert!(extended || starved, "{c:#?}\n{}", run.stdout);
    if starved {
        assert!(run.stdout.contains("clean (starved)"), "{}", run.stdout);
    }
    // Every round's run is in the one log.
    let log = std::fs::read_to_string(c.log.as_deref().unwrap()).unwrap();
    assert!(log.matches("== race-hunt run:").count() >= 2, "{log}");
}

#[test]
fn a_suppressions_path_with_spaces_survives_tsan_options() {
    let dir = tempfile::Builder::new().prefix("my repo ").tempdir().unwrap();
    let supp = dir.path().join("tsan suppressions.txt");
    std::fs::copy(root().join("ci/tsan-suppressions.txt"), &supp).unwrap();
    let (_d, path) = manifest_with(|t| {
        let from = format!("suppressions = \"{}/ci/tsan-suppressions.txt\"", root().display());
        t.replace(&from, &format!("suppressions = \"{}\"", supp.display()))
    });
    let run = race_hunt(&[
        "--manifest",
        &path,
        "--detector",
        "tsan",
        "--fixture",
        "counter/racy-unsync,counter/fixed-fetch-add",
        "--budget",
        "quick",
    ]);
    run.assert_code(0);
    let c = run.cell("counter/racy-unsync", "tsan", "x86_64");
    let e = c.evidence.as_ref().unwrap();
    assert_eq!(e.kind, EvidenceKind::TsanReport, "{c:#?}");
    assert!(e.replay.contains("tsan suppressions.txt"), "{}", e.replay);
    // The printed replay runs in sh and bash and reports the race again.
    for shell in ["sh", "bash"] {
        let out = Command::new(shell).args(["-c", &e.replay]).current_dir(root()).output().unwrap();
        let text = String::from_utf8_lossy(&out.stderr);
        assert!(text.contains("WARNING: ThreadSanitizer: data race"), "{shell}: {text}");
        assert!(!text.contains("expected '='"), "{shell}: {text}");
    }
}

/// The repository's manifest with one CI group: stress on x86_64, so a
/// gate over one `--fixture counter --detector stress` hunt expects exactly
/// that hunt's cells.
fn stress_only_ci(t: String) -> String {
    let (start, end) = (t.find("[ci]\n").unwrap(), t.find("# --- fixtures").unwrap());
    format!(
        "{}[ci]\n[[ci.groups]]\nname = \"threads\"\ndetectors = [\"stress\"]\ntargets = [\"x86_64\"]\n\n{}",
        &t[..start],
        &t[end..]
    )
}

fn counter_soak(manifest: &str, json: &std::path::Path) -> Command {
    let mut cmd = xtask();
    cmd.args(["race-hunt", "--manifest", manifest, "--detector", "stress", "--target", "x86_64"])
        .args(["--fixture", "counter", "--budget", "soak", "--jobs", "2", "--json"])
        .arg(json);
    cmd
}

#[test]
fn a_cancelled_hunts_report_never_passes_the_gate() {
    let (_m, manifest) = manifest_with(stress_only_ci);
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("threads-x86_64-1.json");
    let child = spawn(&mut counter_soak(&manifest, &json));
    wait_for_process(SOAK_RUNNER, Duration::from_secs(300));
    // Not a wait for a state (the runner is up): the cancel lands well
    // inside the 60 s soak cell, as a CI cancel would.
    std::thread::sleep(Duration::from_secs(2));
    kill(child.id(), SIGTERM);
    let run = finish(child.wait_with_output().unwrap(), &json);
    run.assert_code(143);
    let not_run: Vec<String> = run.cells().iter().filter(|c| c.outcome == Outcome::NotRun).map(|c| c.id()).collect();
    assert!(!not_run.is_empty(), "{:#?}", run.report().summary);
    for extra in [&[][..], &["--require-all"][..]] {
        let out = xtask()
            .args(["race-hunt", "gate", "--manifest", &manifest, "--fixture", "counter"])
            .args(extra)
            .arg(&json)
            .output()
            .unwrap();
        let shown = text(&out);
        assert_eq!(out.status.code(), Some(1), "{extra:?}: {shown}");
        assert!(shown.contains(&format!("{} cell(s) did not run", not_run.len())), "{shown}");
        for id in &not_run {
            assert!(shown.contains(id.as_str()), "{id} not named: {shown}");
        }
        assert!(!shown.contains("gate: pass"), "{shown}");
    }
}

/// Stop a mid-cell soak hunt with SIGINT, then send `terms` SIGTERMs `gap`
/// later (CI's cancel: SIGINT, 7.5 s, SIGTERM), unless it has exited by
/// then: how it ended, how long from SIGINT to its exit, and whether the
/// SIGTERMs were sent.
fn sigint_then_sigterm(gap: Duration, terms: usize) -> (race_hunt_tests::Run, Duration, bool) {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let mut cmd = xtask();
    cmd.args(["race-hunt", "--detector", "stress", "--fixture", "counter", "--budget", "soak", "--jobs", "2"])
        .arg("--json")
        .arg(&json);
    let mut child = spawn(&mut cmd);
    wait_for_process(SOAK_RUNNER, Duration::from_secs(300));
    // The runner is up; the signal lands mid-cell a moment later.
    std::thread::sleep(Duration::from_secs(1));
    let t0 = Instant::now();
    kill(child.id(), SIGINT);
    let mut sent = false;
    let took = loop {
        if child.try_wait().unwrap().is_some() {
            break t0.elapsed();
        }
        if !sent && t0.elapsed() >= gap {
            for _ in 0..terms {
                kill(child.id(), SIGTERM);
            }
            sent = true;
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    eprintln!("SIGINT to exit: {took:?} (SIGTERM x{terms} after {gap:?}: sent {sent})");
    let run = finish(child.wait_with_output().unwrap(), &json);
    assert_no_runner_within(SOAK_RUNNER, Duration::from_secs(5));
    (run, took, sent)
}

fn assert_stopped_report(run: &race_hunt_tests::Run, code: i32) {
    run.assert_code(code);
    let s = &run.report().summary;
    assert_eq!((s.gate, s.exit_code, s.fail), (Gate::Interrupted, code, 0), "{s:#?}");
    assert_eq!(s.cells, 3, "every planned cell is in the report: {s:#?}");
    let c = run.cell("counter/fixed-fetch-add", "stress", "x86_64");
    assert_eq!((c.outcome, c.verdict), (Outcome::NotRun, Verdict::NotRun), "the cell it was running: {c:#?}");
    assert!(s.not_run >= 1 && s.not_run == run.cells().iter().filter(|c| c.outcome == Outcome::NotRun).count());
}

#[test]
fn a_ci_cancel_gets_its_report_written_before_the_sigterm_7_5_s_later() {
    // GitHub's cancel: SIGINT, then SIGTERM 7.5 s later. The report is
    // written (and the harness gone) well before the SIGTERM is due.
    let (run, took, sent) = sigint_then_sigterm(Duration::from_millis(7500), 1);
    assert!(!sent && took < Duration::from_millis(7500), "still running {took:?} after SIGINT");
    assert_stopped_report(&run, 130);
}

#[test]
fn a_sigterm_while_stopping_keeps_the_report_and_gives_its_code() {
    // The SIGTERM sent while the harness is still stopping (right after the
    // SIGINT: a stop takes well under CI's 7.5 s, so a later one would find
    // it gone) must not lose the report; SIGTERM's code is used (CI's escalation).
    let (run, took, sent) = sigint_then_sigterm(Duration::ZERO, 1);
    assert!(sent);
    assert_stopped_report(&run, 143);
    assert!(took < Duration::from_millis(7500), "{took:?}");
    let c = run.cell("counter/fixed-fetch-add", "stress", "x86_64");
    assert!(c.reason.as_ref().unwrap().contains("stopped by"), "{c:#?}");
}

#[test]
fn a_third_signal_quits_at_once_and_takes_the_runners_with_it() {
    let (run, took, sent) = sigint_then_sigterm(Duration::ZERO, 2);
    assert!(sent);
    run.assert_code(143);
    assert!(took < Duration::from_secs(5), "{took:?}");
}

#[test]
fn calibrate_reports_inner_errors_as_errors_with_their_cause() {
    // A loom exploration cut short by its limits is an `error` (exit 4):
    // calibrate must say so, not count it as a miss.
    let (_dir, path) = manifest_with(|t| {
        t.replacen(
            "[budgets.quick.loom]\npreemptions = 1\nseconds = 30",
            "[budgets.quick.loom]\npreemptions = 1\nseconds = 30\nmax-branches = 2",
            1,
        )
    });
    let out = xtask()
        .args(["calibrate", "--runs", "2", "--", "--manifest", &path, "--detector", "loom"])
        .args(["--fixture", "counter/fixed-fetch-add", "--budget", "quick"])
        .output()
        .unwrap();
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(4), "{shown}");
    assert!(shown.contains("counter/fixed-fetch-add loom@x86_64: ") && shown.contains("branches"), "{shown}");
    assert!(shown.contains("ended in error"), "{shown}");
    assert!(!shown.contains(" 0/2 "), "an error is not a miss: {shown}");
}

#[test]
fn calibrate_stops_on_sigterm_with_its_inner_run_and_runners() {
    for signals in [&[SIGTERM][..], &[SIGINT, SIGTERM][..]] {
        let mut cmd = xtask();
        cmd.args(["calibrate", "--runs", "3", "--", "--detector", "stress"]).args([
            "--fixture",
            "counter/fixed-fetch-add",
            "--budget",
            "soak",
        ]);
        let mut child = spawn(&mut cmd);
        wait_for_process(SOAK_RUNNER, Duration::from_secs(300));
        // The inner race-hunt: calibrate's child.
        let inner: Vec<i32> = processes_matching("race-hunt")
            .into_iter()
            .filter(|(p, _)| {
                let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).unwrap_or_default();
                let after = stat.rsplit_once(") ").map_or("", |(_, rest)| rest);
                after.split(' ').nth(1) == Some(child.id().to_string().as_str())
            })
            .map(|(p, _)| p)
            .collect();
        assert_eq!(inner.len(), 1, "{inner:?}");
        let t0 = Instant::now();
        // Back to back, as an impatient user or CI's escalation: the later
        // SIGTERM is forwarded too and its code wins.
        for &sig in signals {
            kill(child.id(), sig);
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            assert!(Instant::now() < deadline, "calibrate still running {:?} after {signals:?}", t0.elapsed());
            std::thread::sleep(Duration::from_millis(20));
        };
        eprintln!("calibrate {signals:?}: exit {:?} after {:?}", status.code(), t0.elapsed());
        assert_eq!(status.code(), Some(143), "{signals:?}");
        assert_no_runner_within(SOAK_RUNNER, Duration::from_secs(5));
        let alive = std::fs::read_to_string(format!("/proc/{}/stat", inner[0])).is_ok_and(|s| !s.contains(") Z "));
        assert!(!alive, "the inner race-hunt {} outlived calibrate", inner[0]);
    }
}

/// A scratch package whose test starts helpers that outlive it unless the
/// harness kills them: one in its own session (a child of the test), one
/// forked twice (an orphan as soon as its parent exits), both ignoring
/// SIGTERM, `marker` in their command line, each touching a file in
/// `started` when it starts. Feature `hold` keeps the test running; a
/// second suite runs a test that hangs (feature `hang`).
fn orphan_suite(marker: &str, started: &std::path::Path) -> (tempfile::TempDir, tempfile::TempDir, String) {
    let pkg = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(pkg.path().join("src")).unwrap();
    std::fs::write(
        pkg.path().join("Cargo.toml"),
        "[package]\nname = \"orphans\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[features]\nhold = []\nhang = []\nloud = []\n\n[workspace]\n",
    )
    .unwrap();
    let helper = format!("trap : TERM; touch {}/$$; while :; do sleep 1; done", started.display());
    let lib = format!(
        r#"#[cfg(test)]
mod tests {{
    use std::process::{{Command, Stdio}};
    const HELPER: &str = "{helper}";

    #[test]
    fn starts_helpers_that_ignore_sigterm() {{
        Command::new("setsid").args(["sh", "-c", HELPER, "{marker}"]).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        let twice = format!("setsid sh -c '{{HELPER}}' {marker} >/dev/null 2>&1 &");
        Command::new("sh").args(["-c", &twice]).status().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(if cfg!(feature = "hold") {{ 120_000 }} else {{ 20 }}));
    }}

    #[cfg(feature = "loud")]
    #[test]
    fn prints_a_lot_then_fails() {{
        use std::io::Write;
        let mib: usize = std::env::var("ORPHANS_LOUD_MIB").ok().and_then(|v| v.parse().ok()).unwrap_or(50);
        let mut line = [b'x'; 1024];
        line[1023] = b'\n';
        let mut out = std::io::stdout().lock();
        for _ in 0..mib * 1024 {{
            out.write_all(&line).unwrap();
        }}
        drop(out);
        panic!("lost 7 updates after {{mib}} MiB of output");
    }}

    #[cfg(feature = "hang")]
    #[test]
    fn hangs() {{
        loop {{
            std::thread::sleep(std::time::Duration::from_secs(1));
        }}
    }}
}}
"#
    );
    std::fs::write(pkg.path().join("src/lib.rs"), lib).unwrap();
    let path = pkg.path().display().to_string();
    let (dir, manifest) = manifest_with(|m| {
        m.replace("[budgets.quick.stress]\nseconds = 0.5\n", "[budgets.quick.stress]\nseconds = 0.5\ntest-timeout = 2\n")
            + &format!(
                "\n[[suites]]\nname = \"orphans\"\npath = \"{path}\"\nfilter = \"test(=tests::starts_helpers_that_ignore_sigterm)\"\n[[suites.variants]]\nname = \"fixed\"\nracy = false\n[[suites.variants]]\nname = \"hold\"\nfeatures = [\"hold\"]\nracy = false\n\n[[suites]]\nname = \"hangs\"\npath = \"{path}\"\nfilter = \"test(=tests::hangs)\"\n[[suites.variants]]\nname = \"racy\"\nfeatures = [\"hang\"]\nracy = true\nclass = \"check-then-act\"\n\n[[suites]]\nname = \"loud\"\npath = \"{path}\"\nfilter = \"test(=tests::prints_a_lot_then_fails)\"\n[[suites.variants]]\nname = \"racy\"\nfeatures = [\"loud\"]\nracy = true\nclass = \"atomicity\"\n"
            )
    });
    (pkg, dir, manifest)
}

fn unique_marker(what: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("race-hunt-{what}-{}-{nanos}", std::process::id())
}

#[test]
fn a_suite_tests_helpers_in_their_own_session_end_with_the_run() {
    let marker = unique_marker("helper");
    let started = tempfile::tempdir().unwrap();
    let (_pkg, _dir, manifest) = orphan_suite(&marker, started.path());
    let run = race_hunt(&[
        "--manifest",
        &manifest,
        "--fixture",
        "orphans/fixed",
        "--detector",
        "stress",
        "--target",
        "x86_64",
        "--budget",
        "quick",
    ]);
    let cell = run.cell("orphans/fixed", "stress", "x86_64");
    assert_eq!(cell.outcome, Outcome::Clean, "{cell:#?}\n{}", run.stdout);
    let helpers = std::fs::read_dir(started.path()).unwrap().count();
    assert!(helpers >= 2, "the test started {helpers} helpers");
    // The run has ended: not one helper of any stress iteration is left.
    let left = processes_matching(&marker);
    assert!(left.is_empty(), "{} helpers started, {} outlived the run: {left:?}", helpers, left.len());
}

#[test]
fn a_suite_tests_helpers_die_with_the_harness_on_sigterm_and_sigkill() {
    for sig in [SIGTERM, SIGKILL] {
        let marker = unique_marker("held");
        let started = tempfile::tempdir().unwrap();
        let (_pkg, _dir, manifest) = orphan_suite(&marker, started.path());
        let dir = tempfile::tempdir().unwrap();
        let json = dir.path().join("r.json");
        let mut cmd = xtask();
        cmd.args(["race-hunt", "--manifest", &manifest, "--fixture", "orphans/hold", "--detector", "stress"])
            .args(["--target", "x86_64", "--budget", "quick", "--json"])
            .arg(&json);
        let child = spawn(&mut cmd);
        let deadline = Instant::now() + Duration::from_secs(300);
        while processes_matching(&marker).len() < 2 {
            assert!(Instant::now() < deadline, "the test never started its two helpers");
            std::thread::sleep(Duration::from_millis(50));
        }
        // Both helpers exist: the child of the test, and the orphan.
        std::thread::sleep(Duration::from_millis(300));
        kill(child.id(), sig);
        let run = finish(child.wait_with_output().unwrap(), &json);
        if sig == SIGTERM {
            run.assert_code(143);
            let left = processes_matching(&marker);
            assert!(left.is_empty(), "helpers outlived a run stopped by SIGTERM: {left:?}");
        } else {
            // The reaper kills them once it sees the harness gone.
            let deadline = Instant::now() + Duration::from_secs(5);
            loop {
                let left = processes_matching(&marker);
                if left.is_empty() {
                    break;
                }
                assert!(Instant::now() < deadline, "helpers outlived a SIGKILLed harness: {left:?}");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

#[test]
fn a_test_that_hung_is_rerun_once_not_twenty_times() {
    let started = tempfile::tempdir().unwrap();
    let (_pkg, _dir, manifest) = orphan_suite(&unique_marker("hang"), started.path());
    let run = race_hunt(&[
        "--manifest",
        &manifest,
        "--fixture",
        "hangs/racy",
        "--detector",
        "stress",
        "--target",
        "x86_64",
        "--budget",
        "quick",
    ]);
    let cell = run.cell("hangs/racy", "stress", "x86_64");
    assert_eq!(cell.outcome, Outcome::Hang, "{cell:#?}\n{}", run.stdout);
    let e = cell.evidence.as_ref().expect("evidence");
    assert_eq!(e.kind, EvidenceKind::Hang, "{e:#?}");
    let r = e.reproduced.as_ref().expect("the hang was rerun");
    assert_eq!((r.runs, r.failed), (1, 1), "{e:#?}");
    assert!(e.replay.contains("--stress-count 1 "), "{}", e.replay);
}

/// Peak resident memory (VmHWM, KiB) of `pid`, sampled until it exits.
fn peak_rss_until_exit(child: &mut std::process::Child) -> u64 {
    let mut peak = 0;
    while child.try_wait().unwrap().is_none() {
        if let Ok(status) = std::fs::read_to_string(format!("/proc/{}/status", child.id())) {
            let hwm = status.lines().find(|l| l.starts_with("VmHWM:"));
            if let Some(kib) = hwm.and_then(|l| l.split_whitespace().nth(1)?.parse().ok()) {
                peak = kib;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    peak
}

#[test]
fn a_test_printing_50_mib_leaves_a_bounded_log_and_its_evidence_is_found() {
    let started = tempfile::tempdir().unwrap();
    let (_pkg, _dir, manifest) = orphan_suite(&unique_marker("loud"), started.path());
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let mut cmd = xtask();
    cmd.args(["race-hunt", "--manifest", &manifest, "--fixture", "loud/racy", "--detector", "stress"])
        .args(["--target", "x86_64", "--budget", "quick", "--json"])
        .arg(&json)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let peak_kib = peak_rss_until_exit(&mut child);
    let report: race_hunt_tests::Report =
        race_hunt_tests::Report::from_json(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let cell = report.cell("loud/racy", "stress", "x86_64").expect("the loud cell");
    assert_eq!(cell.outcome, Outcome::Detected, "{cell:#?}");
    let e = cell.evidence.as_ref().unwrap();
    assert_eq!(e.kind, EvidenceKind::TestFailure, "{e:#?}");
    assert_eq!(e.message, "lost 7 updates after 50 MiB of output", "{e:#?}");
    assert_eq!(e.test.as_deref(), Some("orphans tests::prints_a_lot_then_fails"), "{e:#?}");
    // The run and its 20 reruns printed over a GiB; the log keeps 8 MiB of each.
    let log = cell.log.as_deref().expect("a log");
    let size = std::fs::metadata(log).unwrap().len();
    assert!(size < 2 * 8 * 1024 * 1024 + 64 * 1024, "the log is {size} bytes");
    let text = std::fs::read_to_string(log).unwrap();
    assert_eq!(text.matches("[race-hunt: cut ").count(), 2, "one cut per invocation");
    assert!(peak_kib > 0 && peak_kib < 150 * 1024, "race-hunt's peak RSS was {peak_kib} KiB");
}
