//! A detector's table in the manifest (`[detectors.NAME]`, or
//! `[budgets.LEVEL.NAME]`), read knob by knob with spans, so that a
//! detector owns its typed settings and every mistake points at its key or
//! value: an unknown knob, a wrong type, a number out of range.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use toml::Spanned;

/// A table as the manifest parser keeps it: every key and value with its span.
pub type Table = BTreeMap<Spanned<String>, Spanned<toml::Value>>;

/// The longest duration any knob may name: a day. Longer is a typo (and
/// `inf` or `1e300` would not fit a `Duration`).
pub const MAX_SECONDS: f64 = 86_400.0;

/// A mistake in a table, at a span of the manifest's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnobError {
    pub span: Range<usize>,
    pub message: String,
    /// `file:line:column` when the mistake is in a file the table names
    /// (a suppressions file), not in the manifest itself.
    pub elsewhere: Option<String>,
}

/// One table being read. Every key a reader asks for is remembered, so
/// [`Knobs::finish`] can refuse the keys nobody asked for and list the ones
/// that exist.
pub struct Knobs<'a> {
    /// `budgets.standard.stress`, for messages.
    pub what: String,
    table: &'a Table,
    /// Where the table itself starts (for a missing key).
    span: Range<usize>,
    asked: RefCell<Vec<&'static str>>,
    /// The manifest's directory: relative paths resolve against it.
    pub base: &'a Path,
}

impl<'a> Knobs<'a> {
    pub fn new(what: impl Into<String>, table: &'a Table, span: Range<usize>, base: &'a Path) -> Knobs<'a> {
        Knobs { what: what.into(), table, span, asked: RefCell::new(Vec::new()), base }
    }

    fn get(&self, key: &'static str) -> Option<(&'a Spanned<String>, &'a Spanned<toml::Value>)> {
        self.asked.borrow_mut().push(key);
        self.table.iter().find(|(k, _)| k.get_ref() == key)
    }

    fn error(&self, span: Range<usize>, message: String) -> KnobError {
        KnobError { span, message: format!("{}: {message}", self.what), elsewhere: None }
    }

    /// A positive whole number no larger than `max`.
    pub fn count(&self, key: &'static str, max: u64) -> Result<Option<u64>, KnobError> {
        let Some((_, value)) = self.get(key) else { return Ok(None) };
        match value.get_ref() {
            toml::Value::Integer(n) if *n > 0 && (*n as u64) <= max => Ok(Some(*n as u64)),
            other => Err(self
                .error(value.span(), format!("`{key}` must be a whole number from 1 to {max}, got {}", show(other)))),
        }
    }

    /// A required [`Knobs::count`].
    pub fn required_count(&self, key: &'static str, max: u64) -> Result<u64, KnobError> {
        self.count(key, max)?
            .ok_or_else(|| self.error(self.span.clone(), format!("missing `{key}` (a whole number from 1 to {max})")))
    }

    /// A duration in seconds: finite, positive, at most [`MAX_SECONDS`].
    pub fn seconds(&self, key: &'static str) -> Result<Option<f64>, KnobError> {
        let Some((_, value)) = self.get(key) else { return Ok(None) };
        let x = match value.get_ref() {
            toml::Value::Integer(n) => *n as f64,
            toml::Value::Float(x) => *x,
            other => {
                return Err(
                    self.error(value.span(), format!("`{key}` must be a number of seconds, got {}", show(other)))
                )
            }
        };
        if x.is_finite() && x > 0.0 && x <= MAX_SECONDS {
            Ok(Some(x))
        } else {
            Err(self.error(
                value.span(),
                format!(
                    "`{key}` must be a number of seconds greater than 0 and at most {MAX_SECONDS} (a day), got {x}"
                ),
            ))
        }
    }

    /// A required [`Knobs::seconds`].
    pub fn required_seconds(&self, key: &'static str) -> Result<f64, KnobError> {
        self.seconds(key)?.ok_or_else(|| {
            self.error(self.span.clone(), format!("missing `{key}` (a number of seconds, at most {MAX_SECONDS})"))
        })
    }

    /// A path, relative to the manifest's directory, that must exist.
    pub fn existing_path(&self, key: &'static str) -> Result<Option<(PathBuf, Range<usize>)>, KnobError> {
        let Some((_, value)) = self.get(key) else { return Ok(None) };
        let toml::Value::String(s) = value.get_ref() else {
            return Err(
                self.error(value.span(), format!("`{key}` must be a path (a string), got {}", show(value.get_ref())))
            );
        };
        let path = self.base.join(s);
        if !path.is_file() {
            return Err(self.error(value.span(), format!("`{key}`: no file at {}", path.display())));
        }
        Ok(Some((path, value.span())))
    }

    /// An error at `key`'s value (or at the table when it is absent).
    pub fn error_at(&self, key: &str, message: String) -> KnobError {
        let span = self.table.iter().find(|(k, _)| k.get_ref() == key).map_or(self.span.clone(), |(_, v)| v.span());
        self.error(span, message)
    }

    /// Refuse every key nobody asked for, naming the known ones.
    /// The keys read so far: after a detector's `configure`, every key its
    /// table accepts (the manifest reference is checked against them).
    #[cfg(test)]
    pub fn asked(&self) -> Vec<&'static str> {
        let mut keys = self.asked.borrow().clone();
        keys.sort_unstable();
        keys.dedup();
        keys
    }

    pub fn finish(&self) -> Result<(), KnobError> {
        let asked = self.asked.borrow();
        for key in self.table.keys() {
            if !asked.contains(&key.get_ref().as_str()) {
                let mut known: Vec<&str> = asked.clone();
                known.sort_unstable();
                known.dedup();
                let known = if known.is_empty() { "none".to_string() } else { known.join(", ") };
                return Err(self.error(key.span(), format!("unknown key `{}` (known: {known})", key.get_ref())));
            }
        }
        Ok(())
    }
}

fn show(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) => format!("the string {s:?}"),
        toml::Value::Integer(n) => n.to_string(),
        toml::Value::Float(x) => x.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        toml::Value::Datetime(d) => d.to_string(),
        toml::Value::Array(_) => "a list".into(),
        toml::Value::Table(_) => "a table".into(),
    }
}

#[cfg(test)]
pub mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    struct Doc {
        t: Spanned<Table>,
    }

    /// Parse `[t]` + `body` and hand the table to `f`.
    pub fn with_table<R>(body: &str, f: impl FnOnce(&Knobs<'_>) -> R) -> R {
        let text = format!("[t]\n{body}");
        let doc: Doc = toml::from_str(&text).unwrap();
        let knobs = Knobs::new("t", doc.t.get_ref(), doc.t.span(), Path::new("."));
        f(&knobs)
    }

    #[test]
    fn counts_and_seconds_are_bounded() {
        with_table("n = 5\ns = 1.5", |k| {
            assert_eq!(k.count("n", 10).unwrap(), Some(5));
            assert_eq!(k.seconds("s").unwrap(), Some(1.5));
            assert_eq!(k.count("missing", 10).unwrap(), None);
            k.finish().unwrap();
        });
        for (body, needle) in [
            ("n = 0", "`n` must be a whole number from 1 to 10, got 0"),
            ("n = 9223372036854775807", "from 1 to 10, got 9223372036854775807"),
            ("n = \"5\"", "got the string \"5\""),
        ] {
            with_table(body, |k| assert!(k.count("n", 10).unwrap_err().message.contains(needle), "{body}"));
        }
        for body in ["s = inf", "s = 1e300", "s = -1", "s = nan", "s = 0"] {
            with_table(body, |k| {
                let e = k.seconds("s").unwrap_err();
                assert!(e.message.contains("at most 86400"), "{body}: {}", e.message);
            });
        }
    }

    #[test]
    fn unknown_keys_point_at_themselves_and_list_the_known_ones() {
        with_table("seconds = 1\nsupressions = \"x\"", |k| {
            k.seconds("seconds").unwrap();
            k.existing_path("suppressions").unwrap();
            let e = k.finish().unwrap_err();
            assert_eq!(e.message, "t: unknown key `supressions` (known: seconds, suppressions)");
            assert_eq!(e.span.start, "[t]\nseconds = 1\n".len());
        });
    }

    #[test]
    fn missing_required_knobs_point_at_the_table() {
        with_table("", |k| {
            let e = k.required_seconds("seconds").unwrap_err();
            assert!(e.message.contains("missing `seconds`"), "{}", e.message);
        });
    }
}
