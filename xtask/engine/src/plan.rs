//! From the manifest and the command line to the list of cells.

use race_hunt_report::{BugClass, NotPlanned, Role, Subject};

use crate::manifest::{Expectation, Manifest};
use crate::target::{self, Target};

/// One (fixture or suite, variant, detector, target).
#[derive(Debug, Clone)]
pub struct Cell {
    pub subject: Subject,
    pub role: Role,
    pub fixture: String,
    pub variant: String,
    pub racy: bool,
    pub class: Option<BugClass>,
    /// The manifest counts a hang as a detection for this cell.
    pub hang_detects: bool,
    pub detector: String,
    pub target: Target,
    pub expect: Expectation,
}

impl Cell {
    /// `fixture/variant detector@target`.
    pub fn id(&self) -> String {
        format!("{}/{} {}@{}", self.fixture, self.variant, self.detector, self.target.name)
    }

    pub fn fixture_variant(&self) -> String {
        format!("{}/{}", self.fixture, self.variant)
    }
}

#[derive(Debug)]
pub struct Plan {
    /// Detectors with cells or not-planned pairs, in registry order.
    pub detectors: Vec<String>,
    pub targets: Vec<Target>,
    pub cells: Vec<Cell>,
    pub not_planned: Vec<NotPlanned>,
}

#[derive(Debug, Default, Clone)]
pub struct Filters {
    pub detectors: Vec<String>,
    pub targets: Vec<String>,
    pub fixtures: Vec<String>,
}

/// `Err` is a usage error (exit code 2).
pub fn plan(
    m: &Manifest,
    f: &Filters,
    level: &str,
    host: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Plan, String> {
    let all = |list: &[String]| list.len() == 1 && list[0] == "all";
    let detectors: Vec<String> = if f.detectors.is_empty() {
        m.default_detectors.clone()
    } else if all(&f.detectors) {
        m.detectors.clone()
    } else {
        f.detectors.clone()
    };
    for d in &detectors {
        if !m.detectors.contains(d) {
            return Err(format!("unknown detector `{d}` (this manifest has: {})", m.detectors.join(", ")));
        }
    }
    let target_names: Vec<String> = if f.targets.is_empty() {
        m.default_targets.clone()
    } else if all(&f.targets) {
        // The host first, then the cross targets.
        let mut names: Vec<&crate::manifest::TargetSpec> = m.targets.iter().collect();
        names.sort_by_key(|t| t.triple != host);
        names.into_iter().map(|t| t.name.clone()).collect()
    } else {
        f.targets.clone()
    };
    let mut targets: Vec<Target> = Vec::new();
    for t in &target_names {
        let spec = m.target(t).ok_or_else(|| {
            format!(
                "unknown target `{t}` (this manifest has: {})",
                m.targets.iter().map(|t| format!("{} ({})", t.name, t.triple)).collect::<Vec<_>>().join(", ")
            )
        })?;
        if !targets.iter().any(|x| x.name == spec.name) {
            targets.push(target::resolve(spec, host, env));
        }
    }
    for fx in &f.fixtures {
        let (name, variant) = fx.split_once('/').map_or((fx.as_str(), None), |(a, b)| (a, Some(b)));
        let variants: Vec<&str> = match m.fixture(name) {
            Some(fixture) => fixture.variants.iter().map(|v| v.name.as_str()).collect(),
            None => {
                return Err(format!(
                    "unknown fixture `{name}` (this manifest has: {})",
                    m.fixtures.iter().map(|x| x.name.as_str()).collect::<Vec<_>>().join(", ")
                ))
            }
        };
        if let Some(v) = variant {
            if !variants.contains(&v) {
                return Err(format!("fixture `{name}` has no variant `{v}` (it has: {})", variants.join(", ")));
            }
        }
    }
    let selected = |fixture: &str, variant: &str| {
        f.fixtures.is_empty() || f.fixtures.iter().any(|x| x == fixture || *x == format!("{fixture}/{variant}"))
    };

    let mut cells = Vec::new();
    let mut not_planned = Vec::new();
    // Matrix column order: detectors in registry order, then targets.
    let ordered: Vec<String> = m.detectors.iter().filter(|d| detectors.contains(d)).cloned().collect();
    for d in &ordered {
        let det = m.detector(d, level);
        for t in &targets {
            if let Err(reason) = t.host_only_reason(host).map_or_else(|| det.supports(t), Err) {
                not_planned.push(NotPlanned { detector: d.clone(), target: t.name.clone(), reason });
                continue;
            }
            for fixture in &m.fixtures {
                for v in fixture.variants.iter().filter(|v| selected(&fixture.name, &v.name)) {
                    cells.push(Cell {
                        subject: Subject::Fixture,
                        role: Role::Control,
                        fixture: fixture.name.clone(),
                        variant: v.name.clone(),
                        racy: v.racy,
                        class: v.class,
                        hang_detects: v.hang_detects,
                        detector: d.clone(),
                        target: t.clone(),
                        expect: v.expectation(d, &t.name),
                    });
                }
            }
        }
    }
    Ok(Plan { detectors: ordered, targets, cells, not_planned })
}

/// A cell on native x86_64 for unit tests.
#[cfg(test)]
pub fn test_cell(fixture: &str, variant: &str, detector: &str) -> Cell {
    let spec = crate::manifest::TargetSpec {
        name: "x86_64".into(),
        triple: "x86_64-unknown-linux-gnu".into(),
        toolchain: None,
        qemu: None,
        sysroot: None,
        linker: None,
        apt: vec![],
        host_only: false,
        runs_on: None,
    };
    Cell {
        subject: Subject::Fixture,
        role: Role::Control,
        fixture: fixture.into(),
        variant: variant.into(),
        racy: true,
        class: Some(BugClass::DataRace),
        hang_detects: false,
        detector: detector.into(),
        target: target::resolve(&spec, "x86_64-unknown-linux-gnu", &|_| None),
        expect: Expectation::Detect,
    }
}
