//! `cargo xtask calibrate`: run `race-hunt` several times with fresh seeds
//! and report, per cell, how often it detected, plus the median wall time
//! of a whole run. This is how the README's "N of N runs" claims and the
//! matrix timing are measured, and how a `may` gets its evidence.

use std::collections::BTreeMap;
use std::process::Command;

use anyhow::Context as _;
use race_hunt_report::{Gate, Outcome, Report};

use crate::exit::{self, Failure};
use crate::stats::{median, wilson};

/// Repeat a race-hunt run and report detection rates and timings.
#[derive(Debug, clap::Args)]
#[command(after_help = "Example: cargo xtask calibrate --runs 20 -- --detector stress,chaos,shuttle")]
pub struct Calibrate {
    /// How many runs.
    #[arg(long, default_value_t = 10)]
    pub runs: usize,
    /// Arguments for each `race-hunt` run (after `--`).
    #[arg(last = true)]
    pub args: Vec<String>,
}

impl Calibrate {
    pub fn run(&self) -> exit::Result {
        if self.runs == 0 {
            return Err(Failure::usage("--runs must be at least 1"));
        }
        if let Some(bad) = self.args.iter().find(|a| matches!(a.as_str(), "--json" | "--seed" | "--list")) {
            return Err(Failure::usage(format!(
                "`{bad}` is chosen by calibrate for each run; leave it out of the race-hunt arguments"
            )));
        }
        let exe = std::env::current_exe().context("failed to find the xtask binary")?;
        let dir = tempfile::tempdir()?;
        crate::process::install_signal_handlers();
        let mut cells: BTreeMap<(String, String), Tally> = BTreeMap::new();
        let mut elapsed = Vec::new();
        let mut gates = Vec::new();
        for i in 0..self.runs {
            let json = dir.path().join(format!("run{i}.json"));
            let out = Command::new(&exe)
                .arg("race-hunt")
                .args(&self.args)
                .arg("--json")
                .arg(&json)
                .output()
                .context("failed to run race-hunt")?;
            if out.status.code() == Some(exit::USAGE) {
                return Err(Failure::usage(format!(
                    "race-hunt refused its arguments: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                )));
            }
            let text = std::fs::read_to_string(&json).with_context(|| {
                format!(
                    "run {i} wrote no report (exit {:?}): {}",
                    out.status.code(),
                    String::from_utf8_lossy(&out.stderr)
                )
            })?;
            let report = Report::from_json(&text).map_err(|e| anyhow::anyhow!("run {i}: {e}"))?;
            elapsed.push(report.elapsed_ms);
            let gate = crate::matrix::gate_word(report.summary.gate).to_string();
            let ms = report.elapsed_ms;
            println!(
                "run {:>2}/{}: gate {gate}, exit {}, {} ms",
                i + 1,
                self.runs,
                out.status.code().unwrap_or(-1),
                ms
            );
            gates.push(gate);
            for c in &report.cells {
                let key = (format!("{}/{}", c.fixture, c.variant), format!("{}@{}", c.detector, c.target_name));
                let t = cells.entry(key).or_default();
                t.runs += 1;
                t.fixed = !c.racy;
                t.expect = c.expect.word().to_string();
                // A racy detection that is not the bug's (`grade::credit`) is no catch.
                if c.outcome == Outcome::Detected && c.not_credited.is_none() {
                    t.detect_ms.push(c.elapsed_ms as f64);
                }
            }
            if report.summary.gate == Gate::Interrupted {
                return Ok(report.summary.exit_code);
            }
        }
        println!(
            "\n{:<30} {:<16} {:>8} {:>9} {:>15} {:>12}",
            "fixture/variant", "detector@target", "expect", "detected", "95% interval", "median time"
        );
        for ((fv, dt), t) in &cells {
            let hits = t.detect_ms.len();
            let (lo, hi) = wilson(hits, t.runs);
            let time =
                if hits == 0 { "-".to_string() } else { crate::matrix::duration(median(t.detect_ms.clone()) as u64) };
            println!(
                "{fv:<30} {dt:<16} {:>8} {:>6}/{:<2} {:>6.0}%-{:>3.0}%   {time:>12}",
                t.expect,
                hits,
                t.runs,
                lo * 100.0,
                hi * 100.0
            );
        }
        let flagged_fixed: usize = cells.values().filter(|t| t.fixed).map(|t| t.detect_ms.len()).sum();
        elapsed.sort_unstable();
        let median = median(elapsed.iter().map(|&ms| ms as f64).collect());
        let passed = gates.iter().filter(|g| *g == "pass").count();
        println!(
            "\n{} runs: gate passed in {passed}; fixed-variant cells flagged: {flagged_fixed}; run time median {:.1} s (min {:.1} s, max {:.1} s)",
            self.runs,
            median / 1000.0,
            elapsed[0] as f64 / 1000.0,
            elapsed[elapsed.len() - 1] as f64 / 1000.0
        );
        Ok(if passed == self.runs { exit::OK } else { exit::GATE_FAILED })
    }
}

/// One cell over all runs.
#[derive(Debug, Default)]
struct Tally {
    runs: usize,
    fixed: bool,
    expect: String,
    /// Time to detect of each run that detected.
    detect_ms: Vec<f64>,
}
