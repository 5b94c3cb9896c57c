//! `cargo xtask bench-tsan`: what ThreadSanitizer costs on the fixtures.
//!
//! Times every fixed variant's scenario, plain (the stress build) and under
//! TSan (the tsan build), alternating the two in one run, and prints the
//! median time and peak memory of each with the overhead ratios. Fixed
//! variants only: a racy one stops early or prints reports, which would
//! measure the reporting, not the instrumentation.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use anyhow::{bail, Context as _};

use race_hunt_report::{RunnerOutcome, RunnerResult};

use crate::builds;
use crate::detectors::stress;
use crate::detectors::tsan::KIND;
use crate::exit::{self, Failure};
use crate::provision::Provisioner;
use crate::session::Selection;
use crate::stats::median;

/// Measure ThreadSanitizer's time and memory overhead on the fixed variants.
#[derive(Debug, clap::Args)]
pub struct BenchTsan {
    /// Runs of each (variant, build); the medians are reported.
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    /// Scenario iterations per run.
    #[arg(long, default_value_t = 200)]
    pub iterations: u64,
}

struct Sample {
    /// The runner's own time for the scenario loop (no process start-up).
    scenario_ms: f64,
    /// Peak resident set, KiB.
    max_rss_kib: u64,
}

/// Run `cmd` to completion and read its peak RSS from `wait4`.
fn measure(mut cmd: Command) -> anyhow::Result<Sample> {
    let child = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::null()).spawn()?;
    let pid = child.id() as libc::pid_t;
    let output = {
        use std::io::Read;
        let mut s = String::new();
        child.stdout.expect("piped").read_to_string(&mut s)?;
        s
    };
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to fill in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our child, not yet reaped (we never called wait on it).
    let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    if rc != pid {
        bail!("wait4 failed: {}", std::io::Error::last_os_error());
    }
    let result = RunnerResult::find(&output).context("the runner printed no result")?;
    if result.outcome != RunnerOutcome::Clean {
        bail!("a fixed variant was flagged during the bench: {:?}", result.message);
    }
    Ok(Sample { scenario_ms: result.elapsed_ms as f64, max_rss_kib: usage.ru_maxrss as u64 })
}

impl BenchTsan {
    pub fn run(&self) -> exit::Result {
        if self.runs == 0 || self.iterations == 0 {
            return Err(Failure::usage("--runs and --iterations must be at least 1"));
        }
        let selection =
            Selection { detector: vec![stress::KIND.name.into(), KIND.name.into()], ..Selection::default() };
        let session = selection.open()?;
        let m = &session.manifest;
        let host = crate::target::host_triple();
        let spec = m
            .targets
            .iter()
            .find(|t| t.triple == host)
            .ok_or_else(|| Failure::Manifest(format!("{}: no target for this host ({host})", m.path.display())))?;
        let target = crate::target::resolve(spec, &host, &|k| std::env::var(k).ok());
        let builds_dir = session.builds();
        let env = session.env(1, &builds_dir, crate::session::command_name());
        crate::process::install_signal_handlers();
        let mut provisioner = Provisioner::new(true);
        let mut binaries: Vec<PathBuf> = Vec::new();
        let mut tsan_env: Vec<(String, String)> = Vec::new();
        // The selection's detectors, configured once for the run, in
        // registry order: stress (plain), then tsan.
        let [_, tsan] = session.plan.detectors.as_slice() else {
            return Err(Failure::usage("bench-tsan needs both stress and tsan in the manifest"));
        };
        for det in &session.plan.detectors {
            let name = det.name();
            provisioner.ensure(&det.prerequisites(&target, &env)).map_err(|e| anyhow::anyhow!(e))?;
            let spec = det.build(&target, &env);
            eprintln!("building {name} ...");
            let log = session.state.join("bench").join(format!("{name}-build.log"));
            let artifact = builds::build(&spec, &target, &env, &log).map_err(|e| anyhow::anyhow!(e))?;
            if std::sync::Arc::ptr_eq(det, tsan) {
                // The environment TSan cells run with (TSAN_OPTIONS, with the
                // manifest's suppressions).
                let cell = session
                    .plan
                    .cells
                    .iter()
                    .find(|c| std::sync::Arc::ptr_eq(&session.plan.columns[c.column.0].detector, tsan))
                    .context("no tsan cell planned")?;
                let dir = session.state.join("bench");
                tsan_env = det.invocations(cell, &artifact, &env, &dir, None).remove(0).env;
            }
            binaries.push(artifact.binary.context("a runner build has a binary")?);
        }
        let fixed: Vec<String> = m
            .fixtures
            .iter()
            .flat_map(|f| f.variants.iter().filter(|v| !v.racy).map(move |v| format!("{}/{}", f.name, v.name)))
            .collect();

        println!(
            "ThreadSanitizer overhead on the fixed variants: {} iterations per run, median of {} runs each, plain and TSan alternating",
            self.iterations, self.runs
        );
        println!(
            "{:<30} {:>10} {:>10} {:>7} {:>10} {:>10} {:>7}",
            "fixture/variant", "plain ms", "tsan ms", "time x", "plain MiB", "tsan MiB", "mem x"
        );
        let (mut time_ratios, mut mem_ratios) = (Vec::new(), Vec::new());
        for cell in &fixed {
            let mut plain = Vec::new();
            let mut tsan = Vec::new();
            for _ in 0..self.runs {
                for (i, bin) in binaries.iter().enumerate() {
                    let mut cmd = Command::new(bin);
                    cmd.args(["run", cell, "--iterations", &self.iterations.to_string(), "--seed", "1"]);
                    if i == 1 {
                        cmd.envs(tsan_env.iter().cloned());
                    }
                    let s = measure(cmd)
                        .with_context(|| format!("failed to run {cell}"))
                        .map_err(Failure::Infrastructure)?;
                    if i == 0 {
                        plain.push(s)
                    } else {
                        tsan.push(s)
                    }
                }
            }
            let ms = |v: &[Sample]| median(v.iter().map(|s| s.scenario_ms.max(0.5)).collect());
            let mib = |v: &[Sample]| median(v.iter().map(|s| s.max_rss_kib as f64 / 1024.0).collect());
            let (pm, tm, pr, tr) = (ms(&plain), ms(&tsan), mib(&plain), mib(&tsan));
            time_ratios.push(tm / pm);
            mem_ratios.push(tr / pr);
            println!("{cell:<30} {pm:>10.1} {tm:>10.1} {:>6.1}x {pr:>10.1} {tr:>10.1} {:>6.1}x", tm / pm, tr / pr);
        }
        println!(
            "median over fixed variants: time {:.1}x, memory {:.1}x (the Go race detector on the lesson's programs: 5-20x time, about 7x memory)",
            median(time_ratios),
            median(mem_ratios)
        );
        Ok(exit::OK)
    }
}
