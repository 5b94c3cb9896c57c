//! The findings as SARIF 2.1.0 (`--sarif PATH` on a run and on the gate),
//! for GitHub code scanning (`github/codeql-action/upload-sarif`).
//!
//! One result per finding of every cell that detected something or failed
//! with evidence: a TSan or Miri cell's distinct reports each, any other
//! evidence once. Rule id `DETECTOR/KIND`; level `error` for a failing
//! cell, `note` otherwise; a baselined finding carries an accepted external
//! suppression with the baseline's reason. `partialFingerprints` carry the
//! finding's fingerprint under `raceHunt/v1`, so code scanning follows one
//! race across runs. Locations are repository-relative (`file:line:column`
//! of the evidence); a finding without one in the repository points at the
//! manifest.
//!
//! A few structs with serde rather than `serde-sarif` (0.8, kept up, but
//! generated from the whole schema by a build script, with `typed-builder`
//! and more dependencies) for the dozen properties written here; a test
//! checks the shape against the 2.1.0 schema's required properties.

use std::collections::BTreeMap;
use std::path::Path;

use race_hunt_report::{Outcome, Report, Verdict};
use serde::Serialize;

pub const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";
pub const VERSION: &str = "2.1.0";

#[derive(Debug, Serialize)]
pub struct Log {
    #[serde(rename = "$schema")]
    pub schema: &'static str,
    pub version: &'static str,
    pub runs: Vec<Run>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Run {
    pub tool: Tool,
    pub results: Vec<SarifResult>,
}

#[derive(Debug, Serialize)]
pub struct Tool {
    pub driver: Driver,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Driver {
    pub name: &'static str,
    pub version: String,
    pub information_uri: &'static str,
    pub rules: Vec<Rule>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    pub id: String,
    pub name: String,
    pub short_description: Message,
}

#[derive(Debug, Serialize)]
pub struct Message {
    pub text: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SarifResult {
    pub rule_id: String,
    pub rule_index: usize,
    pub level: &'static str,
    pub message: Message,
    pub locations: Vec<Location>,
    pub partial_fingerprints: BTreeMap<&'static str, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub suppressions: Vec<Suppression>,
    pub properties: BTreeMap<&'static str, String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Location {
    pub physical_location: PhysicalLocation,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PhysicalLocation {
    pub artifact_location: ArtifactLocation,
    pub region: Region,
}

#[derive(Debug, Serialize)]
pub struct ArtifactLocation {
    pub uri: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Region {
    pub start_line: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_column: Option<u64>,
}

#[derive(Debug, Serialize)]
pub struct Suppression {
    pub kind: &'static str,
    pub status: &'static str,
    pub justification: String,
}

/// The report's findings as a SARIF log, as text.
pub fn render(report: &Report) -> String {
    serde_json::to_string_pretty(&log(report)).expect("a SARIF log serializes")
}

pub fn log(report: &Report) -> Log {
    let root = Path::new(&report.manifest).parent().unwrap_or(Path::new(".")).to_path_buf();
    let manifest_uri = Path::new(&report.manifest)
        .strip_prefix(&root)
        .map_or_else(|_| "race-hunt.toml".to_string(), |p| p.display().to_string());
    let mut rules: Vec<Rule> = Vec::new();
    let mut results = Vec::new();
    for c in &report.cells {
        let Some(e) = &c.evidence else { continue };
        if c.outcome != Outcome::Detected && c.verdict != Verdict::Fail {
            continue;
        }
        let rule_id = format!("{}/{}", c.detector, e.kind.word());
        let rule_index = match rules.iter().position(|r| r.id == rule_id) {
            Some(i) => i,
            None => {
                rules.push(Rule {
                    id: rule_id.clone(),
                    name: format!("{}-{}", c.detector, e.kind.word()),
                    short_description: Message { text: format!("{} seen by race-hunt's {}", e.kind, c.detector) },
                });
                rules.len() - 1
            }
        };
        // (fingerprint, text, location) per finding.
        let findings: Vec<(String, String, Option<String>)> =
            if !e.findings.is_empty() && e.findings.iter().all(|f| f.fingerprint.is_some()) {
                e.findings
                    .iter()
                    .map(|f| (f.fingerprint.clone().unwrap_or_default(), f.summary.clone(), f.location.clone()))
                    .collect()
            } else if e.fingerprints.is_empty() {
                // A report written before fingerprints: derive it as a run would.
                let fp = crate::fingerprint::of(&c.detector, e.kind, &crate::fingerprint::evidence_parts(e));
                vec![(fp, e.message.clone(), e.location.clone())]
            } else {
                e.fingerprints.iter().map(|fp| (fp.clone(), e.message.clone(), e.location.clone())).collect()
            };
        let level = if c.verdict == Verdict::Fail { "error" } else { "note" };
        let baselined = c.reason.as_deref().and_then(|r| r.strip_prefix("baselined: "));
        for (fp, text, loc) in findings {
            let mut message = format!("{} {}: {text}", c.id(), e.kind);
            if let Some(t) = &e.test {
                message.push_str(&format!(" (test {t})"));
            }
            if let Some(r) = c.reason.as_deref().filter(|_| c.verdict == Verdict::Fail) {
                message.push_str(&format!("; {r}"));
            }
            let mut properties = BTreeMap::new();
            properties.insert("cell", c.id());
            properties.insert("verdict", c.verdict.word().to_string());
            properties.insert("replay", e.replay_xtask.clone().unwrap_or_else(|| e.replay.clone()));
            results.push(SarifResult {
                rule_id: rule_id.clone(),
                rule_index,
                level,
                message: Message { text: message },
                locations: vec![location(loc.as_deref(), &root, &manifest_uri)],
                partial_fingerprints: BTreeMap::from([(crate::fingerprint::VERSION, fp)]),
                suppressions: baselined
                    .map(|r| Suppression { kind: "external", status: "accepted", justification: r.to_string() })
                    .into_iter()
                    .collect(),
                properties,
            });
        }
    }
    Log {
        schema: SCHEMA,
        version: VERSION,
        runs: vec![Run {
            tool: Tool {
                driver: Driver {
                    name: "race-hunt",
                    version: report.race_hunt_version.clone(),
                    information_uri: "https://github.com/race-hunt/race-hunt",
                    rules,
                },
            },
            results,
        }],
    }
}

/// A `file:line:column` as a repository-relative location; a file outside
/// the repository (or none) is the manifest's first line.
fn location(loc: Option<&str>, root: &Path, manifest_uri: &str) -> Location {
    let parsed = loc.and_then(|l| {
        let file = crate::fingerprint::file_of(l);
        let mut nums = l[file.len()..].split(':').filter(|s| !s.is_empty()).map(|n| n.parse::<u64>().ok());
        let line = nums.next().flatten().filter(|n| *n > 0)?;
        let column = nums.next().flatten().filter(|n| *n > 0);
        let path = Path::new(file);
        let rel = if path.is_absolute() { path.strip_prefix(root).ok()?.to_path_buf() } else { path.to_path_buf() };
        root.join(&rel).is_file().then(|| (rel.display().to_string(), line, column))
    });
    let (uri, start_line, start_column) = parsed.unwrap_or_else(|| (manifest_uri.to_string(), 1, None));
    Location {
        physical_location: PhysicalLocation {
            artifact_location: ArtifactLocation { uri },
            region: Region { start_line, start_column },
        },
    }
}

/// Cells with at least one result.
#[cfg(test)]
pub fn cells_with_results(report: &Report) -> Vec<&race_hunt_report::CellReport> {
    report
        .cells
        .iter()
        .filter(|c| c.evidence.is_some() && (c.outcome == Outcome::Detected || c.verdict == Verdict::Fail))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use race_hunt_report::{Evidence, EvidenceKind, Finding};

    /// The SARIF 2.1.0 schema's required properties of what this writes:
    /// sarifLog {version, runs}, run {tool}, tool {driver}, toolComponent
    /// {name}, reportingDescriptor {id}, result {message}, message {text},
    /// location's physicalLocation with artifactLocation and a region whose
    /// startLine and startColumn are at least 1; level one of the enum.
    fn check_required(v: &serde_json::Value) {
        assert_eq!(v["version"], "2.1.0");
        assert!(v["$schema"].as_str().unwrap().contains("sarif-2.1.0"));
        let runs = v["runs"].as_array().expect("runs");
        assert!(!runs.is_empty());
        for run in runs {
            let driver = &run["tool"]["driver"];
            assert!(driver["name"].is_string());
            let rules = driver["rules"].as_array().unwrap();
            for r in rules {
                assert!(r["id"].is_string());
            }
            for res in run["results"].as_array().unwrap() {
                assert!(res["message"]["text"].is_string(), "{res}");
                assert!(["none", "note", "warning", "error"].contains(&res["level"].as_str().unwrap()));
                let i = res["ruleIndex"].as_u64().unwrap() as usize;
                assert_eq!(rules[i]["id"], res["ruleId"]);
                for l in res["locations"].as_array().unwrap() {
                    let p = &l["physicalLocation"];
                    let uri = p["artifactLocation"]["uri"].as_str().unwrap();
                    assert!(!uri.starts_with('/'), "repository-relative: {uri}");
                    assert!(p["region"]["startLine"].as_u64().unwrap() >= 1);
                    if let Some(c) = p["region"].get("startColumn") {
                        assert!(c.as_u64().unwrap() >= 1);
                    }
                }
                let fp = res["partialFingerprints"]["raceHunt/v1"].as_str().unwrap();
                assert_eq!(fp.len(), 16);
                for s in res.get("suppressions").and_then(|s| s.as_array()).into_iter().flatten() {
                    assert!(["inSource", "external"].contains(&s["kind"].as_str().unwrap()));
                }
            }
        }
    }

    #[test]
    fn findings_become_results_with_fingerprints_and_locations() {
        let mut report = crate::matrix::tests_report();
        let root = crate::root::engine_root();
        report.manifest = root.join("race-hunt.toml").display().to_string();
        // A TSan cell with two distinct reports, failing.
        let mut c = report.cells[3].clone();
        c.detector = "tsan".into();
        let mut e = Evidence::new(EvidenceKind::TsanReport, "data race", "TSAN_OPTIONS=x r");
        for (fp, loc) in
            [("00000000000000aa", "fixtures/counter/src/lib.rs:35:40"), ("00000000000000bb", "/elsewhere/x.rs:3:1")]
        {
            e.findings.push(Finding {
                kind: "data race".into(),
                summary: format!("race at {loc}"),
                count: 1,
                location: Some(loc.into()),
                fingerprint: Some(fp.into()),
            });
            e.fingerprints.push(fp.into());
        }
        c.evidence = Some(e);
        report.cells.push(c);
        // A baselined fixed cell.
        let mut b = report.cells[2].clone();
        b.outcome = Outcome::Detected;
        b.reason = Some("baselined: seqlock read by design".into());
        let mut e = Evidence::new(EvidenceKind::TestFailure, "torn read", "r");
        e.fingerprints.push("00000000000000cc".into());
        b.evidence = Some(e);
        report.cells.push(b);
        let v: serde_json::Value = serde_json::from_str(&render(&report)).unwrap();
        check_required(&v);
        let results = v["runs"][0]["results"].as_array().unwrap();
        let by_fp = |fp: &str| results.iter().find(|r| r["partialFingerprints"]["raceHunt/v1"] == fp).unwrap();
        let a = by_fp("00000000000000aa");
        assert_eq!((a["level"].as_str(), a["ruleId"].as_str()), (Some("error"), Some("tsan/tsan-report")));
        let region = &a["locations"][0]["physicalLocation"];
        assert_eq!(region["artifactLocation"]["uri"], "fixtures/counter/src/lib.rs");
        assert_eq!(
            (region["region"]["startLine"].as_u64(), region["region"]["startColumn"].as_u64()),
            (Some(35), Some(40))
        );
        // Outside the repository: the manifest's first line.
        assert_eq!(
            by_fp("00000000000000bb")["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            "race-hunt.toml"
        );
        let cc = by_fp("00000000000000cc");
        assert_eq!(cc["level"], "note");
        assert_eq!(cc["suppressions"][0]["justification"], "seqlock read by design");
        // Every cell that detected or failed with evidence has results; clean ones none.
        assert_eq!(cells_with_results(&report).len(), 4);
        assert_eq!(results.len(), 2 + 2 + 1, "two plain detections, two TSan reports, one baselined finding");
    }
}
