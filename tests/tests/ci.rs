//! CI fan-out and fan-in, proven locally: the generated matrix run entry by
//! entry with the hunt jobs' own command, the gate over their reports, and
//! the gate's refusals.

use std::path::Path;

use race_hunt_tests::{as_a_developer, full_matrix, root, text, xtask, Gate, Report};

fn gate(reports: &[&Path], extra: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = xtask();
    cmd.args(["race-hunt", "gate", "--local"]).args(extra).args(reports);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

#[test]
fn the_local_matrix_runs_every_entry_and_the_gate_checks_completeness() {
    // Every entry, exactly as the hunt jobs run it (every fixture and suite
    // at the standard budget CI gates on), then the gate: the test run's
    // shared full matrix.
    let matrix = full_matrix();
    let shown = &matrix.output;
    assert_eq!(matrix.code, 0, "{shown}");
    assert!(shown.contains("every planned cell present once"), "{shown}");
    // The native arm64 entry ran and was reported as not planned here.
    assert!(shown.contains("hunt threads-aarch64-native-1: exit 0"), "{shown}");
    let merged = &matrix.merged;
    assert_eq!(merged.summary.gate, Gate::Pass);
    assert!(merged.not_planned.iter().any(|n| n.target == "aarch64-native" && n.reason.contains("aarch64 hardware")));

    let mut reports: Vec<std::path::PathBuf> = std::fs::read_dir(&matrix.reports)
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
        // As in a hunt job: under GitHub Actions, annotations left to the gate.
        .env("GITHUB_ACTIONS", "true")
        .env("RACE_HUNT_ANNOTATE", "0")
        .output()
        .unwrap();
    assert_eq!(hunt.status.code(), Some(1), "{}", text(&hunt));
    assert!(!text(&hunt).contains("::error"), "the hunt job annotated too:\n{}", text(&hunt));
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

// ---------------------------------------------------------------------------
// The workflow's own logic, proven here: GitHub is not reachable, so the
// tests read both workflows (race-hunt's and the template `init` renders)
// with a YAML parser and run their steps' scripts locally.

use yaml_rust2::{Yaml, YamlLoader};

/// race-hunt's own workflow and the template `init` writes.
const WORKFLOWS: [&str; 2] = [".github/workflows/race-hunt.yml", "xtask/engine/templates/race-hunt.yml"];

fn workflow(path: &str) -> Yaml {
    let text = std::fs::read_to_string(root().join(path)).unwrap();
    YamlLoader::load_from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}")).remove(0)
}

fn steps<'a>(y: &'a Yaml, job: &str) -> &'a [Yaml] {
    y["jobs"][job]["steps"].as_vec().unwrap_or_else(|| panic!("no job {job}"))
}

fn step<'a>(y: &'a Yaml, job: &str, name: &str) -> &'a Yaml {
    steps(y, job).iter().find(|s| s["name"].as_str() == Some(name)).unwrap_or_else(|| panic!("{job}: no step {name}"))
}

/// A step's `run:` as GitHub runs it (`bash --noprofile --norc -eo pipefail
/// FILE`), from `dir`, with `env`.
fn run_step(script: &str, dir: &Path, env: &[(&str, &str)]) -> std::process::Output {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), script).unwrap();
    let mut cmd = std::process::Command::new("bash");
    cmd.args(["--noprofile", "--norc", "-eo", "pipefail"]).arg(file.path()).current_dir(dir);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

#[test]
fn the_gate_runs_on_every_run_and_passes_only_when_every_needed_job_succeeded() {
    const RESULTS: [&str; 4] = ["success", "failure", "cancelled", "skipped"];
    for path in WORKFLOWS {
        let y = workflow(path);
        let gate = &y["jobs"]["gate"];
        // Never skipped: a skipped required check counts as success, so a
        // cancelled run (or a failed dependency) would merge unhunted.
        assert_eq!(gate["if"].as_str(), Some("${{ always() }}"), "{path}");
        let needs: Vec<&str> = gate["needs"].as_vec().unwrap().iter().map(|n| n.as_str().unwrap()).collect();
        let jobs: Vec<&str> = y["jobs"].as_hash().unwrap().keys().map(|k| k.as_str().unwrap()).collect();
        let others: Vec<&str> = jobs.iter().copied().filter(|j| *j != "gate").collect();
        assert_eq!(needs, others, "{path}: the gate needs every other job");
        // Its first step checks the needed jobs' results, whatever happened.
        let steps = steps(&y, "gate");
        let check = &steps[0];
        assert_eq!(check["name"].as_str(), Some("every needed job succeeded"), "{path}");
        assert_eq!(check["if"].as_str(), Some("${{ always() }}"), "{path}");
        assert_eq!(check["env"]["NEEDS"].as_str(), Some("${{ toJSON(needs) }}"), "{path}");
        // The others still run after it failed (for the merged matrix and
        // the annotations), but not once the run was cancelled.
        for s in &steps[1..] {
            assert_eq!(s["if"].as_str(), Some("${{ !cancelled() }}"), "{path}: {:?}", s["name"]);
        }
        let script = check["run"].as_str().unwrap();
        // Every combination of the needed jobs' results.
        let n = needs.len() as u32;
        for combo in 0..RESULTS.len().pow(n) {
            let results: Vec<&str> = (0..n).map(|i| RESULTS[combo / RESULTS.len().pow(i) % RESULTS.len()]).collect();
            let json: serde_json::Map<String, serde_json::Value> = needs
                .iter()
                .zip(&results)
                .map(|(job, r)| (job.to_string(), serde_json::json!({ "result": r, "outputs": {} })))
                .collect();
            let out = run_step(script, &root(), &[("NEEDS", &serde_json::Value::Object(json).to_string())]);
            let all_ok = results.iter().all(|r| *r == "success");
            assert_eq!(out.status.success(), all_ok, "{path}: {results:?}\n{}", text(&out));
            if !all_ok {
                assert!(text(&out).contains("::error::a needed job did not succeed"), "{}", text(&out));
            }
        }
        // Nothing to check is not a success either.
        assert!(!run_step(script, &root(), &[("NEEDS", "{}")]).status.success(), "{path}");
    }
}

/// `[toolchains] nightly` of a manifest, read with a TOML parser.
fn pinned_nightly(manifest: &str) -> String {
    let t: toml::Table = manifest.parse().unwrap();
    t["toolchains"]["nightly"].as_str().unwrap().to_string()
}

#[test]
fn the_rust_cache_is_keyed_on_the_pinned_nightly_and_keeps_miris_sysroot() {
    let manifest = std::fs::read_to_string(root().join("race-hunt.toml")).unwrap();
    for (path, jobs) in [(WORKFLOWS[0], &["tests", "hunt"][..]), (WORKFLOWS[1], &["hunt"][..])] {
        let y = workflow(path);
        for job in jobs {
            let steps = steps(&y, job);
            let at = |pred: &dyn Fn(&Yaml) -> bool| steps.iter().position(pred);
            let pin = at(&|s| s["id"].as_str() == Some("toolchain")).unwrap_or_else(|| panic!("{path} {job}"));
            let cache = at(&|s| s["uses"].as_str().is_some_and(|u| u.starts_with("Swatinem/rust-cache@"))).unwrap();
            assert!(pin < cache, "{path} {job}: the key is read before the cache is restored");
            let with = &steps[cache]["with"];
            assert!(
                with["key"].as_str().unwrap().contains("${{ steps.toolchain.outputs.nightly }}"),
                "{path} {job}: {:?}",
                with["key"]
            );
            assert!(with["cache-directories"].as_str().unwrap().lines().any(|l| l.trim() == "~/.cache/miri"));
            // The step itself: it reads the pin, a bump changes the key, and
            // a manifest without one fails rather than keying on nothing.
            let script = steps[pin]["run"].as_str().unwrap();
            let bumped = manifest.replace(&pinned_nightly(&manifest), "nightly-2099-01-31");
            for m in [manifest.clone(), bumped] {
                let dir = tempfile::tempdir().unwrap();
                std::fs::write(dir.path().join("race-hunt.toml"), &m).unwrap();
                let output = dir.path().join("output");
                let out = run_step(script, dir.path(), &[("GITHUB_OUTPUT", output.to_str().unwrap())]);
                assert!(out.status.success(), "{}", text(&out));
                let written = std::fs::read_to_string(&output).unwrap();
                assert_eq!(written, format!("nightly={}\n", pinned_nightly(&m)), "{path} {job}");
            }
            let dir = tempfile::tempdir().unwrap();
            std::fs::write(dir.path().join("race-hunt.toml"), "[toolchains]\n").unwrap();
            let output = dir.path().join("output");
            let out = run_step(script, dir.path(), &[("GITHUB_OUTPUT", output.to_str().unwrap())]);
            assert!(!out.status.success(), "{}", text(&out));
        }
    }
}

#[test]
fn artifacts_expire_and_failing_cells_are_annotated_by_the_gate_alone() {
    for path in WORKFLOWS {
        let y = workflow(path);
        let mut uploads = 0;
        for (job, def) in y["jobs"].as_hash().unwrap() {
            for s in def["steps"].as_vec().unwrap() {
                if s["uses"].as_str().is_some_and(|u| u.starts_with("actions/upload-artifact@")) {
                    uploads += 1;
                    let days = s["with"]["retention-days"].as_i64();
                    assert!(days.is_some_and(|d| (1..=30).contains(&d)), "{path} {job:?}: {:?}", s["name"]);
                }
            }
        }
        assert!(uploads >= 3, "{path}");
        // The hunt jobs do not annotate (RACE_HUNT_ANNOTATE=0); the gate,
        // which merges their reports, does.
        assert_eq!(y["jobs"]["hunt"]["env"]["RACE_HUNT_ANNOTATE"].as_str(), Some("0"), "{path}");
        assert!(y["env"]["RACE_HUNT_ANNOTATE"].is_badvalue(), "{path}");
        assert!(y["jobs"]["gate"]["env"]["RACE_HUNT_ANNOTATE"].is_badvalue(), "{path}");
        let merge = step(&y, "gate", "merge the reports and gate");
        assert!(merge["env"]["RACE_HUNT_ANNOTATE"].is_badvalue(), "{path}");
        assert!(merge["run"].as_str().unwrap().contains("race-hunt gate"), "{path}");
    }
}

/// A directory of stand-ins that log their arguments to `log`, first on
/// `PATH`; `scripts` maps a name to its body after the logging line.
fn shims(dir: &Path, log: &Path, scripts: &[(&str, &str)]) -> String {
    use std::os::unix::fs::PermissionsExt;
    for (name, body) in scripts {
        let path = dir.join(name);
        std::fs::write(&path, format!("#!/bin/sh\necho \"{name} $*\" >>'{}'\n{body}\n", log.display())).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    dir.display().to_string()
}

#[test]
fn the_lints_run_on_the_pinned_toolchain() {
    // Stable floats; the lints (clippy with -D warnings, rustfmt) do not.
    let lint = std::fs::read_to_string(root().join("ci/lint.sh")).unwrap();
    let pinned = lint
        .lines()
        .find_map(|l| l.strip_prefix("lint_toolchain="))
        .expect("ci/lint.sh pins lint_toolchain=")
        .trim()
        .to_string();
    assert!(pinned.split('.').count() == 3 && pinned.split('.').all(|p| p.parse::<u32>().is_ok()), "{pinned}");
    // ci/lint.sh with cargo and rustup standing in (the toolchain missing):
    // it installs the pinned one and runs rustfmt and clippy on it.
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let bin = shims(
        dir.path(),
        &log,
        &[
            ("cargo", "exit 0"),
            ("rustup", "case \"$1\" in run) exit 1 ;; component) [ \"$2\" = list ] && exit 0 ;; esac\nexit 0"),
        ],
    );
    let path = format!("{bin}:{}", std::env::var("PATH").unwrap());
    let out = as_a_developer("bash").arg("ci/lint.sh").env("PATH", path).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let calls = std::fs::read_to_string(&log).unwrap();
    assert!(
        calls.contains(&format!("rustup toolchain install {pinned} --profile minimal --component rustfmt,clippy")),
        "{calls}"
    );
    let cargo: Vec<&str> = calls.lines().filter(|l| l.starts_with("cargo ")).collect();
    assert!(cargo.iter().any(|l| l.starts_with(&format!("cargo +{pinned} fmt --all --check"))), "{calls}");
    assert!(cargo.iter().any(|l| l.starts_with(&format!("cargo +{pinned} clippy "))), "{calls}");
    assert!(cargo.iter().all(|l| l.starts_with(&format!("cargo +{pinned} "))), "{calls}");
    // CI's tests job lints through the same script.
    let y = workflow(WORKFLOWS[0]);
    assert!(step(&y, "tests", "test")["run"].as_str().unwrap().starts_with("bash ci/test.sh"));
    let test_sh = std::fs::read_to_string(root().join("ci/test.sh")).unwrap();
    assert!(test_sh.lines().any(|l| l == "bash ci/lint.sh"), "{test_sh}");
}

#[test]
fn setup_installs_the_pinned_nextest_for_a_suite_column() {
    // No cargo-nextest on PATH, and a cargo whose `install` fails (logged):
    // setup asks for the pinned release and reports the column missing.
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let real = |p: &str| {
        let out = std::process::Command::new("sh").args(["-c", &format!("command -v {p}")]).output().unwrap();
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    let cargo = real("cargo");
    let bin = shims(
        dir.path(),
        &log,
        &[
            ("cargo", &format!("[ \"$1\" = install ] && exit 1\nexec '{cargo}' \"$@\"")),
            ("rustup", &format!("exec '{}' \"$@\"", real("rustup"))),
        ],
    );
    let rest: Vec<String> = std::env::split_paths(&std::env::var_os("PATH").unwrap())
        .filter(|d| !d.join("cargo-nextest").exists())
        .map(|d| d.display().to_string())
        .collect();
    let out = xtask()
        .args(["setup", "--detector", "stress", "--target", "x86_64", "--fixture", "shop-wallet"])
        .env("PATH", format!("{bin}:{}", rest.join(":")))
        .output()
        .unwrap();
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(3), "{shown}");
    let version = {
        let src = std::fs::read_to_string(root().join("xtask/engine/src/nextest.rs")).unwrap();
        let l = src.lines().find(|l| l.starts_with("pub const NEXTEST_VERSION: &str = ")).unwrap();
        l.split('"').nth(1).unwrap().to_string()
    };
    assert!(
        shown.contains(&format!(
            "MISSING  stress@x86_64: missing program `cargo-nextest`: `cargo install --locked cargo-nextest@{version}` failed"
        )),
        "{shown}"
    );
    let calls = std::fs::read_to_string(&log).unwrap();
    assert!(calls.lines().any(|l| l == format!("cargo install --locked cargo-nextest@{version}")), "{calls}");
}
