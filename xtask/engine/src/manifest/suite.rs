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

use crate::cell::{SuiteCell, SuiteSettings};
use crate::exit::ManifestError;
use crate::knobs::Table;
use crate::manifest::{check_name, Checker, Fixture, RawVariant, VariantSpec};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawSuite {
    name: Spanned<String>,
    path: Spanned<String>,
    #[serde(default)]
    package: Option<String>,
    #[serde(default)]
    filter: Option<Spanned<String>>,
    /// A detector's own filter (`filters = { loom = "test(/^loom_tests::/)" }`):
    /// a `#[cfg(loom)]` build has other tests than the std one.
    #[serde(default)]
    filters: BTreeMap<Spanned<String>, Spanned<String>>,
    #[serde(default)]
    features: Vec<Spanned<String>>,
    #[serde(default)]
    cfgs: Vec<Spanned<String>>,
    #[serde(default)]
    note: Option<String>,
    /// Per-detector settings for this suite (`[suites.detectors.tsan]`).
    #[serde(default)]
    detectors: BTreeMap<Spanned<String>, Spanned<RawSuiteSettings>>,
    #[serde(default)]
    variants: Vec<RawSuiteVariant>,
}

/// `[suites.detectors.NAME]`: how one detector hunts this suite.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawSuiteSettings {
    #[serde(default)]
    skip: Option<String>,
    #[serde(default)]
    rustflags: Vec<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    test_timeout: Option<Spanned<f64>>,
    #[serde(default)]
    timeout: Option<Spanned<f64>>,
}

impl SuiteSettings {
    /// Apply these settings to a detector's plan for the suite.
    pub fn apply(&self, plan: &mut crate::nextest::SuitePlan) {
        plan.flavor.rustflags.extend(self.rustflags.iter().cloned());
        for (k, v) in &self.env {
            match plan.flavor.env.iter_mut().find(|(key, _)| key == k) {
                Some((_, ours)) => *ours = format!("{ours} {v}"),
                None => plan.flavor.env.push((k.clone(), v.clone())),
            }
        }
        if let Some(t) = self.test_timeout {
            plan.test_timeout = t;
        }
        if let Some(t) = self.timeout {
            plan.timeout = std::time::Duration::from_secs_f64(t);
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawSuiteVariant {
    name: Spanned<String>,
    #[serde(default)]
    features: Vec<Spanned<String>>,
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

/// The keys of `[[suites]]`, `[[suites.variants]]` and `[canaries]`.
#[cfg(test)]
pub(crate) fn raw_suite_keys() -> (&'static [&'static str], &'static [&'static str], &'static [&'static str]) {
    use crate::manifest::keys_of;
    (keys_of::<RawSuite>(), keys_of::<RawSuiteVariant>(), keys_of::<RawCanaries>())
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
    /// The manifest's note on the suite: kept, shown by nothing yet.
    #[allow(dead_code)]
    pub note: Option<String>,
    /// Per-detector settings (`[suites.detectors.NAME]`).
    pub settings: BTreeMap<String, SuiteSettings>,
    /// The workspace the package belongs to (its own, or an enclosing one).
    pub workspace_root: PathBuf,
    pub locked: bool,
    pub variants: Vec<(VariantSpec, Vec<String>)>,
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
            settings: SuiteSettings::default(),
            all_settings: self.settings.clone(),
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

/// The features `cargo --features` accepts for the package at `dir`: its
/// `[features]`, and each optional dependency that no feature names as
/// `dep:NAME` (cargo's implicit feature); and the names of its
/// dependencies, for `DEP/FEATURE`.
fn package_features(dir: &Path) -> Result<(Vec<String>, Vec<String>), String> {
    let path = dir.join("Cargo.toml");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let table: toml::Table = text.parse().map_err(|e| format!("{}: {e}", path.display()))?;
    let declared = table.get("features").and_then(|f| f.as_table());
    let mut features: Vec<String> = declared.map(|f| f.keys().cloned().collect()).unwrap_or_default();
    let uses_dep = |name: &str| {
        declared.is_some_and(|f| {
            f.values().filter_map(|v| v.as_array()).flatten().any(|x| x.as_str() == Some(&format!("dep:{name}")))
        })
    };
    let mut tables: Vec<&toml::Table> = Vec::new();
    for key in ["dependencies", "dev-dependencies", "build-dependencies"] {
        tables.extend(table.get(key).and_then(|d| d.as_table()));
    }
    for t in table.get("target").and_then(|t| t.as_table()).into_iter().flat_map(|t| t.values()) {
        for key in ["dependencies", "dev-dependencies", "build-dependencies"] {
            tables.extend(t.get(key).and_then(|d| d.as_table()));
        }
    }
    let mut deps = Vec::new();
    for (name, spec) in tables.iter().flat_map(|t| t.iter()) {
        deps.push(name.clone());
        let optional = spec.get("optional").and_then(|o| o.as_bool()) == Some(true);
        if optional && !uses_dep(name) && !features.contains(name) {
            features.push(name.clone());
        }
    }
    Ok((features, deps))
}

/// Check every feature a suite or variant names against its package.
fn check_features(c: &Checker<'_>, suite: &str, dir: &Path, features: &[Spanned<String>]) -> Result<(), ManifestError> {
    if features.is_empty() {
        return Ok(());
    }
    let (known, deps) =
        package_features(dir).map_err(|m| c.error(features[0].span(), format!("suite `{suite}`: {m}")))?;
    for f in features {
        let name = f.get_ref();
        let ok = match name.split_once('/') {
            Some((dep, feature)) => deps.iter().any(|d| d == dep.trim_end_matches('?')) && !feature.is_empty(),
            None => known.contains(name),
        };
        if !ok {
            let mut have = known.clone();
            have.sort();
            return Err(c.error(
                f.span(),
                format!(
                    "suite `{suite}`: the package has no feature `{}` (it has: {})",
                    crate::exit::shown(name),
                    if have.is_empty() { "none".to_string() } else { have.join(", ") }
                ),
            ));
        }
    }
    Ok(())
}

/// Check a suite's filterset at its place in the manifest.
fn check_filter(c: &Checker<'_>, suite: &str, f: &Spanned<String>) -> Result<(), ManifestError> {
    crate::nextest::check_filterset(f.get_ref()).map_err(|m| c.error(f.span(), format!("suite `{suite}`: {m}")))
}

/// The nearest directory from `dir` up whose Cargo.toml has `[workspace]`
/// (the package's own, or an enclosing workspace that does not exclude it,
/// as cargo finds it), else `dir`.
fn workspace_root(dir: &Path) -> PathBuf {
    for d in dir.ancestors() {
        let Ok(text) = std::fs::read_to_string(d.join("Cargo.toml")) else { continue };
        let Ok(table) = text.parse::<toml::Table>() else { continue };
        let Some(ws) = table.get("workspace") else { continue };
        let excluded = d != dir
            && ws
                .get("exclude")
                .and_then(|e| e.as_array())
                .is_some_and(|ex| ex.iter().filter_map(|e| e.as_str()).any(|e| dir.starts_with(d.join(e))));
        if !excluded {
            return d.to_path_buf();
        }
    }
    dir.to_path_buf()
}

/// What a `detect-in` names: `test(=NAME)` is NAME, anything else as written.
pub fn detect_in_target(detect_in: &str) -> &str {
    let d = detect_in.trim();
    d.strip_prefix("test(=").and_then(|r| r.strip_suffix(')')).map_or(d, str::trim)
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
        let allowed = crate::detectors::suite_cfgs();
        for cfg in &s.cfgs {
            if !allowed.contains(&cfg.get_ref().as_str()) {
                return Err(c.error(
                    cfg.span(),
                    format!(
                        "unknown cfg `{}` (a suite may declare: {})",
                        crate::exit::shown(cfg.get_ref()),
                        allowed.join(", ")
                    ),
                ));
            }
            cfgs.push(cfg.get_ref().clone());
        }
        check_features(c, &name, &pkg_dir, &s.features)?;
        if let Some(f) = &s.filter {
            check_filter(c, &name, f)?;
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
            check_features(c, &name, &pkg_dir, &v.features)?;
            let features = v.features.into_iter().map(Spanned::into_inner).collect();
            let mut spec = crate::manifest::variant(c, raw, detectors, target_known)?;
            if let Some(d) = &v.detect_in {
                if d.get_ref().trim().is_empty() || detect_in_target(d.get_ref()).is_empty() {
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
            variants.push((spec, features));
        }
        let mut filters = BTreeMap::new();
        for (d, f) in &s.filters {
            if !detectors.contains_key(d.get_ref()) {
                return Err(c.error(
                    d.span(),
                    format!("`{}` is not a detector of this manifest", crate::exit::shown(d.get_ref())),
                ));
            }
            check_filter(c, &name, f)?;
            filters.insert(d.get_ref().clone(), f.get_ref().clone());
        }
        let mut settings = BTreeMap::new();
        for (d, raw) in s.detectors {
            if !detectors.contains_key(d.get_ref()) {
                return Err(c.error(d.span(), format!("`{}` is not a detector of this manifest", d.get_ref())));
            }
            let span = raw.span();
            let raw = raw.into_inner();
            let seconds = |v: &Option<Spanned<f64>>, key: &str| -> Result<Option<f64>, ManifestError> {
                match v {
                    Some(t)
                        if !(t.get_ref().is_finite()
                            && *t.get_ref() > 0.0
                            && *t.get_ref() <= crate::knobs::MAX_SECONDS) =>
                    {
                        Err(c.error(
                            t.span(),
                            format!(
                                "`{key}` must be a number of seconds above 0 and at most {}",
                                crate::knobs::MAX_SECONDS
                            ),
                        ))
                    }
                    other => Ok(other.as_ref().map(|t| *t.get_ref())),
                }
            };
            if let Some(k) = raw.env.keys().find(|k| {
                k.is_empty()
                    || k.starts_with(|ch: char| ch.is_ascii_digit())
                    || !k.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
            }) {
                return Err(c.error(span, format!("`{k}` is not an environment variable name")));
            }
            if raw.skip.as_deref().is_some_and(|r| r.trim().is_empty()) {
                return Err(c.error(span, "`skip` needs a reason (why this detector does not hunt the suite)"));
            }
            let test_timeout = seconds(&raw.test_timeout, "test-timeout")?;
            let timeout = seconds(&raw.timeout, "timeout")?;
            settings.insert(
                d.get_ref().clone(),
                SuiteSettings {
                    skip: raw.skip,
                    rustflags: raw.rustflags,
                    env: raw.env.into_iter().collect(),
                    test_timeout,
                    timeout,
                },
            );
        }
        let workspace_root = workspace_root(&pkg_dir);
        let locked = workspace_root.join("Cargo.lock").is_file();
        suites.push(Suite {
            name,
            dir: pkg_dir,
            package,
            filter: s.filter.map(Spanned::into_inner),
            filters,
            features: s.features.into_iter().map(Spanned::into_inner).collect(),
            cfgs,
            note: s.note,
            settings,
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
            return Err(c.error(
                v.span(),
                format!("no fixture variant `{}` in this manifest", crate::exit::shown(v.get_ref())),
            ));
        }
        variants.push(v.get_ref().clone());
    }
    Ok(Canaries { enabled: raw.enabled, variants })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The repository's manifest with `from` replaced by `to` once: its error.
    fn error_with(from: &str, to: &str) -> String {
        let path = crate::root::engine_root().join("race-hunt.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{from}");
        let edited = text.replacen(from, to, 1);
        let e = crate::manifest::parse(&path, &edited).unwrap_err().to_string();
        let line = edited[..edited.find(to).unwrap()].matches('\n').count() + 1;
        assert!(e.starts_with(&format!("{}:{line}:", path.display())), "at the value's line {line}: {e}");
        e
    }

    #[test]
    fn a_bad_filterset_is_a_manifest_error_at_its_value() {
        let e = error_with(
            "filter = \"test(=concurrent_withdrawals_never_overdraw)\"",
            "filter = \"test(=concurrent_withdrawals_never_overdraw\"",
        );
        assert!(e.contains("suite `shop-wallet`: invalid filterset: expected `)` closing `test(`"), "{e}");
        let e = error_with(
            "filters = { loom = \"test(/^loom_tests::/)\" }",
            "filters = { loom = \"tst(/^loom_tests::/)\" }",
        );
        assert!(e.contains("suite `shop-wallet`: invalid filterset: expected a predicate"), "{e}");
        // The error points at the value's column (the line error_with checks).
        let col = "filters = { loom = ".len() + 1;
        assert!(e.contains(&format!(":{col}: ")), "at the loom filter's value: {e}");
    }

    #[test]
    fn a_feature_the_package_lacks_is_a_manifest_error_at_its_value() {
        let e = error_with(
            "features = [\"racy\"]\nracy = true\nclass = \"check-then-act\"\n[suites.variants.expect]\ntsan = { may = \"both",
            "features = [\"racyy\"]\nracy = true\nclass = \"check-then-act\"\n[suites.variants.expect]\ntsan = { may = \"both",
        );
        assert!(e.contains("suite `shop-wallet`: the package has no feature `racyy` (it has: racy)"), "{e}");
    }

    #[test]
    fn features_are_declared_ones_optional_dependencies_and_dependency_features() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("Cargo.toml"),
            "[package]\nname = \"p\"\n[features]\nfast = [\"dep:simd\"]\nextra = []\n[dependencies]\nsimd = { version = \"1\", optional = true }\nserde = { version = \"1\", optional = true }\nlog = \"0.4\"\n[target.'cfg(unix)'.dependencies]\nlibc = { version = \"0.2\", optional = true }\n",
        )
        .unwrap();
        let (mut features, deps) = package_features(dir.path()).unwrap();
        features.sort();
        assert_eq!(features, ["extra", "fast", "libc", "serde"], "simd is hidden behind dep:");
        assert!(deps.contains(&"log".to_string()) && deps.contains(&"simd".to_string()));
    }

    #[test]
    fn a_package_excluded_from_the_enclosing_workspace_is_its_own_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let write = |p: &str, t: &str| {
            std::fs::create_dir_all(root.join(p).parent().unwrap()).unwrap();
            std::fs::write(root.join(p), t).unwrap();
        };
        write("Cargo.toml", "[workspace]\nmembers = [\"xtask\", \"lib/member\"]\nexclude = [\"services\"]\n");
        let package = "[package]\nname = \"p\"\nversion = \"0.1.0\"\n";
        write("services/views/Cargo.toml", package);
        write("services/pages/Cargo.toml", &format!("{package}\n[workspace]\n"));
        write("lib/member/Cargo.toml", package);
        write("servicesx/other/Cargo.toml", package);
        // Excluded (by a prefix of its path): cargo makes it its own root.
        assert_eq!(workspace_root(&root.join("services/views")), root.join("services/views"));
        // Its own workspace.
        assert_eq!(workspace_root(&root.join("services/pages")), root.join("services/pages"));
        // A member, and a path that only shares the excluded name's letters.
        assert_eq!(workspace_root(&root.join("lib/member")), root);
        assert_eq!(workspace_root(&root.join("servicesx/other")), root);
    }
}
