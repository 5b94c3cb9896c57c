//! A child's output, bounded: the child writes into a pipe that a thread
//! reads as a stream. The first [`HEAD`] bytes go to the log as they come;
//! the last [`TAIL`] bytes are kept in a ring buffer and appended at the
//! end, after a line saying how many bytes were cut between them. The
//! harness never holds more than the kept head and tail, and the text the
//! parsers read is exactly what the log keeps.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, PipeReader, Read, Write};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Bytes of a child's output kept from its start.
pub const HEAD: usize = 4 << 20;
/// Bytes of a child's output kept from its end.
pub const TAIL: usize = 4 << 20;

/// The line that replaces the cut middle of a child's output.
pub fn cut_line(cut: u64, at: u64) -> String {
    format!("\n[race-hunt: cut {cut} bytes of output here (bytes {at}..{} of this run)]\n", at + cut)
}

/// What was kept of a stream: the head, the cut, the tail.
struct Kept {
    head: Vec<u8>,
    tail: VecDeque<u8>,
    total: u64,
}

impl Kept {
    fn cut(&self) -> u64 {
        self.total - self.head.len() as u64 - self.tail.len() as u64
    }

    fn text(mut self) -> String {
        let mut s = String::from_utf8_lossy(&self.head).into_owned();
        if self.cut() > 0 {
            s.push_str(&cut_line(self.cut(), self.head.len() as u64));
        }
        s.push_str(&String::from_utf8_lossy(self.tail.make_contiguous()));
        s
    }
}

/// The thread copying one child's output into its log.
pub struct Copier {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<Kept>,
}

impl Copier {
    pub fn start(src: PipeReader, log: File) -> io::Result<Copier> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let handle = std::thread::Builder::new()
            .name("race-hunt-output".into())
            .spawn(move || copy(src, log, &flag, HEAD, TAIL))?;
        Ok(Copier { stop, handle })
    }

    /// Wait for the end of the output (every writer gone) for at most
    /// `grace`, then stop reading; return the kept text.
    pub fn finish(self, grace: Duration) -> String {
        let deadline = Instant::now() + grace;
        while !self.handle.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(2));
        }
        self.stop.store(true, Ordering::SeqCst);
        self.handle.join().map(Kept::text).unwrap_or_default()
    }
}

fn copy(mut src: PipeReader, mut log: File, stop: &AtomicBool, head: usize, tail: usize) -> Kept {
    let mut kept = Kept { head: Vec::new(), tail: VecDeque::new(), total: 0 };
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let mut pfd = libc::pollfd { fd: src.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        // SAFETY: one valid pollfd for the duration of the call.
        let ready = unsafe { libc::poll(&mut pfd, 1, 50) };
        if ready == 0 {
            if stop.load(Ordering::SeqCst) {
                break;
            }
            continue;
        }
        if ready < 0 && io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            break;
        }
        let n = match src.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        kept.total += n as u64;
        let room = head - kept.head.len();
        let (to_head, rest) = buf[..n].split_at(room.min(n));
        if !to_head.is_empty() {
            let _ = log.write_all(to_head);
            kept.head.extend_from_slice(to_head);
        }
        if !rest.is_empty() {
            kept.tail.extend(rest);
            if kept.tail.len() > tail {
                let extra = kept.tail.len() - tail;
                kept.tail.drain(..extra);
            }
        }
    }
    if kept.cut() > 0 {
        let _ = log.write_all(cut_line(kept.cut(), kept.head.len() as u64).as_bytes());
    }
    let (a, b) = kept.tail.as_slices();
    let _ = log.write_all(a).and_then(|_| log.write_all(b));
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_stream_keeps_its_head_and_tail_and_says_what_was_cut() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let (reader, mut writer) = std::io::pipe().unwrap();
        let log = File::create(&path).unwrap();
        let stop = AtomicBool::new(false);
        let copier = std::thread::spawn(move || copy(reader, log, &stop, 10, 8));
        writer.write_all(b"0123456789abcdefghijKLMNOPQR").unwrap();
        drop(writer);
        let kept = copier.join().unwrap();
        assert_eq!(kept.total, 28);
        let text = kept.text();
        assert_eq!(text, format!("0123456789{}KLMNOPQR", cut_line(10, 10)));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text, "the log keeps what the parsers read");
    }

    #[test]
    fn a_short_stream_is_kept_whole_without_a_cut_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let (reader, mut writer) = std::io::pipe().unwrap();
        let log = File::create(&path).unwrap();
        let stop = AtomicBool::new(false);
        let copier = std::thread::spawn(move || copy(reader, log, &stop, 10, 8));
        writer.write_all(b"0123456789abc").unwrap();
        drop(writer);
        let text = copier.join().unwrap().text();
        assert_eq!(text, "0123456789abc");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "0123456789abc");
    }
}
