//! The `RACE-HUNT-RESULT {json}` line the scenario runner prints last.

use serde::Deserialize;

pub const PREFIX: &str = "RACE-HUNT-RESULT ";

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct RunnerResult {
    pub outcome: String,
    #[serde(skip)]
    pub detected: bool,
    pub kind: Option<String>,
    pub message: Option<String>,
    pub attempts: u64,
    pub elapsed_ms: u64,
    #[serde(default)]
    pub iteration: Option<u64>,
    #[serde(default)]
    pub seed: Option<u64>,
    #[serde(default)]
    pub scheduler: Option<String>,
    #[serde(default)]
    pub backend: Option<String>,
}

impl RunnerResult {
    /// The last result line in `log`, if any.
    pub fn find(log: &str) -> Option<RunnerResult> {
        log.lines().rev().find_map(|line| {
            let json = line.strip_prefix(PREFIX)?;
            let mut r: RunnerResult = serde_json::from_str(json).ok()?;
            r.detected = r.outcome == "detected";
            Some(r)
        })
    }

    pub fn details(&self) -> serde_json::Value {
        serde_json::json!({
            "seed": self.seed,
            "iteration": self.iteration,
            "scheduler": self.scheduler,
            "attempts": self.attempts,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_last_result_line_among_other_output() {
        let log = "thread panicked\nRACE-HUNT-RESULT {\"outcome\":\"clean\",\"kind\":null,\"message\":null,\"attempts\":3,\"elapsed_ms\":1}\nnoise\nRACE-HUNT-RESULT {\"outcome\":\"detected\",\"kind\":\"oracle\",\"message\":\"lost 3 of 4 increments\",\"attempts\":7,\"elapsed_ms\":2,\"iteration\":6,\"seed\":9}\n";
        let r = RunnerResult::find(log).unwrap();
        assert!(r.detected);
        assert_eq!((r.attempts, r.iteration, r.seed), (7, Some(6), Some(9)));
        assert_eq!(r.message.as_deref(), Some("lost 3 of 4 increments"));
    }

    #[test]
    fn no_line_or_a_broken_line_is_none() {
        assert_eq!(RunnerResult::find("just output\n"), None);
        assert_eq!(RunnerResult::find("RACE-HUNT-RESULT {\"outcome\":"), None);
    }
}
