//! One file per detector; see `detector.rs` for the trait.

pub mod chaos;
pub mod shuttle;
pub mod stress;
pub mod tsan;
