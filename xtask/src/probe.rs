//! Preflight litmus probes, one per target, run from the target's stress
//! build of the runner (`scenario-runner probe`): message passing (MP) and
//! store buffering (SB) with `Relaxed` atomics, and a plain `u64` written
//! and read concurrently. The result goes into the report, and MP decides
//! the `weak-memory` condition of `detect-if` expectations.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde::Deserialize;

use crate::grade::Conditions;
use crate::process::{self, Exit};
use crate::target::Target;

pub const PREFIX: &str = "RACE-HUNT-PROBE ";

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
pub struct Litmus {
    pub iterations: u64,
    pub mp_weak: u64,
    pub sb_weak: u64,
    pub u64_torn: u64,
    pub elapsed_ms: u64,
}

pub fn parse(log: &str) -> Option<Litmus> {
    log.lines().rev().find_map(|l| serde_json::from_str(l.strip_prefix(PREFIX)?).ok())
}

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

/// Run the probe with `binary` (a stress build for `target`).
pub fn run(binary: &Path, target: &Target, log: &Path) -> Result<(serde_json::Value, Conditions), String> {
    let mut words = target.runner_prefix();
    words.push(binary.display().to_string());
    words.push("probe".into());
    let mut cmd = Command::new(&words[0]);
    cmd.args(&words[1..]);
    let _ = std::fs::remove_file(log);
    let (exit, _) =
        process::run(cmd, log, Duration::from_secs(120)).map_err(|e| format!("failed to start the probe: {e}"))?;
    let text = std::fs::read_to_string(log).unwrap_or_default();
    match (exit, parse(&text)) {
        (Exit::Code(0), Some(l)) => {
            let c = conditions(target, &l);
            let mut json = serde_json::to_value(LitmusJson::from(&l)).unwrap_or_default();
            if let serde_json::Value::Object(map) = &mut json {
                map.insert("weak_memory".into(), (l.mp_weak > 0).into());
                map.insert("finding".into(), c.finding.clone().into());
                map.insert("command".into(), crate::shell::join(&words).into());
            }
            Ok((json, c))
        }
        (exit, _) => Err(format!("the probe ended with {exit:?} and no result; see {}", log.display())),
    }
}

#[derive(serde::Serialize)]
struct LitmusJson {
    iterations: u64,
    mp_weak: u64,
    sb_weak: u64,
    u64_torn: u64,
    elapsed_ms: u64,
}

impl From<&Litmus> for LitmusJson {
    fn from(l: &Litmus) -> Self {
        LitmusJson {
            iterations: l.iterations,
            mp_weak: l.mp_weak,
            sb_weak: l.sb_weak,
            u64_torn: l.u64_torn,
            elapsed_ms: l.elapsed_ms,
        }
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
        };
        crate::target::resolve(&spec, "x86_64-unknown-linux-gnu", &|_| None)
    }

    #[test]
    fn parses_the_probe_line() {
        let l = parse(
            "noise\nRACE-HUNT-PROBE {\"iterations\":10,\"mp_weak\":0,\"sb_weak\":3,\"u64_torn\":2,\"elapsed_ms\":5}\n",
        )
        .unwrap();
        assert_eq!((l.iterations, l.sb_weak, l.u64_torn), (10, 3, 2));
        assert_eq!(parse("RACE-HUNT-PROBE {"), None);
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
