//! From the manifest and the command line to the list of cells.

use crate::detector;
use crate::manifest::{Expectation, Manifest};
use crate::target::{self, Target};

/// One (fixture, variant, detector, target).
#[derive(Debug, Clone)]
pub struct Cell {
    pub fixture: String,
    pub variant: String,
    pub racy: bool,
    pub class: Option<String>,
    pub detector: String,
    pub target: Target,
    pub expect: Expectation,
}

impl Cell {
    pub fn id(&self) -> String {
        format!("{}/{} {}@{}", self.fixture, self.variant, self.detector, self.target.name)
    }
}

/// A (detector, target) pair that is not run at all, and why.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NotPlanned {
    pub detector: String,
    pub target: String,
    pub reason: String,
}

#[derive(Debug)]
pub struct Plan {
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
pub fn plan(m: &Manifest, f: &Filters, host: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Plan, String> {
    let all = |list: &[String]| list.len() == 1 && list[0] == "all";
    let detectors: Vec<String> = if f.detectors.is_empty() {
        m.default_detectors.clone()
    } else if all(&f.detectors) {
        m.detectors.keys().cloned().collect()
    } else {
        f.detectors.clone()
    };
    for d in &detectors {
        if !m.detectors.contains_key(d) {
            return Err(format!(
                "unknown detector `{d}` (this manifest has: {})",
                m.detectors.keys().cloned().collect::<Vec<_>>().join(", ")
            ));
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
        let fixture = m.fixtures.iter().find(|x| x.name == name).ok_or_else(|| {
            format!(
                "unknown fixture `{name}` (this manifest has: {})",
                m.fixtures.iter().map(|x| x.name.as_str()).collect::<Vec<_>>().join(", ")
            )
        })?;
        if let Some(v) = variant {
            if !fixture.variants.iter().any(|x| x.name == v) {
                return Err(format!("fixture `{name}` has no variant `{v}`"));
            }
        }
    }
    let selected = |fixture: &str, variant: &str| {
        f.fixtures.is_empty() || f.fixtures.iter().any(|x| x == fixture || *x == format!("{fixture}/{variant}"))
    };

    let mut cells = Vec::new();
    let mut not_planned = Vec::new();
    // Matrix column order: detectors in registry order, then targets.
    let mut ordered: Vec<String> =
        detector::KNOWN.iter().map(|s| s.to_string()).filter(|d| detectors.contains(d)).collect();
    ordered.dedup();
    for d in &ordered {
        let det = detector::by_name(d).expect("manifest detectors are known");
        for t in &targets {
            if let Err(reason) = det.supports(t) {
                not_planned.push(NotPlanned { detector: d.clone(), target: t.name.clone(), reason });
                continue;
            }
            for fixture in &m.fixtures {
                for v in &fixture.variants {
                    if !selected(&fixture.name, &v.name) {
                        continue;
                    }
                    cells.push(Cell {
                        fixture: fixture.name.clone(),
                        variant: v.name.clone(),
                        racy: v.racy,
                        class: v.class.clone(),
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
    };
    Cell {
        fixture: fixture.into(),
        variant: variant.into(),
        racy: true,
        class: Some("data-race".into()),
        detector: detector.into(),
        target: target::resolve(&spec, "x86_64-unknown-linux-gnu", &|_| None),
        expect: Expectation::Detect,
    }
}
