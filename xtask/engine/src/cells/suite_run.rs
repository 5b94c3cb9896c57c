//! Building and running a suite cell: the package's tests through
//! cargo-nextest under a detector's flavor, the failing test's evidence
//! credited to the mechanism that saw it, the reruns that tell a race from
//! a one-off, and replays a developer can paste.

use std::path::Path;

use race_hunt_report::{EvidenceKind, Reproduction, RunnerResult};

use crate::builds::BuildSpec;
use crate::cell::{Cell, SuiteCell};
use crate::cells::Group;
use crate::detector::{is_outside_kill, replay_xtask, Detector, Finished, SuiteHunter};
use crate::invocation::{Env, Invocation, Replay};
use crate::nextest::{self, FailedTest, RunOutput, SuitePlan};
use crate::outcome::Outcome;
use crate::process::{signal_name, Exit};
use crate::target::Target;

/// The build of a suite cell: `cargo nextest list` with the same flavor,
/// features and filter as the run, so the run finds everything built.
pub fn build_spec(plan: &SuitePlan, suite: &SuiteCell, target: &Target, env: &Env<'_>) -> BuildSpec {
    let argv = nextest::command(&plan.flavor, suite, target, "list", None);
    // builds::command adds `cargo` and `+toolchain` itself.
    let step: Vec<String> = argv
        .into_iter()
        .skip(1)
        .filter(|w| !w.starts_with('+'))
        .chain(["--message-format".into(), "json".into()])
        .collect();
    BuildSpec {
        dir: plan.flavor.dir.clone(),
        toolchain: plan.flavor.toolchain.clone(),
        rustflags: Vec::new(),
        env: nextest::command_env(&plan.flavor, suite, target, env),
        steps: vec![step],
        binary: None,
    }
}

/// The key under which cells share a suite build and its listing: flavor,
/// target, the package's manifest (by path: two copies of one package at
/// two versions are two builds), features and filter (each filter's
/// listing says whether it selects any test).
pub fn build_key(plan: &SuitePlan, suite: &SuiteCell, target: &Target) -> String {
    format!(
        "{}@{} [{} {}{}{}]",
        plan.flavor.dir,
        target.name,
        suite.package,
        suite.manifest_path.display(),
        if suite.features.is_empty() { String::new() } else { format!(" +{}", suite.features.join(",")) },
        suite.filter.as_deref().map(|f| format!(" -E {f}")).unwrap_or_default()
    )
}

/// How `detector` hunts `suite` on `target`: its plan, with the suite's own
/// settings for it applied (the build, the run and the replays all use this).
/// A suite run holds the cores its detector says ([`Detector::cores`]), so
/// nextest runs at most that many tests at once: Miri's cell holds one, and
/// with nextest's default of one test per core two Miri cells ran four
/// interpreters on two cores, each at half speed, into their timeouts.
pub fn plan(detector: &dyn Detector, suite: &SuiteCell, target: &Target, env: &Env<'_>) -> SuitePlan {
    let mut plan = hunter(detector).suite_plan(suite, target, env);
    if !plan.run_args.iter().any(|a| a == "--test-threads") {
        plan.run_args.extend(["--test-threads".into(), detector.cores().to_string()]);
    }
    suite.settings.apply(&mut plan);
    plan
}

/// The suite capability of a suite cell's detector: the plan makes a suite
/// cell only for a detector that hunts suites.
fn hunter(detector: &dyn Detector) -> &dyn SuiteHunter {
    detector.suites().unwrap_or_else(|| unreachable!("{} does not hunt suites", detector.name()))
}

/// How many tests `nextest list --message-format json` found that match
/// the filter.
pub fn tests_listed(log: &str) -> Option<u64> {
    let json = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l.trim()).ok())
        .find(|v| v.get("rust-suites").is_some())?;
    let mut n = 0;
    for suite in json["rust-suites"].as_object()?.values() {
        for case in suite["testcases"].as_object().into_iter().flat_map(|m| m.values()) {
            let matches =
                case.get("filter-match").and_then(|m| m.get("status")).and_then(|s| s.as_str()) == Some("matches");
            if matches {
                n += 1;
            }
        }
    }
    Some(n)
}

/// Variables worth showing in a replay: what changes the build or the run.
pub(crate) fn shown_vars(vars: &[(String, String)]) -> Vec<(String, String)> {
    vars.iter().filter(|(k, _)| k != "CARGO_TARGET_DIR" && !k.ends_with("_LINKER")).cloned().collect()
}

/// A suite outside the root's workspace (its own workspace in a
/// subdirectory) would build its replay into a `target/` inside the package,
/// which a root `/target` ignore does not cover: its replay builds under the
/// repository's `target/race-hunt/replay/` instead (a path from the root,
/// where replays run).
pub(crate) fn replay_target_dir(suite: &SuiteCell, root: &Path, flavor_dir: &str) -> Option<(String, String)> {
    let real = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    (real(&suite.workspace_root) != real(root)).then(|| {
        (
            "CARGO_TARGET_DIR".to_string(),
            format!("target/race-hunt/replay/{flavor_dir}/{}", nextest::workspace_slug(suite)),
        )
    })
}

/// Paths under `root` shown relative to it.
fn relative(argv: &[String], root: &Path) -> Vec<String> {
    argv.iter()
        .map(|w| match Path::new(w).strip_prefix(root) {
            Ok(r) if Path::new(w).is_absolute() => r.display().to_string(),
            _ => w.clone(),
        })
        .collect()
}

/// What a suite cell's run gave: its outcome, the passes it ran, and notes
/// on how the outcome was reached (a slow test that was not stuck, ...).
#[derive(Debug, Clone, PartialEq)]
pub struct SuiteRun {
    pub outcome: Outcome,
    pub attempts: u64,
    pub notes: Vec<String>,
}

impl SuiteRun {
    fn error(message: String) -> SuiteRun {
        SuiteRun { outcome: Outcome::Error(message), attempts: 0, notes: Vec::new() }
    }
}

/// Run one suite cell (or the replay of one of its detections), appending
/// to `log` (the caller starts it: a starved cell's rounds share one log).
/// `suite` is the cell's subject.
pub fn execute(
    cell: &Cell,
    suite: &SuiteCell,
    group: &Group,
    env: &Env<'_>,
    dir: &Path,
    log: &Path,
    replay: Option<&Replay>,
) -> SuiteRun {
    let target = &cell.target;
    let hunter = hunter(group.detector.as_ref());
    let plan = plan(group.detector.as_ref(), suite, target, env);
    if let Err(e) = std::fs::create_dir_all(dir) {
        return SuiteRun::error(format!("failed to create {}: {e}", dir.display()));
    }
    let config = match nextest::config_file(suite, dir, plan.test_timeout) {
        Ok(c) => c,
        Err(e) => return SuiteRun::error(format!("cannot write race-hunt's nextest config: {e}")),
    };
    let vars = nextest::command_env(&plan.flavor, suite, target, env);
    let base = nextest::command(&plan.flavor, suite, target, "run", Some(&config));
    let (argv, run_vars) = match replay.and_then(|r| r.test.as_ref()) {
        Some(test) => {
            let (binary, name) = test.split_once(' ').unwrap_or((test.as_str(), ""));
            let t = FailedTest { binary: binary.into(), name: name.into(), ..FailedTest::default() };
            let mut a = nextest::for_one_test(&base, &t);
            a.extend(["--stress-count".into(), plan.replay_runs().to_string(), "--no-fail-fast".into()]);
            (a, hunter.suite_replay_vars(&vars, replay.map(|r| r.seed)))
        }
        None => (base.iter().cloned().chain(plan.run_args.iter().cloned()).collect(), vars.clone()),
    };
    let invocation = Invocation { argv, env: run_vars, label: String::new(), timeout: plan.timeout, unset: scrubbed() };
    let (exit, text) = match crate::cells::run_invocation(&invocation, env, log) {
        Ok(r) => r,
        Err(e) => return SuiteRun::error(e),
    };
    let out = nextest::parse(&text);
    let mut attempts = out.iterations.map(|(ran, _)| ran).or(out.tests_run).unwrap_or(out.passes_seen);
    let mut notes = Vec::new();
    if let Some(line) = compiled(&text) {
        // Compilation belongs to the build step, never to a cell's budget or
        // timeout: a run that compiles did not reuse race-hunt's build.
        return SuiteRun::error(format!(
            "the cell's run compiled code (`{line}`): race-hunt's build of this suite was not reused, so the run's time is not the tests' (a harness bug; see {})",
            log.display()
        ));
    }
    let done = Finished {
        cell,
        exit: exit.clone(),
        log,
        log_text: &text,
        result: RunnerResult::find(&text),
        invocation: &invocation,
        env,
    };
    let mut outcome = read(hunter, &done, &out, suite, env);
    if let (Exit::TimedOut(after), Outcome::Hang(_), true) = (&exit, &outcome, out.failures.is_empty()) {
        // race-hunt's own clock on the whole run, with no test timed out:
        // the budget ran out, which is not a hang.
        outcome = out_of_time(*after, &out, log, &mut notes);
    }
    // A test stopped at its timeout is rerun alone once, watched: that run
    // is also the hang's one rerun.
    let mut confirmed = false;
    if let (Outcome::Hang(e), None, Some(test)) = (&outcome, replay, out.failures.first()) {
        if test.status == "TIMEOUT" && !crate::process::interrupted() {
            let first = e.clone();
            let (o, more) = confirm_hang(cell, suite, group, test, &plan, &vars, env, dir, log, first, &mut notes);
            outcome = o;
            attempts += more;
            confirmed = true;
        }
    }
    let hung = matches!(outcome, Outcome::Hang(_));
    if let Some(e) = outcome.evidence_mut() {
        // A replay of just that test, as a developer would type it.
        if let Some(test) = out.failures.first() {
            let reruns = reruns_after(&plan, hung || test.status == "TIMEOUT");
            let mut one = nextest::for_one_test(&nextest::command(&plan.flavor, suite, target, "run", None), test);
            one.extend(["--stress-count".into(), reruns.max(1).to_string(), "--no-fail-fast".into()]);
            let replay_vars = hunter.suite_replay_vars(&vars, e.seed);
            let mut shown = shown_vars(&replay_vars);
            shown.splice(0..0, replay_target_dir(suite, env.root, &plan.flavor.dir));
            e.replay = nextest::replay_line(&shown, &relative(&one, env.root), env.root);
            let r = Replay { seed: e.seed.unwrap_or(env.seed), start: None, file: None, test: Some(test.full_name()) };
            e.replay_xtask = Some(replay_xtask(env, cell, &r));
            // Rerun that one test: how often does it fail?
            if confirmed && hung {
                e.reproduced = Some(Reproduction { failed: 1, runs: 1 });
            } else if replay.is_none() && reruns > 0 && !crate::process::interrupted() {
                e.reproduced = rerun(&base, test, reruns, &plan, &vars, env, log);
            }
        }
    }
    SuiteRun { outcome, attempts, notes }
}

/// Variables of the caller's that a suite run drops, as its build did.
fn scrubbed() -> Vec<String> {
    crate::builds::SCRUBBED.iter().map(|k| k.to_string()).collect()
}

/// The first line of cargo compiling something, if the output has one.
fn compiled(text: &str) -> Option<String> {
    text.lines().map(str::trim).find(|l| l.starts_with("Compiling ") && l.contains(" v")).map(str::to_string)
}

/// The whole run was killed at race-hunt's timeout and no test had timed
/// out: clean after the passes that finished, or, when none did, an error
/// that says the budget is too small for this suite under this detector.
fn out_of_time(after: std::time::Duration, out: &RunOutput, log: &Path, notes: &mut Vec<String>) -> Outcome {
    let secs = after.as_secs_f64();
    if out.passes_seen > 0 {
        notes.push(format!(
            "the run's time ran out after {secs:.0}s during pass {} with {} clean passes: slow under this detector, not a hang (a stuck test is stopped by the per-test timeout first)",
            out.passes_seen + 1,
            out.passes_seen
        ));
        Outcome::Clean
    } else {
        Outcome::Error(format!(
            "no pass of the suite finished within the run's {secs:.0}s, and no test reached its own timeout: the suite is too slow for this detector's budget (raise the suite's `timeout`); see {}",
            log.display()
        ))
    }
}

/// A test nextest terminated at its timeout: stuck, or only slow under this
/// detector? Rerun it alone once with three times the time while watching
/// its CPU time and threads. Stuck (no CPU progress): a `hang` with that
/// evidence. Passed alone: slow, not stuck; the whole run is made again
/// with the longer test timeout and read (clean with a note, or what it
/// found). Still busy alone: an `error` that says to raise `test-timeout`
/// (neither a hang nor clean: the rest of the run never happened). Failed
/// otherwise: that failure.
#[allow(clippy::too_many_arguments)]
fn confirm_hang(
    cell: &Cell,
    suite: &SuiteCell,
    group: &Group,
    test: &FailedTest,
    plan: &SuitePlan,
    vars: &[(String, String)],
    env: &Env<'_>,
    dir: &Path,
    log: &Path,
    first: race_hunt_report::Evidence,
    notes: &mut Vec<String>,
) -> (Outcome, u64) {
    let longer = (plan.test_timeout * 3.0).min(plan.test_timeout + 240.0);
    let confirm_dir = dir.join("confirm");
    let config = match nextest::config_file(suite, &confirm_dir, longer) {
        Ok(c) => c,
        Err(e) => return (Outcome::Error(format!("cannot write race-hunt's nextest config: {e}")), 0),
    };
    let argv = nextest::for_one_test(&nextest::command(&plan.flavor, suite, &cell.target, "run", Some(&config)), test);
    let id = crate::cpu::marker();
    let mut run_vars = vars.to_vec();
    run_vars.push((crate::cpu::MARKER.to_string(), id.clone()));
    let invocation = Invocation {
        argv,
        env: run_vars,
        label: format!("is {} stuck? alone, {longer:.0}s", test.full_name()),
        timeout: std::time::Duration::from_secs_f64(longer + 60.0),
        unset: scrubbed(),
    };
    let watch = crate::cpu::Watch::start(id, std::time::Duration::from_millis(500));
    let ran = crate::cells::run_invocation(&invocation, env, log);
    let samples = watch.finish();
    let Ok((exit, text)) = ran else { return (Outcome::Hang(first), 0) };
    let out = nextest::parse(&text);
    let name = test.full_name();
    let timed_out = test.status.as_str();
    match out.failures.first() {
        None if exit == Exit::Code(0) => {
            // Slow, not stuck. The hunt stopped at that test, so the rest of
            // the run never happened: run it whole again, with that timeout.
            let slow = format!(
                "{name} was stopped at its {:.0}s test timeout ({timed_out}) in the hunt, then passed alone within {longer:.0}s: slow under this detector, not stuck",
                plan.test_timeout
            );
            let mut argv = nextest::command(&plan.flavor, suite, &cell.target, "run", Some(&config));
            argv.extend(plan.run_args.iter().cloned());
            let again = Invocation {
                argv,
                env: vars.to_vec(),
                label: format!("the whole run again, one test timeout {longer:.0}s"),
                timeout: plan.timeout + std::time::Duration::from_secs_f64(longer),
                unset: scrubbed(),
            };
            let Ok((exit, text)) = crate::cells::run_invocation(&again, env, log) else {
                return (Outcome::Error(format!("{slow}; the run with a longer test timeout could not start")), 1);
            };
            let out = nextest::parse(&text);
            let passes = out.iterations.map(|(ran, _)| ran).or(out.tests_run).unwrap_or(out.passes_seen);
            match read_run(cell, suite, group, env, log, &again, exit, &text, &out) {
                Outcome::Clean => {
                    notes.push(format!(
                        "{slow}; the whole run, again with a {longer:.0}s test timeout, was clean after {passes} passes (raise the suite's `test-timeout` for this detector)"
                    ));
                    (Outcome::Clean, 1 + passes)
                }
                Outcome::Hang(_) => (
                    Outcome::Error(format!(
                        "{slow}, but the whole run timed out again with a {longer:.0}s test timeout: raise the suite's `test-timeout` for this detector ([suites.detectors.NAME] test-timeout = SECONDS); see {}",
                        log.display()
                    )),
                    1 + passes,
                ),
                other => (other, 1 + passes),
            }
        }
        Some(again) if again.status == "TIMEOUT" => {
            let window = std::time::Duration::from_secs_f64((longer / 2.0).max(5.0));
            match crate::cpu::judge(&samples, window) {
                crate::cpu::Verdict::Stuck { idle, threads } => {
                    let mut e = first;
                    e.message = format!(
                        "{name} is stuck: it timed out after {:.0}s in the hunt, and alone it made no CPU progress for the last {idle:.0}s of {longer:.0}s ({threads})",
                        plan.test_timeout
                    );
                    e.notes.push(format!("CPU progress sampled every 0.5s while {name} ran alone"));
                    (Outcome::Hang(e), 1)
                }
                crate::cpu::Verdict::Busy { cpu, over, threads } => (
                    // Not stuck, and not finished: neither a hang nor clean
                    // (the rest of the run never happened).
                    Outcome::Error(format!(
                        "{name} did not finish within {longer:.0}s alone but kept using CPU ({cpu:.1}s of CPU in the last {over:.0}s; {threads}): slow under this detector (or a livelock), not stuck; raise the suite's `test-timeout` for this detector ([suites.detectors.NAME] test-timeout = SECONDS) to let it finish"
                    )),
                    1,
                ),
                crate::cpu::Verdict::Unknown => {
                    let mut e = first;
                    e.notes.push(format!(
                        "{name} timed out again alone after {longer:.0}s; its CPU progress could not be sampled"
                    ));
                    (Outcome::Hang(e), 1)
                }
            }
        }
        _ => {
            // It failed alone: read that run as the cell's result.
            (read_run(cell, suite, group, env, log, &invocation, exit, &text, &out), 1)
        }
    }
}

/// How many times a failing test is rerun alone: the plan's reruns, but
/// at most once for a test that hung (each rerun of a hang costs the whole
/// test timeout, and one more hang already says it is not a one-off).
fn reruns_after(plan: &SuitePlan, hung: bool) -> u64 {
    if hung {
        plan.reruns.min(1)
    } else {
        plan.reruns
    }
}

/// Rerun one failing test `reruns` times; how many failed.
fn rerun(
    base: &[String],
    test: &FailedTest,
    reruns: u64,
    plan: &SuitePlan,
    vars: &[(String, String)],
    env: &Env<'_>,
    log: &Path,
) -> Option<Reproduction> {
    let mut argv = nextest::for_one_test(base, test);
    argv.extend(["--stress-count".into(), reruns.to_string(), "--no-fail-fast".into()]);
    let invocation = Invocation {
        argv,
        env: vars.to_vec(),
        label: format!("rerun {} x{reruns}", test.full_name()),
        timeout: plan.timeout,
        unset: scrubbed(),
    };
    let (_, text) = crate::cells::run_invocation(&invocation, env, log).ok()?;
    let (runs, failed) = nextest::parse(&text).iterations?;
    Some(Reproduction { failed, runs })
}

/// [`read`] one more run of a suite cell (a rerun made while confirming a hang).
#[allow(clippy::too_many_arguments)]
fn read_run(
    cell: &Cell,
    suite: &SuiteCell,
    group: &Group,
    env: &Env<'_>,
    log: &Path,
    invocation: &Invocation,
    exit: Exit,
    text: &str,
    out: &RunOutput,
) -> Outcome {
    let done = Finished { cell, exit, log, log_text: text, result: RunnerResult::find(text), invocation, env };
    read(hunter(group.detector.as_ref()), &done, out, suite, env)
}

/// A suite run's outcome, credited to the mechanism that saw it.
fn read(hunter: &dyn SuiteHunter, done: &Finished<'_>, out: &RunOutput, suite: &SuiteCell, env: &Env<'_>) -> Outcome {
    let first = out.failures.first();
    match &done.exit {
        Exit::Stopped(sig) => return Outcome::NotRun(format!("stopped by {}", signal_name(*sig))),
        Exit::Signal(sig) if is_outside_kill(*sig) => {
            return Outcome::Error(format!(
                "nextest was killed by signal {sig} ({}) from outside: not a detection",
                signal_name(*sig)
            ))
        }
        Exit::TimedOut(after) if first.is_none() => {
            let mut e = race_hunt_report::Evidence::new(
                EvidenceKind::Hang,
                format!(
                    "nextest had not finished after {:.0}s (a test hung past the run's timeout)",
                    after.as_secs_f64()
                ),
                done.replay(),
            );
            e.test = first.map(FailedTest::full_name);
            return Outcome::Hang(e);
        }
        _ => {}
    }
    // The detector's own mechanism first: a TSan or Miri report, or its
    // tool's word that it could not run a test.
    if let Some(e) = hunter.suite_error(done, first) {
        return Outcome::Error(e);
    }
    if let Some(mut e) = hunter.suite_evidence(done, first) {
        if e.test.is_none() {
            e.test = first.map(FailedTest::full_name);
        }
        return Outcome::Detected(e);
    }
    match first {
        Some(t) if t.status == "TIMEOUT" => {
            let e = nextest::evidence(EvidenceKind::Hang, t, suite, done.replay(), env.root);
            Outcome::Hang(e)
        }
        Some(t) => {
            let kind = if t.status.starts_with("SIG") { EvidenceKind::CrashSignal } else { EvidenceKind::TestFailure };
            Outcome::Detected(nextest::evidence(kind, t, suite, done.replay(), env.root))
        }
        None => match &done.exit {
            Exit::Code(0) if out.iterations.map_or(out.tests_run.unwrap_or(0), |(ran, _)| ran) > 0 => Outcome::Clean,
            Exit::Code(0) => {
                Outcome::Error(format!("nextest ran no test (check the suite's filter); see {}", done.log.display()))
            }
            Exit::Code(code) => Outcome::Error(format!(
                "nextest exited with code {code} and no failing test; see {}",
                done.log.display()
            )),
            Exit::Signal(sig) => Outcome::Error(format!("nextest died of signal {sig}; see {}", done.log.display())),
            Exit::Stopped(_) => unreachable!("handled above"),
            Exit::TimedOut(after) => Outcome::Error(format!(
                "nextest had not finished after {:.0}s and printed no failing test; see {}",
                after.as_secs_f64(),
                done.log.display()
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listed_tests_are_counted_by_filter_match() {
        let log = r#"   Compiling wallet v0.1.0
{"rust-build-meta":{},"test-count":3,"rust-suites":{"wallet":{"testcases":{"a":{"filter-match":{"status":"matches"}},"b":{"filter-match":{"status":"mismatch","reason":"expression"}}}},"wallet::it":{"testcases":{"c":{"filter-match":{"status":"matches"}}}}}}
"#;
        assert_eq!(tests_listed(log), Some(2));
        assert_eq!(tests_listed("no json here"), None);
    }

    /// nextest runs no more tests at once than the cores the cell holds:
    /// a Miri cell (one core) runs one test at a time, chaos keeps its own
    /// one-at-a-time, and every other detector gets its own core count.
    #[test]
    fn a_suite_run_runs_no_more_tests_at_once_than_its_cores() {
        let root = Path::new("/repo");
        let env = crate::detector::tests::env(root);
        let target = crate::plan::test_cell("wallet", "racy", "stress").target;
        let suite = SuiteCell::for_tests("wallet", &root.join("wallet"), root);
        let manifest = crate::manifest::tests::repo_manifest();
        let mut one_core = 0;
        for d in manifest.configured("standard").iter().filter(|d| d.suites().is_some()) {
            let p = plan(d.as_ref(), &suite, &target, &env);
            let at: Vec<usize> = (0..p.run_args.len()).filter(|&i| p.run_args[i] == "--test-threads").collect();
            assert_eq!(at.len(), 1, "{}: {:?}", d.name(), p.run_args);
            let n: usize = p.run_args[at[0] + 1].parse().unwrap();
            assert!(n >= 1 && n <= d.cores(), "{}: {n} tests at once on {} cores", d.name(), d.cores());
            one_core += usize::from(d.cores() == 1);
        }
        assert!(one_core >= 1, "a one-core suite hunter (Miri) is among the detectors");
    }

    /// A suite that is its own workspace in a subdirectory builds its
    /// replay under the repository's `target/`; a member of the root's
    /// workspace already builds there.
    #[test]
    fn a_replay_outside_the_root_workspace_builds_under_the_root_target() {
        let root = Path::new("/repo");
        let suite =
            |workspace: &str| SuiteCell::for_tests("wallet", &root.join("crates/wallet"), &root.join(workspace));
        let (k, v) = replay_target_dir(&suite("crates/wallet"), root, "suites-release").unwrap();
        assert_eq!(k, "CARGO_TARGET_DIR");
        assert!(v.starts_with("target/race-hunt/replay/suites-release/wallet-"), "one directory per workspace: {v}");
        let (_, other) = replay_target_dir(&suite("old/wallet"), root, "suites-release").unwrap();
        assert_ne!(v, other, "two copies of one package never share a replay build");
        assert_eq!(replay_target_dir(&suite(""), root, "suites-release"), None);
    }
}
