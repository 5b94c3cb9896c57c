//! Running a suite's ordinary tests through cargo-nextest: the command
//! lines (one shape for the build, the run, the reruns and the replay, so
//! they share one build), race-hunt's nextest profile layered on the
//! project's own `.config/nextest.toml`, and the reading of nextest's
//! output: which test failed or timed out, in which stress iteration, with
//! which panic message at which line, and the stress summary.

use std::path::{Path, PathBuf};

use race_hunt_report::{Evidence, EvidenceKind};

use crate::cell::SuiteCell;
use crate::invocation::Env;
use crate::shell;
use crate::target::Target;

/// How a detector builds and runs a suite's tests.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Flavor {
    /// Build directory name (cells with the same flavor share the build).
    pub dir: String,
    /// `cargo +TOOLCHAIN`.
    pub toolchain: Option<String>,
    /// Words between `cargo` and `nextest` (`miri` for `cargo miri nextest`).
    pub cargo_prefix: Vec<String>,
    /// `--release`, `-Zbuild-std`, ...
    pub cargo_args: Vec<String>,
    /// Appended to the user's RUSTFLAGS (and RUSTDOCFLAGS).
    pub rustflags: Vec<String>,
    /// Environment for the tests (TSAN_OPTIONS, MIRIFLAGS, LOOM_MAX_PREEMPTIONS, ...).
    pub env: Vec<(String, String)>,
    /// Pass `--target TRIPLE` (a cross target, or -Zbuild-std).
    pub explicit_target: bool,
    /// Never set a target runner (Miri interprets the target itself).
    pub no_runner: bool,
}

/// How a detector hunts one suite cell: the flavor of its build and run,
/// the arguments that set its budget, and its limits.
#[derive(Debug, Clone, PartialEq)]
pub struct SuitePlan {
    pub flavor: Flavor,
    /// `--stress-duration 1500ms`, `--stress-count 20`, ... (empty: run once).
    pub run_args: Vec<String>,
    /// The whole nextest run is killed after this long.
    pub timeout: std::time::Duration,
    /// A single test is terminated (and the cell is a `hang`) after this long.
    pub test_timeout: f64,
    /// When a test fails, rerun it alone this many times to tell a race
    /// (k of n) from a one-off.
    pub reruns: u64,
}

impl SuitePlan {
    /// How many times the printed replay runs the failing test: as many as
    /// the reruns that measured it (20 for a real-thread race, 5 under
    /// TSan), once where a seed or the exploration is deterministic.
    pub fn replay_runs(&self) -> u64 {
        self.reruns.max(1)
    }
}

/// The cargo-nextest release race-hunt reads the output of: what `setup`
/// and a run install when nextest is missing, and what CI installs (a test
/// keeps the workflows and `ci/test.sh` on this version).
pub const NEXTEST_VERSION: &str = "0.9.143";

/// cargo-nextest, which every suite cell runs under: installed when missing
/// with `cargo install --locked cargo-nextest@NEXTEST_VERSION`.
pub fn prerequisite() -> crate::prerequisite::Prerequisite {
    crate::prerequisite::Prerequisite::CargoTool {
        program: "cargo-nextest".into(),
        package: format!("cargo-nextest@{NEXTEST_VERSION}"),
    }
}

/// The name of race-hunt's nextest profile.
pub const PROFILE: &str = "race-hunt";

/// Write race-hunt's nextest config: the project's own config (its test
/// groups, overrides, scripts) with a `race-hunt` profile added that fails
/// fast, prints failure output at once, and terminates a test after
/// `test_timeout` seconds.
pub fn config_file(suite: &SuiteCell, dir: &Path, test_timeout: f64) -> Result<PathBuf, String> {
    let own = suite.workspace_root.join(".config/nextest.toml");
    let mut table: toml::Table = match std::fs::read_to_string(&own) {
        Ok(text) => text.parse().map_err(|e| format!("{}: {e}", own.display()))?,
        Err(_) => toml::Table::new(),
    };
    let profile: toml::Table = format!(
        "fail-fast = true\nretries = 0\nfailure-output = \"immediate\"\nsuccess-output = \"never\"\nstatus-level = \"fail\"\nfinal-status-level = \"fail\"\nslow-timeout = {{ period = \"{}ms\", terminate-after = 1 }}\n",
        (test_timeout * 1000.0).round() as u64
    )
    .parse()
    .expect("a valid profile");
    let profiles = table.entry("profile").or_insert_with(|| toml::Value::Table(toml::Table::new()));
    if let toml::Value::Table(p) = profiles {
        p.insert(PROFILE.into(), toml::Value::Table(profile));
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let path = dir.join("nextest.toml");
    std::fs::write(&path, toml::to_string(&table).expect("a table serializes"))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}

/// The build directory of `suite` under this flavor: one per workspace.
/// Cargo gives two packages of one name and version the same artifact
/// names even when they live at two paths (the way a team keeps a fixed
/// bug's old version as a regression pair), so two workspaces never share
/// a target directory; the suites of one workspace do.
pub fn target_dir(flavor: &Flavor, suite: &SuiteCell, env: &Env<'_>) -> PathBuf {
    env.builds.join(&flavor.dir).join(workspace_slug(suite))
}

/// A stable short name for the suite's workspace: its directory's name and
/// an FNV-1a hash of its path.
pub fn workspace_slug(suite: &SuiteCell) -> String {
    let root = suite.workspace_root.display().to_string();
    let hash = root.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    let name = suite.workspace_root.file_name().map_or("root".into(), |n| n.to_string_lossy().into_owned());
    let slug: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect();
    format!("{slug}-{:08x}", hash as u32)
}

/// The environment every nextest command of this flavor runs with.
pub fn command_env(flavor: &Flavor, suite: &SuiteCell, target: &Target, env: &Env<'_>) -> Vec<(String, String)> {
    let mut vars = Vec::new();
    // The build, the run, the reruns and the replays all get exactly these
    // flags: any difference makes cargo rebuild inside a cell's timeout.
    // Lints are capped as for every build race-hunt makes: a lint new in the
    // pinned nightly must not break a hunt of the user's crate.
    let user = std::env::var("RUSTFLAGS").unwrap_or_default();
    let mut flags: Vec<String> = user.split_whitespace().map(str::to_string).collect();
    flags.extend(flavor.rustflags.iter().cloned());
    flags.push("--cap-lints=warn".into());
    vars.push(("RUSTFLAGS".to_string(), flags.join(" ")));
    vars.push(("RUSTDOCFLAGS".to_string(), flags.join(" ")));
    vars.push(("CARGO_TARGET_DIR".to_string(), target_dir(flavor, suite, env).display().to_string()));
    vars.extend(target.build_env());
    if let (Some((runner, _)), false) = (&target.runner, flavor.no_runner) {
        vars.push((crate::target::env_key(&target.triple, "RUNNER"), runner.join(" ")));
    }
    vars.extend(flavor.env.iter().cloned());
    vars
}

/// `cargo [+tc] [prefix] nextest SUB --manifest-path ... [args]`: the shared
/// part of the build, run, rerun and replay commands.
pub fn command(flavor: &Flavor, suite: &SuiteCell, target: &Target, sub: &str, config: Option<&Path>) -> Vec<String> {
    let mut argv = vec!["cargo".to_string()];
    if let Some(tc) = flavor.toolchain.as_ref().or(target.toolchain.as_ref()) {
        argv.push(format!("+{tc}"));
    }
    argv.extend(flavor.cargo_prefix.iter().cloned());
    argv.extend(["nextest".into(), sub.into(), "--manifest-path".into(), suite.manifest_path.display().to_string()]);
    argv.extend(["--package".into(), suite.package.clone()]);
    if suite.locked {
        argv.push("--locked".into());
    }
    if !suite.features.is_empty() {
        argv.extend(["--features".into(), suite.features.join(",")]);
    }
    argv.extend(flavor.cargo_args.iter().cloned());
    if flavor.explicit_target || !target.native {
        argv.extend(["--target".into(), target.triple.clone()]);
    }
    match config {
        Some(c) => argv.extend(["--config-file".into(), c.display().to_string(), "--profile".into(), PROFILE.into()]),
        // The project's own default profile, named: a `NEXTEST_PROFILE`
        // in the developer's (or CI's) environment must not pick another.
        None => argv.extend(["--profile".into(), "default".into()]),
    }
    argv.extend(["--color".into(), "never".into()]);
    if let Some(f) = &suite.filter {
        argv.extend(["-E".into(), f.clone()]);
    }
    argv
}

/// A one-test filter: exactly `binary test`.
pub fn only(test: &FailedTest) -> String {
    format!("binary_id(={}) & test(={})", test.binary, test.name)
}

/// Replace the suite's filter by one that selects `test` alone.
pub fn for_one_test(argv: &[String], test: &FailedTest) -> Vec<String> {
    let mut out = Vec::new();
    let mut it = argv.iter();
    while let Some(w) = it.next() {
        if w == "-E" {
            it.next();
            continue;
        }
        out.push(w.clone());
    }
    out.extend(["-E".into(), only(test)]);
    out
}

/// One failing (or timed out) test seen in nextest's output.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FailedTest {
    pub binary: String,
    pub name: String,
    /// `FAIL`, `TIMEOUT`, `SIGSEGV`, `ABORT`, ...
    pub status: String,
    /// The stress iteration, when nextest ran in stress mode.
    pub iteration: Option<u64>,
    /// The test's panic message and `file:line:column`, when it panicked.
    pub message: Option<String>,
    pub location: Option<String>,
    /// The test's own output (stdout and stderr), as nextest printed it.
    pub output: String,
}

impl FailedTest {
    pub fn full_name(&self) -> String {
        format!("{} {}", self.binary, self.name)
    }
}

/// What a nextest run printed, read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunOutput {
    pub failures: Vec<FailedTest>,
    /// Stress mode: iterations run and how many failed.
    pub iterations: Option<(u64, u64)>,
    /// Tests run in a plain (non-stress) run.
    pub tests_run: Option<u64>,
    /// Stress iterations whose end nextest printed, all passed (counted as
    /// they go: a run killed before its summary still has them).
    pub passes_seen: u64,
}

const STATUSES: &[&str] = &["FAIL", "TIMEOUT", "SIGSEGV", "SIGABRT", "SIGBUS", "SIGILL", "ABORT", "LEAK-FAIL"];

/// Read nextest's human output (with `--color never`).
pub fn parse(text: &str) -> RunOutput {
    let mut out = RunOutput::default();
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0;
    let mut in_summary = false;
    while i < lines.len() {
        let line = lines[i].trim_start();
        if line.starts_with("Stress test [")
            && line.contains(" iteration ")
            && (!line.contains(" failed") || line.contains(" 0 failed"))
        {
            out.passes_seen += 1;
        }
        if line.starts_with("Summary [") {
            in_summary = true;
            out.iterations = stress_summary(line);
            out.tests_run = tests_summary(line);
        }
        if let Some(mut t) = status_line(line) {
            if in_summary {
                // The summary repeats the failures; keep the first sighting.
                // A failure seen only here had its own lines cut out of a
                // huge output: it still names the test and its status.
                if !out.failures.iter().any(|f| f.binary == t.binary && f.name == t.name) {
                    out.failures.push(t);
                }
                i += 1;
                continue;
            }
            // The test's output follows, indented, until the next status line.
            let mut j = i + 1;
            let mut body = String::new();
            while j < lines.len() {
                let l = lines[j];
                let t2 = l.trim_start();
                if status_line(t2).is_some()
                    || t2.starts_with("Stress test")
                    || t2.starts_with("Summary [")
                    || t2.starts_with("────")
                {
                    break;
                }
                body.push_str(l.strip_prefix("    ").unwrap_or(l));
                body.push('\n');
                j += 1;
            }
            if let Some((loc, msg)) = panic_of(&body) {
                t.location = Some(loc);
                t.message = Some(msg);
            }
            t.output = body;
            if !out.failures.iter().any(|f| f.binary == t.binary && f.name == t.name && f.iteration == t.iteration) {
                out.failures.push(t);
            }
            i = j;
            continue;
        }
        i += 1;
    }
    out
}

/// `FAIL [   0.045s] [2/6] nx tests::sometimes_fails` (the `[i/N]` only in stress mode).
fn status_line(line: &str) -> Option<FailedTest> {
    let (status, rest) = line.split_once(' ')?;
    if !STATUSES.contains(&status) {
        return None;
    }
    let rest = rest.trim_start();
    let rest = rest.strip_prefix('[')?;
    let (_, rest) = rest.split_once(']')?;
    let mut rest = rest.trim_start();
    let mut iteration = None;
    if let Some(r) = rest.strip_prefix('[') {
        let (it, r2) = r.split_once(']')?;
        iteration = it.split('/').next().and_then(|n| n.trim().parse().ok());
        rest = r2.trim_start();
    }
    // A counter `(k/n)` of the test within its run, when nextest prints one.
    if rest.starts_with('(') {
        rest = rest.split_once(')').map_or(rest, |(_, r)| r.trim_start());
    }
    let mut words = rest.split_whitespace();
    let binary = words.next()?.to_string();
    let name = words.next()?.to_string();
    Some(FailedTest {
        binary,
        name,
        status: status.to_string(),
        iteration,
        message: None,
        location: None,
        output: String::new(),
    })
}

/// The first `panicked at FILE:LINE:COL:` and its message line(s).
pub fn panic_of(body: &str) -> Option<(String, String)> {
    let lines: Vec<&str> = body.lines().collect();
    for (k, l) in lines.iter().enumerate() {
        if let Some(pos) = l.find("panicked at ") {
            let loc = l[pos + "panicked at ".len()..].trim_end().trim_end_matches(':').to_string();
            let mut message = Vec::new();
            for m in lines.iter().skip(k + 1) {
                if m.starts_with("note: ") || m.starts_with("stack backtrace:") || m.trim().is_empty() {
                    break;
                }
                message.push(m.trim_end());
            }
            return Some((loc, message.join("\n")));
        }
    }
    None
}

/// `Summary [ 3.096s] 12/12 stress run iterations: 4 passed, 8 failed` → (12, 8).
fn stress_summary(line: &str) -> Option<(u64, u64)> {
    let (_, rest) = line.split_once(']')?;
    let rest = rest.trim_start();
    let (count, rest) = rest.split_once(" stress run iteration")?;
    let ran: u64 = count.split('/').next()?.trim().parse().ok()?;
    let failed = rest
        .split(',')
        .find_map(|part| part.trim().strip_suffix(" failed").and_then(|n| n.rsplit(' ').next()?.parse().ok()))
        .unwrap_or(0);
    Some((ran, failed))
}

/// `Summary [ 0.5s] 3 tests run: 3 passed, ...` → 3.
fn tests_summary(line: &str) -> Option<u64> {
    let (_, rest) = line.split_once(']')?;
    let rest = rest.trim_start();
    let (n, _) = rest.split_once(" test")?;
    n.trim().parse().ok()
}

/// The evidence of a failing test: its full name, panic message and place
/// (relative to the project root), the stress iteration, and replays.
pub fn evidence(kind: EvidenceKind, t: &FailedTest, suite: &SuiteCell, replay: String, root: &Path) -> Evidence {
    let message = match (&t.message, t.status.as_str()) {
        (Some(m), _) if !m.is_empty() => m.clone(),
        (_, "TIMEOUT") => "the test timed out (a deadlock or a livelock?)".into(),
        (_, status) => format!("the test ended with {status}"),
    };
    let mut e = Evidence::new(kind, message, replay);
    e.test = Some(t.full_name());
    e.iteration = t.iteration;
    e.location = t.location.as_ref().map(|l| relative_location(l, suite, root));
    e
}

/// `src/lib.rs:6:9` of the package at `suite.dir` as a path from `root`.
pub fn relative_location(loc: &str, suite: &SuiteCell, root: &Path) -> String {
    let file = loc.split(':').next().unwrap_or(loc);
    let rest = &loc[file.len()..];
    // rustc names files relative to where cargo ran it: the workspace root
    // for a workspace member, the package itself otherwise.
    let path = if Path::new(file).is_absolute() {
        PathBuf::from(file)
    } else if suite.workspace_root.join(file).is_file() {
        suite.workspace_root.join(file)
    } else {
        suite.dir.join(file)
    };
    let shown = path.strip_prefix(root).map(Path::to_path_buf).unwrap_or(path);
    format!("{}{rest}", shown.display())
}

/// A replay command: the environment, then the command, from the root
/// (paths under `root` in the variables are written from `$PWD`: nextest
/// runs each test in its package's directory, so they must be absolute,
/// and the line must work in another checkout).
pub fn replay_line(vars: &[(String, String)], argv: &[String], root: &Path) -> String {
    let mut words: Vec<String> = vars.iter().map(|(k, v)| format!("{k}={}", shell::quote_from(v, root))).collect();
    words.extend(argv.iter().map(|w| shell::quote(w)));
    words.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const STRESS: &str = "\
────────────
 Nextest run ID a8ca9a0b with nextest profile: race-hunt
    Starting 2 tests across 1 binary
────────────
 Stress test iteration 1/6 (00:00:00 elapsed so far, 6 iterations remaining)
 Stress test [   0.032s] iteration 1/6: 2 tests run: 2 passed, 0 skipped
────────────
 Stress test iteration 2/6 (00:00:00 elapsed so far, 5 iterations remaining)
        FAIL [   0.045s] [2/6] wallet::concurrency withdrawals::never_overdraw
  stdout ───

    running 1 test
    test withdrawals::never_overdraw ... FAILED

  stderr ───

    thread 'withdrawals::never_overdraw' (2600) panicked at tests/concurrency.rs:6:9:
    overdraft: balance is -100
    note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace

 Stress test [   0.047s] iteration 2/6: 2 tests run: 1 passed, 1 failed, 0 skipped
────────────
     Summary [   0.096s] 2/6 stress run iterations: 1 passed, 1 failed
        FAIL [   0.045s] [2/6] wallet::concurrency withdrawals::never_overdraw
error: test run failed
";

    #[test]
    fn a_stress_failure_names_the_test_its_iteration_panic_and_place() {
        let out = parse(STRESS);
        assert_eq!(out.iterations, Some((2, 1)));
        assert_eq!(out.failures.len(), 1, "{out:#?}");
        let f = &out.failures[0];
        assert_eq!(f.full_name(), "wallet::concurrency withdrawals::never_overdraw");
        assert_eq!((f.status.as_str(), f.iteration), ("FAIL", Some(2)));
        assert_eq!(f.location.as_deref(), Some("tests/concurrency.rs:6:9"));
        assert_eq!(f.message.as_deref(), Some("overdraft: balance is -100"));
    }

    #[test]
    fn a_duration_stress_failure_with_a_test_counter() {
        let text = "        FAIL [   0.257s] [4] (2/2) nx tests::sometimes_fails\n    stderr ───\n    thread 'x' panicked at src/lib.rs:6:9:\n    lost 88 of 2000 increments\n     Summary [   0.403s] 4 stress run iterations: 3 passed, 1 failed\n";
        let out = parse(text);
        assert_eq!(out.iterations, Some((4, 1)));
        assert_eq!(out.failures[0].full_name(), "nx tests::sometimes_fails");
        assert_eq!(out.failures[0].iteration, Some(4));
    }

    #[test]
    fn a_timeout_and_a_plain_run() {
        let text = "    Starting 1 test across 1 binary\n     TIMEOUT [   5.003s] cache tests::deadlocks\n     Summary [   5.010s] 1 test run: 0 passed, 1 timed out, 0 skipped\n";
        let out = parse(text);
        assert_eq!(out.failures[0].status, "TIMEOUT");
        assert_eq!(out.failures[0].iteration, None);
        assert_eq!(out.tests_run, Some(1));
        assert_eq!(parse("     Summary [   0.010s] 3 tests run: 3 passed, 0 skipped\n").tests_run, Some(3));
        assert_eq!(parse("").failures, vec![]);
    }

    #[test]
    fn a_failure_whose_lines_were_cut_is_read_from_the_summary_and_its_panic_from_the_tail() {
        // The status line kept in the head, the panic in the tail.
        let cut = crate::process::cut_line(200_000_000, 4_194_304);
        let text = format!(
            "        FAIL [   1.2s] [3/9] big tests::prints_a_lot\n  stdout ───\n    xxxx{cut}    xxxx\n  stderr ───\n    thread 't' panicked at src/lib.rs:6:9:\n    lost 3 updates\n     Summary [   1.3s] 3/9 stress run iterations: 2 passed, 1 failed\n        FAIL [   1.2s] [3/9] big tests::prints_a_lot\n"
        );
        let out = parse(&text);
        assert_eq!(out.failures.len(), 1, "{out:#?}");
        assert_eq!(out.failures[0].message.as_deref(), Some("lost 3 updates"));
        assert_eq!(out.iterations, Some((3, 1)));
        // The status line cut out: the summary still names the test.
        let text = format!("    xxxx{cut}    xxxx\n     Summary [   1.3s] 3/9 stress run iterations: 2 passed, 1 failed\n        FAIL [   1.2s] [3/9] big tests::prints_a_lot\nerror: test run failed\n");
        let out = parse(&text);
        assert_eq!(out.failures.len(), 1, "{out:#?}");
        assert_eq!(
            (out.failures[0].full_name().as_str(), out.failures[0].status.as_str()),
            ("big tests::prints_a_lot", "FAIL")
        );
        assert_eq!(out.failures[0].iteration, Some(3));
    }

    #[test]
    fn multi_line_panic_messages_are_kept() {
        let body = "thread 't' panicked at src/lib.rs:9:5:\nassertion `left == right` failed: lost updates\n  left: 1999\n right: 2000\nnote: run with\n";
        let (loc, msg) = panic_of(body).unwrap();
        assert_eq!(loc, "src/lib.rs:9:5");
        assert_eq!(msg, "assertion `left == right` failed: lost updates\n  left: 1999\n right: 2000");
    }

    #[test]
    fn one_test_filters_replace_the_suite_filter() {
        let argv: Vec<String> = ["cargo", "nextest", "run", "-E", "test(/x/)", "--release"].map(String::from).to_vec();
        let t = FailedTest {
            binary: "w::c".into(),
            name: "a::b".into(),
            status: "FAIL".into(),
            iteration: None,
            message: None,
            location: None,
            output: String::new(),
        };
        assert_eq!(
            for_one_test(&argv, &t),
            ["cargo", "nextest", "run", "--release", "-E", "binary_id(=w::c) & test(=a::b)"]
        );
    }
}

/// Check a nextest filterset's syntax without building anything (nextest
/// itself can only check one against a built workspace): the predicates
/// `all()`, `none()`, `default()`, `test()`, `package()`, `deps()`,
/// `rdeps()`, `kind()`, `binary()`, `binary_id()`, `group()`,
/// `platform(host|target)`; the operators `|`, `+`, `or`, `&`, `and`, `-`,
/// `not`, `!` and parentheses; the matchers `=`, `~`, `/regex/`, `#glob`.
/// Errors say what was expected at which character (1-based) of the filterset.
pub fn check_filterset(text: &str) -> Result<(), String> {
    let mut p = FiltersetParser { s: text.as_bytes(), i: 0 };
    p.expr()?;
    p.blank();
    if p.i < p.s.len() {
        return Err(p.error("an operator (`|`, `&`, `-`, `and`, `or`) or the end"));
    }
    Ok(())
}

struct FiltersetParser<'a> {
    s: &'a [u8],
    i: usize,
}

const SETS: &[&str] = &["test", "package", "deps", "rdeps", "kind", "binary", "binary_id", "group"];

impl FiltersetParser<'_> {
    fn error(&self, expected: &str) -> String {
        let found = match self.s.get(self.i) {
            None => "the end".to_string(),
            Some(_) => {
                let rest = String::from_utf8_lossy(&self.s[self.i..]);
                format!("`{}`", crate::exit::shown(&rest.chars().take(12).collect::<String>()))
            }
        };
        format!("invalid filterset: expected {expected} at character {}, found {found}", self.i + 1)
    }

    fn blank(&mut self) {
        while self.s.get(self.i).is_some_and(|c| c.is_ascii_whitespace()) {
            self.i += 1;
        }
    }

    /// A word operator (`and`, `or`, `not`) followed by a non-word character.
    fn word(&mut self, w: &str) -> bool {
        let end = self.i + w.len();
        let is_word = self.s.get(self.i..end) == Some(w.as_bytes())
            && !self.s.get(end).is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_');
        if is_word {
            self.i = end;
        }
        is_word
    }

    fn expr(&mut self) -> Result<(), String> {
        self.unary()?;
        loop {
            self.blank();
            let binary = match self.s.get(self.i) {
                Some(b'|' | b'+' | b'&' | b'-') => {
                    self.i += 1;
                    true
                }
                _ => self.word("or") || self.word("and"),
            };
            if !binary {
                return Ok(());
            }
            self.unary()?;
        }
    }

    fn unary(&mut self) -> Result<(), String> {
        self.blank();
        if self.s.get(self.i) == Some(&b'!') {
            self.i += 1;
            return self.unary();
        }
        if self.word("not") {
            return self.unary();
        }
        if self.s.get(self.i) == Some(&b'(') {
            self.i += 1;
            self.expr()?;
            self.blank();
            if self.s.get(self.i) != Some(&b')') {
                return Err(self.error("`)`"));
            }
            self.i += 1;
            return Ok(());
        }
        self.predicate()
    }

    fn predicate(&mut self) -> Result<(), String> {
        let start = self.i;
        while self.s.get(self.i).is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_') {
            self.i += 1;
        }
        let name = String::from_utf8_lossy(&self.s[start..self.i]).into_owned();
        let known = ["all", "none", "default", "platform"].contains(&name.as_str()) || SETS.contains(&name.as_str());
        if !known {
            self.i = start;
            return Err(self.error(
                "a predicate (all(), none(), default(), test(), package(), deps(), rdeps(), kind(), binary(), binary_id(), group(), platform()), `not`, `!` or `(`",
            ));
        }
        self.blank();
        if self.s.get(self.i) != Some(&b'(') {
            return Err(self.error(&format!("`(` after `{name}`")));
        }
        self.i += 1;
        self.blank();
        match name.as_str() {
            "all" | "none" | "default" => {}
            "platform" => {
                if !(self.word("host") || self.word("target")) {
                    return Err(self.error("`host` or `target` in platform()"));
                }
            }
            _ => self.matcher(&name)?,
        }
        self.blank();
        if self.s.get(self.i) != Some(&b')') {
            return Err(self.error(&format!("`)` closing `{name}(`")));
        }
        self.i += 1;
        Ok(())
    }

    /// A name matcher up to (not including) the closing `)`.
    fn matcher(&mut self, name: &str) -> Result<(), String> {
        if self.s.get(self.i) == Some(&b'/') {
            self.i += 1;
            let start = self.i;
            loop {
                match self.s.get(self.i) {
                    None => return Err(self.error(&format!("`/` closing the regex in `{name}(`"))),
                    Some(b'\\') => self.i += 2,
                    Some(b'/') => break,
                    Some(_) => self.i += 1,
                }
            }
            if self.i == start {
                return Err(self.error("a regex between the slashes"));
            }
            self.i += 1;
            return Ok(());
        }
        if matches!(self.s.get(self.i), Some(b'=' | b'~' | b'#')) {
            self.i += 1;
        }
        let start = self.i;
        loop {
            match self.s.get(self.i) {
                None => return Err(self.error(&format!("`)` closing `{name}(`"))),
                Some(b'\\') => self.i += 2,
                Some(b')') => break,
                Some(b'(') => return Err(self.error(&format!("a name in `{name}(` (escape `(` as `\\(`)"))),
                Some(_) => self.i += 1,
            }
        }
        if self.s[start..self.i.min(self.s.len())].iter().all(|c| c.is_ascii_whitespace()) {
            return Err(self.error(&format!("a name to match in `{name}(`")));
        }
        Ok(())
    }
}

#[cfg(test)]
mod filterset_tests {
    use super::check_filterset;

    #[test]
    fn filtersets_nextest_accepts_pass() {
        for ok in [
            "test(=concurrent_withdrawals_never_overdraw)",
            "test(/^loom_tests::/)",
            "binary_id(=shop-wallet::checkout) & test(=concurrent_withdrawals_never_overdraw)",
            "all()",
            "none() | default()",
            "package(shop-core) and not test(~slow)",
            "!(kind(lib) + binary(#it*)) - platform(host)",
            "deps(a) or rdeps(b)",
            "test(/a(b|c)\\/d/) & group(serial)",
            "  test( ~x )  ",
            "test(a\\)b)",
        ] {
            assert!(check_filterset(ok).is_ok(), "{ok}: {:?}", check_filterset(ok));
        }
    }

    #[test]
    fn malformed_filtersets_say_what_was_expected_where() {
        for (bad, needle) in [
            ("test(=x", "expected `)` closing `test(` at character 8, found the end"),
            ("tests(x)", "expected a predicate"),
            ("test(x) && test(y)", "at character 10"),
            ("test(x) test(y)", "expected an operator"),
            ("platform(arm)", "`host` or `target` in platform()"),
            ("test(/abc)", "`/` closing the regex"),
            ("test()", "a name to match in `test(`"),
            ("(test(x)", "expected `)` at character 9"),
            ("test(x) |", "expected a predicate"),
            ("", "expected a predicate"),
            ("notest(x)", "expected a predicate"),
            ("test", "`(` after `test`"),
        ] {
            let e = check_filterset(bad).unwrap_err();
            assert!(e.starts_with("invalid filterset: ") && e.contains(needle), "{bad}: {e}");
        }
    }
}
