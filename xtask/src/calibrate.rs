//! `cargo xtask calibrate`: run `race-hunt` several times with fresh seeds
//! and report, per cell, how often it detected, plus the median wall time
//! of a whole run. This is how the README's "N of N runs" claims and the
//! matrix timing are measured, and how a `may` gets its evidence.

use std::collections::BTreeMap;
use std::process::Command;

use anyhow::{bail, Context as _};
use serde_json::Value;

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
    pub fn run(&self) -> anyhow::Result<i32> {
        if self.runs == 0 {
            bail!("--runs must be at least 1");
        }
        let exe = std::env::current_exe().context("failed to find the xtask binary")?;
        let dir = tempfile::tempdir()?;
        // (fixture/variant, detector@target) -> (detections, runs, fixed?)
        let mut cells: BTreeMap<(String, String), (usize, usize, bool, String)> = BTreeMap::new();
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
            let text = std::fs::read_to_string(&json).with_context(|| {
                format!(
                    "run {i} wrote no report (exit {:?}): {}",
                    out.status.code(),
                    String::from_utf8_lossy(&out.stderr)
                )
            })?;
            let report: Value = serde_json::from_str(&text)?;
            let ms = report["elapsed_ms"].as_u64().unwrap_or(0);
            elapsed.push(ms);
            let gate = report["summary"]["gate"].as_str().unwrap_or("?").to_string();
            println!(
                "run {:>2}/{}: gate {gate}, exit {}, {} ms",
                i + 1,
                self.runs,
                out.status.code().unwrap_or(-1),
                ms
            );
            gates.push(gate);
            for c in report["cells"].as_array().into_iter().flatten() {
                let key = (
                    format!("{}/{}", c["fixture"].as_str().unwrap_or("?"), c["variant"].as_str().unwrap_or("?")),
                    format!("{}@{}", c["detector"].as_str().unwrap_or("?"), c["target_name"].as_str().unwrap_or("?")),
                );
                let e = cells.entry(key).or_insert((0, 0, c["racy"] == false, String::new()));
                e.1 += 1;
                if c["outcome"] == "detected" {
                    e.0 += 1;
                }
                e.3 = c["expect"].as_str().unwrap_or("?").to_string();
            }
        }
        println!("\n{:<30} {:<16} {:>8} {:>10}", "fixture/variant", "detector@target", "expect", "detected");
        for ((fv, dt), (hits, runs, _, expect)) in &cells {
            println!("{fv:<30} {dt:<16} {expect:>8} {:>6}/{runs}", hits);
        }
        let flagged_fixed: usize = cells.values().filter(|c| c.2).map(|c| c.0).sum();
        elapsed.sort_unstable();
        let median = if elapsed.len() % 2 == 1 {
            elapsed[elapsed.len() / 2] as f64
        } else {
            (elapsed[elapsed.len() / 2 - 1] + elapsed[elapsed.len() / 2]) as f64 / 2.0
        };
        let passed = gates.iter().filter(|g| *g == "pass").count();
        println!(
            "\n{} runs: gate passed in {passed}; fixed-variant cells flagged: {flagged_fixed}; run time median {:.1} s (min {:.1} s, max {:.1} s)",
            self.runs,
            median / 1000.0,
            elapsed[0] as f64 / 1000.0,
            elapsed[elapsed.len() - 1] as f64 / 1000.0
        );
        Ok(if passed == self.runs { crate::exit::OK } else { crate::exit::GATE_FAILED })
    }
}
