//! Parser for ThreadSanitizer reports printed (on stderr) by Rust programs built with
//! `-Zsanitizer=thread`.
//!
//! A report as TSan prints it:
//!
//! ```text
//! ==================
//! WARNING: ThreadSanitizer: data race (pid=4855)
//!   Write of size 8 at 0x5605908708d0 by thread T2:
//!     #0 core::ptr::write_volatile::<u64> /…/library/core/src/ptr/mod.rs:2194:9 (global_race+0xefc60) (BuildId: 2397…)
//!     #1 global_race::bump /tmp/tsan-samples/src/bin/global_race.rs:14:9 (global_race+0xefc60)
//!     …
//!
//!   Previous write of size 8 at 0x5605908708d0 by thread T1 (mutexes: write M0):
//!     #0 …
//!
//!   Location is global 'global_race::COUNT' of size 8 at 0x5605908708d0 (global_race+0x10b58d0)
//!
//!   Thread T2 (tid=4858, running) created by main thread at:
//!     #0 pthread_create …
//!
//! SUMMARY: ThreadSanitizer: data race /…/core/src/ptr/mod.rs:2194:9 in core::ptr::write_volatile::<u64>
//! ==================
//! ```
//!
//! The parser is line based and forgiving: a report starts at any line containing
//! `WARNING: ThreadSanitizer:` (also in the middle of a line, as happens when another thread
//! printed a partial line just before) and ends at the closing `==================` line, at the
//! next report header (the report is then marked truncated) or at the end of input (truncated).
//! Inside a report, lines that do not fit the grammar (output of other threads, stray blank
//! lines, partial lines) are skipped. Stack frames are only appended to a stack when their
//! number is the next one expected (`#0`, `#1`, …), so stray frame-like lines cannot corrupt a
//! stack. CRLF line ends are accepted. The parser never panics.
//!
//! Only std is used.

const HEADER: &str = "WARNING: ThreadSanitizer:";
const RULE: &str = "==================";

/// One ThreadSanitizer report ("WARNING: ThreadSanitizer: <kind> ..." up to the closing
/// "==================" line, or to end of input when truncated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TsanReport {
    /// "data race", "lock-order-inversion (potential deadlock)", "heap-use-after-free", ... as
    /// TSan names it, trimmed (the trailing "(pid=N)" is removed).
    pub kind: String,
    /// The "Write of size 8 at 0x... by thread T1:" / "Previous read of size 8 ... by main
    /// thread:" blocks, in order; empty for kinds without accesses.
    pub accesses: Vec<Access>,
    /// TSan's "Location is ..." description, trimmed, without the leading "Location is " and
    /// without the trailing ':' that introduces an allocation stack, e.g.
    /// "global 'counter::COUNT' of size 8 at 0x... (binary+0x...)" or
    /// "heap block of size 16 at 0x... allocated by thread T1".
    pub location: Option<String>,
    /// True when the input ended (or the next report began) before the closing ===== line.
    pub truncated: bool,
    /// The report's text exactly as in the input: from the start of "WARNING: ThreadSanitizer:"
    /// through the end of the closing "==================" line (its line terminator excluded);
    /// for a truncated report up to the end of input, or up to the end of the last line before
    /// the next report's opening lines. Interleaved foreign lines are part of it.
    pub raw: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    /// "write" | "read" | "atomic write" | "atomic read" | ... lowercase, without "Previous ".
    pub op: String,
    pub size: Option<u32>,
    /// "T1", "main thread", ... as printed (the "thread " before "T1" and a trailing
    /// "(mutexes: ...)" are removed).
    pub thread: String,
    /// The stack, top first.
    pub frames: Vec<Frame>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Demangled function as printed, with a trailing legacy-mangling hash (`::h0123456789abcdef`)
    /// and an LLVM `(.llvm.1234)` suffix removed. "<null>" when TSan does not know it.
    pub function: String,
    /// Path as printed; None for "<null>". For code without line info TSan prints the
    /// compilation unit name here (e.g. "std.6bfd7326edd60a59-cgu.14") and no line.
    pub file: Option<String>,
    pub line: Option<u32>,
    pub column: Option<u32>,
    /// The "(binary+0x...)" part's binary name, only when there is no file.
    pub module: Option<String>,
}

/// Parses every ThreadSanitizer report in `output` (typically a process's stderr, possibly mixed
/// with stdout and other processes' output). Returns one entry per "WARNING: ThreadSanitizer:"
/// header line, in input order.
pub fn parse(output: &str) -> Vec<TsanReport> {
    let lines = split_lines(output);
    let mut reports = Vec::new();
    let mut cur: Option<Builder> = None;

    for (i, line) in lines.iter().enumerate() {
        if let Some(pos) = line.text.find(HEADER) {
            if let Some(b) = cur.take() {
                // The previous report never got its closing line.
                let end = b.last_end;
                reports.push(b.finish(output, end, true));
            }
            let mut b = Builder::new(&line.text[pos + HEADER.len()..]);
            b.start = line.start + pos;
            b.last_end = line.end;
            cur = Some(b);
            continue;
        }
        let closing = match cur.as_ref() {
            Some(_) => is_rule(line.text),
            None => false,
        };
        if closing {
            let b = match cur.take() {
                Some(b) => b,
                None => continue,
            };
            if next_nonblank_is_header(&lines[i + 1..]) {
                // This rule opens the next report: the current one is truncated.
                let end = b.last_end;
                reports.push(b.finish(output, end, true));
            } else {
                reports.push(b.finish(output, line.end, false));
            }
            continue;
        }
        if let Some(b) = cur.as_mut() {
            b.feed(line.text);
            b.last_end = line.end;
        }
    }
    if let Some(b) = cur.take() {
        let end = output.len();
        reports.push(b.finish(output, end, true));
    }
    reports
}

impl Access {
    /// First frame whose file is in the subject's own code: a frame with a file (and a line:
    /// file names without a line are compilation-unit placeholders such as
    /// "std.6bfd7326edd60a59-cgu.14") that is not in the Rust std/core/alloc sources (paths
    /// containing "/rustc/", "/library/std/", "/library/core/", "/library/alloc/",
    /// ".rustup/toolchains", "/rustlib/src/rust/", "/.cargo/registry/", "/.cargo/git/checkouts/"),
    /// not a tsan interceptor, and whose path is not rejected by `is_foreign`.
    pub fn first_own_frame(&self, is_foreign: &dyn Fn(&str) -> bool) -> Option<&Frame> {
        first_own(&self.frames, is_foreign)
    }
}

impl TsanReport {
    /// Deduplication signature: kind + for each access (op, first own frame file:line:col).
    /// Two reports of the same race from different iterations have equal signatures even though
    /// addresses and thread ids differ. The per-access parts are sorted, so the same pair of
    /// accesses reported in the other order ("Read ... / Previous write" vs "Write ... /
    /// Previous read") gives the same signature. When an access has no own frame, the first
    /// frame with a file:line (else the first function name) stands in. For kinds without
    /// accesses (lock-order-inversion, thread leak, mutex misuse, ...) the parts are the first
    /// own frames of the report's stacks, leaving out thread-creation and location stacks when
    /// there are others.
    pub fn signature(&self, is_foreign: &dyn Fn(&str) -> bool) -> String {
        let mut parts: Vec<String> = if !self.accesses.is_empty() {
            self.accesses.iter().map(|a| format!("{}@{}", a.op, frame_key(&a.frames, is_foreign))).collect()
        } else {
            self.stacks_without_accesses().iter().map(|f| frame_key(f, is_foreign)).collect()
        };
        parts.sort();
        let mut sig = self.kind.clone();
        for p in parts {
            sig.push('|');
            sig.push_str(&p);
        }
        sig
    }

    /// The parts of this report's fingerprint (`crate::fingerprint`): the
    /// kind, then per access its operation, the function that made it and
    /// that function's file (machine-independent, without line), sorted so
    /// that either order of the two accesses gives the same parts; for kinds
    /// without accesses the same for the first own frame of each stack the
    /// signature uses. Unlike [`TsanReport::signature`], no line or column
    /// takes part: an edit above the racing line keeps the fingerprint.
    pub fn fingerprint_parts(&self, is_foreign: &dyn Fn(&str) -> bool) -> Vec<String> {
        let mut parts: Vec<String> = if !self.accesses.is_empty() {
            self.accesses.iter().map(|a| format!("{} {}", a.op, frame_identity(&a.frames, is_foreign))).collect()
        } else {
            self.stacks_without_accesses().iter().map(|f| frame_identity(f, is_foreign)).collect()
        };
        parts.sort();
        parts.insert(0, self.kind.clone());
        parts
    }

    /// The stacks of a report without accesses (lock-order-inversion,
    /// thread leak, ...), thread-creation and location stacks left out when
    /// there are others.
    fn stacks_without_accesses(&self) -> Vec<Vec<Frame>> {
        let mut b = Builder::new("");
        for line in split_lines(&self.raw).iter().skip(1) {
            b.feed(line.text);
        }
        let preferred: Vec<Vec<Frame>> = b
            .stacks
            .iter()
            .filter(|s| s.kind == StackKind::Other && !s.frames.is_empty())
            .map(|s| s.frames.clone())
            .collect();
        if preferred.is_empty() {
            b.stacks.into_iter().filter(|s| !s.frames.is_empty()).map(|s| s.frames).collect()
        } else {
            preferred
        }
    }
}

/// The function that made an access and its file: the first own frame's
/// function (prefixed by the next own frame's when it is a bare closure,
/// as inlined frames of a line-tables-only build print `{closure#1}` for
/// `incr::{closure#1}`), then its file made machine-independent. Falls back
/// like [`frame_key`]: the first frame with a file, else the first named one.
fn frame_identity(frames: &[Frame], is_foreign: &dyn Fn(&str) -> bool) -> String {
    let own: Vec<&Frame> = frames
        .iter()
        .filter(|f| match &f.file {
            Some(file) => f.line.is_some() && !is_toolchain_path(file) && !is_interceptor(f) && !is_foreign(file),
            None => false,
        })
        .collect();
    let chosen: Option<(String, &Frame)> = match own.first() {
        Some(first) if first.function.starts_with('{') => {
            let outer = own.iter().skip(1).find(|f| !f.function.starts_with('{') && f.function != "<null>");
            Some((outer.map_or(first.function.clone(), |o| format!("{}::{}", o.function, first.function)), first))
        }
        Some(first) => Some((first.function.clone(), first)),
        None => frames
            .iter()
            .find(|f| f.file.is_some() && f.line.is_some() && !is_interceptor(f))
            .map(|f| (f.function.clone(), f)),
    };
    match chosen {
        Some((function, f)) => {
            format!("{function} ({})", crate::fingerprint::portable_path(f.file.as_deref().unwrap_or("?")))
        }
        None => frames
            .iter()
            .find(|f| !f.function.is_empty() && f.function != "<null>")
            .map_or_else(|| "?".to_string(), |f| f.function.clone()),
    }
}

// ---------------------------------------------------------------------------------------------
// Internals
// ---------------------------------------------------------------------------------------------

struct Line<'a> {
    /// The line without its terminator ("\n" or "\r\n").
    text: &'a str,
    /// Byte offset of the line's start in the input.
    start: usize,
    /// Byte offset of the end of `text` in the input.
    end: usize,
}

fn split_lines(input: &str) -> Vec<Line<'_>> {
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
        out.push(Line { text, start, end: start + text.len() });
        start = next;
    }
    out
}

/// The closing (or opening) "==================" line. Another thread's partial line may stand
/// before it ("chatter line ==================") but a longer run of '=' is someone's banner.
fn is_rule(text: &str) -> bool {
    let t = text.trim_end();
    match t.strip_suffix(RULE) {
        Some(before) => !before.ends_with('='),
        None => false,
    }
}

fn next_nonblank_is_header(lines: &[Line<'_>]) -> bool {
    lines.iter().find(|l| !l.text.trim().is_empty()).is_some_and(|l| l.text.contains(HEADER))
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum StackKind {
    /// "Thread T1 (tid=..., running) created by main thread at:"
    ThreadCreation,
    /// "Location is heap block of size 24 at 0x... allocated by main thread:"
    Location,
    /// "Mutex M1 acquired here while holding mutex M0 in thread T3:", "Mutex M0 (0x...) created at:", ...
    Other,
}

struct Stack {
    kind: StackKind,
    frames: Vec<Frame>,
}

#[derive(Clone, Copy)]
enum Section {
    None,
    Access(usize),
    Stack(usize),
}

struct Builder {
    start: usize,
    last_end: usize,
    kind: String,
    accesses: Vec<Access>,
    location: Option<String>,
    stacks: Vec<Stack>,
    section: Section,
}

impl Builder {
    fn new(after_header: &str) -> Builder {
        Builder {
            start: 0,
            last_end: 0,
            kind: parse_kind(after_header),
            accesses: Vec::new(),
            location: None,
            stacks: Vec::new(),
            section: Section::None,
        }
    }

    fn finish(self, input: &str, end: usize, truncated: bool) -> TsanReport {
        let raw = input.get(self.start..end).unwrap_or("").to_string();
        TsanReport { kind: self.kind, accesses: self.accesses, location: self.location, truncated, raw }
    }

    fn open_stack(&mut self, kind: StackKind) {
        self.stacks.push(Stack { kind, frames: Vec::new() });
        self.section = Section::Stack(self.stacks.len() - 1);
    }

    fn feed(&mut self, text: &str) {
        let t = text.trim();
        if t.is_empty() {
            return;
        }
        if t.starts_with('#') {
            if let Some((n, frame)) = parse_frame(t) {
                let frames = match self.section {
                    Section::Access(i) => self.accesses.get_mut(i).map(|a| &mut a.frames),
                    Section::Stack(i) => self.stacks.get_mut(i).map(|s| &mut s.frames),
                    Section::None => None,
                };
                if let Some(frames) = frames {
                    if usize::try_from(n).is_ok_and(|n| n == frames.len()) {
                        frames.push(frame);
                    }
                }
            }
            return;
        }
        if let Some(a) = parse_access_header(t) {
            self.accesses.push(a);
            self.section = Section::Access(self.accesses.len() - 1);
            return;
        }
        if let Some(rest) = t.strip_prefix("Location is ") {
            if self.location.is_none() {
                let loc = rest.trim();
                let loc = loc.strip_suffix(':').unwrap_or(loc).trim_end();
                self.location = Some(loc.to_string());
            }
            self.open_stack(StackKind::Location);
            return;
        }
        if t.starts_with("SUMMARY: ThreadSanitizer:") {
            self.section = Section::None;
            return;
        }
        if t.starts_with('[') && t.ends_with(']') {
            // "[failed to restore the stack]": the current stack has no frames.
            self.section = Section::None;
            return;
        }
        if is_section_header(text, t) {
            if t.starts_with("Thread ") && t.contains(" created ") {
                self.open_stack(StackKind::ThreadCreation);
            } else if t.ends_with(':') {
                self.open_stack(StackKind::Other);
            } else {
                self.section = Section::None;
            }
        }
        // Anything else is somebody else's output: skipped.
    }
}

/// A TSan line that starts a new block: "Thread T1 ... created by main thread at:",
/// "Mutex M0 (0x...) created at:", "Cycle in lock order graph: ...", "Hint: ..." ...
/// TSan indents these by two spaces and starts them with a capital letter.
fn is_section_header(text: &str, t: &str) -> bool {
    const KNOWN: [&str; 8] = [
        "Thread T",
        "Main thread",
        "Mutex M",
        "Mutex ",
        "Cycle in lock order graph",
        "As if synchronized via sleep",
        "Hint:",
        "Previous ",
    ];
    if KNOWN.iter().any(|k| t.starts_with(k)) {
        return true;
    }
    let indented_two = text.starts_with("  ") && !text.starts_with("   ");
    indented_two && t.ends_with(':') && t.chars().next().is_some_and(|c| c.is_ascii_uppercase())
}

fn parse_kind(after_header: &str) -> String {
    let k = after_header.trim();
    let k = match k.rfind("(pid=") {
        Some(p) => &k[..p],
        None => k,
    };
    k.trim().to_string()
}

/// "Previous atomic write of size 4 at 0x720800000030 by thread T1 (mutexes: write M0):"
fn parse_access_header(t: &str) -> Option<Access> {
    let t = t.strip_suffix(':')?.trim_end();
    let by = t.find(" by ")?;
    let (left, right) = (&t[..by], &t[by + 4..]);
    let at = left.rfind(" at ")?;
    let (op_size, addr) = (&left[..at], left[at + 4..].trim());
    let hex = addr.strip_prefix("0x")?;
    if hex.is_empty() || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let (op_part, size) = match op_size.find(" of size ") {
        Some(p) => {
            let n = op_size[p + 9..].trim();
            (&op_size[..p], Some(n.parse::<u32>().ok()?))
        }
        None => (op_size, None),
    };
    let op_lower = op_part.trim().to_ascii_lowercase();
    let op_lower = op_lower.strip_prefix("previous ").unwrap_or(&op_lower);
    let words: Vec<&str> = op_lower.split_whitespace().collect();
    let valid_words = !words.is_empty()
        && words.len() <= 6
        && words.iter().all(|w| w.chars().all(|c| c.is_ascii_alphabetic() || c == '-'));
    let last = words.last().copied().unwrap_or("");
    if !valid_words || !(last == "read" || last == "write" || op_lower.contains("access")) {
        return None;
    }
    let op = words.join(" ");

    let mut thread = right.trim();
    if let Some(p) = thread.find(" (") {
        thread = thread[..p].trim_end(); // " (mutexes: write M0, read M1)"
    }
    let thread = thread.strip_prefix("thread ").unwrap_or(thread).trim();
    if thread.is_empty() {
        return None;
    }
    Some(Access { op, size, thread: thread.to_string(), frames: Vec::new() })
}

/// "#3 func /path/file.rs:12:5 (binary+0x1234) (BuildId: abcd)" -> (3, Frame)
fn parse_frame(t: &str) -> Option<(u32, Frame)> {
    let rest = t.strip_prefix('#')?;
    let digits_end = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
    if digits_end == 0 {
        return None;
    }
    let n: u32 = rest[..digits_end].parse().ok()?;
    let rest = &rest[digits_end..];
    if !rest.is_empty() && !rest.starts_with(char::is_whitespace) {
        return None;
    }
    let mut rest = rest.trim();
    if rest.is_empty() {
        return None;
    }

    // "(BuildId: 23976da0...)"
    if rest.ends_with(')') {
        if let Some(p) = rest.rfind("(BuildId:") {
            rest = rest[..p].trim_end();
        }
    }
    // "(binary+0x1234)" / "(<unknown module>)"
    let mut module = None;
    if rest.ends_with(')') {
        if let Some(p) = rest.rfind('(') {
            let inner = &rest[p + 1..rest.len() - 1];
            if let Some(q) = inner.rfind("+0x") {
                module = Some(inner[..q].trim().to_string());
                rest = rest[..p].trim_end();
            } else if inner == "<unknown module>" {
                rest = rest[..p].trim_end();
            }
        }
    }
    // A custom stack_trace_format may print the pc first: "0x55d4e8c1f9bd in func file:1:2".
    if let Some(after) = rest.strip_prefix("0x") {
        if let Some(p) = after.find(" in ") {
            if after[..p].chars().all(|c| c.is_ascii_hexdigit()) {
                rest = after[p + 4..].trim_start();
            }
        }
    }

    // Function names may contain spaces ("<&dyn Fn<(), Output = i32> + Sync as FnOnce<()>>::call_once",
    // "do_call::<..> (.llvm.123)") but never " /": an absolute path starts at the first " /".
    // Otherwise the location is the last word ("<null>", a relative path, a cgu name).
    let (function, location) = match rest.find(" /") {
        Some(p) => (&rest[..p], Some(cut_after_line_number(rest[p + 1..].trim()))),
        None => match rest.rfind(char::is_whitespace) {
            Some(p) => (&rest[..p], Some(rest[p..].trim())),
            None => (rest, None),
        },
    };

    let (file, line, column) = match location {
        None | Some("") | Some("<null>") => (None, None, None),
        Some(loc) => split_location(loc),
    };
    let module = if file.is_none() { module } else { None };
    Some((n, Frame { function: clean_function(function), file, line, column, module }))
}

/// "/a b/x.rs:3:4 junk" -> "/a b/x.rs:3:4": a location ends at the first whitespace that follows
/// a ":<line>" (paths may contain spaces; another thread's output may be glued to the line).
fn cut_after_line_number(loc: &str) -> &str {
    for (i, c) in loc.char_indices() {
        if c.is_whitespace() {
            let head = &loc[..i];
            if let Some((_, last)) = head.rsplit_once(':') {
                if parse_num(last).is_some() {
                    return head;
                }
            }
        }
    }
    loc
}

fn parse_num(s: &str) -> Option<u32> {
    if s.is_empty() || !s.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// "path:12:5" | "path:12" | "path"
fn split_location(loc: &str) -> (Option<String>, Option<u32>, Option<u32>) {
    if let Some((a, last)) = loc.rsplit_once(':') {
        if let Some(n1) = parse_num(last) {
            if let Some((b, prev)) = a.rsplit_once(':') {
                if let Some(n0) = parse_num(prev) {
                    if !b.is_empty() {
                        return (Some(b.to_string()), Some(n0), Some(n1));
                    }
                }
            }
            if !a.is_empty() {
                return (Some(a.to_string()), Some(n1), None);
            }
        }
    }
    (Some(loc.to_string()), None, None)
}

fn clean_function(f: &str) -> String {
    let mut f = f.trim();
    // " (.llvm.13621102623137458365)"
    if f.ends_with(')') {
        if let Some(p) = f.rfind(" (.llvm.") {
            f = f[..p].trim_end();
        }
    }
    // "foo.llvm.1234"
    if let Some(p) = f.rfind(".llvm.") {
        let tail = &f[p + 6..];
        if !tail.is_empty() && tail.chars().all(|c| c.is_ascii_digit()) {
            f = &f[..p];
        }
    }
    // legacy mangling hash "::h0123456789abcdef"
    if f.len() > 19 {
        let p = f.len() - 19;
        if f.is_char_boundary(p) {
            let tail = &f[p..];
            if let Some(h) = tail.strip_prefix("::h") {
                if h.chars().all(|c| c.is_ascii_hexdigit()) {
                    f = &f[..p];
                }
            }
        }
    }
    f.to_string()
}

const TOOLCHAIN_MARKERS: [&str; 8] = [
    "/rustc/",
    "/library/std/",
    "/library/core/",
    "/library/alloc/",
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

fn is_interceptor(frame: &Frame) -> bool {
    let f = &frame.function;
    if f.starts_with("__tsan_") || f.starts_with("__interceptor_") || f.starts_with("___interceptor_") {
        return true;
    }
    match &frame.file {
        Some(file) => {
            file.contains("compiler-rt/lib/tsan/")
                || file.contains("compiler-rt/lib/sanitizer_common/")
                || file.contains("/tsan_interceptors")
        }
        None => false,
    }
}

fn first_own<'a>(frames: &'a [Frame], is_foreign: &dyn Fn(&str) -> bool) -> Option<&'a Frame> {
    frames.iter().find(|f| match &f.file {
        Some(file) => f.line.is_some() && !is_toolchain_path(file) && !is_interceptor(f) && !is_foreign(file),
        None => false,
    })
}

fn location_key(f: &Frame) -> String {
    let file = f.file.as_deref().unwrap_or("?");
    match (f.line, f.column) {
        (Some(l), Some(c)) => format!("{file}:{l}:{c}"),
        (Some(l), None) => format!("{file}:{l}"),
        _ => file.to_string(),
    }
}

fn frame_key(frames: &[Frame], is_foreign: &dyn Fn(&str) -> bool) -> String {
    if let Some(f) = first_own(frames, is_foreign) {
        return location_key(f);
    }
    if let Some(f) = frames.iter().find(|f| f.file.is_some() && f.line.is_some() && !is_interceptor(f)) {
        return location_key(f);
    }
    if let Some(f) = frames.iter().find(|f| !f.function.is_empty() && f.function != "<null>") {
        return f.function.clone();
    }
    "?".to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const GLOBAL: &str = include_str!("../../../testdata/tsan/global_static_race.txt");
    const GLOBAL_LTO: &str = include_str!("../../../testdata/tsan/global_static_race_line_tables_only.txt");
    const HEAP: &str = include_str!("../../../testdata/tsan/heap_arc_race.txt");
    const READ_WRITE: &str = include_str!("../../../testdata/tsan/read_write_race.txt");
    const READ_WRITE_OTHER: &str = include_str!("../../../testdata/tsan/read_write_race_other_order.txt");
    const ATOMIC: &str = include_str!("../../../testdata/tsan/atomic_vs_plain_race.txt");
    const LOCK_ORDER: &str = include_str!("../../../testdata/tsan/lock_order_inversion.txt");
    const LOCK_ORDER_2: &str = include_str!("../../../testdata/tsan/lock_order_inversion_second_stack.txt");
    const UAF: &str = include_str!("../../../testdata/tsan/heap_use_after_free.txt");
    const MULTI: &str = include_str!("../../../testdata/tsan/multiple_reports.txt");
    const INTERLEAVED: &str = include_str!("../../../testdata/tsan/interleaved.txt");
    const INTERLEAVED_NATURAL: &str = include_str!("../../../testdata/tsan/interleaved_natural.txt");
    const TRUNCATED: &str = include_str!("../../../testdata/tsan/truncated.txt");
    const MUTEX_HELD: &str = include_str!("../../../testdata/tsan/mutex_held_race.txt");
    const LEGACY: &str = include_str!("../../../testdata/tsan/legacy_mangling_debug.txt");
    const UNSYMBOLIZED: &str = include_str!("../../../testdata/tsan/unsymbolized.txt");

    const ALL: [&str; 16] = [
        GLOBAL,
        GLOBAL_LTO,
        HEAP,
        READ_WRITE,
        READ_WRITE_OTHER,
        ATOMIC,
        LOCK_ORDER,
        LOCK_ORDER_2,
        UAF,
        MULTI,
        INTERLEAVED,
        INTERLEAVED_NATURAL,
        TRUNCATED,
        MUTEX_HELD,
        LEGACY,
        UNSYMBOLIZED,
    ];

    fn none(_: &str) -> bool {
        false
    }

    fn one(input: &str) -> TsanReport {
        let mut r = parse(input);
        assert_eq!(r.len(), 1, "expected exactly one report");
        r.remove(0)
    }

    fn ops(r: &TsanReport) -> Vec<(&str, Option<u32>, &str)> {
        r.accesses.iter().map(|a| (a.op.as_str(), a.size, a.thread.as_str())).collect()
    }

    /// "file:line" of the first own frame, file shortened to what follows "src/".
    fn own(a: &Access) -> String {
        let f = a.first_own_frame(&none).expect("an own frame");
        let file = f.file.as_deref().unwrap();
        let short = file.rsplit_once("/src/").map_or(file, |(_, s)| s);
        format!("{short}:{}", f.line.unwrap())
    }

    fn header_lines(s: &str) -> usize {
        s.lines().filter(|l| l.contains(HEADER)).count()
    }

    #[test]
    fn global_static_race() {
        let r = one(GLOBAL);
        assert_eq!(r.kind, "data race");
        assert!(!r.truncated);
        assert_eq!(ops(&r), vec![("write", Some(8), "T2"), ("write", Some(8), "T1")]);
        for a in &r.accesses {
            assert_eq!(own(a), "bin/global_race.rs:14");
            let f = a.first_own_frame(&none).unwrap();
            assert_eq!(f.function, "global_race::bump");
            assert_eq!(f.column, Some(9));
            assert_eq!(f.file.as_deref(), Some("/tmp/tsan-samples/src/bin/global_race.rs"));
            assert_eq!(f.module, None);
            // #0 is the inlined std function that did the access.
            assert_eq!(a.frames[0].function, "core::ptr::write_volatile::<u64>");
            assert_eq!(a.frames[0].line, Some(2194));
            assert_eq!(a.frames.len(), 14);
        }
        let loc = r.location.as_deref().unwrap();
        assert!(loc.starts_with("global 'global_race::COUNT' of size 8 at 0x"), "{loc}");
        assert!(loc.ends_with("(global_race+0x10b58d0)"), "{loc}");
        assert!(r.raw.starts_with("WARNING: ThreadSanitizer: data race (pid="));
        assert!(r.raw.ends_with("\n=================="));
        assert!(r.raw.contains("SUMMARY: ThreadSanitizer: data race"));
        assert!(GLOBAL.contains(&r.raw));
        assert_eq!(
            r.signature(&none),
            "data race|write@/tmp/tsan-samples/src/bin/global_race.rs:14:9|write@/tmp/tsan-samples/src/bin/global_race.rs:14:9"
        );
    }

    #[test]
    fn line_tables_only_debug_info() {
        // debug = "line-tables-only": inlined frames carry only the short DWARF name
        // ("write_volatile<u64>", "{closure#0}"), non-inlined ones the full path.
        let r = one(GLOBAL_LTO);
        let a = &r.accesses[0];
        assert_eq!(a.frames[0].function, "write_volatile<u64>");
        assert_eq!(a.frames[1].function, "global_race::bump");
        assert_eq!(a.frames[2].function, "{closure#0}");
        assert_eq!(own(a), "bin/global_race.rs:14");
        assert!(r.location.as_deref().unwrap().starts_with("global 'global_race::COUNT' of size 8 at 0x"));
        assert_eq!(r.signature(&none), one(GLOBAL).signature(&none));
    }

    #[test]
    fn frames_with_spaces_cgu_and_null_location() {
        let r = one(GLOBAL);
        let f = &r.accesses[0].frames;
        // "#7 __rust_try global_race.37868857a4c48b39-cgu.0 (global_race+0xf1081)"
        assert_eq!(f[7].function, "__rust_try");
        assert_eq!(f[7].file.as_deref(), Some("global_race.37868857a4c48b39-cgu.0"));
        assert_eq!(f[7].line, None);
        assert_eq!(
            f[12].function,
            "<alloc::boxed::Box<dyn core::ops::function::FnOnce<(), Output = ()> + core::marker::Send> as core::ops::function::FnOnce<()>>::call_once"
        );
        assert_eq!(f[12].line, Some(2275));
        assert_eq!(f[12].column, Some(9));
        // The thread-creation stacks end in "#22 main <null> (global_race+0xf110e)" and contain
        // "(.llvm.NNN)" suffixes; they are not accesses, so parse them directly.
        let (_, main) =
            parse_frame("#22 main <null> (global_race+0xf110e) (BuildId: 23976da0bfda2101b3f7d91bf28d9bd668d0cd53)")
                .unwrap();
        assert_eq!(
            main,
            Frame { function: "main".into(), file: None, line: None, column: None, module: Some("global_race".into()) }
        );
        let line = GLOBAL.lines().find(|l| l.contains("(.llvm.") && l.contains("do_call")).unwrap();
        let (n, f) = parse_frame(line.trim()).unwrap();
        assert_eq!(n, 11);
        assert!(f
            .function
            .starts_with("std::panicking::catch_unwind::do_call::<&dyn core::ops::function::Fn<(), Output = i32>"));
        assert!(f.function.ends_with("RefUnwindSafe, i32>"), "{}", f.function);
        assert_eq!(f.line, Some(581));
        assert_eq!(f.column, Some(40));
    }

    #[test]
    fn heap_arc_race() {
        let r = one(HEAP);
        assert_eq!(r.kind, "data race");
        assert_eq!(ops(&r), vec![("write", Some(8), "T2"), ("write", Some(8), "T1")]);
        assert_eq!(own(&r.accesses[0]), "bin/heap_race.rs:14");
        assert_eq!(own(&r.accesses[1]), "bin/heap_race.rs:14");
        let loc = r.location.as_deref().unwrap();
        assert!(loc.starts_with("heap block of size 24 at 0x"), "{loc}");
        assert!(loc.ends_with(" allocated by main thread"), "{loc}");
        assert!(!r.truncated);
    }

    #[test]
    fn read_write_race_main_thread() {
        let r = one(READ_WRITE);
        assert_eq!(ops(&r), vec![("write", Some(4), "T1"), ("read", Some(4), "main thread")]);
        assert_eq!(own(&r.accesses[0]), "bin/read_write_race.rs:12");
        assert_eq!(own(&r.accesses[1]), "bin/read_write_race.rs:16");
        assert_eq!(r.accesses[1].first_own_frame(&none).unwrap().function, "read_write_race::get_limit");
        assert!(r.location.as_deref().unwrap().starts_with("heap block of size 24 "));
        // Another run of the same program: TSan saw the two accesses in the other order.
        let o = one(READ_WRITE_OTHER);
        assert_eq!(ops(&o), vec![("read", Some(4), "main thread"), ("write", Some(4), "T1")]);
        assert_eq!(own(&o.accesses[0]), "bin/read_write_race.rs:16");
        assert_eq!(r.signature(&none), o.signature(&none));
    }

    #[test]
    fn atomic_vs_plain_race() {
        let r = one(ATOMIC);
        assert_eq!(ops(&r), vec![("read", Some(4), "T2"), ("atomic write", Some(4), "T1")]);
        assert_eq!(own(&r.accesses[0]), "bin/atomic_vs_plain.rs:16");
        // #0 and #1 are core::sync::atomic, the store itself is in publish().
        assert_eq!(own(&r.accesses[1]), "bin/atomic_vs_plain.rs:11");
        assert_eq!(r.accesses[1].frames[0].function, "core::sync::atomic::atomic_store::<u32>");
        assert_eq!(r.accesses[1].frames[1].function, "<core::sync::atomic::Atomic<u32>>::store");
    }

    #[test]
    fn lock_order_inversion() {
        let r = one(LOCK_ORDER);
        assert_eq!(r.kind, "lock-order-inversion (potential deadlock)");
        assert!(r.accesses.is_empty());
        assert_eq!(r.location, None);
        assert!(!r.truncated);
        let sig = r.signature(&none);
        assert!(sig.starts_with("lock-order-inversion (potential deadlock)|"), "{sig}");
        // Both acquisition stacks start in the PMutex::lock wrapper; thread-creation stacks are left out.
        assert_eq!(sig.matches("lock_order.rs:28:18").count(), 2, "{sig}");
        assert!(!sig.contains("lifecycle"), "{sig}");
        // second_deadlock_stack=1 adds the "previously acquired" stacks.
        let r2 = one(LOCK_ORDER_2);
        assert_eq!(r2.kind, "lock-order-inversion (potential deadlock)");
        assert_eq!(r2.signature(&none).matches("lock_order.rs:28:18").count(), 4);
        assert_ne!(r.signature(&none), r2.signature(&none));
    }

    #[test]
    fn heap_use_after_free() {
        let r = one(UAF);
        assert_eq!(r.kind, "heap-use-after-free");
        assert_eq!(ops(&r), vec![("read", Some(8), "T1"), ("write", Some(8), "main thread")]);
        assert_eq!(own(&r.accesses[0]), "bin/use_after_free.rs:9");
        // The free: "#0 free .../tsan_interceptors_posix.cpp" then std's dealloc, then our drop.
        let free = &r.accesses[1];
        assert_eq!(free.frames[0].function, "free");
        assert!(is_interceptor(&free.frames[0]));
        assert_eq!(own(free), "bin/use_after_free.rs:21");
        assert_eq!(r.location, None);
    }

    #[test]
    fn multiple_reports_and_dedup() {
        let rs = parse(MULTI);
        assert_eq!(rs.len(), 4);
        assert_eq!(rs.len(), header_lines(MULTI));
        assert!(rs.iter().all(|r| r.kind == "data race" && !r.truncated));
        let sigs: Vec<String> = rs.iter().map(|r| r.signature(&none)).collect();
        // Three iterations of record_hit (different threads T1..T6), then record_miss.
        assert_eq!(sigs[0], sigs[1]);
        assert_eq!(sigs[1], sigs[2]);
        assert_ne!(sigs[0], sigs[3]);
        assert_ne!(rs[0].raw, rs[1].raw); // thread ids differ
        assert_eq!(own(&rs[0].accesses[0]), "bin/repeated_race.rs:17");
        assert_eq!(own(&rs[3].accesses[0]), "bin/repeated_race.rs:24");
        assert_eq!(rs.iter().map(|r| r.accesses[0].thread.as_str()).collect::<Vec<_>>(), vec!["T2", "T4", "T6", "T8"]);
        let mut dedup = sigs.clone();
        dedup.dedup();
        assert_eq!(dedup.len(), 2);
    }

    #[test]
    fn signature_ignores_access_order() {
        let r = one(READ_WRITE);
        let mut swapped = r.clone();
        swapped.accesses.reverse();
        assert_eq!(r.signature(&none), swapped.signature(&none));
        let other = one(ATOMIC);
        assert_ne!(r.signature(&none), other.signature(&none));
    }

    #[test]
    fn interleaved_by_hand() {
        let r = one(INTERLEAVED);
        assert_eq!(r.kind, "data race");
        assert!(!r.truncated);
        assert_eq!(ops(&r), vec![("write", Some(8), "T4"), ("write", Some(8), "T5")]);
        // All 14 frames survive the chatter, including the one split by a partial line.
        assert_eq!(r.accesses[0].frames.len(), 14);
        assert_eq!(r.accesses[1].frames.len(), 14);
        assert_eq!(own(&r.accesses[0]), "bin/chatty_race.rs:10");
        assert_eq!(own(&r.accesses[1]), "bin/chatty_race.rs:10");
        assert!(r.location.as_deref().unwrap().starts_with("heap block of size 24 at 0x"));
        assert!(r.raw.contains("chatter thread"));
        assert!(!r.accesses.iter().flat_map(|a| &a.frames).any(|f| f.function.contains("chatter")));
        // Frame #5 had "chatter-err thread 1 line " glued into its module part.
        let f5 = &r.accesses[0].frames[5];
        assert!(f5.file.as_deref().unwrap().ends_with("/library/core/src/panic/unwind_safe.rs"));
        assert_eq!((f5.line, f5.column), (Some(275), Some(9)));
    }

    #[test]
    fn interleaved_natural() {
        // Real 2>&1 output: another thread's partial line stands before the opening rule.
        let r = one(INTERLEAVED_NATURAL);
        assert_eq!(r.kind, "data race");
        assert!(!r.truncated);
        assert_eq!(r.accesses.len(), 2);
        assert_eq!(own(&r.accesses[0]), "bin/chatty_race.rs:10");
        assert!(r.raw.starts_with("WARNING: ThreadSanitizer: data race"));
        assert!(r.raw.ends_with("=================="));
        assert!(!r.raw.contains("chatter"));
    }

    #[test]
    fn truncated_report() {
        let r = one(TRUNCATED);
        assert!(r.truncated);
        assert_eq!(r.kind, "data race");
        assert_eq!(ops(&r), vec![("write", Some(8), "T2"), ("write", Some(8), "T1")]);
        assert_eq!(r.accesses[0].frames.len(), 14);
        // The cut fell inside frame #4 of the second stack: #4 is kept, without location.
        assert_eq!(r.accesses[1].frames.len(), 5);
        assert_eq!(r.accesses[1].frames[4].file, None);
        assert_eq!(own(&r.accesses[1]), "bin/heap_race.rs:14");
        assert_eq!(r.location, None);
        assert_eq!(r.raw, TRUNCATED.trim_start_matches("==================\n"));
        // Same race as the complete capture it was cut from.
        assert_eq!(r.signature(&none), one(HEAP).signature(&none));
    }

    #[test]
    fn truncated_then_next_report() {
        // A report cut short (process killed), followed by another process's complete report.
        let input = format!("{TRUNCATED}\n{GLOBAL}");
        let rs = parse(&input);
        assert_eq!(rs.len(), 2);
        assert!(rs[0].truncated);
        assert!(!rs[0].raw.contains("=================="));
        assert!(!rs[1].truncated);
        assert_eq!(rs[1], one(GLOBAL));
    }

    #[test]
    fn mutex_suffix_and_named_threads() {
        let r = one(MUTEX_HELD);
        assert_eq!(ops(&r), vec![("write", Some(8), "T2"), ("write", Some(8), "T1")]);
        assert_eq!(own(&r.accesses[0]), "bin/mutex_held_race.rs:31");
        assert_eq!(own(&r.accesses[1]), "bin/mutex_held_race.rs:25");
        assert!(r.raw.contains("by thread T1 (mutexes: write M0):"));
        assert!(r.raw.contains("Thread T2 'sloppy'"));
        // The "Mutex M0 (0x...) created at:" stack is not an access.
        assert_eq!(r.accesses[1].frames.len(), 14);
    }

    #[test]
    fn legacy_mangling_hashes_are_stripped() {
        let r = one(LEGACY);
        let a = &r.accesses[0];
        assert_eq!(ops(&r)[0], ("read", Some(8), "T2"));
        assert_eq!(a.frames[0].function, "core::ptr::read_volatile");
        assert_eq!(a.frames[1].function, "heap_race::deposit");
        // llvm-symbolizer leaves legacy escapes in place.
        assert_eq!(a.frames[2].function, "heap_race::main::_$u7b$$u7b$closure$u7d$$u7d$");
        assert_eq!(own(a), "bin/heap_race.rs:14");
        assert_eq!(a.first_own_frame(&none).unwrap().column, Some(37));
        assert!(!r.accesses.iter().flat_map(|a| &a.frames).any(|f| {
            let n = f.function.len();
            n > 19 && f.function.is_char_boundary(n - 19) && f.function[n - 19..].starts_with("::h")
        }));
    }

    #[test]
    fn unsymbolized_frames() {
        let r = one(UNSYMBOLIZED);
        assert_eq!(ops(&r), vec![("write", Some(8), "T2"), ("write", Some(8), "T1")]);
        let f = &r.accesses[0].frames[0];
        assert_eq!(f.function, "<null>");
        assert_eq!(f.file, None);
        assert_eq!(f.module.as_deref(), Some("global_race"));
        assert!(r.accesses[0].first_own_frame(&none).is_none());
        // Without files the signature falls back to function names ("<null>" is skipped) or "?".
        assert_eq!(r.signature(&none), "data race|write@?|write@?");
        // Without a symbolizer TSan cannot name the global and prints no "Location is" line.
        assert_eq!(r.location, None);
    }

    #[test]
    fn is_foreign_filter() {
        let r = one(GLOBAL);
        let reject = |p: &str| p.ends_with("global_race.rs");
        assert!(r.accesses[0].first_own_frame(&reject).is_none());
        // A foreign frame above the own frame is skipped.
        let text = "WARNING: ThreadSanitizer: data race (pid=1)\n  Write of size 8 at 0x10 by thread T1:\n    #0 core::ptr::write::<u8> /rustc/abc/library/core/src/ptr/mod.rs:1:1 (x+0x1)\n    #1 facade::Cell::set /work/main/fixtures/facade/src/lib.rs:40:9 (x+0x2)\n    #2 counter::incr /work/main/fixtures/counter/src/lib.rs:12:5 (x+0x3)\n==================\n";
        let r = one(text);
        let a = &r.accesses[0];
        assert_eq!(a.first_own_frame(&none).unwrap().function, "facade::Cell::set");
        let facade = |p: &str| p.contains("/fixtures/facade/");
        let f = a.first_own_frame(&facade).unwrap();
        assert_eq!(f.function, "counter::incr");
        assert_eq!((f.line, f.column), (Some(12), Some(5)));
        assert_eq!(r.signature(&facade), "data race|write@/work/main/fixtures/counter/src/lib.rs:12:5");
    }

    #[test]
    fn crlf_input() {
        for input in [GLOBAL, MULTI, LOCK_ORDER, TRUNCATED, INTERLEAVED] {
            let crlf = input.replace('\n', "\r\n");
            let a = parse(input);
            let b = parse(&crlf);
            assert_eq!(a.len(), b.len());
            for (x, y) in a.iter().zip(&b) {
                assert_eq!(x.kind, y.kind);
                assert_eq!(x.accesses, y.accesses);
                assert_eq!(x.location, y.location);
                assert_eq!(x.truncated, y.truncated);
                assert_eq!(x.raw.replace('\r', ""), y.raw.replace('\r', ""));
                assert_eq!(x.signature(&none), y.signature(&none));
            }
        }
    }

    #[test]
    fn no_header_no_report() {
        assert!(parse("").is_empty());
        assert!(parse("hello\n==================\nThreadSanitizer: reported 1 warnings\n").is_empty());
        assert!(parse("SUMMARY: ThreadSanitizer: data race /a.rs:1:1 in f\n").is_empty());
        assert!(parse("FATAL: ThreadSanitizer: unexpected memory mapping 0x7f-0x80\n").is_empty());
        let mut no_warning = GLOBAL.replace(HEADER, "WARNING: ThreadSanitizer ");
        no_warning.push_str("    #0 f /a.rs:1:1 (x+0x1)\n");
        assert!(parse(&no_warning).is_empty());
    }

    #[test]
    fn minimal_and_odd_reports() {
        // Header only, at end of input without newline.
        let r = one("WARNING: ThreadSanitizer: thread leak (pid=42)");
        assert_eq!(r.kind, "thread leak");
        assert!(r.truncated);
        assert!(r.accesses.is_empty());
        // Header glued after another thread's partial line; no pid; "[failed to restore the stack]".
        let text = "abc WARNING: ThreadSanitizer: data race\n  Read of size 1 at 0x7b04 by main thread:\n    #0 a::b /x/src/a.rs:3 (a+0x1)\n\n  Previous atomic read of size 2 at 0x7b04 by thread T9:\n    [failed to restore the stack]\n\n  Thread T9 'w' (tid=3, finished) created by main thread at:\n    #0 pthread_create /rustc/llvm/compiler-rt/lib/tsan/rtl/tsan_interceptors_posix.cpp:1:1 (a+0x2)\n    #1 a::spawn /x/src/a.rs:9:1 (a+0x3)\n==================";
        let r = one(text);
        assert!(r.raw.starts_with("WARNING: ThreadSanitizer: data race\n"));
        assert!(r.raw.ends_with("=================="));
        assert!(!r.truncated);
        assert_eq!(r.kind, "data race");
        assert_eq!(ops(&r), vec![("read", Some(1), "main thread"), ("atomic read", Some(2), "T9")]);
        assert_eq!(r.accesses[0].frames[0].line, Some(3));
        assert_eq!(r.accesses[0].frames[0].column, None);
        assert!(r.accesses[1].frames.is_empty());
        assert!(r.accesses[1].first_own_frame(&none).is_none());
        assert_eq!(r.signature(&none), "data race|atomic read@?|read@/x/src/a.rs:3");
        // Thread leak: the only stack is the thread creation, used for the signature.
        let leak = "WARNING: ThreadSanitizer: thread leak (pid=1)\n  Thread T1 (tid=2, finished) created by main thread at:\n    #0 pthread_create /rustc/llvm/compiler-rt/lib/tsan/rtl/tsan_interceptors_posix.cpp:1:1 (a+0x2)\n    #1 a::spawn /x/src/a.rs:9:1 (a+0x3)\n\nSUMMARY: ThreadSanitizer: thread leak /x/src/a.rs:9:1 in a::spawn\n==================\n";
        assert_eq!(one(leak).signature(&none), "thread leak|/x/src/a.rs:9:1");
    }

    #[test]
    fn frame_shapes() {
        let (n, f) =
            parse_frame("#1 counter::incr::h0123456789abcdef /work/x/src/lib.rs:12:5 (binary+0x1234)").unwrap();
        assert_eq!(n, 1);
        assert_eq!(f.function, "counter::incr");
        assert_eq!(f.file.as_deref(), Some("/work/x/src/lib.rs"));
        assert_eq!((f.line, f.column, f.module), (Some(12), Some(5), None));
        let (_, f) = parse_frame("#1 <null> <null> (libc.so.6+0x29d8f)").unwrap();
        assert_eq!(f.function, "<null>");
        assert_eq!((f.file, f.line, f.module.as_deref()), (None, None, Some("libc.so.6")));
        let (_, f) = parse_frame("#0 f::g (.llvm.99) relative/src/x.rs:7 (<unknown module>)").unwrap();
        assert_eq!(f.function, "f::g");
        assert_eq!((f.file.as_deref(), f.line, f.column), (Some("relative/src/x.rs"), Some(7), None));
        let (_, f) = parse_frame("#0 0x55d4e8c1f9bd in foo::bar /a/b.rs:1:2").unwrap();
        assert_eq!(f.function, "foo::bar");
        assert_eq!(f.file.as_deref(), Some("/a/b.rs"));
        assert!(parse_frame("#x foo").is_none());
        assert!(parse_frame("#").is_none());
        assert!(parse_frame("#3").is_none());
        assert!(parse_frame("#99999999999999999999 f /a.rs:1:1").is_none());
        assert!(is_toolchain_path("library/std/src/thread/mod.rs"));
        assert!(is_toolchain_path("/root/.cargo/registry/src/index.crates.io-1/loom-0.7.3/src/lib.rs"));
        assert!(!is_toolchain_path("/work/main/fixtures/counter/src/lib.rs"));
    }

    #[test]
    fn all_captures_count_headers() {
        for input in ALL {
            let rs = parse(input);
            assert_eq!(rs.len(), header_lines(input));
            for r in &rs {
                assert!(input.contains(&r.raw));
                assert!(r.raw.starts_with(HEADER));
            }
        }
    }

    // ----- property tests -------------------------------------------------------------------

    /// Lines of the grammar, mangled lines and arbitrary text: exercises the parser's branches.
    fn fragment() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("WARNING: ThreadSanitizer: data race (pid=1)".to_string()),
            Just("==================".to_string()),
            Just("  Write of size 8 at 0x10 by thread T1:".to_string()),
            Just("  Previous read of size 4294967296 at 0x10 by main thread (mutexes: write M0):".to_string()),
            Just("  Location is heap block of size 1 at 0x1 allocated by main thread:".to_string()),
            Just("  Thread T1 (tid=1, running) created by main thread at:".to_string()),
            Just("    #0 f /a.rs:1:2 (b+0x1) (BuildId: ab)".to_string()),
            Just("    #1 <null> <null> (libc.so.6+0x2)".to_string()),
            Just("SUMMARY: ThreadSanitizer: data race".to_string()),
            "[ #:()0-9a-zA-Z+=/.<>]{0,40}",
            ".{0,40}",
            any::<String>(),
        ]
    }

    /// Lines guaranteed not to be TSan's: no header substring, and for the "clean" variant nothing
    /// that looks like a frame, header or rule.
    fn noise_line() -> impl Strategy<Value = String> {
        prop_oneof![
            "[^\r\n]{0,60}",
            "[a-z][a-z0-9 ]{0,40}",
            Just(String::new()),
            Just("    #0 not a frame of ours".to_string()),
            Just("==================".to_string()),
        ]
        .prop_filter("no TSan header", |s| !s.contains(HEADER))
    }

    fn clean_noise_line() -> impl Strategy<Value = String> {
        "[a-z][a-z0-9 ,.;!?-]{0,50}"
    }

    /// Real reports (clean captures with exactly one or a few complete reports).
    fn real() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec![
            GLOBAL,
            GLOBAL_LTO,
            HEAP,
            READ_WRITE,
            READ_WRITE_OTHER,
            ATOMIC,
            LOCK_ORDER,
            UAF,
            MULTI,
            MUTEX_HELD,
            LEGACY,
        ])
    }

    /// Inserts `noise` lines into `base` lines at positions chosen by `picks`.
    fn interleave(base: &[&str], noise: &[String], picks: &[prop::sample::Index]) -> String {
        let mut lines: Vec<String> = base.iter().map(|s| s.to_string()).collect();
        for (n, ix) in noise.iter().zip(picks) {
            let at = ix.index(lines.len() + 1);
            lines.insert(at, n.clone());
        }
        lines.join("\n")
    }

    fn strip_raw(rs: Vec<TsanReport>) -> Vec<TsanReport> {
        rs.into_iter()
            .map(|mut r| {
                r.raw.clear();
                r
            })
            .collect()
    }

    proptest! {
        // Default 256 cases per property (PROPTEST_CASES overrides).

        #[test]
        fn never_panics_on_arbitrary_strings(s in any::<String>()) {
            let rs = parse(&s);
            for r in &rs {
                let _ = r.signature(&none);
                for a in &r.accesses { let _ = a.first_own_frame(&none); }
            }
        }

        #[test]
        fn never_panics_on_grammar_fragments(frags in prop::collection::vec(fragment(), 0..60), crlf in any::<bool>()) {
            let s = frags.join(if crlf { "\r\n" } else { "\n" });
            let rs = parse(&s);
            prop_assert_eq!(rs.len(), s.split('\n').filter(|l| l.contains(HEADER)).count());
            for r in &rs {
                prop_assert!(s.contains(&r.raw));
                let _ = r.signature(&none);
            }
        }

        #[test]
        fn never_panics_on_real_lines_mixed_with_arbitrary_lines(
            input in real(),
            noise in prop::collection::vec(any::<String>(), 0..30),
            picks in prop::collection::vec(any::<prop::sample::Index>(), 30),
        ) {
            let base: Vec<&str> = input.lines().collect();
            let s = interleave(&base, &noise, &picks);
            for r in parse(&s) { let _ = r.signature(&none); }
        }

        #[test]
        fn cut_real_reports_are_prefixes_or_truncated(input in real(), cut in any::<prop::sample::Index>()) {
            let mut at = cut.index(input.len() + 1);
            while !input.is_char_boundary(at) { at -= 1; }
            let full = parse(input);
            let rs = parse(&input[..at]);
            let started = full
                .iter()
                .filter(|r| input.find(&r.raw).unwrap() + HEADER.len() <= at)
                .count();
            prop_assert_eq!(rs.len(), started);
            for (cut_r, full_r) in rs.iter().zip(&full) {
                let end = input.find(&full_r.raw).unwrap() + full_r.raw.len();
                if end <= at {
                    prop_assert_eq!(cut_r, full_r);
                } else {
                    prop_assert!(cut_r.truncated);
                    prop_assert!(full_r.raw.starts_with(&cut_r.raw));
                }
            }
        }

        #[test]
        fn never_invents_a_report(s in any::<String>(), lines in prop::collection::vec(fragment(), 0..40)) {
            let s2 = lines.join("\n");
            if !s.contains(HEADER) {
                prop_assert!(parse(&s).is_empty());
            }
            if !s2.contains(HEADER) {
                prop_assert!(parse(&s2).is_empty());
            }
            let without = GLOBAL.replace("WARNING", "W4RNING") + &s2.replace(HEADER, "");
            if !without.contains(HEADER) {
                prop_assert!(parse(&without).is_empty());
            }
        }

        #[test]
        fn one_report_per_header_with_noise(
            inputs in prop::collection::vec(real(), 1..4),
            noise in prop::collection::vec(noise_line(), 0..40),
            picks in prop::collection::vec(any::<prop::sample::Index>(), 40),
        ) {
            let joined = inputs.join("");
            let base: Vec<&str> = joined.lines().collect();
            let s = interleave(&base, &noise, &picks);
            let expected = base.iter().filter(|l| l.contains(HEADER)).count();
            prop_assert_eq!(parse(&s).len(), expected);
        }

        #[test]
        fn clean_noise_does_not_change_the_parse(
            inputs in prop::collection::vec(real(), 1..3),
            noise in prop::collection::vec(clean_noise_line(), 0..40),
            picks in prop::collection::vec(any::<prop::sample::Index>(), 40),
        ) {
            let joined = inputs.join("");
            let base: Vec<&str> = joined.lines().collect();
            let s = interleave(&base, &noise, &picks);
            let noisy = parse(&s);
            let signatures: Vec<String> = noisy.iter().map(|r| r.signature(&none)).collect();
            let clean = parse(&joined);
            let clean_signatures: Vec<String> = clean.iter().map(|r| r.signature(&none)).collect();
            prop_assert_eq!(strip_raw(noisy), strip_raw(clean));
            prop_assert_eq!(signatures, clean_signatures);
        }
    }
}
