//! Grading: an outcome against an expectation. One function, so that every
//! verdict in every report follows the same rule.

use race_hunt_report::{CellReport, Expect, Outcome as O, Verdict};

use crate::baseline::Baseline;
use crate::cell::{Condition, Expectation};
use crate::manifest::Manifest;
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
        Expectation::DetectIf(Condition::WeakMemory) => match conditions {
            Some(c) if c.weak_memory == Some(true) => Expectation::Detect,
            Some(c) => Expectation::May(format!("detect only where the target shows weak memory; {}", c.finding)),
            None => Expectation::May("detect only where the target shows weak memory, and no probe ran".into()),
        },
        other => other.clone(),
    }
}

/// The verdict of a cell, with a sentence saying why when it is not `ok`
/// (or, for a hang under `may`, what happened; for an `ok` that a baseline
/// made, which reason accepted it).
/// `hang_detects`: the manifest counts a hang as a detection for this cell.
/// A hang under `may` is `ok`: `may` says either outcome is fine for the
/// written reason, and a detector that ran out of time found nothing either
/// way; the hang is noted in the reason. An `error` is a failure under
/// every expectation: the harness broke.
/// `baseline`: findings accepted by design; a pass-expected cell whose
/// findings (fingerprints) are all in it is `ok`, "baselined: REASON".
pub fn grade(
    expect: &Expectation,
    outcome: &Outcome,
    hang_detects: bool,
    baseline: Option<&Baseline>,
) -> (Verdict, Option<String>) {
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
        (Expectation::Pass, Outcome::Detected(e)) => match baseline.and_then(|b| b.covers(&e.fingerprints)) {
            Some(reasons) => (Verdict::Ok, Some(format!("baselined: {reasons}"))),
            None => {
                let mut why = format!("expected to pass, but the detector flagged it ({})", e.kind);
                if let Some(b) = baseline {
                    let new: Vec<&str> =
                        e.fingerprints.iter().filter(|f| b.entry(f).is_none()).map(String::as_str).collect();
                    if !new.is_empty() && new.len() < e.fingerprints.len() {
                        why.push_str(&format!("; not in the baseline: {}", new.join(", ")));
                    }
                }
                (Verdict::Fail, Some(why))
            }
        },
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
    /// Counts toward `detect` (see [`credit`]): a detection its fixed
    /// sibling also shows, or that the baseline holds, proves nothing.
    pub credited: bool,
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
        let own = crate::detectors::kind(d).map_or(&[][..], |k| k.proof);
        let by_own_mechanism = c.evidence.as_ref().is_some_and(|e| own.contains(&e.kind));
        match (v.racy, c.outcome) {
            (true, O::Detected) if c.verdict == Verdict::Ok && by_own_mechanism && c.credited => caught += 1,
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

/// Whether evidence came from what `detect_in` names: a file path (it has
/// a `/` or ends in `.rs`) the evidence's location (or a finding's) is in,
/// or a test: its name, a `::` suffix of it, or the full `binary test` name.
pub fn detect_in_matches(detect_in: &str, e: &race_hunt_report::Evidence) -> bool {
    let want = crate::manifest::suite::detect_in_target(detect_in);
    if want.contains('/') || want.ends_with(".rs") {
        let file = |l: &str| crate::fingerprint::file_of(l).to_string();
        return e
            .location
            .iter()
            .map(|l| file(l))
            .chain(e.findings.iter().filter_map(|f| f.location.as_deref().map(file)))
            .any(|f| f == want || f.ends_with(&format!("/{want}")));
    }
    e.test.as_deref().is_some_and(|full| {
        let name = full.split_once(' ').map_or(full, |(_, n)| n);
        full == want || name == want || name.ends_with(&format!("::{want}"))
    })
}

/// Credit by mechanism across cells: a racy variant's detection counts
/// toward `detect` only when it shows the bug. It does not when every one
/// of its findings is shown by a fixed variant of the same fixture or
/// suite (same detector, target) or is in the baseline (it is the crate's
/// by-design race, not the bug's), nor when it came from another test than
/// the variant's `detect-in`. Such a cell gets `not_credited` with the
/// reason; under `detect` its verdict is `fail`, under `may` it stays `ok`
/// with the reason as a note. Runs on a run's cells and again on the gate's
/// merged cells (a shard may hold the racy cell and not its fixed sibling);
/// it decides from outcomes and evidence only, so running it twice changes
/// nothing.
pub fn credit(m: &Manifest, cells: &mut [CellReport]) {
    let baseline = m.baseline.as_ref();
    let mut decisions: Vec<(usize, String)> = Vec::new();
    for (i, c) in cells.iter().enumerate() {
        if !c.racy || c.outcome != O::Detected || !matches!(c.expect, Expect::Detect | Expect::May) {
            continue;
        }
        let Some(e) = &c.evidence else { continue };
        let detect_in = m
            .suites
            .iter()
            .find(|s| s.name == c.fixture)
            .and_then(|s| s.variants.iter().find(|(v, _)| v.name == c.variant))
            .and_then(|(v, _)| v.detect_in.as_deref());
        if let Some(want) = detect_in {
            if !detect_in_matches(want, e) {
                let from = match (&e.test, &e.location) {
                    (Some(t), _) => format!("test `{t}`"),
                    (None, Some(l)) => l.clone(),
                    (None, None) => "no named test".into(),
                };
                decisions.push((
                    i,
                    format!("the detection came from {from}, not from `detect-in = \"{want}\"`: it does not count toward detect"),
                ));
                continue;
            }
        }
        if e.fingerprints.is_empty() {
            continue;
        }
        let mut why = Vec::new();
        for fp in &e.fingerprints {
            let fixed = cells.iter().find(|f| {
                !f.racy
                    && f.fixture == c.fixture
                    && f.detector == c.detector
                    && f.target_name == c.target_name
                    && matches!(f.outcome, O::Detected | O::Hang)
                    && f.evidence.as_ref().is_some_and(|fe| fe.fingerprints.contains(fp))
            });
            match (fixed, baseline.and_then(|b| b.entry(fp))) {
                (Some(f), _) => why.push(format!("the fixed variant {} shows the same finding {fp}", f.variant)),
                (None, Some(entry)) => why.push(format!("finding {fp} is in the baseline ({})", entry.reason)),
                (None, None) => {
                    why.clear();
                    break;
                }
            }
        }
        if !why.is_empty() {
            decisions.push((i, format!("{}: this detection is not the bug's", why.join("; "))));
        }
    }
    for (i, why) in decisions {
        let c = &mut cells[i];
        if c.expect == Expect::Detect {
            c.verdict = Verdict::Fail;
        }
        c.reason = Some(why.clone());
        c.not_credited = Some(why);
    }
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
    use race_hunt_report::{Proof, Subject};
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
                        credited: c.not_credited.is_none(),
                    })
            };
            column_problems(m, &d, &t, run, true)
        };
        let reason = (!problems.is_empty()).then(|| problems.join("; "));
        if let Some(why) = &reason {
            // A racy canary whose detection is no proof (another mechanism
            // than the detector's own, or not credited) fails as a canary:
            // the gate fails for the broken column (exit 1) whatever the
            // race did in this run, not only when the canary also ran clean.
            let own = crate::detectors::kind(&d).map_or(&[][..], |k| k.proof);
            let canaries = crate::plan::canaries_for(m, &d, &t);
            for c in cells.iter_mut().filter(|c| {
                c.subject == Subject::Fixture
                    && c.racy
                    && c.detector == d
                    && c.target_name == t
                    && c.verdict == Verdict::Ok
                    && canaries.iter().any(|(f, v)| *f == c.fixture && v.name == c.variant)
            }) {
                let proof = c.outcome == O::Detected
                    && c.not_credited.is_none()
                    && c.evidence.as_ref().is_some_and(|e| own.contains(&e.kind));
                if !proof {
                    c.verdict = Verdict::Fail;
                    c.reason = Some(format!("a canary that proves nothing: {why}"));
                }
            }
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
    use race_hunt_report::Outcome as O;
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
            assert_eq!(
                grade(expect, outcome, *hang_detects, None).0,
                *verdict,
                "{expect:?} x {outcome:?} ({hang_detects})"
            );
        }
    }

    #[test]
    fn failures_say_why() {
        assert!(grade(&Expectation::Pass, &detected(), false, None).1.unwrap().contains("oracle-violation"));
        assert!(grade(&Expectation::Detect, &Outcome::Clean, false, None).1.unwrap().contains("budget ran clean"));
        assert!(grade(&Expectation::Detect, &hang(), false, None).1.unwrap().starts_with("hang: no result"));
    }

    fn baseline() -> Baseline {
        let text = "[[finding]]\nfingerprint = \"known\"\ndetector = \"d\"\nreason = \"a seqlock read, by design\"\n";
        Baseline::parse(std::path::Path::new("b.toml"), text, true).unwrap()
    }

    fn with_fingerprints(kind: EvidenceKind, fps: &[&str]) -> race_hunt_report::Evidence {
        let mut e = Evidence::new(kind, "race", "r");
        e.fingerprints = fps.iter().map(|f| f.to_string()).collect();
        e
    }

    #[test]
    fn a_fixed_cell_whose_findings_are_all_baselined_is_ok_with_the_reason() {
        let b = baseline();
        let known = Outcome::Detected(with_fingerprints(EvidenceKind::TsanReport, &["known"]));
        assert_eq!(
            grade(&Expectation::Pass, &known, false, Some(&b)),
            (Verdict::Ok, Some("baselined: a seqlock read, by design".into()))
        );
        let (v, why) = grade(&Expectation::Pass, &known, false, None);
        assert_eq!(v, Verdict::Fail, "no baseline: fails as before ({why:?})");
        let one_new = Outcome::Detected(with_fingerprints(EvidenceKind::TsanReport, &["known", "new"]));
        let (v, why) = grade(&Expectation::Pass, &one_new, false, Some(&b));
        assert_eq!(v, Verdict::Fail);
        assert!(why.unwrap().ends_with("; not in the baseline: new"));
        let none = Outcome::Detected(with_fingerprints(EvidenceKind::TsanReport, &[]));
        assert_eq!(
            grade(&Expectation::Pass, &none, false, Some(&b)).0,
            Verdict::Fail,
            "nothing to match: not baselined"
        );
        // A baseline never turns a hang or an error into ok.
        assert_eq!(grade(&Expectation::Pass, &hang(), false, Some(&b)).0, Verdict::Fail);
    }

    fn wallet_manifest() -> Manifest {
        let wallet = crate::root::engine_root().join("fixtures/suites/shop-wallet");
        let text = format!(
            "[run]\nbudget = \"q\"\ntargets = [\"x86_64\"]\ndetectors = [\"stress\"]\n[targets.x86_64]\ntriple = \"x86_64-unknown-linux-gnu\"\n[detectors.stress]\n[budgets.q.stress]\nseconds = 1\n[[suites]]\nname = \"wallet\"\npath = {:?}\n[[suites.variants]]\nname = \"racy\"\nracy = true\nclass = \"check-then-act\"\ndetect-in = \"test(=concurrent_withdrawals_never_overdraw)\"\n[[suites.variants]]\nname = \"fixed\"\nracy = false\n",
            wallet.display().to_string()
        );
        let mut m = crate::manifest::parse(&crate::root::engine_root().join("m.toml"), &text).unwrap();
        m.baseline = Some(baseline());
        m
    }

    fn suite_cell(variant: &str, target: &str, fps: &[&str], test: &str) -> CellReport {
        let racy = variant == "racy";
        let mut c =
            crate::report::tests::cell(variant, racy, O::Detected, if racy { Verdict::Ok } else { Verdict::Fail });
        c.fixture = "wallet".into();
        c.target_name = target.into();
        let mut e = with_fingerprints(EvidenceKind::TestFailure, fps);
        e.test = Some(format!("shop-wallet::checkout {test}"));
        c.evidence = Some(e);
        c
    }

    const BUG: &str = "concurrent_withdrawals_never_overdraw";

    #[test]
    fn a_racy_detection_the_fixed_variant_also_shows_does_not_count() {
        let m = wallet_manifest();
        let mut cells =
            vec![suite_cell("racy", "x86_64", &["shared"], BUG), suite_cell("fixed", "x86_64", &["shared"], BUG)];
        credit(&m, &mut cells);
        assert_eq!(cells[0].verdict, Verdict::Fail);
        let why = cells[0].reason.clone().unwrap();
        assert!(
            why.contains("the fixed variant fixed shows the same finding shared: this detection is not the bug's"),
            "{why}"
        );
        assert_eq!(cells[0].not_credited.as_deref(), Some(why.as_str()));
        assert_eq!(crate::report::summarize(&cells, false, None).undetected_racy_variants, ["wallet/racy"]);
        // Idempotent: the gate runs it again on merged cells.
        let once = cells.clone();
        credit(&m, &mut cells);
        assert_eq!(cells, once);
        // The fixed variant on another target, or another detector, says nothing here.
        let mut cells =
            vec![suite_cell("racy", "x86_64", &["shared"], BUG), suite_cell("fixed", "armv7", &["shared"], BUG)];
        credit(&m, &mut cells);
        assert_eq!((cells[0].verdict, cells[0].not_credited.is_none()), (Verdict::Ok, true));
        // One finding of its own is enough.
        let mut cells = vec![
            suite_cell("racy", "x86_64", &["shared", "bug"], BUG),
            suite_cell("fixed", "x86_64", &["shared"], BUG),
        ];
        credit(&m, &mut cells);
        assert_eq!((cells[0].verdict, cells[0].not_credited.is_none()), (Verdict::Ok, true));
        // A baselined finding is not the bug's either.
        let mut cells = vec![suite_cell("racy", "x86_64", &["known"], BUG)];
        credit(&m, &mut cells);
        assert!(cells[0]
            .reason
            .as_deref()
            .unwrap()
            .contains("finding known is in the baseline (a seqlock read, by design)"));
        assert_eq!(cells[0].verdict, Verdict::Fail);
        // Under `may` the verdict stays ok, with the note; it still does not count.
        let mut cells =
            vec![suite_cell("racy", "x86_64", &["shared"], BUG), suite_cell("fixed", "x86_64", &["shared"], BUG)];
        cells[0].expect = Expect::May;
        credit(&m, &mut cells);
        assert_eq!(cells[0].verdict, Verdict::Ok);
        assert!(cells[0].not_credited.is_some() && cells[0].reason.is_some());
        assert_eq!(crate::report::summarize(&cells, false, None).undetected_racy_variants, ["wallet/racy"]);
    }

    #[test]
    fn a_racy_detection_from_another_test_than_detect_in_does_not_count() {
        let m = wallet_manifest();
        let mut cells = vec![suite_cell("racy", "x86_64", &["bug"], "refunds_add_up")];
        credit(&m, &mut cells);
        assert_eq!(cells[0].verdict, Verdict::Fail);
        let why = cells[0].reason.as_deref().unwrap();
        assert!(
            why.starts_with("the detection came from test `shop-wallet::checkout refunds_add_up`, not from `detect-in = \"test(=concurrent_withdrawals_never_overdraw)\"`"),
            "{why}"
        );
        let mut cells = vec![suite_cell("racy", "x86_64", &["bug"], BUG)];
        credit(&m, &mut cells);
        assert_eq!((cells[0].verdict, cells[0].not_credited.as_deref()), (Verdict::Ok, None));
    }

    #[test]
    fn detect_in_takes_a_test_name_or_a_file() {
        let mut e = Evidence::new(EvidenceKind::TestFailure, "m", "r");
        e.test = Some("shop-wallet::checkout tests::concurrent_withdrawals_never_overdraw".into());
        e.location = Some("fixtures/suites/shop-wallet/tests/checkout.rs:41:9".into());
        for yes in [
            "concurrent_withdrawals_never_overdraw",
            "tests::concurrent_withdrawals_never_overdraw",
            "test(=tests::concurrent_withdrawals_never_overdraw)",
            "shop-wallet::checkout tests::concurrent_withdrawals_never_overdraw",
            "tests/checkout.rs",
            "fixtures/suites/shop-wallet/tests/checkout.rs",
        ] {
            assert!(detect_in_matches(yes, &e), "{yes}");
        }
        for no in ["withdrawals_never_overdraw", "refunds", "src/lib.rs", "ckout.rs"] {
            assert!(!detect_in_matches(no, &e), "{no}");
        }
    }

    /// A hang under `may` passes with the hang in the reason; an error under
    /// `may` still fails (the harness broke); a hang under `pass` still fails.
    #[test]
    fn a_hang_under_may_is_ok_and_noted() {
        let may = Expectation::May("the window is narrow".into());
        let (verdict, reason) = grade(&may, &hang(), false, None);
        assert_eq!(verdict, Verdict::Ok);
        assert!(
            reason.as_deref().is_some_and(|r| r.contains("hang") && r.contains("no result after 38s")),
            "{reason:?}"
        );
        assert_eq!(grade(&may, &Outcome::Error("runner died".into()), false, None).0, Verdict::Fail);
        assert_eq!(grade(&Expectation::Pass, &hang(), false, None).0, Verdict::Fail);
        assert_eq!(grade(&Expectation::Detect, &hang(), false, None).0, Verdict::Fail);
    }

    #[test]
    fn detect_if_weak_memory_follows_the_probe() {
        let e = Expectation::DetectIf(Condition::WeakMemory);
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
