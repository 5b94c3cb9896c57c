//! Every command the harness prints runs: each kind of replay (every
//! detector, every target) is executed in sh and bash from the repository
//! root, and the `cargo xtask race-hunt replay` form is executed as printed.

use race_hunt_tests::{as_a_developer, race_hunt, text, EvidenceKind, Outcome, Run};

/// Run a printed command with `shell` from the repository root.
fn sh(shell: &str, command: &str) -> std::process::Output {
    as_a_developer(shell).args(["-c", command]).output().unwrap()
}

/// Up to `tries` runs of `command`; true when one shows `needle`.
fn reproduces(shell: &str, command: &str, needle: &str, tries: usize) -> bool {
    (0..tries).any(|_| text(&sh(shell, command)).contains(needle))
}

fn check_replays(run: &Run) {
    let mut checked = 0;
    for c in run.cells().iter().filter(|c| c.outcome == Outcome::Detected) {
        let e = c.evidence.as_ref().unwrap();
        // What the rerun must show: the same mechanism's finding.
        let needle = match e.kind {
            EvidenceKind::ShuttleFailure | EvidenceKind::LoomFailure => "replay: reproduced",
            EvidenceKind::TsanReport => "WARNING: ThreadSanitizer: data race",
            EvidenceKind::MiriUb => "Undefined Behavior",
            _ => "\"outcome\":\"detected\"",
        };
        for shell in ["sh", "bash"] {
            assert!(
                reproduces(shell, &e.replay, needle, 5),
                "{} ({shell}): `{}` did not show {needle:?}",
                c.id(),
                e.replay
            );
        }
        let xtask = e.replay_xtask.as_deref().expect("an xtask replay");
        assert!(xtask.starts_with("cargo xtask race-hunt replay '"), "{xtask}");
        let out = sh("bash", xtask);
        let shown = text(&out);
        assert!(shown.contains("replay: reproduced"), "{}: `{xtask}`:\n{shown}", c.id());
        assert_eq!(out.status.code(), Some(1), "a reproduced replay exits 1: {shown}");
        checked += 1;
    }
    assert!(checked > 0, "no detection to replay");
}

#[test]
fn every_x86_64_replay_reruns_its_detection() {
    let run = race_hunt(&[
        "--detector",
        "stress,chaos,shuttle,loom,tsan,miri",
        "--fixture",
        "counter/racy-unsync,bank/racy-two-sections",
    ]);
    run.assert_code(0);
    check_replays(&run);
}

#[test]
fn every_cross_target_replay_reruns_its_detection() {
    let run = race_hunt(&[
        "--detector",
        "stress",
        "--target",
        "aarch64,armv7",
        "--fixture",
        "counter/racy-unsync,session/racy-u64",
    ]);
    run.assert_code(0);
    let armv7 = run.cell("session/racy-u64", "stress", "armv7");
    assert!(armv7.evidence.as_ref().unwrap().replay.starts_with("qemu-arm -L /usr/arm-linux-gnueabihf target/"));
    check_replays(&run);
}

#[test]
fn every_printed_suite_replay_and_file_replay_runs_from_the_root_and_from_a_subdirectory() {
    // Suite cells (their columns plan canaries too) and a shuttle schedule file.
    let run = race_hunt(&[
        "--detector",
        "stress,shuttle",
        "--fixture",
        "shop-wallet/racy,counter/racy-unsync",
        "--budget",
        "quick",
    ]);
    let root = race_hunt_tests::root();
    let (mut suite_replays, mut file_replays) = (0, 0);
    for c in run.cells().iter().filter(|c| c.outcome == Outcome::Detected) {
        let xtask = c.evidence.as_ref().unwrap().replay_xtask.as_deref().expect("an xtask replay");
        let is_suite = xtask.contains(" --test ");
        let has_file = xtask.contains(" --file ");
        if !is_suite && !has_file {
            continue;
        }
        for dir in [root.clone(), root.join("fixtures/suites")] {
            eprintln!("{} from {}: {xtask}", c.id(), dir.display());
            let out = as_a_developer("bash").current_dir(&dir).args(["-c", xtask]).output().unwrap();
            let shown = text(&out);
            assert!(
                matches!(out.status.code(), Some(0 | 1)),
                "{} from {}: `{xtask}` did not run:\n{shown}",
                c.id(),
                dir.display()
            );
            assert!(shown.contains(&format!("replay {} (seed ", c.id())), "{shown}");
            if has_file {
                assert!(shown.contains("replay: reproduced"), "a schedule replays exactly: {shown}");
            }
        }
        suite_replays += usize::from(is_suite);
        file_replays += usize::from(has_file);
    }
    assert!(suite_replays >= 1 && file_replays >= 1, "{suite_replays} suite, {file_replays} file replays");
}

#[test]
fn a_suites_tsan_replay_names_no_path_of_the_checkout_that_printed_it() {
    let run = race_hunt(&["--detector", "tsan", "--fixture", "shop-last-seen/racy", "--budget", "quick"]);
    let c = run.cell("shop-last-seen/racy", "tsan", "x86_64");
    let e = c.evidence.as_ref().unwrap_or_else(|| panic!("{c:#?}"));
    let root = race_hunt_tests::root().display().to_string();
    // The suppressions file is found from the root the line runs in, not
    // the one it was printed in (nextest runs tests in the package's
    // directory, so a bare relative path would not do).
    assert!(e.replay.contains("suppressions=\\\"$PWD/ci/tsan-suppressions.txt\\\""), "{}", e.replay);
    assert!(!e.replay.contains(&root), "{}", e.replay);
    assert!(
        reproduces("bash", &e.replay, "WARNING: ThreadSanitizer: data race", 3),
        "`{}` did not reproduce",
        e.replay
    );
}
