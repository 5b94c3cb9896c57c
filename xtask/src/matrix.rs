//! The verdict matrix and the failure summary, for terminals and for
//! GitHub's step summary (Markdown).

use std::fmt::Write;

use crate::grade::Verdict;
use crate::outcome::Evidence;
use crate::report::{CellReport, Report};

/// The text of one matrix cell: verdict mark, outcome, time to detect.
pub fn cell_text(c: &CellReport) -> String {
    let mark = match (c.verdict, c.expect.as_str()) {
        (Verdict::Fail, _) => "FAIL",
        (Verdict::Skipped, _) => "--",
        (Verdict::Ok, "may") => "ok?",
        (Verdict::Ok, _) => "ok",
    };
    let what = match c.outcome.as_str() {
        "detected" => match distinct_reports(c) {
            // ThreadSanitizer: how many distinct reports, after dedup.
            Some(n) => format!("DET {} ({n})", duration(c.elapsed_ms)),
            None => format!("DET {}", duration(c.elapsed_ms)),
        },
        "clean" => "clean".to_string(),
        "skipped" => "skip".to_string(),
        other => other.to_string(),
    };
    format!("{mark} {what}")
}

/// The `at FILE:LINE:COL` (when known) and `replay: COMMAND` lines of a
/// detection, each prefixed with `indent` and ended by a newline.
pub fn where_and_replay(e: &Evidence, indent: &str) -> String {
    let mut out = String::new();
    if let Some(loc) = &e.location {
        let _ = writeln!(out, "{indent}at {loc}");
    }
    let _ = writeln!(out, "{indent}replay: {}", e.replay);
    out
}

/// The distinct-report count of a TSan detection.
fn distinct_reports(c: &CellReport) -> Option<u64> {
    c.evidence.as_ref().and_then(|e| e.details.get("reports_distinct")).and_then(|n| n.as_u64())
}

pub fn duration(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        format!("{:.1}s", ms as f64 / 1000.0)
    } else {
        format!("{}m{:02}s", ms / 60_000, (ms % 60_000) / 1000)
    }
}

struct Grid {
    columns: Vec<String>,
    rows: Vec<(String, Vec<String>)>,
}

fn grid(report: &Report) -> Grid {
    let mut columns: Vec<(String, String)> = Vec::new();
    for d in &report.detectors {
        for t in &report.targets {
            columns.push((d.clone(), t.name.clone()));
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
            texts[i] = if report.not_planned.iter().any(|n| n.detector == *d && n.target == *t) {
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
    out.push_str("legend: ok = as expected, ok? = either outcome allowed (`may`), FAIL = against expectation, -- = skipped,\n        DET = detected (time to detect), clean = whole budget spent, n/a = not planned for this target\n");
    for np in &report.not_planned {
        let _ = writeln!(out, "n/a {}@{}: {}", np.detector, np.target, np.reason);
    }
    out
}

/// Failures with their evidence and replay commands, then skips.
pub fn failures(report: &Report) -> String {
    let mut out = String::new();
    for c in report.cells.iter().filter(|c| c.verdict == Verdict::Fail) {
        let _ = writeln!(
            out,
            "FAIL {}/{} {}@{}: {}",
            c.fixture,
            c.variant,
            c.detector,
            c.target_name,
            c.reason.as_deref().unwrap_or("")
        );
        let _ = writeln!(
            out,
            "     expected {}, outcome {} after {} attempts in {}",
            c.expect,
            c.outcome,
            c.attempts,
            duration(c.elapsed_ms)
        );
        if let Some(e) = &c.evidence {
            let _ = writeln!(out, "     evidence ({}): {}", e.kind, e.message);
            out.push_str(&where_and_replay(e, "     "));
        }
        if let Some(log) = &c.log {
            let _ = writeln!(out, "     log: {log}");
        }
    }
    for c in report.cells.iter().filter(|c| c.verdict == Verdict::Skipped) {
        let _ = writeln!(
            out,
            "SKIP {}/{} {}@{}: {}",
            c.fixture,
            c.variant,
            c.detector,
            c.target_name,
            c.reason.as_deref().unwrap_or("")
        );
    }
    out
}

/// One line per detection: what each detector found and how to replay it;
/// for ThreadSanitizer, every distinct race with its count.
pub fn detections(report: &Report) -> String {
    let mut out = String::new();
    for c in report.cells.iter().filter(|c| c.outcome == "detected") {
        if let Some(e) = &c.evidence {
            let _ = writeln!(
                out,
                "{}/{} {}@{} ({}): {}",
                c.fixture, c.variant, c.detector, c.target_name, e.kind, e.message
            );
            // ThreadSanitizer: every further distinct race, with its count.
            for r in e.details.get("reports").and_then(|r| r.as_array()).into_iter().flatten().skip(1) {
                let seen = r["count"].as_u64().unwrap_or(1);
                let _ = writeln!(out, "    also: {} (seen {seen}x)", r["summary"].as_str().unwrap_or("?"));
            }
            out.push_str(&where_and_replay(e, "    "));
        }
    }
    out
}

/// The matrix as a Markdown table (GitHub step summary).
pub fn markdown(report: &Report) -> String {
    let g = grid(report);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "### race-hunt: gate {} ({} ok, {} fail, {} skipped)\n",
        report.summary.gate, report.summary.ok, report.summary.fail, report.summary.skipped
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
            let _ = writeln!(out, "\n```\n{}\nreplay: {}\n```", e.message, e.replay);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::NotPlanned;
    use crate::report::{summarize, CellReport, TargetReport};

    fn cell(
        variant: &str,
        detector: &str,
        target: &str,
        expect: &str,
        outcome: &str,
        verdict: Verdict,
        ms: u64,
    ) -> CellReport {
        CellReport {
            fixture: "session".into(),
            variant: variant.into(),
            racy: variant.starts_with("racy"),
            class: None,
            detector: detector.into(),
            target: format!("{target}-triple"),
            target_name: target.into(),
            expect: expect.into(),
            expect_reason: None,
            outcome: outcome.into(),
            verdict,
            reason: (verdict == Verdict::Fail)
                .then(|| "expected to pass, but the detector flagged it (oracle-violation)".into()),
            elapsed_ms: ms,
            attempts: 3,
            evidence: (outcome == "detected").then(|| Evidence {
                kind: "oracle-violation".into(),
                message: "torn timestamp".into(),
                location: None,
                replay: "scenario-runner run session/x --seed 1".into(),
                details: serde_json::Value::Null,
            }),
            log: None,
        }
    }

    fn report() -> Report {
        let cells = vec![
            cell("racy-u64", "stress", "x86_64", "may", "clean", Verdict::Ok, 1500),
            cell("racy-u64", "stress", "armv7", "detect", "detected", Verdict::Ok, 426),
            cell("fixed-atomic", "stress", "x86_64", "pass", "clean", Verdict::Ok, 1500),
            cell("fixed-atomic", "stress", "armv7", "pass", "detected", Verdict::Fail, 2100),
        ];
        let summary = summarize(&cells, false);
        Report {
            schema: crate::report::SCHEMA,
            race_hunt_version: "0",
            manifest: "m".into(),
            budget: "standard".into(),
            seed: 1,
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
            not_planned: vec![
                NotPlanned { detector: "tsan".into(), target: "x86_64".into(), reason: "skipped for the test".into() },
                NotPlanned {
                    detector: "tsan".into(),
                    target: "armv7".into(),
                    reason: "ThreadSanitizer does not support 32-bit targets".into(),
                },
            ],
            summary,
        }
    }

    #[test]
    fn the_matrix_snapshot() {
        let expected = "\
fixture/variant       stress@x86_64  stress@armv7   tsan@x86_64  tsan@armv7
session/racy-u64      ok? clean      ok DET 426ms   n/a          n/a
session/fixed-atomic  ok clean       FAIL DET 2.1s  n/a          n/a
legend: ok = as expected, ok? = either outcome allowed (`may`), FAIL = against expectation, -- = skipped,
        DET = detected (time to detect), clean = whole budget spent, n/a = not planned for this target
n/a tsan@x86_64: skipped for the test
n/a tsan@armv7: ThreadSanitizer does not support 32-bit targets
";
        assert_eq!(render(&report()), expected);
    }

    #[test]
    fn failures_show_evidence_and_replay() {
        let text = failures(&report());
        assert_eq!(
            text,
            "\
FAIL session/fixed-atomic stress@armv7: expected to pass, but the detector flagged it (oracle-violation)
     expected pass, outcome detected after 3 attempts in 2.1s
     evidence (oracle-violation): torn timestamp
     replay: scenario-runner run session/x --seed 1
"
        );
    }

    #[test]
    fn markdown_has_a_row_per_variant() {
        let md = markdown(&report());
        assert!(md.starts_with("### race-hunt: gate fail (3 ok, 1 fail, 0 skipped)"), "{md}");
        assert!(md.contains("| `session/racy-u64` | ok? clean | ok DET 426ms | n/a | n/a |"), "{md}");
        assert!(md.contains("**FAIL** `session/fixed-atomic` stress@armv7"), "{md}");
    }

    #[test]
    fn durations_read_well() {
        assert_eq!([duration(5), duration(1500), duration(61_000)], ["5ms", "1.5s", "1m01s"]);
    }
}
