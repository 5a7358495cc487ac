//! [`Log`]: a log directory, its control file and geometry.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use mapped::{MapOptions, Mapping, Mode};

use crate::error::{LogError, Result};
use crate::format::{self, ControlHeader};
use crate::protocol;
use crate::recovery::RecoveryReport;
use crate::segment::{Segment, not_a_log};
use crate::slots::SlotState;

/// The control file's name inside the log directory.
pub const CONTROL_FILE: &str = "control";
/// The appender lock file's name inside the log directory.
pub const LOCK_FILE: &str = "appenders.lock";

/// Settings fixed when a log is created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogOptions {
    /// Size of each segment file in bytes (default 64 MiB).
    pub segment_size: u64,
    /// Largest message in bytes (default 1 MiB).
    pub max_message: u32,
    /// The permission bits of every file of the log, whoever makes it
    /// later (segments, named-reader files, the lock file), as git's
    /// `core.sharedRepository` does: `0o600` (the default) for a log only
    /// its owner uses, `0o640` for a group that reads it, `0o660` for a
    /// group that also writes it. Directories get the matching search
    /// bits. Stored in the control file; at least `0o600`, at most
    /// `0o666`.
    pub file_mode: u32,
    /// The group that owns the log's directory, if not the creator's: the
    /// directory gets the set-group-ID bit, so that every file made in it
    /// later belongs to this group too. The creator must be allowed to
    /// give the directory to it (`chown`).
    pub group: Option<u32>,
}

impl Default for LogOptions {
    fn default() -> Self {
        LogOptions {
            segment_size: 64 << 20,
            max_message: 1 << 20,
            file_mode: format::DEFAULT_FILE_MODE,
            group: None,
        }
    }
}

/// An open log. Cheap to clone; [`Appender`](crate::Appender)s and
/// [`Reader`](crate::Reader)s are made from it.
#[derive(Debug, Clone)]
pub struct Log {
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) dir: PathBuf,
    pub(crate) header: ControlHeader,
    pub(crate) control: Mapping,
    pub(crate) recovery: std::sync::OnceLock<RecoveryReport>,
    /// Opened with `Log::open_read_only`: every mapping is read-only, and
    /// whatever would store into one is refused (`Inner::writable`) before
    /// it can fault, or takes a path that only loads: a reader naps
    /// instead of counting itself a sleeper (`Reader::wait`) and reports a
    /// dead appender's record instead of padding it
    /// (`Reader::check_unrepaired`).
    pub(crate) read_only: bool,
}

impl Log {
    /// Creates a new log in `dir`, which must not hold a log. The directory
    /// is created if missing, but not its parent: a mistyped path is an
    /// error, not a new tree of directories.
    pub fn create(dir: impl AsRef<Path>, opts: LogOptions) -> Result<Log> {
        let dir = dir.as_ref();
        if opts.max_message == 0 {
            return Err(LogError::InvalidArgument {
                path: dir.to_path_buf(),
                what: "the maximum message size must be at least 1 byte".into(),
            });
        }
        format::check_segment_size(opts.segment_size).map_err(|why| LogError::NotALog {
            path: dir.to_path_buf(),
            why,
        })?;
        format::check_max_message(opts.max_message, opts.segment_size).map_err(|why| {
            LogError::NotALog {
                path: dir.to_path_buf(),
                why,
            }
        })?;
        format::check_file_mode(opts.file_mode).map_err(|why| LogError::InvalidArgument {
            path: dir.to_path_buf(),
            what: why.to_string(),
        })?;
        let existed = match std::fs::metadata(dir) {
            Ok(m) if m.is_dir() => true,
            Ok(_) => {
                return Err(LogError::io(
                    dir,
                    "create a log in",
                    std::io::Error::new(std::io::ErrorKind::NotADirectory, "not a directory"),
                ));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                // A dangling symbolic link is not a missing directory.
                if std::fs::symlink_metadata(dir).is_ok() {
                    return Err(LogError::io(dir, "create a log in", e));
                }
                let parent = parent_of(dir);
                if !parent.is_dir() {
                    return Err(LogError::io(
                        dir,
                        "create directory",
                        std::io::Error::new(
                            std::io::ErrorKind::NotFound,
                            "its parent directory does not exist",
                        ),
                    ));
                }
                false
            }
            Err(e) => return Err(LogError::io(dir, "create a log in", e)),
        };
        // Creators in one existing directory take turns (an exclusive
        // `flock` on it, released at their death): one's half-moved log is
        // never taken for another's leftover.
        let _turn = if existed {
            let d = File::open(dir).map_err(|e| LogError::io(dir, "open directory", e))?;
            rustix::fs::flock(&d, rustix::fs::FlockOperation::LockExclusive)
                .map_err(|e| LogError::io(dir, "lock directory", e.into()))?;
            check_empty_of_logs(dir)?;
            Some(d)
        } else {
            None
        };
        let mut log_id = [0u8; 16];
        log_id[..8].copy_from_slice(&crate::random_u64().to_le_bytes());
        log_id[8..].copy_from_slice(&crate::random_u64().to_le_bytes());
        let header = ControlHeader {
            segment_size: opts.segment_size,
            max_message: opts.max_message,
            log_id,
            file_mode: opts.file_mode,
        };
        // All or nothing: the log is built in a staging directory, then
        // renamed into place (a new directory), or its files are moved
        // into the existing directory with the control file last. A
        // failure removes what was built; a crash leaves a staging
        // directory whose name starts with a dot.
        let tag = format!("{}-{}", std::process::id(), crate::random_u64());
        let staging = if existed {
            dir.join(format!(".create.tmp-{tag}"))
        } else {
            let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("log");
            parent_of(dir).join(format!(".{name}.create.tmp-{tag}"))
        };
        std::fs::create_dir(&staging).map_err(|e| LogError::io(&staging, "create directory", e))?;
        // Shared: the directory's group and mode first (files made in it
        // inherit a set-group-ID directory's group); a directory that
        // existed keeps its own unless asked.
        let shared = opts.file_mode != format::DEFAULT_FILE_MODE || opts.group.is_some();
        let placed = share_dir(&staging, opts.file_mode, opts.group)
            .and_then(|()| {
                if existed && shared {
                    share_dir(dir, opts.file_mode, opts.group)
                } else {
                    Ok(())
                }
            })
            .and_then(|()| build_log(&staging, &header))
            .and_then(|()| {
                if existed {
                    move_into(&staging, dir)
                } else {
                    match rename_noreplace(&staging, dir) {
                        Ok(()) => Ok(true),
                        Err(LogError::AlreadyExists { .. }) => Ok(false),
                        Err(e) => Err(e),
                    }
                }
            });
        let _ = std::fs::remove_dir_all(&staging);
        match placed {
            Ok(true) => {}
            // The directory appeared meanwhile: make the log in it.
            Ok(false) => return Log::create(dir, opts),
            Err(e) => return Err(e),
        }
        sync_dir(if existed { dir } else { parent_of(dir) })?;
        Log::open(dir)
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
        Log::open_with(dir.as_ref(), false)
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
        Log::open_with(dir.as_ref(), true)
    }

    fn open_with(dir: &Path, read_only: bool) -> Result<Log> {
        let dir = dir.to_path_buf();
        let control_path = dir.join(CONTROL_FILE);
        let control = MapOptions::new()
            .mode(map_mode(read_only))
            .open(&control_path)
            .map_err(|e| match e {
                mapped::OpenError::Io(io) if io.os_error().kind() == std::io::ErrorKind::NotFound => {
                    if crate::segment::list(&dir).is_ok_and(|l| !l.is_empty()) {
                        not_a_log(&control_path, "the control file is missing, but segment files are here: `mapped log recover` can rebuild it from them".into())
                    } else {
                        not_a_log(&dir, "no control file: not a log directory (create one with `mapped log create`)".into())
                    }
                }
                e => e.into(),
            })?;
        if (control.len() as u64) < format::CONTROL_LEN {
            return Err(not_a_log(
                &control_path,
                format!(
                    "control file is {} bytes, expected {}",
                    control.len(),
                    format::CONTROL_LEN
                ),
            ));
        }
        let mut raw = [0u8; 64];
        control.read_at(0, &mut raw)?;
        let header = ControlHeader::decode(&raw).map_err(|why| LogError::NotALog {
            path: control_path.clone(),
            why,
        })?;
        // Make sure the lock file exists (appenders, repairs and recovery
        // each open their own descriptor of it).
        if !read_only {
            ensure_lock_file(&dir.join(LOCK_FILE), header.file_mode)?;
        }
        let log = Log {
            inner: Arc::new(Inner {
                dir,
                header,
                control,
                recovery: std::sync::OnceLock::new(),
                read_only,
            }),
        };
        if read_only {
            return Ok(log);
        }
        if let Some(report) = log.inner.recover_if_restarted()? {
            let _ = log.inner.recovery.set(report);
        }
        Ok(log)
    }

    /// What restart recovery did when this handle opened the log, if the
    /// system had restarted since the log was last opened.
    pub fn restart_recovery(&self) -> Option<&RecoveryReport> {
        self.inner.recovery.get()
    }

    /// Whether the system restarted since a writer last opened the log:
    /// true only for a log opened read-only (any other open recovers
    /// first). Records past the durable position may then be torn.
    pub fn restart_recovery_pending(&self) -> Result<bool> {
        Ok(self.inner.stored_boot_id()? != crate::recovery::boot_id())
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
        self.inner.recover(self, true)
    }

    /// What [`recover`](Log::recover) would do, without doing it: the
    /// report lists the problems found and the changes recovery would
    /// make. Changes nothing, and works on a log opened read-only.
    pub fn recover_dry_run(&self) -> Result<RecoveryReport> {
        if self.inner.read_only {
            let (live, dead_busy) = self.appender_slots()?;
            let mut report = RecoveryReport {
                slots_released: dead_busy.len() as u32,
                leftovers_removed: crate::temp::log_leftovers(self.dir())?,
                ..RecoveryReport::default()
            };
            crate::recovery::report_damage(self, &mut report, !live.is_empty(), false)?;
            return Ok(report);
        }
        self.inner.recover(self, false)
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
}

impl Inner {
    pub(crate) fn tail_segment(&self) -> &AtomicU64 {
        crate::words::u64_at(&self.control, format::CONTROL_TAIL_SEGMENT)
    }

    /// The index of the log's first segment: every segment from it to the
    /// tail segment must exist.
    pub(crate) fn first_segment(&self) -> &AtomicU64 {
        crate::words::u64_at(&self.control, format::CONTROL_FIRST_SEGMENT)
    }

    pub(crate) fn notify(&self) -> &AtomicU32 {
        crate::words::u32_at(&self.control, format::CONTROL_NOTIFY)
    }

    pub(crate) fn cuts(&self) -> &AtomicU64 {
        crate::words::u64_at(&self.control, format::CONTROL_CUTS)
    }

    pub(crate) fn last_cut(&self) -> &AtomicU64 {
        crate::words::u64_at(&self.control, format::CONTROL_LAST_CUT)
    }

    /// The cut ring's entry for cut number `k` (see
    /// [`format::CONTROL_CUT_RING`]).
    pub(crate) fn cut_ring(&self, k: u64) -> &AtomicU64 {
        crate::words::u64_at(
            &self.control,
            format::CONTROL_CUT_RING + 8 * (k % format::CUT_RING),
        )
    }

    pub(crate) fn waiters(&self) -> &AtomicU32 {
        crate::words::u32_at(&self.control, format::CONTROL_WAITERS)
    }

    pub(crate) fn sleeper_flag(&self, k: u32) -> &AtomicU64 {
        crate::words::u64_at(&self.control, format::CONTROL_SLEEPERS + k as u64 * 8)
    }

    pub(crate) fn slot(&self, i: u32) -> &AtomicU64 {
        crate::words::u64_at(
            &self.control,
            format::CONTROL_SLOTS + i as u64 * format::SLOT_LEN,
        )
    }

    /// Slot `i`'s size word (see [`format::SLOT_SIZE`]).
    pub(crate) fn slot_size(&self, i: u32) -> &AtomicU64 {
        crate::words::u64_at(
            &self.control,
            format::CONTROL_SLOTS + i as u64 * format::SLOT_LEN + format::SLOT_SIZE,
        )
    }

    pub(crate) fn slot_state(&self, i: u32) -> SlotState {
        SlotState::decode(self.slot(i).load(Ordering::SeqCst))
    }

    pub(crate) fn open_segment(&self, index: u64) -> Result<Option<Segment>> {
        Segment::open(&self.dir, index, &self.header, map_mode(self.read_only))
    }

    /// Refuses `what` on a log opened read-only: its mappings would fault
    /// on the first store.
    pub(crate) fn writable(&self, what: &'static str) -> Result<()> {
        if self.read_only {
            return Err(LogError::ReadOnly {
                path: self.dir.clone(),
                what,
            });
        }
        Ok(())
    }

    /// Opens segment `index`, which the log says exists (the tail segment,
    /// or one a reader or appender reached through the log's words): a
    /// missing one is damage, an error that names it. Segments are made
    /// before they are published (`tail_segment`), and a log is made with
    /// its first segment, so no process may make one here: an id handed
    /// out again in a segment someone deleted would be a message lost
    /// silently.
    pub(crate) fn expected_segment(&self, index: u64) -> Result<Segment> {
        match self.open_segment(index)? {
            Some(seg) => Ok(seg),
            None => Err(self.missing_segment(index)),
        }
    }

    /// Whether segment `index`'s ids fit in 64 bits (an index read from a
    /// shared word may be anything).
    pub(crate) fn index_fits(&self, index: u64) -> bool {
        index
            .checked_add(1)
            .and_then(|i| i.checked_mul(self.header.segment_size))
            .is_some()
    }

    /// The error for segment `index` missing from the log.
    pub(crate) fn missing_segment(&self, index: u64) -> LogError {
        let size = self.header.segment_size;
        LogError::MissingSegment {
            path: self.dir.join(crate::segment::file_name(index)),
            first_id: index
                .saturating_mul(size)
                .saturating_add(format::SEGMENT_HEADER_LEN),
            end_id: index.saturating_add(1).saturating_mul(size),
        }
    }

    /// Runs `f`, which touches words of the control file, with `SIGBUS`
    /// protection: a control file truncated by another process is an error,
    /// not death (see `mapped::Mapping::guarded`).
    #[inline]
    pub(crate) fn ctl<R>(&self, f: impl FnOnce() -> R) -> Result<R> {
        Ok(self.control.guarded(f)?)
    }

    /// Wakes sleeping readers, if any. The caller has already published
    /// what they wait for.
    pub(crate) fn wake_readers(&self) {
        // W1 (see `protocol`): pairs with a sleeper's increment of `waiters`
        // and re-check: either it sees what we published, or we see it.
        protocol::fence(protocol::Ordering::SeqCst);
        if self.waiters().load(protocol::Ordering::SeqCst) > 0 {
            self.wake_now();
        }
    }

    /// Wakes every sleeping reader (after `protocol::release_slot` said one
    /// sleeps).
    pub(crate) fn wake_now(&self) {
        protocol::announce_wake(self.notify());
        let _ = mapped::wake_all(self.notify());
    }

    /// A new descriptor (a new open file description) of the lock file.
    /// Each locking session takes its own: OFD locks held through one
    /// description do not exclude each other.
    pub(crate) fn lock_file(&self) -> Result<File> {
        open_lock_file(&self.dir.join(LOCK_FILE))
    }

    /// A read-only descriptor of the lock file, for probing locks
    /// (`slots::held`) on a log opened read-only; `None` if there is no
    /// lock file (then no appender has ever held a slot).
    pub(crate) fn lock_file_read_only(&self) -> Result<Option<File>> {
        let path = self.dir.join(LOCK_FILE);
        match File::open(&path) {
            Ok(f) => Ok(Some(f)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(LogError::io(&path, "open", e)),
        }
    }
}

pub(crate) fn open_lock_file(path: &Path) -> Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map_err(|e| LogError::io(path, "open", e))
}

/// The mode of a directory of a log whose files have `file_mode`: search
/// bits wherever reading is allowed.
pub(crate) fn dir_mode(file_mode: u32) -> u32 {
    file_mode | (file_mode & 0o444) >> 2
}

/// Gives `dir` the mode that goes with `file_mode` and, with `group`,
/// that group and the set-group-ID bit. Keeps a set-group-ID bit it has.
pub(crate) fn share_dir(dir: &Path, file_mode: u32, group: Option<u32>) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(gid) = group {
        rustix::fs::chown(dir, None, Some(rustix::fs::Gid::from_raw(gid)))
            .map_err(|e| LogError::io(dir, "give the directory to its group", e.into()))?;
    }
    let had = std::fs::metadata(dir)
        .map_err(|e| LogError::io(dir, "stat", e))?
        .permissions()
        .mode();
    let setgid = if group.is_some() {
        0o2000
    } else {
        had & 0o2000
    };
    std::fs::set_permissions(
        dir,
        std::fs::Permissions::from_mode(dir_mode(file_mode) | setgid),
    )
    .map_err(|e| LogError::io(dir, "set the mode of", e))
}

/// Makes the directory `dir` of a log (`readers/`, `quarantine/`) if it is
/// missing, with the log's mode.
pub(crate) fn make_log_dir(dir: &Path, file_mode: u32) -> Result<()> {
    match std::fs::create_dir(dir) {
        Ok(()) => share_dir(dir, file_mode, None),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(LogError::io(dir, "create directory", e)),
    }
}

/// Sets the permission bits of a file the log made (whatever the umask
/// let `open` give it).
pub(crate) fn set_file_mode(file: &File, path: &Path, mode: u32) -> Result<()> {
    rustix::fs::fchmod(file, rustix::fs::Mode::from_raw_mode(mode))
        .map_err(|e| LogError::io(path, "set the mode of", e.into()))
}

/// Opens the lock file, making it with `mode` if it is missing.
pub(crate) fn ensure_lock_file(path: &Path, mode: u32) -> Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    match File::options()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(f) => {
            set_file_mode(&f, path, mode)?;
            Ok(f)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => open_lock_file(path),
        Err(e) => Err(LogError::io(path, "open", e)),
    }
}

/// Makes a directory's entries durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| LogError::io(dir, "fsync directory", e))
}

/// A new log of `segment_size`-byte segments (messages up to 4 KiB) in a
/// temporary directory, for the crate's unit tests.
#[cfg(test)]
pub(crate) fn temp_log(segment_size: u64) -> (tempfile::TempDir, Log) {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::create(
        dir.path().join("log"),
        LogOptions {
            segment_size,
            max_message: 4096,
            ..LogOptions::default()
        },
    )
    .unwrap();
    (dir, log)
}

/// How a handle maps the log's files.
fn map_mode(read_only: bool) -> Mode {
    if read_only {
        Mode::ReadOnly
    } else {
        Mode::ReadWrite
    }
}

/// The directory `dir` is in (`.` for a bare name).
fn parent_of(dir: &Path) -> &Path {
    match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Refuses an existing directory that holds a log, or segment files of
/// one: a log is never made over another's files.
fn check_empty_of_logs(dir: &Path) -> Result<()> {
    if dir.join(CONTROL_FILE).exists() {
        return Err(LogError::AlreadyExists {
            path: dir.to_path_buf(),
        });
    }
    // A create in this directory that crashed between moving segment 0 in
    // and moving the control file in left an empty segment 0 behind: it
    // holds nothing (every byte past its header zero, its counter at the
    // first record), so it goes.
    let segments = crate::segment::list(dir)?;
    if segments == [0] && segment_file_is_empty(&dir.join(crate::segment::file_name(0))) {
        let p = dir.join(crate::segment::file_name(0));
        std::fs::remove_file(&p).map_err(|e| LogError::io(&p, "remove", e))?;
    }
    let entries = std::fs::read_dir(dir).map_err(|e| LogError::io(dir, "read directory", e))?;
    for entry in entries {
        let entry = entry.map_err(|e| LogError::io(dir, "read directory", e))?;
        if entry
            .file_name()
            .to_str()
            .and_then(crate::segment::parse_name)
            .is_some()
        {
            // Another process may have made the log since we looked.
            if dir.join(CONTROL_FILE).exists() {
                return Err(LogError::AlreadyExists {
                    path: dir.to_path_buf(),
                });
            }
            return Err(not_a_log(
                &entry.path(),
                "a segment file without a control file: refusing to create a log over it".into(),
            ));
        }
    }
    Ok(())
}

/// Whether the segment file at `path` has a valid header, a reservation
/// counter at the first record, and nothing but zeros past its header: a
/// segment that never held anything.
fn segment_file_is_empty(path: &Path) -> bool {
    use std::io::Read;
    let Ok(mut f) = File::open(path) else {
        return false;
    };
    let mut head = [0u8; format::SEGMENT_HEADER_LEN as usize];
    if f.read_exact(&mut head).is_err() {
        return false;
    }
    let mut raw = [0u8; 64];
    raw.copy_from_slice(&head[..64]);
    let tail = u64::from_le_bytes(head[64..72].try_into().expect("8 bytes"));
    if format::SegmentHeader::decode(&raw).is_err() || tail != format::SEGMENT_HEADER_LEN {
        return false;
    }
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match f.read(&mut buf) {
            Ok(0) => return true,
            Ok(n) if buf[..n].iter().all(|&b| b == 0) => {}
            _ => return false,
        }
    }
}

/// Builds a whole new log in the empty directory `dir`: the control file,
/// segment 0 and the lock file, each synced, and the directory synced.
fn build_log(dir: &Path, header: &ControlHeader) -> Result<()> {
    let control_path = dir.join(CONTROL_FILE);
    let tmp = crate::temp::NewFile::create(dir, CONTROL_FILE)?;
    let made = (|| -> Result<()> {
        tmp.set_mode(header.file_mode)?;
        let map = tmp.map(format::CONTROL_LEN)?;
        map.write_at(0, &header.encode())?;
        map.write_at(format::CONTROL_BOOT_ID, &crate::recovery::boot_id())?;
        map.atomic_u64(format::CONTROL_DURABLE)?
            .store(format::SEGMENT_HEADER_LEN, Ordering::Release);
        map.sync_data()?;
        tmp.link(&control_path)
            .map_err(|e| LogError::io(&control_path, "link", e))
    })();
    drop(tmp);
    made?;
    ensure_lock_file(&dir.join(LOCK_FILE), header.file_mode)?;
    Segment::create(dir, 0, header)?;
    sync_dir(dir)
}

/// Renames `from` to `to` unless `to` exists (`renameat2` with
/// `RENAME_NOREPLACE`); [`LogError::AlreadyExists`] if it does.
fn rename_noreplace(from: &Path, to: &Path) -> Result<()> {
    rustix::fs::renameat_with(
        rustix::fs::CWD,
        from,
        rustix::fs::CWD,
        to,
        rustix::fs::RenameFlags::NOREPLACE,
    )
    .map_err(|e| {
        let e = std::io::Error::from(e);
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            LogError::AlreadyExists {
                path: to.to_path_buf(),
            }
        } else {
            LogError::io(to, "rename into place", e)
        }
    })
}

/// Moves the files of a log built in `staging` into the existing directory
/// `dir`, the control file last (it makes the directory a log), never
/// over an existing name. On failure, removes what it moved. `Ok(false)`
/// never happens here (the directory exists); kept for the caller's match.
fn move_into(staging: &Path, dir: &Path) -> Result<bool> {
    let seg0 = crate::segment::file_name(0);
    let mut moved: Vec<PathBuf> = Vec::new();
    let result = (|| -> Result<()> {
        for name in [seg0.as_str(), LOCK_FILE, CONTROL_FILE] {
            let to = dir.join(name);
            match rename_noreplace(&staging.join(name), &to) {
                Ok(()) => moved.push(to),
                // A lock file is only ever locked: another's will do.
                Err(LogError::AlreadyExists { .. }) if name == LOCK_FILE => {}
                Err(LogError::AlreadyExists { .. }) => {
                    return Err(LogError::AlreadyExists {
                        path: dir.to_path_buf(),
                    });
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    })();
    if result.is_err() {
        for p in moved.iter().rev() {
            let _ = std::fs::remove_file(p);
        }
    }
    result.map(|()| true)
}
