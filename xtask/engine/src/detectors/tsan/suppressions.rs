//! The ThreadSanitizer suppressions file. Every entry must say why it is
//! there: an entry without a comment directly above it is a manifest error,
//! reported at the entry's line and column.

use std::path::Path;

use crate::exit::ManifestError;

/// Every `kind:pattern` line needs a `#` comment on the line above (a
/// comment block may cover several consecutive entries only if each has
/// its own comment).
pub fn check(path: &Path, text: &str) -> Result<(), ManifestError> {
    let mut previous_was_comment = false;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.is_empty() {
            previous_was_comment = false;
            continue;
        }
        if trimmed.starts_with('#') {
            previous_was_comment = !trimmed.trim_start_matches('#').trim().is_empty();
            continue;
        }
        let column = line.len() - line.trim_start().len() + 1;
        let Some((kind, pattern)) = trimmed.split_once(':') else {
            return Err(ManifestError {
                path: path.to_path_buf(),
                line: i + 1,
                column,
                message: format!("`{trimmed}` is not a suppression (expected `kind:pattern`, e.g. `race:my_crate::f`)"),
            });
        };
        const KINDS: &[&str] = &["race", "race_top", "thread", "mutex", "signal", "deadlock", "called_from_lib"];
        if !KINDS.contains(&kind) || pattern.is_empty() {
            return Err(ManifestError {
                path: path.to_path_buf(),
                line: i + 1,
                column,
                message: format!("unknown suppression kind `{kind}` (known: {})", KINDS.join(", ")),
            });
        }
        if !previous_was_comment {
            return Err(ManifestError {
                path: path.to_path_buf(),
                line: i + 1,
                column,
                message: format!("suppression `{trimmed}` has no comment saying why: write `# why` on the line above"),
            });
        }
        previous_was_comment = false;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commented_entries_pass() {
        let text = "# header\n\n# libfoo's lazy init is guarded by a pthread_once TSan cannot see\nrace:libfoo::init\n";
        assert!(check(Path::new("s.txt"), text).is_ok());
        assert!(check(Path::new("s.txt"), "# only comments\n\n").is_ok());
    }

    #[test]
    fn an_entry_without_a_comment_is_an_error_at_its_place() {
        let text = "# why for the first\nrace:a\n  race:b\n";
        let e = check(Path::new("ci/tsan.supp"), text).unwrap_err();
        assert_eq!((e.line, e.column), (3, 3));
        assert_eq!(
            e.to_string(),
            "ci/tsan.supp:3:3: suppression `race:b` has no comment saying why: write `# why` on the line above"
        );
        // A blank line cuts a comment off from the entry below it.
        assert!(check(Path::new("s"), "# why\n\nrace:a\n").is_err());
        // An empty comment is not a reason.
        assert!(check(Path::new("s"), "#\nrace:a\n").is_err());
    }

    #[test]
    fn malformed_entries_are_errors() {
        assert!(check(Path::new("s"), "# why\nnot a suppression\n").unwrap_err().message.contains("kind:pattern"));
        assert!(check(Path::new("s"), "# why\nraces:x\n").unwrap_err().message.contains("unknown suppression kind"));
    }
}
