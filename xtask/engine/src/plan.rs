//! From the manifest and the command line to the list of cells.

use race_hunt_report::{NotPlanned, Role};

use std::sync::Arc;

use crate::cell::{Cell, ColumnId, Expectation, Subject};
use crate::detector::{hunts_suite, Detector};
use crate::exit::shown;
use crate::manifest::Manifest;
use crate::target::{self, Target};

#[derive(Debug)]
pub struct Plan {
    /// Detectors with cells or not-planned pairs, in registry order, each
    /// configured once for the run's budget (the manifest's, shared by
    /// every column of the detector).
    pub detectors: Vec<Arc<dyn Detector>>,
    pub targets: Vec<Target>,
    /// The planned columns (detector, target), in matrix order; a cell's
    /// `column` is its index here.
    pub columns: Vec<Column>,
    pub cells: Vec<Cell>,
    pub not_planned: Vec<NotPlanned>,
}

/// One planned detector@target column.
#[derive(Debug, Clone)]
pub struct Column {
    pub detector: Arc<dyn Detector>,
    pub target: Target,
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
            return Err(format!("unknown detector `{}` (this manifest has: {})", shown(d), m.detectors.join(", ")));
        }
    }
    let target_names: Vec<String> = if f.targets.is_empty() {
        // The defaults, and the targets a detector adds by default (Miri's
        // 32-bit interpretation).
        let mut names = m.default_targets.clone();
        for d in &detectors {
            for t in m.detector_targets.get(d).into_iter().flatten() {
                if !names.contains(t) {
                    names.push(t.clone());
                }
            }
        }
        names
    } else if all(&f.targets) {
        // The host first, then the cross targets.
        let mut names: Vec<&crate::target::TargetSpec> = m.targets.iter().collect();
        names.sort_by_key(|t| t.triple != host);
        names.into_iter().map(|t| t.name.clone()).collect()
    } else {
        f.targets.clone()
    };
    let mut targets: Vec<Target> = Vec::new();
    for t in &target_names {
        let spec = m.target(t).ok_or_else(|| {
            format!(
                "unknown target `{}` (this manifest has: {})",
                shown(t),
                m.targets.iter().map(|t| format!("{} ({})", t.name, t.triple)).collect::<Vec<_>>().join(", ")
            )
        })?;
        if !targets.iter().any(|x| x.name == spec.name) {
            targets.push(target::resolve(spec, host, env));
        }
    }
    for fx in &f.fixtures {
        let (name, variant) = fx.split_once('/').map_or((fx.as_str(), None), |(a, b)| (a, Some(b)));
        let variants: Vec<&str> = match (m.fixture(name), m.suites.iter().find(|s| s.name == name)) {
            (Some(fixture), _) => fixture.variants.iter().map(|v| v.name.as_str()).collect(),
            (None, Some(suite)) => suite.variants.iter().map(|(v, _)| v.name.as_str()).collect(),
            (None, None) => {
                return Err(format!(
                    "unknown fixture or suite `{}` (this manifest has: {})",
                    shown(name),
                    m.fixtures
                        .iter()
                        .map(|x| x.name.as_str())
                        .chain(m.suites.iter().map(|s| s.name.as_str()))
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            }
        };
        if let Some(v) = variant {
            if !variants.contains(&v) {
                return Err(format!("`{name}` has no variant `{}` (it has: {})", shown(v), variants.join(", ")));
            }
        }
    }
    let selected = |fixture: &str, variant: &str| {
        f.fixtures.is_empty() || f.fixtures.iter().any(|x| x == fixture || *x == format!("{fixture}/{variant}"))
    };

    let mut cells = Vec::new();
    let mut columns = Vec::new();
    let mut not_planned = Vec::new();
    // Matrix column order: detectors in registry order, then targets. The
    // one place a detector is chosen by its name: every column and cell
    // below refers to it.
    let ordered: Vec<Arc<dyn Detector>> =
        m.configured(level).iter().filter(|det| detectors.iter().any(|d| d == det.name())).cloned().collect();
    for det in &ordered {
        let d = &det.name().to_string();
        // Without --target, a detector runs on the defaults plus its own
        // default targets; the others' extra targets are not its columns.
        let own: Vec<&Target> = targets
            .iter()
            .filter(|t| {
                !f.targets.is_empty()
                    || m.default_targets.contains(&t.name)
                    || m.detector_targets.get(d).is_some_and(|x| x.contains(&t.name))
            })
            .collect();
        for t in own {
            if let Err(reason) = t.host_only_reason(host).map_or_else(|| det.supports(t), Err) {
                not_planned.push(NotPlanned { detector: d.clone(), target: t.name.clone(), reason, subject: None });
                continue;
            }
            let column = ColumnId(columns.len());
            columns.push(Column { detector: det.clone(), target: t.clone() });
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
                        column,
                        expect: v.expectation(d, &t.name),
                    });
                }
            }
            for suite in &m.suites {
                for (v, features) in suite.variants.iter().filter(|(v, _)| selected(&suite.name, &v.name)) {
                    let sc = suite.cell(&v.name, features).filter_for(d);
                    let opted_out = sc.settings.skip.as_ref().map(|r| format!("the suite opts out: {r}"));
                    if let Err(reason) = opted_out.map_or_else(|| hunts_suite(det.as_ref(), &sc, t), Err) {
                        let np = NotPlanned {
                            detector: d.clone(),
                            target: t.name.clone(),
                            reason,
                            subject: Some(suite.name.clone()),
                        };
                        if !not_planned.contains(&np) {
                            not_planned.push(np);
                        }
                        continue;
                    }
                    cells.push(Cell {
                        subject: Subject::Suite(Arc::new(sc)),
                        role: Role::Hunt,
                        fixture: suite.name.clone(),
                        variant: v.name.clone(),
                        racy: v.racy,
                        class: v.class,
                        hang_detects: v.hang_detects,
                        detector: d.clone(),
                        target: t.clone(),
                        column,
                        expect: v.expectation(d, &t.name),
                    });
                }
            }
        }
    }
    add_canaries(m, &mut cells);
    Ok(Plan { detectors: ordered, targets, columns, cells, not_planned })
}

/// For every column (detector, target) that hunts a suite, the canary
/// fixture variants that prove the detector works here: by default the
/// first racy variant it must detect there and the first fixed variant; a
/// canary already planned as a fixture cell serves as it is.
fn add_canaries(m: &Manifest, cells: &mut Vec<Cell>) {
    if !m.canaries.enabled {
        return;
    }
    let mut columns: Vec<(String, Target, ColumnId)> = Vec::new();
    for c in cells.iter().filter(|c| matches!(c.subject, Subject::Suite(_))) {
        if !columns.iter().any(|(_, _, k)| *k == c.column) {
            columns.push((c.detector.clone(), c.target.clone(), c.column));
        }
    }
    for (d, t, column) in columns {
        for (fixture, v) in canaries_for(m, &d, &t.name) {
            let expect = v.expectation(&d, &t.name);
            let exists = cells.iter().any(|c| {
                matches!(c.subject, Subject::Fixture)
                    && c.fixture == fixture
                    && c.variant == v.name
                    && c.column == column
            });
            if exists {
                continue;
            }
            cells.push(Cell {
                subject: Subject::Fixture,
                role: Role::Canary,
                fixture,
                variant: v.name.clone(),
                racy: v.racy,
                class: v.class,
                hang_detects: v.hang_detects,
                detector: d.clone(),
                target: t.clone(),
                column,
                expect,
            });
        }
    }
}

/// The canary variants of a column, with the expectation that makes each a
/// proof: a racy one the detector must `detect`, a fixed one it must `pass`.
pub fn canaries_for(m: &Manifest, detector: &str, target: &str) -> Vec<(String, crate::manifest::VariantSpec)> {
    let all = m.canary_fixtures.iter().flat_map(|f| f.variants.iter().map(move |v| (f.name.clone(), v.clone())));
    if !m.canaries.variants.is_empty() {
        return all
            .filter(|(f, v)| m.canaries.variants.contains(&format!("{f}/{}", v.name)))
            .filter(|(_, v)| matches!(v.expectation(detector, target), Expectation::Detect | Expectation::Pass))
            .collect();
    }
    let mut chosen = Vec::new();
    let racy = all.clone().find(|(_, v)| v.racy && v.expectation(detector, target) == Expectation::Detect);
    let fixed = all.clone().find(|(_, v)| !v.racy);
    chosen.extend(racy);
    chosen.extend(fixed);
    chosen
}

/// A cell on native x86_64 for unit tests.
#[cfg(test)]
pub fn test_cell(fixture: &str, variant: &str, detector: &str) -> Cell {
    let spec = crate::target::TargetSpec {
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
        class: Some(race_hunt_report::BugClass::DataRace),
        hang_detects: false,
        detector: detector.into(),
        target: target::resolve(&spec, "x86_64-unknown-linux-gnu", &|_| None),
        column: ColumnId(0),
        expect: Expectation::Detect,
    }
}

/// Configure once, checked: outside the manifest (which configures each
/// detector when it is parsed) and the plan (which picks the run's
/// detectors by name and builds the columns), no engine code constructs a
/// detector from its name or finds a detector, a column or a group by
/// comparing a detector's name: a cell refers to its column by
/// `cell.column`.
#[cfg(test)]
mod columns_built_once {
    #[test]
    fn only_the_manifest_and_the_plan_find_a_detector_by_name() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        // Where a detector may be made or chosen by its name. `grade.rs`
        // reads names from reports (the gate grades merged shards), so it
        // may look a registry entry up by name, never a configured detector.
        let allowed = |path: &std::path::Path, needle: &str| {
            path == src.join("manifest.rs")
                || path == src.join("plan.rs")
                || (needle == "detectors::kind(" && path == src.join("grade.rs"))
        };
        let mut offenders = Vec::new();
        for path in crate::layers::rust_files(&src, &[]) {
            let text = std::fs::read_to_string(&path).unwrap();
            // Only the code, not the tests at the bottom of a file.
            let code = text.split("#[cfg(test)]").next().unwrap_or("");
            for (n, line) in code.lines().enumerate() {
                let line = line.split("//").next().unwrap_or("");
                let compares_a_name = line.contains(".name()") && (line.contains("==") || line.contains("!="));
                let needles = [
                    // The name-based constructors this replaced, and
                    // the registry's.
                    "fn detector(",
                    ".detector(",
                    ".configure)(",
                    "detectors::kind(",
                ];
                for needle in needles.iter().filter(|x| line.contains(*x)) {
                    if !allowed(&path, needle) {
                        offenders.push(format!("{}:{}: {}", path.display(), n + 1, line.trim()));
                    }
                }
                if compares_a_name && !allowed(&path, ".name() ==") {
                    offenders.push(format!("{}:{}: {}", path.display(), n + 1, line.trim()));
                }
            }
        }
        assert!(
            offenders.is_empty(),
            "a detector made or found by its name outside manifest.rs and plan.rs (index by `cell.column`): {offenders:#?}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Which detectors hunt which suites, and why the others do not: a
    /// detector with the suite capability hunts the suites it accepts
    /// (loom: only those with loom tests), one without it (shuttle) hunts
    /// none, each pair "not planned" with the detector's reason.
    #[test]
    fn suites_are_planned_for_the_detectors_that_hunt_them() {
        let m = crate::manifest::tests::repo_manifest();
        let f = Filters {
            detectors: vec!["stress".into(), "shuttle".into(), "loom".into()],
            targets: vec!["x86_64".into()],
            fixtures: vec!["shop-hits".into(), "shop-expiry".into()],
        };
        let plan = plan(&m, &f, "quick", "x86_64-unknown-linux-gnu", &|_| None).unwrap();
        let hunted = |d: &str, s: &str| {
            plan.cells.iter().any(|c| c.detector == d && c.fixture == s && matches!(c.subject, Subject::Suite(_)))
        };
        let reason = |d: &str, s: &str| {
            plan.not_planned
                .iter()
                .find(|n| n.detector == d && n.subject.as_deref() == Some(s))
                .map(|n| n.reason.as_str())
        };
        assert!(hunted("stress", "shop-hits") && hunted("stress", "shop-expiry"));
        assert!(hunted("loom", "shop-hits") && !hunted("loom", "shop-expiry"));
        assert_eq!(
            reason("loom", "shop-expiry"),
            Some("suite `shop-expiry` declares no loom tests (add `cfgs = [\"loom\"]` if it has #[cfg(loom)] tests)")
        );
        assert!(!hunted("shuttle", "shop-hits") && !hunted("shuttle", "shop-expiry"));
        assert_eq!(
            reason("shuttle", "shop-hits"),
            Some("shuttle hunts the fixtures' scenarios; suite `shop-hits`'s tests are not written for shuttle (race-hunt runs a suite's #[cfg(loom)] models under loom)")
        );
        assert_eq!((reason("stress", "shop-hits"), reason("loom", "shop-hits")), (None, None));
    }
}
