//! race-hunt's engine: hunt race conditions in Rust with several detectors
//! across targets, grade what each saw against the manifest's
//! expectations, and gate on the result.
//!
//! The `xtask` binary of this repository, and `cargo-race-hunt` for
//! `cargo install`, are the same few lines: `race_hunt::main()`. `main`
//! only parses and dispatches; each subcommand lives in its own file.

// Outcomes carry their evidence by value: one per cell, never on a hot path.
#![allow(clippy::result_large_err)]

mod baseline;
mod baseline_cmd;
mod bench_suite;
mod budget;
mod builds;
mod calibrate;
mod cell;
mod cells;
mod changes;
mod ci;
mod ci_spec;
mod cpu;
mod detector;
mod detectors;
mod exit;
mod fingerprint;
mod github;
mod grade;
mod init;
mod invocation;
mod junit;
mod knobs;
mod manifest;
mod matrix;
mod nextest;
mod outcome;
mod plan;
mod prerequisite;
mod probe;
mod process;
mod provision;
mod race_hunt;
mod replay;
mod report;
mod root;
mod sarif;
mod session;
mod setup;
mod shell;
mod stats;
mod target;

#[cfg(test)]
mod layers;

use std::path::Path;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "cargo xtask",
    about = "race-hunt: hunt race conditions in Rust and gate merges on the result",
    after_help = "Run `cargo xtask race-hunt --help` for the main command."
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    RaceHunt(Box<race_hunt::RaceHunt>),
    Setup(setup::Setup),
    BenchTsan(detectors::BenchTsan),
    Calibrate(calibrate::Calibrate),
    BenchSuite(bench_suite::BenchSuite),
}

/// As `cargo race-hunt ...` (the installed `cargo-race-hunt`), cargo passes
/// `race-hunt` first: `cargo race-hunt --detector x` is `race-hunt
/// --detector x`, and `cargo race-hunt setup` is `setup`.
fn cargo_subcommand_args(mut args: Vec<String>) -> Vec<String> {
    let installed = args
        .first()
        .is_some_and(|a| Path::new(a).file_name().is_some_and(|n| n.to_string_lossy().starts_with("cargo-race-hunt")));
    const TOP: &[&str] = &["race-hunt", "setup", "calibrate", "bench-tsan", "bench-suite", "help", "--help", "-h"];
    if installed
        && args.get(1).map(String::as_str) == Some("race-hunt")
        && args.get(2).is_some_and(|a| TOP.contains(&a.as_str()))
    {
        args.remove(1);
    }
    args
}

/// Parse the command line, run the subcommand, exit with its code.
pub fn main() -> ! {
    let args = cargo_subcommand_args(std::env::args().collect());
    if args.get(1).map(String::as_str) == Some("__reap") {
        std::process::exit(process::reap());
    }
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) => {
            // clap prints help/version to stdout with code 0 and usage
            // errors to stderr; usage errors are exit code 2 by contract.
            let code = if e.use_stderr() { exit::USAGE } else { exit::OK };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    let result = match cli.command {
        Cmd::RaceHunt(cmd) => cmd.run(),
        Cmd::Setup(cmd) => cmd.run(),
        Cmd::BenchTsan(cmd) => cmd.run(),
        Cmd::Calibrate(cmd) => cmd.run(),
        Cmd::BenchSuite(cmd) => cmd.run(),
    };
    let code = result.unwrap_or_else(|e| {
        eprintln!("error: {e}");
        e.code()
    });
    std::process::exit(code);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        cargo_subcommand_args(line.split_whitespace().map(String::from).collect())
    }

    #[test]
    fn cargo_race_hunt_takes_the_same_commands() {
        assert_eq!(
            args("/bin/cargo-race-hunt race-hunt --detector x"),
            ["/bin/cargo-race-hunt", "race-hunt", "--detector", "x"]
        );
        assert_eq!(args("/bin/cargo-race-hunt race-hunt setup"), ["/bin/cargo-race-hunt", "setup"]);
        assert_eq!(
            args("/bin/cargo-race-hunt race-hunt race-hunt replay c"),
            ["/bin/cargo-race-hunt", "race-hunt", "replay", "c"]
        );
        assert_eq!(args("target/debug/xtask race-hunt setup"), ["target/debug/xtask", "race-hunt", "setup"]);
        assert!(Cli::try_parse_from(args("/bin/cargo-race-hunt race-hunt --list")).is_ok());
        assert!(Cli::try_parse_from(args("/bin/cargo-race-hunt race-hunt calibrate --runs 2")).is_ok());
    }
}
