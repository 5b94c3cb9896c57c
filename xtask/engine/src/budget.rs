//! The budget of a real-thread loop (`stress`, `chaos`, `tsan`): read from
//! a detector's `[budgets.LEVEL.NAME]` table through [`Knobs`].

use std::time::Duration;

use crate::knobs::{KnobError, Knobs};

/// The most operations per worker a scenario may be asked for: a scenario
/// allocates per operation, and more would not fit in memory.
pub const MAX_OPS: u64 = 10_000_000;
/// The most iterations any loop may be capped at.
pub const MAX_ITERATIONS: u64 = 1_000_000_000_000;

#[derive(Debug, Clone, PartialEq)]
pub struct Loop {
    /// Wall-clock seconds a cell may spend: a racy cell stops at its first
    /// detection or here, a clean one spends all of it.
    pub seconds: f64,
    /// An optional cap on iterations (`None`: only the time budget stops
    /// the loop, so a loaded machine still gets the full time to overlap).
    pub iterations: Option<u64>,
    /// After this many seconds the child is killed and the cell is a `hang`.
    pub timeout: f64,
    /// Operations per worker, overriding the scenario's default.
    pub ops: Option<u64>,
    /// Suites: a single test is terminated (a `hang`) after this long.
    pub test_timeout: f64,
    /// Suites: how long nextest's stress mode repeats the tests (a test is
    /// an iteration of tens of milliseconds, not a fixture's microseconds).
    pub suite_seconds: f64,
}

impl Loop {
    /// `seconds` (required), `iterations`, `timeout` (default 4 x seconds +
    /// 30), `ops`.
    pub fn read(b: &Knobs<'_>) -> Result<Loop, KnobError> {
        let seconds = b.required_seconds("seconds")?;
        let iterations = b.count("iterations", MAX_ITERATIONS)?;
        let ops = b.count("ops", MAX_OPS)?;
        let timeout = read_timeout(b, seconds)?;
        let test_timeout = b.seconds("test-timeout")?.unwrap_or(30.0);
        let suite_seconds = b.seconds("suite-seconds")?.unwrap_or(seconds);
        Ok(Loop { seconds, iterations, timeout, ops, test_timeout, suite_seconds })
    }

    /// nextest's stress arguments for a suite: always a duration
    /// (`suite-seconds`), never a count. A pass of a suite can take seconds
    /// under an instrumented build, so a count of passes against a fixed
    /// clock ran out of time on correct code; by duration, a slow suite is
    /// clean after however many passes fitted (at least one: nextest
    /// finishes the pass it started). `iterations` caps fixture loops only.
    pub fn stress_args(&self) -> Vec<String> {
        vec!["--stress-duration".into(), format!("{}ms", (self.suite_seconds * 1000.0).round() as u64)]
    }

    /// The whole suite run is killed after this long (its own timeout, or
    /// one that leaves room for the stress duration).
    pub fn suite_timeout(&self) -> Duration {
        Duration::from_secs_f64(self.timeout.max(self.suite_seconds * 4.0 + 60.0))
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_secs_f64(self.timeout)
    }
}

/// `timeout`, which must be longer than `seconds` (default 4 x seconds + 30).
pub fn read_timeout(b: &Knobs<'_>, seconds: f64) -> Result<f64, KnobError> {
    match b.seconds("timeout")? {
        None => Ok((seconds * 4.0 + 30.0).min(crate::knobs::MAX_SECONDS)),
        Some(t) if t > seconds => Ok(t),
        Some(t) => Err(b.error_at("timeout", format!("`timeout` ({t}) must be longer than `seconds` ({seconds})"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::knobs::tests::with_table;

    #[test]
    fn reads_seconds_and_optional_caps() {
        let l = with_table("seconds = 2", |k| Loop::read(k).unwrap());
        assert_eq!(
            l,
            Loop { seconds: 2.0, iterations: None, timeout: 38.0, ops: None, test_timeout: 30.0, suite_seconds: 2.0 }
        );
        assert_eq!(l.stress_args(), ["--stress-duration", "2000ms"]);
        let l = with_table("seconds = 0.5\niterations = 10\nops = 100\ntimeout = 9", |k| Loop::read(k).unwrap());
        assert_eq!((l.iterations, l.ops, l.timeout), (Some(10), Some(100), 9.0));
        // A fixture cap never becomes a suite's count of passes.
        assert_eq!(l.stress_args(), ["--stress-duration", "500ms"]);
    }

    #[test]
    fn rejects_bad_budgets() {
        for (text, needle) in [
            ("iterations = 1", "missing `seconds`"),
            ("seconds = 1\nops = 99999999999", "`ops` must be a whole number from 1 to 10000000"),
            ("seconds = 5\ntimeout = 2", "must be longer"),
            ("seconds = 1\ntimeout = inf", "at most 86400"),
        ] {
            let err = with_table(text, |k| Loop::read(k).unwrap_err());
            assert!(err.message.contains(needle), "{text:?} gave {err:?}");
        }
    }
}
