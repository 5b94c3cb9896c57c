//! One file per detector; see `detector.rs` for the trait. A detector's
//! helpers (its report parser, its suppressions file) live in a folder of
//! the same name.

pub mod chaos;
pub mod loom;
pub mod miri;
pub mod shuttle;
pub mod stress;
pub mod tsan;

/// Subcommands a detector owns (`cargo xtask bench-tsan`).
pub use tsan::bench::BenchTsan;
