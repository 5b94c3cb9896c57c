//! Fingerprints: what makes a finding the same race on every run and every
//! machine, so that a baseline can list it and code scanning can track it.
//!
//! A fingerprint is a digest of the detector, the evidence kind and the
//! finding's own parts. A tool's report (TSan, Miri) gives its parts from
//! its frames (its detector file decides which: the racing functions and
//! their files); every other evidence gives the failing test's full name
//! and the file of its panic or oracle location. Never part of it:
//! addresses, allocation ids, thread ids, line and column numbers, seeds,
//! iteration counts, absolute paths. Nothing here names a detector.

use race_hunt_report::{Evidence, EvidenceKind};

use crate::outcome::Outcome;

/// The version of the fingerprint scheme: SARIF's `partialFingerprints`
/// key, and the first word of what is digested.
pub const VERSION: &str = "raceHunt/v1";

/// The fingerprint of a finding of `detector`, `kind`, with `parts` (each
/// already free of run-specific details; their order matters, so a caller
/// sorts parts that have no natural order).
pub fn of(detector: &str, kind: EvidenceKind, parts: &[String]) -> String {
    let mut text = format!("{VERSION}\u{0}{detector}\u{0}{}", kind.word());
    for p in parts {
        text.push('\u{0}');
        text.push_str(p);
    }
    crate::fingerprint::digest(&text)
}

/// A path as the same on every machine: relative paths stay; a registry
/// crate's path starts at the crate's directory (`crossbeam-deque-0.8.6/src/deque.rs`),
/// a toolchain's at `library/`, a fixture's at `fixtures/`; any other
/// absolute path keeps its last two components.
pub fn portable_path(path: &str) -> String {
    let path = path.trim();
    if !path.starts_with('/') {
        return path.trim_start_matches("./").to_string();
    }
    if let Some(i) = path.find("/.cargo/registry/src/") {
        let rest = &path[i + "/.cargo/registry/src/".len()..];
        // Skip the index directory (`index.crates.io-1949cf8c6b5b557f`).
        return rest.split_once('/').map_or(rest, |(_, r)| r).to_string();
    }
    if let Some(i) = path.find("/.cargo/git/checkouts/") {
        let rest = &path[i + "/.cargo/git/checkouts/".len()..];
        // `NAME-HASH/REV/...`: keep from the repository's name on, without the revision.
        let mut it = rest.splitn(3, '/');
        let (name, _, tail) = (it.next().unwrap_or(""), it.next(), it.next().unwrap_or(""));
        return format!("{name}/{tail}");
    }
    for marker in ["/library/", "/fixtures/"] {
        if let Some(i) = path.find(marker) {
            return path[i + 1..].to_string();
        }
    }
    let parts: Vec<&str> = path.rsplitn(3, '/').collect();
    match parts.as_slice() {
        [file, dir, _] => format!("{dir}/{file}"),
        _ => path.trim_start_matches('/').to_string(),
    }
}

/// The file of a `file:line:column` (or `file:line`, or `file`) location.
pub fn file_of(location: &str) -> &str {
    let mut s = location;
    for _ in 0..2 {
        match s.rsplit_once(':') {
            Some((head, tail)) if !tail.is_empty() && tail.chars().all(|c| c.is_ascii_digit()) => s = head,
            _ => break,
        }
    }
    s
}

/// `text` with every run of digits replaced by `N` (and a hex literal by
/// `0xN`): a message's counts, addresses and ids differ between runs.
pub fn redact_numbers(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '0' && chars.peek().is_some_and(|n| *n == 'x') {
            chars.next();
            while chars.peek().is_some_and(|n| n.is_ascii_hexdigit()) {
                chars.next();
            }
            out.push_str("0xN");
        } else if c.is_ascii_digit() {
            while chars.peek().is_some_and(|n| n.is_ascii_digit()) {
                chars.next();
            }
            out.push('N');
        } else {
            out.push(c);
        }
    }
    out
}

/// The parts of an evidence that no tool report stands behind: a failing
/// test's full name and the file of its panic; otherwise (a fixture's
/// oracle, a panic, a crash) the file of its location and its message
/// without numbers (an oracle's file holds every oracle of the fixture; its
/// message says which one broke: "lost N of N increments").
pub fn evidence_parts(e: &Evidence) -> Vec<String> {
    let mut parts = Vec::new();
    if let Some(t) = &e.test {
        parts.push(format!("test {t}"));
    }
    if let Some(l) = &e.location {
        parts.push(format!("at {}", portable_path(file_of(l))));
    }
    if e.test.is_none() {
        parts.push(format!("message {}", redact_numbers(&e.message)));
    }
    parts
}

/// Fill in `evidence.fingerprints`: the findings' own (a detector gave
/// them), else one from the evidence itself.
pub fn assign(detector: &str, e: &mut Evidence) {
    let own: Vec<String> = e.findings.iter().filter_map(|f| f.fingerprint.clone()).collect();
    e.fingerprints = if !own.is_empty() && own.len() == e.findings.len() {
        let mut unique: Vec<String> = Vec::new();
        for f in own {
            if !unique.contains(&f) {
                unique.push(f);
            }
        }
        unique
    } else {
        vec![of(detector, e.kind, &evidence_parts(e))]
    };
}

/// [`assign`] for a cell's outcome, when it carries evidence.
pub fn assign_outcome(detector: &str, mut outcome: Outcome) -> Outcome {
    if let Some(e) = outcome.evidence_mut() {
        assign(detector, e);
    }
    outcome
}

/// FNV-1a, 64 bits, in hex: an identity for a manifest's text, not a
/// security measure.
pub fn digest(text: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_lose_what_differs_between_machines() {
        assert_eq!(portable_path("fixtures/counter/src/lib.rs"), "fixtures/counter/src/lib.rs");
        assert_eq!(portable_path("/work/main/fixtures/counter/src/lib.rs"), "fixtures/counter/src/lib.rs");
        assert_eq!(
            portable_path("/home/runner/work/race-hunt/race-hunt/fixtures/counter/src/lib.rs"),
            "fixtures/counter/src/lib.rs"
        );
        assert_eq!(
            portable_path(
                "/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/crossbeam-deque-0.8.6/src/deque.rs"
            ),
            "crossbeam-deque-0.8.6/src/deque.rs"
        );
        assert_eq!(
            portable_path("/root/.rustup/toolchains/nightly-x86_64-unknown-linux-gnu/lib/rustlib/src/rust/library/core/src/ptr/mod.rs"),
            "library/core/src/ptr/mod.rs"
        );
        assert_eq!(portable_path("/tmp/x/src/main.rs"), "src/main.rs");
    }

    #[test]
    fn locations_lose_line_and_column() {
        assert_eq!(file_of("tests/checkout.rs:41:9"), "tests/checkout.rs");
        assert_eq!(file_of("tests/checkout.rs:41"), "tests/checkout.rs");
        assert_eq!(file_of("tests/checkout.rs"), "tests/checkout.rs");
        assert_eq!(file_of("C:x.rs:4:5"), "C:x.rs");
    }

    #[test]
    fn numbers_are_redacted() {
        assert_eq!(redact_numbers("lost 19 of 100 increments at 0x7ffc12"), "lost N of N increments at 0xN");
    }

    #[test]
    fn a_failing_test_is_its_name_and_its_panic_file() {
        let mut a = Evidence::new(EvidenceKind::TestFailure, "overdraft: -100", "r1");
        a.test = Some("shop-wallet::checkout concurrent_withdrawals_never_overdraw".into());
        a.location = Some("fixtures/suites/shop-wallet/tests/checkout.rs:41:9".into());
        a.iteration = Some(3);
        let mut b = Evidence::new(EvidenceKind::TestFailure, "overdraft: -300", "r2");
        b.test = a.test.clone();
        b.location = Some("fixtures/suites/shop-wallet/tests/checkout.rs:44:13".into());
        b.iteration = Some(981);
        assign("stress", &mut a);
        assign("stress", &mut b);
        assert_eq!(a.fingerprints.len(), 1);
        assert_eq!(a.fingerprints, b.fingerprints, "line, message and iteration do not take part");
        let mut other_test = b.clone();
        other_test.test = Some("shop-wallet::checkout refunds_never_double".into());
        assign("stress", &mut other_test);
        assert_ne!(a.fingerprints, other_test.fingerprints);
        let mut other_detector = b.clone();
        assign("chaos", &mut other_detector);
        assert_ne!(a.fingerprints, other_detector.fingerprints);
        let mut other_kind = b;
        other_kind.kind = EvidenceKind::CrashSignal;
        assign("stress", &mut other_kind);
        assert_ne!(a.fingerprints, other_kind.fingerprints);
    }

    #[test]
    fn an_oracle_is_its_file_and_its_message_without_numbers() {
        let oracle = |message: &str, at: &str| {
            let mut e = Evidence::new(EvidenceKind::OracleViolation, message, "r");
            e.location = Some(at.into());
            assign("stress", &mut e);
            e.fingerprints
        };
        let lost = oracle("lost 7129 of 20000 increments (count is 12871)", "fixtures/counter/src/lib.rs:102:13");
        assert_eq!(
            lost,
            oracle("lost 3 of 400 increments (count is 397)", "/ci/checkout/fixtures/counter/src/lib.rs:104:9")
        );
        assert_ne!(lost, oracle("torn timestamp: 17 seconds with 3 nanos", "fixtures/counter/src/lib.rs:102:13"));
    }

    #[test]
    fn a_tool_report_keeps_its_findings_fingerprints_once_each() {
        let mut e = Evidence::new(EvidenceKind::TsanReport, "data race", "r");
        for fp in ["a1", "b2", "a1"] {
            e.findings.push(race_hunt_report::Finding {
                kind: "data race".into(),
                summary: String::new(),
                count: 1,
                location: None,
                fingerprint: Some(fp.into()),
            });
        }
        assign("tsan", &mut e);
        assert_eq!(e.fingerprints, ["a1", "b2"]);
    }
}
