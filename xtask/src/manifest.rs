//! `race-hunt.toml`: fixtures, variants, detectors, targets, budgets and the
//! expectation of every cell. Expectations are data: the harness never
//! special-cases a fixture in code.
//!
//! Errors name `file:line:column` and what is wrong; the caller turns them
//! into exit code 2.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

/// The bug classes of racy variants (the `class` field of the report).
pub const CLASSES: &[&str] = &["data-race", "atomicity", "check-then-act", "ordering"];

/// Conditions a `detect-if` expectation may name, each decided by the
/// target's preflight probe.
pub const CONDITIONS: &[&str] = &["weak-memory"];

// ---------------------------------------------------------------------------
// The file as written.

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawManifest {
    run: RawRun,
    #[serde(default)]
    toolchains: RawToolchains,
    targets: BTreeMap<String, RawTarget>,
    detectors: BTreeMap<Spanned<String>, toml::Table>,
    budgets: BTreeMap<String, BTreeMap<Spanned<String>, Spanned<toml::Table>>>,
    fixtures: Vec<RawFixture>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawRun {
    budget: Spanned<String>,
    targets: Vec<Spanned<String>>,
    detectors: Vec<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawToolchains {
    nightly: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawTarget {
    triple: String,
    #[serde(default)]
    toolchain: Option<String>,
    #[serde(default)]
    qemu: Option<String>,
    #[serde(default)]
    sysroot: Option<String>,
    #[serde(default)]
    linker: Option<String>,
    #[serde(default)]
    apt: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawFixture {
    name: Spanned<String>,
    lesson: String,
    variants: Vec<RawVariant>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawVariant {
    name: Spanned<String>,
    racy: bool,
    #[serde(default)]
    class: Option<Spanned<String>>,
    #[serde(default)]
    note: Option<String>,
    #[serde(default)]
    expect: BTreeMap<Spanned<String>, Spanned<RawExpect>>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawExpect {
    Word(String),
    Table(BTreeMap<String, String>),
}

// ---------------------------------------------------------------------------
// The checked model.

/// What a cell is expected to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expectation {
    Detect,
    Pass,
    /// Either outcome is acceptable, for the written reason.
    May(String),
    /// `detect` where the target's probe shows the condition, otherwise
    /// `may` with the probe's finding as the reason.
    DetectIf(String),
}

impl Expectation {
    pub fn word(&self) -> &'static str {
        match self {
            Expectation::Detect => "detect",
            Expectation::Pass => "pass",
            Expectation::May(_) => "may",
            Expectation::DetectIf(_) => "detect-if",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Manifest {
    pub path: PathBuf,
    pub default_budget: String,
    pub default_targets: Vec<String>,
    pub default_detectors: Vec<String>,
    pub nightly: Option<String>,
    pub targets: Vec<TargetSpec>,
    pub detectors: BTreeMap<String, toml::Table>,
    /// level -> detector -> knobs (iterations, seconds, schedules, ...).
    pub budgets: BTreeMap<String, BTreeMap<String, toml::Table>>,
    pub fixtures: Vec<Fixture>,
}

#[derive(Debug, Clone)]
pub struct TargetSpec {
    /// The short name used on the command line and in `detector@target` keys.
    pub name: String,
    pub triple: String,
    pub toolchain: Option<String>,
    pub qemu: Option<String>,
    pub sysroot: Option<String>,
    pub linker: Option<String>,
    pub apt: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Fixture {
    pub name: String,
    pub lesson: String,
    pub variants: Vec<VariantSpec>,
}

#[derive(Debug, Clone)]
pub struct VariantSpec {
    pub name: String,
    pub racy: bool,
    pub class: Option<String>,
    pub note: Option<String>,
    /// Keys are `detector` or `detector@target`.
    pub expect: BTreeMap<String, Expectation>,
}

impl VariantSpec {
    /// The expectation of this variant's cell for `detector` on `target`:
    /// `detector@target` wins over `detector`, which wins over the default
    /// (`detect` for a racy variant, `pass` for a fixed one).
    pub fn expectation(&self, detector: &str, target: &str) -> Expectation {
        self.expect
            .get(&format!("{detector}@{target}"))
            .or_else(|| self.expect.get(detector))
            .cloned()
            .unwrap_or(if self.racy { Expectation::Detect } else { Expectation::Pass })
    }
}

impl Manifest {
    pub fn target(&self, name_or_triple: &str) -> Option<&TargetSpec> {
        self.targets.iter().find(|t| t.name == name_or_triple || t.triple == name_or_triple)
    }

    /// The nightly toolchain for the tsan build: `RACE_HUNT_NIGHTLY`, else
    /// `[toolchains] nightly`, else `nightly`.
    pub fn nightly(&self) -> String {
        std::env::var("RACE_HUNT_NIGHTLY").ok().or_else(|| self.nightly.clone()).unwrap_or_else(|| "nightly".into())
    }

    /// The knobs of `detector` at budget `level`.
    pub fn budget(&self, level: &str, detector: &str) -> Option<&toml::Table> {
        self.budgets.get(level)?.get(detector)
    }
}

// ---------------------------------------------------------------------------
// Errors with a place.

#[derive(Debug)]
pub struct ManifestError {
    pub path: PathBuf,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: {}", self.path.display(), self.line, self.column, self.message)
    }
}

impl std::error::Error for ManifestError {}

/// 1-based line and column (in characters) of byte `offset` in `text`.
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

struct Checker<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Checker<'_> {
    fn error(&self, span: Range<usize>, message: impl Into<String>) -> ManifestError {
        let (line, column) = line_column(self.text, span.start);
        ManifestError { path: self.path.to_path_buf(), line, column, message: message.into() }
    }
}

pub fn load(path: &Path) -> Result<Manifest, ManifestError> {
    let text = std::fs::read_to_string(path).map_err(|e| ManifestError {
        path: path.to_path_buf(),
        line: 0,
        column: 0,
        message: format!("failed to read the manifest: {e}"),
    })?;
    parse(path, &text)
}

pub fn parse(path: &Path, text: &str) -> Result<Manifest, ManifestError> {
    let c = Checker { path, text };
    let raw: RawManifest = toml::from_str(text).map_err(|e| {
        let message = e.message().trim().to_string();
        c.error(e.span().unwrap_or(0..0), message)
    })?;

    let detectors: BTreeMap<String, toml::Table> =
        raw.detectors.iter().map(|(k, v)| (k.get_ref().clone(), v.clone())).collect();
    for name in raw.detectors.keys() {
        if !crate::detector::KNOWN.contains(&name.get_ref().as_str()) {
            return Err(c.error(
                name.span(),
                format!("unknown detector `{}` (known: {})", name.get_ref(), crate::detector::KNOWN.join(", ")),
            ));
        }
    }

    let mut targets = Vec::new();
    for (name, t) in raw.targets {
        targets.push(TargetSpec {
            name,
            triple: t.triple,
            toolchain: t.toolchain,
            qemu: t.qemu,
            sysroot: t.sysroot,
            linker: t.linker,
            apt: t.apt,
        });
    }
    let target_known = |n: &str| targets.iter().any(|t| t.name == n);

    for d in &raw.run.detectors {
        if !detectors.contains_key(d.get_ref()) {
            return Err(c.error(d.span(), format!("`{}` is not a detector of this manifest", d.get_ref())));
        }
    }
    for t in &raw.run.targets {
        if !target_known(t.get_ref()) {
            return Err(c.error(t.span(), format!("`{}` is not a target of this manifest", t.get_ref())));
        }
    }

    let mut budgets = BTreeMap::new();
    for (level, per_detector) in &raw.budgets {
        let mut checked = BTreeMap::new();
        for (detector, knobs) in per_detector {
            if !detectors.contains_key(detector.get_ref()) {
                return Err(c.error(
                    detector.span(),
                    format!(
                        "budget `{level}` names `{}`, which is not a detector of this manifest",
                        detector.get_ref()
                    ),
                ));
            }
            crate::detector::check_budget(detector.get_ref(), knobs.get_ref())
                .map_err(|m| c.error(knobs.span(), format!("budget `{level}.{}`: {m}", detector.get_ref())))?;
            checked.insert(detector.get_ref().clone(), knobs.get_ref().clone());
        }
        for d in detectors.keys() {
            if !checked.contains_key(d) {
                return Err(c.error(0..0, format!("budget `{level}` has no `[budgets.{level}.{d}]` table")));
            }
        }
        budgets.insert(level.clone(), checked);
    }
    if !budgets.contains_key(raw.run.budget.get_ref()) {
        return Err(c.error(raw.run.budget.span(), format!("no budget named `{}`", raw.run.budget.get_ref())));
    }

    let mut fixtures: Vec<Fixture> = Vec::new();
    for f in raw.fixtures {
        if fixtures.iter().any(|g| g.name == *f.name.get_ref()) {
            return Err(c.error(f.name.span(), format!("fixture `{}` is listed twice", f.name.get_ref())));
        }
        let mut variants: Vec<VariantSpec> = Vec::new();
        for v in f.variants {
            let vname = v.name.get_ref().clone();
            if variants.iter().any(|w| w.name == vname) {
                return Err(c.error(v.name.span(), format!("variant `{}/{vname}` is listed twice", f.name.get_ref())));
            }
            let class = match (v.racy, v.class) {
                (true, None) => {
                    return Err(c.error(
                        v.name.span(),
                        format!("racy variant `{vname}` needs a `class` (one of {})", CLASSES.join(", ")),
                    ))
                }
                (true, Some(class)) => {
                    if !CLASSES.contains(&class.get_ref().as_str()) {
                        return Err(c.error(
                            class.span(),
                            format!("unknown class `{}` (one of {})", class.get_ref(), CLASSES.join(", ")),
                        ));
                    }
                    Some(class.into_inner())
                }
                (false, Some(class)) => {
                    return Err(c.error(class.span(), "a fixed variant has no bug class; remove `class`"))
                }
                (false, None) => None,
            };
            let mut expect = BTreeMap::new();
            for (key, value) in &v.expect {
                let (detector, target) = match key.get_ref().split_once('@') {
                    Some((d, t)) => (d, Some(t)),
                    None => (key.get_ref().as_str(), None),
                };
                if !detectors.contains_key(detector) {
                    return Err(c.error(key.span(), format!("`{detector}` is not a detector of this manifest")));
                }
                if let Some(t) = target {
                    if !target_known(t) {
                        return Err(c.error(key.span(), format!("`{t}` is not a target of this manifest")));
                    }
                }
                let e = expectation(&c, value)?;
                if !v.racy && e != Expectation::Pass {
                    // A fixed variant that may be flagged would make every
                    // false positive acceptable: not allowed.
                    return Err(c.error(value.span(), "a fixed variant can only expect `pass`"));
                }
                expect.insert(key.get_ref().clone(), e);
            }
            variants.push(VariantSpec { name: vname, racy: v.racy, class, note: v.note, expect });
        }
        fixtures.push(Fixture { name: f.name.into_inner(), lesson: f.lesson, variants });
    }

    Ok(Manifest {
        path: path.to_path_buf(),
        default_budget: raw.run.budget.into_inner(),
        default_targets: raw.run.targets.into_iter().map(Spanned::into_inner).collect(),
        default_detectors: raw.run.detectors.into_iter().map(Spanned::into_inner).collect(),
        nightly: raw.toolchains.nightly,
        targets,
        detectors,
        budgets,
        fixtures,
    })
}

fn expectation(c: &Checker<'_>, value: &Spanned<RawExpect>) -> Result<Expectation, ManifestError> {
    let bad = |m: &str| c.error(value.span(), m.to_string());
    match value.get_ref() {
        RawExpect::Word(w) => match w.as_str() {
            "detect" => Ok(Expectation::Detect),
            "pass" => Ok(Expectation::Pass),
            "may" => Err(bad("`may` needs a reason: write `{ may = \"why either outcome is fine\" }`")),
            other => Err(bad(&format!(
                "unknown expectation `{other}` (detect, pass, {{ may = \"reason\" }}, {{ detect-if = \"condition\" }})"
            ))),
        },
        RawExpect::Table(t) => match (t.len(), t.get("may"), t.get("detect-if")) {
            (1, Some(reason), None) if !reason.trim().is_empty() => Ok(Expectation::May(reason.trim().to_string())),
            (1, Some(_), None) => Err(bad("`may` needs a non-empty reason")),
            (1, None, Some(cond)) if CONDITIONS.contains(&cond.as_str()) => Ok(Expectation::DetectIf(cond.clone())),
            (1, None, Some(cond)) => {
                Err(bad(&format!("unknown condition `{cond}` (known: {})", CONDITIONS.join(", "))))
            }
            _ => Err(bad("an expectation table has exactly one key: `may` or `detect-if`")),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo_manifest() -> Manifest {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../race-hunt.toml");
        load(&path).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn the_repository_manifest_parses() {
        let m = repo_manifest();
        assert_eq!(
            m.fixtures.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(),
            ["counter", "cache", "bank", "session", "publish"]
        );
        let variants: usize = m.fixtures.iter().map(|f| f.variants.len()).sum();
        assert_eq!(variants, 17);
        // Every racy variant of the lesson's table has a class; every fixed one none.
        for v in m.fixtures.iter().flat_map(|f| &f.variants) {
            assert_eq!(v.racy, v.class.is_some(), "{}", v.name);
        }
        for level in ["quick", "standard", "soak"] {
            for d in crate::detector::KNOWN {
                assert!(m.budget(level, d).is_some(), "{level}.{d}");
            }
        }
    }

    #[test]
    fn the_most_specific_expectation_wins() {
        let m = repo_manifest();
        let session = m.fixtures.iter().find(|f| f.name == "session").unwrap();
        let u64v = session.variants.iter().find(|v| v.name == "racy-u64").unwrap();
        assert_eq!(u64v.expectation("stress", "armv7"), Expectation::Detect);
        assert!(matches!(u64v.expectation("stress", "x86_64"), Expectation::May(_)));
        assert_eq!(u64v.expectation("tsan", "x86_64"), Expectation::Detect, "racy default");
        let fixed = session.variants.iter().find(|v| v.name == "fixed-atomic").unwrap();
        assert_eq!(fixed.expectation("chaos", "aarch64"), Expectation::Pass, "fixed default");
    }

    #[test]
    fn line_and_column_are_one_based_characters() {
        let text = "a = 1\nbé = 2\n";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, 6), (2, 1));
        assert_eq!(line_column(text, text.find('=').unwrap()), (1, 3));
        assert_eq!(line_column(text, text.rfind('=').unwrap()), (2, 4));
    }

    fn error_of(text: &str) -> String {
        parse(Path::new("m.toml"), text).unwrap_err().to_string()
    }

    const HEAD: &str = "[run]\nbudget = \"q\"\ntargets = [\"x\"]\ndetectors = [\"stress\"]\n[targets.x]\ntriple = \"x86_64-unknown-linux-gnu\"\n[detectors.stress]\n[budgets.q.stress]\niterations = 1\nseconds = 1\n";

    #[test]
    fn a_minimal_manifest_parses_and_errors_point_at_the_value() {
        let ok = format!("{HEAD}[[fixtures]]\nname = \"counter\"\nlesson = \"l\"\n[[fixtures.variants]]\nname = \"racy-unsync\"\nracy = true\nclass = \"data-race\"\n");
        assert!(parse(Path::new("m.toml"), &ok).is_ok());
        let bad_class = ok.replace("class = \"data-race\"", "class = \"data race\"");
        assert_eq!(
            error_of(&bad_class),
            "m.toml:17:9: unknown class `data race` (one of data-race, atomicity, check-then-act, ordering)"
        );
        let no_class = ok.replace("class = \"data-race\"\n", "");
        assert!(
            error_of(&no_class).starts_with("m.toml:15:8: racy variant `racy-unsync` needs a `class`"),
            "{}",
            error_of(&no_class)
        );
        let unknown_key = ok.replace("lesson = \"l\"", "lesson = \"l\"\nlessons = 3");
        assert!(error_of(&unknown_key).contains("unknown field `lessons`"), "{}", error_of(&unknown_key));
        let fixed_may = format!("{HEAD}[[fixtures]]\nname = \"c\"\nlesson = \"l\"\n[[fixtures.variants]]\nname = \"fixed\"\nracy = false\nexpect = {{ stress = {{ may = \"why\" }} }}\n");
        assert!(error_of(&fixed_may).ends_with("a fixed variant can only expect `pass`"), "{}", error_of(&fixed_may));
        let twice = format!("{ok}[[fixtures.variants]]\nname = \"racy-unsync\"\nracy = false\n");
        assert!(error_of(&twice).contains("variant `counter/racy-unsync` is listed twice"));
        let bad_detector = ok.replace("detectors = [\"stress\"]", "detectors = [\"helgrind\"]");
        assert!(
            error_of(&bad_detector).starts_with("m.toml:4:14: `helgrind` is not a detector of this manifest"),
            "{}",
            error_of(&bad_detector)
        );
    }
}
