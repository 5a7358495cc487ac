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
//! once, the first time a handle asks: one relaxed load per check.

#![allow(unsafe_code)]

use std::sync::Once;
use std::sync::atomic::{AtomicU64, Ordering};

static FORKS: AtomicU64 = AtomicU64::new(0);
static INSTALL: Once = Once::new();

extern "C" fn in_child() {
    // Runs in the child right after fork, on its only thread.
    FORKS.fetch_add(1, Ordering::Relaxed);
}

/// The fork generation of this process, for a handle being made. Installs
/// the counting handler first, so that every later fork is counted.
pub(crate) fn generation() -> u64 {
    INSTALL.call_once(|| {
        // SAFETY: `in_child` is a plain function that only touches an
        // atomic; registering it has no other precondition. If the
        // registration fails (ENOMEM), forks go uncounted: the handles then
        // behave as before this check existed.
        unsafe {
            libc::pthread_atfork(None, None, Some(in_child));
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
