//! The real-world check's small version (README, "Real-world check"): a
//! published crate race-hunt was not written for, fetched from crates.io
//! at pinned versions and hunted through its own tests. thread_local
//! 1.1.3 and 1.1.4 are the racy/fixed pair of RUSTSEC-2022-0006 (a bucket
//! pointer loaded `Relaxed` in `Iter::next`, `Acquire` in the fix), with
//! the one test the check adds to both (the crate's own tests join every
//! writer before they iterate). The whole check, every crate and every
//! detector, is `bash ci/real-world.sh`: too slow for the test command.

use race_hunt_tests::{as_a_developer, root, EvidenceKind, Outcome, Report, Verdict};

#[test]
fn thread_locals_published_race_is_caught_by_tsan_and_its_fix_passes() {
    let out = as_a_developer("bash")
        .args(["ci/real-world.sh", "--crate", "thread_local", "--detector", "stress,tsan"])
        .output()
        .expect("bash ci/real-world.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "stdout:\n{stdout}\nstderr:\n{stderr}");
    let text = std::fs::read_to_string(root().join("target/real-world/report.json")).unwrap();
    let report = Report::from_json(&text).unwrap();
    for c in &report.cells {
        assert_eq!(c.verdict, Verdict::Ok, "{c:#?}");
    }
    // The racy version: ThreadSanitizer's own report of the crate's race,
    // inside the crate, from the test that iterates while others insert.
    let racy = report.cell("thread_local-1.1.3/racy", "tsan", "x86_64").expect("the racy tsan cell");
    assert_eq!(racy.outcome, Outcome::Detected, "{racy:#?}");
    let e = racy.evidence.as_ref().unwrap();
    assert_eq!(e.kind, EvidenceKind::TsanReport, "{racy:#?}");
    assert!(e.message.contains("data race"), "{}", e.message);
    assert!(e.test.as_deref().is_some_and(|t| t.contains("iter_while_other_threads_insert")), "{racy:#?}");
    let at = e.location.as_deref().unwrap_or_default();
    assert!(at.starts_with("target/real-world/thread_local-1.1.3/src/"), "{racy:#?}");
    assert!(e.findings.iter().all(|f| f.fingerprint.is_some()), "{racy:#?}");
    // The fix: clean under both detectors, having run its tests.
    for d in ["stress", "tsan"] {
        let c = report.cell("thread_local-1.1.4/default", d, "x86_64").expect("the fixed cell");
        assert_eq!(c.outcome, Outcome::Clean, "{c:#?}");
        assert!(c.attempts >= 1, "{c:#?}");
    }
    // The replay the harness printed for the race reports it again, typed
    // by hand from the repository root.
    let replay = as_a_developer("bash").args(["-c", &e.replay]).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&replay.stdout), String::from_utf8_lossy(&replay.stderr));
    assert!(text.contains("WARNING: ThreadSanitizer: data race"), "{}\n{text}", e.replay);
}
