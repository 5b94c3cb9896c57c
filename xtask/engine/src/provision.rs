//! Prerequisites: check them, install what can be installed (rustup
//! toolchains, targets and components; Debian packages when running as
//! root or with passwordless sudo), and otherwise say exactly which
//! command to run.

use std::collections::HashMap;
use std::process::{Command, Stdio};

use crate::prerequisite::Prerequisite;

fn quiet(cmd: &mut Command) -> Option<std::process::Output> {
    cmd.stdin(Stdio::null()).output().ok()
}

fn rustup(toolchain: Option<&str>, args: &[&str]) -> Command {
    let mut c = Command::new("rustup");
    c.args(args);
    if let Some(tc) = toolchain {
        c.args(["--toolchain", tc]);
    }
    c
}

impl Prerequisite {
    pub fn is_met(&self) -> bool {
        match self {
            Prerequisite::Toolchain(tc) => {
                quiet(Command::new("rustup").args(["run", tc, "rustc", "-V"])).is_some_and(|o| o.status.success())
            }
            Prerequisite::RustTarget { toolchain, triple } => {
                quiet(&mut rustup(toolchain.as_deref(), &["target", "list", "--installed"]))
                    .is_some_and(|o| String::from_utf8_lossy(&o.stdout).lines().any(|l| l.trim() == triple))
            }
            Prerequisite::RustComponent { toolchain, component } => {
                quiet(&mut rustup(Some(toolchain), &["component", "list", "--installed"])).is_some_and(|o| {
                    String::from_utf8_lossy(&o.stdout)
                        .lines()
                        .any(|l| l.trim() == component || l.trim().starts_with(&format!("{component}-")))
                })
            }
            Prerequisite::DebPackage(p) => quiet(Command::new("dpkg-query").args(["-W", "-f=${Status}", p]))
                .is_some_and(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed")),
            Prerequisite::Program { program, .. } | Prerequisite::CargoTool { program, .. } => on_path(program),
        }
    }

    /// The commands that install it, or `None` when the harness must not.
    pub fn install_commands(&self) -> Option<Vec<Vec<String>>> {
        let s = |v: &[&str]| v.iter().map(|w| w.to_string()).collect::<Vec<String>>();
        match self {
            Prerequisite::Toolchain(tc) => {
                Some(vec![s(&["rustup", "toolchain", "install", tc, "--profile", "minimal"])])
            }
            Prerequisite::RustTarget { toolchain, triple } => {
                let mut c = s(&["rustup", "target", "add", triple]);
                if let Some(tc) = toolchain {
                    c.extend(s(&["--toolchain", tc]));
                }
                Some(vec![c])
            }
            Prerequisite::RustComponent { toolchain, component } => {
                Some(vec![s(&["rustup", "component", "add", component, "--toolchain", toolchain])])
            }
            Prerequisite::DebPackage(p) => Some(apt_install(std::slice::from_ref(p))),
            Prerequisite::CargoTool { package, .. } => Some(vec![s(&["cargo", "install", "--locked", package])]),
            Prerequisite::Program { user: true, .. } => None,
            Prerequisite::Program { apt, .. } if apt.is_empty() => None,
            Prerequisite::Program { apt, .. } => Some(apt_install(apt)),
        }
    }

    fn needs_root(&self) -> bool {
        matches!(self, Prerequisite::DebPackage(_) | Prerequisite::Program { .. })
    }
}

fn apt_install(packages: &[String]) -> Vec<Vec<String>> {
    // `--`: a package name never reads as an option.
    let mut install =
        vec!["apt-get".to_string(), "install".into(), "-y".into(), "--no-install-recommends".into(), "--".into()];
    install.extend(packages.iter().cloned());
    vec![vec!["apt-get".into(), "update".into()], install]
}

pub fn on_path(program: &str) -> bool {
    if program.contains('/') {
        return std::path::Path::new(program).is_file();
    }
    std::env::var_os("PATH").is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

/// How root commands are run here: directly (root), through `sudo -n`, or
/// not at all.
fn root_prefix() -> Option<Vec<String>> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return Some(Vec::new());
    }
    let sudo_ok = on_path("sudo")
        && Command::new("sudo")
            .args(["-n", "true"])
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
    sudo_ok.then(|| vec!["sudo".to_string(), "-n".to_string()])
}

/// Checks and installs prerequisites, remembering every answer so each is
/// looked at once per run.
pub struct Provisioner {
    pub allow_install: bool,
    known: HashMap<Prerequisite, Result<(), String>>,
    apt_updated: bool,
}

impl Provisioner {
    pub fn new(allow_install: bool) -> Self {
        Provisioner { allow_install, known: HashMap::new(), apt_updated: false }
    }

    /// `Err(reason)` names what is missing and the exact command to run.
    pub fn ensure(&mut self, needs: &[Prerequisite]) -> Result<(), String> {
        for need in needs {
            if let Some(answer) = self.known.get(need) {
                answer.clone()?;
                continue;
            }
            let answer = self.ensure_one(need);
            self.known.insert(need.clone(), answer.clone());
            answer?;
        }
        Ok(())
    }

    fn ensure_one(&mut self, need: &Prerequisite) -> Result<(), String> {
        if need.is_met() {
            return Ok(());
        }
        let Some(commands) = need.install_commands() else {
            return Err(format!("missing {need}: it is your setting, so race-hunt does not install it; install it or unset the variable"));
        };
        let manual = commands.iter().map(|c| crate::shell::join(c)).collect::<Vec<_>>().join(" && ");
        if !self.allow_install {
            return Err(format!("missing {need}: run `{manual}` (or drop --no-install)"));
        }
        let prefix = if need.needs_root() {
            match root_prefix() {
                Some(p) => p,
                None => return Err(format!("missing {need}: run `sudo {manual}` (race-hunt installs packages only as root or with passwordless sudo)")),
            }
        } else {
            Vec::new()
        };
        for command in commands {
            if let Some(sig) = crate::process::stop_signal() {
                // Nothing new starts after a stop.
                return Err(format!("missing {need}: not installed, stopped by {}", crate::process::signal_name(sig)));
            }
            if command[..2] == ["apt-get", "update"] {
                if self.apt_updated {
                    continue;
                }
                self.apt_updated = true;
            }
            let full: Vec<String> = prefix.iter().cloned().chain(command).collect();
            eprintln!("race-hunt: installing {need}: {}", crate::shell::join(&full));
            let mut c = Command::new(&full[0]);
            c.args(&full[1..]).stdin(Stdio::null());
            if full.iter().any(|w| w == "apt-get") {
                c.env("DEBIAN_FRONTEND", "noninteractive");
            }
            let status = c.status().map_err(|e| format!("failed to start `{}`: {e}", full[0]))?;
            if !status.success() {
                return Err(format!(
                    "missing {need}: `{}` failed ({status}); run it by hand to see why",
                    crate::shell::join(&full)
                ));
            }
        }
        if need.is_met() {
            Ok(())
        } else {
            Err(format!("missing {need}: installing it with `{manual}` did not make it appear"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn install_commands_are_exact() {
        let t = Prerequisite::RustTarget {
            toolchain: Some("stable".into()),
            triple: "armv7-unknown-linux-gnueabihf".into(),
        };
        assert_eq!(
            t.install_commands().unwrap(),
            [["rustup", "target", "add", "armv7-unknown-linux-gnueabihf", "--toolchain", "stable"]]
        );
        let c = Prerequisite::RustComponent { toolchain: "nightly".into(), component: "rust-src".into() };
        assert_eq!(
            c.install_commands().unwrap(),
            [["rustup", "component", "add", "rust-src", "--toolchain", "nightly"]]
        );
        let p = Prerequisite::Program { program: "qemu-arm".into(), user: false, apt: vec!["qemu-user".into()] };
        assert_eq!(
            p.install_commands().unwrap()[1],
            ["apt-get", "install", "-y", "--no-install-recommends", "--", "qemu-user"]
        );
    }

    #[test]
    fn a_users_program_is_never_installed() {
        let p = Prerequisite::Program { program: "my-qemu".into(), user: true, apt: vec!["qemu-user".into()] };
        assert_eq!(p.install_commands(), None);
        let mut prov = Provisioner::new(true);
        let err = prov
            .ensure(&[Prerequisite::Program {
                program: "definitely-not-a-program-xyz".into(),
                user: true,
                apt: vec![],
            }])
            .unwrap_err();
        assert!(err.contains("missing program `definitely-not-a-program-xyz`"), "{err}");
        assert!(err.contains("your setting"), "{err}");
    }

    #[test]
    fn without_install_the_error_gives_the_command() {
        let mut prov = Provisioner::new(false);
        let need = Prerequisite::Program {
            program: "qemu-nonexistent-xyz".into(),
            user: false,
            apt: vec!["qemu-user".into()],
        };
        let err = prov.ensure(std::slice::from_ref(&need)).unwrap_err();
        assert_eq!(err, "missing program `qemu-nonexistent-xyz`: run `apt-get update && apt-get install -y --no-install-recommends -- qemu-user` (or drop --no-install)");
        // Remembered: asked again, same answer without a second check.
        assert_eq!(prov.ensure(&[need]).unwrap_err(), err);
    }

    #[test]
    fn programs_are_found_on_path() {
        assert!(on_path("sh"));
        assert!(!on_path("definitely-not-a-program-xyz"));
    }
}
