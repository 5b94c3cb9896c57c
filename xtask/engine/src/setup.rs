//! `cargo xtask setup`: install everything the selected detectors and
//! targets need (rustup toolchains, components and targets; Debian
//! packages as root or with passwordless sudo; cargo-nextest for suite
//! columns), up front. `race-hunt`
//! provisions the same way on demand; CI calls this first so that a
//! missing tool fails early and by name.

use crate::cell::Subject;
use crate::exit;
use crate::provision::Provisioner;
use crate::session::{command_name, Selection};

/// Install what the selected detectors and targets need.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Exit codes: 0 everything is ready; 2 usage or manifest error; 3 something could not be installed."
)]
pub struct Setup {
    #[command(flatten)]
    pub selection: Selection,
}

impl Setup {
    pub fn run(&self) -> exit::Result {
        let session = self.selection.open()?;
        let builds = session.builds();
        let env = session.env(0, &builds, command_name());
        let mut provisioner = Provisioner::new(true);
        let mut missing = 0;
        for det in &session.plan.detectors {
            let d = det.name();
            for t in &session.plan.targets {
                if det.supports(t).is_err() || t.host_only_reason(&crate::target::host_triple()).is_some() {
                    continue;
                }
                let mut needs = det.prerequisites(t, &env);
                // Suite cells run under cargo-nextest, as in a run.
                if session
                    .plan
                    .cells
                    .iter()
                    .any(|c| c.detector == d && c.target.name == t.name && matches!(c.subject, Subject::Suite(_)))
                {
                    needs.push(crate::nextest::prerequisite());
                }
                match provisioner.ensure(&needs) {
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
