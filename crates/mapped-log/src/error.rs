//! The log's errors. Each names the file (or directory) and what is wrong.

use std::path::PathBuf;

use crate::format::HeaderError;

/// An operation on a log failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogError {
    /// The mapping layer failed (open, map, access, sync).
    #[error(transparent)]
    Mapped(#[from] mapped::Error),
    /// A file system operation failed.
    // The OS error is the source, not part of this message: printed once
    // by whoever prints the chain (`Error::source`).
    #[error("{op} {}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What was being done.
        op: &'static str,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The directory holds no log, or a file in it is not part of one.
    #[error("{}: not a mapped-log file: {why}", path.display())]
    NotALog {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        why: HeaderError,
    },
    /// A log already exists where one was to be created.
    #[error("{}: a log already exists there", path.display())]
    AlreadyExists {
        /// The directory.
        path: PathBuf,
    },
    /// Bytes in the log break the format: written by a buggy or hostile
    /// process, or damaged on disk. `mapped log verify` reports them.
    #[error("{}: corrupt record at id {id} (segment offset {offset}): {what}", path.display())]
    Corrupt {
        /// The segment file.
        path: PathBuf,
        /// The record's id.
        id: u64,
        /// Its offset in the segment file.
        offset: u64,
        /// What is wrong.
        what: String,
    },
    /// A segment file the log needs is missing: deleted by someone, or
    /// lost. Nothing is read past it and nothing appended in its place
    /// (an id must never be handed out twice); `mapped log recover` shows
    /// how the log can go on without it.
    #[error(
        "{}: segment file missing (ids {first_id} to {end_id} are not in the log); \
         `mapped log recover` shows how to go on without it",
        path.display()
    )]
    MissingSegment {
        /// The missing segment file.
        path: PathBuf,
        /// The first id it would hold.
        first_id: u64,
        /// The id after its last.
        end_id: u64,
    },
    /// A message is longer than the log's maximum.
    #[error("{}: message of {len} bytes exceeds the log's maximum of {max} bytes", path.display())]
    TooLarge {
        /// The log directory.
        path: PathBuf,
        /// The message's length.
        len: usize,
        /// The maximum, set at creation.
        max: u32,
    },
    /// Every appender slot is taken by a live process.
    #[error("{}: all {slots} appender slots are held by live appenders", path.display())]
    TooManyAppenders {
        /// The log directory.
        path: PathBuf,
        /// The number of slots.
        slots: u32,
    },
    /// A sync failed or cannot prove durability: data appended since the
    /// last successful one may not be on stable storage (see
    /// `docs/durability.md`). `why` says which case it is.
    #[error("{}: {why}", path.display())]
    SyncFailed {
        /// The log directory.
        path: PathBuf,
        /// Why, and whether retrying can help.
        why: SyncFailure,
        /// The error met, if any (none for [`SyncFailure::Earlier`]).
        #[source]
        source: Option<Box<LogError>>,
    },
    /// A reader name is not allowed.
    #[error("{}: bad reader name {name:?}: use 1 to 64 of A-Z a-z 0-9 _ - . not starting with a dot", path.display())]
    BadName {
        /// The log directory.
        path: PathBuf,
        /// The name.
        name: String,
    },
    /// The messages asked for were removed by retention.
    #[error("{}: id {id} was removed by retention; the oldest message still available is id {oldest}", path.display())]
    Behind {
        /// The log directory.
        path: PathBuf,
        /// The id asked for or reached.
        id: u64,
        /// The oldest id still available.
        oldest: u64,
    },
    /// The thread behind a [`Readiness`](crate::Readiness) descriptor
    /// stopped on an error. The reader reports the error itself when it
    /// reaches the same place.
    #[error("{}: readiness watcher stopped", path.display())]
    WatcherStopped {
        /// The log directory.
        path: PathBuf,
        /// The error it met.
        #[source]
        source: std::sync::Arc<LogError>,
    },
    /// The id does not name a record of this log.
    #[error("{}: no record starts at id {id}", path.display())]
    NoSuchId {
        /// The log directory.
        path: PathBuf,
        /// The id asked for.
        id: u64,
    },
    /// An appender (or readiness descriptor) made before this process was
    /// forked, used in the child: the child shares its slot and locks with
    /// the parent and has none of its threads. Make a new one in the child.
    #[error(
        "{}: this {handle} was made before fork(); the child shares its locks with its parent: \
         make a new one in the child",
        path.display()
    )]
    Forked {
        /// The log directory.
        path: PathBuf,
        /// Which kind of handle.
        handle: Handle,
    },
    /// A reader of a log opened with
    /// [`Log::open_read_only`](crate::Log::open_read_only) stands at a
    /// record that an appender left unfinished when it died. A reader that
    /// may write the log turns such a record into padding and reads on;
    /// this one may not store, so it stops here rather than wait for ever
    /// or skip what follows.
    #[error(
        "{}: the record at id {id} was left unfinished by an appender that died; \
         this reader opened the log read-only and cannot repair it: \
         `mapped log recover` (or any reader) run by a user who may write the log repairs it",
        path.display()
    )]
    Unrepaired {
        /// The log directory.
        path: PathBuf,
        /// The unfinished record's id.
        id: u64,
    },
    /// The log was opened with [`Log::open_read_only`](crate::Log::open_read_only),
    /// and this needs write access to its files.
    #[error("{}: opened read-only: {what} needs write access to the log's files", path.display())]
    ReadOnly {
        /// The log directory.
        path: PathBuf,
        /// What was asked for (`an appender`, `a reader`, ...).
        what: &'static str,
    },
    /// [`Appender::append_at`](crate::Appender::append_at) was asked for
    /// an id the log has already passed: another appender wrote to the
    /// log, or the log is not the copy the caller thinks it is.
    #[error(
        "{}: cannot append at id {id}: the log's next id is already {next} \
         (another appender wrote to it, or it is not the copy expected)",
        path.display()
    )]
    IdTaken {
        /// The log directory.
        path: PathBuf,
        /// The id asked for.
        id: u64,
        /// Where the log's next message would go: at or past `id`.
        next: u64,
    },
    /// An argument to a call was out of its range.
    #[error("{}: invalid argument: {what}", path.display())]
    InvalidArgument {
        /// The log directory.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
    /// Recovery cut the log more times than the control file remembers
    /// while this reader was not looking (or the cut count went backwards,
    /// which only a hostile process does): the reader cannot tell where
    /// the messages appended since start. Make a new reader (from a saved
    /// position or the beginning).
    #[error("{}", cuts_missed(path, *id, *missed, *kept))]
    CutsMissed {
        /// The log directory.
        path: PathBuf,
        /// Where the reader stood.
        id: u64,
        /// How many cuts it missed (`u64::MAX`: the count went backwards).
        missed: u64,
        /// How many cuts the control file keeps.
        kept: u64,
    },
}

/// A handle that belongs to the process that made it
/// ([`LogError::Forked`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Handle {
    /// An [`Appender`](crate::Appender).
    Appender,
    /// A [`Readiness`](crate::Readiness) descriptor.
    Readiness,
}

impl std::fmt::Display for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Handle::Appender => "appender",
            Handle::Readiness => "readiness descriptor",
        })
    }
}

/// Why a sync failed ([`LogError::SyncFailed`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SyncFailure {
    /// Writing back to the disk failed. The kernel may have dropped the
    /// data, and a retry that succeeds would not prove otherwise: the
    /// failure is recorded in the control file for every process (sticky
    /// until restart recovery), and appends under a durability promise
    /// fail from then on.
    WriteBack,
    /// A sync failed earlier, in this or another process (the sticky
    /// record of [`WriteBack`](Self::WriteBack)).
    Earlier,
    /// A file of the log is damaged (truncated, replaced, unreadable), so
    /// nothing past the damage can be proved durable. Not sticky: every
    /// later sync meets the same damage until `mapped log recover`
    /// repairs it.
    Damaged,
}

impl std::fmt::Display for SyncFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SyncFailure::WriteBack => "sync failed, recent appends may not be durable",
            SyncFailure::Earlier => {
                "an earlier sync of this log failed, in this or another process; \
                 no later sync can prove the data reached the disk (see docs/durability.md)"
            }
            SyncFailure::Damaged => {
                "cannot sync: a file of the log is damaged, recent appends are not proved \
                 durable (`mapped log verify` shows the damage)"
            }
        })
    }
}

fn cuts_missed(path: &std::path::Path, id: u64, missed: u64, kept: u64) -> String {
    let path = path.display();
    if missed == u64::MAX {
        return format!(
            "{path}: the log's cut count went backwards while this reader waited at id {id} \
             (only a process writing garbage into the control file does that): open a new reader"
        );
    }
    format!(
        "{path}: the log was cut {missed} times while this reader waited at id {id}; \
         only the last {kept} cuts are kept: open a new reader"
    )
}

impl LogError {
    pub(crate) fn io(path: impl Into<PathBuf>, op: &'static str, source: std::io::Error) -> Self {
        LogError::Io {
            path: path.into(),
            op,
            source,
        }
    }
}

macro_rules! from_mapped {
    ($($t:ty),*) => {$(
        impl From<$t> for LogError {
            fn from(e: $t) -> LogError {
                LogError::Mapped(e.into())
            }
        }
    )*};
}
from_mapped!(
    mapped::OpenError,
    mapped::AccessError,
    mapped::GrowError,
    mapped::SyncError,
    mapped::IoError
);

/// The log's result type.
pub type Result<T, E = LogError> = std::result::Result<T, E>;
