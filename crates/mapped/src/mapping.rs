//! [`Mapping`]: a file and the window of it mapped into memory.
//!
//! This file holds the type, its fields and the questions about the window
//! that every operation asks (its length, its file offset, whether a fault
//! poisoned it). What a mapping does is in `ops/`, one file per concern,
//! each adding methods to `Mapping`: opening and creating (`open.rs`),
//! access, advice, flushing, growth, residency, futex wait and wake.

use std::fmt;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{FaultCause, IoError, Op, PoisonedError};
use crate::sys::guard::FaultState;
use crate::sys::mode::Mode;
use crate::sys::region::RawRegion;

/// A file, or a window of it, mapped into memory.
///
/// Safe accessors copy bytes in and out ([`read_at`](Self::read_at),
/// [`write_at`](Self::write_at), [`read_pod`](Self::read_pod), ...) with
/// bounds checks, and turn the `SIGBUS` of a truncated file or an
/// unavailable page into an [`AccessError::Fault`](crate::AccessError::Fault).
/// Atomics at an offset ([`atomic_u32`](Self::atomic_u32)) and futex
/// wait/wake ([`wait`](Self::wait)) serve cross-process synchronisation.
/// Borrowing views of the raw bytes ([`as_slice`](Self::as_slice)) are
/// `unsafe`, under the contract of `docs/safety.md`.
///
/// Methods that move or resize the mapping take `&mut self`, so no borrow
/// of the old address range can outlive them.
pub struct Mapping {
    // Field order matters for drop: unmap before closing the file is not
    // required by the kernel, but reads better.
    pub(crate) region: RawRegion,
    pub(crate) file: File,
    pub(crate) path: PathBuf,
    pub(crate) mode: Mode,
    /// File offset of the first mapped byte.
    pub(crate) offset: u64,
    /// Length of the window in bytes.
    pub(crate) len: usize,
    pub(crate) fault: FaultState,
    /// Set once any sync through this mapping failed: see `ops/flush.rs`.
    pub(crate) sync_failed: AtomicBool,
    pub(crate) first_sync_failure: std::sync::OnceLock<Op>,
}

impl Mapping {
    /// A mapping of `file` over `region`, which maps `len` bytes at file
    /// offset `offset` as `mode` says. The one constructor: `ops/open.rs`
    /// opens the file, maps the region and gives the advice asked for.
    pub(crate) fn from_region(
        region: RawRegion,
        file: File,
        path: PathBuf,
        mode: Mode,
        offset: u64,
        len: usize,
    ) -> Mapping {
        Mapping {
            region,
            file,
            path,
            mode,
            offset,
            len,
            fault: FaultState::default(),
            sync_failed: AtomicBool::new(false),
            first_sync_failure: std::sync::OnceLock::new(),
        }
    }

    /// The path the mapping was opened with, as used in error messages.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The open file behind the mapping.
    pub fn file(&self) -> &File {
        &self.file
    }

    /// How the pages are shared.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The file offset of the first mapped byte.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The window's length in bytes.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// True for a zero-length window (nothing is mapped).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The address of the first mapped byte. Dereferencing it is subject to
    /// the contract of [`as_slice`](Self::as_slice).
    #[inline]
    pub fn as_ptr(&self) -> *const u8 {
        self.region.ptr()
    }

    /// The current length of the file, from `fstat`.
    pub fn file_len(&self) -> Result<u64, IoError> {
        self.file
            .metadata()
            .map(|m| m.len())
            .map_err(|e| IoError::new(&self.path, Op::Stat, e))
    }

    /// True once a fault (truncation, I/O error) has replaced pages of this
    /// mapping with anonymous memory: every access fails from then on (an
    /// atomic reference taken earlier is not re-checked), and the file must
    /// be opened again.
    #[inline]
    pub fn is_poisoned(&self) -> bool {
        self.fault.poisoned.load(Ordering::Acquire)
    }

    /// The error for a poisoned mapping, if it is one.
    #[inline]
    pub(crate) fn check_poison(&self) -> Result<(), PoisonedError> {
        if !self.is_poisoned() {
            return Ok(());
        }
        Err(self.poisoned_error())
    }

    #[cold]
    #[inline(never)]
    fn poisoned_error(&self) -> PoisonedError {
        let addr = self
            .fault
            .first_fault
            .load(Ordering::Acquire)
            .saturating_sub(1);
        let offset = self.file_offset_of(addr);
        PoisonedError {
            path: self.path.clone(),
            offset,
            cause: self.fault_cause(offset),
        }
    }

    /// The file offset of an address inside the mapping.
    pub(crate) fn file_offset_of(&self, addr: usize) -> u64 {
        self.offset + addr.saturating_sub(self.region.ptr() as usize) as u64
    }

    /// Why the page at file offset `offset` could not be reached.
    pub(crate) fn fault_cause(&self, offset: u64) -> FaultCause {
        match self.file_len() {
            Ok(file_len) if file_len <= offset => FaultCause::Truncated { file_len },
            _ => FaultCause::PageUnavailable,
        }
    }
}

impl fmt::Debug for Mapping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mapping")
            .field("path", &self.path)
            .field("mode", &self.mode)
            .field("offset", &self.offset)
            .field("len", &self.len)
            .field("poisoned", &self.is_poisoned())
            .finish()
    }
}
