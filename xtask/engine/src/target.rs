//! Targets: a triple, how to link for it and how to run its binaries.
//!
//! Cross targets link with a Debian cross gcc and run under qemu-user
//! through cargo's own `CARGO_TARGET_<TRIPLE>_LINKER` / `_RUNNER`
//! variables. Architecture invariant: a user's own setting of those
//! variables wins over the manifest.

use crate::prerequisite::Prerequisite;

/// A target as the manifest writes it (`[[targets]]`).
#[derive(Debug, Clone)]
pub struct TargetSpec {
    /// The short name used on the command line and in `detector@target` keys.
    pub name: String,
    pub triple: String,
    pub toolchain: Option<String>,
    pub qemu: Option<String>,
    pub sysroot: Option<String>,
    pub linker: Option<String>,
    pub apt: Vec<String>,
    pub host_only: bool,
    pub runs_on: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// From the user's environment (`CARGO_TARGET_<TRIPLE>_RUNNER`, ...).
    User,
    /// From `race-hunt.toml`.
    Manifest,
}

#[derive(Debug, Clone)]
pub struct Target {
    /// Short name (`x86_64`, `aarch64`, `armv7`).
    pub name: String,
    pub triple: String,
    /// Toolchain for this target's builds (`None`: the default one).
    pub toolchain: Option<String>,
    pub native: bool,
    /// Command prefix that runs a binary of this target (qemu), if any.
    pub runner: Option<(Vec<String>, Source)>,
    pub linker: Option<(String, Source)>,
    /// Debian packages that provide the emulator, linker and libc.
    pub apt: Vec<String>,
    /// Planned only on a host of this target's architecture (real hardware).
    pub host_only: bool,
}

/// `CARGO_TARGET_<TRIPLE>_<WHAT>` as cargo spells it.
pub fn env_key(triple: &str, what: &str) -> String {
    format!("CARGO_TARGET_{}_{what}", triple.to_uppercase().replace(['-', '.'], "_"))
}

/// The host triple, from `rustc -vV`.
pub fn host_triple() -> String {
    std::process::Command::new("rustc")
        .arg("-vV")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout).lines().find_map(|l| l.strip_prefix("host: ").map(str::to_string))
        })
        .unwrap_or_else(|| "x86_64-unknown-linux-gnu".to_string())
}

/// Resolve a manifest target against the environment (`env` looks a
/// variable up; tests pass a table).
pub fn resolve(spec: &TargetSpec, host: &str, env: &dyn Fn(&str) -> Option<String>) -> Target {
    let native = spec.triple == host;
    let user_runner = env(&env_key(&spec.triple, "RUNNER")).filter(|s| !s.trim().is_empty());
    let runner = match user_runner {
        Some(r) => Some((r.split_whitespace().map(str::to_string).collect(), Source::User)),
        None if native => None,
        None => spec.qemu.as_ref().map(|q| {
            let mut words = vec![q.clone()];
            if let Some(sysroot) = &spec.sysroot {
                words.push("-L".into());
                words.push(sysroot.clone());
            }
            (words, Source::Manifest)
        }),
    };
    let linker = match env(&env_key(&spec.triple, "LINKER")).filter(|s| !s.trim().is_empty()) {
        Some(l) => Some((l, Source::User)),
        None if native => None,
        None => spec.linker.clone().map(|l| (l, Source::Manifest)),
    };
    Target {
        name: spec.name.clone(),
        triple: spec.triple.clone(),
        toolchain: spec.toolchain.clone(),
        native,
        runner,
        linker,
        apt: spec.apt.clone(),
        host_only: spec.host_only,
    }
}

/// The architecture of a triple (`aarch64` of `aarch64-unknown-linux-gnu`).
pub fn arch(triple: &str) -> &str {
    triple.split('-').next().unwrap_or(triple)
}

impl Target {
    /// Why a host-only target is not planned on `host`, if it is not.
    pub fn host_only_reason(&self, host: &str) -> Option<String> {
        (self.host_only && arch(host) != arch(&self.triple)).then(|| {
            format!(
                "`{}` runs only on {} hardware (a native runner, no emulator); this host is {}",
                self.name,
                arch(&self.triple),
                arch(host)
            )
        })
    }

    /// What building and running for this target needs, with `toolchain`
    /// overriding the target's own.
    pub fn prerequisites(&self, toolchain: Option<&str>) -> Vec<Prerequisite> {
        let toolchain = toolchain.map(str::to_string).or_else(|| self.toolchain.clone());
        let mut needs = Vec::new();
        if let Some(tc) = &toolchain {
            needs.push(Prerequisite::Toolchain(tc.clone()));
        }
        if !self.native {
            needs.push(Prerequisite::RustTarget { toolchain: toolchain.clone(), triple: self.triple.clone() });
            // Packages first: the programs below usually come from them.
            for p in &self.apt {
                needs.push(Prerequisite::DebPackage(p.clone()));
            }
        }
        if let Some((words, source)) = &self.runner {
            needs.push(Prerequisite::Program {
                program: words[0].clone(),
                user: *source == Source::User,
                apt: self.apt.clone(),
            });
        }
        if let Some((linker, source)) = &self.linker {
            needs.push(Prerequisite::Program {
                program: linker.clone(),
                user: *source == Source::User,
                apt: self.apt.clone(),
            });
        }
        needs
    }

    /// Environment for `cargo build` to link for this target.
    pub fn build_env(&self) -> Vec<(String, String)> {
        match &self.linker {
            Some((linker, _)) => vec![(env_key(&self.triple, "LINKER"), linker.clone())],
            None => Vec::new(),
        }
    }

    /// The command prefix that runs one of this target's binaries.
    pub fn runner_prefix(&self) -> Vec<String> {
        self.runner.as_ref().map(|(w, _)| w.clone()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, triple: &str) -> TargetSpec {
        TargetSpec {
            name: name.into(),
            triple: triple.into(),
            toolchain: None,
            qemu: Some("qemu-aarch64".into()),
            sysroot: Some("/usr/aarch64-linux-gnu".into()),
            linker: Some("aarch64-linux-gnu-gcc".into()),
            apt: vec!["qemu-user".into()],
            host_only: false,
            runs_on: None,
        }
    }

    const HOST: &str = "x86_64-unknown-linux-gnu";

    #[test]
    fn a_host_only_target_is_planned_on_its_own_architecture_only() {
        let mut s = spec("aarch64-native", "aarch64-unknown-linux-gnu");
        s.host_only = true;
        let on_x86 = resolve(&s, HOST, &|_| None);
        assert!(on_x86.host_only_reason(HOST).unwrap().contains("runs only on aarch64 hardware"));
        let on_arm = resolve(&s, "aarch64-unknown-linux-gnu", &|_| None);
        assert!(on_arm.native && on_arm.host_only_reason("aarch64-unknown-linux-gnu").is_none());
    }

    #[test]
    fn env_keys_are_spelled_like_cargo() {
        assert_eq!(
            env_key("armv7-unknown-linux-gnueabihf", "RUNNER"),
            "CARGO_TARGET_ARMV7_UNKNOWN_LINUX_GNUEABIHF_RUNNER"
        );
    }

    #[test]
    fn manifest_settings_apply_when_the_user_has_none() {
        let t = resolve(&spec("aarch64", "aarch64-unknown-linux-gnu"), HOST, &|_| None);
        assert_eq!(t.runner_prefix(), ["qemu-aarch64", "-L", "/usr/aarch64-linux-gnu"]);
        assert_eq!(t.linker, Some(("aarch64-linux-gnu-gcc".into(), Source::Manifest)));
        assert_eq!(
            t.build_env(),
            [("CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER".to_string(), "aarch64-linux-gnu-gcc".to_string())]
        );
        assert!(!t.native);
    }

    #[test]
    fn the_users_runner_and_linker_win() {
        let env = |k: &str| match k {
            "CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER" => {
                Some("/opt/qemu/bin/qemu-aarch64 -L /sysroot -cpu max".to_string())
            }
            "CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER" => Some("clang-aarch64".to_string()),
            _ => None,
        };
        let t = resolve(&spec("aarch64", "aarch64-unknown-linux-gnu"), HOST, &env);
        assert_eq!(
            t.runner,
            Some((
                vec!["/opt/qemu/bin/qemu-aarch64".into(), "-L".into(), "/sysroot".into(), "-cpu".into(), "max".into()],
                Source::User
            ))
        );
        assert_eq!(t.linker, Some(("clang-aarch64".into(), Source::User)));
        // A user's program is checked but never installed on their behalf.
        assert!(t
            .prerequisites(None)
            .iter()
            .any(|p| matches!(p, Prerequisite::Program { program, user: true, .. } if program == "clang-aarch64")));
    }

    #[test]
    fn an_empty_user_setting_does_not_count() {
        let env = |k: &str| (k == "CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER").then(|| "  ".to_string());
        let t = resolve(&spec("aarch64", "aarch64-unknown-linux-gnu"), HOST, &env);
        assert_eq!(t.runner.unwrap().1, Source::Manifest);
    }

    #[test]
    fn the_host_runs_natively_without_runner_or_linker() {
        let t = resolve(&spec("x86_64", HOST), HOST, &|_| None);
        assert!(t.native && t.runner.is_none() && t.linker.is_none());
        assert!(t.prerequisites(None).is_empty());
    }

    #[test]
    fn a_cross_target_needs_its_rust_target_packages_emulator_and_linker() {
        let t = resolve(&spec("aarch64", "aarch64-unknown-linux-gnu"), HOST, &|_| None);
        let needs: Vec<String> = t.prerequisites(Some("stable")).iter().map(|p| p.to_string()).collect();
        assert_eq!(
            needs,
            [
                "rust toolchain `stable`",
                "rust target `aarch64-unknown-linux-gnu` (toolchain stable)",
                "Debian package `qemu-user`",
                "program `qemu-aarch64`",
                "program `aarch64-linux-gnu-gcc`",
            ]
        );
    }
}
