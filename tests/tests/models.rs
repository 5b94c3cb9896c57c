//! The loom and Miri columns: the weak-memory bugs no other column sees,
//! the 32-bit tear interpreted without qemu, limits that are errors.

use race_hunt_tests::{assert_gate_contract, full_matrix, manifest_with, race_hunt, EvidenceKind, Gate, Outcome};

#[test]
fn loom_and_miri_catch_the_publication_bugs_and_pass_every_fix() {
    let run = full_matrix().slice(&["loom", "miri"], &["x86_64", "armv7"]);
    assert_gate_contract(&run);
    // What x86, qemu, shuttle and TSan cannot see, both models do.
    for variant in ["publish/racy-relaxed", "publish/racy-plain"] {
        for detector in ["loom", "miri"] {
            let c = run.cell(variant, detector, "x86_64");
            assert_eq!(c.outcome, Outcome::Detected, "{variant} {detector}: {c:#?}");
        }
        assert_eq!(run.cell(variant, "loom", "x86_64").evidence.as_ref().unwrap().kind, EvidenceKind::LoomFailure);
    }
    // The plain payload is a data race Miri itself reports; the Relaxed one
    // is caught by the oracle under Miri's weak-memory emulation.
    assert_eq!(run.cell("publish/racy-plain", "miri", "x86_64").evidence.as_ref().unwrap().kind, EvidenceKind::MiriUb);
    assert_eq!(
        run.cell("publish/racy-relaxed", "miri", "x86_64").evidence.as_ref().unwrap().kind,
        EvidenceKind::OracleViolation
    );
    // The 32-bit timestamp, in Miri's armv7 interpretation, by Miri's own report.
    let u64_armv7 = run.cell("session/racy-u64", "miri", "armv7");
    let e = u64_armv7.evidence.as_ref().expect("detected");
    assert_eq!(e.kind, EvidenceKind::MiriUb, "{e:#?}");
    assert!(e.message.starts_with("data race:"), "{}", e.message);
    assert!(e.location.as_deref().is_some_and(|l| l.starts_with("fixtures/session/src/lib.rs:")), "{e:#?}");
    // Loom's replay is its checkpoint of exactly the failing execution.
    let loom = run.cell("publish/racy-relaxed", "loom", "x86_64").evidence.clone().unwrap();
    assert!(loom.replay_file.as_deref().is_some_and(|f| f.ends_with(".json")), "{loom:#?}");
    assert!(loom.replay.contains(" replay publish/racy-relaxed "), "{}", loom.replay);
    // loom runs on the host only; Miri also on the 32-bit target.
    assert!(run.report().not_planned.iter().any(|n| n.detector == "loom" && n.target == "armv7"));
}

#[test]
fn a_loom_exploration_cut_short_by_its_limits_is_an_error_never_clean() {
    let (_dir, path) = manifest_with(|t| {
        t.replacen(
            "[budgets.quick.loom]\npreemptions = 1\nseconds = 30",
            "[budgets.quick.loom]\npreemptions = 1\nseconds = 30\nmax-branches = 2",
            1,
        )
    });
    let run = race_hunt(&[
        "--manifest",
        &path,
        "--detector",
        "loom",
        "--fixture",
        "counter/fixed-fetch-add",
        "--budget",
        "quick",
    ]);
    run.assert_code(4);
    let c = run.cell("counter/fixed-fetch-add", "loom", "x86_64");
    assert_eq!(c.outcome, Outcome::Error, "{c:#?}");
    assert!(c.reason.as_ref().unwrap().contains("branches"), "{c:#?}");
    assert_eq!(run.report().summary.gate, Gate::Error);
}
