//! Command-line behaviour: help, usage errors, manifest errors, exit codes.

use race_hunt_tests::{manifest_with, race_hunt, race_hunt_env, root, xtask, Gate, Outcome, Verdict};

#[test]
fn help_lists_flags_and_exit_codes() {
    let out = xtask().args(["race-hunt", "--help"]).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "--detector",
        "--target",
        "--fixture",
        "--budget",
        "--json",
        "--require-all",
        "Exit codes",
        "2  usage or manifest error",
        "4  infrastructure failure",
        "143  terminated by SIGTERM",
    ] {
        assert!(text.contains(needle), "help lacks {needle}:\n{text}");
    }
}

#[test]
fn usage_errors_exit_2_and_name_the_choices() {
    let dir = tempfile::tempdir().unwrap();
    let as_dir = dir.path().display().to_string();
    for (args, needle) in [
        (
            &["--detector", "helgrind"][..],
            "unknown detector `helgrind` (this manifest has: stress, chaos, shuttle, loom, tsan, miri)",
        ),
        (&["--target", "riscv64"][..], "unknown target `riscv64`"),
        (&["--fixture", "counterr"][..], "unknown fixture or suite `counterr`"),
        (&["--fixture", "counter/racy-nope"][..], "`counter` has no variant `racy-nope` (it has: racy-unsync"),
        (&["--budget", "forever"][..], "unknown budget `forever` (this manifest has: quick, soak, standard)"),
        (&["--seed", "many"][..], "invalid value 'many'"),
        // Output paths are checked before anything runs.
        (&["--fixture", "counter/fixed-fetch-add", "--junit", &as_dir][..], "is a directory, not a file"),
        (&["--fixture", "counter/fixed-fetch-add", "--junit", "/proc/race-hunt-junit.xml"][..], "cannot write"),
        (&["--fixture", "counter/fixed-fetch-add", "--jobs", "0"][..], "--jobs must be at least 1"),
        // A control character in a name is shown escaped, never raw.
        (&["--detector", "st\nress\u{1b}[2J"][..], "unknown detector `st\\nress\\u{1b}[2J`"),
        (&["--fixture", "counter/racy\r"][..], "has no variant `racy\\r`"),
    ] {
        let run = race_hunt(args);
        run.assert_code(2);
        assert!(run.stderr.contains(needle), "{args:?}: stderr was {}", run.stderr);
        assert!(run.report.is_none(), "{args:?}: no report on a usage error");
        assert!(!run.stdout.contains("race-hunt:"), "{args:?}: it started a run first: {}", run.stdout);
    }
}

#[test]
fn a_json_and_junit_path_naming_one_file_is_refused_before_the_run() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    for (json, junit) in [("r", "./r"), ("r", "sub/../r")] {
        let out = xtask()
            .args(["race-hunt", "--detector", "stress", "--fixture", "counter/fixed-fetch-add", "--json"])
            .arg(dir.path().join(json))
            .arg("--junit")
            .arg(dir.path().join(junit))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{json} {junit}: {stderr}");
        assert!(stderr.contains("--json and --junit name the same file"), "{stderr}");
        assert!(!String::from_utf8_lossy(&out.stdout).contains("race-hunt:"), "nothing ran");
    }
}

#[test]
fn an_unwritable_json_path_is_refused_before_the_run() {
    for json in ["/proc/race-hunt.json".to_string(), tempfile::tempdir().unwrap().path().display().to_string()] {
        let out = xtask()
            .args(["race-hunt", "--detector", "stress", "--fixture", "counter/fixed-fetch-add", "--json", &json])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{json}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(String::from_utf8_lossy(&out.stderr).contains("cannot write the report there"));
        assert!(!String::from_utf8_lossy(&out.stdout).contains("race-hunt:"), "nothing ran");
    }
}

#[test]
fn manifest_errors_exit_2_with_file_line_and_column() {
    for (from, to, needle) in [
        (
            "tsan = { may = \"every access is atomic, so there is no data race for ThreadSanitizer",
            "tsan = { mayb = \"x",
            "an expectation table has exactly one key, `may` or `detect-if` (got: mayb)",
        ),
        ("class = \"check-then-act\"", "class = \"toctou\"", "unknown class `toctou`"),
        ("\"stress@armv7\" = \"detect\"", "\"stress@armv9\" = \"detect\"", "`armv9` is not a target of this manifest"),
        (
            "[budgets.quick.stress]\nseconds = 0.5",
            "[budgets.quick.stress]\nseconds = -3",
            "`seconds` must be a number of seconds greater than 0",
        ),
        (
            "shuttle = { may = \"shuttle treats",
            "shuttle = \"may\"\nx = { may = \"shuttle treats",
            "`may` needs a reason",
        ),
        // Durations must be finite and bounded.
        (
            "[budgets.quick.stress]\nseconds = 0.5",
            "[budgets.quick.stress]\nseconds = 0.5\ntimeout = inf",
            "at most 86400",
        ),
        ("[budgets.soak.stress]\nseconds = 60", "[budgets.soak.stress]\nseconds = 1e300", "at most 86400"),
        // Sizes a scenario cannot allocate.
        (
            "[budgets.quick.stress]\nseconds = 0.5",
            "[budgets.quick.stress]\nseconds = 0.5\nops = 9223372036854775807",
            "`ops` must be a whole number from 1 to 10000000",
        ),
        // Unknown keys everywhere, with the known ones listed.
        ("suppressions = \"", "supressions = \"", "detectors.tsan: unknown key `supressions` (known: suppressions)"),
        (
            "[budgets.quick.stress]\nseconds = 0.5",
            "[budgets.quick.stress]\nseconds = 0.5\nschedules = 3",
            "unknown key `schedules` (known: iterations, ops, seconds, suite-seconds, test-timeout, timeout)",
        ),
        // Names become paths: plain components from the runner's registry.
        ("name = \"counter\"", "name = \"../escape\"", "fixture name `../escape` must be"),
        ("name = \"racy-load-store\"", "name = \"/tmp/abs\"", "variant name `/tmp/abs` must be"),
        (
            "name = \"racy-load-store\"",
            "name = \"racy-nope\"",
            "fixture `counter` has no variant `racy-nope` in the runner's registry",
        ),
        // A suite's filterset and features are checked before anything runs.
        (
            "filter = \"test(=concurrent_withdrawals_never_overdraw)\"",
            "filter = \"test(=concurrent_withdrawals_never_overdraw\"",
            "suite `shop-wallet`: invalid filterset: expected `)` closing `test(`",
        ),
        (
            "filters = { loom = \"test(/^loom_tests::/)\" }",
            "filters = { loom = \"test(/^loom_tests::/) && all()\" }",
            "suite `shop-wallet`: invalid filterset: expected a predicate",
        ),
        (
            "name = \"racy\"\nfeatures = [\"racy\"]",
            "name = \"racy\"\nfeatures = [\"raci\"]",
            "the package has no feature `raci` (it has: racy)",
        ),
        // apt package names reach apt-get: Debian's names only.
        (
            "apt = [\"qemu-user\",",
            "apt = [\"-oDebug::pkgProblemResolver=1\", \"qemu-user\",",
            "is not a Debian package name",
        ),
        // A control character in a name is escaped in the message.
        ("name = \"counter\"", "name = \"coun\\nter\"", "fixture name `coun\\nter` must be"),
        // Values of the wrong shape say what is allowed, never serde internals.
        (
            "tsan = { may = \"every access is atomic, so there is no data race for ThreadSanitizer",
            "tsan = 3\nx = { may = \"",
            "an expectation is \"detect\", \"pass\"",
        ),
    ] {
        let (_dir, path) = manifest_with(|t| {
            assert!(t.contains(from), "the manifest no longer contains {from:?}");
            t.replacen(from, to, 1)
        });
        let run = race_hunt(&["--manifest", &path, "--list"]);
        run.assert_code(2);
        let expected_prefix = format!("error: invalid manifest: {path}:");
        assert!(run.stderr.starts_with(&expected_prefix), "{to}: {}", run.stderr);
        let rest = &run.stderr[expected_prefix.len()..];
        let mut parts = rest.splitn(3, ':');
        let line: usize = parts.next().unwrap().parse().expect("a line number");
        let column: usize = parts.next().unwrap().parse().expect("a column number");
        assert!(line > 1 && column >= 1, "{to}: points at {line}:{column}");
        let message = parts.next().unwrap();
        assert!(message.contains(needle), "{to}: {}", run.stderr);
        assert!(!message.contains("untagged") && !message.contains("Raw"), "{to}: serde internals: {message}");
    }
}

/// `--list` prints the total and says what decides a `detect-if`.
#[test]
fn list_prints_the_total_and_what_decides_detect_if() {
    let run = race_hunt(&["--list", "--fixture", "publish", "--detector", "stress"]);
    run.assert_code(0);
    let cells: Vec<&str> = run.stdout.lines().filter(|l| l.contains("  expect ")).collect();
    assert!(!cells.is_empty(), "{}", run.stdout);
    let total = format!("{} cells (", cells.len());
    assert!(run.stdout.lines().any(|l| l.starts_with(&total)), "no `{total}` line:\n{}", run.stdout);
    assert!(
        run.stdout.contains("publish/racy-relaxed stress@x86_64  expect detect-if weak-memory (decided by the target's probe at run time)"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_missing_budget_table_points_at_its_level() {
    // The whole table, whatever knobs it holds.
    let (_dir, path) = manifest_with(|t| {
        let start = t.find("[budgets.quick.chaos]\n").expect("the manifest has [budgets.quick.chaos]");
        let end = start + 1 + t[start + 1..].find("\n[").expect("a table after it") + 1;
        format!("{}{}", &t[..start], &t[end..])
    });
    let run = race_hunt(&["--manifest", &path, "--list"]);
    run.assert_code(2);
    assert!(run.stderr.contains("budget `quick` has no `[budgets.quick.chaos]` table"), "{}", run.stderr);
    assert!(!run.stderr.contains(":0:0:") && !run.stderr.contains(":1:1:"), "{}", run.stderr);
}

#[test]
fn an_uncommented_tsan_suppression_is_a_manifest_error() {
    let dir = tempfile::tempdir().unwrap();
    let supp = dir.path().join("supp.txt");
    std::fs::write(&supp, "# reviewed: libfoo's init is ordered by pthread_once\nrace:libfoo::init\nrace:libbar::*\n")
        .unwrap();
    let (_d, path) = manifest_with(|t| {
        let from = format!("suppressions = \"{}/ci/tsan-suppressions.txt\"", root().display());
        assert!(t.contains(&from));
        t.replace(&from, &format!("suppressions = \"{}\"", supp.display()))
    });
    let run = race_hunt(&["--manifest", &path, "--list"]);
    run.assert_code(2);
    assert!(
        run.stderr.contains(&format!("{}:3:1: suppression `race:libbar::*` has no comment saying why", supp.display())),
        "{}",
        run.stderr
    );
}

#[test]
fn calibrate_usage_errors_exit_2() {
    for (args, needle) in [
        (&["calibrate", "--runs", "0"][..], "--runs must be at least 1"),
        (&["calibrate", "--runs", "1", "--", "--detector", "helgrind"][..], "unknown detector `helgrind`"),
        (&["calibrate", "--runs", "1", "--", "--seed", "3"][..], "`--seed` is chosen by calibrate"),
        (&["calibrate", "--runs", "1", "--", "--seed=3"][..], "`--seed` is chosen by calibrate"),
        (&["calibrate", "--runs", "1", "--", "--json=r.json"][..], "`--json` is chosen by calibrate"),
        (&["calibrate", "--runs", "many"][..], "invalid value 'many'"),
    ] {
        let out = xtask().args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
}

#[test]
fn a_wrong_expectation_fails_the_gate_with_exit_1() {
    // Declare the fixed counter racy and the racy one fixed: the harness
    // must grade both cells `fail` from what it really observed.
    let (_dir, path) = manifest_with(|t| {
        t.replacen(
            "name = \"racy-unsync\"\nracy = true\nclass = \"data-race\"",
            "name = \"racy-unsync\"\nracy = false",
            1,
        )
        .replacen(
            "name = \"fixed-fetch-add\"\nracy = false",
            "name = \"fixed-fetch-add\"\nracy = true\nclass = \"atomicity\"",
            1,
        )
    });
    let junit_dir = tempfile::tempdir().unwrap();
    let junit = junit_dir.path().join("junit.xml");
    let run = race_hunt(&[
        "--manifest",
        &path,
        "--detector",
        "stress",
        "--fixture",
        "counter",
        "--junit",
        junit.to_str().unwrap(),
    ]);
    run.assert_code(1);
    let xml = std::fs::read_to_string(&junit).unwrap();
    // The third cell, racy-load-store, fails too: the variant declared fixed
    // shows the same finding (lost updates at the same oracle), so its
    // detection says nothing about its own bug.
    assert!(xml.contains("tests=\"3\" failures=\"3\" errors=\"0\""), "{xml}");
    assert_eq!(xml.matches("<failure message=").count(), 3, "{xml}");
    let report = run.report();
    assert_eq!(report.summary.gate, Gate::Fail);
    assert_eq!(report.summary.fail, 3, "{}", run.stdout);
    let other = run.cell("counter/racy-load-store", "stress", "x86_64");
    if other.outcome == Outcome::Detected {
        assert!(
            other
                .not_credited
                .as_deref()
                .is_some_and(|r| r.starts_with("the fixed variant racy-unsync shows the same finding ")
                    && r.ends_with(": this detection is not the bug's")),
            "{other:#?}"
        );
    }
    assert_eq!(other.verdict, Verdict::Fail);
    let flagged = run.cell("counter/racy-unsync", "stress", "x86_64");
    assert_eq!((flagged.outcome, flagged.verdict), (Outcome::Detected, Verdict::Fail));
    let missed = run.cell("counter/fixed-fetch-add", "stress", "x86_64");
    assert_eq!((missed.outcome, missed.verdict), (Outcome::Clean, Verdict::Fail));
    assert!(
        run.stdout
            .contains("FAIL counter/fixed-fetch-add stress@x86_64: expected a detection; the whole budget ran clean"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_missing_prerequisite_skips_cells_and_fails_under_require_all() {
    // A user's own runner setting wins and is never installed for them.
    let env = [("CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER", "/nonexistent/qemu-aarch64")];
    let args = ["--target", "aarch64", "--detector", "stress", "--fixture", "counter", "--budget", "quick"];
    let run = race_hunt_env(&args, &env);
    run.assert_code(0);
    for c in run.cells() {
        assert_eq!(c.outcome, Outcome::Skipped);
        assert!(c.reason.as_ref().unwrap().contains("missing program `/nonexistent/qemu-aarch64`"), "{c:#?}");
    }
    assert_eq!(run.report().targets[0].runner_source.as_deref(), Some("user"));
    let mut strict: Vec<&str> = args.to_vec();
    strict.push("--require-all");
    let run = race_hunt_env(&strict, &env);
    run.assert_code(3);
    assert_eq!(run.report().summary.gate, Gate::MissingPrerequisites);
}

#[test]
fn the_readme_documents_every_flag_and_every_exit_code() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    for sub in [
        &["race-hunt", "--help"][..],
        &["race-hunt", "replay", "--help"],
        &["race-hunt", "baseline", "--help"],
        &["calibrate", "--help"],
        &["setup", "--help"],
    ] {
        let out = xtask().args(sub).output().unwrap();
        let help = String::from_utf8_lossy(&out.stdout);
        let flags: Vec<&str> = help
            .split_whitespace()
            .filter(|w| w.starts_with("--") && w.len() > 2)
            .map(|w| w.trim_end_matches(|c: char| !c.is_ascii_alphanumeric()))
            .filter(|w| *w != "--help")
            .collect();
        assert!(!flags.is_empty(), "no flags found in the help of {sub:?}: {help}");
        for flag in flags {
            assert!(readme.contains(flag), "README.md does not mention {flag} (from `cargo xtask {}`)", sub.join(" "));
        }
    }
    for code in ["| 0 ", "| 1 ", "| 2 ", "| 3 ", "| 4 ", "| 130 ", "| 143 "] {
        assert!(readme.contains(code), "README.md's exit-code table lacks {code}");
    }
}

#[test]
fn every_run_reports_how_busy_it_kept_the_cores() {
    let run = race_hunt(&["--fixture", "counter", "--detector", "stress", "--budget", "quick"]);
    run.assert_code(0);
    let report = run.report();
    let u = report.usage.clone().expect("the report says how busy the cores were");
    assert_eq!(u.cores, std::thread::available_parallelism().unwrap().get());
    assert_eq!(u.wall_ms, report.elapsed_ms);
    assert!(u.build_ms <= u.wall_ms, "{u:?}");
    // The stress runners spin their threads for the cells' budget: their
    // CPU time is counted (a count of race-hunt's own time alone would be a
    // few milliseconds), and no more than the cores could give.
    let cell_ms: u64 = report.cells.iter().map(|c| c.elapsed_ms).sum();
    assert!(u.busy_core_ms > cell_ms / 10, "{u:?}: {cell_ms} ms of cells");
    assert!(u.busy_core_ms <= u.cores as u64 * u.wall_ms + 1000, "{u:?}");
    let line = run.stdout.lines().find(|l| l.starts_with("cores: ")).expect("the usage line");
    assert!(line.contains(&format!("of {} busy on average", u.cores)), "{line}");
    assert!(line.contains(&format!("{:.0}% utilization", 100.0 * u.utilization())), "{line}");
}
