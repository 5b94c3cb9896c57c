//! Child processes: each in its own process group, with a timeout, killed
//! with all of its children on timeout, on SIGINT or SIGTERM, and when the
//! harness itself dies (even by SIGKILL).
//!
//! Three layers keep a child from outliving the harness:
//! - every wait loop watches the stop flags set by the signal handlers and
//!   kills the child's group;
//! - every child gets `PR_SET_PDEATHSIG(SIGKILL)` before exec, so the
//!   kernel kills it when the harness thread that started it goes away;
//! - a reaper process (this same binary, `__reap`, in its own process group)
//!   is told each child's process group through a pipe; when the harness
//!   dies the pipe closes and the reaper kills every group still listed,
//!   grandchildren included (rustc under cargo, a test under qemu).
//!
//! And one keeps a child's descendants from outliving its run: the harness
//! is their subreaper and records them while the child runs (`tree.rs`);
//! when the run ends every one of them is killed and reaped, whatever its
//! process group or session, and each group is told to the reaper too.
//! A child's output goes through a pipe and is bounded (`output.rs`).

mod output;
mod tree;

#[cfg(test)]
pub use output::{cut_line, HEAD as LOG_HEAD, TAIL as LOG_TAIL};

use std::fs::File;
use std::io::{self, BufRead, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    /// The child died of this signal (its own crash, or a kill from outside).
    Signal(i32),
    TimedOut(Duration),
    /// The harness was stopped by this signal (SIGINT, SIGTERM) and killed the child.
    Stopped(i32),
}

/// Which stop signals arrived, and how many in all.
static GOT_INT: AtomicBool = AtomicBool::new(false);
static GOT_TERM: AtomicBool = AtomicBool::new(false);
static SIGNALS: AtomicUsize = AtomicUsize::new(0);
static INSTALLED: OnceLock<()> = OnceLock::new();
/// How many signals the terminal has been told about.
static NOTICED: AtomicUsize = AtomicUsize::new(0);

/// The signal that quits at once: a CI cancel sends SIGINT and, 7.5 s
/// later, SIGTERM, then SIGKILL; the report must survive the second one.
pub const QUIT_AT_ONCE: usize = 3;

/// What a stop signal does, in the handler: record it; the
/// [`QUIT_AT_ONCE`]th exits at once with its code (the reaper still kills
/// the children). Only atomics and `_exit`: async-signal-safe.
fn on_stop_signal(sig: i32) {
    // Two signals sent back to back may be handled by two threads at once,
    // so "the later one" is not observable: SIGTERM's code wins.
    if sig == libc::SIGTERM {
        GOT_TERM.store(true, Ordering::SeqCst);
    } else {
        GOT_INT.store(true, Ordering::SeqCst);
    }
    if SIGNALS.fetch_add(1, Ordering::SeqCst) + 1 >= QUIT_AT_ONCE {
        signal_hook::low_level::exit(stop_exit_code(sig));
    }
}

/// Route SIGINT and SIGTERM to the stop state every wait loop watches. The
/// first stops the run (children killed, no new cell, build or rerun, the
/// report written); a second only escalates (SIGINT then SIGTERM: the
/// report and the exit code say 143); a third quits at once.
pub fn install_signal_handlers() {
    INSTALLED.get_or_init(|| {
        for sig in [libc::SIGINT, libc::SIGTERM] {
            // SAFETY: the action only touches atomics and calls `_exit`,
            // both async-signal-safe.
            let _ = unsafe { signal_hook::low_level::register(sig, move || on_stop_signal(sig)) };
        }
    });
}

/// The signal that stopped the run, if any (SIGTERM wins over SIGINT).
pub fn stop_signal() -> Option<i32> {
    INSTALLED.get()?;
    let sig = if GOT_TERM.load(Ordering::SeqCst) {
        libc::SIGTERM
    } else if GOT_INT.load(Ordering::SeqCst) {
        libc::SIGINT
    } else {
        return None;
    };
    let count = SIGNALS.load(Ordering::SeqCst);
    let told = NOTICED.swap(count, Ordering::SeqCst);
    if told == 0 {
        eprintln!(
            "\nrace-hunt: stopped by {}; killing running cells and writing the report (a third signal quits at once)",
            crate::process::signal_name(sig)
        );
    } else if told < count {
        eprintln!(
            "race-hunt: {} too; still writing the report, with its exit code (a third signal quits at once)",
            crate::process::signal_name(sig)
        );
    }
    Some(sig)
}

/// How many stop signals have arrived (to forward each to a child that
/// handles them itself, as `calibrate` does).
pub fn stop_count() -> usize {
    SIGNALS.load(Ordering::SeqCst)
}

pub fn interrupted() -> bool {
    stop_signal().is_some()
}

/// The exit code for a run stopped by `sig`.
pub fn stop_exit_code(sig: i32) -> i32 {
    if sig == libc::SIGTERM {
        crate::exit::TERMINATED
    } else {
        crate::exit::INTERRUPTED
    }
}

static REAPER: Mutex<Option<ChildStdin>> = Mutex::new(None);

/// Start the reaper (once). Without it children still die on timeouts and
/// signals; with it they also die when the harness is SIGKILLed.
pub fn start_reaper() {
    if REAPER.lock().unwrap_or_else(|p| p.into_inner()).is_some() {
        return;
    }
    let Ok(exe) = std::env::current_exe() else { return };
    // Not under the reaper's lock: the tracker takes its own lock first.
    let child = tree::spawn_direct(
        Command::new(exe)
            .arg("__reap")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0),
    );
    if let Ok(mut child) = child {
        let mut guard = REAPER.lock().unwrap_or_else(|p| p.into_inner());
        if guard.is_none() {
            *guard = child.stdin.take();
        }
        // Reaped by whoever outlives it; nobody waits for it. A second
        // reaper started by a racing call sees end of input and exits.
        std::mem::forget(child);
    }
}

fn tell_reaper(line: String) {
    let mut guard = REAPER.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(pipe) = guard.as_mut() {
        if pipe.write_all(line.as_bytes()).and_then(|_| pipe.flush()).is_err() {
            *guard = None;
        }
    }
}

/// The reaper's main loop (`xtask __reap`): `+PGID` / `-PGID` lines on
/// stdin; at end of input, kill every group still listed.
pub fn reap() -> i32 {
    // Signals meant for the harness are not for the reaper.
    // SAFETY: setting a signal's disposition to SIG_IGN has no preconditions.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_IGN);
        libc::signal(libc::SIGTERM, libc::SIG_IGN);
        libc::signal(libc::SIGHUP, libc::SIG_IGN);
    }
    let mut groups: Vec<i32> = Vec::new();
    for line in io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let (op, n) = line.split_at(line.len().min(1));
        let Ok(pgid) = n.trim().parse::<i32>() else { continue };
        match op {
            "+" => groups.push(pgid),
            "-" => groups.retain(|g| *g != pgid),
            _ => {}
        }
    }
    for g in groups {
        kill_group(g);
    }
    0
}

/// Drop every inherited `NEXTEST_*` variable the caller did not set on `cmd`.
/// The nextest runs race-hunt starts are configured by the manifest and
/// race-hunt's own profile: a `NEXTEST_PROFILE=ci` exported by the caller's
/// CI (or set by an outer nextest running race-hunt's own tests) names a
/// profile the hunted workspace may not have, and `NEXTEST_RETRIES` would
/// hide failures.
fn scrub_nextest_env(cmd: &mut Command, inherited: impl Iterator<Item = std::ffi::OsString>) {
    let explicit: Vec<std::ffi::OsString> = cmd.get_envs().map(|(k, _)| k.to_owned()).collect();
    for key in inherited {
        if key.to_str().is_some_and(|k| k.starts_with("NEXTEST_")) && !explicit.contains(&key) {
            cmd.env_remove(key);
        }
    }
}

/// Run `cmd` with stdout and stderr appended to `log` (bounded: its first
/// `output::HEAD` and last `output::TAIL` bytes), killing its whole process
/// group after `timeout` or when the harness is stopped, and every process
/// it started when it ends.
pub fn run(cmd: Command, log: &Path, timeout: Duration) -> io::Result<(Exit, Duration)> {
    run_kept(cmd, log, timeout).map(|(exit, took, _)| (exit, took))
}

/// [`run`], and the output it added to the log: what the log kept.
pub fn run_kept(cmd: Command, log: &Path, timeout: Duration) -> io::Result<(Exit, Duration, String)> {
    run_measured(cmd, log, timeout).map(|r| (r.exit, r.took, r.text))
}

/// How a child ran.
#[derive(Debug, Clone)]
pub struct Ran {
    pub exit: Exit,
    /// Wall time.
    pub took: Duration,
    /// The output it added to the log, as the log keeps it.
    pub text: String,
    /// User and system CPU time of the child and of every descendant it
    /// waited for (a runner's threads, nextest's tests, cargo's rustc).
    pub cpu: Duration,
}

/// [`run_kept`], and the CPU time the child got.
pub fn run_measured(mut cmd: Command, log: &Path, timeout: Duration) -> io::Result<Ran> {
    scrub_nextest_env(&mut cmd, std::env::vars_os().map(|(k, _)| k));
    if let Some(dir) = log.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let out = File::options().create(true).append(true).open(log)?;
    let (reader, writer) = io::pipe()?;
    cmd.stdin(Stdio::null()).stdout(writer.try_clone()?).stderr(writer).process_group(0);
    // SAFETY: prctl is async-signal-safe; the closure allocates nothing.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
            Ok(())
        });
    }
    let start = Instant::now();
    if let Some(sig) = stop_signal() {
        return Ok(Ran { exit: Exit::Stopped(sig), took: Duration::ZERO, text: String::new(), cpu: Duration::ZERO });
    }
    let copier = output::Copier::start(reader, out)?;
    let (child, run) = tree::spawn(&mut cmd)?;
    // The pipe's write end now lives only in the child and its descendants.
    drop(cmd);
    let pgid = child.id() as i32;
    let waited = wait(child.id() as i32, start, timeout);
    // Whatever the child left behind, in its group or not, goes too.
    kill_group(pgid);
    tree::finish(run);
    let text = copier.finish(Duration::from_secs(2));
    let (exit, cpu) = waited?;
    Ok(Ran { exit, took: start.elapsed(), text, cpu })
}

/// Wait for the child `pid` (the leader of its own process group) with
/// `wait4`, which also gives its resource usage; kill its group at the
/// timeout or on a stop signal.
fn wait(pid: i32, start: Instant, timeout: Duration) -> io::Result<(Exit, Duration)> {
    let reap = |flags: libc::c_int| -> io::Result<Option<(libc::c_int, Duration)>> {
        loop {
            let mut status: libc::c_int = 0;
            // SAFETY: wait4 writes into the status and the zeroed rusage we
            // own; `pid` is our own child, which std never waits for here.
            let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
            let r = unsafe { libc::wait4(pid, &mut status, flags, &mut ru) };
            if r == pid {
                let t = |v: libc::timeval| Duration::new(v.tv_sec as u64, v.tv_usec as u32 * 1000);
                return Ok(Some((status, t(ru.ru_utime) + t(ru.ru_stime))));
            }
            if r == 0 {
                return Ok(None);
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    };
    let decode = |status: libc::c_int| {
        if libc::WIFEXITED(status) {
            Exit::Code(libc::WEXITSTATUS(status))
        } else if libc::WIFSIGNALED(status) {
            Exit::Signal(libc::WTERMSIG(status))
        } else {
            Exit::Code(-1)
        }
    };
    loop {
        if let Some((status, cpu)) = reap(libc::WNOHANG)? {
            return Ok((decode(status), cpu));
        }
        let timed_out = start.elapsed() >= timeout;
        let stopped = stop_signal();
        if timed_out || stopped.is_some() {
            kill_group(pid);
            let cpu = reap(0)?.map_or(Duration::ZERO, |(_, cpu)| cpu);
            return Ok((
                match stopped {
                    Some(sig) => Exit::Stopped(sig),
                    None => Exit::TimedOut(start.elapsed()),
                },
                cpu,
            ));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn kill_group(pgid: i32) {
    // SAFETY: kill has no memory-safety preconditions; a negative pid names
    // the process group that `process_group(0)` created for the child.
    unsafe {
        libc::kill(-pgid, libc::SIGKILL);
    }
}

pub fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGILL => "SIGILL",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGTERM => "SIGTERM",
        libc::SIGINT => "SIGINT",
        libc::SIGHUP => "SIGHUP",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGPIPE => "SIGPIPE",
        _ => "signal",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Command {
        let mut c = Command::new("sh");
        c.args(["-c", script]);
        c
    }

    #[test]
    fn inherited_nextest_settings_are_dropped_and_explicit_ones_kept() {
        let mut c = sh("true");
        c.env("NEXTEST_TEST_THREADS", "1");
        let inherited =
            ["NEXTEST_PROFILE", "NEXTEST_TEST_THREADS", "PATH", "CARGO_NEXTEST"].map(std::ffi::OsString::from);
        scrub_nextest_env(&mut c, inherited.into_iter());
        let envs: Vec<(String, Option<String>)> = c
            .get_envs()
            .map(|(k, v)| (k.to_string_lossy().into_owned(), v.map(|v| v.to_string_lossy().into_owned())))
            .collect();
        assert!(envs.contains(&("NEXTEST_PROFILE".into(), None)), "{envs:?}");
        assert!(envs.contains(&("NEXTEST_TEST_THREADS".into(), Some("1".into()))), "{envs:?}");
        assert_eq!(envs.len(), 2, "PATH and CARGO_NEXTEST stay inherited: {envs:?}");
    }

    #[test]
    fn exit_codes_and_output_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("a/b.log");
        let (exit, _) = run(sh("echo out; echo err >&2; exit 3"), &log, Duration::from_secs(10)).unwrap();
        assert_eq!(exit, Exit::Code(3));
        let text = std::fs::read_to_string(&log).unwrap();
        assert!(text.contains("out") && text.contains("err"), "{text}");
    }

    #[test]
    fn a_crash_signal_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let (exit, _) = run(sh("kill -SEGV $$"), &dir.path().join("l"), Duration::from_secs(10)).unwrap();
        assert_eq!(exit, Exit::Signal(libc::SIGSEGV));
    }

    #[test]
    fn a_hang_is_killed_with_its_children() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("grandchild.pid");
        let script = format!("sleep 300 & echo $! > {}; wait", pidfile.display());
        let (exit, took) = run(sh(&script), &dir.path().join("l"), Duration::from_millis(300)).unwrap();
        assert!(matches!(exit, Exit::TimedOut(_)), "{exit:?}");
        assert!(took < Duration::from_secs(5));
        let pid: i32 = std::fs::read_to_string(&pidfile).unwrap().trim().parse().unwrap();
        std::thread::sleep(Duration::from_millis(100));
        let alive = std::fs::read_to_string(format!("/proc/{pid}/stat")).map(|s| !s.contains(") Z ")).unwrap_or(false);
        assert!(!alive, "grandchild {pid} survived the timeout kill");
    }

    /// `pid` is gone: not running, and not left as a zombie either.
    fn gone(pid: i32) -> bool {
        !Path::new(&format!("/proc/{pid}")).exists()
    }

    /// A suite-like child that starts a grandchild in its own session
    /// (`setsid`) which ignores SIGTERM, writes its pid to a file, and
    /// keeps running; then the child does `then`.
    fn with_escaping_grandchild(dir: &Path, then: &str) -> (Command, std::path::PathBuf) {
        let pidfile = dir.join("grandchild.pid");
        let grandchild =
            format!("trap '' TERM; echo \\$\\$ > {}.tmp; mv {0}.tmp {0}; while :; do sleep 1; done", pidfile.display());
        let script = format!(
            "setsid sh -c \"{grandchild}\" & while [ ! -s {} ]; do sleep 0.01; done; {then}",
            pidfile.display()
        );
        (sh(&script), pidfile)
    }

    fn grandchild_pid(pidfile: &Path) -> i32 {
        std::fs::read_to_string(pidfile).unwrap().trim().parse().unwrap()
    }

    #[test]
    fn a_grandchild_in_its_own_session_ignoring_sigterm_ends_with_the_run() {
        // The child exits normally, waits a little first (the grandchild is
        // recorded as its descendant), exits at once (the grandchild is an
        // orphan re-parented to the harness before any scan), or hangs past
        // its timeout.
        for (then, timeout, want_timeout) in
            [("sleep 0.2; exit 0", 10_000, false), ("exit 0", 10_000, false), ("sleep 300", 500, true)]
        {
            let dir = tempfile::tempdir().unwrap();
            let (cmd, pidfile) = with_escaping_grandchild(dir.path(), then);
            let (exit, took) = run(cmd, &dir.path().join("l"), Duration::from_millis(timeout)).unwrap();
            assert_eq!(matches!(exit, Exit::TimedOut(_)), want_timeout, "{then}: {exit:?}");
            assert!(took < Duration::from_secs(8), "{then}: {took:?}");
            let pid = grandchild_pid(&pidfile);
            assert!(gone(pid), "{then}: the grandchild {pid} in its own session outlived the run");
        }
    }

    /// Peak resident memory of this process, from /proc/self/status.
    fn peak_rss_kib() -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    #[test]
    fn a_child_printing_50_mb_leaves_a_bounded_log_and_bounded_memory() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("l");
        // 50 MiB of lines, and the evidence at the very end.
        let script = "head -c 52428800 /dev/zero | tr '\\0' 'x' | fold -w 99; echo; echo 'panicked at src/lib.rs:6:9:'";
        let before = peak_rss_kib();
        let (exit, _, text) = run_kept(sh(script), &log, Duration::from_secs(120)).unwrap();
        let grew = peak_rss_kib().saturating_sub(before);
        assert_eq!(exit, Exit::Code(0));
        let size = std::fs::metadata(&log).unwrap().len();
        assert!(size <= (LOG_HEAD + LOG_TAIL + 200) as u64, "the log is {size} bytes");
        let on_disk = std::fs::read_to_string(&log).unwrap();
        assert_eq!(on_disk, text, "the parsers read what the log keeps");
        assert!(text.contains("[race-hunt: cut "), "no cut line");
        assert!(text.trim_end().ends_with("panicked at src/lib.rs:6:9:"), "the tail is kept");
        assert!(text.starts_with("xxxx"), "the head is kept");
        // Head, tail and their text, with room to spare; never the 50 MiB.
        assert!(grew < 40 * 1024, "peak RSS grew by {grew} KiB");
    }
}
