//! Helpers for the harness's integration tests: run the real xtask with a
//! sanitized environment and read its JSON report.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// The xtask binary, built once per test process into its own target
/// directory: a `cargo test` run holds the lock of `target/`, so a nested
/// `cargo run` there would wait for it forever.
pub fn xtask_binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let dir = root().join("target/race-hunt/xtask-under-test");
        let status = Command::new(env!("CARGO"))
            .current_dir(root())
            .args(["build", "--quiet", "--locked", "--package", "xtask", "--target-dir"])
            .arg(&dir)
            .env_remove("RUSTFLAGS")
            .status()
            .expect("failed to start cargo to build the xtask");
        assert!(status.success(), "building the xtask failed");
        dir.join("debug/xtask")
    })
}

/// What a run of the xtask left behind.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub report: Option<Value>,
}

/// `cargo xtask race-hunt ARGS` with a sanitized environment (no inherited
/// RUSTFLAGS, cargo target overrides, GitHub variables or colours) and
/// `--json` into a temporary file.
pub fn race_hunt(args: &[&str]) -> Run {
    race_hunt_env(args, &[])
}

pub fn race_hunt_env(args: &[&str], env: &[(&str, &str)]) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("report.json");
    let mut cmd = Command::new(xtask_binary());
    cmd.current_dir(root()).arg("race-hunt").args(args).arg("--json").arg(&json);
    for (k, _) in std::env::vars() {
        if k == "RUSTFLAGS"
            || k == "CARGO_TARGET_DIR"
            || k == "CARGO_BUILD_TARGET"
            || k.starts_with("GITHUB_")
            || (k.starts_with("CARGO_TARGET_") && (k.ends_with("_RUNNER") || k.ends_with("_LINKER")))
            || k == "RACE_HUNT_NIGHTLY"
        {
            cmd.env_remove(k);
        }
    }
    cmd.env("CARGO_TERM_COLOR", "never");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("failed to run the xtask");
    let report =
        std::fs::read_to_string(&json).ok().map(|t| serde_json::from_str(&t).expect("the report is valid JSON"));
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        report,
    }
}

impl Run {
    pub fn report(&self) -> &Value {
        self.report
            .as_ref()
            .unwrap_or_else(|| panic!("no report was written\nstdout:\n{}\nstderr:\n{}", self.stdout, self.stderr))
    }

    pub fn cells(&self) -> Vec<&Value> {
        self.report()["cells"].as_array().expect("cells is an array").iter().collect()
    }

    /// The one cell of `fixture/variant` for `detector` on target short name `target`.
    pub fn cell(&self, fixture_variant: &str, detector: &str, target: &str) -> &Value {
        let (f, v) = fixture_variant.split_once('/').unwrap();
        let found: Vec<&Value> = self
            .cells()
            .into_iter()
            .filter(|c| {
                c["fixture"] == f && c["variant"] == v && c["detector"] == detector && c["target_name"] == target
            })
            .collect();
        assert_eq!(found.len(), 1, "expected one cell {fixture_variant} {detector}@{target}");
        found[0]
    }

    /// Fail with the whole output when the run did not exit with `code`.
    pub fn assert_code(&self, code: i32) {
        assert_eq!(self.code, code, "exit code\nstdout:\n{}\nstderr:\n{}", self.stdout, self.stderr);
    }
}

/// The checks every graded report must pass, whatever the columns:
/// every cell `ok`, every `detect` cell detected with evidence and a replay
/// command, every fixed variant clean.
pub fn assert_gate_contract(run: &Run) {
    let report = run.report();
    assert_eq!(report["schema"], "race-hunt/v1");
    for c in run.cells() {
        let id = format!("{}/{} {}@{}", c["fixture"], c["variant"], c["detector"], c["target_name"]);
        assert_eq!(c["verdict"], "ok", "{id}: {c:#}");
        if c["expect"] == "detect" {
            assert_eq!(c["outcome"], "detected", "{id}");
            let e = &c["evidence"];
            assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()), "{id}: evidence message");
            assert!(e["replay"].as_str().is_some_and(|r| r.contains("scenario-runner")), "{id}: replay");
        }
        if c["racy"] == false {
            assert_eq!(c["outcome"], "clean", "{id}: a fixed variant was flagged");
            assert!(c["attempts"].as_u64().unwrap() > 0, "{id}: a clean cell must have run");
        }
    }
    assert_eq!(report["summary"]["fail"], 0);
    assert_eq!(report["summary"]["gate"], "pass");
}
