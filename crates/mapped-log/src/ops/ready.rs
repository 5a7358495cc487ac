//! Readiness: a file descriptor that turns readable when a reader has
//! messages, so a reader can live in an `epoll`, `mio` or tokio loop.
//!
//! The log wakes its sleepers through a futex word in the control file,
//! which no event loop can wait on, and appenders make no system call
//! unless a reader sleeps. To keep both properties, a readiness descriptor
//! is an `eventfd` fed by a watcher thread in the reader's process: the
//! watcher follows the log from the reader's position, like a reader that
//! checks record headers but not payloads, sleeps on the futex like any
//! blocking reader (so appenders wake it the usual way), and signals the
//! eventfd after passing committed records.
//!
//! Alternatives not taken: a FIFO or socket in the log directory would put
//! a write on every append's path and leave a dead reader's pipe full; an
//! `inotify` watch sees no stores made through a mapping at all.
//!
//! The guarantee: after a record is committed, the descriptor turns
//! readable at some later instant (the watcher signals after it passes a
//! record, before it next sleeps, and at least every [`SIGNAL_EVERY`]
//! records). So a loop that first [`clear`](Readiness::clear)s the
//! descriptor and then reads with [`Reader::try_next`] until `None` never
//! misses a message: a record committed too late for that `try_next` is
//! signalled after the `clear`, and wakes the loop again.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use rustix::event::{EventfdFlags, eventfd};

use crate::error::{LogError, Result};
use crate::ops::read::Reader;
use crate::storage::control::Inner;

/// A watcher under a continuous stream signals at least this often, so
/// the loop wakes even when the watcher never reaches the tail.
pub const SIGNAL_EVERY: u32 = 256;

/// A file descriptor that turns readable when its [`Reader`] has messages.
/// Made by [`Reader::readiness`]; register it for reading with `epoll`,
/// `mio` or tokio's `AsyncFd`.
///
/// Usage, in each wake-up of the loop: call [`clear`](Self::clear) first,
/// then take messages with [`Reader::try_next`] until it returns `None`.
///
/// ```
/// # fn main() -> mapped_log::Result<()> {
/// # let dir = tempfile::tempdir().unwrap();
/// use mapped_log::{Appender, Log, LogOptions, Start};
/// use rustix::event::{PollFd, PollFlags, poll};
///
/// let log = Log::create(dir.path().join("events"), LogOptions::default())?;
/// let mut reader = log.reader(Start::Beginning)?;
/// let ready = reader.readiness()?;
/// Appender::new(&log)?.append(b"hello")?;
///
/// // An event loop would wait on many descriptors; `poll` on one here.
/// let mut fds = [PollFd::new(&ready, PollFlags::IN)];
/// poll(&mut fds, None).unwrap();
/// ready.clear()?;
/// while let Some(m) = reader.try_next()? {
///     assert_eq!(m.payload(), b"hello");
/// }
/// # Ok(())
/// # }
/// ```
///
/// The descriptor belongs to the `Readiness` and stays open, unchanged,
/// until it is dropped: what tokio's `AsyncFd::register` asks of its
/// caller. A tokio task waits with `readable().await`, then calls `clear`,
/// then the guard's `clear_ready`, then drains the reader.
///
/// The watcher costs a thread, and a wake-up through it costs one more
/// thread wake than a reader blocking in [`Reader::next`]. It checks record
/// headers but not payloads; the reader checks everything it hands out.
#[derive(Debug)]
pub struct Readiness {
    fd: Arc<OwnedFd>,
    shared: Arc<Shared>,
    log: Arc<Inner>,
    thread: Option<JoinHandle<()>>,
    /// The process's fork generation when made (see `fork.rs`).
    forks: u64,
}

#[derive(Debug)]
struct Shared {
    stop: Arc<AtomicBool>,
    /// Why the watcher stopped, if it met an error.
    failed: Mutex<Option<Arc<LogError>>>,
}

impl Reader {
    /// A descriptor that turns readable whenever this reader has messages
    /// (see [`Readiness`]). It follows the log from the reader's current
    /// position; the reader must only move forward through
    /// [`try_next`](Reader::try_next) or [`next`](Reader::next) after it.
    pub fn readiness(&self) -> Result<Readiness> {
        let forks = crate::threads::fork::generation();
        let stop = Arc::new(AtomicBool::new(false));
        let watcher = self.watcher(stop.clone())?;
        let log = watcher.log().clone();
        let fd = eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)
            .map_err(|e| LogError::io(log.dir(), "eventfd", e.into()))?;
        let fd = Arc::new(fd);
        let shared = Arc::new(Shared {
            stop,
            failed: Mutex::new(None),
        });
        let thread = std::thread::Builder::new()
            .name("mapped-log-ready".into())
            .spawn({
                let fd = fd.clone();
                let shared = shared.clone();
                move || watch(watcher, &fd, &shared)
            })
            .map_err(|e| LogError::io(log.dir(), "spawn readiness watcher", e))?;
        Ok(Readiness {
            fd,
            shared,
            log,
            thread: Some(thread),
            forks,
        })
    }
}

impl Readiness {
    /// Makes the descriptor unreadable until the watcher signals again.
    /// Call it before draining the reader, never after.
    ///
    /// Fails, naming the cause, if the watcher stopped on an error (a
    /// corrupt record, a failed open); the descriptor then stays readable,
    /// and the reader reports the error itself when it gets there. Fails
    /// in a child forked after the descriptor was made
    /// ([`LogError::Forked`]).
    pub fn clear(&self) -> Result<()> {
        // In a forked child no watcher feeds the descriptor.
        if crate::threads::fork::forked_since(self.forks) {
            return Err(LogError::Forked {
                path: self.log.dir().to_path_buf(),
                handle: crate::error::Handle::Readiness,
            });
        }
        // Once failed, left readable: the watcher signalled after failing.
        if let Some(error) = &*self.shared.failed.lock().unwrap_or_else(|e| e.into_inner()) {
            return Err(LogError::WatcherStopped {
                path: self.log.dir().to_path_buf(),
                source: error.clone(),
            });
        }
        let mut buf = [0u8; 8];
        // A non-blocking eventfd: EAGAIN when nothing was signalled.
        let _ = rustix::io::read(&*self.fd, &mut buf);
        Ok(())
    }
}

impl AsFd for Readiness {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for Readiness {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl Drop for Readiness {
    fn drop(&mut self) {
        if crate::threads::fork::forked_since(self.forks) {
            // The watcher is the parent's, and the stop flag too (this is
            // the child's copy of its memory): leave them alone.
            std::mem::forget(self.thread.take());
            return;
        }
        self.shared.stop.store(true, Ordering::SeqCst);
        // Changes the futex word after the flag: a watcher that read the
        // word before this sees the flag or does not sleep (`Reader::wait`).
        // Other sleepers wake for nothing and sleep again.
        // A watcher of a log opened read-only naps (`READ_ONLY_NAP`) and
        // sees the flag when it wakes: we may not store the word.
        let inner = &self.log;
        let woke = inner.read_only || inner.ctl(|| inner.wake_now()).is_ok();
        if let Some(thread) = self.thread.take() {
            // A control file truncated under us cannot carry the wake-up:
            // then the watcher is left behind, possibly asleep for good,
            // rather than waited for for ever.
            if woke {
                let _ = thread.join();
            }
        }
    }
}

fn signal(fd: &OwnedFd) {
    // Fails only if the counter would overflow, which leaves it readable.
    // An eventfd takes a host-order u64: no file format is involved.
    #[allow(clippy::host_endian_bytes)]
    let one = 1u64.to_ne_bytes();
    let _ = rustix::io::write(fd, &one);
}

fn watch(mut watcher: Reader, fd: &OwnedFd, shared: &Shared) {
    let fail = |e: LogError| {
        *shared.failed.lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(e));
        signal(fd);
    };
    let mut passed: u32 = 0;
    while !shared.stop.load(Ordering::SeqCst) {
        match watcher.try_next() {
            Ok(Some(_)) => {
                passed += 1;
                if passed >= SIGNAL_EVERY {
                    signal(fd);
                    passed = 0;
                }
                continue;
            }
            Ok(None) => {}
            Err(e) => return fail(e),
        }
        // At the tail: signal what we passed, then sleep until more.
        if passed > 0 {
            signal(fd);
            passed = 0;
        }
        match watcher.next(None) {
            Ok(Some(_)) => passed = 1,
            Ok(None) => {} // told to stop
            Err(e) => return fail(e),
        }
    }
}
