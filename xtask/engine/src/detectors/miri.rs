//! `miri`: the scenarios (and a suite's tests) in Miri's interpreter, with
//! its data-race detector, weak-memory emulation and random preemption.
//! Miri interprets other targets without qemu, so a 32-bit cell (armv7)
//! runs on this host.
//!
//! Run: `cargo +NIGHTLY miri run -p scenario-runner --target T -- run
//! F/V --iterations N --seed S`, one process per seed (`seeds` in the
//! budget), with `MIRIFLAGS="-Zmiri-seed=S -Zmiri-disable-stacked-borrows"`.
//! Isolation stays on (the runner's clock is Miri's virtual one, so a seed
//! replays exactly). Stacked Borrows is off because it reports the unsound
//! fixtures' aliasing before their data race (`cache/racy-unsync` as an
//! aliasing violation in 16 of 20 seeds); race-hunt hunts races.
//!
//! Credit: Miri's own "Undefined Behavior" report (a data race with both
//! accesses, an uninitialised read, ...) or its deadlock/abort report is
//! `miri-ub`; an oracle that fails under Miri's scheduler is
//! `oracle-violation`; a leak or an unsupported operation is an `error`
//! (Miri could not answer), never a detection.

pub mod report;

use std::path::Path;
use std::time::Duration;

use race_hunt_report::{Evidence, EvidenceKind, Finding};

use crate::builds::{BuildSpec, RUNNER};
use crate::cell::{Cell, Subject, SuiteCell};
use crate::detector::{interpret_runner, Detector, Finished, Kind as DetectorKind, SuiteHunter};
use crate::invocation::{Artifact, Env, Invocation, Replay};
use crate::knobs::{KnobError, Knobs};
use crate::nextest::{FailedTest, Flavor, SuitePlan};
use crate::outcome::Outcome;
use crate::prerequisite::Prerequisite;
use crate::target::Target;

pub const KIND: DetectorKind =
    DetectorKind { name: "miri", configure, suite_cfg: None, proof: &[EvidenceKind::MiriUb] };

/// Flags every Miri run gets (besides its seed).
pub const FLAGS: &str = "-Zmiri-disable-stacked-borrows";

fn configure(_: &Knobs<'_>, b: &Knobs<'_>) -> Result<Box<dyn Detector>, KnobError> {
    let seeds = b.required_count("seeds", 1_000)?;
    let suite_seeds = b.count("suite-seeds", 1_000)?.unwrap_or(seeds);
    let iterations = b.count("iterations", 10_000)?.unwrap_or(1);
    let timeout = b.seconds("timeout")?.unwrap_or(300.0);
    let test_timeout = b.seconds("test-timeout")?.unwrap_or(120.0);
    Ok(Box::new(Miri { seeds, suite_seeds, iterations, timeout, test_timeout }))
}

pub struct Miri {
    /// Processes (seeds) per cell; a racy cell stops at the first that detects.
    seeds: u64,
    /// Suites: seeds per test (a test runs once per seed; each is a whole
    /// program under Miri's scheduler, so a logic race needs several).
    suite_seeds: u64,
    /// Scenario iterations inside one Miri process (cheaper than a seed each).
    iterations: u64,
    /// One Miri process is killed (a `hang`) after this long.
    timeout: f64,
    /// Suites: one test under Miri is terminated after this long.
    test_timeout: f64,
}

/// race-hunt's Miri flags, then the user's own `MIRIFLAGS` (appended, so
/// theirs win where both set one, as with `TSAN_OPTIONS`; the canaries
/// catch a flag that silences Miri).
fn with_user(ours: String) -> String {
    match std::env::var("MIRIFLAGS") {
        Ok(user) if !user.trim().is_empty() => format!("{ours} {}", user.trim()),
        _ => ours,
    }
}

/// The `-Zmiri-seed` of seed number `i` of a run seeded with `seed`.
fn seed_of(seed: u64, i: u64) -> u64 {
    (seed % 1_000_000_007).wrapping_add(i)
}

fn is_32_bit(triple: &str) -> bool {
    ["armv7", "arm-", "i686", "i586", "thumbv7"].iter().any(|p| triple.starts_with(p))
}

/// A frame outside the code under test.
fn is_foreign(path: &str) -> bool {
    // Miri prints the workspace's own files relative (`fixtures/facade/...`).
    let path = &format!("/{}", path.trim_start_matches('/'));
    path.contains("/fixtures/facade/")
        || path.contains("/fixtures/runner/")
        || path.contains("/.cargo/")
        || path.contains("/rustlib/")
}

/// A location as a path from the repository root. Miri prints the program's
/// own files relative to where cargo ran rustc: the workspace root of a
/// workspace member, the package itself otherwise (a suite that is its own
/// workspace in a subdirectory), so a relative path of a suite is resolved
/// against the suite's workspace or package (`nextest::relative_location`)
/// before the root is stripped.
fn place(loc: &report::Location, done: &Finished<'_>) -> String {
    place_in(loc, done.env.root, done.env.engine, &done.cell.subject)
}

fn place_in(loc: &report::Location, root: &Path, engine: &Path, subject: &Subject) -> String {
    let p = Path::new(&loc.file);
    if let (true, Subject::Suite(suite)) = (p.is_relative(), subject) {
        return crate::nextest::relative_location(&loc.to_string(), suite, root);
    }
    let shown = p
        .strip_prefix(root)
        .or_else(|_| p.strip_prefix(engine))
        .map(|r| r.display().to_string())
        .unwrap_or_else(|_| loc.file.clone());
    format!("{shown}:{}:{}", loc.line, loc.column)
}

/// A distinct report's fingerprint (see [`report::MiriReport::fingerprint_parts`]).
pub fn fingerprint(r: &report::MiriReport) -> String {
    crate::fingerprint::of(KIND.name, EvidenceKind::MiriUb, &r.fingerprint_parts(&is_foreign))
}

/// Miri's own reports in `text` as evidence, or the error they amount to.
fn evidence(done: &Finished<'_>, seed: Option<u64>) -> Option<Result<Evidence, String>> {
    let run = report::parse(done.log_text);
    if let Some(first) = run.findings().next() {
        let at = first.first_own_location(&is_foreign).map(|l| place(l, done));
        let mut message = format!("{}: {}", first.kind.as_str(), first.headline);
        if let Some(race) = &first.race {
            let side = |a: &report::Access, own: Option<&report::Location>| {
                let loc = own.or(a.location.as_ref()).map(|l| place(l, done)).unwrap_or_else(|| "?".into());
                format!("{} on {} at {loc}", a.operation, a.thread)
            };
            // The current access inside std or a dependency (a race inside
            // a `HashMap`) is shown at the first frame of the program's own
            // code that led there; Miri gives the earlier access one span.
            let current_own = first.current_own_location(&is_foreign);
            message =
                format!("data race: {} races with {}", side(&race.current, current_own), side(&race.earlier, None));
        }
        let mut e = Evidence::new(EvidenceKind::MiriUb, message, done.replay());
        e.location = at;
        e.seed = first.seed.or(seed);
        let mut seen: Vec<(String, u64)> = Vec::new();
        for r in run.findings() {
            let sig = r.signature(&is_foreign);
            match seen.iter_mut().find(|(s, _)| *s == sig) {
                Some(x) => x.1 += 1,
                None => {
                    seen.push((sig, 1));
                    e.findings.push(Finding {
                        kind: r.kind.as_str().to_string(),
                        summary: r.headline.clone(),
                        count: 1,
                        location: r.first_own_location(&is_foreign).map(|l| place(l, done)),
                        fingerprint: Some(fingerprint(r)),
                    });
                }
            }
        }
        for (f, (_, n)) in e.findings.iter_mut().zip(&seen) {
            f.count = *n;
        }
        return Some(Ok(e));
    }
    run.reports.first().map(|r| {
        Err(format!("Miri stopped without a finding: {}: {}; see {}", r.kind.as_str(), r.headline, done.log.display()))
    })
}

impl Detector for Miri {
    fn name(&self) -> &'static str {
        KIND.name
    }

    fn supports(&self, target: &Target) -> Result<(), String> {
        if target.native || is_32_bit(&target.triple) {
            Ok(())
        } else {
            Err("Miri interprets any target without qemu; race-hunt runs it on the host and on 32-bit targets (pointer width changes layouts and tearing), where a 64-bit guest would repeat the host's findings".into())
        }
    }

    fn prerequisites(&self, _: &Target, env: &Env<'_>) -> Vec<Prerequisite> {
        let tc = env.nightly.to_string();
        vec![
            Prerequisite::Toolchain(tc.clone()),
            Prerequisite::RustComponent { toolchain: tc.clone(), component: "rust-src".into() },
            Prerequisite::RustComponent { toolchain: tc, component: "miri".into() },
        ]
    }

    fn cores(&self) -> usize {
        1
    }

    /// `cargo miri setup` for the target (Miri's sysroot), then the runner
    /// built by running its `list` under Miri once.
    fn build(&self, target: &Target, env: &Env<'_>) -> BuildSpec {
        let manifest = env.engine.join("Cargo.toml").display().to_string();
        let s = |v: &[&str]| v.iter().map(|w| w.to_string()).collect::<Vec<String>>();
        BuildSpec {
            dir: KIND.name.into(),
            toolchain: Some(env.nightly.to_string()),
            rustflags: Vec::new(),
            env: vec![("MIRIFLAGS".into(), with_user(FLAGS.into()))],
            steps: vec![
                s(&["miri", "setup", "--target", &target.triple]),
                s(&[
                    "miri",
                    "run",
                    "--locked",
                    "--manifest-path",
                    &manifest,
                    "--package",
                    RUNNER,
                    "--target",
                    &target.triple,
                    "--",
                    "list",
                ]),
            ],
            binary: None,
        }
    }

    fn invocations(
        &self,
        cell: &Cell,
        artifact: &Artifact,
        env: &Env<'_>,
        _: &Path,
        replay: Option<&Replay>,
    ) -> Vec<Invocation> {
        let manifest = env.engine.join("Cargo.toml").display().to_string();
        let seeds: Vec<u64> = match replay {
            Some(r) => vec![r.seed],
            None => (0..self.seeds).map(|i| seed_of(env.seed, i)).collect(),
        };
        seeds
            .into_iter()
            .map(|seed| {
                let argv: Vec<String> = [
                    "cargo",
                    &format!("+{}", env.nightly),
                    "miri",
                    "run",
                    "--locked",
                    "--manifest-path",
                    &manifest,
                    "--package",
                    RUNNER,
                    "--target",
                    &cell.target.triple,
                    "--target-dir",
                    &artifact.target_dir.display().to_string(),
                    "--",
                    "run",
                    &cell.fixture_variant(),
                    "--iterations",
                    &self.iterations.to_string(),
                    "--seed",
                    &seed.to_string(),
                ]
                .iter()
                .map(|w| w.to_string())
                .collect();
                Invocation {
                    argv,
                    env: vec![("MIRIFLAGS".into(), with_user(format!("-Zmiri-seed={seed} {FLAGS}")))],
                    label: format!("seed {seed}"),
                    timeout: Duration::from_secs_f64(self.timeout),
                    // A target runner (qemu) would replace Miri's own.
                    unset: vec![crate::target::env_key(&cell.target.triple, "RUNNER")],
                }
            })
            .collect()
    }

    fn interpret(&self, done: &Finished<'_>) -> Outcome {
        let seed = done.invocation.label.strip_prefix("seed ").and_then(|s| s.parse().ok());
        match evidence(done, seed) {
            Some(Ok(e)) => Outcome::Detected(e),
            Some(Err(m)) => Outcome::Error(m),
            None => {
                let mut o = interpret_runner(done);
                if let Outcome::Detected(e) = &mut o {
                    // The runner's seed is the scenario's; the replay needs Miri's.
                    e.seed = seed;
                    e.iteration = None;
                    e.replay = done.replay();
                }
                o
            }
        }
    }

    fn suites(&self) -> Option<&dyn SuiteHunter> {
        Some(self)
    }
}

impl SuiteHunter for Miri {
    fn hunts_suite(&self, _: &SuiteCell, target: &Target) -> Result<(), String> {
        self.supports(target)
    }

    /// `cargo miri nextest run` over `suite-seeds` seeds (Miri's
    /// many-seeds, one at a time so each report names its seed), leaks
    /// ignored (a test's detached thread is not a race).
    fn suite_plan(&self, _: &SuiteCell, _: &Target, env: &Env<'_>) -> SuitePlan {
        let first = env.seed % 1_000_000_007;
        let flags =
            format!("-Zmiri-many-seeds={first}..{} -Zthreads=1 -Zmiri-ignore-leaks {FLAGS}", first + self.suite_seeds);
        SuitePlan {
            flavor: Flavor {
                dir: "suites-miri".into(),
                toolchain: Some(env.nightly.to_string()),
                cargo_prefix: vec!["miri".into()],
                cargo_args: Vec::new(),
                rustflags: Vec::new(),
                env: vec![("MIRIFLAGS".into(), with_user(flags))],
                explicit_target: true,
                no_runner: true,
            },
            run_args: Vec::new(),
            timeout: Duration::from_secs_f64(self.timeout * self.suite_seeds as f64),
            test_timeout: self.test_timeout,
            reruns: 0,
        }
    }

    /// Miri's runs are deterministic per seed: the replay runs the failing
    /// seed alone.
    fn suite_replay_vars(&self, vars: &[(String, String)], seed: Option<u64>) -> Vec<(String, String)> {
        let Some(seed) = seed else { return vars.to_vec() };
        vars.iter()
            .map(|(k, v)| match k.as_str() {
                "MIRIFLAGS" => (k.clone(), with_user(format!("-Zmiri-seed={seed} -Zmiri-ignore-leaks {FLAGS}"))),
                _ => (k.clone(), v.clone()),
            })
            .collect()
    }

    fn suite_evidence(&self, done: &Finished<'_>, _: Option<&FailedTest>) -> Option<Evidence> {
        evidence(done, None).and_then(Result::ok)
    }

    /// A test Miri cannot interpret (a foreign function without a shim, a
    /// file opened under isolation) failed with Miri's "unsupported
    /// operation": that is an interpreter limit, not a race and not a test
    /// failure. The message names Miri's words and the manifest line that
    /// excludes the test.
    fn suite_error(&self, done: &Finished<'_>, failed: Option<&FailedTest>) -> Option<String> {
        let run = report::parse(done.log_text);
        if run.findings().next().is_some() {
            return None;
        }
        let r = run.reports.iter().find(|r| r.kind == report::Kind::Unsupported)?;
        let (who, exclude) = match failed {
            Some(t) => {
                let own = match &done.cell.subject {
                    Subject::Suite(s) => s.filters.get(KIND.name).or(s.filter.as_ref()),
                    Subject::Fixture => None,
                };
                let not = format!("not (binary_id(={}) & test(={}))", t.binary, t.name);
                let filter = match own {
                    Some(f) => format!("({f}) & {not}"),
                    None => not,
                };
                (
                    format!("test `{}`", t.full_name()),
                    format!("; to hunt the suite's other tests under Miri, add to its `[[suites]]` entry: filters = {{ miri = {} }}", toml::Value::String(filter)),
                )
            }
            None => ("a test".to_string(), String::new()),
        };
        Some(format!(
            "Miri cannot run {who}: {}: {} (an interpreter limit, not a race){exclude}",
            r.kind.as_str(),
            r.headline
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_are_distinct_and_32_bit_targets_are_planned() {
        assert_ne!(seed_of(5, 0), seed_of(5, 1));
        assert!(is_32_bit("armv7-unknown-linux-gnueabihf") && is_32_bit("i686-unknown-linux-gnu"));
        assert!(!is_32_bit("aarch64-unknown-linux-gnu"));
    }

    /// A cell of a suite at `dir` (its own workspace unless
    /// `workspace_root` says otherwise).
    fn suite_cell(dir: &Path, workspace_root: &Path) -> Cell {
        let mut c = crate::plan::test_cell("samples", "racy", "miri");
        let mut suite = SuiteCell::for_tests("samples", dir, workspace_root);
        suite.package = "miri-samples".into();
        c.subject = Subject::Suite(std::sync::Arc::new(suite));
        c
    }

    /// Miri's evidence for `text`, read as the cell `cell` under `root`.
    fn evidence_of(text: &str, cell: &Cell, root: &Path) -> Evidence {
        let invocation = Invocation {
            argv: vec!["cargo".into(), "miri".into()],
            env: Vec::new(),
            label: String::new(),
            timeout: Duration::from_secs(9),
            unset: Vec::new(),
        };
        let env = crate::detector::tests::env(root);
        let done = Finished {
            cell,
            exit: crate::process::Exit::Code(1),
            log: Path::new("output.log"),
            log_text: text,
            result: None,
            invocation: &invocation,
            env: &env,
        };
        evidence(&done, Some(1)).expect("a finding").expect("evidence")
    }

    /// Real `cargo miri nextest run` output of a package that is its own
    /// workspace: Miri names `src/lib.rs`, relative to the package. In a
    /// repository with the package under `crates/samples`, every location
    /// is a path from the repository root (an annotation's file exists).
    #[test]
    fn a_suite_in_a_subdirectory_is_located_from_the_repository_root() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("crates/samples");
        let cell = suite_cell(&dir, &dir);
        let e = evidence_of(include_str!("../../testdata/miri/cargo_miri_nextest.txt"), &cell, root.path());
        assert_eq!(e.location.as_deref(), Some("crates/samples/src/lib.rs:43:48"));
        assert!(
            e.message.contains("at crates/samples/src/lib.rs:43:48")
                && e.message.contains("at crates/samples/src/lib.rs:44:18"),
            "{}",
            e.message
        );
        assert!(e.findings.iter().all(|f| f.location.as_deref().is_some_and(|l| l.starts_with("crates/samples/src/"))));
    }

    /// A member of the root workspace: rustc ran at the workspace root, so
    /// Miri's path already starts at it; it is not joined twice.
    #[test]
    fn a_workspace_member_keeps_its_workspace_relative_path() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("crates/samples");
        std::fs::create_dir_all(dir.join("src")).unwrap();
        std::fs::write(dir.join("src/lib.rs"), "").unwrap();
        let cell = suite_cell(&dir, root.path());
        let text = include_str!("../../testdata/miri/cargo_miri_nextest.txt")
            .replace("src/lib.rs", "crates/samples/src/lib.rs");
        let e = evidence_of(&text, &cell, root.path());
        assert_eq!(e.location.as_deref(), Some("crates/samples/src/lib.rs:43:48"));
    }

    /// A race found inside std's `HashMap` (the primary span is in the
    /// registry's hashbrown, the frames go through std): every location in
    /// the evidence names the fixture's own line, none the toolchain or the
    /// registry.
    #[test]
    fn a_race_inside_std_is_shown_at_the_first_own_frame() {
        let root = Path::new("/work/race-hunt");
        let cell = crate::plan::test_cell("cache", "racy-unsync", "miri");
        let e = evidence_of(include_str!("../../testdata/miri/fixture_cache_racy_unsync.txt"), &cell, root);
        for shown in [e.message.as_str(), e.location.as_deref().unwrap()] {
            assert!(
                !shown.contains(".cargo/registry") && !shown.contains(".rustup/") && !shown.contains("/rustc/"),
                "{shown}"
            );
        }
        assert!(e.message.contains("fixtures/cache/src/lib.rs:"), "{}", e.message);
        assert!(e.location.as_deref().unwrap().starts_with("fixtures/cache/src/lib.rs:"), "{:?}", e.location);
    }

    fn fingerprints(text: &str) -> Vec<String> {
        report::parse(text).findings().map(fingerprint).collect()
    }

    #[test]
    fn fingerprints_survive_seeds_access_order_allocations_and_pointer_width() {
        let t = |name: &str| {
            std::fs::read_to_string(crate::root::engine_root().join("xtask/engine/testdata/miri").join(name)).unwrap()
        };
        // Three seeds of one race: which access came first differs between them.
        let seeds = report::parse(&t("fixture_counter_racy_unsync_many_seeds.txt"));
        let firsts: Vec<&str> =
            seeds.findings().filter_map(|r| r.race.as_ref()).map(|r| r.earlier.operation.as_str()).collect();
        assert!(firsts.windows(2).any(|w| w[0] != w[1]), "the captures differ in order: {firsts:?}");
        let fps = fingerprints(&t("fixture_counter_racy_unsync_many_seeds.txt"));
        assert_eq!(fps.len(), 3);
        assert!(fps.iter().all(|f| *f == fps[0]), "{fps:?}");
        assert_eq!(fingerprints(&t("fixture_counter_racy_unsync.txt")), [fps[0].clone()]);
        // One race on x86_64, i686 and armv7: other allocation offsets, thread names.
        let u64s: Vec<Vec<String>> =
            ["fixture_session_racy_u64.txt", "fixture_session_racy_u64_i686.txt", "fixture_session_racy_u64_armv7.txt"]
                .iter()
                .map(|n| fingerprints(&t(n)))
                .collect();
        assert_eq!(u64s[0].len(), 1);
        assert!(u64s.iter().all(|f| *f == u64s[0]), "{u64s:?}");
        // Different races, different fingerprints.
        let others = [&fps[0], &u64s[0][0], &fingerprints(&t("fixture_bank_racy_unsync.txt"))[0]];
        assert!(others[0] != others[1] && others[1] != others[2] && others[0] != others[2]);
        let parts = seeds.findings().next().unwrap().fingerprint_parts(&is_foreign);
        assert_eq!(
            parts,
            [
                "data-race",
                "non-atomic read (fixtures/counter/src/lib.rs)",
                "non-atomic write (fixtures/counter/src/lib.rs)"
            ]
        );
    }
}
