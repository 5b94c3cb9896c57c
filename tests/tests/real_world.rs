//! The real-world check's small version (README, "Real-world check"): a
//! published crate race-hunt was not written for, fetched from crates.io
//! at its pinned version and hunted through its own threaded tests under
//! stress and ThreadSanitizer, with its one raised test timeout and its one
//! chaos exclusion in `ci/real-world.toml`. A false failure on correct code
//! is as serious as a missed race: every cell must pass, each having run
//! the crate's tests. The whole check, every crate and every detector, is
//! `bash ci/real-world.sh`: too slow for the test command.

use race_hunt_tests::{as_a_developer, root, Outcome, Report, Verdict};

#[test]
fn once_cells_own_threaded_tests_pass_under_stress_and_thread_sanitizer() {
    let out = as_a_developer("bash")
        .args(["ci/real-world.sh", "--crate", "once_cell", "--detector", "stress,tsan"])
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
    for d in ["stress", "tsan"] {
        let c = report.cell("once_cell/default", d, "x86_64").expect("a once_cell cell");
        assert_eq!(c.outcome, Outcome::Clean, "{c:#?}");
        assert!(c.attempts >= 1, "the crate's tests ran: {c:#?}");
        // Its log is nextest's run of the crate's own tests (some dozens
        // of them), no compile in it.
        let log = std::fs::read_to_string(c.log.as_deref().unwrap()).unwrap();
        let started: u64 = log
            .lines()
            .find_map(|l| l.trim().strip_prefix("Starting ")?.split(' ').next()?.parse().ok())
            .unwrap_or_else(|| panic!("no nextest run in {log}"));
        assert!(started >= 10, "{started} tests: {log}");
        assert!(!log.contains("   Compiling "), "{log}");
    }
}
