//! The baseline: findings a crate accepts by design (a seqlock's optimistic
//! read, a work-stealing buffer's speculative read: the crate's own CI
//! suppresses them), each listed by fingerprint with a reason.
//!
//! The manifest names the file (`[run] baseline = "race-hunt-baseline.toml"`);
//! `race-hunt baseline REPORT... --out PATH` writes it from a report.
//! Grading (`grade.rs`) passes a pass-expected cell whose findings are all
//! listed, with the reason "baselined: ..."; a racy cell's detection made
//! only of listed findings is not the bug's. Entries a run no longer shows
//! are reported stale (a warning and the report's `baseline.stale`).
//!
//! ```toml
//! [[finding]]
//! fingerprint = "9c1f0e5a7b3d2e41"
//! detector = 'tsan'
//! kind = "tsan-report"
//! what = "data race: read at src/seqlock.rs:40:9 (T2) races with write at src/seqlock.rs:52:9 (T1)"
//! cells = ["store/fixed tsan@x86_64"]
//! reason = "the seqlock's optimistic read races the writer by design; the version check discards it"
//! ```

use std::path::{Path, PathBuf};

use race_hunt_report::{BaselineStatus, CellReport, Expect, Outcome, Report, StaleEntry};
use serde::Deserialize;
use toml::Spanned;

use crate::exit::{line_column, ManifestError};

/// The file name `race-hunt baseline` suggests.
pub const DEFAULT_FILE: &str = "race-hunt-baseline.toml";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    finding: Vec<Spanned<RawEntry>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    fingerprint: Spanned<String>,
    detector: String,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    what: Option<String>,
    #[serde(default)]
    cells: Vec<String>,
    #[serde(default)]
    reason: Option<Spanned<String>>,
}

/// One accepted finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub fingerprint: String,
    pub detector: String,
    /// The evidence kind (`tsan-report`, `test-failure`, ...).
    pub kind: String,
    /// The finding in words, for the reader of the file.
    pub what: String,
    /// Cells it was seen in (`fixture/variant detector@target`): where a run
    /// that does not show it again calls it stale.
    pub cells: Vec<String>,
    /// Why it is accepted. Never empty in a loaded baseline.
    pub reason: String,
}

#[derive(Debug, Clone)]
pub struct Baseline {
    pub path: PathBuf,
    /// A digest of the file's text (the gate merges only reports graded
    /// with the same baseline).
    pub digest: String,
    pub entries: Vec<Entry>,
}

impl Baseline {
    pub fn load(path: &Path) -> Result<Baseline, ManifestError> {
        let text = std::fs::read_to_string(path).map_err(|e| ManifestError {
            path: path.to_path_buf(),
            line: 1,
            column: 1,
            message: format!("failed to read the baseline: {e}"),
        })?;
        Baseline::parse(path, &text, true)
    }

    /// Parse a baseline; with `require_reasons`, an entry without a reason
    /// (or with an empty one) is an error at its place.
    pub fn parse(path: &Path, text: &str, require_reasons: bool) -> Result<Baseline, ManifestError> {
        let error = |span: std::ops::Range<usize>, message: String| {
            let (line, column) = line_column(text, span.start);
            ManifestError { path: path.to_path_buf(), line, column, message }
        };
        let raw: RawFile =
            toml::from_str(text).map_err(|e| error(e.span().unwrap_or(0..0), e.message().trim().to_string()))?;
        let mut entries: Vec<Entry> = Vec::new();
        for spanned in raw.finding {
            let span = spanned.span();
            let e = spanned.into_inner();
            let fp = e.fingerprint.get_ref().trim().to_string();
            if fp.is_empty() {
                return Err(error(e.fingerprint.span(), "a baseline entry's `fingerprint` is empty".into()));
            }
            if entries.iter().any(|x| x.fingerprint == fp) {
                return Err(error(e.fingerprint.span(), format!("fingerprint `{fp}` is listed twice")));
            }
            let reason = match &e.reason {
                Some(r) if !r.get_ref().trim().is_empty() => r.get_ref().trim().to_string(),
                Some(r) if require_reasons => {
                    return Err(error(
                        r.span(),
                        format!("the baseline entry of `{fp}` has an empty `reason`: say why this finding is accepted by design"),
                    ))
                }
                None if require_reasons => {
                    return Err(error(
                        span,
                        format!("the baseline entry of `{fp}` has no `reason`: say why this finding is accepted by design (reason = \"...\")"),
                    ))
                }
                _ => String::new(),
            };
            entries.push(Entry {
                fingerprint: fp,
                detector: e.detector,
                kind: e.kind.unwrap_or_default(),
                what: e.what.unwrap_or_default(),
                cells: e.cells,
                reason,
            });
        }
        Ok(Baseline { path: path.to_path_buf(), digest: crate::fingerprint::digest(text), entries })
    }

    pub fn entry(&self, fingerprint: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.fingerprint == fingerprint)
    }

    /// The reasons, when every one of `fingerprints` (at least one) is listed.
    pub fn covers(&self, fingerprints: &[String]) -> Option<String> {
        if fingerprints.is_empty() {
            return None;
        }
        let mut reasons: Vec<&str> = Vec::new();
        for fp in fingerprints {
            let r = self.entry(fp)?.reason.as_str();
            if !reasons.contains(&r) {
                reasons.push(r);
            }
        }
        Some(reasons.join("; "))
    }

    /// Which entries `cells` showed, and which are stale: some cell of the
    /// entry ran to an answer (clean, detected, hang) and no cell showed the
    /// finding. An entry without cells is checked against every finished
    /// cell of its detector.
    pub fn status(&self, shown_path: &str, cells: &[CellReport]) -> BaselineStatus {
        let shown = |fp: &str| {
            cells.iter().any(|c| c.evidence.as_ref().is_some_and(|e| e.fingerprints.iter().any(|f| f == fp)))
        };
        let finished = |c: &CellReport| matches!(c.outcome, Outcome::Clean | Outcome::Detected | Outcome::Hang);
        let mut matched = Vec::new();
        let mut stale = Vec::new();
        for e in &self.entries {
            if shown(&e.fingerprint) {
                matched.push(e.fingerprint.clone());
                continue;
            }
            let ran: Vec<String> = cells
                .iter()
                .filter(|c| finished(c))
                .map(CellReport::id)
                .filter(|id| {
                    if e.cells.is_empty() {
                        id.split_once(' ').is_some_and(|(_, col)| col.starts_with(&format!("{}@", e.detector)))
                    } else {
                        e.cells.contains(id)
                    }
                })
                .collect();
            if !ran.is_empty() {
                stale.push(StaleEntry {
                    fingerprint: e.fingerprint.clone(),
                    detector: e.detector.clone(),
                    what: e.what.clone(),
                    cells: ran,
                });
            }
        }
        BaselineStatus {
            path: shown_path.to_string(),
            digest: self.digest.clone(),
            entries: self.entries.len(),
            matched,
            stale,
        }
    }
}

/// The baseline file's text for `entries`.
pub fn render(entries: &[Entry]) -> String {
    let q = |s: &str| toml::Value::String(s.to_string()).to_string();
    let mut out = String::from(
        "# race-hunt baseline: findings this project accepts by design (`[run] baseline` in race-hunt.toml).\n\
         # A pass-expected cell whose findings are all listed here is `ok` (\"baselined: REASON\"); any other\n\
         # finding fails as before. Every entry needs a non-empty `reason`. Written by `race-hunt baseline`.\n",
    );
    for e in entries {
        out.push_str("\n[[finding]]\n");
        out.push_str(&format!("fingerprint = {}\n", q(&e.fingerprint)));
        out.push_str(&format!("detector = {}\n", q(&e.detector)));
        out.push_str(&format!("kind = {}\n", q(&e.kind)));
        out.push_str(&format!("what = {}\n", q(&e.what)));
        let cells: Vec<String> = e.cells.iter().map(|c| q(c)).collect();
        out.push_str(&format!("cells = [{}]\n", cells.join(", ")));
        out.push_str(&format!("reason = {}\n", q(&e.reason)));
    }
    out
}

/// The findings of pass-expected cells that detected something: what a
/// baseline would accept. Racy variants' findings are never written (a
/// baselined finding does not count as a racy variant's detection).
pub fn known_findings(reports: &[Report], reason: &str) -> Vec<Entry> {
    let mut entries: Vec<Entry> = Vec::new();
    let mut add = |fp: &str, detector: &str, kind: &str, what: String, cell: String| match entries
        .iter_mut()
        .find(|e| e.fingerprint == fp)
    {
        Some(e) => {
            if !e.cells.contains(&cell) {
                e.cells.push(cell);
            }
        }
        None => entries.push(Entry {
            fingerprint: fp.to_string(),
            detector: detector.to_string(),
            kind: kind.to_string(),
            what,
            cells: vec![cell],
            reason: reason.to_string(),
        }),
    };
    for r in reports {
        for c in r.cells.iter().filter(|c| c.expect == Expect::Pass && !c.racy && c.outcome == Outcome::Detected) {
            let Some(e) = &c.evidence else { continue };
            if e.findings.iter().all(|f| f.fingerprint.is_some()) && !e.findings.is_empty() {
                for f in &e.findings {
                    let at = f.location.as_deref().map(|l| format!(" at {l}")).unwrap_or_default();
                    let what = if f.summary.is_empty() { format!("{}{at}", f.kind) } else { f.summary.clone() };
                    add(f.fingerprint.as_deref().unwrap_or_default(), &c.detector, e.kind.word(), what, c.id());
                }
            } else {
                for fp in &e.fingerprints {
                    let what = match &e.test {
                        Some(t) => format!("{t}: {}", e.message),
                        None => e.message.clone(),
                    };
                    add(fp, &c.detector, e.kind.word(), what, c.id());
                }
            }
        }
    }
    entries
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[[finding]]
fingerprint = "aaaa"
detector = "tsan"
kind = "tsan-report"
what = "data race"
cells = ["store/fixed tsan@x86_64"]
reason = "seqlock read by design"

[[finding]]
fingerprint = "bbbb"
detector = "stress"
reason = "the regression test's own racy read"
"#;

    #[test]
    fn a_baseline_lists_fingerprints_with_reasons() {
        let b = Baseline::parse(Path::new("b.toml"), GOOD, true).unwrap();
        assert_eq!(b.entries.len(), 2);
        assert_eq!(b.covers(&["aaaa".into()]).as_deref(), Some("seqlock read by design"));
        assert_eq!(
            b.covers(&["aaaa".into(), "bbbb".into()]).as_deref(),
            Some("seqlock read by design; the regression test's own racy read")
        );
        assert_eq!(b.covers(&["aaaa".into(), "cccc".into()]), None, "one finding not listed: not covered");
        assert_eq!(b.covers(&[]), None);
    }

    #[test]
    fn an_entry_without_a_reason_is_an_error_at_its_place() {
        let text = "[[finding]]\nfingerprint = \"aaaa\"\ndetector = \"tsan\"\nreason = \"ok\"\n\n[[finding]]\nfingerprint = \"bbbb\"\ndetector = \"tsan\"\n";
        let e = Baseline::parse(Path::new("b.toml"), text, true).unwrap_err();
        assert_eq!((e.line, e.path.to_str().unwrap()), (6, "b.toml"), "{e}");
        assert!(e.to_string().starts_with("b.toml:6:"), "{e}");
        assert!(e.message.contains("no `reason`"), "{e}");
        let empty = "[[finding]]\nfingerprint = \"aaaa\"\ndetector = \"tsan\"\nreason = \"  \"\n";
        let e = Baseline::parse(Path::new("b.toml"), empty, true).unwrap_err();
        assert_eq!((e.line, e.column), (4, 10), "{e}");
        assert!(e.message.contains("empty `reason`"), "{e}");
        // `race-hunt baseline` reads a file whose reasons are still to fill in.
        assert_eq!(Baseline::parse(Path::new("b.toml"), empty, false).unwrap().entries.len(), 1);
        let twice = "[[finding]]\nfingerprint = \"a\"\ndetector = \"t\"\nreason = \"r\"\n[[finding]]\nfingerprint = \"a\"\ndetector = \"t\"\nreason = \"r\"\n";
        assert_eq!(Baseline::parse(Path::new("b.toml"), twice, true).unwrap_err().line, 6);
        let unknown = "[[finding]]\nfingerprint = \"a\"\ndetector = \"t\"\nreason = \"r\"\nwhy = 1\n";
        assert_eq!(Baseline::parse(Path::new("b.toml"), unknown, true).unwrap_err().line, 5);
    }

    #[test]
    fn render_round_trips() {
        let b = Baseline::parse(Path::new("b.toml"), GOOD, true).unwrap();
        let again = Baseline::parse(Path::new("b.toml"), &render(&b.entries), true).unwrap();
        assert_eq!(again.entries, b.entries);
    }

    #[test]
    fn stale_entries_are_those_whose_cells_ran_without_them() {
        use race_hunt_report::Verdict;
        let b = Baseline::parse(Path::new("b.toml"), GOOD, true).unwrap();
        let mut clean = crate::report::tests::cell("fixed", false, Outcome::Clean, Verdict::Ok);
        clean.fixture = "store".into();
        clean.detector = "tsan".into();
        clean.target_name = "x86_64".into();
        let s = b.status("b.toml", std::slice::from_ref(&clean));
        assert_eq!(s.stale.len(), 1, "{s:?}");
        assert_eq!(s.stale[0].fingerprint, "aaaa");
        assert_eq!(s.stale[0].cells, ["store/fixed tsan@x86_64"]);
        // `bbbb` has no cells: checked against every finished stress cell; none ran.
        let mut shown = clean.clone();
        shown.outcome = Outcome::Detected;
        let mut e = race_hunt_report::Evidence::new(race_hunt_report::EvidenceKind::TsanReport, "race", "r");
        e.fingerprints = vec!["aaaa".into()];
        shown.evidence = Some(e);
        let s = b.status("b.toml", &[shown]);
        assert_eq!((s.matched.as_slice(), s.stale.len()), (&["aaaa".to_string()][..], 0));
        let mut skipped = clean;
        skipped.outcome = Outcome::Skipped;
        assert!(b.status("b.toml", &[skipped]).stale.is_empty(), "a cell that did not run proves nothing");
    }
}
