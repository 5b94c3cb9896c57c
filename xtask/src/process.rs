//! Child processes with a timeout, each in its own process group, killed
//! with all of its children on timeout or Ctrl-C.

use std::fs::File;
use std::io;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Route Ctrl-C (SIGINT/SIGTERM) to a flag that every wait loop watches.
pub fn install_interrupt_handler() {
    let _ = ctrlc::set_handler(|| {
        if INTERRUPTED.swap(true, Ordering::SeqCst) {
            // Second Ctrl-C: the user means it.
            std::process::exit(130);
        }
        eprintln!("\nrace-hunt: interrupted; stopping running cells (Ctrl-C again to quit at once)");
    });
}

pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(i32),
    TimedOut(Duration),
    Interrupted,
}

/// Run `cmd` with stdout and stderr appended to `log`, killing its whole
/// process group after `timeout` or on Ctrl-C.
pub fn run(mut cmd: Command, log: &Path, timeout: Duration) -> io::Result<(Exit, Duration)> {
    if let Some(dir) = log.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let out = File::options().create(true).append(true).open(log)?;
    let err = out.try_clone()?;
    cmd.stdin(Stdio::null()).stdout(out).stderr(err).process_group(0);
    let start = Instant::now();
    let mut child = cmd.spawn()?;
    let pgid = child.id() as i32;
    let exit = loop {
        if let Some(status) = child.try_wait()? {
            break match (status.code(), status.signal()) {
                (Some(code), _) => Exit::Code(code),
                (None, Some(sig)) => Exit::Signal(sig),
                (None, None) => Exit::Code(-1),
            };
        }
        let timed_out = start.elapsed() >= timeout;
        if timed_out || interrupted() {
            kill_group(pgid);
            let _ = child.wait();
            break if timed_out { Exit::TimedOut(start.elapsed()) } else { Exit::Interrupted };
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    // Whatever the child left behind in its group goes too.
    kill_group(pgid);
    Ok((exit, start.elapsed()))
}

fn kill_group(pgid: i32) {
    // SAFETY: kill has no memory-safety preconditions; a negative pid names
    // the process group that `process_group(0)` created for the child.
    unsafe {
        libc::kill(-pgid, libc::SIGKILL);
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
        // The grandchild was in the same group and is gone (or a zombie
        // being reaped by init): signal 0 fails or the process is dead.
        std::thread::sleep(Duration::from_millis(100));
        let alive = std::fs::read_to_string(format!("/proc/{pid}/stat")).map(|s| !s.contains(") Z ")).unwrap_or(false);
        assert!(!alive, "grandchild {pid} survived the timeout kill");
    }
}
