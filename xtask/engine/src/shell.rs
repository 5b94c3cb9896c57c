//! Shell quoting for the replay commands the report prints.

/// Quote one word for a POSIX shell, only when it needs it.
pub fn quote(word: &str) -> String {
    let safe = !word.is_empty() && word.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:@,+%".contains(c));
    if safe {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// `word` quoted for a command run from `root`: every `ROOT/` in it is
/// written `$PWD/`, expanded when the command runs, so a path into the
/// repository (a suppressions file inside an option string, say) works in
/// another checkout; otherwise as [`quote`].
pub fn quote_from(word: &str, root: &std::path::Path) -> String {
    let prefix = format!("{}/", root.display());
    if root.as_os_str().is_empty() || root == std::path::Path::new("/") || !word.contains(&prefix) {
        return quote(word);
    }
    let escape = |s: &str| {
        s.chars().flat_map(|c| if "\\\"$`".contains(c) { vec!['\\', c] } else { vec![c] }).collect::<String>()
    };
    let parts: Vec<String> = word.split(&prefix).map(escape).collect();
    format!("\"{}\"", parts.join("$PWD/"))
}

pub fn join<S: AsRef<str>>(words: &[S]) -> String {
    words.iter().map(|w| quote(w.as_ref())).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_under_the_root_are_written_from_pwd() {
        let root = std::path::Path::new("/ci/my repo");
        assert_eq!(
            quote_from("a=1 suppressions=\"/ci/my repo/ci/s.txt\"", root),
            r#""a=1 suppressions=\"$PWD/ci/s.txt\"""#
        );
        let r = std::path::Path::new("/r");
        assert_eq!(quote_from("x $HOME `y`", r), "'x $HOME `y`'");
        assert_eq!(quote_from("/r/a $b", r), r#""$PWD/a \$b""#);
        assert_eq!(quote_from("/rx/a", r), "/rx/a", "only at a path boundary");
        // What a shell makes of it, in another checkout.
        let line = format!("printf %s {}", quote_from("k=\"/r/ci/s.txt\" $x `y`", r));
        let out = std::process::Command::new("sh").args(["-c", &line]).current_dir("/tmp").output().unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "k=\"/tmp/ci/s.txt\" $x `y`");
    }

    #[test]
    fn quotes_only_what_needs_it() {
        assert_eq!(join(&["run", "counter/racy-unsync", "--seed", "7"]), "run counter/racy-unsync --seed 7");
        assert_eq!(join(&["TSAN_OPTIONS=a b", "it's"]), r"'TSAN_OPTIONS=a b' 'it'\''s'");
        assert_eq!(quote(""), "''");
    }
}
