//! What a detector saw in one cell, and the evidence for it.

use serde::Serialize;

/// Evidence of a detection: enough to understand it and to replay it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Evidence {
    /// `oracle-violation`, `panic`, `crash-signal`, `hang`,
    /// `shuttle-failure`, `tsan-report`, ...
    pub kind: String,
    pub message: String,
    /// `file:line:column` in the fixture's source, when the tool gives one.
    pub location: Option<String>,
    /// A shell command that reruns this one cell the same way.
    pub replay: String,
    /// Detector-specific details (seed, iteration, schedule file, report
    /// counts, ...).
    #[serde(skip_serializing_if = "serde_json::Value::is_null")]
    pub details: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Detected(Evidence),
    /// The whole budget was spent without a finding.
    Clean,
    /// Not run, for the reason given (a missing prerequisite, say).
    Skipped(String),
    /// The harness could not get an answer (build failure, runner crashed
    /// without a result, ...).
    Error(String),
}

impl Outcome {
    pub fn word(&self) -> &'static str {
        match self {
            Outcome::Detected(_) => "detected",
            Outcome::Clean => "clean",
            Outcome::Skipped(_) => "skipped",
            Outcome::Error(_) => "error",
        }
    }
}
