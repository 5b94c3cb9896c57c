//! Exit codes of every subcommand, in one place, and the one error type
//! that maps to them.
//!
//! | code | meaning |
//! | ---- | ------- |
//! | 0    | the gate passed (or the command did what it was asked) |
//! | 1    | the gate failed: some cell's verdict is `fail` (a replay reproduced its detection; `gate`: a report missing, unreadable or foreign, or a cell that did not run) |
//! | 2    | usage or manifest error (bad flag, bad value, unwritable output path, manifest error at file:line:column) |
//! | 3    | a required prerequisite is missing (`--require-all` with skipped cells) |
//! | 4    | infrastructure failure: the harness could not get an answer (a build failed for a reason that is not a detection, a cell ended in `error`, the report could not be written) |
//! | 130  | interrupted by SIGINT (Ctrl-C); the report marks the unfinished cells `not-run` |
//! | 143  | terminated by SIGTERM (a CI cancel); the report marks the unfinished cells `not-run` |

use std::fmt;
use std::path::PathBuf;

/// The gate passed.
pub const OK: i32 = 0;
/// The gate failed: some cell's verdict is `fail`.
pub const GATE_FAILED: i32 = 1;
/// Usage or manifest error.
pub const USAGE: i32 = 2;
/// A required prerequisite is missing (`--require-all` with skipped cells).
pub const MISSING_PREREQUISITE: i32 = 3;
/// The harness could not get an answer.
pub const INFRASTRUCTURE: i32 = 4;
/// Interrupted by SIGINT.
pub const INTERRUPTED: i32 = 130;
/// Terminated by SIGTERM.
pub const TERMINATED: i32 = 143;

/// Every code, with its meaning, for help texts and the README test.
pub const TABLE: &[(i32, &str)] = &[
    (OK, "the gate passed"),
    (GATE_FAILED, "the gate failed (some cell's verdict is `fail`)"),
    (USAGE, "usage or manifest error, or an output path that cannot be written"),
    (MISSING_PREREQUISITE, "a required prerequisite is missing (--require-all)"),
    (
        INFRASTRUCTURE,
        "infrastructure failure (a build failed, a cell ended in `error`, the report could not be written)",
    ),
    (INTERRUPTED, "interrupted by SIGINT (the report marks unfinished cells `not-run`)"),
    (TERMINATED, "terminated by SIGTERM (the report marks unfinished cells `not-run`)"),
];

/// The help text's paragraph about exit codes.
pub fn help() -> String {
    let mut text = String::from("Exit codes:\n");
    for (code, meaning) in TABLE {
        text.push_str(&format!("  {code:>3}  {meaning}\n"));
    }
    text
}

/// `s` as an error message shows it: control characters (a newline, an
/// escape sequence) escaped, so a name from a flag or a manifest cannot
/// break or forge the message's lines.
pub fn shown(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { c.escape_default().to_string() } else { c.to_string() }).collect()
}

/// What went wrong, by the exit code it means. Messages read after
/// "error: " and carry no trailing period.
#[derive(Debug)]
pub enum Failure {
    /// A bad command line or value (exit 2).
    Usage(String),
    /// The manifest (or a file it names) is wrong, with file:line:column (exit 2).
    Manifest(String),
    /// The harness could not do its job (exit 4).
    Infrastructure(anyhow::Error),
}

impl Failure {
    pub fn code(&self) -> i32 {
        match self {
            Failure::Usage(_) | Failure::Manifest(_) => USAGE,
            Failure::Infrastructure(_) => INFRASTRUCTURE,
        }
    }

    pub fn usage(message: impl Into<String>) -> Failure {
        Failure::Usage(message.into())
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Usage(m) => f.write_str(m),
            Failure::Manifest(m) => write!(f, "invalid manifest: {m}"),
            Failure::Infrastructure(e) => write!(f, "{e:#}"),
        }
    }
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Failure {
        Failure::Infrastructure(e)
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Failure {
        Failure::Infrastructure(e.into())
    }
}

/// What a subcommand returns: the exit code to use, or a failure.
pub type Result<T = i32> = std::result::Result<T, Failure>;

/// An error at a place in a file (the manifest, a baseline, a suppressions
/// file): `file:line:column: message`.
#[derive(Debug)]
pub struct ManifestError {
    pub path: PathBuf,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.as_os_str().is_empty() {
            // An error in another file, whose place leads the message.
            return f.write_str(&self.message);
        }
        write!(f, "{}:{}:{}: {}", self.path.display(), self.line, self.column, self.message)
    }
}

impl std::error::Error for ManifestError {}

/// 1-based line and column (in characters) of byte `offset` in `text`.
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_map_to_their_codes() {
        assert_eq!(Failure::usage("x").code(), 2);
        assert_eq!(Failure::Manifest("m.toml:1:1: x".into()).code(), 2);
        assert_eq!(Failure::from(anyhow::anyhow!("disk full")).code(), 4);
        assert_eq!(Failure::Manifest("m.toml:3:1: bad".into()).to_string(), "invalid manifest: m.toml:3:1: bad");
    }

    #[test]
    fn the_table_has_every_code_once() {
        let mut codes: Vec<i32> = TABLE.iter().map(|(c, _)| *c).collect();
        codes.dedup();
        assert_eq!(codes, [0, 1, 2, 3, 4, 130, 143]);
        assert!(help().contains("143  terminated by SIGTERM"));
    }
}
