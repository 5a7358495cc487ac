//! Telling whether a handle is being used in a child that `fork`ed (and
//! did not `exec`) after the handle was made.
//!
//! Such a child inherits the handle's open file descriptions, and with them
//! its OFD locks: an appender's slot would be held by two processes, whose
//! appends would overwrite each other's slot states, and a death of either
//! could never be proved while the other lives. The child also has none of
//! the handle's helper threads (prefault, interval sync, readiness), and
//! joining them would wait for ever. So a handle notes the process's fork
//! generation when made, and refuses to work in another one.
//!
//! The generation is counted by a `pthread_atfork` child handler, installed
//! once, the first time a handle asks: one relaxed load per check. The
//! prepare handler waits for a running background make-ahead job
//! (`background.rs`), so that no child inherits the lock descriptors it
//! holds.

#![allow(unsafe_code)]

use std::sync::Once;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

static FORKS: AtomicU64 = AtomicU64::new(0);
static INSTALL: Once = Once::new();
/// A background make-ahead job is running (`background.rs`); it holds lock
/// descriptors no child should inherit.
static JOB: AtomicBool = AtomicBool::new(false);
/// A fork is under way: no job may start.
static FORKING: AtomicBool = AtomicBool::new(false);

extern "C" fn before_fork() {
    // Runs in the parent before fork: wait for a running job to finish
    // (milliseconds: it makes one segment), and let none start.
    FORKING.store(true, Ordering::SeqCst);
    while JOB.load(Ordering::SeqCst) {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

extern "C" fn in_parent() {
    FORKING.store(false, Ordering::SeqCst);
}

extern "C" fn in_child() {
    // Runs in the child right after fork, on its only thread.
    FORKS.fetch_add(1, Ordering::Relaxed);
    FORKING.store(false, Ordering::SeqCst);
}

/// A background job that must not run across a fork, running: a fork
/// waits until it is dropped. Dropped however the job ends, a panic
/// included, so that no later fork waits for ever.
#[derive(Debug)]
pub(crate) struct Job(());

impl Drop for Job {
    fn drop(&mut self) {
        JOB.store(false, Ordering::SeqCst);
    }
}

/// Starts a background job that must not run across a fork: `None` if a
/// fork is under way (then the job stands down).
pub(crate) fn job_begin() -> Option<Job> {
    generation(); // the handlers are installed
    // Dekker with `before_fork`: either it sees JOB and waits, or we see
    // FORKING and stand down.
    JOB.store(true, Ordering::SeqCst);
    if FORKING.load(Ordering::SeqCst) {
        JOB.store(false, Ordering::SeqCst);
        return None;
    }
    Some(Job(()))
}

/// The fork generation of this process, for a handle being made. Installs
/// the counting handler first, so that every later fork is counted.
pub(crate) fn generation() -> u64 {
    INSTALL.call_once(|| {
        // SAFETY: the handlers are plain functions that only touch
        // atomics (and sleep); registering them has no other precondition.
        // If the registration fails (ENOMEM), forks go uncounted: the
        // handles then behave as before this check existed.
        unsafe {
            libc::pthread_atfork(Some(before_fork), Some(in_parent), Some(in_child));
        }
    });
    FORKS.load(Ordering::Relaxed)
}

/// Whether this process is a fork of the one that made a handle of
/// generation `made`.
#[inline]
pub(crate) fn forked_since(made: u64) -> bool {
    FORKS.load(Ordering::Relaxed) != made
}
