//! The report as JUnit XML (`--junit PATH`), for CI systems that show test
//! results: one `<testsuite>` per detector@target, one `<testcase>` per
//! cell. A `fail` verdict is a `<failure>` with the reason and evidence; a
//! `skipped` verdict is `<skipped>` with the reason.

use std::fmt::Write;

use crate::grade::Verdict;
use crate::report::{CellReport, Report};

/// Escape text for an XML attribute or element.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Characters XML 1.0 cannot carry at all.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

fn details(c: &CellReport) -> String {
    let mut text = format!("expect {}, outcome {}, {} attempts, {} ms", c.expect, c.outcome, c.attempts, c.elapsed_ms);
    if let Some(reason) = &c.expect_reason {
        let _ = write!(text, "\nmay: {reason}");
    }
    if let Some(e) = &c.evidence {
        let _ = writeln!(text, "\nevidence ({}): {}", e.kind, e.message);
        text.push_str(crate::matrix::where_and_replay(e, "").trim_end());
    }
    if let Some(log) = &c.log {
        let _ = write!(text, "\nlog: {log}");
    }
    text
}

pub fn render(report: &Report) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"race-hunt\" tests=\"{}\" failures=\"{}\" skipped=\"{}\" time=\"{:.3}\">",
        report.summary.cells,
        report.summary.fail,
        report.summary.skipped,
        report.elapsed_ms as f64 / 1000.0
    );
    let mut suites: Vec<(String, Vec<&CellReport>)> = Vec::new();
    for c in &report.cells {
        let name = format!("{}@{}", c.detector, c.target_name);
        match suites.iter_mut().find(|(n, _)| *n == name) {
            Some((_, cells)) => cells.push(c),
            None => suites.push((name, vec![c])),
        }
    }
    for (name, cells) in &suites {
        let failures = cells.iter().filter(|c| c.verdict == Verdict::Fail).count();
        let skipped = cells.iter().filter(|c| c.verdict == Verdict::Skipped).count();
        let time: u64 = cells.iter().map(|c| c.elapsed_ms).sum();
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" skipped=\"{skipped}\" time=\"{:.3}\">",
            escape(name),
            cells.len(),
            time as f64 / 1000.0
        );
        for c in cells {
            let _ = write!(
                out,
                "    <testcase classname=\"race-hunt.{}\" name=\"{}/{}\" time=\"{:.3}\"",
                escape(name),
                escape(&c.fixture),
                escape(&c.variant),
                c.elapsed_ms as f64 / 1000.0
            );
            let body = escape(&details(c));
            match c.verdict {
                Verdict::Ok => {
                    let _ = writeln!(out, ">\n      <system-out>{body}</system-out>\n    </testcase>");
                }
                Verdict::Fail => {
                    let reason = escape(c.reason.as_deref().unwrap_or("failed"));
                    let _ = writeln!(out, ">\n      <failure message=\"{reason}\">{body}</failure>\n    </testcase>");
                }
                Verdict::Skipped => {
                    let reason = escape(c.reason.as_deref().unwrap_or("skipped"));
                    let _ = writeln!(out, ">\n      <skipped message=\"{reason}\"/>\n    </testcase>");
                }
            }
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_control_characters() {
        assert_eq!(escape("a<b & \"c\" 'd'>"), "a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;");
        assert_eq!(escape("x\u{1b}[31my\n"), "x\u{fffd}[31my\n");
    }
}
