//! Command-line behaviour: help, usage errors, manifest errors, exit codes.

use race_hunt_tests::{race_hunt, race_hunt_env, root, xtask_binary};

fn manifest_with(edit: impl Fn(String) -> String) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(root().join("race-hunt.toml")).unwrap();
    let path = dir.path().join("race-hunt.toml");
    std::fs::write(&path, edit(text)).unwrap();
    let p = path.display().to_string();
    (dir, p)
}

#[test]
fn help_lists_flags_and_exit_codes() {
    let out = std::process::Command::new(xtask_binary()).args(["race-hunt", "--help"]).output().unwrap();
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
        "2 usage or manifest error",
    ] {
        assert!(text.contains(needle), "help lacks {needle}:\n{text}");
    }
}

#[test]
fn usage_errors_exit_2_and_name_the_choices() {
    for (args, needle) in [
        (
            &["--detector", "helgrind"][..],
            "unknown detector `helgrind` (this manifest has: chaos, shuttle, stress, tsan)",
        ),
        (&["--target", "riscv64"][..], "unknown target `riscv64`"),
        (&["--fixture", "counterr"][..], "unknown fixture `counterr`"),
        (&["--fixture", "counter/racy-nope"][..], "fixture `counter` has no variant `racy-nope`"),
        (&["--budget", "forever"][..], "unknown budget `forever` (this manifest has: quick, soak, standard)"),
        (&["--seed", "many"][..], "invalid value 'many'"),
    ] {
        let run = race_hunt(args);
        run.assert_code(2);
        assert!(run.stderr.contains(needle), "{args:?}: stderr was {}", run.stderr);
        assert!(run.report.is_none(), "{args:?}: no report on a usage error");
    }
}

#[test]
fn manifest_errors_exit_2_with_file_line_and_column() {
    for (from, to, needle) in [
        (
            "tsan = { may = \"every access is atomic, so there is no data race for ThreadSanitizer",
            "tsan = { mayb = \"x",
            "an expectation table has exactly one key",
        ),
        ("class = \"check-then-act\"", "class = \"toctou\"", "unknown class `toctou`"),
        ("\"stress@armv7\" = \"detect\"", "\"stress@armv9\" = \"detect\"", "`armv9` is not a target of this manifest"),
        (
            "[budgets.quick.stress]\niterations = 300",
            "[budgets.quick.stress]\niterations = -3",
            "must be a positive integer",
        ),
        (
            "shuttle = { may = \"shuttle treats",
            "shuttle = \"may\"\nx = { may = \"shuttle treats",
            "`may` needs a reason",
        ),
    ] {
        let (_dir, path) = manifest_with(|t| {
            assert!(t.contains(from), "the manifest no longer contains {from:?}");
            t.replacen(from, to, 1)
        });
        let run = race_hunt(&["--manifest", &path, "--list"]);
        run.assert_code(2);
        let expected_prefix = format!("error: invalid manifest: {path}:");
        assert!(run.stderr.starts_with(&expected_prefix), "{}", run.stderr);
        let rest = &run.stderr[expected_prefix.len()..];
        let mut parts = rest.splitn(3, ':');
        let line: usize = parts.next().unwrap().parse().expect("a line number");
        let column: usize = parts.next().unwrap().parse().expect("a column number");
        assert!(line > 1 && column >= 1);
        assert!(parts.next().unwrap().contains(needle), "{}", run.stderr);
    }
}

#[test]
fn an_uncommented_tsan_suppression_is_a_manifest_error() {
    let dir = tempfile::tempdir().unwrap();
    let supp = dir.path().join("supp.txt");
    std::fs::write(&supp, "# reviewed: libfoo's init is ordered by pthread_once\nrace:libfoo::init\nrace:libbar::*\n")
        .unwrap();
    let (_d, path) = manifest_with(|t| {
        t.replace("suppressions = \"ci/tsan-suppressions.txt\"", &format!("suppressions = \"{}\"", supp.display()))
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
        "--budget",
        "quick",
        "--junit",
        junit.to_str().unwrap(),
    ]);
    run.assert_code(1);
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("<testsuites name=\"race-hunt\" tests=\"3\" failures=\"2\" skipped=\"0\""), "{xml}");
    assert_eq!(xml.matches("<failure message=").count(), 2, "{xml}");
    let report = run.report();
    assert_eq!(report["summary"]["gate"], "fail");
    assert_eq!(report["summary"]["fail"], 2, "{}", run.stdout);
    let flagged = run.cell("counter/racy-unsync", "stress", "x86_64");
    assert_eq!((flagged["outcome"].as_str(), flagged["verdict"].as_str()), (Some("detected"), Some("fail")));
    let missed = run.cell("counter/fixed-fetch-add", "stress", "x86_64");
    assert_eq!((missed["outcome"].as_str(), missed["verdict"].as_str()), (Some("clean"), Some("fail")));
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
        assert_eq!(c["outcome"], "skipped");
        assert!(c["reason"].as_str().unwrap().contains("missing program `/nonexistent/qemu-aarch64`"), "{c:#}");
    }
    assert_eq!(run.report()["targets"][0]["runner_source"], "user");
    let mut strict: Vec<&str> = args.to_vec();
    strict.push("--require-all");
    let run = race_hunt_env(&strict, &env);
    run.assert_code(3);
    assert_eq!(run.report()["summary"]["gate"], "missing-prerequisites");
}

#[test]
fn ctrl_c_kills_running_cells_and_still_writes_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let mut child = std::process::Command::new(xtask_binary())
        .current_dir(root())
        .args([
            "race-hunt",
            "--detector",
            "stress",
            "--fixture",
            "counter/fixed-fetch-add",
            "--budget",
            "soak",
            "--json",
        ])
        .arg(&json)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the cell is running (its runner is a child of ours).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    loop {
        let running = std::process::Command::new("pgrep")
            .args(["-f", "scenario-runner run counter/fixed-fetch-add --iterations 10000000"])
            .output()
            .unwrap();
        if running.status.success() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the soak cell never started");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let started = std::time::Instant::now();
    // SAFETY: kill has no memory-safety preconditions.
    unsafe { libc_kill(child.id() as i32, 2) };
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    assert!(started.elapsed() < std::time::Duration::from_secs(20), "stopping took {:?}", started.elapsed());
    let leftover = std::process::Command::new("pgrep")
        .args(["-f", "scenario-runner run counter/fixed-fetch-add --iterations 10000000"])
        .output()
        .unwrap();
    assert!(!leftover.status.success(), "a runner survived Ctrl-C");
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["cells"][0]["outcome"], "error");
    assert!(report["cells"][0]["reason"].as_str().unwrap().contains("interrupted"));
}

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

#[test]
fn the_readme_documents_every_flag_of_race_hunt() {
    let out = std::process::Command::new(xtask_binary()).args(["race-hunt", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let flags: Vec<&str> = help
        .split_whitespace()
        .filter(|w| w.starts_with("--") && w.len() > 2)
        .map(|w| w.trim_end_matches(|c: char| !c.is_ascii_alphanumeric()))
        .filter(|w| *w != "--help")
        .collect();
    assert!(flags.len() >= 12, "too few flags found in the help: {flags:?}");
    for flag in flags {
        assert!(readme.contains(flag), "README.md does not mention {flag} (from `cargo xtask race-hunt --help`)");
    }
}
