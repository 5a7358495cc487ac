//! Work taken off the append and read paths: one background thread per
//! process, started on first use, that unmaps segments their users are
//! done with and makes segments ahead of the rolls that will publish them.
//!
//! - **Unmapping** a 64 MiB segment whose pages are all mapped takes 2.5 to
//!   6 ms (measured on ext4 and tmpfs), which the append that rolls or the
//!   read that moves on would otherwise pay. Chronicle Queue releases its
//!   mapped files in the background for the same reason.
//! - **Making the next segment** takes about 20 ms for 64 MiB (reserving
//!   it, two journal commits): see `docs/format.md` §14. The job may run
//!   late, after its appender is gone or after a recovery, so it checks
//!   that the segment is still the one after the tail segment, holding the
//!   recovery lock's byte shared (skipping the work if a recovery holds
//!   it). Its appender cancels it, and waits for it if it is running,
//!   when dropped: so no file is being made in a directory its owner
//!   thinks it is done with.
//! - **Fork.** The thread belongs to the fork generation that started it:
//!   a forked child has none, and starts its own. A `fork` waits for a
//!   running make-ahead job to finish (a `pthread_atfork` prepare handler,
//!   `fork.rs`), so that no child inherits the lock descriptors it holds.
//!   A child whose parent forked while another thread held the queue's
//!   lock cannot take it: its jobs then run in place (unmapping) or not at
//!   all (making ahead).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::format;
use crate::segment::Segment;

type Job = Box<dyn FnOnce() + Send>;

/// Drops `old` (a segment its caller is done with) on the background
/// thread, or here if there is none.
pub(crate) fn retire<T: Send + 'static>(old: T) {
    if let Err(job) = run(Box::new(move || drop(old))) {
        job();
    }
}

/// A make-ahead job, as its appender holds it.
#[derive(Debug, Default)]
pub(crate) struct Ahead {
    cancelled: AtomicBool,
    /// Held by the job while it works.
    working: Mutex<()>,
}

impl Ahead {
    /// Cancels the job, and waits for it if it is running.
    pub(crate) fn cancel(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
        drop(self.working.lock().unwrap_or_else(|e| e.into_inner()));
    }
}

/// Makes segment `index` ahead of its roll, on the background thread;
/// never here (that would put the work back on the append path). `None`
/// if there is no thread. An error is left for the roller to meet.
pub(crate) fn make_ahead(log: crate::Log, index: u64) -> Option<Arc<Ahead>> {
    let ahead = Arc::new(Ahead::default());
    let handle = ahead.clone();
    let job = move || {
        let _working = handle.working.lock().unwrap_or_else(|e| e.into_inner());
        if handle.cancelled.load(Ordering::SeqCst) || !crate::fork::job_begin() {
            return;
        }
        // Ends the job for `fork` however `make` ends, a panic included:
        // a job left marked running would make every later fork wait.
        struct Running;
        impl Drop for Running {
            fn drop(&mut self) {
                crate::fork::job_end();
            }
        }
        let _running = Running;
        make(&log, index);
    };
    run(Box::new(job)).ok().map(|()| ahead)
}

fn make(log: &crate::Log, index: u64) {
    let inner = &log.inner;
    let Ok(lock) = inner.lock_file() else { return };
    if !matches!(
        crate::slots::try_lock_shared(&lock, format::RECOVERY_LOCK_BYTE),
        Ok(true)
    ) {
        return; // a recovery is running
    }
    let next = inner.ctl(|| inner.tail_segment().load(Ordering::Acquire).checked_add(1));
    if matches!(next, Ok(Some(n)) if n == index) {
        let _ = Segment::create_with(&inner.dir, index, &inner.header, Duration::ZERO);
    }
}

/// Queues `job` for the background thread, starting it if needed; gives
/// the job back if there is no thread to be had.
fn run(job: Job) -> Result<(), Job> {
    type Sender = std::sync::mpsc::Sender<Job>;
    static THREAD: Mutex<Option<(u64, Sender)>> = Mutex::new(None);
    let generation = crate::fork::generation();
    // Only ever held for a moment, but a forked child may find it held by
    // a thread its parent had: try a while, then give up.
    let mut thread = None;
    for _ in 0..100 {
        match THREAD.try_lock() {
            Ok(t) => {
                thread = Some(t);
                break;
            }
            Err(std::sync::TryLockError::Poisoned(p)) => {
                thread = Some(p.into_inner());
                break;
            }
            Err(std::sync::TryLockError::WouldBlock) => std::thread::yield_now(),
        }
    }
    let Some(mut thread) = thread else {
        return Err(job);
    };
    if thread.as_ref().is_none_or(|(g, _)| *g != generation) {
        // A parent's sender, in a child: its channel's state is the
        // parent's, so leave it alone rather than drop it.
        if let Some(stale) = thread.take() {
            std::mem::forget(stale);
        }
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        let started = std::thread::Builder::new()
            .name("mapped-log-bg".into())
            .spawn(move || {
                while let Ok(job) = rx.recv() {
                    // A panicking job must not take the thread with it.
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                }
            });
        *thread = started.ok().map(|_| (generation, tx));
    }
    match thread.as_ref() {
        // A send fails only if the thread is gone; the job comes back.
        Some((_, tx)) => tx.send(job).map_err(|back| back.0),
        None => Err(job),
    }
}
