//! The verdict matrix and the failure summary, for terminals and for
//! GitHub's step summary (Markdown).

use std::fmt::Write;

use crate::grade::Verdict;
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
        "detected" => format!("DET {}", duration(c.elapsed_ms)),
        "clean" => "clean".to_string(),
        "skipped" => "skip".to_string(),
        other => other.to_string(),
    };
    format!("{mark} {what}")
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
            texts[i] = if let Some(np) = report.not_planned.iter().find(|n| n.detector == *d && n.target == *t) {
                let _ = np;
                "n/a".to_string()
            } else {
                report
                    .cells
                    .iter()
                    .find(|c| format!("{}/{}", c.fixture, c.variant) == *name && c.detector == *d && c.target_name == *t)
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
        let _ = write!(out, "{name:<first$}");
        for (t, w) in texts.iter().zip(&widths) {
            let _ = write!(out, "  {t:<w$}");
        }
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
        let _ = writeln!(out, "FAIL {}/{} {}@{}: {}", c.fixture, c.variant, c.detector, c.target_name, c.reason.as_deref().unwrap_or(""));
        let _ = writeln!(out, "     expected {}, outcome {} after {} attempts in {}", c.expect, c.outcome, c.attempts, duration(c.elapsed_ms));
        if let Some(e) = &c.evidence {
            let _ = writeln!(out, "     evidence ({}): {}", e.kind, e.message);
            if let Some(loc) = &e.location {
                let _ = writeln!(out, "     at {loc}");
            }
            let _ = writeln!(out, "     replay: {}", e.replay);
        }
        if let Some(log) = &c.log {
            let _ = writeln!(out, "     log: {log}");
        }
    }
    for c in report.cells.iter().filter(|c| c.verdict == Verdict::Skipped) {
        let _ = writeln!(out, "SKIP {}/{} {}@{}: {}", c.fixture, c.variant, c.detector, c.target_name, c.reason.as_deref().unwrap_or(""));
    }
    out
}

/// One line per detection: what each detector found and how to replay it.
pub fn detections(report: &Report) -> String {
    let mut out = String::new();
    for c in report.cells.iter().filter(|c| c.outcome == "detected") {
        if let Some(e) = &c.evidence {
            let _ = writeln!(out, "{}/{} {}@{} ({}): {}", c.fixture, c.variant, c.detector, c.target_name, e.kind, e.message);
            if let Some(loc) = &e.location {
                let _ = writeln!(out, "    at {loc}");
            }
            let _ = writeln!(out, "    replay: {}", e.replay);
        }
    }
    out
}

/// The matrix as a Markdown table (GitHub step summary).
pub fn markdown(report: &Report) -> String {
    let g = grid(report);
    let mut out = String::new();
    let _ = writeln!(out, "### race-hunt: gate {} ({} ok, {} fail, {} skipped)\n", report.summary.gate, report.summary.ok, report.summary.fail, report.summary.skipped);
    let _ = writeln!(out, "| fixture/variant | {} |", g.columns.join(" | "));
    let _ = writeln!(out, "|---|{}", "---|".repeat(g.columns.len()));
    for (name, texts) in &g.rows {
        let _ = writeln!(out, "| `{name}` | {} |", texts.join(" | "));
    }
    for c in report.cells.iter().filter(|c| c.verdict == Verdict::Fail) {
        let _ = writeln!(out, "\n**FAIL** `{}/{}` {}@{}: {}", c.fixture, c.variant, c.detector, c.target_name, c.reason.as_deref().unwrap_or(""));
        if let Some(e) = &c.evidence {
            let _ = writeln!(out, "\n```\n{}\nreplay: {}\n```", e.message, e.replay);
        }
    }
    out
}
