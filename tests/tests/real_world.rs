//! The real-world check in small (README, "Real-world check"): the script
//! fetches one published crate from crates.io, race-hunt hunts its own
//! multithreaded tests with `ci/real-world.toml`, and the gate passes with
//! every cell ok, the crate's cells clean after running and the canaries
//! proving each column. The whole check (every crate, four detectors) is
//! `bash ci/real-world.sh`, too slow for the test command.

use race_hunt_report::Role;
use race_hunt_tests::{as_a_developer, assert_gate_contract, finish, root, Outcome};

#[test]
fn the_real_world_check_passes_on_once_cell() {
    let json = root().join("target/real-world/report.json");
    let _ = std::fs::remove_file(&json);
    let out = as_a_developer("bash")
        .args(["ci/real-world.sh", "--crate", "once_cell", "--detector", "stress,tsan"])
        .output()
        .expect("failed to run ci/real-world.sh");
    let run = finish(out, &json);
    run.assert_code(0);
    assert_gate_contract(&run);
    for detector in ["stress", "tsan"] {
        let c = run.cell("once_cell/default", detector, "x86_64");
        assert_eq!(c.outcome, Outcome::Clean, "{}: {c:#?}", c.id());
        assert!(c.attempts > 0, "{}: the crate's tests never ran", c.id());
        // The column was proven by its canaries in the same run.
        assert!(
            run.cells()
                .iter()
                .any(|k| k.role == Role::Canary && k.detector == detector && k.outcome == Outcome::Detected),
            "{detector}: no canary detected anything"
        );
    }
    // Only the crate asked for (and the canaries) ran.
    assert!(
        run.cells().iter().all(|c| c.role == Role::Canary || c.fixture == "once_cell"),
        "{:?}",
        run.cells().iter().map(|c| c.id()).collect::<Vec<_>>()
    );
}
