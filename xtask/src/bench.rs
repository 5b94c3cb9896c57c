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

use crate::builds;
use crate::detector::{self, Context};
use crate::detectors::tsan::tsan_options;
use crate::manifest;
use crate::provision::Provisioner;
use crate::race_hunt::root;
use crate::runner_result::RunnerResult;

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
    if result.detected {
        bail!("a fixed variant was flagged during the bench: {:?}", result.message);
    }
    Ok(Sample { scenario_ms: result.elapsed_ms as f64, max_rss_kib: usage.ru_maxrss as u64 })
}

/// The median of `v` (the mean of the middle two for an even length).
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

impl BenchTsan {
    pub fn run(&self) -> anyhow::Result<i32> {
        if self.runs == 0 || self.iterations == 0 {
            bail!("--runs and --iterations must be at least 1");
        }
        let root = root();
        let m = manifest::load(&root.join("race-hunt.toml")).map_err(|e| anyhow::anyhow!("invalid manifest: {e}"))?;
        let nightly = m.nightly();
        let supp =
            crate::suppressions::from_manifest(&m, &root).map_err(|e| anyhow::anyhow!("invalid manifest: {e}"))?;
        let ctx = Context { seed: 1, nightly: &nightly, root: &root, tsan_suppressions: supp.as_deref() };
        let host = crate::target::host_triple();
        let spec = m.targets.iter().find(|t| t.triple == host).context("the manifest has no target for this host")?;
        let target = crate::target::resolve(spec, &host, &|k| std::env::var(k).ok());
        let mut provisioner = Provisioner::new(true);
        let mut binaries: Vec<PathBuf> = Vec::new();
        for name in ["stress", "tsan"] {
            let det = detector::by_name(name).expect("known detector");
            provisioner.ensure(&det.prerequisites(&target, &ctx)).map_err(|e| anyhow::anyhow!(e))?;
            let spec = det.build(&target, &ctx);
            eprintln!("building {name} ...");
            let log = root.join("target/race-hunt/bench").join(format!("{name}-build.log"));
            binaries.push(builds::build(&root, &spec, &target, &log).map_err(|e| anyhow::anyhow!(e))?);
        }
        let options = tsan_options(ctx.tsan_suppressions);
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
                        cmd.env("TSAN_OPTIONS", &options);
                    }
                    let s = measure(cmd).with_context(|| format!("failed to run {cell}"))?;
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
        Ok(crate::exit::OK)
    }
}
