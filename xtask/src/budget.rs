//! How hard a detector tries in one cell, read from the manifest's
//! `[budgets.LEVEL.DETECTOR]` tables.

use std::time::Duration;

#[derive(Debug, Clone, PartialEq)]
pub struct Budget {
    /// Scenario runs (real-thread detectors) or schedules (shuttle) at most.
    pub iterations: u64,
    /// Wall-clock seconds a clean cell may spend (the runner stops early).
    pub seconds: f64,
    /// After this many seconds a child is killed and the cell records a hang.
    pub timeout: f64,
    /// PCT's bug depth (shuttle).
    pub pct_depth: u64,
    /// Operations per worker thread, overriding the scenario's default
    /// (`facade::Params`): ThreadSanitizer needs no long overlap to see a
    /// race, only the two accesses, so its runs can be short.
    pub ops: Option<u64>,
}

impl Budget {
    pub fn timeout(&self) -> Duration {
        Duration::from_secs_f64(self.timeout)
    }
}

/// Read a budget table, accepting exactly the keys in `allowed` (besides
/// `seconds` and `timeout`, which every detector takes).
pub fn parse(knobs: &toml::Table, count_key: &str, allowed: &[&str]) -> Result<Budget, String> {
    for key in knobs.keys() {
        if key != count_key && key != "seconds" && key != "timeout" && !allowed.contains(&key.as_str()) {
            let mut known = vec![count_key, "seconds", "timeout"];
            known.extend_from_slice(allowed);
            return Err(format!("unknown key `{key}` (known: {})", known.join(", ")));
        }
    }
    let int = |key: &str| -> Result<Option<u64>, String> {
        match knobs.get(key) {
            None => Ok(None),
            Some(toml::Value::Integer(n)) if *n > 0 => Ok(Some(*n as u64)),
            Some(other) => Err(format!("`{key}` must be a positive integer, got {other}")),
        }
    };
    let float = |key: &str| -> Result<Option<f64>, String> {
        match knobs.get(key) {
            None => Ok(None),
            Some(toml::Value::Integer(n)) if *n > 0 => Ok(Some(*n as f64)),
            Some(toml::Value::Float(x)) if *x > 0.0 => Ok(Some(*x)),
            Some(other) => Err(format!("`{key}` must be a positive number of seconds, got {other}")),
        }
    };
    let iterations = int(count_key)?.ok_or_else(|| format!("missing `{count_key}`"))?;
    let seconds = float("seconds")?.ok_or("missing `seconds`")?;
    let timeout = float("timeout")?.unwrap_or(seconds * 4.0 + 30.0);
    if timeout <= seconds {
        return Err(format!("`timeout` ({timeout}) must be longer than `seconds` ({seconds})"));
    }
    Ok(Budget { iterations, seconds, timeout, pct_depth: int("pct-depth")?.unwrap_or(3), ops: int("ops")? })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(s: &str) -> toml::Table {
        s.parse().unwrap()
    }

    #[test]
    fn reads_counts_seconds_and_default_timeout() {
        let b = parse(&table("iterations = 10\nseconds = 2"), "iterations", &[]).unwrap();
        assert_eq!(b, Budget { iterations: 10, seconds: 2.0, timeout: 38.0, pct_depth: 3, ops: None });
        let b = parse(&table("schedules = 5\nseconds = 0.5\ntimeout = 9\npct-depth = 2"), "schedules", &["pct-depth"])
            .unwrap();
        assert_eq!((b.iterations, b.timeout, b.pct_depth), (5, 9.0, 2));
        let b = parse(&table("iterations = 5\nseconds = 1\nops = 100"), "iterations", &["ops"]).unwrap();
        assert_eq!(b.ops, Some(100));
    }

    #[test]
    fn rejects_bad_budgets() {
        for (text, needle) in [
            ("seconds = 1", "missing `iterations`"),
            ("iterations = 1", "missing `seconds`"),
            ("iterations = 0\nseconds = 1", "positive integer"),
            ("iterations = 1\nseconds = -1", "positive number"),
            ("iterations = 1\nseconds = 5\ntimeout = 2", "must be longer"),
            ("iterations = 1\nseconds = 1\nschedules = 3", "unknown key `schedules`"),
        ] {
            let err = parse(&table(text), "iterations", &[]).unwrap_err();
            assert!(err.contains(needle), "{text:?} gave {err:?}");
        }
    }
}
