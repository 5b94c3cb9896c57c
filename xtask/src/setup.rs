//! `cargo xtask setup`: install everything the selected detectors and
//! targets need (rustup toolchains, components and targets; Debian
//! packages as root or with passwordless sudo), up front. `race-hunt`
//! provisions the same way on demand; CI calls this first so that a
//! missing tool fails early and by name.

use crate::detector::{self, Context};
use crate::exit;
use crate::manifest;
use crate::plan::{self, Filters};
use crate::provision::Provisioner;
use crate::race_hunt::root;

/// Install what the selected detectors and targets need.
#[derive(Debug, clap::Args)]
pub struct Setup {
    /// Detectors (comma list, or `all`; default: the manifest's `run.detectors`).
    #[arg(long, value_delimiter = ',')]
    pub detector: Vec<String>,
    /// Targets (comma list, or `all`; default: the manifest's `run.targets`).
    #[arg(long, value_delimiter = ',')]
    pub target: Vec<String>,
}

impl Setup {
    pub fn run(&self) -> anyhow::Result<i32> {
        let root = root();
        let m = match manifest::load(&root.join("race-hunt.toml")) {
            Ok(m) => m,
            Err(e) => {
                eprintln!("error: invalid manifest: {e}");
                return Ok(exit::USAGE);
            }
        };
        let filters = Filters { detectors: self.detector.clone(), targets: self.target.clone(), fixtures: Vec::new() };
        let plan = match plan::plan(&m, &filters, &crate::target::host_triple(), &|k| std::env::var(k).ok()) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("error: {e}");
                return Ok(exit::USAGE);
            }
        };
        let nightly = m.nightly();
        let ctx = Context { seed: 0, nightly: &nightly, root: &root, tsan_suppressions: None };
        let mut provisioner = Provisioner::new(true);
        let mut missing = 0;
        for d in &plan.detectors {
            let det = detector::by_name(d).expect("planned detectors exist");
            for t in &plan.targets {
                if det.supports(t).is_err() {
                    continue;
                }
                match provisioner.ensure(&det.prerequisites(t, &ctx)) {
                    Ok(()) => println!("ready    {d}@{}", t.name),
                    Err(reason) => {
                        missing += 1;
                        println!("MISSING  {d}@{}: {reason}", t.name);
                    }
                }
            }
        }
        Ok(if missing == 0 { exit::OK } else { exit::MISSING_PREREQUISITE })
    }
}
