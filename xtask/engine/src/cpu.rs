//! Is a process stuck, or only slow? The CPU time and thread states of
//! every process that carries a marker in its environment (the marker is
//! set on the child race-hunt starts and inherited by everything below it,
//! whatever process group or session it moves to), sampled from `/proc`
//! while it runs. A `hang` needs this evidence: a clock alone cannot tell a
//! deadlock from a test that is slow under an instrumenting detector.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The environment variable that carries the marker.
pub const MARKER: &str = "RACE_HUNT_WATCH";

/// Processes not counted: the tools around the test, which poll.
const TOOLS: &[&str] = &["cargo", "cargo-nextest", "rustup", "chrt"];

/// CPU time (user + system) used so far by race-hunt itself and by every
/// process it started that has ended and been waited for (cargo counts its
/// rustc children, nextest its tests; orphans are reaped by the harness as
/// their subreaper), in milliseconds.
pub fn used_ms() -> u64 {
    fn ms(who: libc::c_int) -> u64 {
        // SAFETY: getrusage writes into the zeroed struct we own.
        let mut u: libc::rusage = unsafe { std::mem::zeroed() };
        if unsafe { libc::getrusage(who, &mut u) } != 0 {
            return 0;
        }
        let t = |v: libc::timeval| v.tv_sec as u64 * 1000 + v.tv_usec as u64 / 1000;
        t(u.ru_utime) + t(u.ru_stime)
    }
    ms(libc::RUSAGE_SELF) + ms(libc::RUSAGE_CHILDREN)
}

/// CPU time (all cores) the whole machine has used since boot at normal or
/// higher priority, from the first line of `/proc/stat` (`cpu user nice
/// system idle iowait irq softirq steal ...`, in clock ticks): user, system,
/// interrupts and steal (time a hypervisor gave to other guests). Idle and
/// iowait are not busy; `nice` is left out too: a process at a lower
/// priority (a niced build beside the run) yields its core to a test's
/// threads whenever they want it, so it takes nothing from them. `None`
/// where `/proc/stat` cannot be read.
pub fn machine_busy() -> Option<Duration> {
    machine_ticks().map(|t| t.busy)
}

/// The machine's CPU time since boot: at normal or higher priority, and
/// at a lower one (`nice`).
struct MachineTicks {
    busy: Duration,
    #[cfg_attr(not(test), allow(dead_code))]
    niced: Duration,
}

fn machine_ticks() -> Option<MachineTicks> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    let (busy, niced) = parse_machine_ticks(&text)?;
    let d = |ticks: u64| Duration::from_secs_f64(ticks as f64 / ticks_per_second());
    Some(MachineTicks { busy: d(busy), niced: d(niced) })
}

/// `(busy, nice)` ticks of `/proc/stat`'s first line.
fn parse_machine_ticks(text: &str) -> Option<(u64, u64)> {
    let line = text.lines().next()?;
    let mut words = line.split_whitespace();
    (words.next()? == "cpu").then_some(())?;
    let fields: Vec<u64> = words.map(|w| w.parse().ok()).collect::<Option<_>>()?;
    // user nice system idle iowait irq softirq steal (guest time is already
    // in user and nice, so it is not added again).
    let at = |i: usize| fields.get(i).copied().unwrap_or(0);
    (fields.len() >= 4).then(|| (at(0) + at(2) + at(5) + at(6) + at(7), at(1)))
}

/// One look at the marked processes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    pub at: Duration,
    /// CPU time (user + system) of every marked process seen so far, in
    /// clock ticks; a process that exited keeps its last reading.
    pub ticks: u64,
    /// Thread states of the marked processes now: `(state, wait channel)`.
    pub threads: Vec<(char, String)>,
}

/// A sampler running beside a child until [`Watch::finish`].
pub struct Watch {
    stop: Arc<AtomicBool>,
    samples: Arc<Mutex<Vec<Sample>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Watch {
    /// Sample the processes marked `id` every `every` until finished.
    pub fn start(id: String, every: Duration) -> Watch {
        let stop = Arc::new(AtomicBool::new(false));
        let samples = Arc::new(Mutex::new(Vec::new()));
        let (s, out) = (Arc::clone(&stop), Arc::clone(&samples));
        let thread = std::thread::spawn(move || {
            let t0 = Instant::now();
            let mut last: BTreeMap<i32, u64> = BTreeMap::new();
            while !s.load(Ordering::SeqCst) {
                let (now, threads) = scan(&id);
                last.extend(now);
                let sample = Sample { at: t0.elapsed(), ticks: last.values().sum(), threads };
                out.lock().unwrap_or_else(|p| p.into_inner()).push(sample);
                std::thread::sleep(every);
            }
        });
        Watch { stop, samples, thread: Some(thread) }
    }

    pub fn finish(mut self) -> Vec<Sample> {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        std::mem::take(&mut *self.samples.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// A fresh marker value.
pub fn marker() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    format!("{}-{nanos}", std::process::id())
}

/// CPU ticks per marked pid, and the states of their threads.
fn scan(id: &str) -> (BTreeMap<i32, u64>, Vec<(char, String)>) {
    let needle = format!("{MARKER}={id}");
    let mut ticks = BTreeMap::new();
    let mut threads = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else { continue };
        let Ok(environ) = std::fs::read(entry.path().join("environ")) else { continue };
        if !environ.split(|b| *b == 0).any(|kv| kv == needle.as_bytes()) {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        let Some(st) = parse_stat(&stat) else { continue };
        if TOOLS.contains(&st.comm.as_str()) {
            continue;
        }
        ticks.insert(pid, st.ticks);
        for task in std::fs::read_dir(entry.path().join("task")).into_iter().flatten().flatten() {
            let state = std::fs::read_to_string(task.path().join("stat")).ok().and_then(|s| parse_stat(&s));
            let wchan = std::fs::read_to_string(task.path().join("wchan")).unwrap_or_default();
            if let Some(t) = state {
                threads.push((t.state, wchan.trim().to_string()));
            }
        }
    }
    (ticks, threads)
}

struct Stat {
    comm: String,
    state: char,
    ticks: u64,
}

/// `/proc/PID/stat`: `pid (comm) state ... utime stime ...` (fields 14 and 15).
fn parse_stat(text: &str) -> Option<Stat> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text[open + 1..close].to_string();
    let rest: Vec<&str> = text[close + 1..].split_whitespace().collect();
    let state = rest.first()?.chars().next()?;
    // rest[0] is field 3 (state); utime is field 14, stime field 15.
    let utime: u64 = rest.get(11)?.parse().ok()?;
    let stime: u64 = rest.get(12)?.parse().ok()?;
    Some(Stat { comm, state, ticks: utime + stime })
}

fn ticks_per_second() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

/// What the samples say about the end of a run that was killed at its timeout.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// No CPU progress over the last `idle` seconds: stuck (a deadlock, a
    /// lost wakeup, a wait that never ends).
    Stuck { idle: f64, threads: String },
    /// Still using CPU: slow under this detector (or a livelock).
    Busy { cpu: f64, over: f64, threads: String },
    /// Too few samples to say (the test was not found, or ended at once).
    Unknown,
}

/// Read the last `window` of samples: less than 2% of one core's time used
/// there means stuck.
pub fn judge(samples: &[Sample], window: Duration) -> Verdict {
    let Some(last) = samples.iter().rev().find(|s| !s.threads.is_empty()) else { return Verdict::Unknown };
    let from = last.at.saturating_sub(window);
    let Some(first) = samples.iter().find(|s| s.at >= from && !s.threads.is_empty()) else { return Verdict::Unknown };
    let span = (last.at - first.at).as_secs_f64();
    if span < window.as_secs_f64() / 2.0 {
        return Verdict::Unknown;
    }
    let cpu = last.ticks.saturating_sub(first.ticks) as f64 / ticks_per_second();
    let threads = describe(&last.threads);
    // A thread seen runnable (`R`) in most looks wanted a core: starved by
    // other processes (real-time ones take every core they want), not
    // stuck, however little CPU it got.
    let looks: Vec<&Sample> = samples.iter().filter(|s| s.at >= first.at && !s.threads.is_empty()).collect();
    let runnable = looks.iter().filter(|s| s.threads.iter().any(|(state, _)| *state == 'R')).count();
    if cpu < span * 0.02 && runnable * 2 < looks.len() {
        Verdict::Stuck { idle: span, threads }
    } else {
        Verdict::Busy { cpu, over: span, threads }
    }
}

/// `3 threads: 2 sleeping in futex_wait_queue, 1 running`.
fn describe(threads: &[(char, String)]) -> String {
    let mut by: BTreeMap<String, usize> = BTreeMap::new();
    for (state, wchan) in threads {
        let word = match state {
            'R' => "running".to_string(),
            'S' => "sleeping".to_string(),
            'D' => "in uninterruptible wait".to_string(),
            'T' | 't' => "stopped".to_string(),
            'Z' => "zombie".to_string(),
            other => format!("state {other}"),
        };
        let key = if wchan.is_empty() || wchan == "0" { word } else { format!("{word} in {wchan}") };
        *by.entry(key).or_default() += 1;
    }
    let parts: Vec<String> = by.into_iter().map(|(k, n)| format!("{n} {k}")).collect();
    format!("{} thread{}: {}", threads.len(), if threads.len() == 1 { "" } else { "s" }, parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn watched(script: &str, secs: f64) -> Verdict {
        let id = marker();
        let mut child = Command::new("sh").args(["-c", script]).env(MARKER, &id).spawn().unwrap();
        let watch = Watch::start(id, Duration::from_millis(100));
        std::thread::sleep(Duration::from_secs_f64(secs));
        let samples = watch.finish();
        let _ = child.kill();
        let _ = child.wait();
        judge(&samples, Duration::from_secs_f64(secs * 0.8))
    }

    #[test]
    fn a_sleeping_process_is_stuck_and_a_spinning_one_is_busy() {
        match watched("exec sleep 30", 3.0) {
            Verdict::Stuck { threads, .. } => assert!(threads.starts_with("1 thread: 1 sleeping"), "{threads}"),
            other => panic!("a sleeping process: {other:?}"),
        }
        match watched("while :; do :; done", 3.0) {
            Verdict::Busy { cpu, .. } => assert!(cpu > 0.1, "{cpu}"),
            other => panic!("a spinning process: {other:?}"),
        }
    }

    #[test]
    fn a_runnable_thread_that_gets_no_cpu_is_starved_not_stuck() {
        let look = |ms: u64, ticks: u64, state: char| Sample {
            at: Duration::from_millis(ms),
            ticks,
            threads: vec![(state, "0".to_string()), ('S', "futex_wait_queue".to_string())],
        };
        let runnable: Vec<Sample> = (0..20).map(|i| look(i * 500, 7, 'R')).collect();
        assert!(matches!(judge(&runnable, Duration::from_secs(8)), Verdict::Busy { .. }));
        let sleeping: Vec<Sample> = (0..20).map(|i| look(i * 500, 7, 'S')).collect();
        assert!(matches!(judge(&sleeping, Duration::from_secs(8)), Verdict::Stuck { .. }));
    }

    #[test]
    fn descendants_in_another_session_are_watched_too() {
        // setsid moves the spinner out of the child's group and session;
        // the marker still finds it.
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("spinner.pid");
        let script = format!("setsid sh -c 'echo $$ > {}; while :; do :; done' & exec sleep 30", pidfile.display());
        let verdict = watched(&script, 1.5);
        if let Ok(pid) = std::fs::read_to_string(&pidfile).unwrap_or_default().trim().parse::<i32>() {
            // SAFETY: kill has no memory-safety preconditions.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        assert!(matches!(verdict, Verdict::Busy { .. }), "{verdict:?}");
    }

    #[test]
    fn the_machines_busy_time_leaves_out_idle_iowait_and_niced_processes() {
        let stat = "cpu  100 5 20 1000 7 3 2 1 50 0\ncpu0 50 2 10 500 3 1 1 0 25 0\n";
        // user, system, irq, softirq, steal; nice apart; not idle or iowait.
        assert_eq!(parse_machine_ticks(stat), Some((100 + 20 + 3 + 2 + 1, 5)));
        assert_eq!(parse_machine_ticks("intr 1 2 3\n"), None);
        assert_eq!(parse_machine_ticks("cpu 1 x 3 4\n"), None);
        // The live counters move while this thread spins: /proc/stat is
        // read, not invented. (How much shows in which column is tick
        // sampling: on a loaded machine a niced spinner's 300 ms showed as
        // 70-240 ms, so only growth is asserted.)
        let total = || machine_ticks().map(|t| t.busy + t.niced).expect("/proc/stat");
        let thread_cpu = || {
            // SAFETY: clock_gettime writes into the zeroed struct we own.
            let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
            unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
            Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
        };
        let before = total();
        let (t, cpu0) = (Instant::now(), thread_cpu());
        while thread_cpu() < cpu0 + Duration::from_millis(300) && t.elapsed() < Duration::from_secs(60) {
            std::hint::black_box(0u64);
        }
        let after = total();
        assert!(after > before, "{before:?} -> {after:?}");
    }

    #[test]
    fn stat_lines_with_spaces_in_the_name_parse() {
        let s = parse_stat("42 (a (b) c) S 1 42 42 0 -1 4194560 100 0 0 0 7 3 0 0 20 0 1 0 5 0 0").unwrap();
        assert_eq!((s.comm.as_str(), s.state, s.ticks), ("a (b) c", 'S', 10));
        assert_eq!(judge(&[], Duration::from_secs(1)), Verdict::Unknown);
    }
}
