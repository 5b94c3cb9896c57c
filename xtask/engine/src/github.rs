//! GitHub Actions: workflow-command annotations at the evidence's source
//! location for every failing cell, and the matrix in the step summary.
//! Both only when running under GitHub Actions (`GITHUB_ACTIONS=true`);
//! the annotations not with `RACE_HUNT_ANNOTATE=0`.

use std::io::Write;

use race_hunt_report::{Report, Verdict};

/// Escape the message of a workflow command (`%`, CR, LF).
pub fn escape_data(s: &str) -> String {
    s.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

/// Escape a property value of a workflow command (also `:` and `,`).
pub fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// One `::error ...::message` line per failing cell, at the evidence's
/// `file:line:column` when there is one.
pub fn annotations(report: &Report) -> Vec<String> {
    let mut out = Vec::new();
    for c in report.cells.iter().filter(|c| c.verdict == Verdict::Fail) {
        let title = escape_property(&format!("race-hunt: {}", c.id()));
        let mut message = c.reason.clone().unwrap_or_default();
        let mut place = String::new();
        if let Some(e) = &c.evidence {
            message.push_str(&format!("\n{} ({})\nreplay: {}", e.message, e.kind, e.replay));
            if let Some(loc) = &e.location {
                let mut parts = loc.rsplitn(3, ':');
                let (col, line, file) = (parts.next(), parts.next(), parts.next());
                if let (Some(file), Some(line), Some(col)) = (file, line, col) {
                    place = format!(
                        "file={},line={},col={},",
                        escape_property(file),
                        escape_property(line),
                        escape_property(col)
                    );
                }
            }
        }
        out.push(format!("::error {place}title={title}::{}", escape_data(&message)));
    }
    out
}

/// Whether to print annotations: under GitHub Actions, unless
/// `RACE_HUNT_ANNOTATE=0` (CI's hunt jobs set it, so that a failing cell is
/// annotated once, by the gate that merges their reports).
pub fn annotating(github_actions: Option<&str>, annotate: Option<&str>) -> bool {
    github_actions == Some("true") && annotate != Some("0")
}

pub fn annotate(report: &Report) {
    let var = |k: &str| std::env::var(k).ok();
    if !annotating(var("GITHUB_ACTIONS").as_deref(), var("RACE_HUNT_ANNOTATE").as_deref()) {
        return;
    }
    for line in annotations(report) {
        println!("{line}");
    }
}

/// Append the Markdown matrix to `$GITHUB_STEP_SUMMARY`.
pub fn step_summary(report: &Report) {
    if let Ok(path) = std::env::var("GITHUB_STEP_SUMMARY") {
        if let Ok(mut f) = std::fs::OpenOptions::new().append(true).create(true).open(path) {
            let _ = f.write_all(crate::matrix::markdown(report).as_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use race_hunt_report::{Evidence, EvidenceKind};

    #[test]
    fn annotations_only_under_github_actions_and_not_when_turned_off() {
        assert!(annotating(Some("true"), None));
        assert!(annotating(Some("true"), Some("1")));
        assert!(!annotating(Some("true"), Some("0")));
        assert!(!annotating(None, None));
        assert!(!annotating(Some("false"), None));
    }

    #[test]
    fn escaping_follows_the_workflow_command_rules() {
        assert_eq!(escape_data("50% done\nnext\r"), "50%25 done%0Anext%0D");
        assert_eq!(escape_property("a:b,c%"), "a%3Ab%2Cc%25");
    }

    #[test]
    fn a_failing_cell_is_annotated_at_its_evidence() {
        let mut report = crate::matrix::tests_report();
        let failing = report.cells.iter_mut().find(|c| c.verdict == Verdict::Fail).unwrap();
        let mut e = Evidence::new(EvidenceKind::TsanReport, "data race: write at x", "TSAN_OPTIONS='a' runner");
        e.location = Some("fixtures/session/src/lib.rs:59:23".into());
        failing.evidence = Some(e);
        let lines = annotations(&report);
        assert_eq!(lines.len(), 1);
        assert!(
            lines[0].starts_with("::error file=fixtures/session/src/lib.rs,line=59,col=23,title=race-hunt%3A session/fixed-atomic stress@armv7::expected to pass"),
            "{}",
            lines[0]
        );
        assert!(lines[0].contains("%0Adata race: write at x (tsan-report)%0Areplay: "), "{}", lines[0]);
    }
}
