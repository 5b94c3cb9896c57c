// Added by race-hunt's real-world check (README, "Real-world check"); not
// part of the published crate. RUSTSEC-2022-0006: before 1.1.4, `Iter`
// loaded a bucket pointer with `Relaxed`, so an iterating thread could read
// a bucket another thread had just allocated without a happens-before edge
// to its initialization: a data race. The crate's own `iter` test joins
// every inserting thread before it iterates, so it cannot reach the race;
// this test iterates while other threads allocate buckets. It is copied
// unchanged into 1.1.3 (racy) and 1.1.4 (fixed).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use thread_local::ThreadLocal;

#[test]
fn iter_while_other_threads_insert() {
    // Threads alive at once get distinct ids, and ids 1, 2-3, 4-7 live in
    // buckets 1, 2, 3: each new bucket is allocated while the test iterates.
    let threads = if cfg!(miri) { 4 } else { 8 };
    let tls: Arc<ThreadLocal<usize>> = Arc::new(ThreadLocal::new());
    let inserted = Arc::new(Barrier::new(threads));
    let done = Arc::new(AtomicBool::new(false));
    let handles: Vec<_> = (0..threads)
        .map(|i| {
            let tls = Arc::clone(&tls);
            let inserted = Arc::clone(&inserted);
            thread::spawn(move || {
                assert_eq!(*tls.get_or(|| i + 1), i + 1);
                // Stay alive until every thread has inserted, so that no id
                // is freed and reused.
                inserted.wait();
            })
        })
        .collect();
    let reader = {
        let tls = Arc::clone(&tls);
        let done = Arc::clone(&done);
        thread::spawn(move || loop {
            let finished = done.load(Ordering::Acquire);
            for v in tls.iter() {
                assert!((1..=threads).contains(v), "iterated a value that was never inserted: {v}");
            }
            if finished {
                break;
            }
        })
    };
    for h in handles {
        h.join().unwrap();
    }
    done.store(true, Ordering::Release);
    reader.join().unwrap();
    let mut all: Vec<usize> = tls.iter().copied().collect();
    all.sort_unstable();
    assert_eq!(all, (1..=threads).collect::<Vec<_>>());
}
