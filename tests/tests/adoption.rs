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
    assert!(e.replay.starts_with("cargo nextest run --manifest-path views/Cargo.toml"), "{}", e.replay);
}
