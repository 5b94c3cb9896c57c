//! Helpers for the harness's integration tests: run the real xtask with a
//! sanitized environment and read its report through the typed
//! `race-hunt-report` crate.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub use race_hunt_report::{CellReport, EvidenceKind, Expect, Gate, Outcome, Report, Subject, Verdict};

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// The xtask binary, built once per test process into its own target
/// directory: a `cargo test` run holds the lock of `target/`, so a nested
/// `cargo run` there would wait for it forever.
pub fn xtask_binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let dir = root().join("target/race-hunt/xtask-under-test");
        let status = Command::new(env!("CARGO"))
            .current_dir(root())
            .args(["build", "--quiet", "--locked", "--package", "xtask", "--target-dir"])
            .arg(&dir)
            .env_remove("RUSTFLAGS")
            .status()
            .expect("failed to start cargo to build the xtask");
        assert!(status.success(), "building the xtask failed");
        dir.join("debug/xtask")
    })
}

/// A nextest profile no hunted workspace defines, exported as
/// `NEXTEST_PROFILE` for every harness run and every printed command the
/// tests execute: a user's CI environment must not change what race-hunt runs.
pub const CALLER_NEXTEST_PROFILE: &str = "a-callers-profile-no-workspace-has";

/// What a run of the xtask left behind.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub report: Option<Report>,
}

/// The xtask with a sanitized environment (no inherited RUSTFLAGS, cargo
/// target overrides, GitHub variables or colours), run from `dir`.
pub fn xtask_in(dir: &Path) -> Command {
    let mut cmd = Command::new(xtask_binary());
    cmd.current_dir(dir);
    for (k, _) in std::env::vars() {
        if k == "RUSTFLAGS"
            || k == "CARGO_TARGET_DIR"
            || k == "CARGO_BUILD_TARGET"
            || k.starts_with("GITHUB_")
            || (k.starts_with("CARGO_TARGET_") && (k.ends_with("_RUNNER") || k.ends_with("_LINKER")))
            || k == "RACE_HUNT_NIGHTLY"
        {
            cmd.env_remove(k);
        }
    }
    cmd.env("CARGO_TERM_COLOR", "never");
    // A caller's nextest settings never reach the nextest runs race-hunt
    // starts (CI exports `NEXTEST_PROFILE=ci`; an outer nextest sets it for
    // these very tests): every test runs the harness under a profile no
    // hunted workspace has, which fails any nextest call that inherits it.
    cmd.env("NEXTEST_PROFILE", CALLER_NEXTEST_PROFILE);
    // Every test shares the repository's build directories, whatever its
    // manifest's directory.
    cmd.env("RACE_HUNT_TARGET_DIR", root().join("target/race-hunt"));
    cmd
}

pub fn xtask() -> Command {
    xtask_in(&root())
}

/// `program` as a developer would start it from the repository root: for a
/// printed command (`bash -c REPLAY`) or a script (`bash ci/...`). `cargo
/// xtask` builds into the xtask's own directory (the test process's cargo
/// holds the lock of `target/`), the harness's state is the repository's,
/// no RUSTFLAGS, and the caller's CI exports a foreign `NEXTEST_PROFILE`.
pub fn as_a_developer(program: &str) -> Command {
    let mut cmd = Command::new(program);
    cmd.current_dir(root())
        .env("CARGO_TARGET_DIR", root().join("target/race-hunt/xtask-under-test"))
        .env("RACE_HUNT_TARGET_DIR", root().join("target/race-hunt"))
        .env_remove("RUSTFLAGS")
        .env("NEXTEST_PROFILE", CALLER_NEXTEST_PROFILE);
    cmd
}

/// A finished command's stdout and stderr, as one text.
pub fn text(out: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// `cargo xtask race-hunt ARGS` with `--json` into a temporary file.
pub fn race_hunt(args: &[&str]) -> Run {
    race_hunt_env(args, &[])
}

pub fn race_hunt_env(args: &[&str], env: &[(&str, &str)]) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("report.json");
    let mut cmd = xtask();
    cmd.arg("race-hunt").args(args).arg("--json").arg(&json);
    for (k, v) in env {
        cmd.env(k, v);
    }
    finish(cmd.output().expect("failed to run the xtask"), &json)
}

/// Collect a finished xtask's output and its report at `json`.
pub fn finish(out: std::process::Output, json: &Path) -> Run {
    let report = std::fs::read_to_string(json)
        .ok()
        .map(|t| Report::from_json(&t).unwrap_or_else(|e| panic!("the report is not a race-hunt/v1 report: {e}")));
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        report,
    }
}

impl Run {
    pub fn report(&self) -> &Report {
        self.report
            .as_ref()
            .unwrap_or_else(|| panic!("no report was written\nstdout:\n{}\nstderr:\n{}", self.stdout, self.stderr))
    }

    pub fn cells(&self) -> &[CellReport] {
        &self.report().cells
    }

    /// The one cell of `fixture/variant` for `detector` on target short name `target`.
    pub fn cell(&self, fixture_variant: &str, detector: &str, target: &str) -> &CellReport {
        self.report()
            .cell(fixture_variant, detector, target)
            .unwrap_or_else(|| panic!("no cell {fixture_variant} {detector}@{target}\n{}", self.stdout))
    }

    /// Fail with the whole output when the run did not exit with `code`.
    pub fn assert_code(&self, code: i32) {
        assert_eq!(self.code, code, "exit code\nstdout:\n{}\nstderr:\n{}", self.stdout, self.stderr);
    }
}

/// The checks every graded report must pass, whatever the columns:
/// every cell `ok`, every `detect` cell detected with evidence and replay
/// commands, every fixed variant clean after running.
pub fn assert_gate_contract(run: &Run) {
    let report = run.report();
    assert_eq!(report.schema, race_hunt_report::SCHEMA);
    for c in run.cells() {
        let id = c.id();
        assert_eq!(c.verdict, Verdict::Ok, "{id}: {c:#?}");
        if c.expect == Expect::Detect {
            assert_eq!(c.outcome, Outcome::Detected, "{id}");
            let e = c.evidence.as_ref().expect("evidence");
            assert!(!e.message.is_empty(), "{id}: evidence message");
            assert!(!e.replay.is_empty(), "{id}: replay");
            assert!(e.replay_xtask.as_deref().is_some_and(|r| r.contains("race-hunt replay")), "{id}: xtask replay");
        }
        if !c.racy {
            assert_eq!(c.outcome, Outcome::Clean, "{id}: a fixed variant was flagged");
            assert!(c.attempts > 0, "{id}: a clean cell must have run");
        }
    }
    assert_eq!(report.summary.fail, 0);
    assert_eq!(report.summary.gate, Gate::Pass);
}

/// Processes whose command line contains `needle` (from /proc), except us.
pub fn processes_matching(needle: &str) -> Vec<(i32, String)> {
    let me = std::process::id() as i32;
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else { continue };
        if pid == me {
            continue;
        }
        let Ok(raw) = std::fs::read(entry.path().join("cmdline")) else { continue };
        let cmdline = String::from_utf8_lossy(&raw).replace('\0', " ");
        let zombie = std::fs::read_to_string(entry.path().join("stat")).is_ok_and(|s| s.contains(") Z "));
        if cmdline.contains(needle) && !zombie {
            found.push((pid, cmdline));
        }
    }
    found
}

/// Wait until some process's command line contains `needle`.
pub fn wait_for_process(needle: &str, within: Duration) {
    let deadline = Instant::now() + within;
    while processes_matching(needle).is_empty() {
        assert!(Instant::now() < deadline, "no process matching {needle:?} appeared within {within:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Send `sig` to `pid`.
pub fn kill(pid: u32, sig: i32) {
    extern "C" {
        #[link_name = "kill"]
        fn libc_kill(pid: i32, sig: i32) -> i32;
    }
    // SAFETY: kill has no memory-safety preconditions.
    unsafe { libc_kill(pid as i32, sig) };
}

/// A copy of the repository's manifest with `edit` applied, in a temporary
/// directory; paths in it (the suppressions file, the suites) are made absolute.
pub fn manifest_with(edit: impl Fn(String) -> String) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(root().join("race-hunt.toml")).unwrap();
    let text = text
        .replace("\"ci/tsan-suppressions.txt\"", &format!("\"{}/ci/tsan-suppressions.txt\"", root().display()))
        .replace("path = \"fixtures/", &format!("path = \"{}/fixtures/", root().display()));
    let path = dir.path().join("race-hunt.toml");
    std::fs::write(&path, edit(text)).unwrap();
    let p = path.display().to_string();
    (dir, p)
}

/// Spawn the xtask in the background with piped output.
pub fn spawn(cmd: &mut Command) -> std::process::Child {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("failed to start the xtask")
}

/// The seed every hunt of the shared full matrix runs with.
pub const FULL_MATRIX_SEED: u64 = 8;

/// The full matrix, as CI fans it out: every entry of `race-hunt matrix`
/// (every fixture and suite, every detector and target, the standard
/// budget) run by `bash ci/local-matrix.sh`, then the gate over its reports.
#[derive(Debug)]
pub struct FullMatrix {
    /// The script's exit code (the gate's).
    pub code: i32,
    /// Its stdout and stderr.
    pub output: String,
    /// The hunts' reports, the gate's merged.json and merged.junit.xml.
    pub reports: PathBuf,
    /// The gate's merged report.
    pub merged: Report,
}

/// The full matrix of this test run, made once and shared by every test
/// that only reads its report (each test runs in its own process under
/// nextest, and `cargo test` runs one binary after another: the first
/// caller makes it under a file lock, the others wait for it and read it).
/// A test run is nextest's `NEXTEST_RUN_ID`, else the parent process (the
/// `cargo test` that started this binary) with its start time.
pub fn full_matrix() -> &'static FullMatrix {
    static MATRIX: OnceLock<FullMatrix> = OnceLock::new();
    MATRIX.get_or_init(|| {
        let run = std::env::var("NEXTEST_RUN_ID").unwrap_or_else(|_| {
            let parent = std::os::unix::process::parent_id();
            let stat = std::fs::read_to_string(format!("/proc/{parent}/stat")).unwrap_or_default();
            // Field 22 (starttime), counted after the command's closing parenthesis.
            let start = stat.rsplit_once(") ").map_or("", |(_, rest)| rest.split(' ').nth(19).unwrap_or(""));
            format!("cargo-test-{parent}-{start}")
        });
        let dir = root().join("target/race-hunt-tests/full-matrix").join(&run);
        std::fs::create_dir_all(&dir).unwrap();
        let _lock = FileLock::exclusive(&dir.join("lock"));
        let (reports, done) = (dir.join("reports"), dir.join("exit-code"));
        if !done.exists() {
            eprintln!("making the full matrix of this test run in {} (the first test to need it)", dir.display());
            let out = as_a_developer("bash")
                .args(["ci/local-matrix.sh", "--seed", &FULL_MATRIX_SEED.to_string(), "--reports"])
                .arg(&reports)
                .output()
                .expect("failed to start bash ci/local-matrix.sh");
            std::fs::write(dir.join("output.txt"), text(&out)).unwrap();
            std::fs::write(&done, out.status.code().unwrap_or(-1).to_string()).unwrap();
        }
        let output = std::fs::read_to_string(dir.join("output.txt")).unwrap();
        let code = std::fs::read_to_string(&done).unwrap().trim().parse().unwrap();
        let merged = std::fs::read_to_string(reports.join("merged.json"))
            .unwrap_or_else(|e| panic!("the full matrix wrote no merged.json ({e}), exit {code}:\n{output}"));
        let merged = Report::from_json(&merged).unwrap_or_else(|e| panic!("merged.json: {e}\n{output}"));
        FullMatrix { code, output, reports, merged }
    })
}

impl FullMatrix {
    /// The part of the merged report in `detectors` on `targets` (short
    /// names), as a `Run` the column tests read: its cells, its targets and
    /// not-planned entries, and a summary of those cells alone (so one
    /// column's failure is reported by the test of that column).
    pub fn slice(&self, detectors: &[&str], targets: &[&str]) -> Run {
        let mut r = self.merged.clone();
        r.cells.retain(|c| detectors.contains(&c.detector.as_str()) && targets.contains(&c.target_name.as_str()));
        r.targets.retain(|t| targets.contains(&t.name.as_str()));
        r.not_planned.retain(|n| detectors.contains(&n.detector.as_str()) && targets.contains(&n.target.as_str()));
        r.summary.proofs.retain(|p| {
            r.cells.iter().any(|c| c.detector == p.detector && (c.target_name == p.target || c.target == p.target))
        });
        r.summary.cells = r.cells.len();
        r.summary.ok = r.cells.iter().filter(|c| c.verdict == Verdict::Ok).count();
        r.summary.fail = r.cells.len() - r.summary.ok;
        r.summary.gate = if r.summary.fail == 0 { Gate::Pass } else { Gate::Fail };
        // `code` is the whole matrix's: a column's test judges its cells.
        Run { code: self.code, stdout: self.output.clone(), stderr: String::new(), report: Some(r) }
    }
}

/// An exclusive `flock` on a file, released when the file is closed (dropped).
struct FileLock {
    _file: std::fs::File,
}

impl FileLock {
    fn exclusive(path: &Path) -> FileLock {
        use std::os::fd::AsRawFd;
        extern "C" {
            fn flock(fd: i32, operation: i32) -> i32;
        }
        const LOCK_EX: i32 = 2;
        let file = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(path).unwrap();
        // SAFETY: flock on a descriptor we own; no memory is involved.
        while unsafe { flock(file.as_raw_fd(), LOCK_EX) } != 0 {
            let e = std::io::Error::last_os_error();
            assert_eq!(e.kind(), std::io::ErrorKind::Interrupted, "flock {}: {e}", path.display());
        }
        FileLock { _file: file }
    }
}
