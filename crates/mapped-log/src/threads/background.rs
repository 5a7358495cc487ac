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
use crate::storage::control::Inner;
use crate::storage::segment::Segment;

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
struct Ahead {
    cancelled: AtomicBool,
    /// Held by the job while it works.
    working: Mutex<()>,
    /// Set when the job has run (or found itself cancelled).
    done: AtomicBool,
    /// Set (before `done`) when the job stood down for a while only: a
    /// fork or a recovery was under way.
    retry: AtomicBool,
}

impl Ahead {
    /// Keeps the job from starting, if it has not started.
    fn cancel(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
    }

    /// Waits for the job if it is running.
    fn wait(&self) {
        drop(self.working.lock().unwrap_or_else(|e| e.into_inner()));
    }

    fn done(&self) -> bool {
        self.done.load(Ordering::Acquire)
    }

    fn retry(&self) -> bool {
        self.retry.load(Ordering::Relaxed)
    }
}

/// How many times one segment is asked for when its jobs stand down.
const ATTEMPTS: u32 = 8;

/// An appender's requests to have its next segment made ahead: once its
/// records pass the middle of a segment, the segment after it is made on
/// the background thread, whatever the appender's durability, so that the
/// roll only publishes it (after an `fsync` of the directory,
/// `docs/format.md` section 14).
#[derive(Debug, Default)]
pub(crate) struct MakeAhead {
    /// The segment last asked for, and how many times.
    asked: Option<u64>,
    attempts: u32,
    /// The jobs asked for that had not run at the last request (with small
    /// segments an appender can pass the middle of the next segment before
    /// the job for it has run).
    jobs: Vec<Arc<Ahead>>,
}

impl MakeAhead {
    /// After an append whose record ends at `end` of `seg`.
    #[inline]
    pub(crate) fn appended(&mut self, log: &Arc<Inner>, seg: &Segment, end: u64) {
        if end < seg.size() / 2 {
            return;
        }
        match seg.index.checked_add(1) {
            Some(next) if self.asked != Some(next) => {
                self.asked = Some(next);
                self.attempts = 0;
                self.ask(log, next);
            }
            // The last job stood down (a fork or a recovery was under
            // way): ask again, a few times.
            Some(next)
                if self.attempts < ATTEMPTS && self.jobs.last().is_some_and(|j| j.retry()) =>
            {
                self.ask(log, next)
            }
            _ => {}
        }
    }

    #[cold]
    fn ask(&mut self, log: &Arc<Inner>, next: u64) {
        self.attempts += 1;
        self.jobs.retain(|j| !j.done());
        if let Some(job) = make_ahead(log.clone(), next) {
            self.jobs.push(job);
        }
    }
}

impl Drop for MakeAhead {
    fn drop(&mut self) {
        // No segment is still being made for an appender once it is gone:
        // jobs not started never will be, and running ones are waited for.
        for job in &self.jobs {
            job.cancel();
        }
        for job in &self.jobs {
            job.wait();
        }
    }
}

/// Makes segment `index` ahead of its roll, on the background thread;
/// never here (that would put the work back on the append path). `None`
/// if there is no thread. An error is left for the roller to meet.
fn make_ahead(log: Arc<Inner>, index: u64) -> Option<Arc<Ahead>> {
    let ahead = Arc::new(Ahead::default());
    let handle = ahead.clone();
    let job = move || {
        let _working = handle.working.lock().unwrap_or_else(|e| e.into_inner());
        // Marked done however the job ends (before `working` is released:
        // locals drop in reverse order).
        struct Done<'a>(&'a AtomicBool);
        impl Drop for Done<'_> {
            fn drop(&mut self) {
                self.0.store(true, Ordering::Release);
            }
        }
        let _done = Done(&handle.done);
        if handle.cancelled.load(Ordering::SeqCst) {
            return;
        }
        let Some(_running) = crate::threads::fork::job_begin() else {
            handle.retry.store(true, Ordering::Relaxed);
            return;
        };
        if make(&log, index) == Made::NotNow {
            handle.retry.store(true, Ordering::Relaxed);
        }
    };
    run(Box::new(job)).ok().map(|()| ahead)
}

/// What a make-ahead job came to.
#[derive(Debug, PartialEq, Eq)]
enum Made {
    /// Made, or made by someone else, or no longer wanted, or failed (the
    /// roller meets the error).
    Done,
    /// A recovery holds the log: try again later.
    NotNow,
}

fn make(log: &Arc<Inner>, index: u64) -> Made {
    let inner = log;
    let Ok(lock) = inner.lock_file() else {
        return Made::Done;
    };
    match lock.try_lock_shared(format::RECOVERY_LOCK_BYTE) {
        Ok(true) => {}
        Ok(false) => return Made::NotNow, // a recovery is running
        Err(_) => return Made::Done,
    }
    let next = inner.ctl(|| inner.tail_segment().load(Ordering::Acquire).checked_add(1));
    if matches!(next, Ok(Some(n)) if n == index) {
        let _ = Segment::create_with(&inner.dir, index, &inner.header, Duration::ZERO);
    }
    Made::Done
}

/// Queues `job` for the background thread, starting it if needed; gives
/// the job back if there is no thread to be had.
fn run(job: Job) -> Result<(), Job> {
    type Sender = std::sync::mpsc::Sender<Job>;
    static THREAD: Mutex<Option<(u64, Sender)>> = Mutex::new(None);
    let generation = crate::threads::fork::generation();
    // Only ever held for a moment: a process that never forked waits for
    // it. A forked child may find it held by a thread its parent had:
    // there, try a while, then give up.
    let mut thread = (generation == 0).then(|| THREAD.lock().unwrap_or_else(|e| e.into_inner()));
    for _ in 0..100 {
        if thread.is_some() {
            break;
        }
        match THREAD.try_lock() {
            Ok(t) => thread = Some(t),
            Err(std::sync::TryLockError::Poisoned(p)) => thread = Some(p.into_inner()),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
        let start = std::time::Instant::now();
        while !done() {
            assert!(start.elapsed() < Duration::from_secs(60), "{what}");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Queues `job` on the background thread (never runs it here).
    fn queue(job: impl FnOnce() + Send + 'static) {
        assert!(run(Box::new(job)).is_ok(), "no background thread");
    }

    /// Returns once every job queued before the call has run (the thread
    /// runs them in order).
    fn drain() {
        let (tx, rx) = std::sync::mpsc::channel();
        queue(move || tx.send(()).unwrap());
        rx.recv().unwrap();
    }

    #[test]
    fn the_next_segment_is_asked_for_once_past_the_middle() {
        let (_dir, log) = crate::testing::temp_log(16 << 20);
        let seg = log.open_segment(0).unwrap().unwrap();
        let mut ahead = MakeAhead::default();
        ahead.appended(&log, &seg, (8 << 20) - 8);
        assert_eq!(ahead.asked, None);
        drain();
        assert_eq!(crate::storage::segment::list(log.dir()).unwrap(), [0]);
        ahead.appended(&log, &seg, 8 << 20);
        assert_eq!(ahead.asked, Some(1));
        wait_for("segment 1 never made", || {
            crate::storage::segment::list(log.dir()).unwrap() == [0, 1]
        });
        // Made, not published: appenders are still in segment 0.
        assert_eq!(log.tail_segment().load(Ordering::Acquire), 0);
        // Asked once: removed, it is not made again for segment 0.
        std::fs::remove_file(log.dir().join(crate::storage::segment::file_name(1))).unwrap();
        ahead.appended(&log, &seg, 12 << 20);
        drain();
        assert_eq!(crate::storage::segment::list(log.dir()).unwrap(), [0]);
    }
    #[test]
    fn a_dropped_requester_cancels_every_job_it_queued() {
        let (_dir, log) = crate::testing::temp_log(16 << 20);
        let seg = log.open_segment(0).unwrap().unwrap();
        // Hold the thread (until `go` is sent or dropped), so that the
        // jobs queue up behind it.
        let (go, held) = std::sync::mpsc::channel::<()>();
        queue(move || {
            let _ = held.recv();
        });
        let mut ahead = MakeAhead::default();
        ahead.appended(&log, &seg, 8 << 20);
        // As if the appender had rolled and passed the middle of segment 1
        // before the job for segment 1 ran.
        ahead.ask(&log, 2);
        assert_eq!(ahead.jobs.len(), 2);
        drop(ahead); // neither job has started: no wait
        go.send(()).unwrap();
        drain();
        assert_eq!(
            crate::storage::segment::list(log.dir()).unwrap(),
            [0],
            "a cancelled job ran"
        );
    }
    #[test]
    fn a_job_that_met_a_recovery_is_asked_for_again() {
        let (_dir, log) = crate::testing::temp_log(16 << 20);
        let seg = log.open_segment(0).unwrap().unwrap();
        // A "recovery": the recovery byte held exclusively.
        let recovery = log.lock_file().unwrap();
        assert!(recovery.try_lock(format::RECOVERY_LOCK_BYTE).unwrap());
        let mut ahead = MakeAhead::default();
        ahead.appended(&log, &seg, 8 << 20);
        drain();
        assert_eq!(crate::storage::segment::list(log.dir()).unwrap(), [0]);
        assert!(ahead.jobs.last().unwrap().retry());
        // Over: the next append past the middle asks again.
        drop(recovery);
        ahead.appended(&log, &seg, (8 << 20) + 64);
        drain();
        assert_eq!(crate::storage::segment::list(log.dir()).unwrap(), [0, 1]);
        assert_eq!(ahead.attempts, 2);
    }
}
