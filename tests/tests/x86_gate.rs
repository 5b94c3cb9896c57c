//! The stress, chaos and shuttle columns on x86_64 at the standard budget,
//! graded from the typed report of the shared full matrix.

use race_hunt_tests::{assert_gate_contract, full_matrix, EvidenceKind, Expect, Outcome, Subject, FULL_MATRIX_SEED};

#[test]
fn stress_chaos_and_shuttle_catch_the_lessons_races_and_pass_the_fixes() {
    let run = full_matrix().slice(&["stress", "chaos", "shuttle"], &["x86_64"]);
    assert_gate_contract(&run);
    // Every fixture variant in each column; the suites' variants under
    // stress and chaos only: shuttle needs tests written against its API,
    // so it is not planned for a suite, with the reason, per suite.
    let count = |d: &str, suite: bool| {
        run.cells().iter().filter(|c| c.detector == d && (c.subject == Subject::Suite) == suite).count()
    };
    let (fixtures, suites) = (count("stress", false), count("stress", true));
    assert!(fixtures > 0 && suites > 0);
    assert_eq!((count("chaos", false), count("chaos", true)), (fixtures, suites));
    assert_eq!((count("shuttle", false), count("shuttle", true)), (fixtures, 0));
    assert_eq!(run.cells().len(), 3 * fixtures + 2 * suites);
    let unplanned: Vec<_> = run.report().not_planned.iter().filter(|n| n.detector == "shuttle").collect();
    assert!(!unplanned.is_empty() && unplanned.iter().all(|n| n.subject.is_some()), "{unplanned:#?}");

    // The lesson's races that can show on x86_64 are each caught somewhere.
    for variant in [
        "counter/racy-unsync",
        "counter/racy-load-store",
        "cache/racy-unsync",
        "cache/racy-no-recheck",
        "bank/racy-unsync",
        "bank/racy-two-sections",
        "session/racy-multiword",
    ] {
        for detector in ["stress", "chaos", "shuttle"] {
            let c = run.cell(variant, detector, "x86_64");
            assert_eq!(c.expect, Expect::Detect, "{variant} {detector}");
            assert_eq!(c.outcome, Outcome::Detected, "{variant} {detector}");
        }
    }

    // The safe-Rust logic races: the oracle's message says what went wrong.
    let cache = run.cell("cache/racy-no-recheck", "chaos", "x86_64").evidence.clone().unwrap();
    assert_eq!(cache.kind, EvidenceKind::OracleViolation);
    assert!(cache.message.starts_with("two callers got different values"));
    assert_eq!(cache.seed, Some(FULL_MATRIX_SEED), "the noise seed is recorded");
    let bank = run.cell("bank/racy-two-sections", "shuttle", "x86_64").evidence.clone().unwrap();
    assert_eq!(bank.kind, EvidenceKind::ShuttleFailure);
    assert!(bank.message.starts_with("overdraft"));

    // What x86_64 cannot show is graded `may`, with a reason, never `detect`.
    for (variant, detector) in
        [("session/racy-u64", "stress"), ("publish/racy-plain", "stress"), ("publish/racy-relaxed", "shuttle")]
    {
        let c = run.cell(variant, detector, "x86_64");
        assert_eq!(c.expect, Expect::May, "{variant} {detector}");
        assert!(c.expect_reason.as_ref().is_some_and(|r| r.len() > 20), "{variant} {detector}: reason");
    }
    let publish = run.cell("publish/racy-relaxed", "stress", "x86_64");
    assert!(publish.expect_reason.as_ref().unwrap().contains("weak MP outcomes 0/"), "{publish:#?}");
    let probe = run.report().targets[0].probe.as_ref().expect("the x86_64 probe ran");
    assert!(probe.litmus.iterations > 0);

    // The shuttle replay command reproduces the failing schedule.
    let out = std::process::Command::new("sh")
        .args(["-c", &bank.replay])
        .current_dir(race_hunt_tests::root())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("replay: reproduced: overdraft"), "replay printed: {stdout}");
    assert!(!out.status.success());
}
