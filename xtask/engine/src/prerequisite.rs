//! What a cell needs installed (a toolchain, a target, a component, a
//! package, a program); `provision.rs` checks and installs them.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Prerequisite {
    Toolchain(String),
    RustTarget {
        toolchain: Option<String>,
        triple: String,
    },
    RustComponent {
        toolchain: String,
        component: String,
    },
    DebPackage(String),
    /// A cargo subcommand installed with `cargo install --locked PACKAGE`.
    CargoTool {
        program: String,
        package: String,
    },
    /// A program on `PATH`; `user` when the user named it (their runner or
    /// linker), in which case it is never installed on their behalf.
    Program {
        program: String,
        user: bool,
        apt: Vec<String>,
    },
}

impl fmt::Display for Prerequisite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Prerequisite::Toolchain(tc) => write!(f, "rust toolchain `{tc}`"),
            Prerequisite::RustTarget { toolchain: Some(tc), triple } => {
                write!(f, "rust target `{triple}` (toolchain {tc})")
            }
            Prerequisite::RustTarget { toolchain: None, triple } => write!(f, "rust target `{triple}`"),
            Prerequisite::RustComponent { toolchain, component } => {
                write!(f, "rustup component `{component}` (toolchain {toolchain})")
            }
            Prerequisite::DebPackage(p) => write!(f, "Debian package `{p}`"),
            Prerequisite::CargoTool { program, .. } => write!(f, "program `{program}`"),
            Prerequisite::Program { program, .. } => write!(f, "program `{program}`"),
        }
    }
}
