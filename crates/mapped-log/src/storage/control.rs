//! The control file: the log's fixed settings and its shared words (the
//! tail segment, the durable position, the futex word, the appender
//! slots; `docs/format.md`, section 4), and `Inner`, the state every
//! handle of one open log shares (`Log` in `log.rs` is an `Arc` of it).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use mapped::{Mapping, Mode};

use crate::error::{LogError, Result};
use crate::format::{self, ControlHeader, SlotState};
use crate::protocol;
use crate::storage::locks::{LOCK_FILE, LockFile};
use crate::storage::segment::Segment;

/// The control file's name inside the log directory.
pub const CONTROL_FILE: &str = "control";

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) dir: PathBuf,
    pub(crate) header: ControlHeader,
    pub(crate) control: Mapping,
    /// Opened with `Log::open_read_only`: every mapping is read-only, and
    /// whatever would store into one is refused (`Inner::writable`) before
    /// it can fault, or takes a path that only loads: a reader naps
    /// instead of counting itself a sleeper (`Reader::wait`) and reports a
    /// dead appender's record instead of padding it
    /// (`Reader::check_unrepaired`).
    pub(crate) read_only: bool,
}

impl Inner {
    /// The log's directory.
    pub(crate) fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    /// Size of each segment file.
    pub(crate) fn segment_size(&self) -> u64 {
        self.header.segment_size
    }

    /// Largest message accepted.
    pub(crate) fn max_message(&self) -> u32 {
        self.header.max_message
    }

    pub(crate) fn tail_segment(&self) -> &AtomicU64 {
        crate::storage::words::u64_at(&self.control, format::CONTROL_TAIL_SEGMENT)
    }

    /// The index of the log's first segment: every segment from it to the
    /// tail segment must exist.
    pub(crate) fn first_segment(&self) -> &AtomicU64 {
        crate::storage::words::u64_at(&self.control, format::CONTROL_FIRST_SEGMENT)
    }

    pub(crate) fn notify(&self) -> &AtomicU32 {
        crate::storage::words::u32_at(&self.control, format::CONTROL_NOTIFY)
    }

    pub(crate) fn cuts(&self) -> &AtomicU64 {
        crate::storage::words::u64_at(&self.control, format::CONTROL_CUTS)
    }

    pub(crate) fn last_cut(&self) -> &AtomicU64 {
        crate::storage::words::u64_at(&self.control, format::CONTROL_LAST_CUT)
    }

    /// The cut ring's entry for cut number `k` (see
    /// [`format::CONTROL_CUT_RING`]).
    pub(crate) fn cut_ring(&self, k: u64) -> &AtomicU64 {
        crate::storage::words::u64_at(
            &self.control,
            format::CONTROL_CUT_RING + 8 * (k % format::CUT_RING),
        )
    }

    pub(crate) fn waiters(&self) -> &AtomicU32 {
        crate::storage::words::u32_at(&self.control, format::CONTROL_WAITERS)
    }

    pub(crate) fn sleeper_flag(&self, k: u32) -> &AtomicU64 {
        crate::storage::words::u64_at(&self.control, format::CONTROL_SLEEPERS + k as u64 * 8)
    }

    pub(crate) fn slot(&self, i: u32) -> &AtomicU64 {
        crate::storage::words::u64_at(
            &self.control,
            format::CONTROL_SLOTS + i as u64 * format::SLOT_LEN,
        )
    }

    /// Slot `i`'s size word (see [`format::SLOT_SIZE`]).
    pub(crate) fn slot_size(&self, i: u32) -> &AtomicU64 {
        crate::storage::words::u64_at(
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
            path: self.dir.join(crate::storage::segment::file_name(index)),
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
    pub(crate) fn lock_file(&self) -> Result<LockFile> {
        LockFile::open(&self.dir.join(LOCK_FILE))
    }

    /// A read-only descriptor of the lock file, for probing locks
    /// ([`LockFile::held`]) on a log opened read-only; `None` if there is
    /// no lock file (then no appender has ever held a slot).
    pub(crate) fn lock_file_read_only(&self) -> Result<Option<LockFile>> {
        LockFile::open_read_only(&self.dir.join(LOCK_FILE))
    }

    /// The index of the log's first segment, checked: an index whose
    /// ids do not fit in 64 bits is corruption.
    pub(crate) fn first_index(&self) -> Result<u64> {
        let inner = self;
        let first = inner.ctl(|| inner.first_segment().load(Ordering::Acquire))?;
        // Untrusted: an index whose ids do not fit in 64 bits names no
        // segment.
        if !inner.index_fits(first) {
            return Err(LogError::Corrupt {
                path: inner.dir.join(CONTROL_FILE),
                id: 0,
                offset: format::CONTROL_FIRST_SEGMENT,
                what: format!("first segment index {first} is out of range"),
            });
        }
        Ok(first)
    }

    pub(crate) fn durable(&self) -> &AtomicU64 {
        crate::storage::words::u64_at(&self.control, format::CONTROL_DURABLE)
    }

    /// The group-commit sequence word in the control file.
    pub(crate) fn sync_seq(&self) -> &crate::protocol::AtomicU32 {
        crate::storage::words::u32_at(&self.control, format::CONTROL_SYNC_SEQ)
    }

    /// The sync-failure flag in the control file.
    pub(crate) fn sync_failure(&self) -> &AtomicU64 {
        crate::storage::words::u64_at(&self.control, format::CONTROL_SYNC_FAILED)
    }

    pub(crate) fn stored_boot_id(&self) -> Result<[u8; format::BOOT_ID_LEN]> {
        let mut id = [0u8; format::BOOT_ID_LEN];
        self.control.read_at(format::CONTROL_BOOT_ID, &mut id)?;
        Ok(id)
    }

    pub(crate) fn store_boot_id(&self, id: &[u8; format::BOOT_ID_LEN]) -> Result<()> {
        self.control.write_at(format::CONTROL_BOOT_ID, id)?;
        self.control
            .flush_range(format::CONTROL_BOOT_ID, format::BOOT_ID_LEN)?;
        Ok(())
    }
}

/// How a handle maps the log's files.
pub(crate) fn map_mode(read_only: bool) -> Mode {
    if read_only {
        Mode::ReadOnly
    } else {
        Mode::ReadWrite
    }
}

/// The boot id of the running system.
pub(crate) fn boot_id() -> [u8; format::BOOT_ID_LEN] {
    let mut id = [0u8; format::BOOT_ID_LEN];
    if let Ok(s) = std::fs::read_to_string("/proc/sys/kernel/random/boot_id") {
        let s = s.trim().as_bytes();
        let n = s.len().min(format::BOOT_ID_LEN);
        id[..n].copy_from_slice(&s[..n]);
    }
    id
}
