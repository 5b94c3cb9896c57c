//! The `race-hunt/v1` report (types in `race-hunt-report`): the summary and
//! gate decision, and atomic writes.

use std::io::Write;
use std::path::Path;

use race_hunt_report::{CellReport, Gate, Outcome, Report, Summary, Verdict};

use crate::exit;

/// Count verdicts and decide the gate and exit code. `stopped` is the
/// signal that stopped the run, if any.
pub fn summarize(cells: &[CellReport], require_all: bool, stopped: Option<i32>) -> Summary {
    let count = |v: Verdict| cells.iter().filter(|c| c.verdict == v).count();
    let (ok, fail, skipped, not_run) =
        (count(Verdict::Ok), count(Verdict::Fail), count(Verdict::Skipped), count(Verdict::NotRun));
    let errors = cells.iter().filter(|c| c.outcome == Outcome::Error).count();
    let wrong = cells.iter().filter(|c| c.verdict == Verdict::Fail && c.outcome != Outcome::Error).count();
    let (gate, exit_code) = if let Some(sig) = stopped {
        (Gate::Interrupted, crate::process::stop_exit_code(sig))
    } else if wrong > 0 {
        (Gate::Fail, exit::GATE_FAILED)
    } else if errors > 0 {
        (Gate::Error, exit::INFRASTRUCTURE)
    } else if skipped > 0 && require_all {
        (Gate::MissingPrerequisites, exit::MISSING_PREREQUISITE)
    } else {
        (Gate::Pass, exit::OK)
    };
    let mut undetected = Vec::new();
    for c in cells.iter().filter(|c| c.racy && matches!(c.outcome, Outcome::Clean | Outcome::Detected)) {
        let name = format!("{}/{}", c.fixture, c.variant);
        let caught = cells.iter().any(|d| {
            d.fixture == c.fixture
                && d.variant == c.variant
                && d.outcome == Outcome::Detected
                && d.not_credited.is_none()
        });
        if !caught && !undetected.contains(&name) {
            undetected.push(name);
        }
    }
    Summary {
        cells: cells.len(),
        ok,
        fail,
        skipped,
        not_run,
        errors,
        gate,
        exit_code,
        undetected_racy_variants: undetected,
        proofs: Vec::new(),
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

pub fn write(report: &Report, path: &Path) -> std::io::Result<()> {
    let mut json = serde_json::to_vec_pretty(report).map_err(std::io::Error::other)?;
    json.push(b'\n');
    write_atomic(path, &json)
}

/// Check up front that `path` can be written as an output file: not a
/// directory, in a directory that exists (or can be made) and is writable.
pub fn check_writable(path: &Path) -> Result<(), String> {
    if path.is_dir() {
        return Err(format!("{} is a directory, not a file", path.display()));
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    tempfile::Builder::new()
        .prefix(".race-hunt-check")
        .tempfile_in(dir)
        .map(drop)
        .map_err(|e| format!("cannot write in {}: {e}", dir.display()))
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use race_hunt_report::{BugClass, Expect, Role, Subject};

    pub fn cell(variant: &str, racy: bool, outcome: Outcome, verdict: Verdict) -> CellReport {
        CellReport {
            fixture: "counter".into(),
            variant: variant.into(),
            subject: Subject::Fixture,
            role: Role::Control,
            racy,
            class: racy.then_some(BugClass::DataRace),
            detector: "stress".into(),
            target: "x86_64-unknown-linux-gnu".into(),
            target_name: "x86_64".into(),
            expect: if racy { Expect::Detect } else { Expect::Pass },
            expect_reason: None,
            outcome,
            verdict,
            reason: None,
            elapsed_ms: 5,
            attempts: 2,
            evidence: None,
            log: None,
            starved: None,
            not_credited: None,
        }
    }

    #[test]
    fn summary_counts_and_gates() {
        let cells = vec![
            cell("racy-unsync", true, Outcome::Detected, Verdict::Ok),
            cell("fixed-fetch-add", false, Outcome::Clean, Verdict::Ok),
            cell("racy-load-store", true, Outcome::Skipped, Verdict::Skipped),
        ];
        let s = summarize(&cells, false, None);
        assert_eq!((s.cells, s.ok, s.fail, s.skipped, s.gate, s.exit_code), (3, 2, 0, 1, Gate::Pass, 0));
        assert!(s.undetected_racy_variants.is_empty(), "a skipped variant did not run");
        let s = summarize(&cells, true, None);
        assert_eq!((s.gate, s.exit_code), (Gate::MissingPrerequisites, 3));
        let mut failing = cells.clone();
        failing.push(cell("fixed-fetch-add", false, Outcome::Detected, Verdict::Fail));
        let s = summarize(&failing, true, None);
        assert_eq!((s.gate, s.exit_code), (Gate::Fail, 1));
    }

    #[test]
    fn errors_are_their_own_gate_and_code_and_a_stop_wins() {
        let cells = vec![
            cell("racy-unsync", true, Outcome::Error, Verdict::Fail),
            cell("racy-load-store", true, Outcome::Clean, Verdict::Ok),
            cell("fixed-fetch-add", false, Outcome::NotRun, Verdict::NotRun),
        ];
        let s = summarize(&cells, false, None);
        assert_eq!((s.gate, s.exit_code, s.errors, s.not_run), (Gate::Error, 4, 1, 1));
        assert_eq!(s.undetected_racy_variants, ["counter/racy-load-store"], "only variants that ran");
        let s = summarize(&cells, false, Some(libc::SIGTERM));
        assert_eq!((s.gate, s.exit_code), (Gate::Interrupted, 143));
        assert_eq!(summarize(&cells, false, Some(libc::SIGINT)).exit_code, 130);
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
    fn writability_is_checked_up_front() {
        let dir = tempfile::tempdir().unwrap();
        assert!(check_writable(&dir.path().join("a/b/r.json")).is_ok());
        assert!(check_writable(dir.path()).unwrap_err().contains("is a directory"));
        let ro = dir.path().join("ro");
        std::fs::create_dir(&ro).unwrap();
        std::fs::set_permissions(&ro, std::os::unix::fs::PermissionsExt::from_mode(0o555)).unwrap();
        // root ignores directory permissions; the check is only meaningful for others.
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            assert!(check_writable(&ro.join("r.json")).unwrap_err().contains("cannot write"));
        }
    }
}
