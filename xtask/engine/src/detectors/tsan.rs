//! `tsan`: ThreadSanitizer, Rust's `go test -race`.
//!
//! Build: nightly, `-Zsanitizer=thread`, `-Zbuild-std` (needs `rust-src`)
//! for `x86_64-unknown-linux-gnu`. Why not the `x86_64-unknown-linux-gnutsan`
//! target, whose prebuilt std is already instrumented? It cannot be
//! downloaded for every nightly (not for the one pinned here);
//! `-Zbuild-std` works on every nightly with `rust-src` and costs ~30 s
//! once per target directory. Without an instrumented std, rustc refuses
//! to mix sanitized and unsanitized crates, and forcing it yields false
//! reports in std's `Mutex` and channels. The build has its own target
//! directory.
//!
//! Run: `TSAN_OPTIONS` chosen on purpose (see [`tsan_options`]). If the
//! runtime aborts with "unexpected memory mapping" (kernels with a high
//! `vm.mmap_rnd_bits`), the binary is run again under `setarch -R` (ASLR
//! off) and the evidence says so.
//!
//! Evidence: only a report ThreadSanitizer printed is a `tsan-report`.
//! Every report in the output is parsed ([`report`]), deduplicated by the
//! signature of its frames in the code under test, and summarised as
//! "write at src/..:12 races with read at src/..:15". An oracle that fails
//! in the TSan build without a report is the oracle's detection, credited
//! as such (`oracle-violation`), never as ThreadSanitizer's.

pub mod bench;
pub mod report;
pub mod suppressions;

use std::path::{Path, PathBuf};

use race_hunt_report::{Evidence, EvidenceKind, Finding};

use crate::budget::Loop;
use crate::builds::BuildSpec;
use crate::cell::{Cell, Subject, SuiteCell};
use crate::detector::{interpret_runner, Detector, Finished, Kind, SuiteHunter};
use crate::detectors::stress::real_thread_run;
use crate::invocation::{Artifact, Env, Invocation, Replay};
use crate::knobs::{KnobError, Knobs};
use crate::nextest::{FailedTest, Flavor, SuitePlan};
use crate::outcome::Outcome;
use crate::prerequisite::Prerequisite;
use crate::process::Exit;
use crate::target::Target;
use report::TsanReport;

pub const KIND: Kind = Kind { name: "tsan", configure, suite_cfg: None, proof: &[EvidenceKind::TsanReport] };

/// The exit code TSan makes the process return when it reported anything.
pub const EXIT_CODE: i32 = 66;

fn configure(settings: &Knobs<'_>, budget: &Knobs<'_>) -> Result<Box<dyn Detector>, KnobError> {
    let suppressions = match settings.existing_path("suppressions")? {
        Some((path, span)) => {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| settings.error_at("suppressions", format!("failed to read {}: {e}", path.display())))?;
            suppressions::check(&path, &text).map_err(|e| KnobError {
                span,
                message: e.message.clone(),
                elsewhere: Some(format!("{}:{}:{}", path.display(), e.line, e.column)),
            })?;
            // The path goes into TSAN_OPTIONS between quotes; a path that
            // holds both kinds of quote cannot be written there.
            if path.to_string_lossy().contains('\'') && path.to_string_lossy().contains('"') {
                return Err(settings.error_at(
                    "suppressions",
                    format!(
                        "the path {} holds both ' and \", which TSAN_OPTIONS cannot quote; move the file",
                        path.display()
                    ),
                ));
            }
            Some(std::fs::canonicalize(&path).unwrap_or(path))
        }
        None => None,
    };
    Ok(Box::new(Tsan { budget: Loop::read(budget)?, suppressions }))
}

pub struct Tsan {
    budget: Loop,
    /// The reviewed suppressions file (every entry has a `# why` comment).
    suppressions: Option<PathBuf>,
}

/// `TSAN_OPTIONS` for every run:
/// - `halt_on_error=0`: keep running after the first report, so every
///   distinct race of the cell is collected (TSan dedups identical stacks
///   itself with `suppress_equal_stacks=1`, the default);
/// - `exitcode=66`: a run with reports fails with a code no panic uses;
/// - `history_size=7` (the maximum: 2^7 K accesses of history per thread):
///   the default (2) forgets the older access of a race between accesses
///   that are far apart; the Go race detector, the same runtime, missed the
///   lesson's session race in ~9% of runs at its default history and in
///   none with a larger one;
/// - `second_deadlock_stack=1`: both stacks in lock-order reports;
/// - `suppressions=`: the reviewed suppressions file, quoted (the
///   sanitizer's flag parser takes a quoted value, so a path with spaces or
///   colons survives).
///
/// The user's own `TSAN_OPTIONS` come last, so they win; a setting that
/// silences TSan is caught by the canaries, which then fail the column.
pub fn tsan_options(suppressions: Option<&Path>) -> String {
    let mut options = format!("halt_on_error=0 exitcode={EXIT_CODE} history_size=7 second_deadlock_stack=1");
    if let Some(s) = suppressions {
        let s = s.display().to_string();
        let quote = if s.contains('"') { '\'' } else { '"' };
        options.push_str(&format!(" suppressions={quote}{s}{quote}"));
    }
    if let Some(user) = std::env::var("TSAN_OPTIONS").ok().filter(|u| !u.trim().is_empty()) {
        options.push(' ');
        options.push_str(user.trim());
    }
    options
}

impl Detector for Tsan {
    fn name(&self) -> &'static str {
        KIND.name
    }

    fn supports(&self, target: &Target) -> Result<(), String> {
        if target.triple != "x86_64-unknown-linux-gnu" {
            return Err(if target.triple.starts_with("armv7") || target.triple.starts_with("i686") {
                "ThreadSanitizer does not support 32-bit targets".into()
            } else if !target.native {
                "ThreadSanitizer's shadow memory layout does not work under qemu-user: TSan runs natively on x86_64 only here".into()
            } else {
                format!("race-hunt runs ThreadSanitizer on x86_64-unknown-linux-gnu only, not {}", target.triple)
            });
        }
        Ok(())
    }

    fn prerequisites(&self, target: &Target, env: &Env<'_>) -> Vec<Prerequisite> {
        let mut needs = target.prerequisites(Some(env.nightly));
        needs.push(Prerequisite::RustComponent { toolchain: env.nightly.to_string(), component: "rust-src".into() });
        // Without llvm-symbolizer every frame of a report is `<null>`, and
        // the evidence cannot point at the racing lines.
        needs.push(Prerequisite::Program { program: "llvm-symbolizer".into(), user: false, apt: vec!["llvm".into()] });
        needs
    }

    fn build(&self, target: &Target, env: &Env<'_>) -> BuildSpec {
        let mut spec = BuildSpec::runner(KIND.name, target, env, &["-Zsanitizer=thread"], &["-Zbuild-std"]);
        spec.toolchain = Some(env.nightly.to_string());
        spec
    }

    fn invocations(
        &self,
        cell: &Cell,
        artifact: &Artifact,
        env: &Env<'_>,
        _: &Path,
        replay: Option<&Replay>,
    ) -> Vec<Invocation> {
        let vars = vec![("TSAN_OPTIONS".to_string(), tsan_options(self.suppressions.as_deref()))];
        real_thread_run(cell, artifact, env, &self.budget, replay, vars)
    }

    fn interpret(&self, done: &Finished<'_>) -> Outcome {
        let reports = report::parse(done.log_text);
        if reports.is_empty() {
            if done.exit == Exit::Code(EXIT_CODE) {
                return Outcome::Error(format!(
                    "ThreadSanitizer exited with {EXIT_CODE} but no report could be parsed; see {}",
                    done.log.display()
                ));
            }
            if done.log_text.contains("ThreadSanitizer: unexpected memory mapping")
                || done.log_text.contains("FATAL: ThreadSanitizer")
            {
                return Outcome::Error(format!("ThreadSanitizer failed to start; see {}", done.log.display()));
            }
            // No report: whatever the runner saw is its own mechanism's.
            return interpret_runner(done);
        }
        Outcome::Detected(evidence(done, &reports))
    }

    fn retry(&self, done: &Finished<'_>) -> Option<(Vec<String>, String)> {
        done.log_text.contains("unexpected memory mapping").then(|| {
            (
                vec!["setarch".into(), std::env::consts::ARCH.into(), "-R".into()],
                "ThreadSanitizer aborted with \"unexpected memory mapping\" (high vm.mmap_rnd_bits); reran with ASLR disabled (setarch -R)".into(),
            )
        })
    }

    fn suites(&self) -> Option<&dyn SuiteHunter> {
        Some(self)
    }
}

impl SuiteHunter for Tsan {
    fn hunts_suite(&self, _: &SuiteCell, target: &Target) -> Result<(), String> {
        self.supports(target)
    }

    /// The suite's tests under ThreadSanitizer: build-std, the sanitizer in
    /// RUSTFLAGS and RUSTDOCFLAGS (doctests too), the same TSAN_OPTIONS.
    fn suite_plan(&self, _: &SuiteCell, _: &Target, env: &Env<'_>) -> SuitePlan {
        SuitePlan {
            flavor: Flavor {
                dir: "suites-tsan".into(),
                toolchain: Some(env.nightly.to_string()),
                cargo_prefix: Vec::new(),
                cargo_args: vec!["-Zbuild-std".into()],
                rustflags: vec!["-Zsanitizer=thread".into()],
                // A panic's backtrace costs 12-28 s to symbolise in a
                // -Zbuild-std binary; the panic message and place suffice.
                env: vec![
                    ("TSAN_OPTIONS".into(), tsan_options(self.suppressions.as_deref())),
                    ("RUST_BACKTRACE".into(), "0".into()),
                ],
                explicit_target: true,
                no_runner: false,
            },
            run_args: self.budget.stress_args(),
            timeout: self.budget.suite_timeout(),
            test_timeout: self.budget.test_timeout,
            reruns: 5,
        }
    }

    /// Only a report ThreadSanitizer printed is its detection.
    fn suite_evidence(&self, done: &Finished<'_>, _: Option<&FailedTest>) -> Option<Evidence> {
        let reports = report::parse(done.log_text);
        (!reports.is_empty()).then(|| evidence(done, &reports))
    }
}

/// A frame outside the code under test: std and registry frames are
/// rejected by the parser; here also the facade and the runner, so the
/// first own frame is the line that made the access.
fn is_foreign(path: &str) -> bool {
    path.contains("/fixtures/facade/")
        || path.contains("/fixtures/runner/")
        || path.contains("/.cargo/")
        || path.contains("/rustlib/")
}

/// A frame's file relative to the project root or the engine's tree.
fn short(path: &str, done: &Finished<'_>) -> String {
    let p = Path::new(path);
    // A relative file of a suite is relative to where cargo ran rustc (its
    // workspace, or the package itself): shown from the root like Miri's.
    if let (true, Subject::Suite(suite)) = (p.is_relative(), &done.cell.subject) {
        return crate::nextest::relative_location(path, suite, done.env.root);
    }
    p.strip_prefix(done.env.root)
        .or_else(|_| p.strip_prefix(done.env.engine))
        .map(|r| r.display().to_string())
        .unwrap_or_else(|_| path.find("fixtures/").map_or(path.to_string(), |i| path[i..].to_string()))
}

fn place(report: &TsanReport, i: usize, done: &Finished<'_>) -> Option<String> {
    report.accesses.get(i)?.first_own_frame(&is_foreign).map(|f| {
        format!("{}:{}:{}", short(f.file.as_deref().unwrap_or("?"), done), f.line.unwrap_or(0), f.column.unwrap_or(0))
    })
}

/// One distinct report, in words.
pub fn describe(report: &TsanReport, done: &Finished<'_>) -> String {
    let sides: Vec<String> = report
        .accesses
        .iter()
        .take(2)
        .enumerate()
        .map(|(i, a)| {
            let at = place(report, i, done).unwrap_or_else(|| "(no frame in the code under test)".into());
            let size = a.size.map(|s| format!(" of {s} bytes")).unwrap_or_default();
            format!("{}{size} at {at} ({})", a.op, a.thread)
        })
        .collect();
    match sides.as_slice() {
        [a, b] => format!("{}: {a} races with {b}", report.kind),
        [a] => format!("{}: {a}", report.kind),
        _ => report.kind.clone(),
    }
}

fn evidence(done: &Finished<'_>, reports: &[TsanReport]) -> Evidence {
    // Deduplicate by signature, keeping first-seen order and counts.
    let mut distinct: Vec<(String, &TsanReport, u64)> = Vec::new();
    for r in reports {
        let sig = r.signature(&is_foreign);
        match distinct.iter_mut().find(|(s, _, _)| *s == sig) {
            Some(entry) => entry.2 += 1,
            None => distinct.push((sig, r, 1)),
        }
    }
    let (_, first, first_count) = &distinct[0];
    let mut message = describe(first, done);
    if *first_count > 1 {
        message.push_str(&format!(" (seen {first_count}x)"));
    }
    if distinct.len() > 1 {
        message.push_str(&format!(" (+{} more distinct report(s))", distinct.len() - 1));
    }
    let mut e = Evidence::new(EvidenceKind::TsanReport, message, done.replay());
    e.location = place(first, 0, done);
    e.seed = Some(done.env.seed);
    e.findings = distinct
        .iter()
        .map(|(_, r, n)| Finding {
            kind: r.kind.clone(),
            summary: describe(r, done),
            count: *n,
            location: place(r, 0, done),
            fingerprint: Some(fingerprint(r)),
        })
        .collect();
    e
}

/// A distinct report's fingerprint: the racing functions and their files.
pub fn fingerprint(report: &TsanReport) -> String {
    crate::fingerprint::of(KIND.name, EvidenceKind::TsanReport, &report.fingerprint_parts(&is_foreign))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const COUNTER: &str = include_str!("../../testdata/tsan/fixture_counter_racy_unsync.txt");
    const SESSION: &str = include_str!("../../testdata/tsan/fixture_session_racy_multiword.txt");

    fn with_finished<R>(exit: Exit, text: &str, f: impl FnOnce(&Finished<'_>) -> R) -> R {
        let cell = crate::plan::test_cell("session", "racy-multiword", "tsan");
        let invocation = Invocation {
            argv: vec!["/r/target/scenario-runner".into(), "run".into()],
            env: vec![("TSAN_OPTIONS".into(), "halt_on_error=0 exitcode=66".into())],
            label: String::new(),
            timeout: Duration::from_secs(9),
            unset: Vec::new(),
        };
        let root = Path::new("/r");
        let env = crate::detector::tests::env(root);
        f(&Finished {
            cell: &cell,
            exit,
            log: Path::new("output.log"),
            log_text: text,
            result: race_hunt_report::RunnerResult::find(text),
            invocation: &invocation,
            env: &env,
        })
    }

    fn tsan() -> Tsan {
        Tsan {
            budget: Loop {
                seconds: 1.0,
                iterations: None,
                timeout: 9.0,
                ops: None,
                test_timeout: 30.0,
                suite_seconds: 1.0,
            },
            suppressions: None,
        }
    }

    /// A relative frame of a suite that is its own workspace under
    /// `crates/samples` is shown from the repository root; an absolute one
    /// under the root loses the root.
    #[test]
    fn a_suite_frame_is_shown_from_the_repository_root() {
        with_finished(Exit::Code(EXIT_CODE), COUNTER, |done| {
            let mut cell = done.cell.clone();
            let dir = Path::new("/r/crates/samples");
            cell.subject = Subject::Suite(std::sync::Arc::new(SuiteCell::for_tests("samples", dir, dir)));
            let suite_done = Finished { cell: &cell, exit: done.exit.clone(), result: done.result.clone(), ..*done };
            assert_eq!(short("tests/get_mut.rs", &suite_done), "crates/samples/tests/get_mut.rs");
            assert_eq!(short("/r/crates/samples/src/lib.rs", &suite_done), "crates/samples/src/lib.rs");
        });
    }

    /// A pass of a real suite took ~9 s under TSan: 20 passes by count
    /// ran into the suite's clock on correct code (issue 15). The suite
    /// repeats for `suite-seconds` however many passes fit, and the
    /// fixtures' iteration cap stays theirs.
    #[test]
    fn a_suite_repeats_by_duration_even_where_fixtures_cap_iterations() {
        let mut t = tsan();
        t.budget.iterations = Some(20);
        t.budget.suite_seconds = 5.0;
        let root = Path::new("/r");
        let env = crate::detector::tests::env(root);
        let cell = crate::plan::test_cell("shop", "fixed", "tsan");
        let suite = SuiteCell::for_tests("shop", root, root);
        let plan = t.suite_plan(&suite, &cell.target, &env);
        assert_eq!(plan.run_args, ["--stress-duration", "5000ms"]);
        assert!(plan.timeout >= Duration::from_secs(5), "{:?}", plan.timeout);
    }

    #[test]
    fn a_real_fixture_report_points_at_the_racing_lines() {
        let reports = report::parse(COUNTER);
        assert_eq!(reports.len(), 1);
        with_finished(Exit::Code(EXIT_CODE), COUNTER, |done| {
            assert_eq!(
                describe(&reports[0], done),
                "data race: write of 8 bytes at fixtures/counter/src/lib.rs:35:40 (T1) races with write of 8 bytes at fixtures/counter/src/lib.rs:35:40 (T2)"
            );
        });
    }

    #[test]
    fn distinct_reports_are_findings_and_the_first_is_the_location() {
        with_finished(Exit::Code(EXIT_CODE), SESSION, |done| {
            let Outcome::Detected(e) = tsan().interpret(done) else { panic!("not detected") };
            assert_eq!(e.kind, EvidenceKind::TsanReport);
            assert!(e.location.as_deref().unwrap().starts_with("fixtures/session/src/lib.rs:"), "{:?}", e.location);
            assert_eq!(e.findings.len(), 2);
            assert!(e.message.contains("(+1 more distinct report(s))"), "{}", e.message);
            assert_eq!(e.replay, "TSAN_OPTIONS='halt_on_error=0 exitcode=66' target/scenario-runner run");
        });
    }

    #[test]
    fn exit_66_without_a_parsable_report_is_an_error_not_a_detection() {
        with_finished(Exit::Code(EXIT_CODE), "garbage\n", |done| {
            assert!(matches!(tsan().interpret(done), Outcome::Error(m) if m.contains("no report could be parsed")));
        });
    }

    #[test]
    fn an_oracle_failure_without_a_report_is_credited_to_the_oracle() {
        let mut r = race_hunt_report::RunnerResult::new(race_hunt_report::RunnerOutcome::Detected);
        r.kind = Some(race_hunt_report::RunnerKind::Oracle);
        r.message = Some("overdraft".into());
        with_finished(Exit::Code(0), &r.to_line(), |done| {
            let Outcome::Detected(e) = tsan().interpret(done) else { panic!() };
            assert_eq!(e.kind, EvidenceKind::OracleViolation);
        });
    }

    #[test]
    fn a_clean_run_is_clean() {
        let mut r = race_hunt_report::RunnerResult::new(race_hunt_report::RunnerOutcome::Clean);
        r.attempts = 20;
        with_finished(Exit::Code(0), &r.to_line(), |done| assert_eq!(tsan().interpret(done), Outcome::Clean));
    }

    #[test]
    fn unexpected_memory_mapping_is_retried_without_aslr() {
        let text = "FATAL: ThreadSanitizer: unexpected memory mapping 0x7f0000000000-0x7f0000001000\n";
        with_finished(Exit::Code(66), text, |done| {
            let (prefix, note) = tsan().retry(done).expect("a retry");
            assert_eq!((prefix[0].as_str(), prefix[2].as_str()), ("setarch", "-R"));
            assert!(note.contains("ASLR disabled"));
        });
        with_finished(Exit::Code(0), "fine\n", |done| assert!(tsan().retry(done).is_none()));
    }

    #[test]
    fn options_quote_the_suppressions_path() {
        let o = tsan_options(Some(Path::new("/r/my repo/ci/tsan-suppressions.txt")));
        assert_eq!(
            o,
            "halt_on_error=0 exitcode=66 history_size=7 second_deadlock_stack=1 suppressions=\"/r/my repo/ci/tsan-suppressions.txt\""
        );
        assert!(tsan_options(Some(Path::new("/a\"b/s"))).ends_with("suppressions='/a\"b/s'"));
    }

    #[test]
    fn not_planned_where_tsan_cannot_run() {
        let mut c = crate::plan::test_cell("session", "racy-multiword", "tsan");
        assert!(tsan().supports(&c.target).is_ok());
        c.target.triple = "armv7-unknown-linux-gnueabihf".into();
        assert_eq!(tsan().supports(&c.target).unwrap_err(), "ThreadSanitizer does not support 32-bit targets");
        c.target.triple = "aarch64-unknown-linux-gnu".into();
        c.target.native = false;
        assert!(tsan().supports(&c.target).unwrap_err().contains("qemu-user"));
    }

    /// The same race as another machine prints it on another run: the
    /// checkout elsewhere, the racing lines moved by an edit above them,
    /// other addresses, thread ids and pid.
    fn elsewhere(capture: &str) -> String {
        capture
            .replace("/work/main/", "/home/runner/work/race-hunt/race-hunt/")
            .replace("fixtures/counter/src/lib.rs:35:", "fixtures/counter/src/lib.rs:38:")
            .replace("fixtures/counter/src/lib.rs:86:", "fixtures/counter/src/lib.rs:90:")
            .replace("0x720800000050", "0x7b0c00011230")
            .replace("0x720800000040", "0x7b0c00011220")
            .replace("thread T1", "thread T7")
            .replace("thread T2", "thread T1")
            .replace("pid=15556", "pid=40213")
    }

    #[test]
    fn fingerprints_are_the_racing_functions_not_lines_addresses_or_threads() {
        let here = report::parse(COUNTER);
        let there = report::parse(&elsewhere(COUNTER));
        assert_eq!((here.len(), there.len()), (1, 1));
        assert_ne!(here[0].raw, there[0].raw);
        assert_ne!(here[0].signature(&is_foreign), there[0].signature(&is_foreign), "lines differ");
        assert_eq!(
            here[0].fingerprint_parts(&is_foreign),
            [
                "data race",
                "write incr::{closure#1} (fixtures/counter/src/lib.rs)",
                "write incr::{closure#1} (fixtures/counter/src/lib.rs)"
            ]
        );
        assert_eq!(fingerprint(&here[0]), fingerprint(&there[0]));
        assert_eq!(fingerprint(&here[0]).len(), 16);
        // Through the evidence, as a cell carries it.
        let fps = |text: &str| {
            with_finished(Exit::Code(EXIT_CODE), text, |done| {
                let Outcome::Detected(mut e) = tsan().interpret(done) else { panic!("not detected") };
                crate::fingerprint::assign(KIND.name, &mut e);
                e.fingerprints
            })
        };
        assert_eq!(fps(COUNTER), fps(&elsewhere(COUNTER)));
        assert_eq!(fps(COUNTER).len(), 1);
    }

    #[test]
    fn fingerprints_ignore_access_order_and_tell_races_apart() {
        let rw = include_str!("../../testdata/tsan/read_write_race.txt");
        let rw_other = include_str!("../../testdata/tsan/read_write_race_other_order.txt");
        let multi = include_str!("../../testdata/tsan/multiple_reports.txt");
        let fp = |t: &str| report::parse(t).iter().map(fingerprint).collect::<Vec<_>>();
        assert_eq!(fp(rw), fp(rw_other), "the same race seen the other way round");
        // Three iterations of one race (other threads each time), then another race.
        let m = fp(multi);
        assert_eq!(m.len(), 4);
        assert!(m[0] == m[1] && m[1] == m[2]);
        assert_ne!(m[0], m[3]);
        assert_ne!(fp(rw)[0], m[0]);
        // Two distinct reports of one cell: two fingerprints in the evidence.
        with_finished(Exit::Code(EXIT_CODE), SESSION, |done| {
            let Outcome::Detected(mut e) = tsan().interpret(done) else { panic!("not detected") };
            crate::fingerprint::assign(KIND.name, &mut e);
            assert_eq!(e.fingerprints.len(), 2);
            assert_ne!(e.fingerprints[0], e.fingerprints[1]);
            assert!(e.findings.iter().zip(&e.fingerprints).all(|(f, fp)| f.fingerprint.as_ref() == Some(fp)));
        });
    }
}
