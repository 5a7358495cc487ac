//! Finishing the work of appenders that died: turning their unfinished
//! records into padding, so that nobody waits on them for ever.
//!
//! Two rules keep a repair from ever racing a live appender:
//!
//! - An appender is dead only if the kernel released its slot lock; the
//!   repairer then holds that lock itself while it repairs, so the slot
//!   cannot be reused meanwhile.
//! - A record is repaired only by compare-and-swap from the exact state the
//!   dead appender left (all-zero, or `Writing` by that slot, which only
//!   format version 1 wrote), so a repair that loses a race changes nothing.

use crate::error::{LogError, Result};
use crate::format;
use crate::format::SlotState;
pub(crate) use crate::protocol::Gap;
use crate::protocol::{self, AtomicU64, Ordering, Slots};
use crate::storage::control::Inner;
use crate::storage::locks::LockFile;
use crate::storage::segment::Segment;

/// The appender slots as the protocol sees them, with proofs of death
/// taken through a lock-file descriptor of this repair's own.
///
/// Its own: OFD locks taken through one open file description do not
/// conflict with each other, so two threads probing through a shared
/// descriptor could both "hold" a dead slot, and one's unlock would
/// release the other's.
pub(crate) struct Prober<'a> {
    inner: &'a Inner,
    how: Probe,
}

/// How a [`Prober`] proves death.
enum Probe {
    /// By taking the dead owner's lock (held until `release`).
    Take(LockFile),
    /// For a reader that may not write the log: by asking the kernel
    /// whether anyone holds the lock (`F_OFD_GETLK`), taking nothing. With
    /// no lock file, no appender ever held a slot. Its verdicts are
    /// observations: a repairer may take a dead slot (and repair its
    /// record) right after.
    Observe(Option<LockFile>),
}

impl<'a> Prober<'a> {
    pub(crate) fn new(inner: &'a Inner) -> Result<Prober<'a>> {
        Ok(Prober {
            inner,
            how: Probe::Take(inner.lock_file()?),
        })
    }

    /// A prober that only observes (see [`Probe::Observe`]).
    pub(crate) fn observer(inner: &'a Inner) -> Result<Prober<'a>> {
        Ok(Prober {
            inner,
            how: Probe::Observe(inner.lock_file_read_only()?),
        })
    }

    fn lock_error(&self, e: std::io::Error) -> LogError {
        LogError::io(
            self.inner.dir.join(crate::storage::locks::LOCK_FILE),
            "lock",
            e,
        )
    }
}

impl Slots for Prober<'_> {
    type Error = LogError;

    fn count(&self) -> u32 {
        format::SLOTS
    }

    fn word(&self, j: u32) -> &AtomicU64 {
        self.inner.slot(j)
    }

    fn size(&self, j: u32) -> &AtomicU64 {
        self.inner.slot_size(j)
    }

    fn probe_dead(&self, j: u32) -> Result<bool> {
        match &self.how {
            Probe::Take(f) => f.try_lock(j),
            Probe::Observe(None) => Ok(true),
            Probe::Observe(Some(f)) => f.held(j).map(|held| !held),
        }
        .map_err(|e| self.lock_error(e))
    }

    fn release(&self, j: u32) {
        if let Probe::Take(f) = &self.how {
            let _ = f.unlock(j);
        }
    }
}

/// For a reader that may not write the log, stuck at `offset`: whether the
/// record there is a dead appender's, which it cannot repair itself. A
/// `Writing` record (`writing`: its slot and header word, which only
/// format version 1 wrote) is dead when its slot's lock is free and the word is
/// unchanged; a zero word below the tail, when [`protocol::gap_end`] finds
/// no live appender that may own it and the word is still zero (where
/// `pad_gap`'s compare-and-swap from 0 would fail, the record was
/// finished meanwhile). A `Writing` record that names a live slot holding
/// something else is forged, as in [`check_writer`]. Stores nothing.
pub(crate) fn unrepaired(
    inner: &Inner,
    seg: &Segment,
    offset: u64,
    writing: Option<(u32, u64)>,
) -> Result<bool> {
    // At the tail, the common case of a reader with nothing to read: no
    // record, and no need to open the lock file.
    if writing.is_none() && !protocol::reserved(seg, offset) {
        return Ok(false);
    }
    let observer = Prober::observer(inner)?;
    let unchanged = |w: u64| seg.word(offset).load(Ordering::SeqCst) == w;
    match writing {
        Some((slot, w)) => {
            if observer.probe_dead(slot)? {
                return Ok(unchanged(w));
            }
            // Alive: the slot first, then the word (see `check_writer`).
            let st = inner.slot_state(slot);
            if unchanged(w)
                && st
                    != (SlotState::Holding {
                        id: seg.id_of(offset),
                    })
            {
                return Err(seg.corrupt(
                    offset,
                    format!("record claims to be written by appender slot {slot}, which is busy elsewhere ({st:?})"),
                ));
            }
            Ok(false)
        }
        None => Ok(matches!(
            protocol::gap_end(seg, seg.index, offset, &observer, None)?,
            protocol::GapEnd::At(_)
        ) && unchanged(0)),
    }
}

/// [`protocol::pad_gap`] over a real segment; see there.
pub(crate) fn pad_gap(
    inner: &Inner,
    seg: &Segment,
    offset: u64,
    ignore: Option<u32>,
) -> Result<Gap> {
    let prober = Prober::new(inner)?;
    let gap = protocol::pad_gap(seg, seg.index, offset, &prober, ignore)?;
    if gap == Gap::Padded {
        // Other readers may sleep at this record: let them move on now.
        inner.wake_readers();
    }
    Ok(gap)
}

/// Finishes the work of slot `i`'s dead owner. The caller holds slot `i`'s
/// lock (it is acquiring the slot, or probed it dead). Returns whether the
/// slot is idle now; `false` when the record it holds could not be padded
/// yet ([`protocol::repair_held`]): the slot then keeps its state, so that
/// the record's extent is not forgotten, and the caller must not use it.
pub(crate) fn repair_slot(inner: &Inner, i: u32) -> Result<bool> {
    let st = inner.slot_state(i);
    if let SlotState::Holding { id } = st {
        let size = inner.header.segment_size;
        let (index, offset) = (id / size, id % size);
        let valid = offset >= format::SEGMENT_HEADER_LEN && offset % format::RECORD_ALIGN == 0;
        if valid {
            // The segment may be gone (retention): then so is the record.
            if let Some(seg) = inner.open_segment(index)? {
                let prober = Prober::new(inner)?;
                if !protocol::repair_held(&seg, index, offset, &prober, i)? {
                    return Ok(false);
                }
                // Readers may sleep at this record: `release_slot` below
                // wakes them.
            }
        }
    }
    if protocol::release_slot(inner.slot(i), inner.waiters()) {
        inner.wake_now();
    }
    Ok(true)
}

/// A reader found the record at `offset` in state `Writing { slot }` for a
/// while: repair it if its appender is dead. Returns `Ok(true)` if the
/// record changed (repaired here or elsewhere), `Ok(false)` if a live
/// appender is still writing it.
pub(crate) fn check_writer(
    inner: &Inner,
    seg: &Segment,
    offset: u64,
    w: u64,
    slot: u32,
) -> Result<bool> {
    let prober = Prober::new(inner)?;
    if !prober.probe_dead(slot)? {
        // Alive. An honest owner holds this record while it is `Writing`;
        // if the slot says otherwise and the word is unchanged, the record
        // was forged.
        let st = inner.slot_state(slot);
        if seg.word(offset).load(Ordering::SeqCst) != w {
            return Ok(true);
        }
        if st
            != (SlotState::Holding {
                id: seg.id_of(offset),
            })
        {
            return Err(seg.corrupt(
                offset,
                format!("record claims to be written by appender slot {slot}, which is busy elsewhere ({st:?})"),
            ));
        }
        return Ok(false);
    }
    let result = repair_slot(inner, slot);
    prober.release(slot);
    result?;
    if seg.word(offset).load(Ordering::SeqCst) == w {
        // The dead slot did not hold this record: a forged header.
        return Err(seg.corrupt(
            offset,
            format!("record claims to be written by appender slot {slot}, whose owner is dead and held no such record"),
        ));
    }
    Ok(true)
}
