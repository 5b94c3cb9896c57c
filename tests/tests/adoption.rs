//! Another repository adopts race-hunt exactly as the README says ("Hunting
//! your own crate"): a thin xtask that depends on the engine, `race-hunt
//! init`, and the gate on its own ordinary threaded test.

use std::path::Path;
use std::process::Command;

use race_hunt_tests::{finish, root, Gate, Outcome, Report, Subject};

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// `cargo xtask ...` in the scratch repository, with the xtask's and
/// race-hunt's builds kept in this repository's target directory so that
/// repeated test runs are warm.
fn cargo_xtask(repo: &Path, args: &[&str], json: Option<&Path>) -> race_hunt_tests::Run {
    let mut cmd = Command::new("cargo");
    cmd.arg("xtask").args(args).current_dir(repo);
    for (k, _) in std::env::vars() {
        if k == "RUSTFLAGS" || k.starts_with("CARGO_") || k.starts_with("GITHUB_") || k == "RUSTUP_TOOLCHAIN" {
            cmd.env_remove(k);
        }
    }
    cmd.env("CARGO_TARGET_DIR", root().join("target/race-hunt/adopter-xtask"))
        .env("RACE_HUNT_TARGET_DIR", root().join("target/race-hunt"));
    if let Some(j) = json {
        cmd.arg("--json").arg(j);
    }
    let out = cmd.output().unwrap();
    finish(out, json.unwrap_or(Path::new("/nonexistent")))
}

const LIB: &str = r#"//! A page-view counter, the way an application would write it.
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Default)]
pub struct Views(AtomicU64);

impl Views {
    pub fn record(&self) {
        #[cfg(feature = "racy")]
        {
            // Looks atomic, is not: a load, then a store.
            let seen = self.0.load(Ordering::Relaxed);
            std::hint::spin_loop();
            self.0.store(seen + 1, Ordering::Relaxed);
        }
        #[cfg(not(feature = "racy"))]
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    pub fn total(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrent_views_are_all_counted() {
        let views = Views::default();
        std::thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| (0..20_000).for_each(|_| views.record()));
            }
        });
        assert_eq!(views.total(), 40_000, "lost {} page views", 40_000 - views.total());
    }
}
"#;

#[test]
fn another_repository_adopts_race_hunt_and_gates_on_its_own_test() {
    let repo = tempfile::tempdir().unwrap();
    let repo = repo.path();
    // A team's workspace: one package with an ordinary threaded test and a
    // `racy` feature that brings the bug back.
    write(&repo.join("Cargo.toml"), "[workspace]\nresolver = \"2\"\nmembers = [\"views\", \"xtask\"]\n");
    write(
        &repo.join("views/Cargo.toml"),
        "[package]\nname = \"views\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[features]\nracy = []\n",
    );
    write(&repo.join("views/src/lib.rs"), LIB);
    // Adopt, as the README says: a few-line xtask that depends on the engine,
    // and the alias.
    let engine = root().join("xtask/engine");
    write(
        &repo.join("xtask/Cargo.toml"),
        &format!("[package]\nname = \"xtask\"\nversion = \"0.1.0\"\nedition = \"2021\"\npublish = false\n\n[dependencies]\nrace-hunt = {{ path = \"{}\" }}\n", engine.display()),
    );
    write(&repo.join("xtask/src/main.rs"), "fn main() {\n    race_hunt::main()\n}\n");
    write(&repo.join(".cargo/config.toml"), "[alias]\nxtask = \"run --quiet --package xtask --\"\n");
    // Start from race-hunt's own lock file: the same dependency versions.
    std::fs::copy(root().join("Cargo.lock"), repo.join("Cargo.lock")).unwrap();

    let init = cargo_xtask(repo, &["race-hunt", "init"], None);
    init.assert_code(0);
    assert!(init.stdout.contains("wrote") && repo.join("race-hunt.toml").is_file(), "{}{}", init.stdout, init.stderr);
    assert!(repo.join(".github/workflows/race-hunt.yml").is_file());
    // Rendered for this repository: its xtask alias, `main` (not a git
    // repository), no native arm64 leg (opt-in), race-hunt's own pins.
    let workflow = std::fs::read_to_string(repo.join(".github/workflows/race-hunt.yml")).unwrap();
    assert!(workflow.contains("cargo xtask race-hunt matrix") && !workflow.contains("cargo install"), "{workflow}");
    assert!(workflow.contains("branches: [main]"), "{workflow}");
    let manifest = std::fs::read_to_string(repo.join("race-hunt.toml")).unwrap();
    assert!(!manifest.lines().any(|l| l.trim() == "[targets.aarch64-native]"), "{manifest}");
    assert!(init.stdout.contains("(--native-arm to hunt on ubuntu-24.04-arm too)"), "{}", init.stdout);
    let again = cargo_xtask(repo, &["race-hunt", "init"], None);
    again.assert_code(2);
    assert!(again.stderr.contains("exists; pass --force"), "{}", again.stderr);

    let list = cargo_xtask(repo, &["race-hunt", "--list", "--detector", "stress"], None);
    list.assert_code(0);
    assert!(list.stdout.contains("views/default stress@x86_64"), "{}", list.stdout);

    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let hunt = ["race-hunt", "--detector", "stress", "--target", "x86_64", "--budget", "quick"];
    // Fixed: the gate passes, and the stress column proved itself on the
    // lesson's canaries first.
    let run = cargo_xtask(repo, &hunt, Some(&json));
    run.assert_code(0);
    let report: &Report = run.report();
    let cell = run.cell("views/default", "stress", "x86_64");
    assert_eq!((cell.subject, cell.outcome), (Subject::Suite, Outcome::Clean));
    assert!(report.summary.proofs.iter().all(|p| p.proven), "{:#?}", report.summary.proofs);
    assert!(report.cells.iter().any(|c| c.subject == Subject::Fixture), "canaries ran");

    // The bug behind its feature: the gate fails, naming the test.
    let manifest = std::fs::read_to_string(repo.join("race-hunt.toml")).unwrap();
    std::fs::write(
        repo.join("race-hunt.toml"),
        manifest.replace("path = \"views\"\n", "path = \"views\"\nfeatures = [\"racy\"]\n"),
    )
    .unwrap();
    let run = cargo_xtask(repo, &hunt, Some(&json));
    run.assert_code(1);
    assert_eq!(run.report().summary.gate, Gate::Fail);
    let e = run.cell("views/default", "stress", "x86_64").evidence.clone().expect("evidence");
    assert_eq!(e.test.as_deref(), Some("views tests::concurrent_views_are_all_counted"), "{e:#?}");
    assert!(e.message.starts_with("assertion `left == right` failed: lost "), "{}", e.message);
    assert!(e.location.as_deref().is_some_and(|l| l.starts_with("views/src/lib.rs:")), "{e:#?}");
    // The replay carries the flags of the build it reuses, then the command.
    assert!(
        e.replay.starts_with("RUSTFLAGS=--cap-lints=warn RUSTDOCFLAGS=--cap-lints=warn cargo nextest run --manifest-path views/Cargo.toml"),
        "{}",
        e.replay
    );
}

#[test]
fn a_repository_of_separate_packages_adopts_race_hunt_as_the_readme_says() {
    // The README's layout for several separate packages: a root workspace
    // with the xtask alone, the packages excluded from it (listing them as
    // members fails when they are workspaces of their own).
    let repo = tempfile::tempdir().unwrap();
    let repo = repo.path();
    write(&repo.join("Cargo.toml"), "[workspace]\nresolver = \"2\"\nmembers = [\"xtask\"]\nexclude = [\"services\"]\n");
    let engine = root().join("xtask/engine");
    write(
        &repo.join("xtask/Cargo.toml"),
        &format!("[package]\nname = \"xtask\"\nversion = \"0.1.0\"\nedition = \"2021\"\npublish = false\n\n[dependencies]\nrace-hunt = {{ path = \"{}\" }}\n", engine.display()),
    );
    write(&repo.join("xtask/src/main.rs"), "fn main() {\n    race_hunt::main()\n}\n");
    write(&repo.join(".cargo/config.toml"), "[alias]\nxtask = \"run --quiet --package xtask --\"\n");
    std::fs::copy(root().join("Cargo.lock"), repo.join("Cargo.lock")).unwrap();
    // Two packages: one excluded from the root's workspace, one its own
    // workspace (with its own lock file, as a team commits it).
    write(
        &repo.join("services/views/Cargo.toml"),
        "[package]\nname = \"views\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[features]\nracy = []\n",
    );
    write(&repo.join("services/views/src/lib.rs"), LIB);
    write(
        &repo.join("services/pages/Cargo.toml"),
        "[package]\nname = \"pages\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace]\n",
    );
    write(&repo.join("services/pages/src/lib.rs"), &LIB.replace("page-view counter", "page counter"));
    let lock = Command::new("cargo")
        .args(["generate-lockfile", "--offline", "--manifest-path", "services/pages/Cargo.toml"])
        .current_dir(repo)
        .status()
        .unwrap();
    assert!(lock.success());

    // `init --dir` on a directory that is not there says so.
    let missing = cargo_xtask(repo, &["race-hunt", "init", "--dir", "no-such-dir"], None);
    missing.assert_code(2);
    assert!(missing.stderr.contains("no-such-dir does not exist"), "{}", missing.stderr);

    let init = cargo_xtask(repo, &["race-hunt", "init"], None);
    init.assert_code(0);
    assert!(init.stdout.contains("suites: pages, views"), "{}", init.stdout);
    let manifest = std::fs::read_to_string(repo.join("race-hunt.toml")).unwrap();
    assert!(manifest.contains("path = \"services/views\"") && manifest.contains("path = \"services/pages\""));

    // The installed command instead of the alias: CI installs it from the
    // source named with --git, and without one init says what to pass.
    let no_source = cargo_xtask(repo, &["race-hunt", "init", "--force", "--command", "race-hunt"], None);
    no_source.assert_code(2);
    assert!(no_source.stderr.contains("pass --git URL"), "{}", no_source.stderr);
    let installed = cargo_xtask(
        repo,
        &[
            "race-hunt",
            "init",
            "--force",
            "--command",
            "race-hunt",
            "--git",
            "https://example.com/race-hunt.git",
            "--branch",
            "trunk",
        ],
        None,
    );
    installed.assert_code(0);
    let workflow = std::fs::read_to_string(repo.join(".github/workflows/race-hunt.yml")).unwrap();
    assert!(workflow.contains("cargo race-hunt matrix") && !workflow.contains("cargo xtask"), "{workflow}");
    assert!(workflow.contains("RACE_HUNT_GIT: \"https://example.com/race-hunt.git\""), "{workflow}");
    assert!(workflow.contains("branches: [trunk]"), "{workflow}");

    let list = cargo_xtask(repo, &["race-hunt", "--list", "--detector", "stress"], None);
    list.assert_code(0);
    for suite in ["views", "pages"] {
        assert!(list.stdout.contains(&format!("{suite}/default stress@x86_64")), "{}", list.stdout);
    }
    // Both hunted, each built from its own directory: the gate passes.
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let run = cargo_xtask(
        repo,
        &["race-hunt", "--detector", "stress", "--target", "x86_64", "--budget", "quick"],
        Some(&json),
    );
    run.assert_code(0);
    for suite in ["views/default", "pages/default"] {
        let cell = run.cell(suite, "stress", "x86_64");
        assert_eq!((cell.subject, cell.outcome), (Subject::Suite, Outcome::Clean), "{suite}");
    }
}
