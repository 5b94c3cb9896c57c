//! The report as JUnit XML (`--junit PATH`), through quick-junit (the crate
//! nextest writes its own JUnit with): one `<testsuite>` per
//! detector@target, one `<testcase>` per cell. A wrong verdict is a
//! `<failure>`; a harness error (a build failure, a kill from outside) is an
//! `<error>`; a skipped or unfinished cell is `<skipped>`. The seed, the
//! evidence location and the replay commands are properties.

use std::time::Duration;

use quick_junit::{NonSuccessKind, Property, Report as Junit, TestCase, TestCaseStatus, TestSuite};
use race_hunt_report::{CellReport, Outcome, Report, Verdict};

fn description(c: &CellReport) -> String {
    let mut text = format!("expect {}, outcome {}, {} attempts, {} ms", c.expect, c.outcome, c.attempts, c.elapsed_ms);
    if let Some(reason) = &c.expect_reason {
        text.push_str(&format!("\nmay: {reason}"));
    }
    if let Some(s) = &c.starved {
        text.push_str(&format!("\n{s}"));
    }
    if let Some(e) = &c.evidence {
        text.push_str(&format!("\nevidence ({}): {}\n", e.kind, e.message));
        text.push_str(crate::matrix::where_and_replay(e, "").trim_end());
    }
    if let Some(log) = &c.log {
        text.push_str(&format!("\nlog: {log}"));
    }
    text
}

pub fn render(report: &Report) -> String {
    let mut junit = Junit::new("race-hunt");
    let mut suites: Vec<TestSuite> = Vec::new();
    for c in &report.cells {
        let name = format!("{}@{}", c.detector, c.target_name);
        if !suites.iter().any(|s| s.name.as_str() == name) {
            let mut s = TestSuite::new(name.clone());
            s.add_property(Property::new("seed", report.seed.to_string()));
            s.add_property(Property::new("budget", report.budget.clone()));
            suites.push(s);
        }
        let status = match c.verdict {
            Verdict::Ok => TestCaseStatus::success(),
            Verdict::Fail => {
                let kind = if c.outcome == Outcome::Error { NonSuccessKind::Error } else { NonSuccessKind::Failure };
                let mut s = TestCaseStatus::non_success(kind);
                s.set_message(c.reason.clone().unwrap_or_else(|| "failed".into()));
                s.set_type(c.outcome.word());
                s.set_description(description(c));
                s
            }
            Verdict::Skipped | Verdict::NotRun => {
                let mut s = TestCaseStatus::skipped();
                s.set_message(c.reason.clone().unwrap_or_else(|| c.verdict.word().into()));
                s
            }
        };
        let mut case = TestCase::new(format!("{}/{}", c.fixture, c.variant), status);
        case.set_classname(format!("race-hunt.{}@{}", c.detector, c.target_name));
        case.set_time(Duration::from_millis(c.elapsed_ms));
        if c.verdict == Verdict::Ok {
            case.set_system_out(description(c));
        }
        if let Some(e) = &c.evidence {
            if let Some(seed) = e.seed {
                case.add_property(Property::new("seed", seed.to_string()));
            }
            if let Some(loc) = &e.location {
                case.add_property(Property::new("location", loc.clone()));
            }
            case.add_property(Property::new("replay", e.replay.clone()));
            if let Some(x) = &e.replay_xtask {
                case.add_property(Property::new("replay-xtask", x.clone()));
            }
        }
        let suite = suites
            .iter_mut()
            .find(|s| s.name.as_str() == format!("{}@{}", c.detector, c.target_name))
            .expect("made above");
        suite.add_test_case(case);
    }
    junit.add_test_suites(suites);
    junit.set_time(Duration::from_millis(report.elapsed_ms));
    junit.to_string().unwrap_or_else(|e| format!("<!-- failed to render JUnit: {e} -->\n"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use race_hunt_report::{Evidence, EvidenceKind};

    #[test]
    fn failures_errors_and_properties() {
        let mut cells = vec![
            crate::report::tests::cell("racy-unsync", true, Outcome::Detected, Verdict::Ok),
            crate::report::tests::cell("fixed-fetch-add", false, Outcome::Detected, Verdict::Fail),
            crate::report::tests::cell("racy-load-store", true, Outcome::Error, Verdict::Fail),
        ];
        let mut e = Evidence::new(EvidenceKind::OracleViolation, "lost <3> & more", "runner run 'x'");
        e.seed = Some(42);
        e.location = Some("fixtures/counter/src/lib.rs:35:40".into());
        cells[1].evidence = Some(e);
        cells[1].reason = Some("expected to pass".into());
        cells[2].reason = Some("error: build failed".into());
        let mut report = crate::matrix::tests_report();
        report.cells = cells;
        let xml = render(&report);
        assert!(xml.contains("<failure message=\"expected to pass\""), "{xml}");
        assert!(xml.contains("<error message=\"error: build failed\""), "{xml}");
        assert!(xml.contains("<property name=\"seed\" value=\"42\"/>"), "{xml}");
        assert!(xml.contains("<property name=\"location\" value=\"fixtures/counter/src/lib.rs:35:40\"/>"), "{xml}");
        assert!(xml.contains("lost &lt;3&gt; &amp; more"), "{xml}");
    }
}
