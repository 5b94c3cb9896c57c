//! Grading: an outcome against an expectation. One function, so that every
//! verdict in every report follows the same rule.

use race_hunt_report::Verdict;

use crate::manifest::Expectation;
use crate::outcome::Outcome;

/// What a target's preflight probe found, as far as expectations care.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conditions {
    /// `Some(true)` when the probe saw a weak (reordered) message-passing
    /// outcome; `None` when there was no probe.
    pub weak_memory: Option<bool>,
    /// The probe's finding in words, used as the reason when a condition
    /// does not hold.
    pub finding: String,
}

/// Turn a `detect-if` expectation into `detect` or `may`.
pub fn resolve(expect: &Expectation, conditions: Option<&Conditions>) -> Expectation {
    match expect {
        Expectation::DetectIf(cond) if cond == "weak-memory" => match conditions {
            Some(c) if c.weak_memory == Some(true) => Expectation::Detect,
            Some(c) => Expectation::May(format!("detect only where the target shows weak memory; {}", c.finding)),
            None => Expectation::May("detect only where the target shows weak memory, and no probe ran".into()),
        },
        Expectation::DetectIf(cond) => Expectation::May(format!("unknown condition `{cond}`")),
        other => other.clone(),
    }
}

/// The verdict of a cell, with a sentence saying why when it is not `ok`.
/// `hang_detects`: the manifest counts a hang as a detection for this cell.
pub fn grade(expect: &Expectation, outcome: &Outcome, hang_detects: bool) -> (Verdict, Option<String>) {
    match (expect, outcome) {
        (_, Outcome::Skipped(reason)) => (Verdict::Skipped, Some(reason.clone())),
        (_, Outcome::NotRun(reason)) => (Verdict::NotRun, Some(reason.clone())),
        (_, Outcome::Error(message)) => (Verdict::Fail, Some(format!("error: {message}"))),
        (Expectation::Detect | Expectation::May(_), Outcome::Hang(_)) if hang_detects => (Verdict::Ok, None),
        (_, Outcome::Hang(e)) => (Verdict::Fail, Some(format!("hang: {}", e.message))),
        (Expectation::Detect, Outcome::Detected(_)) => (Verdict::Ok, None),
        (Expectation::Detect, Outcome::Clean) => {
            (Verdict::Fail, Some("expected a detection; the whole budget ran clean".into()))
        }
        (Expectation::Pass, Outcome::Clean) => (Verdict::Ok, None),
        (Expectation::Pass, Outcome::Detected(e)) => {
            (Verdict::Fail, Some(format!("expected to pass, but the detector flagged it ({})", e.kind)))
        }
        (Expectation::May(_), Outcome::Detected(_) | Outcome::Clean) => (Verdict::Ok, None),
        (Expectation::DetectIf(_), _) => {
            (Verdict::Fail, Some("internal: a detect-if expectation reached grading unresolved".into()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use race_hunt_report::{Evidence, EvidenceKind};

    fn detected() -> Outcome {
        Outcome::Detected(Evidence::new(EvidenceKind::OracleViolation, "lost 3 of 4 increments", "r"))
    }

    fn hang() -> Outcome {
        Outcome::Hang(Evidence::new(EvidenceKind::Hang, "no result after 38s", "r"))
    }

    /// The whole grading table, as data.
    #[test]
    fn grading_table() {
        let may = Expectation::May("why".into());
        let table: &[(Expectation, Outcome, bool, Verdict)] = &[
            (Expectation::Detect, detected(), false, Verdict::Ok),
            (Expectation::Detect, Outcome::Clean, false, Verdict::Fail),
            (Expectation::Pass, Outcome::Clean, false, Verdict::Ok),
            (Expectation::Pass, detected(), false, Verdict::Fail),
            (may.clone(), detected(), false, Verdict::Ok),
            (may.clone(), Outcome::Clean, false, Verdict::Ok),
            (Expectation::Detect, Outcome::Skipped("no qemu".into()), false, Verdict::Skipped),
            (Expectation::Pass, Outcome::Skipped("no qemu".into()), false, Verdict::Skipped),
            (Expectation::Detect, Outcome::Error("boom".into()), false, Verdict::Fail),
            (Expectation::Pass, Outcome::Error("boom".into()), false, Verdict::Fail),
            (may.clone(), Outcome::Error("boom".into()), false, Verdict::Fail),
            (Expectation::Detect, Outcome::NotRun("SIGINT".into()), false, Verdict::NotRun),
            (Expectation::Pass, Outcome::NotRun("SIGINT".into()), false, Verdict::NotRun),
            // A hang is a detection only where the manifest says so.
            (Expectation::Detect, hang(), false, Verdict::Fail),
            (Expectation::Detect, hang(), true, Verdict::Ok),
            (may.clone(), hang(), false, Verdict::Fail),
            (may, hang(), true, Verdict::Ok),
            (Expectation::Pass, hang(), true, Verdict::Fail),
        ];
        for (expect, outcome, hang_detects, verdict) in table {
            assert_eq!(grade(expect, outcome, *hang_detects).0, *verdict, "{expect:?} x {outcome:?} ({hang_detects})");
        }
    }

    #[test]
    fn failures_say_why() {
        assert!(grade(&Expectation::Pass, &detected(), false).1.unwrap().contains("oracle-violation"));
        assert!(grade(&Expectation::Detect, &Outcome::Clean, false).1.unwrap().contains("budget ran clean"));
        assert!(grade(&Expectation::Detect, &hang(), false).1.unwrap().starts_with("hang: no result"));
    }

    #[test]
    fn detect_if_weak_memory_follows_the_probe() {
        let e = Expectation::DetectIf("weak-memory".into());
        let weak = Conditions { weak_memory: Some(true), finding: "MP weak 12/100000".into() };
        let strong = Conditions { weak_memory: Some(false), finding: "no weak MP outcome in 100000 runs".into() };
        assert_eq!(resolve(&e, Some(&weak)), Expectation::Detect);
        match resolve(&e, Some(&strong)) {
            Expectation::May(reason) => assert!(reason.contains("no weak MP outcome in 100000 runs")),
            other => panic!("{other:?}"),
        }
        assert!(matches!(resolve(&e, None), Expectation::May(_)));
        assert_eq!(resolve(&Expectation::Pass, Some(&weak)), Expectation::Pass);
    }
}
