//! Suites: a cargo package's own tests, hunted under every detector that
//! can run ordinary test code; and canaries: fixture variants run beside
//! the suites on every column to prove, on this machine in this run, that
//! the detector catches what it claims.
//!
//! ```toml
//! [[suites]]
//! name = "wallet"                 # a plain path component
//! path = "fixtures/suites/wallet" # a cargo package, relative to the manifest
//! filter = "test(/concurrent/)"   # optional nextest filterset
//! features = []                   # for every variant
//! cfgs = ['loom']                 # its tests are written for loom (#[cfg(loom)])
//! [[suites.variants]]             # optional; without, one variant `default` expected to pass
//! name = "racy"
//! features = ["racy"]
//! racy = true
//! class = "check-then-act"
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::knobs::Table;
use crate::manifest::{check_name, Checker, Fixture, ManifestError, RawVariant, VariantSpec};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawSuite {
    name: Spanned<String>,
    path: Spanned<String>,
    #[serde(default)]
    package: Option<String>,
    #[serde(default)]
    filter: Option<String>,
    /// A detector's own filter (`filters = { loom = "test(/^loom_tests::/)" }`):
    /// a `#[cfg(loom)]` build has other tests than the std one.
    #[serde(default)]
    filters: BTreeMap<Spanned<String>, String>,
    #[serde(default)]
    features: Vec<String>,
    #[serde(default)]
    cfgs: Vec<Spanned<String>>,
    #[serde(default)]
    note: Option<String>,
    #[serde(default)]
    variants: Vec<RawSuiteVariant>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawSuiteVariant {
    name: Spanned<String>,
    #[serde(default)]
    features: Vec<String>,
    racy: bool,
    #[serde(default)]
    class: Option<Spanned<String>>,
    #[serde(default)]
    note: Option<String>,
    #[serde(default)]
    hang_detects: bool,
    #[serde(default)]
    expect: BTreeMap<Spanned<String>, Spanned<toml::Value>>,
    /// The test its detection must come from to count toward `detect`: a
    /// test name (`concurrent_withdrawals_never_overdraw`, `checkout::x`, the
    /// full `binary test` name, or `test(=NAME)`), or a file path
    /// (`tests/checkout.rs`, matched against the evidence's location).
    #[serde(default)]
    detect_in: Option<Spanned<String>>,
}

/// `[canaries]`: which fixture variants prove each column.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawCanaries {
    #[serde(default = "yes")]
    enabled: bool,
    /// `fixture/variant` entries; by default one racy and one fixed variant
    /// per detector, the first of the manifest that the detector must
    /// detect (resp. pass) on the target.
    #[serde(default)]
    variants: Vec<Spanned<String>>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone)]
pub struct Suite {
    pub name: String,
    /// The package's directory (absolute).
    pub dir: PathBuf,
    pub package: String,
    pub filter: Option<String>,
    /// Per-detector filters, overriding `filter` for that detector.
    pub filters: BTreeMap<String, String>,
    pub features: Vec<String>,
    pub cfgs: Vec<String>,
    pub note: Option<String>,
    /// The workspace the package belongs to (its own, or an enclosing one).
    pub workspace_root: PathBuf,
    pub locked: bool,
    pub variants: Vec<(VariantSpec, Vec<String>)>,
}

/// One suite variant, as a cell hunts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuiteCell {
    pub name: String,
    pub variant: String,
    pub dir: PathBuf,
    pub manifest_path: PathBuf,
    pub workspace_root: PathBuf,
    pub package: String,
    pub filter: Option<String>,
    /// Per-detector filters (`Detector` code asks with [`SuiteCell::filter_for`]).
    pub filters: BTreeMap<String, String>,
    /// The suite's features and the variant's.
    pub features: Vec<String>,
    pub cfgs: Vec<String>,
    pub locked: bool,
}

impl SuiteCell {
    /// This suite's cell with `detector`'s own filter in place of the common one.
    pub fn filter_for(&self, detector: &str) -> SuiteCell {
        let mut c = self.clone();
        if let Some(f) = self.filters.get(detector) {
            c.filter = Some(f.clone());
        }
        c
    }
}

impl Suite {
    pub fn cell(&self, variant: &str, features: &[String]) -> SuiteCell {
        let mut all = self.features.clone();
        all.extend(features.iter().cloned());
        SuiteCell {
            name: self.name.clone(),
            variant: variant.to_string(),
            dir: self.dir.clone(),
            manifest_path: self.dir.join("Cargo.toml"),
            workspace_root: self.workspace_root.clone(),
            package: self.package.clone(),
            filter: self.filter.clone(),
            filters: self.filters.clone(),
            features: all,
            cfgs: self.cfgs.clone(),
            locked: self.locked,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Canaries {
    pub enabled: bool,
    /// Explicit `fixture/variant` choices (empty: the defaults).
    pub variants: Vec<String>,
}

/// The package name in `dir/Cargo.toml`.
fn package_name(dir: &Path) -> Result<String, String> {
    let path = dir.join("Cargo.toml");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("no cargo package at {}: {e}", dir.display()))?;
    let table: toml::Table = text.parse().map_err(|e| format!("{}: {e}", path.display()))?;
    table.get("package").and_then(|p| p.get("name")).and_then(|n| n.as_str()).map(str::to_string).ok_or_else(|| {
        format!("{} has no [package] name (a suite is one package, not a virtual workspace)", path.display())
    })
}

/// The nearest directory from `dir` up whose Cargo.toml has `[workspace]`
/// (the package's own, or an enclosing workspace), else `dir`.
fn workspace_root(dir: &Path) -> PathBuf {
    for d in dir.ancestors() {
        let Ok(text) = std::fs::read_to_string(d.join("Cargo.toml")) else { continue };
        if text.parse::<toml::Table>().is_ok_and(|t| t.contains_key("workspace")) {
            return d.to_path_buf();
        }
    }
    dir.to_path_buf()
}

pub(crate) fn check_suites(
    c: &Checker<'_>,
    raw: Vec<RawSuite>,
    dir: &Path,
    fixtures: &[Fixture],
    detectors: &BTreeMap<String, Spanned<Table>>,
    target_known: &dyn Fn(&str) -> bool,
) -> Result<Vec<Suite>, ManifestError> {
    let mut suites: Vec<Suite> = Vec::new();
    for s in raw {
        let name = s.name.get_ref().clone();
        check_name("suite", &name).map_err(|m| c.error(s.name.span(), m))?;
        if fixtures.iter().any(|f| f.name == name) || suites.iter().any(|x| x.name == name) {
            return Err(c.error(s.name.span(), format!("`{name}` names another fixture or suite of this manifest")));
        }
        let pkg_dir = dir.join(s.path.get_ref());
        let pkg_dir = std::fs::canonicalize(&pkg_dir)
            .map_err(|e| c.error(s.path.span(), format!("suite `{name}`: no directory {} ({e})", pkg_dir.display())))?;
        let found = package_name(&pkg_dir).map_err(|m| c.error(s.path.span(), format!("suite `{name}`: {m}")))?;
        let package = s.package.unwrap_or(found);
        let mut cfgs = Vec::new();
        let allowed = crate::detector::suite_cfgs();
        for cfg in &s.cfgs {
            if !allowed.contains(&cfg.get_ref().as_str()) {
                return Err(c.error(
                    cfg.span(),
                    format!("unknown cfg `{}` (a suite may declare: {})", cfg.get_ref(), allowed.join(", ")),
                ));
            }
            cfgs.push(cfg.get_ref().clone());
        }
        let mut variants: Vec<(VariantSpec, Vec<String>)> = Vec::new();
        if s.variants.is_empty() {
            let v = VariantSpec {
                name: "default".into(),
                racy: false,
                class: None,
                note: None,
                hang_detects: false,
                expect: BTreeMap::new(),
                detect_in: None,
            };
            variants.push((v, Vec::new()));
        }
        for v in s.variants {
            let vname = v.name.get_ref().clone();
            check_name("variant", &vname).map_err(|m| c.error(v.name.span(), m))?;
            if variants.iter().any(|(w, _)| w.name == vname) {
                return Err(c.error(v.name.span(), format!("variant `{name}/{vname}` is listed twice")));
            }
            let raw = RawVariant {
                name: v.name,
                racy: v.racy,
                class: v.class,
                note: v.note,
                hang_detects: v.hang_detects,
                expect: v.expect,
            };
            let mut spec = crate::manifest::variant(c, raw, detectors, target_known)?;
            if let Some(d) = &v.detect_in {
                if d.get_ref().trim().is_empty() || crate::grade::detect_in_target(d.get_ref()).is_empty() {
                    return Err(c.error(
                        d.span(),
                        "`detect-in` is empty: name the test (or the file) the detection must come from",
                    ));
                }
                if !v.racy {
                    return Err(c.error(d.span(), format!("`detect-in` on `{name}/{vname}`, a variant that is not racy: only a racy variant's detection counts toward `detect`")));
                }
                spec.detect_in = Some(d.get_ref().trim().to_string());
            }
            variants.push((spec, v.features));
        }
        let mut filters = BTreeMap::new();
        for (d, f) in &s.filters {
            if !detectors.contains_key(d.get_ref()) {
                return Err(c.error(d.span(), format!("`{}` is not a detector of this manifest", d.get_ref())));
            }
            filters.insert(d.get_ref().clone(), f.clone());
        }
        let workspace_root = workspace_root(&pkg_dir);
        let locked = workspace_root.join("Cargo.lock").is_file();
        suites.push(Suite {
            name,
            dir: pkg_dir,
            package,
            filter: s.filter,
            filters,
            features: s.features,
            cfgs,
            note: s.note,
            workspace_root,
            locked,
            variants,
        });
    }
    Ok(suites)
}

pub(crate) fn check_canaries(
    c: &Checker<'_>,
    raw: Option<RawCanaries>,
    fixtures: &[Fixture],
    _detectors: &[String],
) -> Result<Canaries, ManifestError> {
    let Some(raw) = raw else { return Ok(Canaries { enabled: true, variants: Vec::new() }) };
    let mut variants = Vec::new();
    for v in &raw.variants {
        let (f, name) =
            v.get_ref().split_once('/').ok_or_else(|| c.error(v.span(), "a canary is `fixture/variant`"))?;
        let known = fixtures.iter().find(|x| x.name == f).is_some_and(|x| x.variants.iter().any(|w| w.name == name));
        if !known {
            return Err(c.error(v.span(), format!("no fixture variant `{}` in this manifest", v.get_ref())));
        }
        variants.push(v.get_ref().clone());
    }
    Ok(Canaries { enabled: raw.enabled, variants })
}
