//! The `race-hunt/v1` report (types in `race-hunt-report`): the summary and
//! gate decision, and atomic writes.

use std::io::Write;
use std::path::Path;

use race_hunt_report::{CellReport, Gate, Outcome, Report, Summary, Verdict};

use crate::exit;

/// Count verdicts and decide the gate and exit code. `stopped` is the
/// signal that stopped the run, if any. A cell that did not run never
/// passes: without a signal (a merged gate over a stopped shard's report)
/// it fails the gate, exit 1.
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
    } else if not_run > 0 {
        (Gate::Interrupted, exit::GATE_FAILED)
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
    // 0666 less the umask, like any file a program creates (tempfile's
    // default, 0600, would hide the report from a CI's other users).
    let mut tmp = tempfile::Builder::new()
        .prefix(".race-hunt-report")
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666))
        .tempfile_in(dir)?;
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

/// Check up front that the `--json` and `--junit` paths can be written and
/// are not the same file (the second would silently replace the first).
pub fn check_outputs(json: Option<&Path>, junit: Option<&Path>) -> Result<(), String> {
    for path in json.iter().chain(&junit) {
        check_writable(path)?;
    }
    if let (Some(a), Some(b)) = (json, junit) {
        if same_file(a, b) {
            return Err(format!(
                "--json and --junit name the same file ({}): the JUnit would replace the report",
                b.display()
            ));
        }
    }
    Ok(())
}

/// Whether two output paths (which may not exist yet) are one file: their
/// directories canonicalized, then the names compared.
fn same_file(a: &Path, b: &Path) -> bool {
    let canonical = |p: &Path| -> Option<std::path::PathBuf> {
        if let Ok(c) = std::fs::canonicalize(p) {
            return Some(c);
        }
        let dir = match p.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        Some(std::fs::canonicalize(dir).ok()?.join(p.file_name()?))
    };
    match (canonical(a), canonical(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
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

/// Print what the baseline says about a report: stale entries (a warning).
pub fn print_baseline_status(status: &race_hunt_report::BaselineStatus) {
    if status.stale.is_empty() {
        return;
    }
    println!(
        "warning: {} baseline entr{} of {} no longer shown by the cells that ran (remove {} when the race is gone for good; a detector may also just have missed it this time):",
        status.stale.len(),
        if status.stale.len() == 1 { "y" } else { "ies" },
        status.path,
        if status.stale.len() == 1 { "it" } else { "them" }
    );
    let github = std::env::var("GITHUB_ACTIONS").as_deref() == Ok("true");
    for s in &status.stale {
        let line = format!("{} ({}): {} [ran: {}]", s.fingerprint, s.detector, s.what, s.cells.join(", "));
        println!("  - {line}");
        if github {
            println!(
                "::warning title=race-hunt: stale baseline entry::{}",
                crate::github::escape_data(&format!("{}: no longer shown: {line}", status.path))
            );
        }
    }
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
            cpu_ms: 0,
            attempts: 2,
            evidence: None,
            log: None,
            starved: None,
            notes: Vec::new(),
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
    fn a_cell_that_did_not_run_never_passes_a_gate() {
        let cells = vec![
            cell("racy-unsync", true, Outcome::Detected, Verdict::Ok),
            cell("fixed-fetch-add", false, Outcome::NotRun, Verdict::NotRun),
        ];
        for require_all in [false, true] {
            let s = summarize(&cells, require_all, None);
            assert_eq!((s.gate, s.exit_code, s.not_run), (Gate::Interrupted, 1, 1), "{require_all}");
        }
        // A run that was stopped keeps its signal's code.
        assert_eq!(summarize(&cells, true, Some(libc::SIGTERM)).exit_code, 143);
        assert_eq!(summarize(&cells, true, Some(libc::SIGINT)).exit_code, 130);
        // Skipped and not-run cells together: not-run is not a missing prerequisite.
        let mut both = cells.clone();
        both.push(cell("racy-load-store", true, Outcome::Skipped, Verdict::Skipped));
        assert_eq!(summarize(&both, true, None).exit_code, 1);
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
    fn reports_get_the_mode_the_umask_allows() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.json");
        write_atomic(&path, b"{}").unwrap();
        // The umask, read the way a created file sees it.
        let probe = dir.path().join("probe");
        std::fs::write(&probe, b"").unwrap();
        let expected = std::fs::metadata(&probe).unwrap().permissions().mode() & 0o777;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, expected, "{mode:o} vs {expected:o}");
        assert_ne!(mode, 0o600, "not tempfile's private mode (the umask here would have to be 0177)");
    }

    #[test]
    fn the_json_and_junit_outputs_must_be_two_files() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("out");
        let sub = dir.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        let same = sub.join("../out");
        let err = check_outputs(Some(&a), Some(&same)).unwrap_err();
        assert!(err.contains("name the same file"), "{err}");
        let link = dir.path().join("link");
        std::fs::write(&a, b"").unwrap();
        std::os::unix::fs::symlink(&a, &link).unwrap();
        assert!(check_outputs(Some(&link), Some(&a)).is_err(), "a symlink to the same file");
        assert!(check_outputs(Some(&a), Some(&dir.path().join("out.xml"))).is_ok());
        assert!(check_outputs(Some(&a), None).is_ok());
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
