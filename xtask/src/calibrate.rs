//! `cargo xtask calibrate`: run `race-hunt` several times with fresh seeds
//! and report, per cell, how often it detected, plus the median wall time
//! of a whole run. This is how the README's "N of N runs" claims and the
//! matrix timing are measured, and how a `may` gets its evidence.

use std::collections::BTreeMap;
use std::process::Command;

use anyhow::{bail, Context as _};
use serde_json::Value;

use crate::bench::median;

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
                let t = cells.entry(key).or_default();
                t.runs += 1;
                t.fixed = c["racy"] == false;
                t.expect = c["expect"].as_str().unwrap_or("?").to_string();
                if c["outcome"] == "detected" {
                    t.detect_ms.push(c["elapsed_ms"].as_u64().unwrap_or(0) as f64);
                }
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
        Ok(if passed == self.runs { crate::exit::OK } else { crate::exit::GATE_FAILED })
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

/// The 95% Wilson score interval of a detection rate of `hits` in `n`.
pub fn wilson(hits: usize, n: usize) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let (z, n, p) = (1.96_f64, n as f64, hits as f64 / n as f64);
    let centre = p + z * z / (2.0 * n);
    let spread = z * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt();
    let denom = 1.0 + z * z / n;
    (((centre - spread) / denom).max(0.0), ((centre + spread) / denom).min(1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_intervals() {
        // 20 of 20: the rate is at least ~84% with 95% confidence.
        let (lo, hi) = wilson(20, 20);
        assert!((lo - 0.839).abs() < 0.001 && (hi - 1.0).abs() < 1e-9, "{lo} {hi}");
        let (lo, hi) = wilson(0, 10);
        assert!(lo == 0.0 && (hi - 0.278).abs() < 0.001, "{lo} {hi}");
        let (lo, hi) = wilson(5, 10);
        assert!((lo - 0.237).abs() < 0.001 && (hi - 0.763).abs() < 0.001, "{lo} {hi}");
        assert_eq!(wilson(0, 0), (0.0, 1.0));
    }
}
