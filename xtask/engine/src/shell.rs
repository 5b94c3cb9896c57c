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

pub fn join<S: AsRef<str>>(words: &[S]) -> String {
    words.iter().map(|w| quote(w.as_ref())).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_only_what_needs_it() {
        assert_eq!(join(&["run", "counter/racy-unsync", "--seed", "7"]), "run counter/racy-unsync --seed 7");
        assert_eq!(join(&["TSAN_OPTIONS=a b", "it's"]), r"'TSAN_OPTIONS=a b' 'it'\''s'");
        assert_eq!(quote(""), "''");
    }
}
