//! `race-hunt.toml`: targets, detectors and their budgets, fixtures and
//! suites with their variants, and the expectation of every cell.
//! Expectations are data: the engine never special-cases a fixture in code.
//!
//! Every error names `file:line:column` of the offending key or value and
//! says what is allowed; the caller turns it into exit code 2. Unknown keys
//! are errors everywhere, including inside a detector's own tables (each
//! detector reads them through [`crate::knobs::Knobs`]).

pub mod suite;

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use race_hunt_report::BugClass;
use serde::Deserialize;
use toml::Spanned;

use crate::cell::{Condition, Expectation};
use crate::detector;
use crate::exit::{line_column, shown, ManifestError};
use crate::fingerprint::digest;
use crate::knobs::{KnobError, Knobs, Table};
use crate::target::TargetSpec;

// ---------------------------------------------------------------------------
// The file as written.

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawManifest {
    run: RawRun,
    #[serde(default)]
    toolchains: RawToolchains,
    targets: BTreeMap<Spanned<String>, RawTarget>,
    detectors: BTreeMap<Spanned<String>, Spanned<Table>>,
    budgets: BTreeMap<Spanned<String>, BTreeMap<Spanned<String>, Spanned<Table>>>,
    #[serde(default)]
    fixtures: Vec<RawFixture>,
    #[serde(default)]
    suites: Vec<suite::RawSuite>,
    #[serde(default)]
    canaries: Option<suite::RawCanaries>,
    #[serde(default)]
    ci: Option<Spanned<crate::ci_spec::CiSpec>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawRun {
    budget: Spanned<String>,
    targets: Vec<Spanned<String>>,
    detectors: Vec<Spanned<String>>,
    /// Targets a detector runs on by default besides `targets`
    /// (`detector-targets = { miri = ["armv7"] }`).
    #[serde(default)]
    detector_targets: BTreeMap<Spanned<String>, Vec<Spanned<String>>>,
    /// Findings accepted by design (`crate::baseline`), a path from the
    /// manifest's directory.
    #[serde(default)]
    baseline: Option<Spanned<String>>,
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
    apt: Vec<Spanned<String>>,
    /// Plan this target only on a host of this architecture (a native leg,
    /// such as real ARM hardware), never under an emulator.
    #[serde(default)]
    host_only: bool,
    /// The CI runner label this target's jobs need (default: `[ci] runs-on`).
    #[serde(default)]
    runs_on: Option<String>,
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
pub(crate) struct RawVariant {
    pub name: Spanned<String>,
    pub racy: bool,
    #[serde(default)]
    pub class: Option<Spanned<String>>,
    #[serde(default)]
    pub note: Option<String>,
    /// A hang counts as a detection for this variant (a deadlock fixture).
    #[serde(default)]
    pub hang_detects: bool,
    #[serde(default)]
    pub expect: BTreeMap<Spanned<String>, Spanned<toml::Value>>,
}

/// The keys a table of type `T` accepts: the field list serde's derive
/// hands the deserializer, which is also what `deny_unknown_fields` checks
/// against. So the manifest reference can be compared with the parser.
#[cfg(test)]
pub(crate) fn keys_of<'de, T: Deserialize<'de>>() -> &'static [&'static str] {
    use serde::de::{self, Visitor};
    struct Fields<'a>(&'a mut &'static [&'static str]);
    impl<'de> de::Deserializer<'de> for Fields<'_> {
        type Error = de::value::Error;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(de::Error::custom("not a struct"))
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Self::Error> {
            *self.0 = fields;
            Err(de::Error::custom("fields taken"))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
            unit_struct newtype_struct seq tuple tuple_struct map enum identifier ignored_any
        }
    }
    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(Fields(&mut fields));
    fields
}

/// Every key the parser accepts, as the manifest reference writes them
/// (`targets.NAME.triple`, `fixtures[].variants[].racy`,
/// `budgets.LEVEL.miri.seeds`); the detectors' keys are the ones their
/// `configure` reads from `m`'s tables.
#[cfg(test)]
pub(crate) fn accepted_keys(m: &Manifest) -> std::collections::BTreeSet<String> {
    let mut keys = std::collections::BTreeSet::new();
    let mut add = |prefix: &str, fields: &[&str]| {
        for f in fields {
            keys.insert(format!("{prefix}{f}"));
        }
    };
    add("run.", keys_of::<RawRun>());
    add("toolchains.", keys_of::<RawToolchains>());
    add("targets.NAME.", keys_of::<RawTarget>());
    add("fixtures[].", keys_of::<RawFixture>());
    add("fixtures[].variants[].", keys_of::<RawVariant>());
    add("suites[].", suite::raw_suite_keys().0);
    add("suites[].variants[].", suite::raw_suite_keys().1);
    add("canaries.", suite::raw_suite_keys().2);
    add("ci.", keys_of::<crate::ci_spec::CiSpec>());
    add("ci.groups[].", keys_of::<crate::ci_spec::GroupSpec>());
    for d in &m.detectors {
        let level = &m.budget_levels[0];
        let settings = &m.detector_tables[d];
        let budget = &m.budget_tables[level][d];
        let s = Knobs::new(d.clone(), settings.get_ref(), settings.span(), &m.dir);
        let b = Knobs::new(d.clone(), budget.get_ref(), budget.span(), &m.dir);
        let kind = crate::detectors::kind(d).expect("a registered detector");
        (kind.configure)(&s, &b).unwrap_or_else(|e| panic!("{d}: {e:?}"));
        add(&format!("detectors.{d}."), &s.asked());
        add(&format!("budgets.LEVEL.{d}."), &b.asked());
    }
    // Arrays of tables documented by their entries (a suite's `variants`
    // also by its default row; these two have no default).
    keys.remove("fixtures[].variants");
    keys.remove("ci.groups");
    keys
}

// ---------------------------------------------------------------------------
// The checked model.

#[derive(Debug, Clone)]
pub struct Manifest {
    pub path: PathBuf,
    /// Relative paths in the manifest resolve against this directory.
    pub dir: PathBuf,
    /// A digest of the manifest's text: the gate merges only reports of the
    /// same manifest.
    pub digest: String,
    pub default_budget: String,
    pub default_targets: Vec<String>,
    /// Per detector, targets it runs on by default besides `default_targets`.
    pub detector_targets: BTreeMap<String, Vec<String>>,
    pub default_detectors: Vec<String>,
    pub nightly: Option<String>,
    pub targets: Vec<TargetSpec>,
    /// Detector names in registry order (the matrix's column order).
    pub detectors: Vec<String>,
    pub budget_levels: Vec<String>,
    pub fixtures: Vec<Fixture>,
    pub suites: Vec<suite::Suite>,
    pub canaries: suite::Canaries,
    /// The fixtures canaries are taken from: this manifest's, or the engine's.
    pub canary_fixtures: Vec<Fixture>,
    /// `[ci]`: the groups `race-hunt matrix` fans out to.
    pub ci: crate::ci_spec::CiSpec,
    /// `[run] baseline`: findings accepted by design, with their reasons.
    pub baseline: Option<crate::baseline::Baseline>,
    /// `[run] baseline` as written (a path from the manifest's directory).
    pub baseline_name: Option<String>,
    /// Per budget level, every detector configured for it (see [`Manifest::configured`]).
    configured: BTreeMap<String, Vec<Arc<dyn detector::Detector>>>,
    /// The tables as written, for `accepted_keys`.
    #[cfg(test)]
    detector_tables: BTreeMap<String, Spanned<Table>>,
    #[cfg(test)]
    budget_tables: BTreeMap<String, BTreeMap<String, Spanned<Table>>>,
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
    pub class: Option<BugClass>,
    pub note: Option<String>,
    pub hang_detects: bool,
    /// Keys are `detector` or `detector@target`.
    pub expect: BTreeMap<String, Expectation>,
    /// A suite variant's `detect-in`: the test (or file) its detection must
    /// come from to count toward `detect`.
    pub detect_in: Option<String>,
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

    /// The nightly toolchain (ThreadSanitizer, Miri): `RACE_HUNT_NIGHTLY`,
    /// else `[toolchains] nightly`, else `nightly`.
    pub fn nightly(&self) -> String {
        std::env::var("RACE_HUNT_NIGHTLY")
            .ok()
            .filter(|s| !s.trim().is_empty())
            .or_else(|| self.nightly.clone())
            .unwrap_or_else(|| "nightly".into())
    }

    /// Every detector of the manifest (in [`Manifest::detectors`]' order)
    /// configured with its settings and the budget `level`: configured once,
    /// when the manifest was parsed, and shared by every column of a run.
    pub fn configured(&self, level: &str) -> &[Arc<dyn detector::Detector>] {
        self.configured.get(level).map_or(&[], Vec::as_slice)
    }

    pub fn fixture(&self, name: &str) -> Option<&Fixture> {
        self.fixtures.iter().find(|f| f.name == name)
    }
}

/// The one place a detector is configured (from its name, at parse time).
fn configure(
    name: &str,
    level: &str,
    settings: &Spanned<Table>,
    budget: &Spanned<Table>,
    dir: &Path,
) -> Result<Box<dyn detector::Detector>, KnobError> {
    let kind = crate::detectors::kind(name).ok_or_else(|| KnobError {
        span: settings.span(),
        message: format!("unknown detector `{name}`"),
        elsewhere: None,
    })?;
    let s = Knobs::new(format!("detectors.{name}"), settings.get_ref(), settings.span(), dir);
    let b = Knobs::new(format!("budgets.{level}.{name}"), budget.get_ref(), budget.span(), dir);
    #[cfg(test)]
    tests::CONFIGURED.with(|n| n.set(n.get() + 1));
    let d = (kind.configure)(&s, &b)?;
    s.finish()?;
    b.finish()?;
    Ok(d)
}

// ---------------------------------------------------------------------------
// Errors with a place.

pub(crate) struct Checker<'a> {
    pub path: &'a Path,
    pub text: &'a str,
}

impl Checker<'_> {
    pub fn error(&self, span: Range<usize>, message: impl Into<String>) -> ManifestError {
        let (line, column) = line_column(self.text, span.start);
        ManifestError { path: self.path.to_path_buf(), line, column, message: message.into() }
    }

    pub fn knob(&self, e: KnobError) -> ManifestError {
        match e.elsewhere {
            // The message already starts with the other file's place.
            Some(place) => {
                ManifestError { path: PathBuf::new(), line: 0, column: 0, message: format!("{place}: {}", e.message) }
            }
            None => self.error(e.span, e.message),
        }
    }
}

/// A name that becomes a path component of the run directory: letters,
/// digits, `-`, `_` and `.`, not starting with `.` or `-`.
pub fn check_name(what: &str, name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        && !name.starts_with(['.', '-']);
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{what} name `{}` must be 1 to 64 letters, digits, `-`, `_` or `.`, not starting with `.` or `-` (it names files of the run directory)",
            shown(name)
        ))
    }
}

/// A Debian package name as policy allows it (lowercase letters, digits,
/// `+`, `-`, `.`; at least two, starting with a letter or digit), with an
/// optional `:ARCH`: it reaches `apt-get install` as an argument.
pub fn check_deb_package(name: &str) -> Result<(), String> {
    let (package, arch) = name.split_once(':').map_or((name, None), |(p, a)| (p, Some(a)));
    let package_ok = package.len() >= 2
        && package.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && package.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+-.".contains(c));
    let arch_ok = arch
        .is_none_or(|a| !a.is_empty() && a.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'));
    if package_ok && arch_ok {
        Ok(())
    } else {
        Err(format!(
            "apt package `{}` is not a Debian package name (lowercase letters, digits, `+`, `-` and `.`, at least two, starting with a letter or digit; optionally `:ARCH`)",
            shown(name)
        ))
    }
}

pub fn load(path: &Path) -> Result<Manifest, ManifestError> {
    let text = std::fs::read_to_string(path).map_err(|e| ManifestError {
        path: path.to_path_buf(),
        line: 1,
        column: 1,
        message: format!("failed to read the manifest: {e}"),
    })?;
    parse(path, &text)
}

/// `race-hunt.toml` in the current directory or the nearest parent.
pub fn find_manifest() -> Option<PathBuf> {
    let cwd = std::env::current_dir().ok()?;
    cwd.ancestors().map(|d| d.join("race-hunt.toml")).find(|p| p.is_file())
}

pub fn parse(path: &Path, text: &str) -> Result<Manifest, ManifestError> {
    let c = Checker { path, text };
    let raw: RawManifest = toml::from_str(text).map_err(|e| {
        let message = e.message().trim().to_string();
        c.error(e.span().unwrap_or(0..0), message)
    })?;
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")).to_path_buf();
    let dir = std::fs::canonicalize(&dir).unwrap_or(dir);

    // Detectors: known names, in registry order.
    for name in raw.detectors.keys() {
        if crate::detectors::kind(name.get_ref()).is_none() {
            return Err(c.error(
                name.span(),
                format!(
                    "unknown detector `{}` (known: {})",
                    shown(name.get_ref()),
                    crate::detectors::names().join(", ")
                ),
            ));
        }
    }
    let detectors: Vec<String> = crate::detectors::names()
        .into_iter()
        .filter(|n| raw.detectors.keys().any(|k| k.get_ref() == n))
        .map(str::to_string)
        .collect();
    let detector_tables: BTreeMap<String, Spanned<Table>> =
        raw.detectors.iter().map(|(k, v)| (k.get_ref().clone(), v.clone())).collect();

    let mut targets = Vec::new();
    for (name, t) in raw.targets {
        check_name("target", name.get_ref()).map_err(|m| c.error(name.span(), m))?;
        for p in &t.apt {
            check_deb_package(p.get_ref()).map_err(|m| c.error(p.span(), m))?;
        }
        targets.push(TargetSpec {
            name: name.into_inner(),
            triple: t.triple,
            toolchain: t.toolchain,
            qemu: t.qemu,
            sysroot: t.sysroot,
            linker: t.linker,
            apt: t.apt.into_iter().map(Spanned::into_inner).collect(),
            host_only: t.host_only,
            runs_on: t.runs_on,
        });
    }
    let target_known = |n: &str| targets.iter().any(|t| t.name == n);

    for d in &raw.run.detectors {
        if !detector_tables.contains_key(d.get_ref()) {
            return Err(c.error(
                d.span(),
                format!(
                    "`{}` is not a detector of this manifest (it has: {})",
                    shown(d.get_ref()),
                    detectors.join(", ")
                ),
            ));
        }
    }
    for t in &raw.run.targets {
        if !target_known(t.get_ref()) {
            return Err(c.error(t.span(), format!("`{}` is not a target of this manifest", shown(t.get_ref()))));
        }
    }
    let mut detector_targets = BTreeMap::new();
    for (d, ts) in &raw.run.detector_targets {
        if !detector_tables.contains_key(d.get_ref()) {
            return Err(c.error(d.span(), format!("`{}` is not a detector of this manifest", shown(d.get_ref()))));
        }
        for t in ts {
            if !target_known(t.get_ref()) {
                return Err(c.error(t.span(), format!("`{}` is not a target of this manifest", shown(t.get_ref()))));
            }
        }
        detector_targets.insert(d.get_ref().clone(), ts.iter().map(|t| t.get_ref().clone()).collect());
    }

    // Budgets: every level has a table for every detector, and each detector
    // accepts its own (unknown knobs and bad values point at themselves).
    let mut budget_tables = BTreeMap::new();
    let mut configured = BTreeMap::new();
    for (level, per_detector) in &raw.budgets {
        check_name("budget", level.get_ref()).map_err(|m| c.error(level.span(), m))?;
        let mut checked = BTreeMap::new();
        let mut for_level = Vec::new();
        for (d, knobs) in per_detector {
            if !detector_tables.contains_key(d.get_ref()) {
                return Err(c.error(
                    d.span(),
                    format!(
                        "budget `{}` names `{}`, which is not a detector of this manifest (it has: {})",
                        level.get_ref(),
                        d.get_ref(),
                        detectors.join(", ")
                    ),
                ));
            }
            checked.insert(d.get_ref().clone(), knobs.clone());
        }
        for d in &detectors {
            let Some(knobs) = checked.get(d) else {
                return Err(c.error(
                    level.span(),
                    format!("budget `{}` has no `[budgets.{}.{d}]` table", level.get_ref(), level.get_ref()),
                ));
            };
            let det = configure(d, level.get_ref(), &detector_tables[d], knobs, &dir).map_err(|e| c.knob(e))?;
            for_level.push(Arc::from(det));
        }
        budget_tables.insert(level.get_ref().clone(), checked);
        configured.insert(level.get_ref().clone(), for_level);
    }
    if !budget_tables.contains_key(raw.run.budget.get_ref()) {
        return Err(c.error(
            raw.run.budget.span(),
            format!(
                "no budget named `{}` (this manifest has: {})",
                raw.run.budget.get_ref(),
                budget_tables.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
        ));
    }

    let mut fixtures: Vec<Fixture> = Vec::new();
    for f in raw.fixtures {
        let fname = f.name.get_ref().clone();
        check_name("fixture", &fname).map_err(|m| c.error(f.name.span(), m))?;
        let Some(known_variants) = fixture_registry::variant_names(&fname) else {
            return Err(c.error(
                f.name.span(),
                format!(
                    "no fixture `{fname}` in the scenario runner's registry (it has: {})",
                    fixture_registry::FIXTURES.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
                ),
            ));
        };
        if fixtures.iter().any(|g| g.name == fname) {
            return Err(c.error(f.name.span(), format!("fixture `{fname}` is listed twice")));
        }
        let mut variants: Vec<VariantSpec> = Vec::new();
        for v in f.variants {
            let vname = v.name.get_ref().clone();
            check_name("variant", &vname).map_err(|m| c.error(v.name.span(), m))?;
            if !known_variants.contains(&vname.as_str()) {
                return Err(c.error(
                    v.name.span(),
                    format!(
                        "fixture `{fname}` has no variant `{vname}` in the runner's registry (it has: {})",
                        known_variants.join(", ")
                    ),
                ));
            }
            if variants.iter().any(|w| w.name == vname) {
                return Err(c.error(v.name.span(), format!("variant `{fname}/{vname}` is listed twice")));
            }
            variants.push(variant(&c, v, &detector_tables, &target_known)?);
        }
        fixtures.push(Fixture { name: fname, lesson: f.lesson, variants });
    }

    let ci = match raw.ci {
        None => crate::ci_spec::CiSpec::default(),
        Some(spec) => {
            let span = spec.span();
            let spec = spec.into_inner();
            for g in &spec.groups {
                check_name("ci group", &g.name).map_err(|m| c.error(span.clone(), m))?;
                if spec.groups.iter().filter(|h| h.name == g.name).count() > 1 {
                    return Err(c.error(span, format!("ci group `{}` is listed twice", g.name)));
                }
                for d in &g.detectors {
                    if !detectors.contains(d) {
                        return Err(c.error(
                            span,
                            format!(
                                "ci group `{}` names `{}`, which is not a detector of this manifest",
                                g.name,
                                shown(d)
                            ),
                        ));
                    }
                }
                for t in &g.targets {
                    if !target_known(t) {
                        return Err(c.error(
                            span,
                            format!(
                                "ci group `{}` names `{}`, which is not a target of this manifest",
                                g.name,
                                shown(t)
                            ),
                        ));
                    }
                }
                if g.detectors.is_empty() || g.shards == 0 || g.shards > 64 {
                    return Err(
                        c.error(span, format!("ci group `{}` needs at least one detector and 1 to 64 shards", g.name))
                    );
                }
            }
            spec
        }
    };

    let suites = suite::check_suites(&c, raw.suites, &dir, &fixtures, &detector_tables, &target_known)?;
    // Canaries come from this manifest's fixtures, or, for a project with
    // none of its own, from the engine's (the lesson's fixtures).
    let canary_fixtures = if fixtures.is_empty() && !suites.is_empty() {
        let engine = crate::root::engine_root().join("race-hunt.toml");
        load(&engine)
            .map(|m| m.fixtures)
            .map_err(|e| c.error(0..0, format!("cannot read the engine's fixtures for canaries: {e}")))?
    } else {
        fixtures.clone()
    };
    let canaries = suite::check_canaries(&c, raw.canaries, &canary_fixtures, &detectors)?;
    let baseline = match &raw.run.baseline {
        None => None,
        Some(name) => {
            let file = dir.join(name.get_ref());
            if !file.is_file() {
                return Err(c.error(
                    name.span(),
                    format!(
                        "no baseline file at {} (write one with `race-hunt baseline REPORT... --out {}`)",
                        file.display(),
                        name.get_ref()
                    ),
                ));
            }
            Some(crate::baseline::Baseline::load(&file)?)
        }
    };

    Ok(Manifest {
        path: path.to_path_buf(),
        dir,
        digest: digest(text),
        default_budget: raw.run.budget.into_inner(),
        default_targets: raw.run.targets.into_iter().map(Spanned::into_inner).collect(),
        detector_targets,
        default_detectors: raw.run.detectors.into_iter().map(Spanned::into_inner).collect(),
        nightly: raw.toolchains.nightly,
        targets,
        detectors,
        budget_levels: budget_tables.keys().cloned().collect(),
        fixtures,
        suites,
        canaries,
        canary_fixtures,
        ci,
        baseline,
        baseline_name: raw.run.baseline.map(Spanned::into_inner),
        configured,
        #[cfg(test)]
        detector_tables,
        #[cfg(test)]
        budget_tables,
    })
}

/// One variant (of a fixture or a suite), checked.
pub(crate) fn variant(
    c: &Checker<'_>,
    v: RawVariant,
    detectors: &BTreeMap<String, Spanned<Table>>,
    target_known: &dyn Fn(&str) -> bool,
) -> Result<VariantSpec, ManifestError> {
    let vname = v.name.get_ref().clone();
    let all = BugClass::ALL.map(BugClass::word).join(", ");
    let class = match (v.racy, v.class) {
        (true, None) => {
            return Err(c.error(v.name.span(), format!("racy variant `{vname}` needs a `class` (one of {all})")))
        }
        (true, Some(class)) => match BugClass::from_word(class.get_ref()) {
            Some(k) => Some(k),
            None => {
                return Err(c.error(class.span(), format!("unknown class `{}` (one of {all})", shown(class.get_ref()))))
            }
        },
        (false, Some(class)) => return Err(c.error(class.span(), "a fixed variant has no bug class; remove `class`")),
        (false, None) => None,
    };
    let mut expect = BTreeMap::new();
    for (key, value) in &v.expect {
        let (detector, target) = match key.get_ref().split_once('@') {
            Some((d, t)) => (d, Some(t)),
            None => (key.get_ref().as_str(), None),
        };
        if !detectors.contains_key(detector) {
            return Err(c.error(
                key.span(),
                format!(
                    "`{detector}` is not a detector of this manifest (it has: {})",
                    detectors.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            ));
        }
        if let Some(t) = target {
            if !target_known(t) {
                return Err(c.error(key.span(), format!("`{}` is not a target of this manifest", shown(t))));
            }
        }
        let e = expectation(c, value)?;
        if !v.racy && e != Expectation::Pass {
            // A fixed variant that may be flagged would make every false
            // positive acceptable: not allowed.
            return Err(c.error(value.span(), "a fixed variant can only expect `pass`"));
        }
        expect.insert(key.get_ref().clone(), e);
    }
    Ok(VariantSpec {
        name: vname,
        racy: v.racy,
        class,
        note: v.note,
        hang_detects: v.hang_detects,
        expect,
        detect_in: None,
    })
}

const ALLOWED: &str = "\"detect\", \"pass\", { may = \"reason\" } or { detect-if = \"weak-memory\" }";

fn expectation(c: &Checker<'_>, value: &Spanned<toml::Value>) -> Result<Expectation, ManifestError> {
    let bad = |m: String| c.error(value.span(), m);
    match value.get_ref() {
        toml::Value::String(w) => match w.as_str() {
            "detect" => Ok(Expectation::Detect),
            "pass" => Ok(Expectation::Pass),
            "may" => Err(bad("`may` needs a reason: write `{ may = \"why either outcome is fine\" }`".into())),
            other => Err(bad(format!("unknown expectation `{}` (allowed: {ALLOWED})", shown(other)))),
        },
        toml::Value::Table(t) => {
            let keys: Vec<&String> = t.keys().collect();
            match (keys.as_slice(), t.get("may"), t.get("detect-if")) {
                ([_], Some(toml::Value::String(reason)), None) if !reason.trim().is_empty() => {
                    Ok(Expectation::May(reason.trim().to_string()))
                }
                ([_], Some(_), None) => Err(bad("`may` needs a non-empty reason (a string)".into())),
                ([_], None, Some(toml::Value::String(cond))) if Condition::from_word(cond).is_some() => {
                    Ok(Expectation::DetectIf(Condition::from_word(cond).expect("a known condition")))
                }
                ([_], None, Some(cond)) => Err(bad(format!(
                    "unknown condition {cond} (known: {})",
                    Condition::ALL.iter().map(|c| c.word()).collect::<Vec<_>>().join(", ")
                ))),
                _ => Err(bad(format!(
                    "an expectation table has exactly one key, `may` or `detect-if` (got: {}); allowed: {ALLOWED}",
                    keys.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", ")
                ))),
            }
        }
        other => Err(bad(format!("an expectation is {ALLOWED}, got {other}"))),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    thread_local! {
        /// How many detectors `configure` made on this thread.
        pub static CONFIGURED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    }

    pub fn repo_manifest() -> Manifest {
        let path = crate::root::engine_root().join("race-hunt.toml");
        load(&path).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn the_repository_manifest_parses() {
        let m = repo_manifest();
        assert_eq!(
            m.fixtures.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(),
            ["counter", "cache", "bank", "session", "publish"]
        );
        // Every racy variant of the lesson's table has a class; every fixed one none.
        for v in m.fixtures.iter().flat_map(|f| &f.variants) {
            assert_eq!(v.racy, v.class.is_some(), "{}", v.name);
        }
        for level in &m.budget_levels {
            let names: Vec<&str> = m.configured(level).iter().map(|d| d.name()).collect();
            assert_eq!(names, m.detectors, "{level}");
        }
        assert_eq!(m.digest.len(), 16);
    }

    #[test]
    fn the_most_specific_expectation_wins() {
        let m = repo_manifest();
        let session = m.fixture("session").unwrap();
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
        assert_eq!(line_column(text, 8), (2, 2), "inside a character");
    }

    fn error_of(text: &str) -> String {
        parse(Path::new("m.toml"), text).unwrap_err().to_string()
    }

    const HEAD: &str = "[run]\nbudget = \"q\"\ntargets = [\"x\"]\ndetectors = [\"stress\"]\n[targets.x]\ntriple = \"x86_64-unknown-linux-gnu\"\n[detectors.stress]\n[budgets.q.stress]\nseconds = 1\n";

    fn ok() -> String {
        format!("{HEAD}[[fixtures]]\nname = \"counter\"\nlesson = \"l\"\n[[fixtures.variants]]\nname = \"racy-unsync\"\nracy = true\nclass = \"data-race\"\n")
    }

    #[test]
    fn the_baseline_key_names_a_file_whose_errors_point_into_it() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = dir.path().join("race-hunt.toml");
        let with =
            ok().replacen("detectors = [\"stress\"]\n", "detectors = [\"stress\"]\nbaseline = \"known.toml\"\n", 1);
        let e = parse(&manifest, &with).unwrap_err().to_string();
        assert!(e.contains("race-hunt.toml:5:12: no baseline file at"), "{e}");
        assert!(e.contains("race-hunt baseline REPORT... --out known.toml"), "{e}");
        let known = dir.path().join("known.toml");
        std::fs::write(&known, "[[finding]]\nfingerprint = \"aaaa\"\ndetector = \"stress\"\n").unwrap();
        let e = parse(&manifest, &with).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!("{}:1:1: the baseline entry of `aaaa` has no `reason`", known.display())),
            "{e}"
        );
        std::fs::write(&known, "[[finding]]\nfingerprint = \"aaaa\"\ndetector = \"stress\"\nreason = \"by design\"\n")
            .unwrap();
        let m = parse(&manifest, &with).unwrap();
        assert_eq!(m.baseline.as_ref().unwrap().entries[0].reason, "by design");
        assert_eq!(m.baseline_name.as_deref(), Some("known.toml"));
        assert!(parse(&manifest, &ok()).unwrap().baseline.is_none());
    }

    #[test]
    fn detect_in_names_a_test_of_a_racy_suite_variant() {
        let wallet = crate::root::engine_root().join("fixtures/suites/shop-wallet");
        let suite = |variant: &str| {
            format!(
                "{HEAD}[[suites]]\nname = \"wallet\"\npath = {:?}\n[[suites.variants]]\n{variant}",
                wallet.display().to_string()
            )
        };
        let racy = suite("name = \"racy\"\nracy = true\nclass = \"check-then-act\"\ndetect-in = \"test(=concurrent_withdrawals_never_overdraw)\"\n");
        let m = parse(&crate::root::engine_root().join("m.toml"), &racy).unwrap();
        let v = &m.suites[0].variants[0].0;
        assert_eq!(v.detect_in.as_deref(), Some("test(=concurrent_withdrawals_never_overdraw)"));
        let fixed = suite("name = \"fixed\"\nracy = false\ndetect-in = \"tests/checkout.rs\"\n");
        let e = parse(&crate::root::engine_root().join("m.toml"), &fixed).unwrap_err().to_string();
        assert!(e.contains("m.toml:16:13: `detect-in` on `wallet/fixed`, a variant that is not racy"), "{e}");
        let empty = suite("name = \"racy\"\nracy = true\nclass = \"check-then-act\"\ndetect-in = \"test(=)\"\n");
        let e = parse(&crate::root::engine_root().join("m.toml"), &empty).unwrap_err().to_string();
        assert!(e.contains(":17:13: `detect-in` is empty"), "{e}");
    }

    #[test]
    fn a_minimal_manifest_parses_and_errors_point_at_the_value() {
        assert!(parse(Path::new("m.toml"), &ok()).is_ok());
        let bad_class = ok().replace("class = \"data-race\"", "class = \"data race\"");
        assert_eq!(
            error_of(&bad_class),
            "m.toml:16:9: unknown class `data race` (one of data-race, atomicity, check-then-act, ordering, deadlock, lost-wakeup, unsound-sync, memory-safety)"
        );
        let no_class = ok().replace("class = \"data-race\"\n", "");
        assert!(
            error_of(&no_class).starts_with("m.toml:14:8: racy variant `racy-unsync` needs a `class`"),
            "{}",
            error_of(&no_class)
        );
        let unknown_key = ok().replace("lesson = \"l\"", "lesson = \"l\"\nlessons = 3");
        assert!(error_of(&unknown_key).contains("unknown field `lessons`"), "{}", error_of(&unknown_key));
        let fixed_may = format!("{HEAD}[[fixtures]]\nname = \"counter\"\nlesson = \"l\"\n[[fixtures.variants]]\nname = \"fixed-fetch-add\"\nracy = false\nexpect = {{ stress = {{ may = \"why\" }} }}\n");
        assert!(error_of(&fixed_may).ends_with("a fixed variant can only expect `pass`"), "{}", error_of(&fixed_may));
        let twice = format!("{}[[fixtures.variants]]\nname = \"racy-unsync\"\nracy = false\n", ok());
        assert!(error_of(&twice).contains("variant `counter/racy-unsync` is listed twice"));
        let bad_detector = ok().replace("detectors = [\"stress\"]", "detectors = [\"helgrind\"]");
        assert!(
            error_of(&bad_detector).starts_with("m.toml:4:14: `helgrind` is not a detector of this manifest"),
            "{}",
            error_of(&bad_detector)
        );
    }

    /// The README's "Manifest reference" names exactly the keys the parser
    /// accepts: no undocumented setting, no documented key the parser
    /// refuses. And every bug class has its line.
    #[test]
    fn the_manifest_reference_and_the_parser_agree() {
        let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md")).unwrap();
        let section = readme.split("\n### Manifest reference\n").nth(1).expect("a Manifest reference section");
        let section = section.split("\n## ").next().unwrap();
        let (reference, classes) = section.split_once("Bug classes").expect("the bug classes after the keys");
        let documented: std::collections::BTreeSet<String> =
            table_keys(reference).iter().flat_map(|k| expand(k)).collect();
        let m = repo_manifest();
        let accepted = accepted_keys(&m);
        let undocumented: Vec<&String> = accepted.difference(&documented).collect();
        let unknown: Vec<&String> = documented.difference(&accepted).collect();
        assert!(
            undocumented.is_empty() && unknown.is_empty(),
            "undocumented: {undocumented:?}; not accepted: {unknown:?}"
        );
        // The top-level tables are the prefixes of the documented keys.
        for table in keys_of::<RawManifest>() {
            assert!(
                documented.iter().any(|k| k.starts_with(&format!("{table}.")) || k.starts_with(&format!("{table}[]"))),
                "{table}"
            );
        }
        let documented_classes = table_keys(classes);
        assert_eq!(documented_classes, BugClass::ALL.map(|c| c.word().to_string()).to_vec());
        // A sample of what the test reads, so that it cannot pass vacuously.
        for k in [
            "canaries.variants",
            "budgets.LEVEL.miri.suite-seeds",
            "budgets.LEVEL.stress.test-timeout",
            "suites[].variants[].hang-detects",
        ] {
            assert!(accepted.contains(k), "{k}");
        }
    }

    /// The first column's backticked key of every row of the Markdown tables in `text`.
    fn table_keys(text: &str) -> Vec<String> {
        text.lines()
            .filter_map(|l| l.strip_prefix("| `"))
            .filter_map(|l| l.split_once('`').map(|(k, _)| k.to_string()))
            .collect()
    }

    /// `{a,b}.x` -> `a.x`, `b.x`.
    fn expand(key: &str) -> Vec<String> {
        match (key.find('{'), key.find('}')) {
            (Some(open), Some(close)) => key[open + 1..close]
                .split(',')
                .flat_map(|alt| expand(&format!("{}{alt}{}", &key[..open], &key[close + 1..])))
                .collect(),
            _ => vec![key.to_string()],
        }
    }

    /// Real reports need more than the lesson's four classes: a lost wakeup
    /// or a deadlock (liveness), an unsound `Send`/`Sync` impl, a use after
    /// free.
    #[test]
    fn the_classes_real_reports_need_parse() {
        for word in ["deadlock", "lost-wakeup", "unsound-sync", "memory-safety"] {
            let m = parse(Path::new("m.toml"), &ok().replace("class = \"data-race\"", &format!("class = \"{word}\"")))
                .unwrap_or_else(|e| panic!("{word}: {e}"));
            assert_eq!(m.fixtures[0].variants[0].class.map(BugClass::word), Some(word));
        }
    }

    #[test]
    fn per_suite_detector_settings_are_read_checked_and_applied() {
        let dir = tempfile::tempdir().unwrap();
        let pkg = dir.path().join("pkg");
        std::fs::create_dir_all(&pkg).unwrap();
        std::fs::write(pkg.join("Cargo.toml"), "[package]\nname = \"pkg\"\nversion = \"0.1.0\"\n").unwrap();
        let suite = |settings: &str| format!("{}[[suites]]\nname = \"s\"\npath = \"pkg\"\n{settings}", ok());
        let m = parse(
            &dir.path().join("m.toml"),
            &suite("[suites.detectors.stress]\nrustflags = [\"--cfg\", \"slow_ci\"]\nenv = { TSAN_OPTIONS = \"report_signal_unsafe=0\" }\ntest-timeout = 90\ntimeout = 600\n"),
        )
        .unwrap();
        let cell = m.suites[0].cell("default", &[]).filter_for("stress");
        let mut plan = crate::nextest::SuitePlan {
            flavor: crate::nextest::Flavor {
                env: vec![("TSAN_OPTIONS".into(), "halt_on_error=0".into())],
                ..Default::default()
            },
            run_args: Vec::new(),
            timeout: std::time::Duration::from_secs(100),
            test_timeout: 30.0,
            reruns: 20,
        };
        cell.settings.apply(&mut plan);
        assert_eq!(plan.flavor.rustflags, ["--cfg", "slow_ci"]);
        assert_eq!(
            plan.flavor.env,
            [("TSAN_OPTIONS".to_string(), "halt_on_error=0 report_signal_unsafe=0".to_string())]
        );
        assert_eq!((plan.test_timeout, plan.timeout.as_secs()), (90.0, 600));
        // Another detector's cell gets none of them.
        assert_eq!(m.suites[0].cell("default", &[]).filter_for("tsan").settings, Default::default());
        let err = |settings: &str| parse(&dir.path().join("m.toml"), &suite(settings)).unwrap_err().to_string();
        assert!(err("[suites.detectors.helgrind]\n").contains("`helgrind` is not a detector of this manifest"));
        assert!(err("[suites.detectors.stress]\ntest-timeout = -1\n")
            .contains("`test-timeout` must be a number of seconds"));
        assert!(err("[suites.detectors.stress]\nskip = \" \"\n").contains("`skip` needs a reason"));
        assert!(
            err("[suites.detectors.stress]\nenv = { \"A B\" = \"1\" }\n").contains("not an environment variable name")
        );
        assert!(err("[suites.detectors.stress]\nrustflag = []\n").contains("unknown field `rustflag`"));
    }

    #[test]
    fn names_must_be_in_the_registry_and_plain_path_components() {
        for (from, to, needle) in [
            ("name = \"counter\"", "name = \"../escape\"", "fixture name `../escape` must be"),
            ("name = \"counter\"", "name = \"/abs\"", "fixture name `/abs` must be"),
            ("name = \"counter\"", "name = \"counterr\"", "no fixture `counterr` in the scenario runner's registry"),
            ("name = \"racy-unsync\"", "name = \"racy/x\"", "variant name `racy/x` must be"),
            ("name = \"racy-unsync\"", "name = \"racy-nope\"", "fixture `counter` has no variant `racy-nope`"),
        ] {
            let e = error_of(&ok().replacen(from, to, 1));
            assert!(e.contains(needle), "{to}: {e}");
            assert!(e.starts_with("m.toml:1") && !e.starts_with("m.toml:1:1:"), "points at the name: {e}");
        }
    }

    #[test]
    fn control_characters_in_names_are_escaped_in_errors() {
        for (from, to, needle) in [
            ("name = \"counter\"", "name = \"count\\ner\"", "fixture name `count\\ner` must be"),
            ("name = \"racy-unsync\"", "name = \"racy\\u001b[31m\"", "variant name `racy\\u{1b}[31m` must be"),
            ("detectors = [\"stress\"]", "detectors = [\"st\\nress\"]", "`st\\nress` is not a detector"),
            ("class = \"data-race\"", "class = \"data\\r\"", "unknown class `data\\r`"),
        ] {
            let e = error_of(&ok().replacen(from, to, 1));
            assert!(e.contains(needle), "{to}: {e}");
            assert!(!e.contains(['\n', '\r', '\u{1b}']), "a raw control character: {e:?}");
        }
        assert_eq!(shown("a\nb\tc\u{7}é"), "a\\nb\\tc\\u{7}é");
    }

    #[test]
    fn apt_packages_are_debian_names_checked_at_their_place() {
        for good in ["qemu-user", "libc6-dev-arm64-cross", "g++-12", "libc6:armhf", "r8"] {
            assert!(check_deb_package(good).is_ok(), "{good}");
        }
        for bad in
            ["-oAPT::Get::Assume-Yes=1", "--allow-downgrades", "Qemu", "q", "", "a b", "pkg;rm", "x:", "pkg/sid", "+x"]
        {
            assert!(check_deb_package(bad).unwrap_err().contains("is not a Debian package name"), "{bad}");
        }
        let text = ok().replace(
            "triple = \"x86_64-unknown-linux-gnu\"\n",
            "triple = \"x86_64-unknown-linux-gnu\"\napt = [\"qemu-user\", \"--reinstall\"]\n",
        );
        let e = error_of(&text);
        assert!(e.starts_with("m.toml:7:21: apt package `--reinstall` is not a Debian package name"), "{e}");
    }

    #[test]
    fn expectation_errors_name_what_is_allowed_without_serde_internals() {
        for (value, needle) in [
            ("\"maybe\"", "unknown expectation `maybe` (allowed: \"detect\", \"pass\""),
            ("3", "an expectation is \"detect\", \"pass\""),
            ("{ mayb = \"x\" }", "exactly one key, `may` or `detect-if` (got: mayb)"),
            ("{ may = \"\" }", "needs a non-empty reason"),
            ("{ detect-if = \"arm\" }", "unknown condition \"arm\" (known: weak-memory)"),
        ] {
            let text = format!("{}expect = {{ stress = {value} }}\n", ok());
            let e = error_of(&text);
            assert!(e.contains(needle), "{value}: {e}");
            assert!(!e.contains("untagged") && !e.contains("RawExpect"), "{e}");
            assert!(e.starts_with("m.toml:17:"), "{e}");
        }
    }

    #[test]
    fn budget_errors_point_at_the_level_or_the_knob() {
        let missing =
            ok().replace("[budgets.q.stress]\nseconds = 1\n", "[budgets.q.stress]\nseconds = 1\n[budgets.r]\n");
        assert!(
            error_of(&missing).starts_with("m.toml:")
                && error_of(&missing).contains("budget `r` has no `[budgets.r.stress]` table"),
            "{}",
            error_of(&missing)
        );
        assert!(!error_of(&missing).starts_with("m.toml:0:0") && !error_of(&missing).starts_with("m.toml:1:1"));
        for (knob, needle) in [
            ("seconds = inf", "m.toml:9:11: budgets.q.stress: `seconds` must be a number of seconds greater than 0"),
            ("seconds = 1\nsecs = 2", "m.toml:10:1: budgets.q.stress: unknown key `secs`"),
            ("seconds = 1\ntimeout = 1e300", "`timeout` must be a number of seconds"),
            ("seconds = 1\nops = 9223372036854775807", "`ops` must be a whole number from 1 to"),
        ] {
            let e = error_of(&ok().replace("seconds = 1\n", &format!("{knob}\n")));
            assert!(e.contains(needle), "{knob}: {e}");
        }
    }
}
