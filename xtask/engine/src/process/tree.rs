//! Every process a child starts, however deep, ends with the child's run.
//!
//! The harness makes itself a child subreaper, so a descendant whose parent
//! dies (a test's grandchild after the test exits, a daemon that forked
//! twice and called `setsid`) is re-parented to the harness instead of
//! init. While a child runs, one scanner thread reads `/proc/*/stat` every
//! [`PERIOD`] and records each run's descendants: the child, every process
//! whose parent is a recorded descendant, and every orphan re-parented to
//! the harness. An orphan is credited to the run whose descendants share
//! its process group, or, when it made its own session, to every run
//! active at the time (it is killed when the first of them ends rather
//! than outlive them all). Each new process group is told to the reaper
//! process, which kills it if the harness is SIGKILLed.
//!
//! When a run ends (exit, timeout or stop), [`finish`] scans once more,
//! SIGKILLs every recorded descendant and its process group, and reaps the
//! ones re-parented to the harness, until none is left.
//!
//! The window: a process that is started and escapes (a new session, its
//! parent gone) within one period of the harness being SIGKILLed is never
//! seen, so the reaper cannot kill it. A process that escapes while the
//! harness lives is re-parented to the harness and found by the next scan.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::io;
use std::process::{Child, Command};
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How often the descendants of running children are recorded.
pub const PERIOD: Duration = Duration::from_millis(50);

/// One line of `/proc/PID/stat`, the fields the tracker needs.
#[derive(Debug, Clone, Copy)]
struct Stat {
    pid: i32,
    ppid: i32,
    pgid: i32,
    zombie: bool,
    /// Start time in clock ticks since boot: tells a pid from its reuse.
    start: u64,
}

fn parse_stat(text: &str) -> Option<Stat> {
    let pid = text.split_once(' ')?.0.parse().ok()?;
    // The command name is in parentheses and may itself contain them.
    let rest = &text[text.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(Stat {
        pid,
        zombie: matches!(*f.first()?, "Z" | "X"),
        ppid: f.get(1)?.parse().ok()?,
        pgid: f.get(2)?.parse().ok()?,
        start: f.get(19)?.parse().ok()?,
    })
}

fn read_stat(pid: i32) -> Option<Stat> {
    parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// Every process, from `/proc`. Reading a `stat` file is not free (80 µs
/// on a small VM), so a periodic scan reads only the processes it has not
/// seen and those whose parent is gone (re-parented since); `fresh` reads
/// them all (their state included).
fn snapshot(cache: &mut HashMap<i32, Stat>, fresh: bool) -> Vec<Stat> {
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    let pids: HashSet<i32> = dir.flatten().filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok()).collect();
    cache.retain(|pid, _| pids.contains(pid));
    for &pid in &pids {
        let stale = fresh || cache.get(&pid).is_none_or(|s| s.ppid != 0 && !pids.contains(&s.ppid));
        if stale {
            match read_stat(pid) {
                Some(s) => cache.insert(pid, s),
                None => cache.remove(&pid),
            };
        }
    }
    cache.values().copied().collect()
}

/// The descendants recorded for one running child.
struct Run {
    id: u64,
    root: i32,
    /// pid → start time.
    members: HashMap<i32, u64>,
    /// Process groups told to the reaper.
    groups: HashSet<i32>,
}

struct Tracker {
    runs: Vec<Run>,
    /// Children started directly by the harness in their own process group
    /// that belong to no run (the reaper).
    direct: BTreeSet<i32>,
    next: u64,
    scanner: bool,
    /// The last snapshot, by pid.
    seen: Option<HashMap<i32, Stat>>,
}

static TRACKER: Mutex<Tracker> =
    Mutex::new(Tracker { runs: Vec::new(), direct: BTreeSet::new(), next: 0, scanner: false, seen: None });
static ACTIVE: Condvar = Condvar::new();

fn lock() -> std::sync::MutexGuard<'static, Tracker> {
    TRACKER.lock().unwrap_or_else(|p| p.into_inner())
}

/// Make the harness the subreaper of everything it starts (once).
fn become_subreaper() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        // SAFETY: prctl with these arguments has no memory-safety preconditions.
        unsafe {
            libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
        }
    });
}

fn me() -> (i32, i32) {
    // SAFETY: getpid and getpgrp cannot fail and touch no memory.
    unsafe { (libc::getpid(), libc::getpgrp()) }
}

/// Start a child that belongs to no run (the reaper): the scans must not
/// take it for an orphan.
pub(super) fn spawn_direct(cmd: &mut Command) -> io::Result<Child> {
    let mut t = lock();
    let child = cmd.spawn()?;
    t.direct.insert(child.id() as i32);
    Ok(child)
}

/// Start `cmd` (in its own process group) and record its descendants until
/// [`finish`]. The spawn happens under the tracker's lock, so no scan sees
/// the new child before it is known.
pub(super) fn spawn(cmd: &mut Command) -> io::Result<(Child, u64)> {
    become_subreaper();
    let mut t = lock();
    let child = cmd.spawn()?;
    let pid = child.id() as i32;
    let id = t.next;
    t.next += 1;
    let mut run = Run { id, root: pid, members: HashMap::new(), groups: HashSet::new() };
    if let Some(s) = read_stat(pid) {
        run.members.insert(pid, s.start);
    }
    // The child's own group, known before any scan.
    run.groups.insert(pid);
    super::tell_reaper(format!("+{pid}\n"));
    t.runs.push(run);
    if !t.scanner {
        t.scanner = true;
        std::thread::Builder::new().name("race-hunt-tree".into()).spawn(scanner)?;
    }
    ACTIVE.notify_all();
    Ok((child, id))
}

fn scanner() {
    loop {
        {
            let mut t = lock();
            while t.runs.is_empty() {
                t = ACTIVE.wait(t).unwrap_or_else(|p| p.into_inner());
            }
            scan(&mut t, false);
        }
        std::thread::sleep(PERIOD);
    }
}

/// Record every run's descendants from a fresh `/proc` snapshot, and tell
/// the reaper each new process group.
fn scan(t: &mut Tracker, fresh: bool) -> HashMap<i32, Stat> {
    let procs = snapshot(t.seen.get_or_insert_with(HashMap::new), fresh);
    let by_pid: HashMap<i32, Stat> = procs.iter().map(|s| (s.pid, *s)).collect();
    let (me, my_group) = me();
    for run in &mut t.runs {
        run.members.retain(|pid, start| by_pid.get(pid).is_some_and(|s| s.start == *start));
    }
    // Orphans re-parented to the harness that no run has recorded yet.
    let orphans: Vec<Stat> = procs
        .iter()
        .filter(|s| s.ppid == me && s.pgid != my_group && !t.direct.contains(&s.pid))
        .filter(|s| !t.runs.iter().any(|r| r.root == s.pid || r.members.contains_key(&s.pid)))
        .copied()
        .collect();
    for o in orphans {
        let same_group: Vec<usize> = (0..t.runs.len())
            .filter(|&i| {
                let r = &t.runs[i];
                r.groups.contains(&o.pgid) || r.members.keys().any(|p| by_pid.get(p).is_some_and(|s| s.pgid == o.pgid))
            })
            .collect();
        let owners = if same_group.is_empty() { (0..t.runs.len()).collect() } else { same_group };
        for i in owners {
            t.runs[i].members.insert(o.pid, o.start);
        }
    }
    for run in &mut t.runs {
        // Children of recorded descendants, to a fixed point.
        loop {
            let new: Vec<Stat> = procs
                .iter()
                .filter(|s| !run.members.contains_key(&s.pid) && run.members.contains_key(&s.ppid))
                .copied()
                .collect();
            if new.is_empty() {
                break;
            }
            for s in new {
                run.members.insert(s.pid, s.start);
            }
        }
        for pid in run.members.keys() {
            if let Some(s) = by_pid.get(pid) {
                if s.ppid == me && *pid != run.root {
                    // A descendant re-parented to the harness that may have
                    // exited: reap it, so that it is no zombie and its own
                    // children are seen re-parented by the next scan.
                    // SAFETY: waitpid on a process the harness adopted; no
                    // other code waits for a process the harness did not start.
                    unsafe {
                        libc::waitpid(*pid, std::ptr::null_mut(), libc::WNOHANG);
                    }
                }
                if s.pgid != my_group && s.pgid > 1 && run.groups.insert(s.pgid) {
                    super::tell_reaper(format!("+{}\n", s.pgid));
                }
            }
        }
    }
    by_pid
}

/// The run `id` ended: kill every process it recorded and their groups,
/// reap those re-parented to the harness, and forget the run.
pub(super) fn finish(id: u64) {
    let (me, my_group) = me();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (alive, zombies) = {
            let mut t = lock();
            let by_pid = scan(&mut t, true);
            let Some(run) = t.runs.iter().find(|r| r.id == id) else { return };
            let stats: Vec<Stat> = run.members.keys().filter_map(|p| by_pid.get(p).copied()).collect();
            let alive: Vec<Stat> = stats.iter().filter(|s| !s.zombie).copied().collect();
            let zombies: Vec<i32> =
                stats.iter().filter(|s| s.zombie && s.ppid == me && s.pid != run.root).map(|s| s.pid).collect();
            (alive, zombies)
        };
        for s in &alive {
            // SAFETY: kill has no memory-safety preconditions; the pid was
            // checked against its start time in the snapshot just taken.
            unsafe {
                if s.pgid != my_group && s.pgid > 1 {
                    libc::kill(-s.pgid, libc::SIGKILL);
                }
                libc::kill(s.pid, libc::SIGKILL);
            }
        }
        for pid in &zombies {
            // SAFETY: waitpid on a zombie re-parented to the harness; no
            // other code waits for a process the harness did not start.
            unsafe {
                libc::waitpid(*pid, std::ptr::null_mut(), libc::WNOHANG);
            }
        }
        if (alive.is_empty() && zombies.is_empty()) || Instant::now() >= deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let mut t = lock();
    if let Some(i) = t.runs.iter().position(|r| r.id == id) {
        let run = t.runs.remove(i);
        for g in run.groups {
            super::tell_reaper(format!("-{g}\n"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stat_line_with_parentheses_in_the_name_is_read() {
        let s = parse_stat("4242 (a (b) c) S 17 4242 4242 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 987654 1 2").unwrap();
        assert_eq!((s.pid, s.ppid, s.pgid, s.zombie, s.start), (4242, 17, 4242, false, 987654));
        assert!(parse_stat("7 (z) Z 1 7 7 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5").unwrap().zombie);
        assert!(parse_stat("garbage").is_none());
    }
}
