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
        if let Some(bad) = chosen_here(&self.args) {
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
        let mut errors: Vec<String> = Vec::new();
        for i in 0..self.runs {
            if let Some(sig) = crate::process::stop_signal() {
                return Ok(crate::process::stop_exit_code(sig));
            }
            let json = dir.path().join(format!("run{i}.json"));
            let stderr_path = dir.path().join(format!("run{i}.stderr"));
            let mut cmd = Command::new(&exe);
            cmd.arg("race-hunt").args(&self.args).arg("--json").arg(&json);
            let (code, stopped) = run_inner(cmd, &stderr_path)?;
            let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
            if let Some(sig) = stopped {
                println!("run {:>2}/{}: stopped by {}", i + 1, self.runs, crate::process::signal_name(sig));
                return Ok(crate::process::stop_exit_code(sig));
            }
            if code == Some(exit::USAGE) {
                return Err(Failure::usage(format!("race-hunt refused its arguments: {}", stderr.trim())));
            }
            let text = std::fs::read_to_string(&json)
                .with_context(|| format!("run {i} wrote no report (exit {code:?}): {stderr}"))?;
            let report = Report::from_json(&text).map_err(|e| anyhow::anyhow!("run {i}: {e}"))?;
            elapsed.push(report.elapsed_ms);
            let gate = crate::matrix::gate_word(report.summary.gate).to_string();
            let ms = report.elapsed_ms;
            println!("run {:>2}/{}: gate {gate}, exit {}, {} ms", i + 1, self.runs, code.unwrap_or(-1), ms);
            gates.push(gate);
            for c in &report.cells {
                let key = (format!("{}/{}", c.fixture, c.variant), format!("{}@{}", c.detector, c.target_name));
                if c.outcome == Outcome::Error {
                    // No answer: neither a detection nor a miss.
                    errors.push(format!(
                        "run {}: {}: {}",
                        i + 1,
                        c.id(),
                        c.reason.as_deref().unwrap_or("ended in error")
                    ));
                }
                let t = cells.entry(key).or_default();
                if !matches!(c.outcome, Outcome::Detected | Outcome::Clean | Outcome::Hang) {
                    continue;
                }
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
                if hits == 0 { "-".to_string() } else { crate::stats::duration(median(t.detect_ms.clone()) as u64) };
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
        if !errors.is_empty() {
            for e in &errors {
                eprintln!("error: {e}");
            }
            return Err(Failure::Infrastructure(anyhow::anyhow!(
                "{} cell run(s) ended in error, so their rates are not measured: {}",
                errors.len(),
                errors.join("; ")
            )));
        }
        Ok(if passed == self.runs { exit::OK } else { exit::GATE_FAILED })
    }
}

/// The race-hunt flag among `args` that calibrate sets itself, in either
/// spelling (`--seed 5`, `--seed=5`).
fn chosen_here(args: &[String]) -> Option<&str> {
    args.iter()
        .map(|a| a.split_once('=').map_or(a.as_str(), |(flag, _)| flag))
        .find(|flag| matches!(*flag, "--json" | "--seed" | "--list"))
}

/// How long an inner run may take to write its report after a signal is
/// forwarded before its process group is killed.
const STOP_GRACE: std::time::Duration = std::time::Duration::from_secs(20);

/// Run one inner race-hunt in its own process group (stdout shown, stderr
/// kept in `stderr_path` as well as shown at the end); forward every stop
/// signal calibrate gets to it, and kill its group if it has not finished
/// [`STOP_GRACE`] after the first. Returns its exit code and the signal
/// that stopped calibrate, if any.
fn run_inner(mut cmd: Command, stderr_path: &std::path::Path) -> anyhow::Result<(Option<i32>, Option<i32>)> {
    use std::os::unix::process::CommandExt;
    let err = std::fs::File::create(stderr_path).context("failed to create a log for race-hunt's errors")?;
    cmd.stdin(std::process::Stdio::null()).stdout(std::process::Stdio::null()).stderr(err).process_group(0);
    // SAFETY: prctl is async-signal-safe; the closure allocates nothing.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
            Ok(())
        });
    }
    let mut child = cmd.spawn().context("failed to run race-hunt")?;
    let pid = child.id() as i32;
    let mut forwarded = 0;
    let mut first_stop: Option<std::time::Instant> = None;
    loop {
        if let Some(status) = child.try_wait().context("failed to wait for race-hunt")? {
            return Ok((status.code(), crate::process::stop_signal()));
        }
        let received = crate::process::stop_count();
        if received > forwarded {
            if let Some(sig) = crate::process::stop_signal() {
                // SAFETY: kill has no memory-safety preconditions.
                unsafe { libc::kill(pid, sig) };
                forwarded = received;
                first_stop.get_or_insert_with(std::time::Instant::now);
            }
        }
        if first_stop.is_some_and(|t| t.elapsed() > STOP_GRACE) {
            // SAFETY: as above; the negative pid is the group made for it.
            unsafe { libc::kill(-pid, libc::SIGKILL) };
            let _ = child.wait();
            return Ok((None, crate::process::stop_signal()));
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_calibrate_sets_are_refused_in_both_spellings() {
        let args = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<String>>();
        assert_eq!(chosen_here(&args(&["--detector", "stress", "--seed", "5"])), Some("--seed"));
        assert_eq!(chosen_here(&args(&["--seed=5"])), Some("--seed"));
        assert_eq!(chosen_here(&args(&["--json=r.json"])), Some("--json"));
        assert_eq!(chosen_here(&args(&["--list"])), Some("--list"));
        assert_eq!(chosen_here(&args(&["--detector=stress", "--budget", "quick"])), None);
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
