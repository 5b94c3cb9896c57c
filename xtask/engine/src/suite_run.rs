//! Building and running a suite cell: the package's tests through
//! cargo-nextest under a detector's flavor, the failing test's evidence
//! credited to the mechanism that saw it, the reruns that tell a race from
//! a one-off, and replays a developer can paste.

use std::path::Path;

use race_hunt_report::{EvidenceKind, Reproduction, RunnerResult};

use crate::builds::BuildSpec;
use crate::detector::{is_outside_kill, replay_xtask, signal_name, Env, Finished, Invocation, Replay};
use crate::nextest::{self, FailedTest, RunOutput, SuitePlan};
use crate::outcome::Outcome;
use crate::plan::Cell;
use crate::process::Exit;
use crate::race_hunt::Group;
use crate::suite::SuiteCell;
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
        env: nextest::command_env(&plan.flavor, target, env),
        steps: vec![step],
        binary: None,
    }
}

/// The key under which cells share a suite build: flavor, target, package
/// and features.
pub fn build_key(plan: &SuitePlan, suite: &SuiteCell, target: &Target) -> String {
    format!(
        "{}@{} [{}{}]",
        plan.flavor.dir,
        target.name,
        suite.package,
        if suite.features.is_empty() { String::new() } else { format!(" +{}", suite.features.join(",")) }
    )
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

/// Paths under `root` shown relative to it.
fn relative(argv: &[String], root: &Path) -> Vec<String> {
    argv.iter()
        .map(|w| match Path::new(w).strip_prefix(root) {
            Ok(r) if Path::new(w).is_absolute() => r.display().to_string(),
            _ => w.clone(),
        })
        .collect()
}

/// Run one suite cell (or the replay of one of its detections).
pub fn execute(
    cell: &Cell,
    group: &Group,
    env: &Env<'_>,
    dir: &Path,
    log: &Path,
    replay: Option<&Replay>,
) -> (Outcome, u64) {
    let suite = cell.suite.as_deref().expect("a suite cell");
    let target = &cell.target;
    let plan = group.detector.suite_plan(suite, target, env);
    if let Err(e) = std::fs::create_dir_all(dir) {
        return (Outcome::Error(format!("failed to create {}: {e}", dir.display())), 0);
    }
    let _ = std::fs::remove_file(log);
    let config = match nextest::config_file(suite, dir, plan.test_timeout) {
        Ok(c) => c,
        Err(e) => return (Outcome::Error(format!("cannot write race-hunt's nextest config: {e}")), 0),
    };
    let vars = nextest::command_env(&plan.flavor, target, env);
    let base = nextest::command(&plan.flavor, suite, target, "run", Some(&config));
    let (argv, run_vars) = match replay.and_then(|r| r.test.as_ref()) {
        Some(test) => {
            let (binary, name) = test.split_once(' ').unwrap_or((test.as_str(), ""));
            let t = FailedTest { binary: binary.into(), name: name.into(), ..FailedTest::default() };
            let mut a = nextest::for_one_test(&base, &t);
            a.extend(["--stress-count".into(), plan.replay_runs().to_string(), "--no-fail-fast".into()]);
            (a, group.detector.suite_replay_vars(&vars, replay.map(|r| r.seed)))
        }
        None => (base.iter().cloned().chain(plan.run_args.iter().cloned()).collect(), vars.clone()),
    };
    let invocation = Invocation { argv, env: run_vars, label: String::new(), timeout: plan.timeout, unset: Vec::new() };
    let (exit, text) = match crate::cells::run_invocation(&invocation, env, log) {
        Ok(r) => r,
        Err(e) => return (Outcome::Error(e), 0),
    };
    let out = nextest::parse(&text);
    let attempts = out.iterations.map(|(ran, _)| ran).or(out.tests_run).unwrap_or(0);
    let done = Finished {
        cell,
        exit: exit.clone(),
        log,
        log_text: &text,
        result: RunnerResult::find(&text),
        invocation: &invocation,
        env,
    };
    let mut outcome = read(group.detector.as_ref(), &done, &out, suite, env);
    let hung = matches!(outcome, Outcome::Hang(_));
    if let Some(e) = outcome.evidence_mut() {
        // A replay of just that test, as a developer would type it.
        if let Some(test) = out.failures.first() {
            let reruns = reruns_after(&plan, hung || test.status == "TIMEOUT");
            let mut one = nextest::for_one_test(&nextest::command(&plan.flavor, suite, target, "run", None), test);
            one.extend(["--stress-count".into(), reruns.max(1).to_string(), "--no-fail-fast".into()]);
            let replay_vars = group.detector.suite_replay_vars(&vars, e.seed);
            e.replay = nextest::replay_line(&shown_vars(&replay_vars), &relative(&one, env.root));
            let r = Replay { seed: e.seed.unwrap_or(env.seed), start: None, file: None, test: Some(test.full_name()) };
            e.replay_xtask = Some(replay_xtask(env, cell, &r));
            // Rerun that one test: how often does it fail?
            if replay.is_none() && reruns > 0 && !crate::process::interrupted() {
                e.reproduced = rerun(&base, test, reruns, &plan, &vars, env, log);
            }
        }
    }
    (outcome, attempts)
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
        unset: Vec::new(),
    };
    let (_, text) = crate::cells::run_invocation(&invocation, env, log).ok()?;
    let (runs, failed) = nextest::parse(&text).iterations?;
    Some(Reproduction { failed, runs })
}

/// A suite run's outcome, credited to the mechanism that saw it.
fn read(
    detector: &dyn crate::detector::Detector,
    done: &Finished<'_>,
    out: &RunOutput,
    suite: &SuiteCell,
    env: &Env<'_>,
) -> Outcome {
    let first = out.failures.first();
    match &done.exit {
        Exit::Stopped(sig) => return Outcome::NotRun(format!("stopped by {}", signal_name(*sig))),
        Exit::Signal(sig) if is_outside_kill(*sig) => {
            return Outcome::Error(format!(
                "nextest was killed by signal {sig} ({}) from outside: not a detection",
                signal_name(*sig)
            ))
        }
        Exit::TimedOut(after) => {
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
    // The detector's own mechanism first: a TSan or Miri report.
    if let Some(mut e) = detector.suite_evidence(done, first) {
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
            Exit::TimedOut(_) | Exit::Stopped(_) => unreachable!("handled above"),
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
}
