//! Building the scenario runner: one build per (detector build, target),
//! each in its own target directory because flags, cfgs and toolchains
//! differ (a TSan build never invalidates the stress build).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::process::{self, Exit};
use crate::target::Target;

/// How to build the runner for one detector on one target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildSpec {
    /// Target-directory name under `target/race-hunt/build/`.
    pub dir: String,
    /// `cargo +TOOLCHAIN`; `None` uses the target's toolchain or the default.
    pub toolchain: Option<String>,
    /// Appended to the user's `RUSTFLAGS`.
    pub rustflags: Vec<String>,
    /// Extra `cargo build` arguments (`-Zbuild-std`).
    pub cargo_args: Vec<String>,
}

impl BuildSpec {
    pub fn plain(dir: &str) -> Self {
        BuildSpec { dir: dir.into(), toolchain: None, rustflags: Vec::new(), cargo_args: Vec::new() }
    }
}

pub const PACKAGE: &str = "scenario-runner";

pub fn target_dir(root: &Path, spec: &BuildSpec) -> PathBuf {
    root.join("target/race-hunt/build").join(&spec.dir)
}

/// The `cargo build` command line (also printed in build-failure messages).
pub fn command(root: &Path, spec: &BuildSpec, target: &Target) -> Command {
    let mut c = Command::new("cargo");
    if let Some(tc) = spec.toolchain.as_ref().or(target.toolchain.as_ref()) {
        c.arg(format!("+{tc}"));
    }
    c.current_dir(root)
        .args(["build", "--release", "--locked", "--package", PACKAGE, "--target", &target.triple])
        .arg("--target-dir")
        .arg(target_dir(root, spec))
        .args(&spec.cargo_args);
    // Append to the user's RUSTFLAGS. Fixture code is test data: lints are
    // capped so a user's `-Dwarnings` never breaks a fixture build.
    let mut flags: Vec<String> =
        std::env::var("RUSTFLAGS").ok().map(|f| f.split_whitespace().map(str::to_string).collect()).unwrap_or_default();
    flags.extend(spec.rustflags.iter().cloned());
    flags.push("--cap-lints=warn".into());
    c.env("RUSTFLAGS", flags.join(" ")).env_remove("CARGO_ENCODED_RUSTFLAGS");
    // The xtask itself runs under a cargo that sets the toolchain for its
    // children; a `+toolchain` above must win, so drop the inherited one.
    c.env_remove("RUSTUP_TOOLCHAIN");
    for (k, v) in target.build_env() {
        c.env(k, v);
    }
    c
}

/// Build and return the runner binary, or the reason it failed.
pub fn build(root: &Path, spec: &BuildSpec, target: &Target, log: &Path) -> Result<PathBuf, String> {
    let cmd = command(root, spec, target);
    let shown = format!("{cmd:?}");
    let _ = std::fs::remove_file(log);
    let (exit, _) =
        process::run(cmd, log, Duration::from_secs(45 * 60)).map_err(|e| format!("failed to start cargo: {e}"))?;
    match exit {
        Exit::Code(0) => {
            let bin = target_dir(root, spec).join(&target.triple).join("release").join(PACKAGE);
            if bin.is_file() {
                Ok(bin)
            } else {
                Err(format!("cargo succeeded but {} is missing", bin.display()))
            }
        }
        Exit::Interrupted => Err("interrupted while building".into()),
        other => {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(15).collect::<Vec<_>>().into_iter().rev().collect();
            Err(format!("build failed ({other:?}): {shown}\n  log: {}\n  {}", log.display(), tail.join("\n  ")))
        }
    }
}
