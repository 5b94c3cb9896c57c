//! Verdicts on code race-hunt was not written for: a slow test is not a
//! hang, a stuck one is (with the evidence that says so), Miri's interpreter
//! limits are not detections, and two copies of one package are two builds.
//! Each suite here is a scratch package outside this workspace, hunted with
//! the repository's manifest (and its canaries) plus a `[[suites]]` entry.

use std::path::Path;

use race_hunt_tests::{manifest_with, race_hunt, EvidenceKind, Outcome, Run, Verdict};

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// A package named `name` at `dir` whose tests are `tests` (a `#[cfg(test)]`
/// module body), with its own empty workspace so it builds alone.
fn package(dir: &Path, name: &str, tests: &str) {
    write(
        &dir.join("Cargo.toml"),
        &format!("[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace]\n"),
    );
    write(&dir.join("src/lib.rs"), &format!("#[cfg(test)]\nmod tests {{\n{tests}\n}}\n"));
}

const TIMING: &str = r#"
    use std::time::{Duration, Instant};

    #[test]
    fn slow_but_finishes() {
        let t = Instant::now();
        while t.elapsed() < Duration::from_millis(2500) {
            std::hint::spin_loop();
        }
    }

    #[test]
    fn parks_forever() {
        let t = std::thread::spawn(|| loop {
            std::thread::park();
        });
        t.join().unwrap();
    }

    #[test]
    fn opens_a_file() {
        assert!(std::fs::read_to_string("Cargo.toml").unwrap().contains("[package]"));
    }

    #[test]
    fn counts_to_ten() {
        let n = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let hs: Vec<_> = (0..2)
            .map(|_| {
                let n = n.clone();
                std::thread::spawn(move || {
                    for _ in 0..5 {
                        n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        assert_eq!(n.load(std::sync::atomic::Ordering::SeqCst), 10);
    }
"#;

/// The repository's manifest with a 2-second test timeout for stress and
/// `suites` appended.
fn manifest(suites: &str) -> (tempfile::TempDir, String) {
    manifest_with(|text| {
        let text = text.replacen("[budgets.standard.stress]\n", "[budgets.standard.stress]\ntest-timeout = 2\n", 1);
        format!("{text}\n{suites}")
    })
}

fn suite_cell<'a>(run: &'a Run, name: &str, detector: &str) -> &'a race_hunt_report::CellReport {
    run.cells()
        .iter()
        .find(|c| c.fixture == name && c.detector == detector)
        .unwrap_or_else(|| panic!("no {name} {detector} cell\n{}", run.stdout))
}

#[test]
fn a_slow_test_is_clean_with_a_note_and_a_stuck_one_is_a_hang_with_its_threads() {
    let scratch = tempfile::tempdir().unwrap();
    let pkg = scratch.path().join("timing");
    package(&pkg, "timing", TIMING);
    let suites = format!(
        r#"
[[suites]]
name = "timing-slow"
path = "{p}"
filter = "test(=tests::slow_but_finishes)"

[[suites]]
name = "timing-stuck"
path = "{p}"
filter = "test(=tests::parks_forever)"
[[suites.variants]]
name = "racy"
racy = true
class = "check-then-act"
hang-detects = true
"#,
        p = pkg.display()
    );
    let (_dir, m) = manifest(&suites);
    let run = race_hunt(&["--manifest", &m, "--fixture", "timing-slow,timing-stuck", "--detector", "stress"]);
    run.assert_code(0);

    // Stopped at its 2 s test timeout in the hunt, then passed alone: slow,
    // not stuck, so a fixed suite's cell is clean and says why.
    let slow = suite_cell(&run, "timing-slow", "stress");
    assert_eq!((slow.outcome, slow.verdict), (Outcome::Clean, Verdict::Ok), "{slow:#?}");
    // The hunt stopped at that test, so the whole run was made again with
    // the longer timeout before the cell could be called clean.
    assert!(
        slow.notes.iter().any(|n| n.contains("tests::slow_but_finishes")
            && n.contains("not stuck")
            && n.contains("the whole run, again with a 6s test timeout, was clean")),
        "{slow:#?}"
    );

    // Parked forever: the same timeout, and alone it used no CPU, with its
    // threads sleeping: a hang, with that evidence.
    let stuck = suite_cell(&run, "timing-stuck", "stress");
    assert_eq!((stuck.outcome, stuck.verdict), (Outcome::Hang, Verdict::Ok), "{stuck:#?}");
    let e = stuck.evidence.as_ref().unwrap();
    assert_eq!(e.kind, EvidenceKind::Hang);
    assert!(e.message.contains("is stuck") && e.message.contains("no CPU progress"), "{}", e.message);
    assert!(e.message.contains("sleeping"), "the threads' states: {}", e.message);

    // Both suites' cells ran what was built: nothing compiled inside a cell.
    for c in [slow, stuck] {
        let log = std::fs::read_to_string(c.log.as_ref().unwrap()).unwrap();
        assert!(!log.lines().any(|l| l.trim_start().starts_with("Compiling ")), "{}: compiled in the cell", c.id());
    }
}

#[test]
fn miris_unsupported_operation_is_an_error_that_says_how_to_exclude_the_test_and_the_printed_fix_works() {
    let scratch = tempfile::tempdir().unwrap();
    let pkg = scratch.path().join("timing");
    package(&pkg, "timing", TIMING);
    let entry = format!(
        "[[suites]]\nname = \"timing-miri\"\npath = \"{}\"\nfilter = \"test(=tests::opens_a_file) | test(=tests::counts_to_ten)\"\n",
        pkg.display()
    );
    let (_dir, m) = manifest(&entry);
    let run = race_hunt(&["--manifest", &m, "--fixture", "timing-miri", "--detector", "miri"]);
    let c = suite_cell(&run, "timing-miri", "miri");
    // Never a detection: Miri could not run the test.
    assert_eq!(c.outcome, Outcome::Error, "{c:#?}");
    assert!(c.evidence.is_none(), "{c:#?}");
    let reason = c.reason.clone().unwrap_or_default();
    assert!(reason.contains("Miri cannot run test `timing tests::opens_a_file`"), "{reason}");
    assert!(reason.contains("unsupported"), "{reason}");
    run.assert_code(4);

    // The printed fix, added to the suite's entry, lets Miri hunt the rest.
    let fix = reason.split("add to its `[[suites]]` entry: ").nth(1).expect("a printed fix").trim().to_string();
    assert!(fix.starts_with("filters = { miri = "), "{fix}");
    let (_dir2, m2) = manifest(&format!("{entry}{fix}\n"));
    let run = race_hunt(&["--manifest", &m2, "--fixture", "timing-miri", "--detector", "miri"]);
    run.assert_code(0);
    let c = suite_cell(&run, "timing-miri", "miri");
    assert_eq!((c.outcome, c.verdict), (Outcome::Clean, Verdict::Ok), "{c:#?}");
}

#[test]
fn two_copies_of_one_package_at_two_paths_are_two_builds() {
    let scratch = tempfile::tempdir().unwrap();
    let buggy = scratch.path().join("v1/twin");
    let fixed = scratch.path().join("v2/twin");
    package(&buggy, "twin", "#[test]\nfn total() { assert_eq!(2 + 2, 5, \"lost an update\"); }");
    package(&fixed, "twin", "#[test]\nfn total() { assert_eq!(2 + 2, 4); }");
    let suites = format!(
        r#"
[[suites]]
name = "twin-v1"
path = "{}"
[[suites.variants]]
name = "racy"
racy = true
class = "atomicity"

[[suites]]
name = "twin-v2"
path = "{}"
"#,
        buggy.display(),
        fixed.display()
    );
    let (_dir, m) = manifest(&suites);
    let run = race_hunt(&["--manifest", &m, "--fixture", "twin-v1,twin-v2", "--detector", "stress"]);
    run.assert_code(0);
    let v1 = suite_cell(&run, "twin-v1", "stress");
    assert_eq!(v1.outcome, Outcome::Detected, "{v1:#?}");
    assert!(v1.evidence.as_ref().unwrap().message.contains("lost an update"));
    let v2 = suite_cell(&run, "twin-v2", "stress");
    assert_eq!(v2.outcome, Outcome::Clean, "{v2:#?}");
}

fn git(dir: &Path, script: &str) {
    let ok = std::process::Command::new("sh").args(["-c", script]).current_dir(dir).status().unwrap().success();
    assert!(ok, "{script}");
}

#[test]
fn a_pull_request_hunts_the_suites_its_changes_can_affect_and_always_the_canaries() {
    // A repository with two packages, `app` depending on `core` by path, and
    // the repository's manifest (fixtures, canaries) hunting both.
    let (dir, _) = manifest("");
    let repo = dir.path();
    package(&repo.join("core"), "core", "#[test]\nfn adds() { assert_eq!(1 + 1, 2); }");
    package(&repo.join("app"), "app", "#[test]\nfn runs() { assert!(true); }");
    let app_toml = repo.join("app/Cargo.toml");
    let text = std::fs::read_to_string(&app_toml)
        .unwrap()
        .replace("\n[workspace]\n", "\n[dependencies]\ncore = { path = \"../core\" }\n\n[workspace]\n");
    std::fs::write(&app_toml, text).unwrap();
    let m = repo.join("race-hunt.toml");
    let manifest_text = std::fs::read_to_string(&m).unwrap();
    std::fs::write(
        &m,
        format!("{manifest_text}\n[[suites]]\nname = \"core\"\npath = \"core\"\n\n[[suites]]\nname = \"app\"\npath = \"app\"\n"),
    )
    .unwrap();
    git(repo, "git init -q -b main && git config user.email t@t && git config user.name t && printf 'target/\\n' > .gitignore && git add -A && git commit -qm base && git checkout -qb pr");
    let m = m.display().to_string();
    let list = |extra: &[&str]| {
        let mut cmd = race_hunt_tests::xtask_in(repo);
        cmd.args(["race-hunt", "--manifest", &m, "--detector", "stress", "--list"]).args(extra);
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{}", race_hunt_tests::text(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let cells = |text: &str, subject: &str| text.lines().filter(|l| l.starts_with(&format!("{subject}/"))).count();

    // Nothing changed: no suite, no fixture control; the canaries still run.
    let none = list(&["--changed-since", "main"]);
    assert!(none.contains("suite core: not hunted") && none.contains("suite app: not hunted"), "{none}");
    assert_eq!((cells(&none, "core"), cells(&none, "app")), (0, 0), "{none}");
    assert!(none.lines().any(|l| l.starts_with("counter/") && l.contains("stress@x86_64")), "canaries: {none}");
    assert!(none.contains("not planned: app stress@x86_64: unchanged since main"), "{none}");
    let everything = list(&[]);
    assert!(
        everything.lines().filter(|l| l.starts_with("bank/")).count()
            > none.lines().filter(|l| l.starts_with("bank/")).count()
    );

    // `core` changed: `core` and `app` (which depends on it) are hunted.
    git(repo, "echo '// touched' >> core/src/lib.rs && git commit -qam 'touch core'");
    let core = list(&["--changed-since", "main"]);
    assert!(core.contains("suite core: hunted") && core.contains("suite app: hunted"), "{core}");
    assert_eq!((cells(&core, "core"), cells(&core, "app")), (1, 1), "{core}");

    // Only `app` changed (uncommitted): `core` is left out.
    git(repo, "git checkout -q main && git checkout -qb pr2 && echo '// touched' >> app/src/lib.rs");
    let app = list(&["--changed-since", "main"]);
    assert!(app.contains("suite core: not hunted") && app.contains("suite app: hunted"), "{app}");

    // The manifest changed: everything.
    git(repo, "echo '# a comment' >> race-hunt.toml");
    let all = list(&["--changed-since", "main"]);
    assert!(all.contains("everything is hunted: the manifest changed"), "{all}");
    assert_eq!(
        all.lines().filter(|l| l.contains("  expect ")).count(),
        everything.lines().filter(|l| l.contains("  expect ")).count()
    );

    // An unknown REF is a usage error.
    let mut cmd = race_hunt_tests::xtask_in(repo);
    cmd.args(["race-hunt", "--manifest", &m, "--changed-since", "no-such-branch", "--list"]);
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", race_hunt_tests::text(&out));
    assert!(race_hunt_tests::text(&out).contains("cannot find the merge base of `no-such-branch`"));
}
