//! The verdict matrix and the failure summary, for terminals and for
//! GitHub's step summary (Markdown).

use std::fmt::Write;

use crate::stats::duration;
use race_hunt_report::{CellReport, Evidence, EvidenceKind, Expect, Gate, Outcome, Report, Verdict};

/// The text of one matrix cell: verdict mark, outcome, time to detect and,
/// where the detector's tool printed reports, how many were distinct.
pub fn cell_text(c: &CellReport) -> String {
    let mark = match (c.verdict, c.expect) {
        (Verdict::Fail, _) => "FAIL",
        (Verdict::Skipped, _) => "--",
        (Verdict::NotRun, _) => "..",
        (Verdict::Ok, Expect::May) => "ok?",
        (Verdict::Ok, _) => "ok",
    };
    let what = match c.outcome {
        Outcome::Detected => {
            let word = match c.evidence.as_ref().map(|e| e.kind) {
                Some(EvidenceKind::CrashSignal) => "CRASH",
                _ => "DET",
            };
            match c.evidence.as_ref().map(|e| e.findings.len()).filter(|n| *n > 0) {
                Some(n) => format!("{word} {} ({n})", duration(c.elapsed_ms)),
                None => format!("{word} {}", duration(c.elapsed_ms)),
            }
        }
        Outcome::Clean if c.starved.is_some() => "clean (starved)".to_string(),
        Outcome::Clean => "clean".to_string(),
        Outcome::Hang => format!("HANG {}", duration(c.elapsed_ms)),
        Outcome::Skipped => "skip".to_string(),
        Outcome::Error => "ERROR".to_string(),
        Outcome::NotRun => "not run".to_string(),
    };
    format!("{mark} {what}")
}

/// The `at FILE:LINE:COL` (when known) and `replay:` lines of a detection,
/// each prefixed with `indent` and ended by a newline.
pub fn where_and_replay(e: &Evidence, indent: &str) -> String {
    let mut out = String::new();
    if let Some(test) = &e.test {
        let _ = writeln!(out, "{indent}test: {test}");
    }
    if let Some(loc) = &e.location {
        let _ = writeln!(out, "{indent}at {loc}");
    }
    if let Some(r) = &e.reproduced {
        let _ = writeln!(out, "{indent}reproduced {} of {} reruns", r.failed, r.runs);
    }
    let _ = writeln!(out, "{indent}replay: {}", e.replay);
    if let Some(x) = &e.replay_xtask {
        let _ = writeln!(out, "{indent}   or: {x}");
    }
    out
}

/// The end-of-run line on how busy the cores were kept.
pub fn usage_line(u: &race_hunt_report::Usage) -> String {
    format!(
        "cores: {:.2} of {} busy on average ({:.0}% utilization: {} CPU over {} wall), {} provisioning and building before the first cell",
        u.busy_core_ms as f64 / u.wall_ms.max(1) as f64,
        u.cores,
        100.0 * u.utilization(),
        duration(u.busy_core_ms),
        duration(u.wall_ms),
        duration(u.build_ms)
    )
}

struct Grid {
    columns: Vec<String>,
    rows: Vec<(String, Vec<String>)>,
}

fn grid(report: &Report) -> Grid {
    let mut columns: Vec<(String, String)> = Vec::new();
    for d in &report.detectors {
        for t in &report.targets {
            // A column exists where the run planned something, or said why not.
            let used = report.cells.iter().any(|c| c.detector == *d && c.target_name == t.name)
                || report.not_planned.iter().any(|n| n.detector == *d && n.target == t.name);
            if used {
                columns.push((d.clone(), t.name.clone()));
            }
        }
    }
    let mut rows: Vec<(String, Vec<String>)> = Vec::new();
    for c in &report.cells {
        let row = format!("{}/{}", c.fixture, c.variant);
        if !rows.iter().any(|(r, _)| *r == row) {
            rows.push((row, vec![String::new(); columns.len()]));
        }
    }
    for (name, texts) in rows.iter_mut() {
        for (i, (d, t)) in columns.iter().enumerate() {
            let subject = name.split('/').next().unwrap_or("");
            texts[i] = if report
                .not_planned
                .iter()
                .any(|n| n.detector == *d && n.target == *t && n.subject.as_deref().is_none_or(|s| s == subject))
            {
                "n/a".to_string()
            } else {
                report
                    .cells
                    .iter()
                    .find(|c| {
                        format!("{}/{}", c.fixture, c.variant) == *name && c.detector == *d && c.target_name == *t
                    })
                    .map(cell_text)
                    .unwrap_or_default()
            };
        }
    }
    Grid { columns: columns.into_iter().map(|(d, t)| format!("{d}@{t}")).collect(), rows }
}

/// The verdict matrix as aligned text.
pub fn render(report: &Report) -> String {
    let g = grid(report);
    let first = g.rows.iter().map(|(r, _)| r.len()).max().unwrap_or(0).max("fixture/variant".len());
    let widths: Vec<usize> = g
        .columns
        .iter()
        .enumerate()
        .map(|(i, h)| g.rows.iter().map(|(_, t)| t[i].len()).max().unwrap_or(0).max(h.len()))
        .collect();
    let mut out = String::new();
    let _ = write!(out, "{:<first$}", "fixture/variant");
    for (h, w) in g.columns.iter().zip(&widths) {
        let _ = write!(out, "  {h:<w$}");
    }
    out.push('\n');
    for (name, texts) in &g.rows {
        let mut line = format!("{name:<first$}");
        for (t, w) in texts.iter().zip(&widths) {
            let _ = write!(line, "  {t:<w$}");
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out.push_str(LEGEND);
    for p in &report.summary.proofs {
        match &p.reason {
            None => {
                let _ = writeln!(
                    out,
                    "proven {}@{}: its canaries were caught and its fixed canaries passed here",
                    p.detector, p.target
                );
            }
            Some(why) => {
                let _ = writeln!(out, "NOT PROVEN {}@{}: {why}", p.detector, p.target);
            }
        }
    }
    for np in &report.not_planned {
        match &np.subject {
            Some(s) => {
                let _ = writeln!(out, "n/a {s} {}@{}: {}", np.detector, np.target, np.reason);
            }
            None => {
                let _ = writeln!(out, "n/a {}@{}: {}", np.detector, np.target, np.reason);
            }
        }
    }
    out
}

const LEGEND: &str = "\
legend: ok = as expected, ok? = either outcome allowed (`may`), FAIL = against expectation, -- = skipped, .. = not run,
        DET = detected (time to detect; distinct reports), CRASH = the program crashed itself, HANG = killed at the timeout,
        clean = whole budget spent, ERROR = no answer (see the reason), n/a = not planned for this target
";

/// Failures with their evidence and replay commands, then skips and cells
/// that did not run.
pub fn failures(report: &Report) -> String {
    let mut out = String::new();
    for c in report.cells.iter().filter(|c| c.verdict == Verdict::Fail) {
        let _ = writeln!(out, "FAIL {}: {}", c.id(), c.reason.as_deref().unwrap_or(""));
        let _ = writeln!(
            out,
            "     expected {}, outcome {} after {} attempts in {}",
            c.expect,
            c.outcome,
            c.attempts,
            duration(c.elapsed_ms)
        );
        if let Some(s) = &c.starved {
            let _ = writeln!(out, "     {s}");
        }
        if let Some(e) = &c.evidence {
            let _ = writeln!(out, "     evidence ({}): {}", e.kind, e.message);
            out.push_str(&where_and_replay(e, "     "));
        }
        if let Some(log) = &c.log {
            let _ = writeln!(out, "     log: {log}");
        }
    }
    for c in report.cells.iter().filter(|c| c.verdict == Verdict::Skipped) {
        let _ = writeln!(out, "SKIP {}: {}", c.id(), c.reason.as_deref().unwrap_or(""));
    }
    let not_run = report.cells.iter().filter(|c| c.verdict == Verdict::NotRun).count();
    if not_run > 0 {
        let _ = writeln!(out, "NOT RUN: {not_run} cell(s) did not finish before the run was stopped");
    }
    out
}

/// One line per detection: what each detector found and how to replay it;
/// for tools that print reports, every further distinct one with its count.
pub fn detections(report: &Report) -> String {
    let mut out = String::new();
    for c in report.cells.iter().filter(|c| c.outcome == Outcome::Detected) {
        if let Some(e) = &c.evidence {
            let _ = writeln!(out, "{} ({}): {}", c.id(), e.kind, e.message);
            for f in e.findings.iter().skip(1) {
                let _ = writeln!(out, "    also: {} (seen {}x)", f.summary, f.count);
            }
            if !e.fingerprints.is_empty() {
                let _ = writeln!(out, "    fingerprint: {}", e.fingerprints.join(", "));
            }
            if let (Verdict::Ok, Some(note)) = (c.verdict, &c.reason) {
                // Baselined, or a racy detection under `may` that is not the bug's.
                let _ = writeln!(out, "    note: {note}");
            }
            out.push_str(&where_and_replay(e, "    "));
        }
    }
    out
}

pub fn gate_word(g: Gate) -> &'static str {
    match g {
        Gate::Pass => "pass",
        Gate::Fail => "fail",
        Gate::MissingPrerequisites => "missing prerequisites",
        Gate::Error => "error",
        Gate::Interrupted => "interrupted",
    }
}

/// The matrix as a Markdown table (GitHub step summary).
pub fn markdown(report: &Report) -> String {
    let g = grid(report);
    let s = &report.summary;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "### race-hunt: gate {} ({} ok, {} fail, {} skipped{})\n",
        gate_word(s.gate),
        s.ok,
        s.fail,
        s.skipped,
        if s.not_run > 0 { format!(", {} not run", s.not_run) } else { String::new() }
    );
    let _ = writeln!(out, "| fixture/variant | {} |", g.columns.join(" | "));
    let _ = writeln!(out, "|---|{}", "---|".repeat(g.columns.len()));
    for (name, texts) in &g.rows {
        let _ = writeln!(out, "| `{name}` | {} |", texts.join(" | "));
    }
    for c in report.cells.iter().filter(|c| c.verdict == Verdict::Fail) {
        let _ = writeln!(
            out,
            "\n**FAIL** `{}/{}` {}@{}: {}",
            c.fixture,
            c.variant,
            c.detector,
            c.target_name,
            c.reason.as_deref().unwrap_or("")
        );
        if let Some(e) = &c.evidence {
            let _ = writeln!(out, "\n```\n{}\n{}```", e.message, where_and_replay(e, ""));
        }
    }
    out
}

/// A small report for other modules' tests.
#[cfg(test)]
pub fn tests_report() -> Report {
    tests::report()
}

#[cfg(test)]
mod tests {
    use super::*;
    use race_hunt_report::{NotPlanned, TargetReport, SCHEMA};

    fn cell(
        variant: &str,
        detector: &str,
        target: &str,
        expect: Expect,
        outcome: Outcome,
        verdict: Verdict,
        ms: u64,
    ) -> CellReport {
        let mut c = crate::report::tests::cell(variant, variant.starts_with("racy"), outcome, verdict);
        c.fixture = "session".into();
        c.detector = detector.into();
        c.target = format!("{target}-triple");
        c.target_name = target.into();
        c.expect = expect;
        c.reason = (verdict == Verdict::Fail)
            .then(|| "expected to pass, but the detector flagged it (oracle-violation)".into());
        c.elapsed_ms = ms;
        c.attempts = 3;
        c.evidence = (outcome == Outcome::Detected).then(|| {
            Evidence::new(EvidenceKind::OracleViolation, "torn timestamp", "scenario-runner run session/x --seed 1")
        });
        c
    }

    pub fn report() -> Report {
        let cells = vec![
            cell("racy-u64", "stress", "x86_64", Expect::May, Outcome::Clean, Verdict::Ok, 1500),
            cell("racy-u64", "stress", "armv7", Expect::Detect, Outcome::Detected, Verdict::Ok, 426),
            cell("fixed-atomic", "stress", "x86_64", Expect::Pass, Outcome::Clean, Verdict::Ok, 1500),
            cell("fixed-atomic", "stress", "armv7", Expect::Pass, Outcome::Detected, Verdict::Fail, 2100),
        ];
        let summary = crate::report::summarize(&cells, false, None);
        Report {
            schema: SCHEMA.into(),
            race_hunt_version: "0".into(),
            manifest: "m".into(),
            manifest_digest: "d".into(),
            commit: None,
            budget: "standard".into(),
            seed: 1,
            shard: None,
            changed_since: None,
            require_all: false,
            started_unix: 0,
            elapsed_ms: 0,
            run_dir: "r".into(),
            detectors: vec!["stress".into(), "tsan".into()],
            targets: ["x86_64", "armv7"]
                .iter()
                .map(|t| TargetReport {
                    name: t.to_string(),
                    triple: format!("{t}-triple"),
                    native: *t == "x86_64",
                    runner: None,
                    runner_source: None,
                    probe: None,
                })
                .collect(),
            cells,
            baseline: None,
            usage: None,
            not_planned: vec![
                NotPlanned {
                    detector: "tsan".into(),
                    target: "x86_64".into(),
                    reason: "skipped for the test".into(),
                    subject: None,
                },
                NotPlanned {
                    detector: "tsan".into(),
                    target: "armv7".into(),
                    reason: "ThreadSanitizer does not support 32-bit targets".into(),
                    subject: None,
                },
            ],
            summary,
        }
    }

    #[test]
    fn the_matrix_snapshot() {
        let expected = format!(
            "\
fixture/variant       stress@x86_64  stress@armv7   tsan@x86_64  tsan@armv7
session/racy-u64      ok? clean      ok DET 426ms   n/a          n/a
session/fixed-atomic  ok clean       FAIL DET 2.1s  n/a          n/a
{LEGEND}n/a tsan@x86_64: skipped for the test
n/a tsan@armv7: ThreadSanitizer does not support 32-bit targets
"
        );
        assert_eq!(render(&report()), expected);
    }

    #[test]
    fn failures_show_evidence_and_replay() {
        assert_eq!(
            failures(&report()),
            "\
FAIL session/fixed-atomic stress@armv7: expected to pass, but the detector flagged it (oracle-violation)
     expected pass, outcome detected after 3 attempts in 2.1s
     evidence (oracle-violation): torn timestamp
     replay: scenario-runner run session/x --seed 1
"
        );
    }

    #[test]
    fn hangs_crashes_errors_and_stops_read_as_such() {
        let mut c = cell("racy-u64", "stress", "x86_64", Expect::Detect, Outcome::Hang, Verdict::Fail, 38_000);
        assert_eq!(cell_text(&c), "FAIL HANG 38.0s");
        c.outcome = Outcome::Error;
        assert_eq!(cell_text(&c), "FAIL ERROR");
        c.outcome = Outcome::NotRun;
        c.verdict = Verdict::NotRun;
        assert_eq!(cell_text(&c), ".. not run");
        let mut d = cell("racy-u64", "stress", "x86_64", Expect::Detect, Outcome::Detected, Verdict::Ok, 5);
        d.evidence.as_mut().unwrap().kind = EvidenceKind::CrashSignal;
        assert_eq!(cell_text(&d), "ok CRASH 5ms");
    }

    #[test]
    fn markdown_has_a_row_per_variant() {
        let md = markdown(&report());
        assert!(md.starts_with("### race-hunt: gate fail (3 ok, 1 fail, 0 skipped)"), "{md}");
        assert!(md.contains("| `session/racy-u64` | ok? clean | ok DET 426ms | n/a | n/a |"), "{md}");
        assert!(md.contains("**FAIL** `session/fixed-atomic` stress@armv7"), "{md}");
    }

    #[test]
    fn detections_show_fingerprints_and_why_an_ok_detection_is_ok() {
        let mut r = report();
        let mut c = r.cells[3].clone();
        c.variant = "fixed-rwlock".into();
        c.verdict = Verdict::Ok;
        c.reason = Some("baselined: a seqlock read, by design".into());
        c.evidence.as_mut().unwrap().fingerprints = vec!["0123456789abcdef".into()];
        r.cells.push(c);
        let d = detections(&r);
        assert!(d.contains("session/fixed-rwlock stress@armv7 (oracle-violation): torn timestamp\n    fingerprint: 0123456789abcdef\n    note: baselined: a seqlock read, by design\n"), "{d}");
        assert_eq!(d.matches("note:").count(), 1, "a failing detection's reason is in the failures, not here: {d}");
    }

    #[test]
    fn durations_read_well() {
        assert_eq!([duration(5), duration(1500), duration(61_000)], ["5ms", "1.5s", "1m01s"]);
    }
}
