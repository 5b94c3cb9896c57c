//! Preflight litmus probes, one per target, run from the target's stress
//! build of the runner (`scenario-runner probe`): message passing (MP) and
//! store buffering (SB) with `Relaxed` atomics, and a plain `u64` written
//! and read concurrently. The result goes into the report, and MP decides
//! the `weak-memory` condition of `detect-if` expectations.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use race_hunt_report::{Litmus, Probe};

use crate::grade::Conditions;
use crate::process::{self, Exit};
use crate::target::Target;

/// Store-buffering outcomes per million rounds below which the probe calls
/// the machine starved: two threads never really ran at the same time.
/// SB is allowed everywhere (x86 included), so two threads that really
/// overlap show it; two threads time-sliced on one core do not.
pub const PARALLEL_SB_PER_MILLION: u64 = 1;

/// The probe's finding in words, and the conditions it decides.
pub fn conditions(target: &Target, l: &Litmus) -> Conditions {
    let how = if target.native {
        "natively".to_string()
    } else {
        format!("under {}", target.runner_prefix().first().map_or("its runner", String::as_str))
    };
    let n = l.iterations;
    let mut finding = format!(
        "probe on {} ({how}): weak MP outcomes {}/{n}, weak SB outcomes {}/{n}, torn u64 reads {}/{n}",
        target.name, l.mp_weak, l.sb_weak, l.u64_torn
    );
    if l.mp_weak == 0 {
        finding.push_str(if target.native {
            "; this machine never reordered the publication, so stress cannot show ordering bugs here: use real ARM hardware, loom or Miri"
        } else {
            "; the emulator ran guest threads with the host's strong ordering, so stress cannot show ordering bugs here: use real ARM hardware, loom or Miri"
        });
    }
    Conditions { weak_memory: Some(l.mp_weak > 0), finding }
}

/// Whether the probe saw the two threads overlap.
pub fn parallel(l: &Litmus) -> bool {
    l.iterations > 0
        && u128::from(l.sb_weak) * 1_000_000 / u128::from(l.iterations) >= u128::from(PARALLEL_SB_PER_MILLION)
}

/// Run the probe with `binary` (a plain real-thread build for `target`).
pub fn run(binary: &Path, target: &Target, log: &Path) -> Result<(Probe, Conditions), String> {
    let mut words = target.runner_prefix();
    words.push(binary.display().to_string());
    words.push("probe".into());
    let mut cmd = Command::new(&words[0]);
    cmd.args(&words[1..]);
    let _ = std::fs::remove_file(log);
    let (exit, _) =
        process::run(cmd, log, Duration::from_secs(120)).map_err(|e| format!("failed to start the probe: {e}"))?;
    let text = std::fs::read_to_string(log).unwrap_or_default();
    match (exit, Litmus::find(&text)) {
        (Exit::Code(0), Some(l)) => {
            let c = conditions(target, &l);
            let probe =
                Probe { litmus: l, weak_memory: l.mp_weak > 0, parallel: parallel(&l), finding: c.finding.clone() };
            Ok((probe, c))
        }
        (exit, _) => Err(format!("the probe ended with {exit:?} and no result; see {}", log.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::TargetSpec;

    fn target(name: &str, triple: &str) -> Target {
        let spec = TargetSpec {
            name: name.into(),
            triple: triple.into(),
            toolchain: None,
            qemu: Some("qemu-arm".into()),
            sysroot: None,
            linker: None,
            apt: vec![],
            host_only: false,
            runs_on: None,
        };
        crate::target::resolve(&spec, "x86_64-unknown-linux-gnu", &|_| None)
    }

    #[test]
    fn no_store_buffering_means_no_parallel_overlap() {
        let l = Litmus { iterations: 2_000_000, mp_weak: 0, sb_weak: 0, u64_torn: 0, elapsed_ms: 1 };
        assert!(!parallel(&l));
        assert!(parallel(&Litmus { sb_weak: 9000, ..l }));
        assert!(!parallel(&Litmus { iterations: 0, ..l }));
    }

    #[test]
    fn no_weak_mp_means_no_weak_memory_and_says_what_to_use() {
        let l = Litmus { iterations: 100, mp_weak: 0, sb_weak: 7, u64_torn: 9, elapsed_ms: 1 };
        let c = conditions(&target("armv7", "armv7-unknown-linux-gnueabihf"), &l);
        assert_eq!(c.weak_memory, Some(false));
        assert!(c.finding.contains("weak MP outcomes 0/100"), "{}", c.finding);
        assert!(c.finding.contains("torn u64 reads 9/100"), "{}", c.finding);
        assert!(c.finding.contains("under qemu-arm"), "{}", c.finding);
        assert!(c.finding.contains("real ARM hardware, loom or Miri"), "{}", c.finding);
        let weak = Litmus { mp_weak: 4, ..l };
        assert_eq!(conditions(&target("armv7", "armv7-unknown-linux-gnueabihf"), &weak).weak_memory, Some(true));
    }
}
