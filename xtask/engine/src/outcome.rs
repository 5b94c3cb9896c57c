//! What a detector saw in one cell (the engine's side of
//! `race_hunt_report::Outcome`, with the evidence or the reason attached).

use race_hunt_report::{self as report, Evidence};

#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Detected(Evidence),
    /// The whole budget was spent without a finding.
    Clean,
    /// The program hung and was killed at the timeout (evidence of kind `hang`).
    Hang(Evidence),
    /// Not run, for the reason given (a missing prerequisite, say).
    Skipped(String),
    /// The harness could not get an answer: never a detection.
    Error(String),
    /// The run was stopped before this cell finished.
    NotRun(String),
}

impl Outcome {
    pub fn kind(&self) -> report::Outcome {
        match self {
            Outcome::Detected(_) => report::Outcome::Detected,
            Outcome::Clean => report::Outcome::Clean,
            Outcome::Hang(_) => report::Outcome::Hang,
            Outcome::Skipped(_) => report::Outcome::Skipped,
            Outcome::Error(_) => report::Outcome::Error,
            Outcome::NotRun(_) => report::Outcome::NotRun,
        }
    }

    pub fn evidence(&self) -> Option<&Evidence> {
        match self {
            Outcome::Detected(e) | Outcome::Hang(e) => Some(e),
            _ => None,
        }
    }

    pub fn evidence_mut(&mut self) -> Option<&mut Evidence> {
        match self {
            Outcome::Detected(e) | Outcome::Hang(e) => Some(e),
            _ => None,
        }
    }
}
