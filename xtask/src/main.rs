//! `cargo xtask`: race-hunt's build system. `main` only parses and
//! dispatches; each subcommand lives in its own file.

mod bench;
mod budget;
mod builds;
mod calibrate;
mod detector;
mod detectors;
mod exit;
mod grade;
mod junit;
mod manifest;
mod matrix;
#[allow(dead_code)] // read by the miri detector once it is wired in
mod miri_report;
mod outcome;
mod plan;
mod probe;
mod process;
mod provision;
mod race_hunt;
mod report;
mod runner_result;
mod setup;
mod shell;
mod suppressions;
mod target;
mod tsan_report;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "cargo xtask", about = "race-hunt: hunt race conditions in Rust and gate merges on the result")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    RaceHunt(race_hunt::RaceHunt),
    Setup(setup::Setup),
    BenchTsan(bench::BenchTsan),
    Calibrate(calibrate::Calibrate),
}

fn main() {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // clap prints help/version to stdout with code 0 and usage
            // errors to stderr; usage errors are exit code 2 by contract.
            let code = if e.use_stderr() { exit::USAGE } else { exit::OK };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    let code = match cli.command {
        Cmd::RaceHunt(cmd) => cmd.run(),
        Cmd::Setup(cmd) => cmd.run(),
        Cmd::BenchTsan(cmd) => cmd.run(),
        Cmd::Calibrate(cmd) => cmd.run(),
    };
    let code = code.unwrap_or_else(|e| {
        eprintln!("error: {e:#}");
        exit::GATE_FAILED
    });
    std::process::exit(code);
}
