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

/// The verdict of a cell, with a sentence saying why when it is not `ok`
/// (or, for a hang under `may`, what happened).
/// `hang_detects`: the manifest counts a hang as a detection for this cell.
/// A hang under `may` is `ok`: `may` says either outcome is fine for the
/// written reason, and a detector that ran out of time found nothing either
/// way; the hang is noted in the reason. An `error` is a failure under
/// every expectation: the harness broke.
pub fn grade(expect: &Expectation, outcome: &Outcome, hang_detects: bool) -> (Verdict, Option<String>) {
    match (expect, outcome) {
        (_, Outcome::Skipped(reason)) => (Verdict::Skipped, Some(reason.clone())),
        (_, Outcome::NotRun(reason)) => (Verdict::NotRun, Some(reason.clone())),
        (_, Outcome::Error(message)) => (Verdict::Fail, Some(format!("error: {message}"))),
        (Expectation::Detect | Expectation::May(_), Outcome::Hang(_)) if hang_detects => (Verdict::Ok, None),
        (Expectation::May(_), Outcome::Hang(e)) => {
            (Verdict::Ok, Some(format!("hang under `may` (either outcome is fine): {}", e.message)))
        }
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

/// One finished canary cell, as a proof reads it.
#[derive(Debug, Clone, Copy)]
pub struct CanaryRun<'a> {
    pub outcome: race_hunt_report::Outcome,
    pub verdict: Verdict,
    pub evidence: Option<&'a race_hunt_report::Evidence>,
    pub reason: Option<&'a str>,
}

/// What keeps column `d`@`t` from being proven, from its canaries' runs
/// (`run` gives a canary's run, `None` when it did not run): empty when
/// every canary came out as expected, the racy ones detected by `d`'s own
/// mechanism, the fixed ones clean. `complete`: the runs are final, so a
/// canary that did not run is a problem, and so is a column with no racy
/// canary; while cells are still running (or in a shard that does not hold
/// every canary) a missing canary says nothing yet.
pub fn column_problems<'a>(
    m: &crate::manifest::Manifest,
    d: &str,
    t: &str,
    run: impl Fn(&str, &str) -> Option<CanaryRun<'a>>,
    complete: bool,
) -> Vec<String> {
    use race_hunt_report::Outcome as O;
    let wanted = crate::plan::canaries_for(m, d, t);
    let mut problems = Vec::new();
    let (mut caught, mut missing) = (0, 0);
    for (fixture, v) in &wanted {
        let Some(c) = run(fixture, &v.name) else {
            missing += 1;
            if complete {
                problems.push(format!("canary {fixture}/{} did not run", v.name));
            }
            continue;
        };
        let how = || match (&c.evidence, &c.reason) {
            (Some(e), _) => format!(" ({}: {})", e.kind, e.message),
            (None, Some(r)) => format!(" ({r})"),
            (None, None) => String::new(),
        };
        let own = crate::detector::kind(d).map_or(&[][..], |k| k.proof);
        let by_own_mechanism = c.evidence.as_ref().is_some_and(|e| own.contains(&e.kind));
        match (v.racy, c.outcome) {
            (true, O::Detected) if c.verdict == Verdict::Ok && by_own_mechanism => caught += 1,
            (true, O::Detected) => problems.push(format!(
                "racy canary {fixture}/{} was detected, but not by {d}'s own mechanism{}",
                v.name,
                how()
            )),
            (false, O::Clean) if c.verdict == Verdict::Ok => {}
            (true, other) => {
                problems.push(format!("racy canary {fixture}/{} was {other}, not detected{}", v.name, how()))
            }
            (false, other) => {
                problems.push(format!("fixed canary {fixture}/{} was {other}, not clean{}", v.name, how()))
            }
        }
    }
    if caught == 0 && problems.is_empty() && (complete || missing == 0) {
        problems.push(format!("no canary that {d} must detect on {t}"));
    }
    problems
}

/// Canaries: prove each column (detector@target) that hunts a suite. A
/// column is proven when every one of its canaries came out as expected:
/// the racy ones detected, the fixed ones clean. In a column not proven,
/// a suite cell that did not detect anything fails with "detector not
/// proven here" and the canary's evidence: its `clean` means nothing.
pub fn prove(
    m: &crate::manifest::Manifest,
    cells: &mut [race_hunt_report::CellReport],
) -> Vec<race_hunt_report::Proof> {
    use race_hunt_report::{Outcome as O, Proof, Subject};
    let mut columns: Vec<(String, String)> = Vec::new();
    for c in cells.iter().filter(|c| c.subject == Subject::Suite) {
        if !columns.contains(&(c.detector.clone(), c.target_name.clone())) {
            columns.push((c.detector.clone(), c.target_name.clone()));
        }
    }
    let mut proofs = Vec::new();
    for (d, t) in columns {
        let problems = {
            let run = |fixture: &str, variant: &str| {
                cells
                    .iter()
                    .find(|c| {
                        c.subject == Subject::Fixture
                            && c.fixture == fixture
                            && c.variant == variant
                            && c.detector == d
                            && c.target_name == t
                    })
                    .map(|c| CanaryRun {
                        outcome: c.outcome,
                        verdict: c.verdict,
                        evidence: c.evidence.as_ref(),
                        reason: c.reason.as_deref(),
                    })
            };
            column_problems(m, &d, &t, run, true)
        };
        let reason = (!problems.is_empty()).then(|| problems.join("; "));
        if let Some(why) = &reason {
            for c in cells.iter_mut().filter(|c| c.subject == Subject::Suite && c.detector == d && c.target_name == t) {
                if c.outcome != O::Detected && c.verdict != Verdict::Skipped && c.verdict != Verdict::NotRun {
                    c.verdict = Verdict::Fail;
                    c.reason = Some(format!("detector not proven here: {why}"));
                }
            }
        }
        proofs.push(Proof { detector: d, target: t, proven: reason.is_none(), reason });
    }
    proofs
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
            // Under `may` a hang is fine either way (issue 18): it is not a
            // detection, and not a failure of the harness either.
            (may.clone(), hang(), false, Verdict::Ok),
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

    /// A hang under `may` passes with the hang in the reason; an error under
    /// `may` still fails (the harness broke); a hang under `pass` still fails.
    #[test]
    fn a_hang_under_may_is_ok_and_noted() {
        let may = Expectation::May("the window is narrow".into());
        let (verdict, reason) = grade(&may, &hang(), false);
        assert_eq!(verdict, Verdict::Ok);
        assert!(
            reason.as_deref().is_some_and(|r| r.contains("hang") && r.contains("no result after 38s")),
            "{reason:?}"
        );
        assert_eq!(grade(&may, &Outcome::Error("runner died".into()), false).0, Verdict::Fail);
        assert_eq!(grade(&Expectation::Pass, &hang(), false).0, Verdict::Fail);
        assert_eq!(grade(&Expectation::Detect, &hang(), false).0, Verdict::Fail);
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
