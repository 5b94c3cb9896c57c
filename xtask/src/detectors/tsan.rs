//! `tsan`: ThreadSanitizer, Rust's `go test -race`.
//!
//! Build: nightly, `-Zsanitizer=thread`, `-Zbuild-std` (needs `rust-src`)
//! for `x86_64-unknown-linux-gnu`. Why not the `x86_64-unknown-linux-gnutsan`
//! target, whose prebuilt std is already instrumented? It exists only on
//! recent nightlies, and CI pins a nightly; `-Zbuild-std` works on every
//! nightly with `rust-src` and costs ~30 s once per target directory.
//! Without an instrumented std, rustc refuses to mix sanitized and
//! unsanitized crates, and forcing it yields false reports in std's `Mutex`
//! and channels. The build has its own target directory.
//!
//! Run: `TSAN_OPTIONS` chosen on purpose (see [`tsan_options`]). If the
//! runtime aborts with "unexpected memory mapping" (kernels with a high
//! `vm.mmap_rnd_bits`), the binary is run again under `setarch -R` (ASLR
//! off) and the evidence says so.
//!
//! Evidence: every report in the output is parsed
//! (`crate::tsan_report`), deduplicated by the signature of its frames in
//! the fixture's own code, and summarised as "write at src/..:12 races
//! with read at src/..:15".

use std::path::Path;

use crate::budget::Budget;
use crate::builds::BuildSpec;
use crate::detector::{interpret_runner, run_args, Context, Detector, Finished, Invocation};
use crate::outcome::{Evidence, Outcome};
use crate::plan::Cell;
use crate::process::Exit;
use crate::provision::Prerequisite;
use crate::target::Target;
use crate::tsan_report::{self, TsanReport};

pub struct Tsan;

/// The exit code TSan makes the process return when it reported anything.
pub const EXIT_CODE: i32 = 66;

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
/// - `suppressions=`: the reviewed suppressions file, when the manifest
///   names one.
pub fn tsan_options(suppressions: Option<&Path>) -> String {
    let mut options = format!("halt_on_error=0 exitcode={EXIT_CODE} history_size=7 second_deadlock_stack=1");
    if let Some(s) = suppressions {
        options.push_str(&format!(" suppressions={}", s.display()));
    }
    options
}

impl Detector for Tsan {
    fn name(&self) -> &'static str {
        "tsan"
    }

    fn supports(&self, target: &Target) -> Result<(), String> {
        if target.triple != "x86_64-unknown-linux-gnu" {
            return Err(if target.triple.starts_with("armv7") || target.triple.starts_with("i686") {
                "ThreadSanitizer does not support 32-bit targets".into()
            } else {
                "ThreadSanitizer's shadow memory layout does not work under qemu-user: TSan runs natively on x86_64 only here".into()
            });
        }
        Ok(())
    }

    fn prerequisites(&self, target: &Target, ctx: &Context<'_>) -> Vec<Prerequisite> {
        let mut needs = target.prerequisites(Some(ctx.nightly));
        needs.push(Prerequisite::RustComponent { toolchain: ctx.nightly.to_string(), component: "rust-src".into() });
        // Without llvm-symbolizer every frame of a report is `<null>`, and
        // the evidence cannot point at the racing lines.
        needs.push(Prerequisite::Program { program: "llvm-symbolizer".into(), user: false, apt: vec!["llvm".into()] });
        needs
    }

    fn build(&self, _: &Target, ctx: &Context<'_>) -> BuildSpec {
        BuildSpec {
            dir: "tsan".into(),
            toolchain: Some(ctx.nightly.to_string()),
            rustflags: vec!["-Zsanitizer=thread".into()],
            cargo_args: vec!["-Zbuild-std".into()],
        }
    }

    fn invocations(&self, cell: &Cell, budget: &Budget, ctx: &Context<'_>, _: &Path) -> Vec<Invocation> {
        vec![Invocation {
            args: run_args(cell, budget, ctx.seed),
            env: vec![("TSAN_OPTIONS".into(), tsan_options(ctx.tsan_suppressions))],
            label: String::new(),
        }]
    }

    fn interpret(&self, done: &Finished<'_>) -> Outcome {
        let reports = tsan_report::parse(done.log_text);
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
}

/// A frame outside the fixture's own code: std and registry frames are
/// rejected by the parser; here also the facade and the runner, so the
/// first own frame is the fixture line that made the access.
fn is_foreign(path: &str) -> bool {
    !path.contains("/fixtures/") || path.contains("/fixtures/facade/") || path.contains("/fixtures/runner/")
}

/// `fixtures/counter/src/lib.rs:37:9` from an absolute frame path.
fn short(path: &str) -> &str {
    path.find("fixtures/").map_or(path, |i| &path[i..])
}

/// One distinct report, in words.
pub fn describe(report: &TsanReport) -> String {
    let sides: Vec<String> = report
        .accesses
        .iter()
        .take(2)
        .map(|a| {
            let place = a
                .first_own_frame(&is_foreign)
                .map(|f| {
                    format!(
                        "{}:{}:{}",
                        short(f.file.as_deref().unwrap_or("?")),
                        f.line.unwrap_or(0),
                        f.column.unwrap_or(0)
                    )
                })
                .unwrap_or_else(|| "(no frame in the fixture's code)".into());
            let size = a.size.map(|s| format!(" of {s} bytes")).unwrap_or_default();
            format!("{}{size} at {place} ({})", a.op, a.thread)
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
    let mut distinct: Vec<(String, &TsanReport, usize)> = Vec::new();
    for r in reports {
        let sig = r.signature(&is_foreign);
        match distinct.iter_mut().find(|(s, _, _)| *s == sig) {
            Some(entry) => entry.2 += 1,
            None => distinct.push((sig, r, 1)),
        }
    }
    let (_, first, _) = &distinct[0];
    let location = first.accesses.first().and_then(|a| a.first_own_frame(&is_foreign)).map(|f| {
        format!("{}:{}:{}", short(f.file.as_deref().unwrap_or("?")), f.line.unwrap_or(0), f.column.unwrap_or(0))
    });
    let mut message = describe(first);
    if distinct[0].2 > 1 {
        message.push_str(&format!(" (seen {}x)", distinct[0].2));
    }
    if distinct.len() > 1 {
        message.push_str(&format!(" (+{} more distinct report(s))", distinct.len() - 1));
    }
    let details = serde_json::json!({
        "reports_total": reports.len(),
        "reports_distinct": distinct.len(),
        "reports": distinct.iter().map(|(sig, r, n)| serde_json::json!({
            "kind": r.kind,
            "summary": describe(r),
            "count": n,
            "location": r.location,
            "truncated": r.truncated,
            "signature": sig,
        })).collect::<Vec<_>>(),
        "log": done.log,
    });
    Evidence { kind: "tsan-report".into(), message, location, replay: crate::shell::join(&done.command), details }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COUNTER: &str = include_str!("../../testdata/tsan/fixture_counter_racy_unsync.txt");
    const SESSION: &str = include_str!("../../testdata/tsan/fixture_session_racy_multiword.txt");

    fn cell() -> Cell {
        crate::plan::test_cell("session", "racy-multiword", "tsan")
    }

    fn finished<'a>(cell: &'a Cell, exit: Exit, text: &'a str) -> Finished<'a> {
        Finished {
            cell,
            exit,
            log: Path::new("output.log"),
            log_text: text,
            result: crate::runner_result::RunnerResult::find(text),
            command: vec!["TSAN_OPTIONS=x".into(), "scenario-runner".into(), "run".into()],
        }
    }

    #[test]
    fn a_real_fixture_report_points_at_the_racing_lines() {
        let reports = tsan_report::parse(COUNTER);
        assert_eq!(reports.len(), 1);
        assert_eq!(
            describe(&reports[0]),
            "data race: write of 8 bytes at fixtures/counter/src/lib.rs:35:40 (T1) races with write of 8 bytes at fixtures/counter/src/lib.rs:35:40 (T2)"
        );
    }

    #[test]
    fn distinct_reports_are_counted_and_the_first_is_the_location() {
        let c = cell();
        let done = finished(&c, Exit::Code(EXIT_CODE), SESSION);
        let Outcome::Detected(e) = Tsan.interpret(&done) else { panic!("not detected") };
        assert_eq!(e.kind, "tsan-report");
        assert!(e.location.as_deref().unwrap().starts_with("fixtures/session/src/lib.rs:"), "{:?}", e.location);
        assert_eq!(e.details["reports_total"], 2);
        assert_eq!(e.details["reports_distinct"], 2);
        assert!(e.message.contains("(+1 more distinct report(s))"), "{}", e.message);
        assert_eq!(e.replay, "TSAN_OPTIONS=x scenario-runner run");
    }

    #[test]
    fn exit_66_without_a_parsable_report_is_an_error_not_a_detection() {
        let c = cell();
        let done = finished(&c, Exit::Code(EXIT_CODE), "garbage\n");
        assert!(matches!(Tsan.interpret(&done), Outcome::Error(m) if m.contains("no report could be parsed")));
    }

    #[test]
    fn a_clean_run_is_clean() {
        let c = cell();
        let text = "RACE-HUNT-RESULT {\"outcome\":\"clean\",\"kind\":null,\"message\":null,\"attempts\":20,\"elapsed_ms\":9}\n";
        assert_eq!(Tsan.interpret(&finished(&c, Exit::Code(0), text)), Outcome::Clean);
    }

    #[test]
    fn unexpected_memory_mapping_is_retried_without_aslr() {
        let c = cell();
        let text = "FATAL: ThreadSanitizer: unexpected memory mapping 0x7f0000000000-0x7f0000001000\n";
        let (prefix, note) = Tsan.retry(&finished(&c, Exit::Code(66), text)).expect("a retry");
        assert_eq!(prefix[0], "setarch");
        assert_eq!(prefix[2], "-R");
        assert!(note.contains("ASLR disabled"));
        assert!(Tsan.retry(&finished(&c, Exit::Code(0), "fine\n")).is_none());
    }

    #[test]
    fn options_are_chosen_on_purpose() {
        let o = tsan_options(Some(Path::new("/r/ci/tsan-suppressions.txt")));
        assert_eq!(o, "halt_on_error=0 exitcode=66 history_size=7 second_deadlock_stack=1 suppressions=/r/ci/tsan-suppressions.txt");
    }

    #[test]
    fn not_planned_where_tsan_cannot_run() {
        let mut c = cell();
        assert!(Tsan.supports(&c.target).is_ok());
        c.target.triple = "armv7-unknown-linux-gnueabihf".into();
        assert_eq!(Tsan.supports(&c.target).unwrap_err(), "ThreadSanitizer does not support 32-bit targets");
        c.target.triple = "aarch64-unknown-linux-gnu".into();
        assert!(Tsan.supports(&c.target).unwrap_err().contains("qemu-user"));
    }
}
