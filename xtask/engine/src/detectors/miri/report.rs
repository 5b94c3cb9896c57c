//! Parser for Miri's diagnostics: what `cargo miri run` / `cargo miri test` print (on stderr)
//! when the interpreted program hits Undefined Behavior, deadlocks, aborts, leaks, or does
//! something Miri does not support.
//!
//! A report as Miri prints it (nightly 2026-05-19; captures in `xtask/engine/testdata/miri/`):
//!
//! ```text
//! error: Undefined Behavior: Data race detected between (1) non-atomic write on thread `unnamed-2` and (2) non-atomic read on thread `unnamed-1` at alloc3981+0x10
//!   --> fixtures/counter/src/lib.rs:34:42
//!    |
//! 34 |         let v = self.0.with(|p| unsafe { p.read_volatile() });
//!    |                                          ^^^^^^^^^^^^^^^^^ (2) just happened here
//!    |
//! help: and (1) occurred earlier here
//!   --> fixtures/counter/src/lib.rs:35:38
//!    |
//! …
//!    = help: this indicates a bug in the program: it performed an invalid operation, and caused Undefined Behavior
//!    = note: this is on thread `unnamed-1`
//!    = note: stack backtrace:
//!            0: <counter::Unsync as counter::Counter>::incr::{closure#0}
//!                at fixtures/counter/src/lib.rs:34:42: 34:59
//!            …
//! note: the last function in that backtrace got called indirectly due to this code
//!   --> fixtures/facade/src/thread.rs:20:5
//!    …
//!                                                   (blank line: end of the report)
//! note: some details are omitted, run with `MIRIFLAGS=-Zmiri-backtrace=full` for a verbose backtrace
//!
//! error: aborting due to 1 previous error
//! ```
//!
//! A report starts at a line holding one of Miri's error headers (`error: Undefined Behavior: `,
//! `error: unsupported operation: `, `error: abnormal termination: `, `error: memory leaked: `,
//! `error: the evaluated program deadlocked`, ... see `HEADERS`), also in the middle of a line
//! (libtest prints `test name ... ` and no newline before the test's output; a program's partial
//! line may stand before it), but not inside a source snippet (`12 |     "error: ..."`). It ends
//! at the first blank line (rustc's emitter closes every diagnostic with one), at the next
//! header or many-seeds marker (the report is then marked truncated), or at the end of input
//! (truncated). Compiler errors (`error[E0308]: ...`), warnings, Miri's own notes, cargo's
//! `error: process didn't exit successfully` and `error: aborting due to ...` are not reports.
//!
//! Inside a report, lines that do not fit the grammar are skipped. The data race headline has
//! had three shapes over Miri's history and all are read: `between (1) OP on thread `A` and (2)
//! OP on thread `B` at PTR` (current), the same with a trailing `. (2) just happened here`
//! (2023–24), and `between OP on thread `A` and OP on thread `B` at PTR (current vector clock =
//! ...)` (2021–22, the current operation first, no span for the earlier one). The earlier
//! access's span is the one of the `help:` whose text mentions `(1)` or "earlier".
//!
//! With `-Zmiri-many-seeds=A..B`, Miri prints `Trying seed: N` before each seed's run, `FAILING
//! SEED: N` after a failing one and `K/M SEEDS FAILED` at the end (with
//! `-Zmiri-many-seeds-keep-going`). Seeds run in parallel (`-Zthreads`, by default every core),
//! so outputs of two seeds can interleave; a report's seed is only given when the markers prove
//! that seeds ran one at a time (see [`MiriRun::one_seed_at_a_time`]).
//!
//! The parser never panics. CRLF line ends are accepted. Only std and serde are used.

use std::fmt;

use serde::Serialize;

/// What Miri reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// "Data race detected between ..." (a non-atomic access involved) or "Race condition
    /// detected between ..." (atomics of different sizes): [`MiriReport::race`] holds both
    /// accesses.
    DataRace,
    /// Reading uninitialised memory ("memory is uninitialized", "using uninitialized data",
    /// "encountered uninitialized ...").
    UninitRead,
    /// An access to, or a reference into, an allocation that was freed ("alloc12 has been
    /// freed", "dangling reference (use-after-free)"); stack slots of returned functions count.
    UseAfterFree,
    /// A pointer without a live allocation behind it that was not freed memory: no
    /// provenance, null, an integer address ("is a dangling pointer (it has no provenance)").
    DanglingPointer,
    /// Out of bounds, misaligned, or otherwise invalid memory access ("memory access failed",
    /// "out-of-bounds", "alignment ... is required", "in-bounds pointer arithmetic failed").
    InvalidMemoryAccess,
    /// Stacked Borrows or Tree Borrows: an access through a pointer whose permission is gone.
    Aliasing,
    /// "constructing invalid value ...": a value that breaks its type's validity invariant
    /// (other than an uninitialised or dangling one).
    InvalidValue,
    /// Any other Undefined Behavior.
    UndefinedBehavior,
    /// "the evaluated program deadlocked" (every thread blocked; one report per blocked thread)
    /// or "a thread deadlocked" (e.g. a thread re-locking a lock it holds).
    Deadlock,
    /// "abnormal termination: ...": `process::abort`, a panic that cannot unwind, ...
    Abort,
    /// "memory leaked: allocN (...)": heap memory never freed. Not a race.
    Leak,
    /// "the main thread terminated without waiting for all remaining threads". Not a race.
    ThreadLeak,
    /// "unsupported operation: ...": Miri cannot run this (a foreign function without a shim,
    /// a file opened under isolation, ...). An interpreter limit, not a bug in the program.
    Unsupported,
    /// "resource exhaustion: ..." (Miri's stack or memory limits).
    ResourceExhaustion,
    /// "post-monomorphization error: ..." (a compile error found while interpreting).
    PostMonomorphization,
    /// "interpretation was interrupted" (Ctrl-C).
    Interrupted,
}

impl Kind {
    /// The kind as a word for reports and the JSON, e.g. `data-race`, `use-after-free`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::DataRace => "data-race",
            Kind::UninitRead => "uninit-read",
            Kind::UseAfterFree => "use-after-free",
            Kind::DanglingPointer => "dangling-pointer",
            Kind::InvalidMemoryAccess => "invalid-memory-access",
            Kind::Aliasing => "aliasing",
            Kind::InvalidValue => "invalid-value",
            Kind::UndefinedBehavior => "undefined-behavior",
            Kind::Deadlock => "deadlock",
            Kind::Abort => "abort",
            Kind::Leak => "leak",
            Kind::ThreadLeak => "thread-leak",
            Kind::Unsupported => "unsupported",
            Kind::ResourceExhaustion => "resource-exhaustion",
            Kind::PostMonomorphization => "post-monomorphization",
            Kind::Interrupted => "interrupted",
        }
    }

    /// Miri's "Undefined Behavior: ..." reports.
    pub fn is_undefined_behavior(self) -> bool {
        matches!(
            self,
            Kind::DataRace
                | Kind::UninitRead
                | Kind::UseAfterFree
                | Kind::DanglingPointer
                | Kind::InvalidMemoryAccess
                | Kind::Aliasing
                | Kind::InvalidValue
                | Kind::UndefinedBehavior
        )
    }

    /// Evidence of a bug in the interpreted program (Undefined Behavior, a deadlock, an abort):
    /// a detection. The other kinds (leaks, unsupported operations, resource limits, an
    /// interrupt) say nothing about races: a harness reports them as errors.
    pub fn is_finding(self) -> bool {
        self.is_undefined_behavior() || matches!(self, Kind::Deadlock | Kind::Abort)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A source position as Miri prints it: `fixtures/counter/src/lib.rs:34:42`. Paths of the
/// workspace's own crates are relative to the workspace root; std's are absolute
/// (`/root/.rustup/toolchains/nightly-.../lib/rustlib/src/rust/library/std/...`), as are those of
/// crates from the registry (`/root/.cargo/registry/src/...`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Location {
    pub file: String,
    pub line: u32,
    pub column: u32,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// One frame of a report's `stack backtrace:` note, top first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Frame {
    /// As printed, e.g. `<counter::Unsync as counter::Counter>::incr::{closure#0}`.
    pub function: String,
    /// The start of the frame's span (`at path:34:42: 34:59` gives `path:34:42`).
    pub location: Option<Location>,
}

/// One side of a data race.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Access {
    /// As Miri words it: `non-atomic write`, `non-atomic read`, `atomic store`, `2-byte atomic
    /// load`, `deallocation`, `creating a new allocation`, `retag write of type ...`, ...
    pub operation: String,
    /// The thread's display name between the backticks: `main`, `unnamed-1`, a name given with
    /// `thread::Builder::name`.
    pub thread: String,
    /// Where the access happened: for the current access the report's primary span, for the
    /// earlier one the span of the `help: and (1) occurred earlier here` (absent in the oldest
    /// format).
    pub location: Option<Location>,
}

/// Both accesses of a data race.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Race {
    /// The access that happened first, "(1)".
    pub earlier: Access,
    /// The access Miri was executing when it saw the race, "(2)": the report's primary span, on
    /// the report's thread.
    pub current: Access,
    /// False for "Race condition detected" (only atomics, of different sizes).
    pub non_atomic: bool,
    /// `alloc3981+0x10`, as printed after the last ` at `.
    pub address: Option<String>,
}

/// One Miri error report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MiriReport {
    pub kind: Kind,
    /// The header line after `error: `, trimmed: `Undefined Behavior: Data race detected
    /// between ...`, `memory leaked: alloc258 (Rust heap, size: 16, align: 8), allocated here:`.
    pub headline: String,
    /// The primary span, the `-->` line right under the header: where the error occurred (for
    /// a leak, where the memory was allocated; for a deadlock, where the thread got stuck).
    pub location: Option<Location>,
    /// For [`Kind::DataRace`], both accesses, when the headline could be read.
    pub race: Option<Race>,
    /// From `= note: this is on thread `NAME``; Miri prints it only for programs with more
    /// than one thread.
    pub thread: Option<String>,
    /// The `stack backtrace:` note (absent when the backtrace is a single frame).
    pub backtrace: Vec<Frame>,
    /// For a thread other than main, the code that started it: the span of `note: the last
    /// function in that backtrace got called indirectly due to this code`.
    pub spawned_at: Option<Location>,
    /// The `= help:` lines and the text of `help:` lines with a span, in order.
    pub help: Vec<String>,
    /// With `-Zmiri-many-seeds`: the seed whose run printed this report, when the output
    /// proves it (seeds ran one at a time, and `FAILING SEED: N` follows the report).
    pub seed: Option<u64>,
    /// True when the input ended, or the next report or many-seeds marker began, before the
    /// blank line that ends every complete report.
    pub truncated: bool,
    /// The report's text exactly as in the input, from the start of `error: ` to the end of
    /// its last line (line terminator excluded). Interleaved foreign lines are part of it.
    pub raw: String,
}

/// One seed of a many-seeds run: the part of the output from its `Trying seed: N` line to
/// the next seed's (or the end of input).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SeedRun {
    pub seed: u64,
    /// Byte range of this seed's part of the output. It holds only this seed's output when
    /// [`MiriRun::one_seed_at_a_time`] is true.
    pub start: usize,
    pub end: usize,
    /// `FAILING SEED: N` was printed for this seed.
    pub failed: bool,
}

/// Everything read from one Miri run's output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MiriRun {
    /// One entry per header line, in input order.
    pub reports: Vec<MiriReport>,
    /// `Trying seed: N` lines, in input order (empty without `-Zmiri-many-seeds`).
    pub seeds: Vec<SeedRun>,
    /// `FAILING SEED: N` lines, in input order.
    pub failing_seeds: Vec<u64>,
    /// `K/M SEEDS FAILED` (printed with `-Zmiri-many-seeds-keep-going` when some seed failed).
    pub seeds_failed: Option<(u64, u64)>,
    /// The many-seeds markers show one seed at a time: each `Trying seed` names the seed after
    /// the previous one and each `FAILING SEED: N` stands between `Trying seed: N` and the
    /// next `Trying seed`. Then every report, and every line of program output, between two
    /// `Trying seed` lines belongs to the first of them. Miri runs seeds one at a time with
    /// `-Zthreads=1` in MIRIFLAGS; by default it runs one per core and the outputs interleave.
    /// Also true for output without markers.
    pub one_seed_at_a_time: bool,
}

impl MiriRun {
    /// Reports that are evidence of a bug ([`Kind::is_finding`]).
    pub fn findings(&self) -> impl Iterator<Item = &MiriReport> {
        self.reports.iter().filter(|r| r.kind.is_finding())
    }

    /// The seed whose part of the output holds byte `offset` (e.g. a runner's result line),
    /// when seeds ran one at a time.
    #[cfg(test)]
    pub fn seed_at(&self, offset: usize) -> Option<u64> {
        if !self.one_seed_at_a_time {
            return None;
        }
        self.seeds.iter().find(|s| s.start <= offset && offset < s.end).map(|s| s.seed)
    }
}

impl MiriReport {
    /// The first location in the program's own code: the primary span, then the backtrace's
    /// frames top first, then where the thread was spawned, then the earlier access of a race.
    /// A location is the program's own when its file is not in the Rust toolchain's sources
    /// (`/rustc/`, `library/std/`, `library/core/`, `library/alloc/`, `.rustup/toolchains`,
    /// `/rustlib/src/rust/`), not a dependency (`/.cargo/registry/`, `/.cargo/git/checkouts/`),
    /// and not rejected by `is_foreign` (e.g. a sync facade).
    pub fn first_own_location(&self, is_foreign: &dyn Fn(&str) -> bool) -> Option<&Location> {
        let own = |l: &&Location| !is_toolchain_path(&l.file) && !is_foreign(&l.file);
        self.location
            .iter()
            .chain(self.backtrace.iter().filter_map(|f| f.location.as_ref()))
            .chain(self.spawned_at.iter())
            .chain(self.race.iter().filter_map(|r| r.earlier.location.as_ref()))
            .find(own)
    }

    /// The first location in the program's own code on the current thread's
    /// path: the primary span, then the backtrace's frames top first, then
    /// where the thread was spawned (not the earlier access of a race, which
    /// is another thread's).
    pub fn current_own_location(&self, is_foreign: &dyn Fn(&str) -> bool) -> Option<&Location> {
        let own = |l: &&Location| !is_toolchain_path(&l.file) && !is_foreign(&l.file);
        self.location
            .iter()
            .chain(self.backtrace.iter().filter_map(|f| f.location.as_ref()))
            .chain(self.spawned_at.iter())
            .find(own)
    }

    /// Deduplication signature: the kind, and for a race each access's operation and location
    /// (sorted, so the same pair seen in the other order gives the same signature), otherwise
    /// the first own location (else the primary location, else the headline with allocation
    /// ids and addresses blanked). Seeds, thread names and allocation ids do not take part.
    pub fn signature(&self, is_foreign: &dyn Fn(&str) -> bool) -> String {
        let mut sig = self.kind.as_str().to_string();
        if let Some(race) = &self.race {
            let mut parts: Vec<String> = [&race.earlier, &race.current]
                .iter()
                .map(|a| {
                    let at = a.location.as_ref().map_or_else(|| "?".to_string(), Location::to_string);
                    format!("{}@{at}", a.operation)
                })
                .collect();
            parts.sort();
            for p in parts {
                sig.push('|');
                sig.push_str(&p);
            }
            return sig;
        }
        sig.push('|');
        match self.first_own_location(is_foreign).or(self.location.as_ref()) {
            Some(l) => sig.push_str(&l.to_string()),
            None => sig.push_str(&redact_ids(&self.headline)),
        }
        sig
    }
}

impl MiriReport {
    /// The parts of this report's fingerprint (`crate::fingerprint`): the
    /// kind, then for a data race each access's operation and file
    /// (machine-independent, without line), sorted: Miri prints a stack only
    /// for the access it was executing, and which of the two that is
    /// changes from seed to seed, so a function would make the same race two
    /// fingerprints. Otherwise the function of the first own backtrace frame
    /// and the file of the first own location (else the headline without
    /// ids and numbers). Seeds, thread names, allocation ids, lines and
    /// columns do not take part.
    pub fn fingerprint_parts(&self, is_foreign: &dyn Fn(&str) -> bool) -> Vec<String> {
        let mut parts = vec![self.kind.as_str().to_string()];
        let file = |l: &Location| crate::fingerprint::portable_path(&l.file);
        if let Some(race) = &self.race {
            let mut sides: Vec<String> = [&race.earlier, &race.current]
                .iter()
                .map(|a| format!("{} ({})", a.operation, a.location.as_ref().map_or_else(|| "?".to_string(), file)))
                .collect();
            sides.sort();
            parts.extend(sides);
            return parts;
        }
        let own = |l: &Location| !is_toolchain_path(&l.file) && !is_foreign(&l.file);
        if let Some(f) = self.backtrace.iter().find(|f| f.location.as_ref().is_some_and(own)) {
            parts.push(f.function.clone());
        }
        match self.first_own_location(is_foreign) {
            Some(l) => parts.push(file(l)),
            None => parts.push(crate::fingerprint::redact_numbers(&redact_ids(&self.headline))),
        }
        parts
    }
}

/// Parses a Miri run's output (stderr, or stdout and stderr together).
pub fn parse(output: &str) -> MiriRun {
    let lines = split_lines(output);
    let mut reports: Vec<(MiriReport, usize)> = Vec::new();
    let mut markers: Vec<Marker> = Vec::new();
    let mut seeds_failed = None;
    let mut cur: Option<Builder> = None;

    for (i, line) in lines.iter().enumerate() {
        if let Some((pos, header)) = find_header(line.text) {
            if let Some(b) = cur.take() {
                reports.push(b.finish(output, true, i));
            }
            let before = &line.text[..pos];
            // nextest indents a test's captured output: the report's own column 0 is there.
            let base = if before.trim().is_empty() { before.len() } else { 0 };
            cur = Some(Builder::new(line.start + pos, line.end, &line.text[pos..], header, base));
            continue;
        }
        if let Some(marker) = parse_marker(line.text, i) {
            if let Some(b) = cur.take() {
                reports.push(b.finish(output, true, i));
            }
            match marker {
                SeedLine::Marker(m) => markers.push(m),
                SeedLine::Summary(failed, total) => seeds_failed = Some((failed, total)),
            }
            continue;
        }
        if let Some(b) = cur.as_mut() {
            if line.text.trim().is_empty() {
                if let Some(b) = cur.take() {
                    reports.push(b.finish(output, false, i));
                }
            } else {
                b.feed(line.text);
                b.last_end = line.end;
            }
        }
    }
    if let Some(b) = cur.take() {
        reports.push(b.finish(output, true, lines.len()));
    }

    let one_seed_at_a_time = seeds_in_order(&markers);
    let mut seeds: Vec<SeedRun> = Vec::new();
    let mut failing_seeds = Vec::new();
    for m in &markers {
        match *m {
            Marker::Trying { seed, line } => {
                let start = lines.get(line).map_or(output.len(), |l| l.start);
                if let Some(prev) = seeds.last_mut() {
                    prev.end = start;
                }
                seeds.push(SeedRun { seed, start, end: output.len(), failed: false });
            }
            Marker::Failing { seed, .. } => {
                failing_seeds.push(seed);
                if let Some(s) = seeds.iter_mut().rev().find(|s| s.seed == seed) {
                    s.failed = true;
                }
            }
        }
    }

    let reports = reports
        .into_iter()
        .map(|(mut r, next_line)| {
            if one_seed_at_a_time {
                r.seed = seed_of_report(&markers, next_line);
            }
            r
        })
        .collect();
    MiriRun { reports, seeds, failing_seeds, seeds_failed, one_seed_at_a_time }
}

// ---------------------------------------------------------------------------------------------
// Internals
// ---------------------------------------------------------------------------------------------

/// The headers that open a report, and how each is classified. Those ending in ": " are
/// followed by a message; the others are the whole headline.
const HEADERS: [(&str, Header); 10] = [
    ("error: Undefined Behavior: ", Header::Ub),
    ("error: unsupported operation: ", Header::Is(Kind::Unsupported)),
    ("error: abnormal termination: ", Header::Is(Kind::Abort)),
    ("error: resource exhaustion: ", Header::Is(Kind::ResourceExhaustion)),
    ("error: post-monomorphization error: ", Header::Is(Kind::PostMonomorphization)),
    ("error: memory leaked: ", Header::Is(Kind::Leak)),
    ("error: the evaluated program deadlocked", Header::Is(Kind::Deadlock)),
    ("error: a thread deadlocked", Header::Is(Kind::Deadlock)),
    ("error: the main thread terminated without waiting for all remaining threads", Header::Is(Kind::ThreadLeak)),
    ("error: interpretation was interrupted", Header::Is(Kind::Interrupted)),
];

/// How a header classifies its report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Header {
    /// "Undefined Behavior": the message decides the kind.
    Ub,
    Is(Kind),
}

const TRYING: &str = "Trying seed: ";
const FAILING: &str = "FAILING SEED: ";
const SEEDS_FAILED: &str = " SEEDS FAILED";

struct SrcLine<'a> {
    /// The line without its terminator ("\n" or "\r\n").
    text: &'a str,
    start: usize,
    end: usize,
}

fn split_lines(input: &str) -> Vec<SrcLine<'_>> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < input.len() {
        let rest = &input[start..];
        let (content_end, next) = match rest.find('\n') {
            Some(i) => (start + i, start + i + 1),
            None => (input.len(), input.len()),
        };
        let mut text = &input[start..content_end];
        if let Some(t) = text.strip_suffix('\r') {
            text = t;
        }
        out.push(SrcLine { text, start, end: start + text.len() });
        start = next;
    }
    out
}

/// The earliest header in `text` that is not inside a source snippet, with its byte position.
/// A header without a message must end the line.
fn find_header(text: &str) -> Option<(usize, Header)> {
    let mut best: Option<(usize, Header)> = None;
    for (h, kind) in HEADERS {
        let mut from = 0;
        while let Some(p) = text.get(from..).and_then(|t| t.find(h)) {
            let pos = from + p;
            let after = &text[pos + h.len()..];
            let complete = h.ends_with(' ') || after.trim().is_empty();
            if complete && !in_snippet(&text[..pos]) {
                if best.is_none_or(|(b, _)| pos < b) {
                    best = Some((pos, kind));
                }
                break;
            }
            from = pos + 1;
        }
    }
    best
}

/// Text before a header that puts it inside a rendered diagnostic rather than at a line's
/// start: a snippet gutter (`   |`, `12 |`, `...`) or a `= note:` / `= help:` line.
fn in_snippet(before: &str) -> bool {
    let t = before.trim_start();
    if t.starts_with('|') || t.starts_with("= ") || t.starts_with("...") {
        return true;
    }
    let digits = t.len() - t.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    digits > 0 && t[digits..].trim_start().starts_with('|')
}

#[derive(Debug, Clone, Copy)]
enum Marker {
    Trying { seed: u64, line: usize },
    Failing { seed: u64, line: usize },
}

enum SeedLine {
    Marker(Marker),
    Summary(u64, u64),
}

/// `Trying seed: 3`, `FAILING SEED: 3`, `2/8 SEEDS FAILED` (possibly after another
/// thread's partial line), on line number `line`.
fn parse_marker(text: &str, line: usize) -> Option<SeedLine> {
    let text = text.trim_end();
    if let Some(p) = text.rfind(TRYING) {
        let seed = parse_u64(&text[p + TRYING.len()..])?;
        return Some(SeedLine::Marker(Marker::Trying { seed, line }));
    }
    if let Some(p) = text.rfind(FAILING) {
        let seed = parse_u64(&text[p + FAILING.len()..])?;
        return Some(SeedLine::Marker(Marker::Failing { seed, line }));
    }
    let counts = text.strip_suffix(SEEDS_FAILED)?;
    // The trailing run of digits and '/' (ASCII: one byte each).
    let len = counts.chars().rev().take_while(|c| c.is_ascii_digit() || *c == '/').count();
    let (failed, total) = counts[counts.len() - len..].split_once('/')?;
    Some(SeedLine::Summary(parse_u64(failed)?, parse_u64(total)?))
}

fn parse_u64(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn parse_u32(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Seeds tried in increasing order by one, and every failing seed reported before the next
/// seed is tried.
fn seeds_in_order(markers: &[Marker]) -> bool {
    let mut current: Option<u64> = None;
    for m in markers {
        match *m {
            Marker::Trying { seed, .. } => {
                if let Some(c) = current {
                    if c.checked_add(1) != Some(seed) {
                        return false;
                    }
                }
                current = Some(seed);
            }
            Marker::Failing { seed, .. } => {
                if current != Some(seed) {
                    return false;
                }
            }
        }
    }
    true
}

/// The seed of a report that ended before line `next_line`: the last seed tried before it,
/// confirmed by a `FAILING SEED` line for that seed as the next marker after the report.
fn seed_of_report(markers: &[Marker], next_line: usize) -> Option<u64> {
    let line_of = |m: &Marker| match *m {
        Marker::Trying { line, .. } | Marker::Failing { line, .. } => line,
    };
    let tried = markers.iter().rev().find_map(|m| match *m {
        Marker::Trying { seed, line } if line < next_line => Some(seed),
        _ => None,
    })?;
    match markers.iter().find(|m| line_of(m) >= next_line) {
        Some(Marker::Failing { seed, .. }) if *seed == tried => Some(tried),
        _ => None,
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Section {
    /// Right after the header: the next `-->` is the primary span.
    Primary,
    /// Inside a `= help:` / `= note:` text (continuation lines belong to it).
    Text,
    /// Inside `= note: stack backtrace:`.
    Backtrace,
    /// After a `help:` / `note:` line with a span: the next `-->` is its span.
    Spanned(SpanOf),
    /// Anything else (source snippets).
    Other,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum SpanOf {
    EarlierAccess,
    Spawn,
    Ignored,
}

struct Builder {
    start: usize,
    last_end: usize,
    kind: Kind,
    headline: String,
    location: Option<Location>,
    race: Option<Race>,
    earlier_location: Option<Location>,
    thread: Option<String>,
    backtrace: Vec<Frame>,
    spawned_at: Option<Location>,
    help: Vec<String>,
    section: Section,
    /// Indentation of the `= note:` that opened a backtrace: frames are indented further.
    backtrace_indent: usize,
    /// The header's indentation: `help:` and `note:` lines with a span start there.
    base_indent: usize,
}

impl Builder {
    fn new(start: usize, end: usize, from_header: &str, header: Header, base_indent: usize) -> Builder {
        let headline = from_header.strip_prefix("error: ").unwrap_or(from_header).trim().to_string();
        let (kind, race) = match header {
            Header::Is(kind) => (kind, None),
            Header::Ub => classify_ub(headline.strip_prefix("Undefined Behavior:").unwrap_or(&headline).trim()),
        };
        Builder {
            start,
            last_end: end,
            kind,
            headline,
            location: None,
            race,
            earlier_location: None,
            thread: None,
            backtrace: Vec::new(),
            spawned_at: None,
            help: Vec::new(),
            section: Section::Primary,
            backtrace_indent: 0,
            base_indent,
        }
    }

    /// `next_line`: index of the first line after the report (its blank line, or the line
    /// that interrupted it).
    fn finish(self, input: &str, truncated: bool, next_line: usize) -> (MiriReport, usize) {
        let raw = input.get(self.start..self.last_end).unwrap_or("").to_string();
        // Miri's help names the aliasing model when one of its rules was broken.
        let kind = if self.kind == Kind::UndefinedBehavior
            && self.help.iter().any(|h| h.contains("Stacked Borrows") || h.contains("Tree Borrows"))
        {
            Kind::Aliasing
        } else {
            self.kind
        };
        let mut race = self.race;
        if let Some(r) = race.as_mut() {
            r.current.location = self.location.clone();
            if r.earlier.location.is_none() {
                r.earlier.location = self.earlier_location;
            }
        }
        let report = MiriReport {
            kind,
            headline: self.headline,
            location: self.location,
            race,
            thread: self.thread,
            backtrace: self.backtrace,
            spawned_at: self.spawned_at,
            help: self.help,
            seed: None,
            truncated,
            raw,
        };
        (report, next_line)
    }

    fn feed(&mut self, text: &str) {
        let t = text.trim();
        let indent = text.len() - text.trim_start().len();

        if let Some(rest) = t.strip_prefix("--> ") {
            let loc = parse_location(rest.trim());
            match self.section {
                Section::Primary if self.location.is_none() => self.location = loc,
                Section::Spanned(SpanOf::EarlierAccess) if self.earlier_location.is_none() => {
                    self.earlier_location = loc
                }
                Section::Spanned(SpanOf::Spawn) if self.spawned_at.is_none() => self.spawned_at = loc,
                _ => {}
            }
            self.section = Section::Other;
            return;
        }
        if let Some(rest) = t.strip_prefix("= help:") {
            self.help.push(rest.trim().to_string());
            self.section = Section::Text;
            return;
        }
        if let Some(rest) = t.strip_prefix("= note:") {
            let note = rest.trim();
            if note == "stack backtrace:" {
                self.section = Section::Backtrace;
                self.backtrace_indent = indent;
                self.backtrace.clear();
            } else {
                if let Some(name) = note.strip_prefix("this is on thread `").and_then(|n| n.strip_suffix('`')) {
                    self.thread = Some(name.to_string());
                }
                self.section = Section::Text;
            }
            return;
        }
        if indent == self.base_indent {
            if let Some(rest) = t.strip_prefix("help:") {
                let msg = rest.trim();
                self.help.push(msg.to_string());
                let earlier = msg.contains("(1)") || msg.contains("earlier");
                self.section = Section::Spanned(if earlier { SpanOf::EarlierAccess } else { SpanOf::Ignored });
                return;
            }
            if let Some(rest) = t.strip_prefix("note:") {
                let spawn = rest.contains("called indirectly due to this code");
                self.section = Section::Spanned(if spawn { SpanOf::Spawn } else { SpanOf::Ignored });
                return;
            }
        }
        if self.section == Section::Backtrace && indent > self.backtrace_indent {
            if let Some(frame) = parse_frame_line(t) {
                self.backtrace.push(frame);
            } else if let Some(at) = t.strip_prefix("at ") {
                if let Some(last) = self.backtrace.last_mut() {
                    if last.location.is_none() {
                        last.location = parse_span(at.trim());
                    }
                }
            }
        }
        // Source snippets, labels and anything else (another thread's output) are skipped; the
        // backtrace goes on until the next `-->`, `= ...`, `help:` or `note:` line.
    }
}

/// `0: <counter::Unsync as counter::Counter>::incr::{closure#0}`
fn parse_frame_line(t: &str) -> Option<Frame> {
    let (n, rest) = t.split_once(": ")?;
    parse_u32(n)?;
    let function = rest.trim();
    if function.is_empty() {
        return None;
    }
    Some(Frame { function: function.to_string(), location: None })
}

/// `fixtures/counter/src/lib.rs:34:42: 34:59` (a backtrace frame's span) or a plain location.
fn parse_span(s: &str) -> Option<Location> {
    if let Some((start, end)) = s.rsplit_once(": ") {
        if let Some((l, c)) = end.trim().split_once(':') {
            if parse_u32(l).is_some() && parse_u32(c).is_some() {
                return parse_location(start);
            }
        }
    }
    parse_location(s)
}

/// `fixtures/counter/src/lib.rs:34:42` (the file may itself hold ':' or spaces).
fn parse_location(s: &str) -> Option<Location> {
    let (rest, column) = s.trim().rsplit_once(':')?;
    let (file, line) = rest.rsplit_once(':')?;
    let (line, column) = (parse_u32(line)?, parse_u32(column)?);
    if file.is_empty() {
        return None;
    }
    Some(Location { file: file.to_string(), line, column })
}

/// The kind of an "Undefined Behavior: MESSAGE" report, and for a race its accesses.
fn classify_ub(message: &str) -> (Kind, Option<Race>) {
    for (prefix, non_atomic) in [("Data race detected between ", true), ("Race condition detected between ", false)] {
        if let Some(rest) = message.strip_prefix(prefix) {
            return (Kind::DataRace, parse_race(rest, non_atomic));
        }
    }
    let m = message.to_ascii_lowercase();
    let kind = if m.contains("uninitialized") || m.contains("uninitialised") {
        Kind::UninitRead
    } else if m.contains("has been freed") || m.contains("use-after-free") {
        Kind::UseAfterFree
    } else if m.contains("dangling") || m.contains("null pointer") {
        Kind::DanglingPointer
    } else if is_aliasing(&m) {
        Kind::Aliasing
    } else if m.contains("memory access failed")
        || m.contains("out-of-bounds")
        || m.contains("out of bounds")
        || m.contains("in-bounds")
        || m.contains("alignment")
        || m.contains("misaligned")
        || m.contains("pointer arithmetic failed")
    {
        Kind::InvalidMemoryAccess
    } else if m.contains("constructing invalid value") || m.contains("invalid value") {
        Kind::InvalidValue
    } else {
        Kind::UndefinedBehavior
    };
    (kind, None)
}

/// Stacked Borrows ("... but that tag does not exist in the borrow stack for this location",
/// "not granting access to tag <16100> because that would remove [Unique for <15590>] which is
/// strongly protected") and Tree Borrows ("read access through <123> at alloc4[0x0] is
/// forbidden"), in lowercase.
fn is_aliasing(m: &str) -> bool {
    m.contains("borrow stack")
        || m.contains("strongly protected")
        || m.contains("weakly protected")
        || m.contains("access to tag <")
        || (m.contains(" through <") && m.contains("is forbidden"))
}

/// After "Data race detected between ":
/// `(1) OP on thread `A` and (2) OP on thread `B` at PTR[. (2) just happened here]` or
/// `OP on thread `A` and OP on thread `B` at PTR (current vector clock = ...)`, where in the
/// old form the first access is the current one.
fn parse_race(rest: &str, non_atomic: bool) -> Option<Race> {
    let numbered = rest.starts_with("(1) ");
    let (first, second) = if numbered {
        let body = rest.strip_prefix("(1) ")?;
        let p = body.find(" and (2) ")?;
        (&body[..p], &body[p + " and (2) ".len()..])
    } else {
        // The first access ends with its thread's closing backtick before " and ".
        let p = rest.find("` and ")?;
        (&rest[..p + 1], &rest[p + "` and ".len()..])
    };
    let (op1, thread1) = split_access(first)?;
    // The second access: "OP on thread `B` at PTR ..." — the thread name ends at the first
    // backtick after " on thread `".
    let on = second.find(" on thread `")?;
    let op2 = second[..on].trim();
    let after = &second[on + " on thread `".len()..];
    let close = after.find('`')?;
    let thread2 = &after[..close];
    let tail = after[close + 1..].trim_start();
    let address = tail.strip_prefix("at ").map(|a| {
        let a = a.split(" (current vector clock").next().unwrap_or(a);
        let a = a.split(". (2) just happened here").next().unwrap_or(a);
        a.trim().trim_end_matches('.').to_string()
    });
    if op2.is_empty() {
        return None;
    }
    let access =
        |op: &str, thread: &str| Access { operation: op.to_string(), thread: thread.to_string(), location: None };
    let (earlier, current) = if numbered {
        (access(op1, thread1), access(op2, thread2))
    } else {
        (access(op2, thread2), access(op1, thread1))
    };
    Some(Race { earlier, current, non_atomic, address })
}

/// "non-atomic write on thread `unnamed-2`" -> ("non-atomic write", "unnamed-2")
fn split_access(s: &str) -> Option<(&str, &str)> {
    let p = s.rfind(" on thread `")?;
    let op = s[..p].trim();
    let thread = s[p + " on thread `".len()..].strip_suffix('`')?;
    if op.is_empty() {
        return None;
    }
    Some((op, thread))
}

const TOOLCHAIN_MARKERS: [&str; 11] = [
    "/rustc/",
    "/library/std/",
    "/library/core/",
    "/library/alloc/",
    "/library/test/",
    "/library/panic_unwind/",
    "/library/std_detect/",
    ".rustup/toolchains",
    "/rustlib/src/rust/",
    "/.cargo/registry/",
    "/.cargo/git/checkouts/",
];

fn is_toolchain_path(file: &str) -> bool {
    // Remapped paths may be relative ("library/std/src/...").
    let with_slash;
    let p = if file.starts_with('/') {
        file
    } else {
        with_slash = format!("/{file}");
        &with_slash
    };
    TOOLCHAIN_MARKERS.iter().any(|m| p.contains(m))
}

/// "alloc3981+0x10" -> "alloc?+0x?", "<377>" -> "<?>": two runs of the same bug compare equal.
fn redact_ids(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(c) = rest.chars().next() {
        let (prefix, digits): (&str, fn(char) -> bool) = if rest.starts_with("alloc") {
            ("alloc", |d| d.is_ascii_digit())
        } else if rest.starts_with("0x") {
            ("0x", |d| d.is_ascii_hexdigit())
        } else if rest.starts_with('<') {
            ("<", |d| d.is_ascii_digit())
        } else {
            out.push(c);
            rest = &rest[c.len_utf8()..];
            continue;
        };
        let after = &rest[prefix.len()..];
        let n = after.len() - after.trim_start_matches(digits).len();
        out.push_str(prefix);
        if n > 0 {
            out.push('?');
        }
        rest = &after[n..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    macro_rules! capture {
        ($name:literal) => {
            include_str!(concat!("../../../testdata/miri/", $name, ".txt"))
        };
    }

    // The fixtures under Miri (scenario-runner, nightly 2026-05-19).
    const COUNTER: &str = capture!("fixture_counter_racy_unsync");
    const COUNTER_LOAD_STORE: &str = capture!("fixture_counter_racy_load_store");
    const COUNTER_FIXED: &str = capture!("fixture_counter_fixed_fetch_add");
    const COUNTER_SEEDS: &str = capture!("fixture_counter_racy_unsync_many_seeds");
    const CACHE: &str = capture!("fixture_cache_racy_unsync");
    const CACHE_SB: &str = capture!("fixture_cache_racy_unsync_stacked_borrows");
    const BANK: &str = capture!("fixture_bank_racy_unsync");
    const BANK_SEEDS: &str = capture!("fixture_bank_racy_two_sections_many_seeds");
    const SESSION: &str = capture!("fixture_session_racy_multiword");
    const SESSION_U64: &str = capture!("fixture_session_racy_u64");
    const SESSION_U64_I686: &str = capture!("fixture_session_racy_u64_i686");
    const SESSION_U64_ARMV7: &str = capture!("fixture_session_racy_u64_armv7");
    const PUBLISH: &str = capture!("fixture_publish_racy_plain");
    const PUBLISH_RELAXED: &str = capture!("fixture_publish_racy_relaxed");
    // Small sample programs, one per kind of report.
    const ABORT: &str = capture!("abort");
    const ALIASING: &str = capture!("aliasing_stacked_borrows");
    const NEXTEST: &str = capture!("cargo_miri_nextest");
    const LIBTEST: &str = capture!("cargo_miri_test");
    const NO_PROVENANCE: &str = capture!("dangling_no_provenance");
    const STACK_LOCAL: &str = capture!("dangling_stack_local");
    const DEADLOCK: &str = capture!("deadlock");
    const RELOCK: &str = capture!("deadlock_relock");
    const LEAK: &str = capture!("leak");
    const SEEDS_FIRST: &str = capture!("many_seeds_first_failure");
    const SEEDS_KEEP_GOING: &str = capture!("many_seeds_keep_going");
    const SEEDS_PARALLEL: &str = capture!("many_seeds_parallel");
    const MIXED_SIZE: &str = capture!("mixed_size_atomics");
    const OUT_OF_BOUNDS: &str = capture!("out_of_bounds");
    const PANIC: &str = capture!("panic");
    const RETAG: &str = capture!("retag_race");
    const THREAD_LEAK: &str = capture!("thread_leak");
    const TRUNCATED: &str = capture!("truncated");
    const UNINIT: &str = capture!("uninit_read");
    const UNSUPPORTED_FFI: &str = capture!("unsupported_ffi");
    const UNSUPPORTED_ISOLATION: &str = capture!("unsupported_isolation");
    const UAF: &str = capture!("use_after_free");
    const UAF_THREAD: &str = capture!("use_after_free_cross_thread");

    const ALL: [&str; 37] = [
        COUNTER,
        COUNTER_LOAD_STORE,
        COUNTER_FIXED,
        COUNTER_SEEDS,
        CACHE,
        CACHE_SB,
        BANK,
        BANK_SEEDS,
        SESSION,
        SESSION_U64,
        SESSION_U64_I686,
        SESSION_U64_ARMV7,
        PUBLISH,
        PUBLISH_RELAXED,
        ABORT,
        ALIASING,
        NEXTEST,
        LIBTEST,
        NO_PROVENANCE,
        STACK_LOCAL,
        DEADLOCK,
        RELOCK,
        LEAK,
        SEEDS_FIRST,
        SEEDS_KEEP_GOING,
        SEEDS_PARALLEL,
        MIXED_SIZE,
        OUT_OF_BOUNDS,
        PANIC,
        RETAG,
        THREAD_LEAK,
        TRUNCATED,
        UNINIT,
        UNSUPPORTED_FFI,
        UNSUPPORTED_ISOLATION,
        UAF,
        UAF_THREAD,
    ];

    fn none(_: &str) -> bool {
        false
    }

    fn facade(p: &str) -> bool {
        p.contains("fixtures/facade/")
    }

    fn one(input: &str) -> MiriReport {
        let mut run = parse(input);
        assert_eq!(run.reports.len(), 1, "expected exactly one report");
        run.reports.remove(0)
    }

    fn at(l: Option<&Location>) -> String {
        l.map_or_else(|| "-".to_string(), Location::to_string)
    }

    /// (operation, thread, location) of both accesses, earlier first.
    fn accesses(r: &MiriReport) -> [(String, String, String); 2] {
        let race = r.race.as_ref().expect("a race");
        [&race.earlier, &race.current].map(|a| (a.operation.clone(), a.thread.clone(), at(a.location.as_ref())))
    }

    fn acc(op: &str, thread: &str, loc: &str) -> (String, String, String) {
        (op.to_string(), thread.to_string(), loc.to_string())
    }

    fn header_count(s: &str) -> usize {
        s.lines().filter(|l| find_header(l).is_some()).count()
    }

    #[test]
    fn fixture_counter_data_race() {
        let r = one(COUNTER);
        assert_eq!(r.kind, Kind::DataRace);
        assert!(r.kind.is_undefined_behavior() && r.kind.is_finding());
        assert!(!r.truncated);
        assert_eq!(
            accesses(&r),
            [
                acc("non-atomic read", "unnamed-2", "fixtures/counter/src/lib.rs:34:42"),
                acc("non-atomic write", "unnamed-1", "fixtures/counter/src/lib.rs:35:38"),
            ]
        );
        let race = r.race.as_ref().unwrap();
        assert!(race.non_atomic);
        assert_eq!(race.address.as_deref(), Some("alloc3070+0x10"));
        assert_eq!(r.thread.as_deref(), Some("unnamed-1"));
        assert_eq!(at(r.location.as_ref()), "fixtures/counter/src/lib.rs:35:38");
        assert_eq!(r.backtrace.len(), 5);
        assert_eq!(r.backtrace[0].function, "<counter::Unsync as counter::Counter>::incr::{closure#1}");
        assert_eq!(at(r.backtrace[3].location.as_ref()), "fixtures/counter/src/lib.rs:86:21");
        assert_eq!(at(r.spawned_at.as_ref()), "fixtures/facade/src/thread.rs:20:5");
        assert_eq!(at(r.first_own_location(&none)), "fixtures/counter/src/lib.rs:35:38");
        assert!(r.headline.starts_with("Undefined Behavior: Data race detected between (1) non-atomic read"));
        assert!(r.raw.starts_with("error: Undefined Behavior: Data race detected"));
        assert!(r.raw.ends_with("| |______^"));
        assert!(COUNTER.contains(&r.raw));
        assert_eq!(r.seed, None);
        assert_eq!(
            r.signature(&none),
            "data-race|non-atomic read@fixtures/counter/src/lib.rs:34:42|non-atomic write@fixtures/counter/src/lib.rs:35:38"
        );
        // cargo's own lines around the report are not reports.
        assert!(COUNTER.contains("Running `"));
        assert!(parse(COUNTER).findings().count() == 1);
    }

    #[test]
    fn fixture_data_races_point_at_the_fixture() {
        for (input, earlier, current) in [
            (
                BANK,
                ("non-atomic write", "unnamed-1", "fixtures/bank/src/lib.rs:45:38"),
                ("non-atomic read", "unnamed-2", "fixtures/bank/src/lib.rs:40:37"),
            ),
            (
                SESSION,
                ("non-atomic read", "unnamed-2", "fixtures/session/src/lib.rs:80:45"),
                ("non-atomic write", "unnamed-1", "fixtures/session/src/lib.rs:76:38"),
            ),
            (
                PUBLISH,
                ("non-atomic write", "unnamed-1", "fixtures/publish/src/lib.rs:43:44"),
                ("non-atomic read", "unnamed-2", "fixtures/publish/src/lib.rs:48:49"),
            ),
        ] {
            let r = one(input);
            assert_eq!(r.kind, Kind::DataRace);
            assert_eq!(accesses(&r), [acc(earlier.0, earlier.1, earlier.2), acc(current.0, current.1, current.2)]);
            assert_eq!(at(r.first_own_location(&none)), current.2);
            assert_eq!(at(r.first_own_location(&facade)), current.2);
        }
    }

    #[test]
    fn fixture_cache_race_inside_std_hashmap() {
        // The current access is in hashbrown (a registry crate of std's sysroot); the first own
        // location is the fixture's `insert` call in the backtrace.
        let r = one(CACHE);
        assert_eq!(r.kind, Kind::DataRace);
        let current = &r.race.as_ref().unwrap().current;
        assert!(current.location.as_ref().unwrap().file.contains("/.cargo/registry/src/"));
        assert_eq!(current.location.as_ref().unwrap().line, 910);
        assert_eq!(at(r.race.as_ref().unwrap().earlier.location.as_ref()), "fixtures/cache/src/lib.rs:41:42");
        assert_eq!(r.backtrace.len(), 20);
        assert_eq!(at(r.first_own_location(&none)), "fixtures/cache/src/lib.rs:41:42");
        assert_eq!(r.backtrace[4].function, "<cache::Unsync as cache::Cache>::get_or_set::{closure#1}");
        assert!(r.backtrace[8].function.contains("{closure@std::iter::Iterator::for_each::call<u64,"));
    }

    #[test]
    fn fixture_cache_under_stacked_borrows_is_aliasing() {
        // Without -Zmiri-disable-stacked-borrows the same fixture trips a protector first.
        let r = one(CACHE_SB);
        assert_eq!(r.kind, Kind::Aliasing);
        assert!(r.kind.is_finding());
        assert!(r.race.is_none());
        assert!(r.headline.contains("not granting access to tag <"), "{}", r.headline);
        assert_eq!(at(r.location.as_ref()), "fixtures/cache/src/lib.rs:39:48");
        assert_eq!(r.signature(&none), "aliasing|fixtures/cache/src/lib.rs:39:48");
        assert!(r.help.iter().any(|h| h.contains("Stacked Borrows")));
    }

    #[test]
    fn session_u64_is_caught_on_every_target() {
        // Miri reports the plain u64 as a data race on 32-bit targets (i686, armv7) and on x86_64
        // alike: it does not need the tear to happen.
        for input in [SESSION_U64, SESSION_U64_I686, SESSION_U64_ARMV7] {
            let r = one(input);
            assert_eq!(r.kind, Kind::DataRace);
            assert_eq!(
                accesses(&r),
                [
                    acc("non-atomic read", "unnamed-2", "fixtures/session/src/lib.rs:100:56"),
                    acc("non-atomic write", "unnamed-1", "fixtures/session/src/lib.rs:97:38"),
                ]
            );
        }
        // The u64 sits at offset 8 of the Arc's allocation on 32-bit targets, 16 on x86_64.
        let addr = |s| one(s).race.unwrap().address.unwrap();
        assert!(addr(SESSION_U64_I686).ends_with("+0x8"));
        assert!(addr(SESSION_U64_ARMV7).ends_with("+0x8"));
        assert!(addr(SESSION_U64).ends_with("+0x10"));
        assert_eq!(one(SESSION_U64_I686).signature(&none), one(SESSION_U64).signature(&none));
    }

    #[test]
    fn oracle_violations_and_clean_runs_have_no_report() {
        // Weak-memory emulation and scheduler preemption show as the runner's result line.
        for input in [PUBLISH_RELAXED, COUNTER_LOAD_STORE, COUNTER_FIXED, PANIC] {
            let run = parse(input);
            assert!(run.reports.is_empty(), "{input}");
            assert!(run.seeds.is_empty());
            assert!(run.one_seed_at_a_time);
        }
        assert!(PUBLISH_RELAXED.contains("\"kind\":\"oracle\""));
    }

    #[test]
    fn many_seeds_sequential_keep_going() {
        let run = parse(SEEDS_KEEP_GOING);
        assert!(run.one_seed_at_a_time);
        assert_eq!(run.seeds.iter().map(|s| s.seed).collect::<Vec<_>>(), (0..10).collect::<Vec<_>>());
        assert_eq!(run.failing_seeds, vec![3, 6]);
        assert_eq!(run.seeds.iter().filter(|s| s.failed).map(|s| s.seed).collect::<Vec<_>>(), vec![3, 6]);
        assert_eq!(run.seeds_failed, Some((2, 10)));
        assert_eq!(run.reports.len(), 2);
        assert_eq!(run.reports.iter().map(|r| r.seed).collect::<Vec<_>>(), vec![Some(3), Some(6)]);
        for r in &run.reports {
            assert_eq!(r.kind, Kind::DataRace);
            assert!(!r.truncated);
            assert_eq!(r.thread.as_deref(), Some("main"));
            assert_eq!(r.seed, run.seed_at(SEEDS_KEEP_GOING.find(&r.raw).unwrap()));
        }
        assert_ne!(run.reports[0].raw, run.reports[1].raw);
        assert_eq!(run.reports[0].signature(&none), run.reports[1].signature(&none));
        // A seed's part of the output holds its program output.
        let s0 = &run.seeds[0];
        assert_eq!(&SEEDS_KEEP_GOING[s0.start..s0.end], "Trying seed: 0\nseen None\n");
        assert_eq!(run.seeds.last().unwrap().end, SEEDS_KEEP_GOING.len());
    }

    #[test]
    fn many_seeds_stops_at_the_first_failure() {
        let run = parse(SEEDS_FIRST);
        assert!(run.one_seed_at_a_time);
        assert_eq!(run.failing_seeds, vec![3]);
        assert_eq!(run.seeds_failed, None);
        assert_eq!(run.reports.len(), 1);
        assert_eq!(run.reports[0].seed, Some(3));
    }

    #[test]
    fn many_seeds_in_parallel_gives_no_seed() {
        // With one seed per core, seed 3's report follows "Trying seed: 5": no attribution.
        let run = parse(SEEDS_PARALLEL);
        assert!(!run.one_seed_at_a_time);
        assert_eq!(run.failing_seeds, vec![6, 3]);
        assert_eq!(run.seeds_failed, Some((2, 10)));
        assert_eq!(run.seeds.len(), 10);
        assert_eq!(run.reports.len(), 2);
        assert!(run.reports.iter().all(|r| r.seed.is_none() && r.kind == Kind::DataRace));
        assert_eq!(run.seed_at(0), None);
    }

    #[test]
    fn many_seeds_fixture_runs() {
        let run = parse(COUNTER_SEEDS);
        assert!(run.one_seed_at_a_time);
        assert_eq!(run.reports.iter().map(|r| r.seed).collect::<Vec<_>>(), vec![Some(0), Some(1), Some(2)]);
        assert_eq!(run.seeds_failed, Some((3, 3)));
        // Different seeds, different interleavings: which access came first varies.
        let sigs: Vec<String> = run.reports.iter().map(|r| r.signature(&none)).collect();
        assert!(sigs.iter().all(|s| s == &sigs[0]));
        assert_eq!(run.reports[0].race.as_ref().unwrap().current.operation, "non-atomic read");
        assert_eq!(run.reports[1].race.as_ref().unwrap().current.operation, "non-atomic write");
        // Oracle violations under many-seeds: result lines attributed through seed_at.
        let run = parse(BANK_SEEDS);
        assert!(run.reports.is_empty());
        assert!(run.one_seed_at_a_time);
        assert!(run.failing_seeds.is_empty());
        let seeds: Vec<Option<u64>> =
            BANK_SEEDS.match_indices("RACE-HUNT-RESULT").map(|(i, _)| run.seed_at(i)).collect();
        assert_eq!(seeds, (0..6).map(Some).collect::<Vec<_>>());
    }

    #[test]
    fn libtest_and_nextest_output() {
        // libtest prints "test name ... " without a newline: the header is glued after it.
        let r = one(LIBTEST);
        assert!(LIBTEST.contains("test tests::unsynchronized_counter ... error: Undefined Behavior"));
        assert!(r.raw.starts_with("error: Undefined Behavior"));
        // Thread names are cut to 15 bytes, as pthread names are.
        assert_eq!(
            accesses(&r),
            [
                acc("non-atomic write", "tests::unsynchr", "src/lib.rs:44:18"),
                acc("non-atomic read", "unnamed-6", "src/lib.rs:43:48"),
            ]
        );
        assert_eq!(at(r.spawned_at.as_ref()), "src/lib.rs:43:17");
        // nextest indents the test's stderr by four spaces.
        let n = one(NEXTEST);
        assert_eq!(accesses(&n)[0], acc("non-atomic write", "tests::unsynchr", "src/lib.rs:44:18"));
        assert_eq!(at(n.spawned_at.as_ref()), "src/lib.rs:43:17");
        assert!(!n.truncated);
        assert_eq!(n.signature(&none), r.signature(&none));
    }

    #[test]
    fn other_kinds_of_undefined_behavior() {
        for (input, kind, own) in [
            (UAF, Kind::UseAfterFree, "src/bin/use_after_free.rs:6:29"),
            (UAF_THREAD, Kind::UseAfterFree, "src/bin/uaf_cross_thread.rs:11:18"),
            (STACK_LOCAL, Kind::UseAfterFree, "src/bin/dangling_stack.rs:9:29"),
            (NO_PROVENANCE, Kind::DanglingPointer, "src/bin/int_addr.rs:6:44"),
            (UNINIT, Kind::UninitRead, "src/bin/uninit_read.rs:6:22"),
            (OUT_OF_BOUNDS, Kind::InvalidMemoryAccess, "src/bin/out_of_bounds.rs:5:22"),
            (ALIASING, Kind::Aliasing, "src/bin/aliasing.rs:7:5"),
        ] {
            let r = one(input);
            assert_eq!(r.kind, kind, "{}", r.headline);
            assert!(r.kind.is_undefined_behavior() && r.kind.is_finding());
            assert!(r.race.is_none());
            assert_eq!(at(r.first_own_location(&none)), own);
            assert!(!r.truncated);
        }
        // "help: alloc257 was allocated here:" and "... deallocated here:" are helps with spans.
        let r = one(UAF_THREAD);
        assert!(r.help.iter().any(|h| h == "alloc257 was deallocated here:"));
        assert_eq!(r.thread.as_deref(), Some("unnamed-1"));
        assert_eq!(at(r.spawned_at.as_ref()), "src/bin/uaf_cross_thread.rs:9:13");
        // The warning before the error is not a report.
        assert!(NO_PROVENANCE.starts_with("warning: integer-to-pointer cast"));
    }

    #[test]
    fn retag_and_mixed_size_races() {
        let r = one(RETAG);
        assert_eq!(
            accesses(&r),
            [
                acc("non-atomic read", "unnamed-1", "src/bin/dealloc_race.rs:11:18"),
                acc("retag write of type `u64`", "main", "src/bin/dealloc_race.rs:17:10"),
            ]
        );
        let m = one(MIXED_SIZE);
        assert_eq!(m.kind, Kind::DataRace);
        let race = m.race.as_ref().unwrap();
        assert!(!race.non_atomic);
        assert_eq!(race.address.as_deref(), Some("alloc1"));
        assert_eq!(
            accesses(&m),
            [
                acc("2-byte atomic load", "main", "src/bin/mixed_atomic.rs:10:13"),
                acc("4-byte atomic store", "unnamed-1", "src/bin/mixed_atomic.rs:7:30"),
            ]
        );
    }

    #[test]
    fn deadlocks_and_aborts_are_findings() {
        let run = parse(DEADLOCK);
        assert_eq!(run.reports.len(), 2, "one report per blocked thread");
        assert!(run.reports.iter().all(|r| r.kind == Kind::Deadlock && r.kind.is_finding()));
        // Both threads are stuck inside std; the own locations come from the backtraces.
        let main = &run.reports[0];
        assert_eq!(main.thread.as_deref(), Some("main"));
        assert!(main.location.as_ref().unwrap().file.ends_with("library/std/src/sys/thread/unix.rs"));
        assert_eq!(at(main.first_own_location(&none)), "src/bin/deadlock_join.rs:18:5");
        assert_eq!(main.backtrace.last().unwrap().function, "main");
        let worker = &run.reports[1];
        assert_eq!(worker.thread.as_deref(), Some("unnamed-1"));
        assert_eq!(at(worker.first_own_location(&none)), "src/bin/deadlock_join.rs:10:19");
        assert_eq!(at(worker.spawned_at.as_ref()), "src/bin/deadlock_join.rs:9:13");
        let r = one(RELOCK);
        assert_eq!(r.kind, Kind::Deadlock);
        assert_eq!(r.thread, None);
        assert_eq!(at(r.first_own_location(&none)), "src/bin/relock.rs:7:14");
        let a = one(ABORT);
        assert_eq!(a.kind, Kind::Abort);
        assert!(a.kind.is_finding() && !a.kind.is_undefined_behavior());
        assert_eq!(a.headline, "abnormal termination: the program aborted execution");
        assert_eq!(at(a.location.as_ref()), "src/bin/abort.rs:3:5");
    }

    #[test]
    fn leaks_and_interpreter_limits_are_not_findings() {
        let leak = one(LEAK);
        assert_eq!(leak.kind, Kind::Leak);
        assert_eq!(leak.headline, "memory leaked: alloc258 (Rust heap, size: 16, align: 8), allocated here:");
        assert_eq!(at(leak.location.as_ref()), "src/bin/leak.rs:7:13");
        let threads = one(THREAD_LEAK);
        assert_eq!(threads.kind, Kind::ThreadLeak);
        assert_eq!(threads.location, None);
        assert_eq!(
            threads.signature(&none),
            "thread-leak|the main thread terminated without waiting for all remaining threads"
        );
        let ffi = one(UNSUPPORTED_FFI);
        assert_eq!(ffi.kind, Kind::Unsupported);
        assert!(ffi.headline.contains("can't call foreign function `race_hunt_no_such_function`"));
        let iso = one(UNSUPPORTED_ISOLATION);
        assert_eq!(iso.kind, Kind::Unsupported);
        assert!(iso.help[0].starts_with("set `MIRIFLAGS=-Zmiri-disable-isolation`"));
        assert_eq!(iso.backtrace.len(), 14);
        assert_eq!(at(iso.first_own_location(&none)), "src/bin/unsupported_fs.rs:3:16");
        for input in [LEAK, THREAD_LEAK, UNSUPPORTED_FFI, UNSUPPORTED_ISOLATION] {
            let run = parse(input);
            assert_eq!(run.findings().count(), 0);
            assert!(run.reports.iter().all(|r| !r.kind.is_finding() && !r.kind.is_undefined_behavior()));
        }
    }

    #[test]
    fn truncated_report() {
        let r = one(TRUNCATED);
        assert!(r.truncated);
        assert_eq!(r.kind, Kind::DataRace);
        let full = one(COUNTER);
        assert_eq!(accesses(&r), accesses(&full));
        // The cut fell inside frame 3's location: frames 0 to 3 are kept, 3 without location.
        assert_eq!(r.backtrace.len(), 4);
        assert_eq!(r.backtrace[3].location, None);
        assert_eq!(r.backtrace[..3], full.backtrace[..3]);
        assert_eq!(r.spawned_at, None);
        assert_eq!(r.signature(&none), full.signature(&none));
        assert!(TRUNCATED.ends_with(&r.raw));
    }

    #[test]
    fn a_report_cut_by_the_next_one() {
        let cut = TRUNCATED.split_once("error: Undefined").unwrap().1;
        let input = format!("error: Undefined{cut}\n{UAF}");
        let run = parse(&input);
        assert_eq!(run.reports.len(), 2);
        assert!(run.reports[0].truncated);
        assert!(!run.reports[1].truncated);
        assert_eq!(run.reports[1], one(UAF));
    }

    #[test]
    fn older_data_race_headlines() {
        // 2023-24: ". (2) just happened here" at the end of the headline.
        let r = one(
            "error: Undefined Behavior: Data race detected between (1) Write on thread `<unnamed>` and (2) Read on thread `<unnamed>` at alloc1+0x10. (2) just happened here\n  --> src/main.rs:9:5\n   |\n9  |     x\n\n",
        );
        assert_eq!(accesses(&r), [acc("Write", "<unnamed>", "-"), acc("Read", "<unnamed>", "src/main.rs:9:5")]);
        assert_eq!(r.race.unwrap().address.as_deref(), Some("alloc1+0x10"));
        // 2021-22: no numbers, the current access first, vector clocks at the end.
        let r = one(
            "error: Undefined Behavior: Data race detected between Read on Thread(id = 2) and Write on Thread(id = 1, name = \"main\") at alloc1 (current vector clock = VClock([9, 0, 3]), conflicting timestamp = VClock([0, 6]))\n",
        );
        assert_eq!(r.kind, Kind::DataRace);
        assert!(r.race.is_none(), "thread names without backticks are not read");
        let r = one(
            "error: Undefined Behavior: Data race detected between Read on thread `<unnamed>` and Write on thread `main` at alloc1+0x4 (current vector clock = VClock([9, 0, 3]), conflicting timestamp = VClock([0, 6]))\n  --> src/main.rs:3:4\n",
        );
        assert_eq!(accesses(&r), [acc("Write", "main", "-"), acc("Read", "<unnamed>", "src/main.rs:3:4")]);
        assert_eq!(r.race.unwrap().address.as_deref(), Some("alloc1+0x4"));
        assert!(r.truncated);
    }

    #[test]
    fn headers_inside_snippets_and_compiler_errors_are_not_reports() {
        let snippet = "warning: unused\n  --> src/main.rs:2:5\n   |\n2  |     println!(\"error: Undefined Behavior: nope\");\n   |\n";
        assert!(parse(snippet).reports.is_empty());
        assert!(parse("error[E0308]: mismatched types\n --> src/main.rs:1:1\n").reports.is_empty());
        assert!(parse("error: aborting due to 1 previous error\n").reports.is_empty());
        assert!(parse("error: could not compile `x` (bin \"x\") due to 1 previous error\n").reports.is_empty());
        assert!(parse("   = note: error: Undefined Behavior: quoted\n").reports.is_empty());
        // A deadlock header must be the whole rest of the line.
        assert!(parse("error: the evaluated program deadlocked twice over\n").reports.is_empty());
        assert_eq!(parse("error: the evaluated program deadlocked  \r\n").reports.len(), 1);
    }

    #[test]
    fn undefined_behavior_messages_are_classified() {
        for (message, kind) in [
            ("using uninitialized data, but this operation requires initialized memory", Kind::UninitRead),
            (
                "constructing invalid value at .0: encountered uninitialized memory, but expected an integer",
                Kind::UninitRead,
            ),
            ("memory access failed: alloc7 has been freed, so this pointer is dangling", Kind::UseAfterFree),
            ("memory access failed: null pointer is a dangling pointer (it has no provenance)", Kind::DanglingPointer),
            (
                "accessing memory based on pointer with alignment 1, but alignment 4 is required",
                Kind::InvalidMemoryAccess,
            ),
            ("in-bounds pointer arithmetic failed: attempting to offset pointer by 8 bytes", Kind::InvalidMemoryAccess),
            ("read access through <12> at alloc4[0x0] is forbidden", Kind::Aliasing),
            ("constructing invalid value: encountered 0x02, but expected a boolean", Kind::InvalidValue),
            (
                "calling a function with calling convention \"C\" using caller calling convention \"Rust\"",
                Kind::UndefinedBehavior,
            ),
        ] {
            let r = one(&format!("error: Undefined Behavior: {message}\n"));
            assert_eq!(r.kind, kind, "{message}");
        }
    }

    #[test]
    fn seed_markers() {
        let run = parse("Trying seed: 7\nchatter FAILING SEED: 7\né2/9 SEEDS FAILED\n");
        assert_eq!((run.failing_seeds, run.seeds_failed), (vec![7], Some((2, 9))));
        assert!(run.one_seed_at_a_time);
        for odd in ["é SEEDS FAILED", "/ SEEDS FAILED", "1/ SEEDS FAILED", "Trying seed: x", "FAILING SEED: -1"] {
            let run = parse(odd);
            assert!(run.seeds.is_empty() && run.failing_seeds.is_empty() && run.seeds_failed.is_none(), "{odd}");
        }
        // A failing seed that was never tried, or tried out of order: no attribution.
        assert!(!parse("FAILING SEED: 1\n").one_seed_at_a_time);
        assert!(!parse("Trying seed: 1\nTrying seed: 0\n").one_seed_at_a_time);
        assert!(!parse("Trying seed: 0\nTrying seed: 1\nFAILING SEED: 0\n").one_seed_at_a_time);
    }

    #[test]
    fn redaction_and_locations() {
        assert_eq!(redact_ids("tag <16100> at alloc3981+0x10 in alloc"), "tag <?> at alloc?+0x? in alloc");
        assert_eq!(redact_ids("ünïcode <x> 0x"), "ünïcode <x> 0x");
        assert_eq!(
            parse_span("C:\\work\\src\\lib.rs:3:4: 3:9"),
            Some(Location { file: "C:\\work\\src\\lib.rs".into(), line: 3, column: 4 })
        );
        assert_eq!(parse_span("/a b/c.rs:1:2"), Some(Location { file: "/a b/c.rs".into(), line: 1, column: 2 }));
        assert_eq!(parse_location("src/lib.rs:3"), None);
        assert_eq!(parse_location(":3:4"), None);
        assert_eq!(parse_location("src/lib.rs:99999999999:4"), None);
        assert!(is_toolchain_path("library/std/src/thread/mod.rs"));
        assert!(!is_toolchain_path("fixtures/cache/src/lib.rs"));
    }

    #[test]
    fn crlf_input() {
        for input in [COUNTER, CACHE, SEEDS_KEEP_GOING, DEADLOCK, NEXTEST, TRUNCATED] {
            let a = parse(input);
            let b = parse(&input.replace('\n', "\r\n"));
            assert_eq!(strip(a.reports), strip(b.reports));
            assert_eq!(a.failing_seeds, b.failing_seeds);
            assert_eq!(a.one_seed_at_a_time, b.one_seed_at_a_time);
        }
    }

    #[test]
    fn every_capture_has_one_report_per_header() {
        for input in ALL {
            let run = parse(input);
            assert_eq!(run.reports.len(), header_count(input));
            for r in &run.reports {
                assert!(input.contains(&r.raw));
                assert!(r.raw.starts_with("error: "));
                assert!(!r.truncated || std::ptr::eq(input, TRUNCATED));
            }
        }
    }

    // ----- property tests -------------------------------------------------------------------

    fn strip(rs: Vec<MiriReport>) -> Vec<MiriReport> {
        rs.into_iter()
            .map(|mut r| {
                r.raw.clear();
                r
            })
            .collect()
    }

    fn without_seeds(rs: Vec<MiriReport>) -> Vec<MiriReport> {
        strip(rs)
            .into_iter()
            .map(|mut r| {
                r.seed = None;
                r
            })
            .collect()
    }

    /// Lines of the grammar, mangled lines and arbitrary text.
    fn fragment() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("error: Undefined Behavior: Data race detected between (1) non-atomic write on thread `a` and (2) non-atomic read on thread `b` at alloc1".to_string()),
            Just("error: Undefined Behavior: Data race detected between (1)  on thread `` and (2)  on thread ``".to_string()),
            Just("error: memory leaked: alloc1 (Rust heap, size: 1, align: 1), allocated here:".to_string()),
            Just("error: the evaluated program deadlocked".to_string()),
            Just("  --> src/lib.rs:1:2".to_string()),
            Just("help: and (1) occurred earlier here".to_string()),
            Just("note: the current function got called indirectly due to this code".to_string()),
            Just("   = note: stack backtrace:".to_string()),
            Just("           0: f".to_string()),
            Just("               at src/lib.rs:1:2: 1:3".to_string()),
            Just("   = note: this is on thread `main`".to_string()),
            Just("Trying seed: 4".to_string()),
            Just("FAILING SEED: 4".to_string()),
            Just("1/2 SEEDS FAILED".to_string()),
            Just("é/ SEEDS FAILED".to_string()),
            Just(String::new()),
            "[ :=|()`<>0-9a-zA-Z+./-]{0,40}",
            ".{0,40}",
            any::<String>(),
        ]
    }

    /// Whole lines that are not part of Miri's grammar and never blank.
    fn clean_noise_line() -> impl Strategy<Value = String> {
        "[a-z][a-z0-9 ,.;!?-]{0,50}"
    }

    fn real() -> impl Strategy<Value = &'static str> {
        prop::sample::select(ALL.to_vec())
    }

    /// Real captures whose seeds (if any) ran one at a time.
    fn real_sequential() -> impl Strategy<Value = &'static str> {
        prop::sample::select(ALL.iter().copied().filter(|s| !std::ptr::eq(*s, SEEDS_PARALLEL)).collect::<Vec<_>>())
    }

    fn interleave(base: &[&str], noise: &[String], picks: &[prop::sample::Index]) -> String {
        let mut lines: Vec<String> = base.iter().map(|s| s.to_string()).collect();
        for (n, ix) in noise.iter().zip(picks) {
            let at = ix.index(lines.len() + 1);
            lines.insert(at, n.clone());
        }
        lines.join("\n")
    }

    fn exercise(run: &MiriRun, input: &str) {
        for r in &run.reports {
            let _ = r.signature(&none);
            let _ = r.first_own_location(&facade);
            assert!(input.contains(&r.raw));
        }
        for s in &run.seeds {
            assert!(s.start <= s.end && s.end <= input.len());
            let _ = run.seed_at(s.start);
        }
    }

    proptest! {
        // Default 256 cases per property (PROPTEST_CASES overrides).

        #[test]
        fn never_panics_on_arbitrary_strings(s in any::<String>()) {
            exercise(&parse(&s), &s);
        }

        #[test]
        fn never_panics_on_arbitrary_text_around_markers_and_headers(
            before in any::<String>(),
            marker in prop::sample::select(vec![
                "Trying seed: ", "FAILING SEED: ", " SEEDS FAILED", "/", "error: Undefined Behavior: ",
                "error: the evaluated program deadlocked", "--> ", "at ", "0: ", "help: ", "note: ", "= note: ",
            ]),
            after in any::<String>(),
        ) {
            let s = format!("{before}{marker}{after}");
            exercise(&parse(&s), &s);
            let s = format!("error: Undefined Behavior: x\n{before}{marker}{after}\n");
            exercise(&parse(&s), &s);
        }

        #[test]
        fn never_panics_on_grammar_fragments(frags in prop::collection::vec(fragment(), 0..60), crlf in any::<bool>()) {
            let s = frags.join(if crlf { "\r\n" } else { "\n" });
            let run = parse(&s);
            exercise(&run, &s);
            prop_assert_eq!(run.reports.len(), s.split('\n').filter(|l| find_header(l.trim_end_matches('\r')).is_some()).count());
        }

        #[test]
        fn never_panics_on_splices_of_real_outputs(
            a in real(),
            b in real(),
            cut_a in any::<prop::sample::Index>(),
            cut_b in any::<prop::sample::Index>(),
            noise in prop::collection::vec(any::<String>(), 0..20),
            picks in prop::collection::vec(any::<prop::sample::Index>(), 20),
        ) {
            // The head of one capture glued to the tail of another, cut anywhere (also inside a
            // multi-byte character's line), with arbitrary lines inserted.
            let mut i = cut_a.index(a.len() + 1);
            while !a.is_char_boundary(i) { i -= 1; }
            let mut j = cut_b.index(b.len() + 1);
            while !b.is_char_boundary(j) { j -= 1; }
            let spliced = format!("{}{}", &a[..i], &b[j..]);
            exercise(&parse(&spliced), &spliced);
            let base: Vec<&str> = spliced.lines().collect();
            let noisy = interleave(&base, &noise, &picks);
            exercise(&parse(&noisy), &noisy);
        }

        #[test]
        fn cut_real_outputs_are_prefixes_or_truncated(input in real(), cut in any::<prop::sample::Index>()) {
            let mut at = cut.index(input.len() + 1);
            while !input.is_char_boundary(at) { at -= 1; }
            let full = parse(input);
            let part = parse(&input[..at]);
            // A report is seen once its header is complete.
            let started = full.reports.iter().filter(|r| {
                let start = input.find(&r.raw).unwrap();
                let header = HEADERS.iter().find(|(h, _)| r.raw.starts_with(h)).unwrap().0;
                start + header.len() <= at
            }).count();
            prop_assert_eq!(part.reports.len(), started);
            for (p, f) in part.reports.iter().zip(&full.reports) {
                let end = input.find(&f.raw).unwrap() + f.raw.len();
                if end < at && !p.truncated {
                    prop_assert_eq!(&without_seeds(vec![p.clone()]), &without_seeds(vec![f.clone()]));
                    prop_assert_eq!(&p.raw, &f.raw);
                } else {
                    prop_assert!(f.raw.starts_with(&p.raw));
                    if p.raw.contains('\n') {
                        // The header line is complete: so is the classification.
                        prop_assert_eq!(p.kind, f.kind);
                    }
                }
                // A seed is never given that the whole output would not give.
                if let Some(seed) = p.seed {
                    prop_assert_eq!(f.seed, Some(seed));
                }
            }
        }

        #[test]
        fn never_invents_a_report(s in any::<String>(), lines in prop::collection::vec(fragment(), 0..40)) {
            let no_header = |t: &str| !HEADERS.iter().any(|(h, _)| t.contains(h.trim_end()));
            if no_header(&s) {
                prop_assert!(parse(&s).reports.is_empty());
            }
            let s2 = lines.join("\n");
            if no_header(&s2) {
                prop_assert!(parse(&s2).reports.is_empty());
            }
            // Every real capture with its headers defused, plus the fragments.
            for input in ALL {
                let defused = input.replace("error: ", "error - ") + &s2.replace("error: ", "");
                prop_assert!(parse(&defused).reports.is_empty());
            }
            // Random text never yields a seed for a report it does not hold.
            prop_assert!(parse(&s2).reports.iter().all(|r| r.seed.is_none() || s2.contains("FAILING SEED: ")));
        }

        #[test]
        fn one_report_per_header_with_arbitrary_lines(
            inputs in prop::collection::vec(real(), 1..4),
            noise in prop::collection::vec(any::<String>(), 0..40),
            picks in prop::collection::vec(any::<prop::sample::Index>(), 40),
        ) {
            let noise: Vec<String> = noise.into_iter().map(|n| n.replace("error: ", "")).collect();
            let joined = inputs.join("");
            let base: Vec<&str> = joined.lines().collect();
            let s = interleave(&base, &noise, &picks);
            let expected = s.split('\n').filter(|l| find_header(l.trim_end_matches('\r')).is_some()).count();
            prop_assert_eq!(parse(&s).reports.len(), expected);
        }

        #[test]
        fn clean_noise_does_not_change_the_parse(
            inputs in prop::collection::vec(real_sequential(), 1..3),
            noise in prop::collection::vec(clean_noise_line(), 0..40),
            picks in prop::collection::vec(any::<prop::sample::Index>(), 40),
        ) {
            let joined = inputs.join("");
            let base: Vec<&str> = joined.lines().collect();
            let s = interleave(&base, &noise, &picks);
            let noisy = parse(&s);
            let clean = parse(&joined);
            let sigs = |run: &MiriRun| run.reports.iter().map(|r| r.signature(&none)).collect::<Vec<_>>();
            prop_assert_eq!(sigs(&noisy), sigs(&clean));
            prop_assert_eq!(&noisy.failing_seeds, &clean.failing_seeds);
            prop_assert_eq!(strip(noisy.reports), strip(clean.reports));
        }
    }
}
