//! Suites (a package's own tests, hunted under every detector) and
//! canaries (fixture variants that prove each column works here).

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use crate::knobs::Table;
use crate::manifest::{Checker, Fixture, ManifestError};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawSuite {}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawCanaries {}

#[derive(Debug, Clone)]
pub struct Suite {}

#[derive(Debug, Clone, Default)]
pub struct Canaries {}

pub(crate) fn check_suites(
    _c: &Checker<'_>,
    _raw: Vec<RawSuite>,
    _dir: &Path,
    _fixtures: &[Fixture],
    _detectors: &BTreeMap<String, Spanned<Table>>,
    _target_known: &dyn Fn(&str) -> bool,
) -> Result<Vec<Suite>, ManifestError> {
    Ok(Vec::new())
}

pub(crate) fn check_canaries(
    _c: &Checker<'_>,
    _raw: Option<RawCanaries>,
    _fixtures: &[Fixture],
    _detectors: &[String],
) -> Result<Canaries, ManifestError> {
    Ok(Canaries::default())
}
