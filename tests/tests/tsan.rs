//! The tsan column: every data race detected with evidence pointing at the
//! racing lines, every fixed variant clean.

use race_hunt_report::BugClass;
use race_hunt_tests::{assert_gate_contract, race_hunt, root, EvidenceKind, Expect, Subject};

#[test]
fn thread_sanitizer_finds_every_data_race_and_no_false_one() {
    let run = race_hunt(&["--detector", "tsan", "--seed", "7"]);
    run.assert_code(0);
    assert_gate_contract(&run);
    for c in run.cells() {
        if c.class != Some(BugClass::DataRace) {
            continue;
        }
        let id = c.id();
        assert_eq!(c.expect, Expect::Detect, "{id}");
        let e = c.evidence.as_ref().unwrap();
        assert_eq!(e.kind, EvidenceKind::TsanReport, "{id}: {e:#?}");
        assert!(e.message.contains("races with"), "{id}: {}", e.message);
        // The location is a line of this fixture's source that touches the
        // shared memory (every racy access in the fixtures is an `unsafe`
        // pointer access on one line).
        let location = e.location.as_deref().expect("a location");
        let mut parts = location.split(':');
        let (file, line) = (parts.next().unwrap(), parts.next().unwrap().parse::<usize>().unwrap());
        let source = std::fs::read_to_string(root().join(file)).unwrap();
        let text = source.lines().nth(line - 1).unwrap();
        if c.subject == Subject::Suite {
            // A suite's race is in its own package's source, and the
            // evidence names the test that ran into it.
            assert!(file.starts_with("fixtures/suites/"), "{id}: {location}");
            assert!(e.test.is_some(), "{id}: {e:#?}");
        } else {
            assert!(file.starts_with(&format!("fixtures/{}/src/", c.fixture)), "{id}: {location}");
            assert!(text.contains("unsafe"), "{id}: {location} is `{text}`");
        }
        assert!(!e.findings.is_empty());
        // The replay sets race-hunt's TSan options (a suite's first sets
        // the sanitizer flags its cargo build needs).
        let sets_options = match c.subject {
            // Double-quoted there: its suppressions path is "$PWD/...", so a
            // replay printed in CI runs in another checkout.
            Subject::Suite => e.replay.contains(" TSAN_OPTIONS=\"halt_on_error=0 "),
            Subject::Fixture => e.replay.starts_with("TSAN_OPTIONS='halt_on_error=0 "),
        };
        assert!(sets_options, "{id}: replay sets TSAN_OPTIONS: {}", e.replay);
    }
    assert!(run.report().not_planned.is_empty(), "x86_64 only: nothing should be unplanned");
}

#[test]
fn thread_sanitizer_is_not_planned_on_emulated_and_32_bit_targets() {
    let run = race_hunt(&["--detector", "tsan", "--target", "aarch64,armv7", "--list"]);
    run.assert_code(0);
    assert!(
        run.stdout.contains("not planned: tsan@armv7: ThreadSanitizer does not support 32-bit targets"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("not planned: tsan@aarch64: ThreadSanitizer"), "{}", run.stdout);
}
