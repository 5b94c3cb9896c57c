//! Baselines and SARIF, end to end on a scratch project: a fixed suite
//! variant whose test is flagged on every run (standing for a race the
//! crate accepts by design), the `race-hunt baseline` command the run
//! prints, the gate passing the baselined cell and failing on a new
//! finding, stale entries, and the SARIF the gate writes.

use std::path::{Path, PathBuf};

use race_hunt_tests::{as_a_developer, root, text, xtask_in, Gate, Report, Verdict};

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

const MANIFEST: &str = r#"[run]
budget = "quick"
targets = ["x86_64"]
detectors = ["stress"]

[targets.x86_64]
triple = "x86_64-unknown-linux-gnu"

[detectors.stress]

[budgets.quick.stress]
seconds = 0.5
suite-seconds = 1

[[suites]]
name = "seqstore"
path = "."
[[suites.variants]]
name = "fixed"
racy = false

[ci]
[[ci.groups]]
name = "threads"
detectors = ["stress"]
"#;

/// `torn_read_is_flagged_by_design` fails until the file `new-bug` exists;
/// then `writers_never_lose_an_update` fails instead: a new finding.
const TESTS: &str = r#"use std::path::Path;

fn marker() -> bool {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("new-bug").exists()
}

#[test]
fn torn_read_is_flagged_by_design() {
    if !marker() {
        panic!("the optimistic read saw a torn value (the version check discards it)");
    }
}

#[test]
fn writers_never_lose_an_update() {
    if marker() {
        panic!("a lost update");
    }
}
"#;

fn scratch() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        &d.join("Cargo.toml"),
        "[package]\nname = \"seqstore\"\nversion = \"0.1.0\"\nedition = \"2021\"\npublish = false\n\n[workspace]\n",
    );
    write(&d.join("src/lib.rs"), "pub fn version() -> u64 {\n    1\n}\n");
    write(&d.join("tests/store.rs"), TESTS);
    write(&d.join("race-hunt.toml"), MANIFEST);
    // `cargo xtask` there runs this repository's xtask, as an adopter's alias would.
    let xtask = root().join("xtask/Cargo.toml");
    write(
        &d.join(".cargo/config.toml"),
        &format!("[alias]\nxtask = \"run --quiet --locked --manifest-path {} --\"\n", xtask.display()),
    );
    dir
}

/// A hunt of the scratch project with its report at `json`.
fn hunt(dir: &Path, json: &Path) -> (i32, String, Report) {
    let out = xtask_in(dir).args(["race-hunt", "--json"]).arg(json).output().unwrap();
    let shown = text(&out);
    let report = Report::from_json(&std::fs::read_to_string(json).unwrap_or_else(|e| panic!("{e}: {shown}")))
        .unwrap_or_else(|e| panic!("{e}: {shown}"));
    (out.status.code().unwrap_or(-1), shown, report)
}

fn gate(dir: &Path, report: &Path, sarif: &Path) -> (i32, String) {
    let out = xtask_in(dir).args(["race-hunt", "gate", "--sarif"]).arg(sarif).arg(report).output().unwrap();
    (out.status.code().unwrap_or(-1), text(&out))
}

#[test]
fn a_baselined_finding_passes_the_gate_and_a_new_one_fails_it() {
    let dir = scratch();
    let d = dir.path();
    let reports = tempfile::tempdir().unwrap();
    let r = |name: &str| -> PathBuf { reports.path().join(name) };

    // 1. The fixed variant is flagged: the run fails and prints how to baseline it.
    let (code, shown, first) = hunt(d, &r("first.json"));
    assert_eq!(code, 1, "{shown}");
    let cell = first.cell("seqstore/fixed", "stress", "x86_64").unwrap();
    assert_eq!(cell.verdict, Verdict::Fail, "{shown}");
    let e = cell.evidence.as_ref().unwrap();
    assert!(e.test.as_deref().unwrap().ends_with("torn_read_is_flagged_by_design"), "{e:?}");
    assert_eq!(e.fingerprints.len(), 1);
    let known = e.fingerprints[0].clone();
    let printed = shown
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("cargo xtask race-hunt baseline "))
        .unwrap_or_else(|| panic!("no baseline command printed: {shown}"));
    assert!(printed.ends_with("--out race-hunt-baseline.toml --reason 'WHY'"), "{printed}");

    // 2. The printed command, as a developer runs it from the project's root.
    let out = as_a_developer("bash").current_dir(d).args(["-c", printed]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("baseline: 1 finding(s) in race-hunt-baseline.toml (1 new, 0 kept)"), "{}", text(&out));
    assert!(text(&out).contains("under [run], baseline = \"race-hunt-baseline.toml\""), "{}", text(&out));
    let file = std::fs::read_to_string(d.join("race-hunt-baseline.toml")).unwrap();
    assert!(file.contains(&format!("fingerprint = \"{known}\"")) && file.contains("reason = \"WHY\""), "{file}");
    assert!(file.contains("cells = [\"seqstore/fixed stress@x86_64\"]"), "{file}");

    // The gate refuses a report graded without the baseline the manifest now names.
    let manifest = MANIFEST.replace(
        "detectors = [\"stress\"]\n\n",
        "detectors = [\"stress\"]\nbaseline = \"race-hunt-baseline.toml\"\n\n",
    );
    write(&d.join("race-hunt.toml"), &manifest);
    let (code, shown) = gate(d, &r("first.json"), &r("first.sarif"));
    assert_eq!(code, 1, "{shown}");
    assert!(shown.contains("graded without the baseline this manifest names (race-hunt-baseline.toml)"), "{shown}");

    // 3. With the baseline: the fixed cell is ok, "baselined: WHY", and the gate passes.
    let (code, shown, second) = hunt(d, &r("second.json"));
    assert_eq!(code, 0, "{shown}");
    let cell = second.cell("seqstore/fixed", "stress", "x86_64").unwrap();
    assert_eq!((cell.verdict, cell.reason.as_deref()), (Verdict::Ok, Some("baselined: WHY")), "{shown}");
    assert_eq!(
        cell.evidence.as_ref().unwrap().fingerprints,
        std::slice::from_ref(&known),
        "the same finding, run after run"
    );
    let status = second.baseline.as_ref().expect("the report names its baseline");
    assert_eq!((status.matched.as_slice(), status.stale.len()), (std::slice::from_ref(&known), 0));
    let (code, shown) = gate(d, &r("second.json"), &r("second.sarif"));
    assert_eq!(code, 0, "{shown}");
    let sarif: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(r("second.sarif")).unwrap()).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    let ours = results
        .iter()
        .find(|x| x["partialFingerprints"]["raceHunt/v1"] == known.as_str())
        .unwrap_or_else(|| panic!("no result for {known}: {sarif}"));
    assert_eq!((ours["level"].as_str(), ours["ruleId"].as_str()), (Some("note"), Some("stress/test-failure")));
    assert_eq!(ours["suppressions"][0]["justification"], "WHY");
    assert_eq!(ours["locations"][0]["physicalLocation"]["artifactLocation"]["uri"], "tests/store.rs");

    // 4. A new finding fails as before, and the old entry is stale (a warning).
    write(&d.join("new-bug"), "");
    let (code, shown, third) = hunt(d, &r("third.json"));
    assert_eq!(code, 1, "{shown}");
    let cell = third.cell("seqstore/fixed", "stress", "x86_64").unwrap();
    assert_eq!(cell.verdict, Verdict::Fail, "{shown}");
    assert!(cell.evidence.as_ref().unwrap().test.as_deref().unwrap().ends_with("writers_never_lose_an_update"));
    assert_ne!(cell.evidence.as_ref().unwrap().fingerprints, std::slice::from_ref(&known));
    let status = third.baseline.as_ref().unwrap();
    assert_eq!(status.stale.len(), 1, "{status:?}");
    assert_eq!(status.stale[0].fingerprint, known);
    assert!(shown.contains("warning: 1 baseline entry of race-hunt-baseline.toml no longer shown"), "{shown}");
    let (code, shown) = gate(d, &r("third.json"), &r("third.sarif"));
    assert_eq!(code, 1, "{shown}");
    assert!(shown.contains("warning: 1 baseline entry"), "the gate reports stale entries too: {shown}");
    let merged: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(r("third.sarif")).unwrap()).unwrap();
    let levels: Vec<&str> =
        merged["runs"][0]["results"].as_array().unwrap().iter().filter_map(|x| x["level"].as_str()).collect();
    assert!(levels.contains(&"error"), "{merged}");
    assert_eq!(third.summary.gate, Gate::Fail);

    // 5. The gate prints the same command for its merged report: run as printed, it
    //    adds the new finding and keeps the old entry with its reason.
    let printed = shown
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("cargo xtask race-hunt baseline "))
        .unwrap_or_else(|| panic!("the gate printed no baseline command: {shown}"));
    let out = as_a_developer("bash").current_dir(d).args(["-c", printed]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("baseline: 2 finding(s) in race-hunt-baseline.toml (1 new, 1 kept)"), "{}", text(&out));
    let (code, shown) = gate(d, &r("third.json"), &r("third.sarif"));
    assert_eq!(code, 1, "a report graded with the old baseline: {shown}");
    assert!(shown.contains("graded with another baseline"), "{shown}");
    let (code, shown, fourth) = hunt(d, &r("fourth.json"));
    assert_eq!(code, 0, "{shown}");
    assert_eq!(fourth.cell("seqstore/fixed", "stress", "x86_64").unwrap().reason.as_deref(), Some("baselined: WHY"));
}

/// ThreadSanitizer's real reports, two runs with other seeds (other
/// addresses, threads, iterations): the finding a variant declared fixed
/// shows on every run has the same fingerprint each time, so the baseline
/// written from the first run passes the second.
#[test]
fn a_thread_sanitizer_finding_keeps_its_fingerprint_from_run_to_run() {
    let engine = std::fs::read_to_string(root().join("race-hunt.toml")).unwrap();
    let head = &engine[..engine.find("# --- fixtures").unwrap()];
    let head = head[..head.find("[ci]").unwrap()]
        .replace("\"ci/tsan-suppressions.txt\"", &format!("\"{}/ci/tsan-suppressions.txt\"", root().display()));
    let manifest = format!(
        "{head}[ci]\n[[ci.groups]]\nname = \"tsan\"\ndetectors = [\"tsan\"]\ntargets = [\"x86_64\"]\n\n[[fixtures]]\nname = \"counter\"\nlesson = \"count++\"\n[[fixtures.variants]]\nname = \"racy-unsync\"\nracy = false\n"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("race-hunt.toml");
    std::fs::write(&path, &manifest).unwrap();
    let hunt = |seed: &str, json: &Path| {
        let out = xtask_in(dir.path())
            .args([
                "race-hunt",
                "--detector",
                "tsan",
                "--target",
                "x86_64",
                "--budget",
                "quick",
                "--seed",
                seed,
                "--json",
            ])
            .arg(json)
            .output()
            .unwrap();
        let report =
            Report::from_json(&std::fs::read_to_string(json).unwrap_or_else(|e| panic!("{e}: {}", text(&out))))
                .unwrap();
        (out.status.code(), text(&out), report)
    };
    let first_json = dir.path().join("first.json");
    let (code, shown, first) = hunt("11", &first_json);
    assert_eq!(code, Some(1), "{shown}");
    let cell = first.cell("counter/racy-unsync", "tsan", "x86_64").unwrap();
    let e = cell.evidence.as_ref().unwrap();
    assert_eq!(e.kind, race_hunt_tests::EvidenceKind::TsanReport, "{shown}");
    assert!(!e.fingerprints.is_empty());
    assert!(e.findings.iter().all(|f| f.fingerprint.as_ref().is_some_and(|fp| e.fingerprints.contains(fp))));

    let out = xtask_in(dir.path())
        .args([
            "race-hunt",
            "baseline",
            "--out",
            "race-hunt-baseline.toml",
            "--reason",
            "a counter that tolerates lost updates",
        ])
        .arg(&first_json)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    std::fs::write(&path, manifest.replacen("[run]\n", "[run]\nbaseline = \"race-hunt-baseline.toml\"\n", 1)).unwrap();

    // TSan reports one race per address, the first pair of accesses it
    // sees (write/write or read/write): a run may show another pair of the
    // same bug. The same pair must have the same fingerprint; another pair
    // is a new finding and fails the cell, as it should. Up to three more
    // runs, until one shows a pair the first showed.
    let pair = |summary: &str| {
        let mut sides: Vec<String> = summary
            .split(" races with ")
            .map(|side| side.split(" (").next().unwrap_or(side).trim_start_matches("data race: ").to_string())
            .collect();
        sides.sort();
        sides
    };
    let mut compared = false;
    for seed in ["12", "13", "14"] {
        let (code, shown, second) = hunt(seed, &dir.path().join(format!("run-{seed}.json")));
        let again = second.cell("counter/racy-unsync", "tsan", "x86_64").unwrap();
        let e2 = again.evidence.as_ref().unwrap_or_else(|| panic!("no evidence: {shown}"));
        let mut all_known = true;
        for f in &e2.findings {
            match e.findings.iter().find(|old| pair(&old.summary) == pair(&f.summary)) {
                Some(old) => {
                    compared = true;
                    assert_eq!(old.fingerprint, f.fingerprint, "the same race, the same fingerprint: {}", f.summary);
                }
                None => all_known = false,
            }
        }
        if all_known {
            assert_eq!(code, Some(0), "{shown}");
            assert_eq!(
                (again.verdict, again.reason.as_deref()),
                (Verdict::Ok, Some("baselined: a counter that tolerates lost updates")),
                "{shown}"
            );
        } else {
            assert_eq!((code, again.verdict), (Some(1), Verdict::Fail), "another pair is a new finding: {shown}");
        }
        if compared {
            break;
        }
    }
    assert!(compared, "four runs of one race never showed the same pair of accesses twice: {:?}", e.findings);
}
