//! Finishing the work of appenders that died: turning their unfinished
//! records into padding, so that nobody waits on them for ever.
//!
//! Two rules keep a repair from ever racing a live appender:
//!
//! - An appender is dead only if the kernel released its slot lock; the
//!   repairer then holds that lock itself while it repairs, so the slot
//!   cannot be reused meanwhile.
//! - A record is repaired only by compare-and-swap from the exact state the
//!   dead appender left (`Writing` by that slot, or all-zero), so a repair
//!   that loses a race changes nothing.

use std::sync::atomic::Ordering;

use crate::error::Result;
use crate::format::{self, State, Word};
use crate::log::Inner;
use crate::segment::Segment;
use crate::slots::{self, SlotState};

/// What [`pad_gap`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Gap {
    /// The zero word now starts a padding record.
    Padded,
    /// A live appender may still write there: wait.
    Blocked,
    /// The position lies at or past the reservation tail: nothing to fill.
    NotReserved,
    /// The word is no longer zero: look again.
    Filled,
}

/// Is slot `j` dead? If so the probe descriptor now holds its lock, and the
/// caller must release it with [`slots::unlock`].
fn probe_dead(inner: &Inner, j: u32) -> Result<bool> {
    slots::try_lock(&inner.probe, j)
        .map_err(|e| crate::LogError::io(inner.dir.join(crate::log::LOCK_FILE), "lock", e))
}

/// Fills a hole that a dead appender reserved but never announced: the
/// all-zero word at `offset`, below the reservation tail.
///
/// Safe against live appenders because it waits ([`Gap::Blocked`]) while any
/// live appender might own the hole: one that is reserving in this segment
/// (its position is not known yet) or that holds `offset` itself. The
/// padding ends at the first non-zero word, at the first position a live
/// appender holds, or at the tail, whichever comes first. `ignore` is a slot
/// the caller holds and is repairing.
///
/// Ordering: the tail is read before the slots. An appender publishes
/// `Reserving` before its `fetch_add` (both `SeqCst`), so one whose
/// reservation lies below the tail we read is seen here as reserving or
/// holding, or has already written its header.
pub(crate) fn pad_gap(
    inner: &Inner,
    seg: &Segment,
    offset: u64,
    ignore: Option<u32>,
) -> Result<Gap> {
    let cap = seg.size();
    let tail = seg.tail().load(Ordering::SeqCst);
    let mut bound = tail.min(cap);
    if offset >= bound {
        return Ok(Gap::NotReserved);
    }
    for j in 0..format::SLOTS {
        if Some(j) == ignore {
            continue;
        }
        let st = inner.slot_state(j);
        let held = match st {
            SlotState::Reserving { segment } if segment == seg.index => None,
            SlotState::Holding { id } if id / cap == seg.index && id % cap >= offset => {
                Some(id % cap)
            }
            _ => continue,
        };
        if probe_dead(inner, j)? {
            // A dead slot's state is stale; its hole, if any, is part of
            // the gap, and its `Writing` record is repaired when reached.
            let _ = slots::unlock(&inner.probe, j);
            continue;
        }
        match held {
            None => return Ok(Gap::Blocked),
            Some(h) if h == offset => return Ok(Gap::Blocked),
            Some(h) => bound = bound.min(h),
        }
    }
    let mut end = offset + format::RECORD_ALIGN;
    while end < bound && seg.word(end).load(Ordering::Acquire) == 0 {
        end += format::RECORD_ALIGN;
    }
    let pad = Word {
        size: (end - offset) as u32,
        state: State::Padding,
    }
    .encode();
    Ok(
        match seg
            .word(offset)
            .compare_exchange(0, pad, Ordering::SeqCst, Ordering::SeqCst)
        {
            Ok(_) => Gap::Padded,
            Err(_) => Gap::Filled,
        },
    )
}

/// Finishes the work of slot `i`'s dead owner. The caller holds slot `i`'s
/// lock (it is acquiring the slot, or probed it dead).
pub(crate) fn repair_slot(inner: &Inner, i: u32) -> Result<()> {
    let st = inner.slot_state(i);
    if let SlotState::Holding { id } = st {
        let size = inner.header.segment_size;
        let (index, offset) = (id / size, id % size);
        let valid = offset >= format::SEGMENT_HEADER_LEN && offset % format::RECORD_ALIGN == 0;
        if valid {
            // The segment may be gone (retention): then so is the record.
            if let Some(seg) = inner.open_segment(index)? {
                let w = seg.word(offset).load(Ordering::SeqCst);
                match Word::decode(w) {
                    Some(Word {
                        size,
                        state: State::Writing { slot },
                    }) if slot == i => {
                        let pad = Word {
                            size,
                            state: State::Padding,
                        };
                        let _ = seg.word(offset).compare_exchange(
                            w,
                            pad.encode(),
                            Ordering::SeqCst,
                            Ordering::SeqCst,
                        );
                    }
                    Some(Word {
                        state: State::Empty,
                        ..
                    }) => {
                        // Died between reserving and announcing. If a live
                        // appender blocks the gap now, a reader stuck there
                        // repairs it later.
                        pad_gap(inner, &seg, offset, Some(i))?;
                    }
                    _ => {}
                }
            }
        }
    }
    inner
        .slot(i)
        .store(SlotState::Idle.encode(), Ordering::SeqCst);
    std::sync::atomic::fence(Ordering::SeqCst);
    inner.wake_readers();
    Ok(())
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
    if !probe_dead(inner, slot)? {
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
    let _ = slots::unlock(&inner.probe, slot);
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
