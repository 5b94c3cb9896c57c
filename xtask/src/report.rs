//! The `race-hunt/v1` JSON report, written atomically.
//!
//! Contract (DESIGN.md): an object with `schema`, `cells` and `summary`;
//! each cell has `fixture`, `variant`, `racy`, `class`, `detector`,
//! `target` (triple), `expect`, `outcome`, `verdict`, `elapsed_ms`,
//! `attempts` and, when detected, `evidence` {kind, message, location,
//! replay}. Fields may be added; none may change meaning.

use std::io::Write;
use std::path::Path;

use serde::Serialize;

use crate::grade::Verdict;
use crate::outcome::Evidence;
use crate::plan::NotPlanned;

pub const SCHEMA: &str = "race-hunt/v1";

#[derive(Debug, Clone, Serialize)]
pub struct CellReport {
    pub fixture: String,
    pub variant: String,
    pub racy: bool,
    pub class: Option<String>,
    pub detector: String,
    /// The target triple.
    pub target: String,
    /// The target's short name (`x86_64`, `armv7`, ...).
    pub target_name: String,
    /// `detect`, `pass` or `may` (a `detect-if` is resolved by then).
    pub expect: String,
    /// Why `may` (from the manifest or the target's probe).
    pub expect_reason: Option<String>,
    /// `detected`, `clean`, `skipped` or `error`.
    pub outcome: String,
    pub verdict: Verdict,
    /// Why the verdict is not `ok`, or why the cell was skipped.
    pub reason: Option<String>,
    pub elapsed_ms: u64,
    /// Iterations or schedules run.
    pub attempts: u64,
    pub evidence: Option<Evidence>,
    /// The cell's raw output.
    pub log: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TargetReport {
    pub name: String,
    pub triple: String,
    pub native: bool,
    /// The command prefix that runs this target's binaries, and whether it
    /// came from the user's environment or the manifest.
    pub runner: Option<String>,
    pub runner_source: Option<String>,
    /// The preflight litmus probe's result, when it ran.
    pub probe: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Summary {
    pub cells: usize,
    pub ok: usize,
    pub fail: usize,
    pub skipped: usize,
    /// `pass`, `fail`, or `missing-prerequisites` (`--require-all` with
    /// skipped cells).
    pub gate: String,
    pub exit_code: i32,
    /// Racy variants that no cell of this run detected.
    pub undetected_racy_variants: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub schema: &'static str,
    pub race_hunt_version: &'static str,
    pub manifest: String,
    pub budget: String,
    pub seed: u64,
    pub require_all: bool,
    pub started_unix: u64,
    pub elapsed_ms: u64,
    pub run_dir: String,
    pub detectors: Vec<String>,
    pub targets: Vec<TargetReport>,
    pub cells: Vec<CellReport>,
    pub not_planned: Vec<NotPlanned>,
    pub summary: Summary,
}

/// Count verdicts and decide the gate and exit code.
pub fn summarize(cells: &[CellReport], require_all: bool) -> Summary {
    let count = |v: Verdict| cells.iter().filter(|c| c.verdict == v).count();
    let (ok, fail, skipped) = (count(Verdict::Ok), count(Verdict::Fail), count(Verdict::Skipped));
    let (gate, exit_code) = if fail > 0 {
        ("fail", crate::exit::GATE_FAILED)
    } else if skipped > 0 && require_all {
        ("missing-prerequisites", crate::exit::MISSING_PREREQUISITE)
    } else {
        ("pass", crate::exit::OK)
    };
    let mut undetected = Vec::new();
    for c in cells.iter().filter(|c| c.racy) {
        let name = format!("{}/{}", c.fixture, c.variant);
        let caught = cells.iter().any(|d| d.fixture == c.fixture && d.variant == c.variant && d.outcome == "detected");
        if !caught && !undetected.contains(&name) {
            undetected.push(name);
        }
    }
    Summary {
        cells: cells.len(),
        ok,
        fail,
        skipped,
        gate: gate.into(),
        exit_code,
        undetected_racy_variants: undetected,
    }
}

/// Write `bytes` to `path` so that a reader (or a killed run) sees the old
/// file or the new one, never half of one: write a temporary file in the
/// same directory, flush it to disk, rename it over `path`.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::Builder::new().prefix(".race-hunt-report").tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

impl Report {
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let mut json = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        json.push(b'\n');
        write_atomic(path, &json)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn cell(variant: &str, racy: bool, outcome: &str, verdict: Verdict) -> CellReport {
        CellReport {
            fixture: "counter".into(),
            variant: variant.into(),
            racy,
            class: racy.then(|| "data-race".into()),
            detector: "stress".into(),
            target: "x86_64-unknown-linux-gnu".into(),
            target_name: "x86_64".into(),
            expect: if racy { "detect" } else { "pass" }.into(),
            expect_reason: None,
            outcome: outcome.into(),
            verdict,
            reason: None,
            elapsed_ms: 5,
            attempts: 2,
            evidence: None,
            log: None,
        }
    }

    #[test]
    fn summary_counts_and_gates() {
        let cells = vec![
            cell("racy-unsync", true, "detected", Verdict::Ok),
            cell("fixed-fetch-add", false, "clean", Verdict::Ok),
            cell("racy-load-store", true, "skipped", Verdict::Skipped),
        ];
        let s = summarize(&cells, false);
        assert_eq!((s.cells, s.ok, s.fail, s.skipped, s.gate.as_str(), s.exit_code), (3, 2, 0, 1, "pass", 0));
        assert_eq!(s.undetected_racy_variants, ["counter/racy-load-store"]);
        let s = summarize(&cells, true);
        assert_eq!((s.gate.as_str(), s.exit_code), ("missing-prerequisites", 3));
        let mut failing = cells.clone();
        failing.push(cell("fixed-fetch-add", false, "detected", Verdict::Fail));
        let s = summarize(&failing, true);
        assert_eq!((s.gate.as_str(), s.exit_code), ("fail", 1));
    }

    #[test]
    fn report_has_the_contract_fields() {
        let mut c = cell("racy-unsync", true, "detected", Verdict::Ok);
        c.evidence = Some(Evidence {
            kind: "oracle-violation".into(),
            message: "lost 3 of 4 increments".into(),
            location: None,
            replay: "scenario-runner run counter/racy-unsync --seed 1".into(),
            details: serde_json::Value::Null,
        });
        let v = serde_json::to_value(&c).unwrap();
        for key in [
            "fixture",
            "variant",
            "racy",
            "class",
            "detector",
            "target",
            "expect",
            "outcome",
            "verdict",
            "elapsed_ms",
            "attempts",
            "evidence",
        ] {
            assert!(v.get(key).is_some(), "missing {key}");
        }
        assert_eq!(v["verdict"], "ok");
        for key in ["kind", "message", "location", "replay"] {
            assert!(v["evidence"].get(key).is_some(), "evidence missing {key}");
        }
    }

    #[test]
    fn atomic_write_replaces_whole_files_and_leaves_no_temporaries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.json");
        write_atomic(&path, b"old").unwrap();
        write_atomic(&path, b"{\"new\":true}").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{\"new\":true}");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, [std::ffi::OsString::from("r.json")]);
    }

    #[test]
    fn a_write_into_a_missing_directory_creates_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/r.json");
        write_atomic(&path, b"{}").unwrap();
        assert!(path.is_file());
    }
}
