//! The `race-hunt/v1` report, typed.
//!
//! One small crate shared by everything that writes or reads race-hunt's
//! results, the way `nextest-metadata` serves nextest: the engine writes a
//! [`Report`], the scenario runner prints a [`RunnerResult`] line (and a
//! [`ProbeResult`] line), and `calibrate`, the `gate` and the tests read
//! reports back through these types rather than through string keys.
//!
//! Contract: a report is an object with `schema`, `cells` and `summary`.
//! Fields may be added; none may change meaning without a new schema name.

mod report;
mod runner;

pub use report::*;
pub use runner::*;
