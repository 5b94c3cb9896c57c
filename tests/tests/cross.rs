//! The cross-target columns: aarch64 and armv7 under qemu-user, read from
//! the shared full matrix (its hunts require every prerequisite).

use race_hunt_tests::{assert_gate_contract, full_matrix, Expect, Outcome, Subject};

#[test]
fn armv7_tears_the_u64_timestamp_and_the_fixes_pass_on_both_targets() {
    let run = full_matrix().slice(&["stress", "chaos"], &["aarch64", "armv7"]);
    assert!(run.report().require_all);
    assert_gate_contract(&run);
    // Every fixture variant and suite variant in each stress column; the
    // chaos columns hold the fixtures only: real-time priority needs the
    // suite's tests on this host's cores, so chaos is not planned for a
    // suite under an emulator, and says so per suite and target.
    let count = |d: &str, t: &str, suite: bool| {
        run.cells()
            .iter()
            .filter(|c| c.detector == d && c.target_name == t && (c.subject == Subject::Suite) == suite)
            .count()
    };
    let suites = run.report().not_planned.iter().filter(|n| n.detector == "chaos" && n.target == "armv7").count();
    assert!(suites > 0, "no chaos suite entry in not_planned: {:#?}", run.report().not_planned);
    for t in ["aarch64", "armv7"] {
        assert!(count("stress", t, false) > 0 && count("stress", t, true) > 0, "{t}");
        assert_eq!(count("chaos", t, false), count("stress", t, false), "{t}");
        assert_eq!(count("chaos", t, true), 0, "{t}");
        for n in run.report().not_planned.iter().filter(|n| n.detector == "chaos" && n.target == t) {
            assert!(n.subject.is_some() && n.reason.contains("emulator"), "{n:#?}");
        }
    }
    assert_eq!(
        run.cells().len(),
        2 * (count("stress", "armv7", false) + count("stress", "armv7", true)) + 2 * count("chaos", "armv7", false)
    );

    // The lesson's 32-bit ARM story: a plain u64 tears on armv7 only.
    let armv7 = run.cell("session/racy-u64", "stress", "armv7");
    assert_eq!(armv7.expect, Expect::Detect);
    assert_eq!(armv7.outcome, Outcome::Detected);
    let e = armv7.evidence.as_ref().unwrap();
    assert!(e.message.starts_with("torn timestamp"));
    assert!(e.replay.starts_with("qemu-arm "));
    assert_eq!(run.cell("session/racy-u64", "stress", "aarch64").expect, Expect::May);

    // Probes ran on both targets and are in the report.
    for t in &run.report().targets {
        let probe = t.probe.as_ref().unwrap_or_else(|| panic!("no probe on {}", t.name));
        assert!(probe.litmus.iterations > 0, "{t:#?}");
        assert!(!probe.finding.is_empty());
        // qemu-user on an x86_64 host keeps the host's ordering: when the
        // probe saw no weak MP outcome, publish is `may` with its finding.
        if !probe.weak_memory {
            let c = run.cell("publish/racy-relaxed", "stress", &t.name);
            assert_eq!(c.expect, Expect::May);
            assert!(c.expect_reason.as_ref().unwrap().contains("real ARM hardware, loom or Miri"));
        }
    }
    // `clean (starved)` means a measurement: a qemu probe that saw no thread
    // overlap says it cannot measure it there, and marks no cell starved
    // (the SB count it used to decide by was 0 under qemu whatever the load).
    for t in run.report().targets.iter().filter(|t| !t.native) {
        let probe = t.probe.as_ref().unwrap();
        assert!(probe.litmus.windows > 0, "{probe:#?}");
        if !probe.parallel_measured {
            assert!(probe.parallel && probe.finding.contains("not measurable under emulation"), "{probe:#?}");
            for c in run.cells().iter().filter(|c| c.target_name == t.name) {
                assert!(c.starved.is_none(), "{}: starved without a measurement: {c:#?}", c.id());
            }
        }
    }
    // (How many reads the armv7 probe saw torn is not asserted: it depends
    // on how the probe's two threads overlapped on this machine's cores. The
    // session cell above is the graded evidence of the 32-bit tear.)
}
