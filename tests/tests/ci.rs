//! CI fan-out and fan-in, proven locally: the generated matrix run entry by
//! entry with the hunt jobs' own command, the gate over their reports, and
//! the gate's refusals.

use std::path::Path;

use race_hunt_tests::{as_a_developer, root, text, xtask, Gate, Report};

/// What the local matrix hunts in this test: a fixture of real threads, the
/// 32-bit one, and a suite (every column, canaries included), at the
/// standard budget CI gates on.
const SUBJECTS: &str = "counter,session,shop-wallet";

fn gate(reports: &[&Path], extra: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = xtask();
    cmd.args(["race-hunt", "gate", "--local", "--fixture", SUBJECTS]).args(extra).args(reports);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

#[test]
fn the_local_matrix_runs_every_entry_and_the_gate_checks_completeness() {
    // Every entry, exactly as the hunt jobs run it, then the gate.
    let out = as_a_developer("bash").args(["ci/local-matrix.sh", "--fixture", SUBJECTS]).output().unwrap();
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(0), "{shown}");
    assert!(shown.contains("every planned cell present once"), "{shown}");
    // The native arm64 entry ran and was reported as not planned here.
    assert!(shown.contains("hunt threads-aarch64-native-1: exit 0"), "{shown}");
    let merged = Report::from_json(&std::fs::read_to_string(root().join("reports/merged.json")).unwrap()).unwrap();
    assert_eq!(merged.summary.gate, Gate::Pass);
    assert!(merged.not_planned.iter().any(|n| n.target == "aarch64-native" && n.reason.contains("aarch64 hardware")));

    let mut reports: Vec<std::path::PathBuf> = std::fs::read_dir(root().join("reports"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json") && !p.ends_with("merged.json"))
        .collect();
    reports.sort();
    let paths: Vec<&Path> = reports.iter().map(|p| p.as_path()).collect();
    let ok = gate(&paths, &[], &[]);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok));

    // One shard's report missing: the gate names the missing cells.
    let tsan = paths
        .iter()
        .position(|p| p.file_name().unwrap().to_string_lossy().starts_with("tsan-"))
        .expect("a tsan report");
    let mut fewer = paths.clone();
    fewer.remove(tsan);
    let missing = gate(&fewer, &[], &[]);
    assert_eq!(missing.status.code(), Some(1), "{}", text(&missing));
    assert!(
        text(&missing).contains("planned cell(s) missing from the reports: ") && text(&missing).contains("tsan@x86_64"),
        "{}",
        text(&missing)
    );

    // Twice the same report: duplicates.
    let mut twice = paths.clone();
    twice.push(paths[0]);
    let dup = gate(&twice, &[], &[]);
    assert_eq!(dup.status.code(), Some(1));
    assert!(text(&dup).contains("present more than once"), "{}", text(&dup));

    // A report of another manifest is refused.
    let dir = tempfile::tempdir().unwrap();
    let other = dir.path().join("other.json");
    let mut r = Report::from_json(&std::fs::read_to_string(paths[0]).unwrap()).unwrap();
    r.manifest_digest = "0000000000000000".into();
    std::fs::write(&other, serde_json::to_string(&r).unwrap()).unwrap();
    let mut foreign = paths.clone();
    foreign[0] = &other;
    let refused = gate(&foreign, &[], &[]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(text(&refused).contains("made from another manifest"), "{}", text(&refused));
}

#[test]
fn a_flipped_expectation_fails_the_gate_with_an_annotation_at_the_racing_line() {
    // A manifest whose counter/racy-unsync is declared fixed, fanned out to
    // one tsan job: TSan's report on the racing line fails the gate.
    let engine = std::fs::read_to_string(root().join("race-hunt.toml")).unwrap();
    let head = &engine[..engine.find("# --- fixtures").unwrap()];
    let head = head[..head.find("[ci]").unwrap()]
        .replace("\"ci/tsan-suppressions.txt\"", &format!("\"{}/ci/tsan-suppressions.txt\"", root().display()));
    let manifest = format!(
        "{head}[ci]\n[[ci.groups]]\nname = \"tsan\"\ndetectors = [\"tsan\"]\ntargets = [\"x86_64\"]\n\n[[fixtures]]\nname = \"counter\"\nlesson = \"count++\"\n[[fixtures.variants]]\nname = \"racy-unsync\"\nracy = false\n"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("race-hunt.toml");
    std::fs::write(&path, manifest).unwrap();
    let report = dir.path().join("tsan-x86_64-1.json");
    let hunt = xtask()
        .args(["race-hunt", "--manifest"])
        .arg(&path)
        .args(["--detector", "tsan", "--target", "x86_64", "--shard", "1/1", "--budget", "quick", "--json"])
        .arg(&report)
        .output()
        .unwrap();
    assert_eq!(hunt.status.code(), Some(1), "{}", text(&hunt));
    let junit = dir.path().join("merged.junit.xml");
    let mut cmd = xtask();
    cmd.args(["race-hunt", "gate", "--manifest"])
        .arg(&path)
        .arg("--junit")
        .arg(&junit)
        .arg(&report)
        .env("GITHUB_ACTIONS", "true");
    let out = cmd.output().unwrap();
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(1), "{shown}");
    let source = std::fs::read_to_string(root().join("fixtures/counter/src/lib.rs")).unwrap();
    let line = shown
        .lines()
        .find(|l| l.starts_with("::error file=fixtures/counter/src/lib.rs,line="))
        .unwrap_or_else(|| panic!("no annotation at the fixture:\n{shown}"));
    let n: usize =
        line["::error file=fixtures/counter/src/lib.rs,line=".len()..].split(',').next().unwrap().parse().unwrap();
    assert!(source.lines().nth(n - 1).unwrap().contains("unsafe"), "line {n} is not the racing access");
    assert!(line.contains("title=race-hunt%3A counter/racy-unsync tsan@x86_64"), "{line}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("<failure message=\"expected to pass, but the detector flagged it (tsan-report)\""), "{xml}");
    assert!(xml.contains("<property name=\"location\" value=\"fixtures/counter/src/lib.rs:"), "{xml}");
}

#[test]
fn a_gate_over_reports_none_of_which_parses_names_each_file_and_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.json");
    let empty = dir.path().join("empty.json");
    std::fs::write(&empty, "").unwrap();
    let truncated = dir.path().join("truncated.json");
    std::fs::write(&truncated, "{\"schema\": \"race-hunt/v1\", \"cells\": [").unwrap();
    let garbage = dir.path().join("garbage.json");
    std::fs::write(&garbage, "\u{1}not a report at all\n").unwrap();
    for bad in [&missing, &empty, &truncated, &garbage] {
        let out = xtask().args(["race-hunt", "gate"]).arg(bad).output().unwrap();
        let shown = text(&out);
        assert_eq!(out.status.code(), Some(1), "{}: {shown}", bad.display());
        assert!(!shown.contains("panicked"), "{shown}");
        assert!(shown.contains(&format!("{}: ", bad.display())), "{shown}");
        assert!(shown.contains("no report could be read"), "{shown}");
    }
    let all = xtask().args(["race-hunt", "gate"]).args([&missing, &empty, &truncated, &garbage]).output().unwrap();
    assert_eq!(all.status.code(), Some(1), "{}", text(&all));
    for bad in [&missing, &empty, &truncated, &garbage] {
        assert!(text(&all).contains(&format!("{}: ", bad.display())), "{}", text(&all));
    }
}
