//! Cross-process wait and wake on a 32-bit word in a shared mapping.
//!
//! Linux futexes without `FUTEX_PRIVATE_FLAG` are keyed by the file page and
//! offset, not the address, so a waiter in one process is woken by a waker
//! in another that maps the same file anywhere in its address space.
//!
//! The usual protocol (Drepper, "Futexes Are Tricky"): the waker changes the
//! word, then wakes; the waiter re-checks the word and sleeps only if it
//! still holds the value it saw, which the kernel checks atomically with
//! going to sleep, so no wake-up is lost.

use std::io;
use std::sync::atomic::AtomicU32;
use std::time::Duration;

use rustix::thread::futex;

use crate::error::{AccessError, IoError, Op};
use crate::mapping::Mapping;

/// How a [`wait`] ended. Callers re-check their condition in every case:
/// wake-ups can be spurious.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitOutcome {
    /// Woken by [`wake`] (or spuriously).
    Woken,
    /// The word did not hold the expected value: nothing to wait for.
    Changed,
    /// The timeout passed.
    TimedOut,
    /// A signal interrupted the wait.
    Interrupted,
}

/// Sleeps while `word` holds `expected`, until woken or `timeout` passes
/// (`None`: no timeout). The word may live in a shared mapping, a waker in
/// another process.
pub fn wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) -> io::Result<WaitOutcome> {
    let ts = timeout.map(|d| rustix::time::Timespec {
        tv_sec: d.as_secs().min(i64::MAX as u64) as i64,
        tv_nsec: d.subsec_nanos().into(),
    });
    match futex::wait(word, futex::Flags::empty(), expected, ts.as_ref()) {
        Ok(()) => Ok(WaitOutcome::Woken),
        Err(rustix::io::Errno::AGAIN) => Ok(WaitOutcome::Changed),
        Err(rustix::io::Errno::TIMEDOUT) => Ok(WaitOutcome::TimedOut),
        Err(rustix::io::Errno::INTR) => Ok(WaitOutcome::Interrupted),
        Err(e) => Err(e.into()),
    }
}

/// Wakes up to `count` waiters sleeping on `word`, in any process; returns
/// how many were woken.
pub fn wake(word: &AtomicU32, count: u32) -> io::Result<usize> {
    Ok(futex::wake(word, futex::Flags::empty(), count)?)
}

/// Wakes every waiter sleeping on `word`.
pub fn wake_all(word: &AtomicU32) -> io::Result<usize> {
    wake(word, i32::MAX as u32)
}

impl Mapping {
    /// [`wait`] on the 4-byte-aligned word at `offset` of the window.
    pub fn wait(
        &self,
        offset: u64,
        expected: u32,
        timeout: Option<Duration>,
    ) -> Result<WaitOutcome, AccessError> {
        let word = self.atomic_u32(offset)?;
        // The kernel reads the word itself: a truncated page makes it
        // return EFAULT, never a signal.
        wait(word, expected, timeout).map_err(|e| self.futex_error(Op::Wait, offset, e))
    }

    /// [`wake`] on the word at `offset` of the window.
    pub fn wake(&self, offset: u64, count: u32) -> Result<usize, AccessError> {
        let word = self.atomic_u32(offset)?;
        wake(word, count).map_err(|e| self.futex_error(Op::Wake, offset, e))
    }

    fn futex_error(&self, op: Op, offset: u64, e: io::Error) -> AccessError {
        if e.raw_os_error() == Some(libc::EFAULT) {
            let offset = self.offset + offset;
            return AccessError::Fault {
                path: self.path.clone(),
                offset,
                cause: self.fault_cause(offset),
            };
        }
        AccessError::Io(IoError::new(&self.path, op, e))
    }
}
