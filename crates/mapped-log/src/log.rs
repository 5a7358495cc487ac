//! The façade: [`Log`], the handle of an open log, and everything it can
//! do, each method a call into the layer that does it (`ops`, on the
//! state in `storage::control::Inner`).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::error::{LogError, Result};
use crate::ops::damage::{self, Problem};
use crate::ops::inspect::{self, Stat};
use crate::ops::open::{self, LogOptions};
use crate::ops::read::{self, Reader, Start};
use crate::ops::recovery::{self, RecoveryReport};
use crate::ops::retention::{self, RetainReport, Retention};
use crate::ops::{cursor, rebuild, sync};
use crate::storage::control::Inner;

/// An open log. Cheap to clone; [`Appender`](crate::Appender)s and
/// [`Reader`](crate::Reader)s are made from it.
#[derive(Debug, Clone)]
pub struct Log {
    pub(crate) inner: Arc<Inner>,
    /// What restart recovery did when this handle's log was opened.
    restart: Option<Arc<RecoveryReport>>,
}

impl Log {
    fn from_parts((inner, restart): (Arc<Inner>, Option<RecoveryReport>)) -> Log {
        Log {
            inner,
            restart: restart.map(Arc::new),
        }
    }

    /// Creates a new log in `dir`, which must not hold a log. The directory
    /// is created if missing, but not its parent: a mistyped path is an
    /// error, not a new tree of directories.
    pub fn create(dir: impl AsRef<Path>, opts: LogOptions) -> Result<Log> {
        open::create(dir.as_ref(), opts, 0).map(Log::from_parts)
    }

    /// Creates a new log in `dir`, as [`create`](Log::create) does, whose
    /// first segment is `first_segment` instead of 0: its first message
    /// gets id `first_segment * segment_size + 128`
    /// ([`format::SEGMENT_HEADER_LEN`](crate::format::SEGMENT_HEADER_LEN)),
    /// and no file is made for the segments before it. For a copy of a log
    /// whose retention removed its first segments: the copy keeps the
    /// source's ids ([`Appender::append_at`](crate::Appender::append_at))
    /// without a file for each segment the source no longer holds.
    ///
    /// The log is in the state of a log whose retention removed every
    /// segment before `first_segment`; `first_segment` must leave room
    /// for its ids in 64 bits ([`LogError::InvalidArgument`] otherwise).
    pub fn create_at(dir: impl AsRef<Path>, opts: LogOptions, first_segment: u64) -> Result<Log> {
        open::create(dir.as_ref(), opts, first_segment).map(Log::from_parts)
    }

    /// Opens the log in `dir`.
    ///
    /// **The trust boundary.** Every byte of the log's files is checked
    /// before it is used, so no file content can make this crate misbehave
    /// in memory. But the log is shared memory: a process that may write
    /// the log's directory and files can rewrite a record while a reader
    /// borrows it ([`Message::payload`](crate::Message::payload)) or
    /// truncate a segment under a borrow, which raises `SIGBUS`. Borrows
    /// therefore trust every process that may write the log (give the
    /// log's files a mode that admits only trusted users: `LogOptions::
    /// file_mode`). Readers that trust no one copy instead
    /// ([`Message::copy_to`](crate::Message::copy_to)); appenders write
    /// claims with [`Claim::write_at`](crate::Claim::write_at).
    pub fn open(dir: impl AsRef<Path>) -> Result<Log> {
        open::open(dir.as_ref(), false).map(Log::from_parts)
    }

    /// Opens the log in `dir` for inspection only, with read access to its
    /// files (all of them, `appenders.lock` included): for a user who may
    /// not write them, or a copy on read-only storage. [`stat`](Log::stat), [`verify`](Log::verify),
    /// [`segments`](Log::segments), [`durable_position`](Log::durable_position),
    /// [`named_readers`](Log::named_readers),
    /// [`appender_slots`](Log::appender_slots) and
    /// [`reader`](Log::reader) work; appenders, named readers, sync,
    /// recovery, retention and removing a named reader fail with
    /// [`LogError::ReadOnly`].
    ///
    /// Its readers store nothing. They cannot count themselves among the
    /// sleepers that appenders wake, so a sleeping one naps for at most
    /// 10 ms at a time and looks again. They cannot repair a record that
    /// an appender left unfinished when it died: they stop there with
    /// [`LogError::Unrepaired`] until a process that may write the log
    /// repairs it (any reader of a read-write handle, or
    /// [`recover`](Log::recover)).
    ///
    /// Restart recovery does not run: after a restart that no writer has
    /// recovered from yet ([`Log::restart_recovery_pending`]), records past
    /// the durable position may be torn, and `verify` reports them.
    ///
    /// Only on 64-bit targets (elsewhere [`LogError::ReadOnly`]): the log's
    /// words are read with atomic loads, which on some 32-bit targets are
    /// compare-and-swap instructions that fault on read-only memory.
    pub fn open_read_only(dir: impl AsRef<Path>) -> Result<Log> {
        if cfg!(not(target_pointer_width = "64")) {
            return Err(LogError::ReadOnly {
                path: dir.as_ref().to_path_buf(),
                what: "a read-only open on a 32-bit target",
            });
        }
        open::open(dir.as_ref(), true).map(Log::from_parts)
    }

    /// What restart recovery did when this handle opened the log, if the
    /// system had restarted since the log was last opened.
    pub fn restart_recovery(&self) -> Option<&RecoveryReport> {
        self.restart.as_deref()
    }

    /// Whether the system restarted since a writer last opened the log:
    /// true only for a log opened read-only (any other open recovers
    /// first). Records past the durable position may then be torn.
    pub fn restart_recovery_pending(&self) -> Result<bool> {
        Ok(self.inner.stored_boot_id()? != crate::storage::control::boot_id())
    }

    /// Whether the log was opened with [`Log::open_read_only`].
    pub fn is_read_only(&self) -> bool {
        self.inner.read_only
    }

    /// Explicit recovery: releases the slots of dead appenders (turning
    /// their unfinished records into padding) and, if no appender is
    /// alive, repairs damage to the log's files without losing what can
    /// be kept: damaged records become padding (the records after them
    /// keep their ids), missing or unusable segments get placeholders,
    /// files that must leave the log are moved into its `quarantine/`
    /// folder and every segment changed is copied there first; nothing is
    /// deleted and no id is ever handed out again (`docs/format.md`
    /// section 19.3). Then removes the temporary files that crashed
    /// processes left (see [`Leftovers`](crate::Leftovers)). Reports what
    /// it found and changed; see [`recover_dry_run`](Log::recover_dry_run)
    /// to look first.
    pub fn recover(&self) -> Result<RecoveryReport> {
        self.inner.writable("recovery")?;
        recovery::recover(&self.inner, true)
    }

    /// What [`recover`](Log::recover) would do, without doing it: the
    /// report lists the problems found and the changes recovery would
    /// make. Changes nothing, and works on a log opened read-only.
    pub fn recover_dry_run(&self) -> Result<RecoveryReport> {
        recovery::dry_run(&self.inner)
    }

    /// Opens the log in `dir`, creating it with `opts` if there is none
    /// (see [`Log::create`]: the parent directory must exist).
    pub fn open_or_create(dir: impl AsRef<Path>, opts: LogOptions) -> Result<Log> {
        let dir = dir.as_ref();
        match Log::create(dir, opts) {
            Ok(log) => Ok(log),
            Err(LogError::AlreadyExists { .. }) => Log::open(dir),
            Err(e) => Err(e),
        }
    }

    /// The log's directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Size of each segment file.
    pub fn segment_size(&self) -> u64 {
        self.inner.header.segment_size
    }

    /// Largest message accepted.
    pub fn max_message(&self) -> u32 {
        self.inner.header.max_message
    }

    /// The log's identity: 16 random bytes chosen at creation and stored
    /// in every file's header (`docs/format.md`, section 4). Two logs
    /// never share it; a copy made by appending messages is a different
    /// log.
    pub fn log_id(&self) -> [u8; 16] {
        self.inner.header.log_id
    }

    /// The saved position of the named reader `name`, if it has one.
    pub fn reader_position(&self, name: &str) -> Result<Option<u64>> {
        cursor::reader_position(&self.inner, name)
    }

    /// Every named reader and its saved position, sorted by name. A
    /// reader's file that cannot be read or decoded is an error: callers
    /// such as retention must not act without every position.
    pub fn named_readers(&self) -> Result<Vec<(String, u64)>> {
        cursor::named_readers(&self.inner)
    }

    /// A named reader: resumes at its saved position, or starts at `start`
    /// if it has none. Save its position with [`Reader::save`]. A saved
    /// position that names no message any more (recovery or retention
    /// removed its range) resumes at the next message that exists, and
    /// [`Reader::resumed_from`] says so. Not on a
    /// log opened read-only ([`LogError::ReadOnly`]): saving writes to
    /// the log's directory.
    pub fn named_reader(&self, name: &str, start: Start) -> Result<Reader> {
        cursor::named_reader(&self.inner, name, start)
    }

    /// Stores `position` as the named reader `name`'s saved position,
    /// durably (the reader need not be open): it resumes there, and
    /// retention keeps what lies past it. For a reader that hands
    /// messages on before they are done with (a pipelined exporter):
    /// save the position after the last message that is done, not
    /// [`Reader::position`](crate::Reader::position).
    pub fn save_reader_position(&self, name: &str, position: u64) -> Result<()> {
        cursor::save_reader_position(&self.inner, name, position)
    }

    /// Removes the named reader `name` (retention stops waiting for it).
    pub fn remove_named_reader(&self, name: &str) -> Result<()> {
        cursor::remove_named_reader(&self.inner, name)
    }

    /// Reads every record of every segment and checks every checksum, and
    /// checks that the log's segment files are all there, all this log's,
    /// and nothing else. Returns every problem found, in order; empty if
    /// the log is consistent. Stores nothing (works on a log opened
    /// read-only).
    pub fn verify(&self) -> Result<Vec<Problem>> {
        damage::verify(&self.inner)
    }

    /// Rebuilds a log's missing or unreadable control file from its
    /// segment files, for explicit recovery: the log's identity and
    /// segment size come from the segment headers (those of the most
    /// segments agreeing), its first and tail segments from the files
    /// present, its file mode from theirs. The largest message becomes
    /// the largest that fits a segment (the old limit is lost). The old
    /// control file, if any, moves into quarantine. With `apply` false,
    /// changes nothing and reports what it would do. Then open the log
    /// and [`recover`](Log::recover) it to repair the rest.
    pub fn rebuild_control(dir: impl AsRef<Path>, apply: bool) -> Result<RecoveryReport> {
        rebuild::rebuild_control(dir, apply)
    }

    /// The segment indexes present, in order.
    pub fn segments(&self) -> Result<Vec<u64>> {
        inspect::segments(&self.inner)
    }

    /// A summary of the log: segments, ids, counts, durable position,
    /// named readers, live appenders, and every problem with its files
    /// (as [`verify`](Log::verify) finds them: a damaged log is summed
    /// up, not refused).
    pub fn stat(&self) -> Result<Stat> {
        inspect::stat(&self.inner)
    }

    /// Removes whole segments from the front of the log as `policy` says.
    /// Never the segment being appended to; never one a named reader has not
    /// finished, unless `policy.force`. Processes that still have a removed
    /// segment mapped keep reading it safely (the file lives on until
    /// unmapped); readers that reach removed data get [`LogError::Behind`].
    /// Also removes the temporary files that crashed processes left (see
    /// [`Leftovers`](crate::Leftovers)).
    pub fn retain(&self, policy: Retention) -> Result<RetainReport> {
        retention::retain(&self.inner, policy)
    }

    /// The ids of live appenders' slots, and of slots left busy by dead ones.
    pub fn appender_slots(&self) -> Result<(Vec<u32>, Vec<u32>)> {
        inspect::appender_slots(&self.inner)
    }

    /// A reader starting at `start`. On a log opened with
    /// [`Log::open_read_only`] the reader stores nothing: it naps instead
    /// of being woken, and stops with [`LogError::Unrepaired`] at a dead
    /// appender's record instead of repairing it (see there).
    pub fn reader(&self, start: Start) -> Result<Reader> {
        read::start::reader(&self.inner, start)
    }

    /// The index of the log's first segment, as its control file says
    /// (retention moves it up as it removes segments).
    /// The id of the last message in the log, or `None` if it holds
    /// none: read from the start of the tail segment (or of the latest
    /// earlier segment holding a message), not from the beginning. A
    /// message still being written is not counted, and a record a dead
    /// appender left is repaired first, as by any reader.
    pub fn last_id(&self) -> Result<Option<u64>> {
        read::start::last_id(&self.inner)
    }

    /// The durable position: every message with a smaller id is on stable
    /// storage.
    pub fn durable_position(&self) -> u64 {
        sync::durable_position(&self.inner)
    }

    /// Waits until the durable position reaches `position`, or `timeout`
    /// passes (`None`: no limit); returns the durable position, which is
    /// below `position` only after the timeout. It does not sync: it
    /// waits for the syncs of others (appenders with
    /// [`Durability::Sync`](crate::Durability::Sync), [`Log::sync`], the
    /// background syncs), and sleeps without polling (on the futex word
    /// that their group commits wake). Works on read-only handles.
    ///
    /// Fails with [`LogError::SyncFailed`] if a sync of the log has
    /// failed: the position may then never move.
    pub fn wait_durable(&self, position: u64, timeout: Option<Duration>) -> Result<u64> {
        sync::wait_durable(&self.inner, position, timeout)
    }

    /// Makes every message committed so far durable; returns the new
    /// durable position.
    pub fn sync(&self) -> Result<u64> {
        sync::sync(&self.inner)
    }
}
