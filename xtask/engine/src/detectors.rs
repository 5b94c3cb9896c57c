//! One file per detector, and the registry of them; see `detector.rs`
//! for the trait. A detector's helpers (its report parser, its
//! suppressions file) live in a folder of the same name.

pub mod chaos;
pub mod loom;
pub mod miri;
pub mod shuttle;
pub mod stress;
pub mod tsan;

use crate::detector::Kind;

/// Subcommands a detector owns (`cargo xtask bench-tsan`).
pub use tsan::bench::BenchTsan;

/// Every detector, in matrix column order.
pub fn kinds() -> &'static [Kind] {
    const KINDS: &[Kind] = &[stress::KIND, chaos::KIND, shuttle::KIND, loom::KIND, tsan::KIND, miri::KIND];
    KINDS
}

pub fn kind(name: &str) -> Option<&'static Kind> {
    kinds().iter().find(|k| k.name == name)
}

pub fn names() -> Vec<&'static str> {
    kinds().iter().map(|k| k.name).collect()
}

/// Every cfg a suite may declare its tests are written for.
pub fn suite_cfgs() -> Vec<&'static str> {
    kinds().iter().filter_map(|k| k.suite_cfg).collect()
}
