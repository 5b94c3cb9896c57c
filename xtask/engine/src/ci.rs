//! CI fan-out and fan-in, derived from the manifest and the planner:
//! `race-hunt matrix` prints the GitHub Actions matrix (one entry per
//! (detector group, target, shard) with the runner label it needs);
//! `race-hunt --shard I/N` runs a deterministic slice of the planned cells;
//! `race-hunt gate REPORTS...` merges the shards' reports, checks that every
//! planned cell is there exactly once, and gates.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Instant;

use race_hunt_report::{CellReport, Outcome, Report, Shard, SCHEMA};
use serde::{Deserialize, Serialize};

use crate::cell::Cell;
use crate::exit::{self, Failure};
use crate::manifest::Manifest;
use crate::plan::{self, Filters};
use crate::report;
use crate::session::{self, Selection};

/// One entry of the matrix: what a hunt job runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Entry {
    /// A unique, file-name-safe id (`fast-x86_64-1`), used for artifact names.
    pub id: String,
    pub name: String,
    pub group: String,
    /// Comma list for `--detector`.
    pub detectors: String,
    /// The target's short name for `--target`.
    pub target: String,
    /// `I/N` for `--shard`.
    pub shard: String,
    pub runs_on: String,
}

/// The `{"include": [...]}` object GitHub's `fromJSON` takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Matrix {
    pub include: Vec<Entry>,
}

/// The host a target's job runs on: its own architecture for a host-only
/// target (real hardware), else this host.
fn host_for(m: &Manifest, target: &str, here: &str) -> String {
    match m.target(target) {
        Some(t) if t.host_only => t.triple.clone(),
        _ => here.to_string(),
    }
}

/// The cells one entry plans (all shards), on the entry's own host.
fn entry_cells(
    m: &Manifest,
    level: &str,
    detectors: &[String],
    target: &str,
    here: &str,
    fixtures: &[String],
) -> Result<Vec<Cell>, String> {
    let host = host_for(m, target, here);
    let filters =
        Filters { detectors: detectors.to_vec(), targets: vec![target.to_string()], fixtures: fixtures.to_vec() };
    Ok(plan::plan(m, &filters, level, &host, &|k| std::env::var(k).ok())?.cells)
}

/// The matrix of a manifest: every (group, target) with planned cells,
/// times its shards.
pub fn matrix(m: &Manifest, level: &str, here: &str) -> Result<Matrix, String> {
    let mut include = Vec::new();
    for g in &m.ci.groups {
        let targets: Vec<String> =
            if g.targets.is_empty() { m.targets.iter().map(|t| t.name.clone()).collect() } else { g.targets.clone() };
        for t in &targets {
            if entry_cells(m, level, &g.detectors, t, here, &[])?.is_empty() {
                continue;
            }
            let runs_on = m.target(t).and_then(|s| s.runs_on.clone()).unwrap_or_else(|| m.ci.runs_on.clone());
            for i in 1..=g.shards {
                let shard = if g.shards > 1 { format!(" ({i}/{})", g.shards) } else { String::new() };
                include.push(Entry {
                    id: format!("{}-{t}-{i}", g.name),
                    name: format!("{} on {t}{shard}", g.detectors.join(",")),
                    group: g.name.clone(),
                    detectors: g.detectors.join(","),
                    target: t.clone(),
                    shard: format!("{i}/{}", g.shards),
                    runs_on: runs_on.clone(),
                });
            }
        }
    }
    Ok(Matrix { include })
}

/// `I/N`, 1-based.
pub fn parse_shard(s: &str) -> Result<Shard, String> {
    let bad = || format!("--shard `{s}`: write I/N with 1 <= I <= N, e.g. 2/3");
    let (i, n) = s.split_once('/').ok_or_else(bad)?;
    let (index, count): (usize, usize) = (i.trim().parse().map_err(|_| bad())?, n.trim().parse().map_err(|_| bad())?);
    if count == 0 || index == 0 || index > count {
        return Err(bad());
    }
    Ok(Shard { index, count })
}

/// Whether cell number `i` (in plan order) belongs to `shard`: a
/// deterministic round-robin over the plan, so shards get similar mixes.
pub fn in_shard(i: usize, shard: Shard) -> bool {
    i % shard.count == shard.index - 1
}

/// Print the CI matrix derived from the manifest and the planner.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Prints {\"include\": [...]} for GitHub Actions' fromJSON: one entry per (detector group, target, shard) of the manifest's [ci] table, with the runner label each needs."
)]
pub struct MatrixCmd {
    /// The manifest (default: race-hunt.toml in the current directory or the nearest parent).
    #[arg(long, value_name = "PATH")]
    pub manifest: Option<PathBuf>,
    /// Budget level from the manifest.
    #[arg(long)]
    pub budget: Option<String>,
    /// `json` ({"include": [...]}, for fromJSON) or `lines` (one entry per
    /// line: ID DETECTORS TARGET SHARD RUNS-ON, for shell scripts).
    #[arg(long, default_value = "json", value_parser = ["json", "lines"])]
    pub format: String,
}

impl MatrixCmd {
    pub fn run(&self) -> exit::Result {
        let session =
            Selection { manifest: self.manifest.clone(), budget: self.budget.clone(), ..Selection::default() }
                .open()?;
        if session.manifest.ci.groups.is_empty() {
            return Err(Failure::Manifest(format!(
                "{}: no [ci] groups to make a matrix of",
                session.manifest.path.display()
            )));
        }
        let m = matrix(&session.manifest, &session.level, &crate::target::host_triple()).map_err(Failure::Usage)?;
        if self.format == "lines" {
            for e in &m.include {
                println!("{} {} {} {} {}", e.id, e.detectors, e.target, e.shard, e.runs_on);
            }
        } else {
            println!("{}", serde_json::to_string(&m).expect("a matrix serializes"));
        }
        Ok(exit::OK)
    }
}

/// Merge shard reports, check completeness, gate.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Fails (exit 1) when a planned cell is missing, present twice or did not run (a cancelled hunt's `not-run` cells), when a report cannot be read or comes from another manifest, schema or commit, or when a merged cell's verdict is `fail`; exit codes as for race-hunt otherwise."
)]
pub struct GateCmd {
    /// The reports of every hunt job.
    #[arg(required = true)]
    pub reports: Vec<PathBuf>,
    /// The manifest (default: race-hunt.toml in the current directory or the nearest parent).
    #[arg(long, value_name = "PATH")]
    pub manifest: Option<PathBuf>,
    /// Write the merged race-hunt/v1 report here.
    #[arg(long, value_name = "PATH")]
    pub json: Option<PathBuf>,
    /// Write the merged cells as JUnit XML here.
    #[arg(long, value_name = "PATH")]
    pub junit: Option<PathBuf>,
    /// Write the merged findings as SARIF 2.1.0 here (for GitHub code scanning).
    #[arg(long, value_name = "PATH")]
    pub sarif: Option<PathBuf>,
    /// A skipped cell fails the gate with exit code 3.
    #[arg(long)]
    pub require_all: bool,
    /// Local proof (ci/local-matrix.sh): a host-only target that its report
    /// lists as not planned on this host is accepted without cells.
    #[arg(long)]
    pub local: bool,
    /// The hunts ran with this `--fixture` filter: expect only its cells.
    #[arg(long, value_delimiter = ',')]
    pub fixture: Vec<String>,
    /// The hunts ran with `--changed-since REF`: expect only the cells the
    /// changes since REF can affect (decided here again, not taken from the
    /// reports), and refuse reports made with another REF.
    #[arg(long, value_name = "REF")]
    pub changed_since: Option<String>,
}

/// What is wrong with a set of shard reports, if anything.
pub fn check_reports(
    m: &Manifest,
    reports: &[(String, Report)],
    here: &str,
    local: bool,
    fixtures: &[String],
    narrow: &dyn Fn(&mut Vec<crate::cell::Cell>),
) -> Result<Vec<CellReport>, Vec<String>> {
    let mut problems = Vec::new();
    let commit = session::git_commit(&m.dir);
    let budget = reports.first().map(|(_, r)| r.budget.clone()).unwrap_or_default();
    for (name, r) in reports {
        if r.manifest_digest != m.digest {
            problems.push(format!(
                "{name}: made from another manifest (digest {}, this one is {})",
                r.manifest_digest, m.digest
            ));
        }
        if r.budget != budget {
            problems.push(format!("{name}: budget `{}`, the other reports `{budget}`", r.budget));
        }
        if let (Some(want), Some(got)) = (&commit, &r.commit) {
            if want != got {
                problems.push(format!("{name}: made at commit {got}, this checkout is {want}"));
            }
        }
        if r.commit.is_none() && commit.is_some() {
            problems.push(format!("{name}: no commit recorded"));
        }
    }
    if !m.budget_levels.contains(&budget) {
        // Planning needs a budget this manifest has.
        problems.push(format!("budget `{budget}` is not one of this manifest's ({})", m.budget_levels.join(", ")));
        return Err(problems);
    }
    // Every planned cell of every matrix entry, exactly once.
    let mut expected: BTreeSet<String> = BTreeSet::new();
    let mut host_only_skipped: BTreeSet<String> = BTreeSet::new();
    for g in &m.ci.groups {
        let targets: Vec<String> =
            if g.targets.is_empty() { m.targets.iter().map(|t| t.name.clone()).collect() } else { g.targets.clone() };
        for t in &targets {
            match entry_cells(m, &budget, &g.detectors, t, here, fixtures) {
                Ok(mut cells) => {
                    narrow(&mut cells);
                    for c in cells {
                        let not_planned_here = local
                            && reports.iter().any(|(_, r)| {
                                r.not_planned.iter().any(|n| n.detector == c.detector && n.target == c.target.name)
                            })
                            && m.target(t).is_some_and(|s| s.host_only);
                        if not_planned_here {
                            host_only_skipped.insert(c.id());
                        } else {
                            expected.insert(c.id());
                        }
                    }
                }
                Err(e) => problems.push(format!("cannot plan {t}: {e}")),
            }
        }
    }
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut cells = Vec::new();
    for (_, r) in reports {
        for c in &r.cells {
            *seen.entry(c.id()).or_default() += 1;
            cells.push(c.clone());
        }
    }
    let missing: Vec<&String> = expected.iter().filter(|id| !seen.contains_key(*id)).collect();
    if !missing.is_empty() {
        problems.push(format!("{} planned cell(s) missing from the reports: {}", missing.len(), list(&missing)));
    }
    let twice: Vec<&String> = seen.iter().filter(|(_, n)| **n > 1).map(|(id, _)| id).collect();
    if !twice.is_empty() {
        problems.push(format!("{} cell(s) present more than once: {}", twice.len(), list(&twice)));
    }
    let extra: Vec<&String> =
        seen.keys().filter(|id| !expected.contains(*id) && !host_only_skipped.contains(*id)).collect();
    if !extra.is_empty() {
        problems.push(format!("{} cell(s) this manifest's matrix does not plan: {}", extra.len(), list(&extra)));
    }
    // A cell a stopped hunt (a cancelled shard) reported as not run is
    // present but has no answer: it can never pass.
    let not_run: Vec<String> = reports
        .iter()
        .flat_map(|(name, r)| {
            r.cells.iter().filter(|c| c.outcome == Outcome::NotRun).map(move |c| format!("{} ({name})", c.id()))
        })
        .collect();
    if !not_run.is_empty() {
        let ids: Vec<&String> = not_run.iter().collect();
        problems.push(format!("{} cell(s) did not run (the hunt was stopped): {}", ids.len(), list(&ids)));
    }
    if problems.is_empty() {
        Ok(cells)
    } else {
        Err(problems)
    }
}

/// Every report was graded with the manifest's baseline as it is now: a
/// shard graded with another (or none) would pass or fail other findings.
pub fn check_baselines(m: &Manifest, reports: &[(String, Report)]) -> Vec<String> {
    let want = m.baseline.as_ref().map(|b| b.digest.as_str());
    reports
        .iter()
        .filter_map(|(name, r)| {
            let got = r.baseline.as_ref().map(|b| b.digest.as_str());
            (got != want).then(|| match (got, want) {
                (Some(g), Some(w)) => format!("{name}: graded with another baseline (digest {g}, this one is {w})"),
                (Some(g), None) => format!("{name}: graded with a baseline (digest {g}); this manifest names none"),
                (None, _) => format!(
                    "{name}: graded without the baseline this manifest names ({})",
                    m.baseline_name.as_deref().unwrap_or_default()
                ),
            })
        })
        .collect()
}

fn list(ids: &[&String]) -> String {
    const SHOWN: usize = 20;
    let mut s = ids.iter().take(SHOWN).map(|s| s.as_str()).collect::<Vec<_>>().join(", ");
    if ids.len() > SHOWN {
        s.push_str(&format!(", and {} more", ids.len() - SHOWN));
    }
    s
}

impl GateCmd {
    pub fn run(&self) -> exit::Result {
        let started = Instant::now();
        let session = Selection { manifest: self.manifest.clone(), ..Selection::default() }.open()?;
        let m = &session.manifest;
        if m.ci.groups.is_empty() {
            return Err(Failure::Manifest(format!("{}: no [ci] groups to gate", m.path.display())));
        }
        report::check_outputs(self.json.as_deref(), self.junit.as_deref())
            .map_err(|e| Failure::usage(format!("cannot write there: {e}")))?;
        if let Some(path) = &self.sarif {
            report::check_writable(path).map_err(|e| Failure::usage(format!("cannot write there: {e}")))?;
        }
        let mut reports = Vec::new();
        let mut problems = Vec::new();
        for path in &self.reports {
            let name = path.display().to_string();
            match std::fs::read_to_string(path) {
                Err(e) => problems.push(format!("{name}: cannot read it: {e}")),
                Ok(text) => match Report::from_json(&text) {
                    Ok(r) => reports.push((name, r)),
                    Err(e) => problems.push(format!("{name}: {e}")),
                },
            }
        }
        let changed = match &self.changed_since {
            Some(since) => {
                let found =
                    crate::changes::find(&m.dir, since, &m.path, crate::root::engine_root()).map_err(Failure::Usage)?;
                let suites: Vec<&crate::manifest::suite::Suite> = m.suites.iter().collect();
                crate::changes::unaffected(&suites, &found).map_err(Failure::Usage)?.0
            }
            None => None,
        };
        for (name, r) in &reports {
            if r.changed_since != self.changed_since {
                problems.push(format!(
                    "{name}: hunted with --changed-since {}, the gate was given {}",
                    r.changed_since.as_deref().unwrap_or("(none)"),
                    self.changed_since.as_deref().unwrap_or("(none)")
                ));
            }
        }
        let narrow = |cells: &mut Vec<crate::cell::Cell>| {
            if let (Some(out), Some(since)) = (&changed, &self.changed_since) {
                crate::changes::narrow_cells(m, cells, out, since);
            }
        };
        if reports.is_empty() {
            // Nothing to plan against (no budget to read): the files are the problem.
            problems.push("no report could be read".into());
        }
        problems.extend(check_baselines(m, &reports));
        let checked = if reports.is_empty() {
            Ok(Vec::new())
        } else {
            check_reports(m, &reports, &crate::target::host_triple(), self.local, &self.fixture, &narrow)
        };
        let mut cells = match checked {
            Ok(cells) if problems.is_empty() => cells,
            Ok(_) => Vec::new(),
            Err(more) => {
                problems.extend(more);
                Vec::new()
            }
        };
        if !problems.is_empty() {
            eprintln!("gate: FAIL: the reports do not make one complete run of this manifest:");
            for p in &problems {
                eprintln!("  - {p}");
                if std::env::var("GITHUB_ACTIONS").as_deref() == Ok("true") {
                    println!("::error title=race-hunt gate::{}", crate::github::escape_data(p));
                }
            }
            return Ok(exit::GATE_FAILED);
        }
        let first = &reports[0].1;
        let mut detectors: Vec<String> = Vec::new();
        let mut targets = Vec::new();
        let mut not_planned = Vec::new();
        for (_, r) in &reports {
            for d in &r.detectors {
                if !detectors.contains(d) {
                    detectors.push(d.clone());
                }
            }
            for t in &r.targets {
                merge_target(&mut targets, t);
            }
            for n in &r.not_planned {
                if !not_planned.contains(n) {
                    not_planned.push(n.clone());
                }
            }
        }
        detectors.sort_by_key(|d| m.detectors.iter().position(|x| x == d));
        crate::grade::credit(m, &mut cells);
        let proofs = crate::grade::prove(m, &mut cells);
        let merged = Report {
            schema: SCHEMA.into(),
            race_hunt_version: env!("CARGO_PKG_VERSION").into(),
            manifest: m.path.display().to_string(),
            manifest_digest: m.digest.clone(),
            commit: first.commit.clone(),
            budget: first.budget.clone(),
            seed: first.seed,
            shard: None,
            changed_since: self.changed_since.clone(),
            require_all: self.require_all,
            started_unix: reports.iter().map(|(_, r)| r.started_unix).min().unwrap_or(0),
            elapsed_ms: started.elapsed().as_millis() as u64,
            run_dir: String::new(),
            detectors,
            targets,
            summary: race_hunt_report::Summary { proofs, ..report::summarize(&cells, self.require_all, None) },
            baseline: session::baseline_status(m, &cells),
            usage: None,
            cells,
            not_planned,
        };
        println!("gate: {} reports, {} cells, every planned cell present once", reports.len(), merged.cells.len());
        let dir = session::RunDir::create(&session.state, merged.seed).map_err(Failure::Usage)?;
        let mut merged = merged;
        merged.run_dir = dir.path.display().to_string();
        let outputs =
            session::Outputs { json: self.json.as_deref(), junit: self.junit.as_deref(), sarif: self.sarif.as_deref() };
        session::report_run(&merged, &dir, &session.state, outputs)
    }
}

/// Add one report's view of a target to the merged list: one entry per
/// target, and the one that carries the litmus probe wins (a Miri hunt of
/// armv7 runs no probe; the stress hunt of armv7 does).
fn merge_target(targets: &mut Vec<race_hunt_report::TargetReport>, t: &race_hunt_report::TargetReport) {
    match targets.iter_mut().find(|x| x.name == t.name) {
        None => targets.push(t.clone()),
        Some(x) if x.probe.is_none() && t.probe.is_some() => *x = t.clone(),
        Some(_) => {}
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_merged_report_keeps_each_targets_probe_whichever_report_comes_first() {
        // As the armv7 stress hunt reports it (a Miri hunt of armv7 has no probe).
        let probed: race_hunt_report::TargetReport = serde_json::from_str(
            r#"{"name": "armv7", "triple": "armv7-unknown-linux-gnueabihf", "native": false,
                "runner": "qemu-arm -L /usr/arm-linux-gnueabihf", "runner_source": "manifest",
                "probe": {"iterations": 2000000, "mp_weak": 0, "sb_weak": 4556, "u64_torn": 53896,
                          "elapsed_ms": 8213, "windows": 587712, "overlap_windows": 353422,
                          "weak_memory": false, "parallel": true, "parallel_measured": true,
                          "finding": "probe on armv7 (under qemu-arm)"}}"#,
        )
        .unwrap();
        let unprobed = race_hunt_report::TargetReport { probe: None, ..probed.clone() };
        for order in [[&unprobed, &probed], [&probed, &unprobed]] {
            let mut merged = Vec::new();
            for t in order {
                super::merge_target(&mut merged, t);
            }
            assert_eq!(merged, vec![probed.clone()]);
        }
    }

    use super::*;

    #[test]
    fn shards_are_parsed_and_partition_the_plan() {
        assert_eq!(parse_shard("2/3").unwrap(), Shard { index: 2, count: 3 });
        for bad in ["0/3", "4/3", "1/0", "x/2", "3"] {
            assert!(parse_shard(bad).unwrap_err().contains("write I/N"), "{bad}");
        }
        let shards: Vec<Shard> = (1..=3).map(|i| Shard { index: i, count: 3 }).collect();
        for i in 0..100 {
            assert_eq!(shards.iter().filter(|s| in_shard(i, **s)).count(), 1, "cell {i} in exactly one shard");
        }
    }

    #[test]
    fn the_repository_matrix_covers_every_group_and_target() {
        let m = crate::manifest::load(&crate::root::engine_root().join("race-hunt.toml")).unwrap();
        let x = matrix(&m, "standard", "x86_64-unknown-linux-gnu").unwrap();
        assert!(!x.include.is_empty());
        let ids: BTreeSet<&String> = x.include.iter().map(|e| &e.id).collect();
        assert_eq!(ids.len(), x.include.len(), "ids are unique");
        for e in &x.include {
            assert!(m.target(&e.target).is_some(), "{e:?}");
            assert!(e.detectors.split(',').all(|d| m.detectors.iter().any(|x| x == d)), "{e:?}");
        }
    }

    fn report_of(m: &Manifest, cells: Vec<CellReport>) -> Report {
        let mut r = crate::matrix::tests_report();
        r.manifest_digest = m.digest.clone();
        r.commit = session::git_commit(&m.dir);
        r.budget = "standard".into();
        r.cells = cells;
        r
    }

    #[test]
    fn a_cell_a_stopped_shard_did_not_run_is_named_by_the_gate() {
        let m = crate::manifest::load(&crate::root::engine_root().join("race-hunt.toml")).unwrap();
        let here = "x86_64-unknown-linux-gnu";
        let planned = entry_cells(&m, "standard", &["stress".into()], "x86_64", here, &["counter".into()]).unwrap();
        let mut cells: Vec<CellReport> = planned
            .iter()
            .map(|c| {
                let mut r =
                    crate::report::tests::cell(&c.variant, c.racy, Outcome::Clean, race_hunt_report::Verdict::Ok);
                r.fixture = c.fixture.clone();
                r.detector = c.detector.clone();
                r.target_name = c.target.name.clone();
                r
            })
            .collect();
        cells[0].outcome = Outcome::NotRun;
        cells[0].verdict = race_hunt_report::Verdict::NotRun;
        let id = cells[0].id();
        let problems = check_reports(
            &m,
            &[("shard.json".into(), report_of(&m, cells))],
            here,
            false,
            &["counter".into()],
            &|_| (),
        )
        .unwrap_err();
        let named = problems.iter().find(|p| p.contains("did not run")).unwrap_or_else(|| panic!("{problems:#?}"));
        assert!(named.contains(&format!("{id} (shard.json)")), "{named}");
        assert!(named.starts_with("1 cell(s)"), "{named}");
    }

    #[test]
    fn a_report_with_a_budget_this_manifest_lacks_is_a_problem_not_a_panic() {
        let m = crate::manifest::load(&crate::root::engine_root().join("race-hunt.toml")).unwrap();
        let mut r = report_of(&m, Vec::new());
        r.budget = "no-such-budget".into();
        let problems =
            check_reports(&m, &[("r.json".into(), r)], "x86_64-unknown-linux-gnu", false, &[], &|_| ()).unwrap_err();
        assert!(problems.iter().any(|p| p.contains("budget `no-such-budget` is not one of")), "{problems:#?}");
    }
}
