//! Error types, one per family of operations.
//!
//! Each error names the file, the operation and, where the kernel refused,
//! the OS error, so that a message printed as-is tells the user what to fix.
//! The OS error is part of the `Display` text and is not repeated as
//! [`std::error::Error::source`], so printing a chain never says it twice;
//! [`IoError::os_error`] gives it to programs.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// The system-level operation that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Op {
    /// `open(2)` of the file.
    Open,
    /// `fstat(2)` or `fstatfs(2)`.
    Stat,
    /// `mmap(2)`.
    Map,
    /// `mremap(2)` (or unmap and map again).
    Remap,
    /// `fallocate(2)`: reserving the file's blocks.
    Allocate,
    /// `mlock(2)`.
    Lock,
    /// `madvise(2)`.
    Advise,
    /// `msync(2)` with `MS_SYNC`.
    Flush,
    /// `sync_file_range(2)` with `SYNC_FILE_RANGE_WRITE`.
    StartWriteback,
    /// `fdatasync(2)`.
    SyncData,
    /// `fsync(2)`.
    SyncAll,
    /// `mincore(2)`.
    Residency,
    /// `futex(2)` `FUTEX_WAIT`.
    Wait,
    /// `futex(2)` `FUTEX_WAKE`.
    Wake,
}

impl Op {
    /// The name of the system call, as a user would look it up.
    pub fn name(self) -> &'static str {
        match self {
            Op::Open => "open",
            Op::Stat => "fstat",
            Op::Map => "mmap",
            Op::Remap => "mremap",
            Op::Allocate => "fallocate",
            Op::Lock => "mlock",
            Op::Advise => "madvise",
            Op::Flush => "msync",
            Op::StartWriteback => "sync_file_range",
            Op::SyncData => "fdatasync",
            Op::SyncAll => "fsync",
            Op::Residency => "mincore",
            Op::Wait => "futex wait",
            Op::Wake => "futex wake",
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The kernel refused an operation on a file.
#[derive(Debug)]
pub struct IoError {
    path: PathBuf,
    op: Op,
    error: io::Error,
}

impl IoError {
    pub(crate) fn new(path: &Path, op: Op, error: io::Error) -> Self {
        IoError {
            path: path.to_path_buf(),
            op,
            error,
        }
    }

    /// The file the operation was on.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The operation that failed.
    pub fn op(&self) -> Op {
        self.op
    }

    /// The OS error the kernel returned.
    pub fn os_error(&self) -> &io::Error {
        &self.error
    }

    /// True if the failure was a full disk or a quota (`ENOSPC`, `EDQUOT`).
    pub fn is_no_space(&self) -> bool {
        matches!(
            self.error.raw_os_error(),
            Some(libc::ENOSPC) | Some(libc::EDQUOT)
        )
    }
}

impl fmt::Display for IoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.op, self.path.display(), self.error)
    }
}

impl std::error::Error for IoError {}

/// Why the pages behind an access could not be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FaultCause {
    /// The file is now shorter than the faulting offset: another process
    /// truncated it.
    Truncated {
        /// The file's length when the fault was examined.
        file_len: u64,
    },
    /// The file still covers the offset, so the kernel could not supply the
    /// page: an I/O error, or no space to allocate a hole of a sparse file.
    PageUnavailable,
}

impl fmt::Display for FaultCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FaultCause::Truncated { file_len } => {
                write!(f, "the file was truncated to {file_len} bytes")
            }
            FaultCause::PageUnavailable => f.write_str(
                "the kernel could not supply the page (I/O error, or no space to fill a hole of a sparse file)",
            ),
        }
    }
}

/// Opening, creating or mapping a file failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The kernel refused an operation.
    #[error(transparent)]
    Io(#[from] IoError),
    /// The path names something that cannot be mapped as a file.
    #[error("{}: not a regular file ({what})", path.display())]
    NotRegularFile {
        /// The path.
        path: PathBuf,
        /// What it is instead.
        what: &'static str,
    },
    /// The requested window does not lie inside the file.
    #[error("{}: window of {len} bytes at offset {offset} lies past the end of the file ({file_len} bytes)", path.display())]
    WindowOutOfRange {
        /// The path.
        path: PathBuf,
        /// The window's offset.
        offset: u64,
        /// The window's length.
        len: u64,
        /// The file's length.
        file_len: u64,
    },
    /// The mapping would not fit in this process's address space.
    #[error("{}: {len} bytes is too large to map in this address space", path.display())]
    TooLarge {
        /// The path.
        path: PathBuf,
        /// The length asked for.
        len: u64,
    },
    /// The process's file size limit forbids the length asked for.
    #[error(transparent)]
    FileSizeLimit(#[from] FileSizeLimitError),
}

/// `RLIMIT_FSIZE` forbids making a file as long as asked.
///
/// Checked before the kernel is asked, because the kernel would answer by
/// sending `SIGXFSZ`, whose default action kills the process.
#[derive(Debug, thiserror::Error)]
#[error("{}: cannot make the file {requested} bytes long: the process's file size limit (RLIMIT_FSIZE) is {limit} bytes", path.display())]
pub struct FileSizeLimitError {
    /// The path.
    pub path: PathBuf,
    /// The length asked for.
    pub requested: u64,
    /// The soft limit in force.
    pub limit: u64,
}

/// Reserving a file's space failed, on the way to an [`OpenError`] (a
/// created file) or a [`GrowError`].
pub(crate) enum ReserveError {
    Io(IoError),
    Limit(FileSizeLimitError),
}

impl From<ReserveError> for GrowError {
    fn from(e: ReserveError) -> GrowError {
        match e {
            ReserveError::Io(e) => GrowError::Io(e),
            ReserveError::Limit(e) => GrowError::FileSizeLimit(e),
        }
    }
}

impl From<ReserveError> for OpenError {
    fn from(e: ReserveError) -> OpenError {
        match e {
            ReserveError::Io(e) => OpenError::Io(e),
            ReserveError::Limit(e) => OpenError::FileSizeLimit(e),
        }
    }
}

/// Growing or remapping failed. The mapping is unchanged and still usable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GrowError {
    /// The kernel refused an operation (`ENOSPC` from `fallocate` is a full
    /// disk: see [`IoError::is_no_space`]).
    #[error(transparent)]
    Io(#[from] IoError),
    /// The process's file size limit forbids the length asked for.
    #[error(transparent)]
    FileSizeLimit(#[from] FileSizeLimitError),
    /// The mapping is read-only or private, so it cannot extend the file.
    #[error("{}: cannot grow the file through a {mode} mapping", path.display())]
    NotWritable {
        /// The path.
        path: PathBuf,
        /// The mapping's mode.
        mode: crate::Mode,
    },
    /// The file is shorter than the length asked for (remapping a read-only
    /// mapping never extends the file).
    #[error("{}: cannot map {len} bytes at offset {offset}: the file is only {file_len} bytes", path.display())]
    PastEndOfFile {
        /// The path.
        path: PathBuf,
        /// The window's offset.
        offset: u64,
        /// The length asked for.
        len: u64,
        /// The file's length.
        file_len: u64,
    },
    /// The length does not fit in the address space.
    #[error("{}: {len} bytes is too large to map in this address space", path.display())]
    TooLarge {
        /// The path.
        path: PathBuf,
        /// The length asked for.
        len: u64,
    },
    /// An earlier fault replaced pages of this mapping; reopen the file.
    #[error(transparent)]
    Poisoned(#[from] PoisonedError),
}

/// An access through a mapping failed. Nothing was read or written past the
/// checks that failed; for [`AccessError::Fault`] see its documentation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AccessError {
    /// The kernel refused (a futex call).
    #[error(transparent)]
    Io(#[from] IoError),
    /// The range does not lie inside the mapping.
    #[error("{}: {len} bytes at offset {offset} lie outside the mapping (0..{map_len})", path.display())]
    OutOfBounds {
        /// The path.
        path: PathBuf,
        /// The offset asked for, relative to the mapping's start.
        offset: u64,
        /// The length asked for.
        len: u64,
        /// The mapping's length.
        map_len: u64,
    },
    /// The offset is not aligned for the type.
    #[error("{}: offset {offset} is not aligned to {align} bytes", path.display())]
    Misaligned {
        /// The path.
        path: PathBuf,
        /// The offset asked for, relative to the mapping's start.
        offset: u64,
        /// The alignment the type needs.
        align: usize,
    },
    /// The mapping does not allow this access (a write through a read-only
    /// mapping, or an atomic through one).
    #[error("{}: a {mode} mapping does not allow {what}", path.display())]
    NotWritable {
        /// The path.
        path: PathBuf,
        /// The mapping's mode.
        mode: crate::Mode,
        /// What was attempted.
        what: &'static str,
    },
    /// The pages behind the access were gone: the process would have died
    /// of `SIGBUS`. Bytes read are not returned (the buffer's contents are
    /// unspecified); a write may have reached the file in part (the pages of
    /// the range that were not replaced). The mapping is poisoned from now
    /// on.
    #[error("{}: access at offset {offset} faulted: {cause}", path.display())]
    Fault {
        /// The path.
        path: PathBuf,
        /// The offset of the fault in the file.
        offset: u64,
        /// Why.
        cause: FaultCause,
    },
    /// An earlier fault replaced pages of this mapping; reopen the file.
    #[error(transparent)]
    Poisoned(#[from] PoisonedError),
}

/// A fault (truncation, I/O error) replaced pages of this mapping with
/// anonymous memory, so it no longer reflects the file. Drop the mapping
/// and open the file again.
#[derive(Debug, thiserror::Error)]
#[error("{}: the mapping was poisoned by a fault at file offset {offset} ({cause}); reopen the file", path.display())]
pub struct PoisonedError {
    /// The path.
    pub path: PathBuf,
    /// The file offset of the first fault.
    pub offset: u64,
    /// Why the fault happened, as seen when it was examined.
    pub cause: FaultCause,
}

/// Write-back or a sync failed. Data written since the last successful sync
/// may not be on stable storage, and a retry cannot tell: see
/// `docs/durability.md`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SyncError {
    /// The kernel reported a failure (often `EIO`): some dirty pages could
    /// not be written and may have been dropped from the page cache.
    #[error(transparent)]
    Io(#[from] IoError),
    /// An earlier sync through this mapping failed; a later success would
    /// not prove that the data of the failed one reached the disk, so every
    /// sync fails from then on. Reopen the file and rewrite the data.
    #[error("{}: an earlier {op} failed, so no later sync through this mapping can promise durability; reopen the file and write the data again", path.display())]
    PreviouslyFailed {
        /// The path.
        path: PathBuf,
        /// The operation that failed first.
        op: Op,
    },
    /// A private (copy-on-write) mapping never writes back to the file.
    #[error("{}: a private (copy-on-write) mapping is never written back to the file", path.display())]
    PrivateMapping {
        /// The path.
        path: PathBuf,
    },
    /// The range is outside the mapping.
    #[error("{}: {len} bytes at offset {offset} lie outside the mapping (0..{map_len})", path.display())]
    OutOfBounds {
        /// The path.
        path: PathBuf,
        /// The offset asked for.
        offset: u64,
        /// The length asked for.
        len: u64,
        /// The mapping's length.
        map_len: u64,
    },
    /// The file became shorter than the flushed range: bytes stored past its
    /// new end never reach it.
    #[error("{}: the file is now {file_len} bytes, shorter than the {end} bytes flushed: data past its end was lost", path.display())]
    Truncated {
        /// The path.
        path: PathBuf,
        /// The file's length.
        file_len: u64,
        /// The end of the flushed range in the file.
        end: u64,
    },
    /// An earlier fault replaced pages of this mapping.
    #[error(transparent)]
    Poisoned(#[from] PoisonedError),
}

/// Any error of this crate, for callers who want one type.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// See [`OpenError`].
    #[error(transparent)]
    Open(#[from] OpenError),
    /// See [`GrowError`].
    #[error(transparent)]
    Grow(#[from] GrowError),
    /// See [`AccessError`].
    #[error(transparent)]
    Access(#[from] AccessError),
    /// See [`SyncError`].
    #[error(transparent)]
    Sync(#[from] SyncError),
    /// See [`IoError`].
    #[error(transparent)]
    Io(#[from] IoError),
}

macro_rules! into_io_error {
    ($($t:ty),*) => {$(
        impl From<$t> for io::Error {
            /// Keeps the OS error's kind where the kernel refused.
            fn from(e: $t) -> io::Error {
                let kind = e.io_error().map_or(io::ErrorKind::Other, |io| io.os_error().kind());
                io::Error::new(kind, e.to_string())
            }
        }
        impl $t {
            /// The kernel's refusal behind this error, if that is what it is.
            pub fn io_error(&self) -> Option<&IoError> {
                match self {
                    Self::Io(e) => Some(e),
                    _ => None,
                }
            }
        }
    )*};
}
into_io_error!(OpenError, GrowError, SyncError);

impl AccessError {
    /// The kernel's refusal behind this error, if that is what it is.
    pub fn io_error(&self) -> Option<&IoError> {
        match self {
            Self::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<IoError> for io::Error {
    fn from(e: IoError) -> io::Error {
        io::Error::new(e.error.kind(), e.to_string())
    }
}

impl From<AccessError> for io::Error {
    fn from(e: AccessError) -> io::Error {
        let kind = match e {
            AccessError::OutOfBounds { .. } | AccessError::Misaligned { .. } => {
                io::ErrorKind::InvalidInput
            }
            AccessError::NotWritable { .. } => io::ErrorKind::PermissionDenied,
            AccessError::Io(ref io) => io.os_error().kind(),
            _ => io::ErrorKind::Other,
        };
        io::Error::new(kind, e.to_string())
    }
}
