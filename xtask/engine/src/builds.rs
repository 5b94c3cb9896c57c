//! Builds: one per (detector build, target), each in its own target
//! directory under `target/race-hunt/build/` because flags, cfgs and
//! toolchains differ (a TSan build never invalidates the stress build).
//! Cells that share a build share it: it is made once per run.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::invocation::{Artifact, Env};
use crate::process::{self, Exit};
use crate::target::Target;

/// How to build for one detector on one target: `cargo +TOOLCHAIN STEP...`
/// for each step, with `RUSTFLAGS` appended to the user's and the build's
/// own target directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildSpec {
    /// Target-directory name under `target/race-hunt/build/`.
    pub dir: String,
    /// `cargo +TOOLCHAIN`; `None` uses the target's toolchain or the default.
    pub toolchain: Option<String>,
    /// Appended to the user's `RUSTFLAGS`.
    pub rustflags: Vec<String>,
    /// Extra environment for every step.
    pub env: Vec<(String, String)>,
    /// The cargo command lines to run, in order (without `cargo +tc`).
    pub steps: Vec<Vec<String>>,
    /// The scenario runner binary this build produces, relative to the
    /// target directory (`None`: the detector runs through cargo).
    pub binary: Option<PathBuf>,
}

pub const RUNNER: &str = "scenario-runner";

/// Variables of the caller's environment that no build (and no run that
/// must reuse a build) inherits: they would change the compiler, its flags
/// or the target behind race-hunt's back.
pub const SCRUBBED: &[&str] = &["CARGO_ENCODED_RUSTFLAGS", "RUSTUP_TOOLCHAIN", "CARGO_BUILD_TARGET"];

impl BuildSpec {
    /// A release build of the scenario runner from the engine's fixture
    /// workspace, for `target`, with `rustflags` and extra cargo arguments.
    pub fn runner(dir: &str, target: &Target, env: &Env<'_>, rustflags: &[&str], cargo_args: &[&str]) -> BuildSpec {
        let manifest = env.engine.join("Cargo.toml");
        let mut step: Vec<String> = vec![
            "build".into(),
            "--release".into(),
            "--locked".into(),
            "--manifest-path".into(),
            manifest.display().to_string(),
            "--package".into(),
            RUNNER.into(),
            "--target".into(),
            target.triple.clone(),
        ];
        step.extend(cargo_args.iter().map(|s| s.to_string()));
        BuildSpec {
            dir: dir.into(),
            toolchain: None,
            rustflags: rustflags.iter().map(|s| s.to_string()).collect(),
            env: Vec::new(),
            steps: vec![step],
            binary: Some(Path::new(&target.triple).join("release").join(RUNNER)),
        }
    }

    /// The key under which cells share this build.
    pub fn key(&self, target: &Target) -> String {
        format!("{}@{}", self.dir, target.name)
    }
}

pub fn target_dir(builds: &Path, spec: &BuildSpec) -> PathBuf {
    builds.join(&spec.dir)
}

/// The `cargo` command line of one step (also shown when a build fails).
pub fn command(spec: &BuildSpec, step: &[String], target: &Target, env: &Env<'_>) -> Command {
    let mut c = Command::new("cargo");
    if let Some(tc) = spec.toolchain.as_ref().or(target.toolchain.as_ref()) {
        c.arg(format!("+{tc}"));
    }
    c.current_dir(env.root).args(step).env("CARGO_TARGET_DIR", target_dir(env.builds, spec));
    // Append to the user's RUSTFLAGS. Fixture code is test data: lints are
    // capped so a user's `-Dwarnings` never breaks a fixture build.
    let mut flags: Vec<String> =
        std::env::var("RUSTFLAGS").ok().map(|f| f.split_whitespace().map(str::to_string).collect()).unwrap_or_default();
    flags.extend(spec.rustflags.iter().cloned());
    flags.push("--cap-lints=warn".into());
    c.env("RUSTFLAGS", flags.join(" "));
    // The xtask itself runs under a cargo that sets the toolchain for its
    // children; a `+toolchain` above must win, so drop the inherited one.
    for k in SCRUBBED {
        c.env_remove(k);
    }
    for (k, v) in target.build_env().into_iter().chain(spec.env.iter().cloned()) {
        c.env(k, v);
    }
    c
}

/// Run every step; return the artifact, or the reason the build failed.
pub fn build(spec: &BuildSpec, target: &Target, env: &Env<'_>, log: &Path) -> Result<Artifact, String> {
    let _ = std::fs::remove_file(log);
    for step in &spec.steps {
        let cmd = command(spec, step, target, env);
        let shown = format!("{cmd:?}");
        let (exit, _) =
            process::run(cmd, log, Duration::from_secs(45 * 60)).map_err(|e| format!("failed to start cargo: {e}"))?;
        match exit {
            Exit::Code(0) => {}
            Exit::Stopped(sig) => {
                return Err(format!("stopped by {} while building", crate::process::signal_name(sig)))
            }
            other => {
                let text = std::fs::read_to_string(log).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(15).collect::<Vec<_>>().into_iter().rev().collect();
                return Err(format!(
                    "build failed ({other:?}): {shown}\n  log: {}\n  {}",
                    log.display(),
                    tail.join("\n  ")
                ));
            }
        }
    }
    let target_dir = target_dir(env.builds, spec);
    let binary = match &spec.binary {
        Some(rel) => {
            let bin = target_dir.join(rel);
            if !bin.is_file() {
                return Err(format!("cargo succeeded but {} is missing", bin.display()));
            }
            Some(bin)
        }
        None => None,
    };
    Ok(Artifact { target_dir, binary })
}
