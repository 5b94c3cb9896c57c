//! Preflight litmus probes, one per target, run from the target's stress
//! build of the runner (`scenario-runner probe`): message passing (MP) and
//! store buffering (SB) with `Relaxed` atomics, a plain `u64` written and
//! read concurrently, and the overlap probe (how often one thread saw the
//! other make progress during its own short windows of work). The result
//! goes into the report; MP decides the `weak-memory` condition of
//! `detect-if` expectations, the overlap probe whether the machine really
//! ran two threads at once (SB cannot: qemu-user does not show store
//! buffering, and a loaded x86_64 host showed none in 2,000,000 rounds
//! while its threads did overlap).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use race_hunt_report::{Litmus, Probe};

use crate::grade::Conditions;
use crate::process::{self, Exit};
use crate::target::Target;

/// Overlap windows per million below which the probe calls the machine
/// starved: the two threads (almost) never ran at the same time. A window
/// counts only when the other thread moved in two of its steps, so a
/// thread descheduled inside one window on a single CPU does not count;
/// pinned to one core the probe reads 0, on a loaded two-core machine
/// (load average 19) 2-3% of windows.
pub const PARALLEL_OVERLAP_PER_MILLION: u64 = 500;

/// The probe's finding in words, and the conditions it decides.
pub fn conditions(target: &Target, l: &Litmus) -> Conditions {
    let how = if target.native {
        "natively".to_string()
    } else {
        format!("under {}", target.runner_prefix().first().map_or("its runner", String::as_str))
    };
    let n = l.iterations;
    let mut finding = format!(
        "probe on {} ({how}): weak MP outcomes {}/{n}, weak SB outcomes {}/{n}, torn u64 reads {}/{n}, thread overlap in {}/{} windows",
        target.name, l.mp_weak, l.sb_weak, l.u64_torn, l.overlap_windows, l.windows
    );
    match overlap(target, l) {
        Overlap::NotMeasurable => finding.push_str(
            "; thread overlap is not measurable under emulation (the probe saw none, which under qemu-user does not tell whether the host ran the threads at the same time)",
        ),
        Overlap::Starved => finding.push_str("; its two threads (almost) never ran at the same time: a starved machine"),
        Overlap::Parallel => {}
    }
    if l.mp_weak == 0 {
        finding.push_str(if target.native {
            "; this machine never reordered the publication, so stress cannot show ordering bugs here: use real ARM hardware, loom or Miri"
        } else {
            "; the emulator ran guest threads with the host's strong ordering, so stress cannot show ordering bugs here: use real ARM hardware, loom or Miri"
        });
    }
    Conditions { weak_memory: Some(l.mp_weak > 0), finding }
}

/// What the overlap probe says about parallel execution on a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overlap {
    /// The two threads ran at the same time.
    Parallel,
    /// Measured: they (almost) never did.
    Starved,
    /// No overlap seen under emulation, where that does not tell.
    NotMeasurable,
}

/// Whether the probe saw the two threads overlap.
pub fn overlap(target: &Target, l: &Litmus) -> Overlap {
    let parallel = l.windows > 0
        && u128::from(l.overlap_windows) * 1_000_000 / u128::from(l.windows)
            >= u128::from(PARALLEL_OVERLAP_PER_MILLION);
    match (parallel, target.native) {
        (true, _) => Overlap::Parallel,
        (false, true) => Overlap::Starved,
        (false, false) => Overlap::NotMeasurable,
    }
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
            let o = overlap(target, &l);
            let probe = Probe {
                litmus: l,
                weak_memory: l.mp_weak > 0,
                parallel: o != Overlap::Starved,
                parallel_measured: o != Overlap::NotMeasurable,
                finding: c.finding.clone(),
            };
            Ok((probe, c))
        }
        (exit, _) => Err(format!("the probe ended with {exit:?} and no result; see {}", log.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::TargetSpec;

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

    fn litmus(windows: u64, overlap_windows: u64, sb_weak: u64) -> Litmus {
        Litmus { iterations: 2_000_000, mp_weak: 0, sb_weak, u64_torn: 0, elapsed_ms: 1, windows, overlap_windows }
    }

    fn native() -> Target {
        let mut t = target("x86_64", "x86_64-unknown-linux-gnu");
        t.native = true;
        t
    }

    /// The overlap probe decides, not SB: a loaded x86_64 host that showed
    /// no store buffering while its threads overlapped is parallel; one
    /// core (overlap 0) is starved.
    #[test]
    fn overlap_decides_parallelism_not_store_buffering() {
        // Real probe lines (this machine, load average 19): unpinned, and
        // under `taskset -c 0`.
        let loaded: Litmus = serde_json::from_str(
            r#"{"iterations":100000,"mp_weak":0,"sb_weak":0,"u64_torn":0,"elapsed_ms":10407,"windows":20000,"overlap_windows":650}"#,
        )
        .unwrap();
        let pinned: Litmus = serde_json::from_str(
            r#"{"iterations":100000,"mp_weak":0,"sb_weak":0,"u64_torn":0,"elapsed_ms":10210,"windows":20000,"overlap_windows":0}"#,
        )
        .unwrap();
        assert_eq!(overlap(&native(), &loaded), Overlap::Parallel);
        assert_eq!(overlap(&native(), &pinned), Overlap::Starved);
        // Store buffering alone no longer makes a machine parallel.
        assert_eq!(overlap(&native(), &litmus(20_000, 0, 9000)), Overlap::Starved);
        assert_eq!(overlap(&native(), &litmus(0, 0, 0)), Overlap::Starved);
    }

    /// Under qemu an overlap seen is an overlap; none seen is not a
    /// measurement, so the finding says so instead of "starved".
    #[test]
    fn under_emulation_no_overlap_is_not_measurable() {
        let arm = target("armv7", "armv7-unknown-linux-gnueabihf");
        assert!(!arm.native);
        assert_eq!(overlap(&arm, &litmus(20_000, 3000, 0)), Overlap::Parallel);
        assert_eq!(overlap(&arm, &litmus(570_112, 0, 0)), Overlap::NotMeasurable);
        let c = conditions(&arm, &litmus(570_112, 0, 0));
        assert!(c.finding.contains("not measurable under emulation"), "{}", c.finding);
        assert!(!c.finding.contains("starved"), "{}", c.finding);
        let c = conditions(&native(), &litmus(20_000, 0, 0));
        assert!(c.finding.contains("a starved machine"), "{}", c.finding);
    }

    #[test]
    fn no_weak_mp_means_no_weak_memory_and_says_what_to_use() {
        let l = Litmus {
            iterations: 100,
            mp_weak: 0,
            sb_weak: 7,
            u64_torn: 9,
            elapsed_ms: 1,
            windows: 20_000,
            overlap_windows: 9_000,
        };
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
