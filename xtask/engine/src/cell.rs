//! A cell (fixture or suite, variant, detector, target), what it runs
//! (its [`Subject`]), what it is expected to show, and a suite cell's
//! package and settings.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use race_hunt_report::{BugClass, Role};

use crate::target::Target;

/// One (fixture or suite, variant, detector, target).
#[derive(Debug, Clone)]
pub struct Cell {
    /// What the cell runs: a fixture's scenario, or a suite's tests.
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
    /// The column (detector, target) the cell runs in: its index in the
    /// plan's columns and in the groups built from them.
    pub column: ColumnId,
    pub expect: Expectation,
}

/// What a cell runs. A fixture cell runs the fixture's scenario through the
/// detector's runner (`Detector::invocations`); a suite cell runs the
/// package's own tests through cargo-nextest under the detector's suite
/// flavor (`Detector::suites`), with the package, its features and its
/// filter.
#[derive(Debug, Clone)]
pub enum Subject {
    Fixture,
    Suite(Arc<SuiteCell>),
}

impl Subject {
    /// The report's word for it.
    pub fn kind(&self) -> race_hunt_report::Subject {
        match self {
            Subject::Fixture => race_hunt_report::Subject::Fixture,
            Subject::Suite(_) => race_hunt_report::Subject::Suite,
        }
    }
}

/// A column's place in `Plan::columns` (and in the groups `prepare`
/// builds from them, one per column in the same order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ColumnId(pub usize);

impl Cell {
    /// `fixture/variant detector@target`.
    pub fn id(&self) -> String {
        format!("{}/{} {}@{}", self.fixture, self.variant, self.detector, self.target.name)
    }

    pub fn fixture_variant(&self) -> String {
        format!("{}/{}", self.fixture, self.variant)
    }
}

/// What a cell is expected to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expectation {
    Detect,
    Pass,
    /// Either outcome is acceptable, for the written reason.
    May(String),
    /// `detect` where the target's probe shows the condition, otherwise
    /// `may` with the probe's finding as the reason.
    DetectIf(Condition),
}

/// What a target's probe decides, for a `detect-if` expectation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    /// The target reorders memory accesses (the MP litmus test).
    WeakMemory,
}

impl Condition {
    pub const ALL: &[Condition] = &[Condition::WeakMemory];

    /// The manifest's word for it.
    pub fn word(self) -> &'static str {
        match self {
            Condition::WeakMemory => "weak-memory",
        }
    }

    pub fn from_word(word: &str) -> Option<Condition> {
        Condition::ALL.iter().copied().find(|c| c.word() == word)
    }
}

impl std::fmt::Display for Condition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.word())
    }
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

/// One suite variant, as a cell hunts it.
#[derive(Debug, Clone, PartialEq)]
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
    /// The settings of the detector this cell is for (see [`SuiteCell::filter_for`]).
    pub settings: SuiteSettings,
    /// Every detector's settings, from which `filter_for` picks.
    pub all_settings: BTreeMap<String, SuiteSettings>,
}

impl SuiteCell {
    /// A suite cell for unit tests: package `name` at `dir`, in the
    /// workspace at `workspace_root`, no filter, features or settings.
    #[cfg(test)]
    pub fn for_tests(name: &str, dir: &std::path::Path, workspace_root: &std::path::Path) -> SuiteCell {
        SuiteCell {
            settings: Default::default(),
            all_settings: Default::default(),
            name: name.into(),
            variant: "racy".into(),
            dir: dir.to_path_buf(),
            manifest_path: dir.join("Cargo.toml"),
            workspace_root: workspace_root.to_path_buf(),
            package: name.into(),
            filter: None,
            filters: Default::default(),
            features: Vec::new(),
            cfgs: Vec::new(),
            locked: false,
        }
    }

    /// This suite's cell for `detector`: its own filter in place of the
    /// common one, and its settings.
    pub fn filter_for(&self, detector: &str) -> SuiteCell {
        let mut c = self.clone();
        if let Some(f) = self.filters.get(detector) {
            c.filter = Some(f.clone());
        }
        c.settings = self.all_settings.get(detector).cloned().unwrap_or_default();
        c
    }
}

/// How one detector hunts one suite, beyond its budget: the suite's own
/// needs (a cfg that gates sanitizer-hostile code, its TSan suppressions
/// or Miri flags, a slow test's timeout), or a reason not to hunt it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SuiteSettings {
    /// Not hunted by this detector, for this reason ("not planned").
    pub skip: Option<String>,
    /// Appended to the detector's RUSTFLAGS for this suite (build and run).
    pub rustflags: Vec<String>,
    /// Appended, after a space, to the detector's own value of each
    /// variable (`TSAN_OPTIONS`, `MIRIFLAGS`), or set when it has none.
    pub env: Vec<(String, String)>,
    /// One test is stopped after this long (seconds), instead of the budget's.
    pub test_timeout: Option<f64>,
    /// The whole run is stopped after this long (seconds), instead of the budget's.
    pub timeout: Option<f64>,
}
