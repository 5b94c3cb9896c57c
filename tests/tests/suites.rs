//! Suites: the shop packages' ordinary tests hunted under every detector
//! that can run them, credited by mechanism, with replays that rerun the
//! one failing test; and canaries that keep a broken column from reporting
//! `clean`.

use std::process::Command;

use race_hunt_report::Subject;
use race_hunt_tests::{
    as_a_developer, full_matrix, race_hunt_env, root, text, xtask, EvidenceKind, Outcome, Run, Verdict,
    CALLER_NEXTEST_PROFILE,
};

const SUITES: &str = "shop-hits,shop-memo,shop-flags,shop-expiry,shop-last-seen,shop-wallet";

fn suite_cells(run: &Run) -> Vec<&race_hunt_report::CellReport> {
    run.cells().iter().filter(|c| c.subject == Subject::Suite).collect()
}

#[test]
fn every_racy_suite_is_caught_by_a_mechanism_that_can_see_it_and_every_fix_passes() {
    // The suites' columns of the default plan: every detector that runs
    // them on x86_64, and Miri's interpretation of armv7 too.
    let mut run = full_matrix().slice(&["stress", "chaos", "loom", "tsan", "miri"], &["x86_64", "armv7"]);
    run.report.as_mut().unwrap().cells.retain(|c| c.target_name == "x86_64" || c.detector == "miri");
    let cells = suite_cells(&run);
    for suite in SUITES.split(',') {
        assert!(cells.iter().any(|c| c.fixture == suite), "{suite}: no cell in the full matrix");
    }
    assert!(cells.len() >= 30, "{} suite cells", cells.len());
    for c in &cells {
        assert_eq!(c.verdict, Verdict::Ok, "{}: {c:#?}", c.id());
        if !c.racy {
            assert_eq!(c.outcome, Outcome::Clean, "{}: a fixed suite was flagged", c.id());
        }
        if c.outcome == Outcome::Detected {
            let e = c.evidence.as_ref().unwrap();
            let test = e.test.as_deref().unwrap_or_else(|| panic!("{}: no test named", c.id()));
            assert!(test.contains("::") || test.contains(' '), "{test}");
            // Credit by mechanism: only TSan's own report is `tsan-report`,
            // only Miri's own report `miri-ub`.
            match (c.detector.as_str(), e.kind) {
                ("tsan", EvidenceKind::TsanReport) => assert!(!e.findings.is_empty()),
                ("tsan", k) => assert_eq!(k, EvidenceKind::TestFailure, "{}", c.id()),
                ("miri", EvidenceKind::MiriUb | EvidenceKind::TestFailure) => {}
                ("loom", k) => assert_eq!(k, EvidenceKind::LoomFailure, "{}", c.id()),
                (_, k) => assert_eq!(k, EvidenceKind::TestFailure, "{}", c.id()),
            }
        }
    }
    // Every racy variant is detected somewhere.
    for suite in SUITES.split(',') {
        assert!(
            cells.iter().any(|c| c.fixture == suite && c.racy && c.outcome == Outcome::Detected),
            "{suite}/racy detected by no column"
        );
    }
    // The data races are TSan's and Miri's own findings; the plain u64 only
    // theirs on 64-bit.
    for d in ["tsan", "miri"] {
        let c = run.cell("shop-last-seen/racy", d, "x86_64");
        let want = if d == "tsan" { EvidenceKind::TsanReport } else { EvidenceKind::MiriUb };
        assert_eq!(c.evidence.as_ref().map(|e| e.kind), Some(want), "{c:#?}");
    }
    // A failing test is rerun alone to tell a race from a one-off.
    let wallet = run.cell("shop-wallet/racy", "stress", "x86_64").evidence.clone().unwrap();
    let r = wallet.reproduced.expect("reruns");
    assert!(r.runs == 20 && r.failed >= 1, "{r:?}");
    assert!(wallet.location.as_deref().is_some_and(|l| l.starts_with("fixtures/suites/shop-wallet/")), "{wallet:#?}");
    // shop-wallet is its own workspace in a subdirectory: Miri names its
    // files relative to the package, the evidence from the repository root.
    let wallet_miri = run.cell("shop-wallet/racy", "miri", "x86_64").evidence.clone().unwrap();
    assert!(
        wallet_miri.location.as_deref().is_some_and(|l| l.starts_with("fixtures/suites/shop-wallet/")),
        "{wallet_miri:#?}"
    );
    // Columns were proven by their canaries in the same run.
    let proofs = &run.report().summary.proofs;
    assert!(!proofs.is_empty() && proofs.iter().all(|p| p.proven), "{proofs:#?}");
    // loom and no other cfg: shop-expiry declares no loom tests.
    assert!(run
        .report()
        .not_planned
        .iter()
        .any(|n| n.detector == "loom" && n.subject.as_deref() == Some("shop-expiry")));

    // A replay of shop-wallet (its own workspace) must not leave a target/
    // inside the package, where the root's `/target` ignore does not reach.
    let wallet_target = root().join("fixtures/suites/shop-wallet/target");
    let _ = std::fs::remove_dir_all(&wallet_target);
    // Every printed replay reruns that one test and reproduces the failure
    // at least once in 20 tries (a real-thread replay runs it 20 times;
    // Miri's replays the failing seed, loom's its exhaustive exploration).
    for c in cells.iter().filter(|c| c.outcome == Outcome::Detected) {
        let e = c.evidence.as_ref().unwrap();
        let out = Command::new("bash")
            .args(["-c", &e.replay])
            .current_dir(root())
            .env_remove("RUSTFLAGS")
            .env("NEXTEST_PROFILE", CALLER_NEXTEST_PROFILE)
            .output()
            .unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        let test = e.test.as_deref().unwrap().split(' ').next_back().unwrap();
        assert!(text.contains(test), "{}: the replay did not run {test}:\n{text}", c.id());
        let failed = text
            .lines()
            .find_map(|l| l.split(" stress run iteration").nth(1))
            .map(|s| s.trim_start_matches('s').trim_start_matches(':'))
            .and_then(|s| s.split(',').find_map(|p| p.trim().strip_suffix(" failed")?.trim().parse::<u64>().ok()))
            .unwrap_or(0);
        let reported = text.contains("WARNING: ThreadSanitizer") || text.contains("Undefined Behavior");
        assert!(failed >= 1 || reported, "{}: `{}` did not reproduce:\n{text}", c.id(), e.replay);
    }
    assert!(cells.iter().any(|c| c.fixture == "shop-wallet" && c.outcome == Outcome::Detected));
    assert!(!wallet_target.exists(), "a replay left {}", wallet_target.display());
}

#[test]
fn a_silenced_thread_sanitizer_is_not_proven_and_its_suite_cells_fail() {
    // A stray setting that silences TSan's reports: the canary catches it.
    let run = race_hunt_env(
        &["--fixture", "shop-expiry", "--detector", "tsan", "--budget", "quick"],
        &[("TSAN_OPTIONS", "report_bugs=0")],
    );
    run.assert_code(1);
    let proof = run.report().summary.proofs.iter().find(|p| p.detector == "tsan").expect("a tsan proof");
    assert!(!proof.proven, "{proof:#?}");
    for c in suite_cells(&run) {
        // What TSan's run saw is kept as its outcome; it just cannot pass.
        assert!(!(c.outcome == Outcome::Clean && c.verdict == Verdict::Ok), "{}: clean from a broken detector", c.id());
        if c.outcome != Outcome::Detected {
            assert_eq!(c.verdict, Verdict::Fail);
            assert!(c.reason.as_ref().unwrap().starts_with("detector not proven here: "), "{c:#?}");
        }
        // Its canaries ran first, so the suite cells of the unproven column
        // were not spent: an error of the column, with nothing run.
        assert_eq!(c.outcome, Outcome::Error, "{}: ran in an unproven column: {c:#?}", c.id());
        assert_eq!((c.attempts, c.log.as_deref()), (0, None), "{c:#?}");
    }
    assert!(run.stdout.contains("NOT PROVEN tsan@x86_64"), "{}", run.stdout);
    // The racy canary fails as a canary whether the lost update happened to
    // trip its oracle or not: the exit code does not depend on the race.
    let canary = run.cell("counter/racy-unsync", "tsan", "x86_64");
    assert_eq!(canary.verdict, Verdict::Fail, "{canary:#?}");
}

#[test]
fn a_cross_target_whose_runner_runs_nothing_is_not_proven() {
    let noop = tempfile::tempdir().unwrap();
    let fake = noop.path().join("fake-qemu");
    std::fs::write(&fake, "#!/bin/sh\nexit 0\n").unwrap();
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let run = race_hunt_env(
        &["--fixture", "shop-hits", "--detector", "stress", "--target", "armv7", "--budget", "quick"],
        &[("CARGO_TARGET_ARMV7_UNKNOWN_LINUX_GNUEABIHF_RUNNER", fake.to_str().unwrap())],
    );
    assert_ne!(run.code, 0, "{}", run.stdout);
    let cells = suite_cells(&run);
    assert!(!cells.is_empty());
    for c in cells {
        assert_eq!(c.verdict, Verdict::Fail, "{}: a runner that runs nothing cannot pass: {c:#?}", c.id());
        assert!(c.reason.as_ref().unwrap().contains("detector not proven here"), "{c:#?}");
        assert_eq!((c.outcome, c.attempts), (Outcome::Error, 0), "{}: spent in an unproven column: {c:#?}", c.id());
    }
    let proof = run.report().summary.proofs.iter().find(|p| p.target == "armv7").unwrap();
    assert!(!proof.proven);
}

#[test]
fn bench_suite_prints_a_hand_typed_command_that_runs_the_suite() {
    let out = xtask()
        .args(["bench-suite", "--suite", "shop-hits", "--variant", "fixed", "--detector", "stress"])
        .args(["--runs", "1", "--budget", "quick"])
        .output()
        .unwrap();
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(0), "{shown}");
    // `stress  CELL_MS  HAND_MS  RATIOx  COMMAND`
    let line = shown.lines().find(|l| l.starts_with("stress ")).unwrap_or_else(|| panic!("no stress row:\n{shown}"));
    let (numbers, command) = line.split_once("x  ").unwrap_or_else(|| panic!("no ratio in `{line}`"));
    let ratio: f64 = numbers.split_whitespace().last().unwrap().parse().unwrap();
    assert!(ratio.is_finite() && ratio > 0.0, "{line}");
    // The variables its build had (so it reuses that build), then the command.
    assert!(
        command.starts_with("RUSTFLAGS=--cap-lints=warn RUSTDOCFLAGS=--cap-lints=warn cargo nextest run "),
        "{command}"
    );
    // The printed command runs the fixed suite, and it passes.
    let by_hand = as_a_developer("bash").args(["-c", command]).output().unwrap();
    let by_hand_text = text(&by_hand);
    assert_eq!(by_hand.status.code(), Some(0), "`{command}`:\n{by_hand_text}");
    assert!(by_hand_text.contains("concurrent_hits_on_one_route_are_all_counted"), "{by_hand_text}");
}
