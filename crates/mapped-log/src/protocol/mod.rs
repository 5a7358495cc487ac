//! The cross-process protocol on atomic words, apart from files, mappings
//! and system calls, so that loom can check it (`--cfg loom`; see the tests
//! at the end and `.ci/run`).
//!
//! Everything here acts on the atomics of one segment ([`Words`]), the
//! appender slot words ([`Slots`]) and the control file's wake words. The
//! rest of the crate finds those atomics in mappings and calls these
//! functions; under loom, the tests give them loom atomics instead.
//!
//! Synchronisation points (each says what it pairs with):
//!
//! - **S1** appender: slot := `Reserving` (`Relaxed`), then **S2** the
//!   tail's `fetch_add` (`AcqRel`). Pairs with **R1**/**R2** in [`pad_gap`]:
//!   the repairer loads the tail (acquire), then the slots. If R1 reads S2's
//!   value, or any later one (later `fetch_add`s are read-modify-writes, so
//!   they continue S2's release sequence), S1 happens before R2: an
//!   appender whose reservation lies below the tail the repairer read is
//!   seen reserving, or holding, or idle again after its commit.
//! - **S3** slot size := the record's size, then slot := `Holding`
//!   (`Relaxed`: a repairer acts on them only once it has proved the owner
//!   dead, through a lock the kernel released at the death, which orders
//!   everything the owner wrote before its probe; a live owner's state only
//!   gives it reasons to wait). **S4** the header word must be zero (a
//!   plain load: no honest process writes past the tail). The header stays
//!   zero while the payload is written: the slot, not the header, says who
//!   owns the record, so the line a spinning reader polls is written once,
//!   at the commit.
//! - **C1** header := `Committed` (`Release`). Pairs with the reader's
//!   `Acquire` load in [`look`]: whoever sees `Committed` sees the payload,
//!   its length and its checksum.
//! - **C2** slot := `Idle` (`Release`): a repairer whose acquire load (R2)
//!   reads it also sees C1, so its compare-and-swap of the header from zero
//!   fails. Then a `SeqCst` fence and the load of `waiters` (**W1**). The
//!   fence pairs with the sleeper's increment of `waiters`, `SeqCst` fence
//!   and re-check (**W2**, [`begin_sleep`]): either the appender sees the
//!   sleeper and wakes it, or the sleeper sees the commit (C1, before the
//!   fence) and does not sleep (Dekker's pattern with fences, C++
//!   `[atomics.fences]`; see Drepper, "Futexes Are Tricky", for the futex
//!   side).
//! - So an append costs two locked instructions on x86-64 (S2 and the
//!   fence); the slot and header stores are plain stores.
//! - Repairs only ever compare-and-swap from the exact state a dead appender
//!   left, so a repair that loses a race changes nothing.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicU32, AtomicU64, Ordering, fence};
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicU32, AtomicU64, Ordering, fence};

use crate::format::SlotState;
use crate::format::{self, State, Word};

/// The atomics of one segment.
pub(crate) trait Words {
    /// The segment's size in bytes.
    fn cap(&self) -> u64;
    /// The reservation counter.
    fn tail(&self) -> &AtomicU64;
    /// The header word at `offset` (8-aligned, at least 8 bytes before
    /// `cap`).
    fn word(&self, offset: u64) -> &AtomicU64;
}

/// The appender slots, and the proof of death of their owners.
pub(crate) trait Slots {
    /// What proving fails with.
    type Error;
    /// How many slots there are.
    fn count(&self) -> u32;
    /// The slot word of slot `j`.
    fn word(&self, j: u32) -> &AtomicU64;
    /// The size word of slot `j`: the size of the record it holds, valid
    /// while its slot word says `Holding`.
    fn size(&self, j: u32) -> &AtomicU64;
    /// Whether slot `j`'s owner is dead; if so the caller now holds its
    /// lock and must [`release`](Self::release) it.
    fn probe_dead(&self, j: u32) -> Result<bool, Self::Error>;
    /// Releases a lock taken by `probe_dead`.
    fn release(&self, j: u32);
}

/// What [`reserve`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reserve {
    /// The record at this offset is ours; its header is zero and our slot
    /// holds it.
    At(u64),
    /// The segment is full (we padded its end if ours crossed it): roll.
    Full,
    /// The tail counter held something that is not a record boundary.
    BadTail(u64),
    /// The reserved space was not zero.
    NotZero(u64),
}

/// Steps 1 to 4 of an append (see `append.rs`): reserves `size` bytes in
/// the segment `index` for the appender of `slot` (its slot word and size
/// word). The slot is left `Holding` on success and `Idle` otherwise.
pub(crate) fn reserve<W: Words>(
    seg: &W,
    slot_word: &AtomicU64,
    slot_size: &AtomicU64,
    index: u64,
    size: u64,
) -> Reserve {
    let cap = seg.cap();
    // S1.
    slot_word.store(
        SlotState::Reserving { segment: index }.encode(),
        Ordering::Relaxed,
    );
    // S2.
    let pos = seg.tail().fetch_add(size, Ordering::AcqRel);
    let idle = || slot_word.store(SlotState::Idle.encode(), Ordering::Release);
    if pos < format::SEGMENT_HEADER_LEN || pos % format::RECORD_ALIGN != 0 {
        idle();
        return Reserve::BadTail(pos);
    }
    let holding = SlotState::Holding {
        id: index * cap + pos,
    }
    .encode();
    // `pos` may be anything a hostile process stored: no overflow.
    if pos < cap && size <= cap - pos {
        // S3: the size before the state that makes it count.
        slot_size.store(size, Ordering::Relaxed);
        slot_word.store(holding, Ordering::Relaxed);
        // S4.
        if seg.word(pos).load(Ordering::Relaxed) != 0 {
            idle();
            return Reserve::NotZero(pos);
        }
        return Reserve::At(pos);
    }
    if pos < cap {
        // Ours is the reservation that crosses the end: pad to it.
        slot_size.store(cap - pos, Ordering::Relaxed);
        slot_word.store(holding, Ordering::Relaxed);
        let pad = Word {
            size: (cap - pos) as u32,
            state: State::Padding,
        };
        let _ =
            seg.word(pos)
                .compare_exchange(0, pad.encode(), Ordering::AcqRel, Ordering::Relaxed);
    }
    idle();
    Reserve::Full
}

/// Step 6: publishes the record at `offset` (payload, length and checksum
/// already written).
pub(crate) fn commit<W: Words>(seg: &W, offset: u64, size: u32) {
    let committed = Word {
        size,
        state: State::Committed,
    };
    // C1.
    seg.word(offset)
        .store(committed.encode(), Ordering::Release);
}

/// Abandons our reserved record: it becomes padding. (Compare-and-swap
/// from zero, the state we left it in: nobody else writes it while our
/// slot holds it, but a hostile process's bytes stay untouched.)
pub(crate) fn abandon<W: Words>(seg: &W, offset: u64, size: u32) {
    let pad = Word {
        size,
        state: State::Padding,
    };
    let _ = seg
        .word(offset)
        .compare_exchange(0, pad.encode(), Ordering::AcqRel, Ordering::Relaxed);
}

/// Step 7: the slot goes idle; returns whether a reader sleeps and must be
/// woken (then call [`announce_wake`] and wake the futex).
pub(crate) fn release_slot(slot_word: &AtomicU64, waiters: &AtomicU32) -> bool {
    // C2.
    slot_word.store(SlotState::Idle.encode(), Ordering::Release);
    // W1.
    fence(Ordering::SeqCst);
    waiters.load(Ordering::Relaxed) > 0
}

/// Bumps the futex word before a wake, so that a sleeper that read the old
/// value does not go to sleep.
pub(crate) fn announce_wake(notify: &AtomicU32) {
    notify.fetch_add(1, Ordering::SeqCst);
}

/// W2: a reader about to sleep registers, and returns the futex value to
/// sleep on. It must re-check its condition after this and sleep only if
/// it still holds; then call [`end_sleep`].
pub(crate) fn begin_sleep(waiters: &AtomicU32, notify: &AtomicU32) -> u32 {
    waiters.fetch_add(1, Ordering::SeqCst);
    let seq = notify.load(Ordering::SeqCst);
    fence(Ordering::SeqCst);
    seq
}

/// The reader is awake again.
pub(crate) fn end_sleep(waiters: &AtomicU32) {
    waiters.fetch_sub(1, Ordering::SeqCst);
}

/// What the header word at an offset says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Look {
    /// All zero: past the tail, or reserved and not yet announced (ask
    /// [`reserved`]; a reader waiting at the tail leaves the tail's cache
    /// line to the appenders until it has to know).
    Empty,
    /// Being written by `slot`; `word` is the raw value, for repair.
    Writing { word: u64, slot: u32, size: u64 },
    /// Padding to skip.
    Padding { size: u64 },
    /// A committed record: payload, length and checksum are visible.
    Committed { size: u64 },
    /// Not a valid header word.
    Invalid { word: u64 },
    /// A record that runs past the segment's end.
    Overrun { size: u64 },
}

/// Reads the header word at `offset` (`Acquire`: pairs with C1).
pub(crate) fn look<W: Words>(seg: &W, offset: u64) -> Look {
    let cap = seg.cap();
    let w = seg.word(offset).load(Ordering::Acquire);
    let Some(word) = Word::decode(w) else {
        return Look::Invalid { word: w };
    };
    let size = word.size as u64;
    if word.state != State::Empty && offset + size > cap {
        return Look::Overrun { size };
    }
    match word.state {
        State::Empty => Look::Empty,
        State::Writing { slot } => Look::Writing {
            word: w,
            slot,
            size,
        },
        State::Padding => Look::Padding { size },
        State::Committed => Look::Committed { size },
    }
}

/// Whether `offset` lies below the reservation tail: an all-zero word
/// there is an appender's unannounced record, not the end of the log.
pub(crate) fn reserved<W: Words>(seg: &W, offset: u64) -> bool {
    offset < seg.tail().load(Ordering::Acquire).min(seg.cap())
}

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

/// Fills a hole that a dead appender left: the all-zero word at `offset`
/// of segment `index`, below the tail.
///
/// A dead appender that held `offset` had its size in its slot: the
/// padding covers exactly its record, whose payload may already be
/// written, whatever live appenders do meanwhile (their reservations are
/// disjoint from it). Otherwise (the hole of an appender that died before
/// it said where it reserved, whose interior is zero) the padding ends at
/// the first non-zero word, at the first position any appender holds, or
/// at the tail, and it waits ([`Gap::Blocked`]) while a live appender
/// might own the hole: one reserving in this segment (its position is not
/// known yet). A live appender holding `offset` itself always makes it
/// wait. `held` is a slot whose lock the caller holds, and whose owner
/// is therefore dead (`repair_slot`).
pub(crate) fn pad_gap<W: Words, S: Slots>(
    seg: &W,
    index: u64,
    offset: u64,
    slots: &S,
    held: Option<u32>,
) -> Result<Gap, S::Error> {
    let end = match gap_end(seg, index, offset, slots, held)? {
        GapEnd::NotReserved => return Ok(Gap::NotReserved),
        GapEnd::Blocked => return Ok(Gap::Blocked),
        GapEnd::At(end) => end,
    };
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

/// What the holder of a dead slot `held` does with the record the slot
/// holds at `offset` of segment `index` (its lock taken: the slot's state
/// is final). A `Writing` header by that slot (logs of earlier builds)
/// becomes padding of its size; an all-zero header is padded exactly by
/// [`pad_gap`]; anything else was finished already. Returns whether the
/// slot may now be released: `false` while the record is still unpadded
/// and a live appender blocks the repair (only possible when the slot's
/// size word is no record's, which no honest appender leaves). Then the
/// caller must leave the slot as it is, so that the record's extent is not
/// forgotten: a reader stuck there repairs it later, with the same
/// knowledge.
pub(crate) fn repair_held<W: Words, S: Slots>(
    seg: &W,
    index: u64,
    offset: u64,
    slots: &S,
    held: u32,
) -> Result<bool, S::Error> {
    let w = seg.word(offset).load(Ordering::SeqCst);
    match Word::decode(w) {
        Some(Word {
            size,
            state: State::Writing { slot },
        }) if slot == held => {
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
            Ok(true)
        }
        Some(Word {
            state: State::Empty,
            ..
        }) => Ok(pad_gap(seg, index, offset, slots, Some(held))? != Gap::Blocked),
        _ => Ok(true),
    }
}

/// Where the padding of [`pad_gap`] would end, if it may pad at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GapEnd {
    /// At or past the reservation tail: nothing to fill.
    NotReserved,
    /// A live appender may still write there.
    Blocked,
    /// The hole is dead; padding would end here.
    At(u64),
}

/// The decision of [`pad_gap`], without its store: whether the zero word
/// at `offset` is a dead appender's hole, and where it ends. A reader that
/// may not write the log asks this to tell a dead hole from a slow
/// appender; its `slots` then only observe locks, and a verdict of death
/// can be overtaken by a repairer taking the dead slot (look again later).
pub(crate) fn gap_end<W: Words, S: Slots>(
    seg: &W,
    index: u64,
    offset: u64,
    slots: &S,
    held: Option<u32>,
) -> Result<GapEnd, S::Error> {
    let cap = seg.cap();
    // R1.
    let tail = seg.tail().load(Ordering::SeqCst);
    let mut bound = tail.min(cap);
    if offset >= bound {
        return Ok(GapEnd::NotReserved);
    }
    let here = SlotState::Holding {
        id: index * cap + offset,
    };
    // Where a slot's record starts, if in this segment at or past `offset`;
    // `Some(None)` for reserving here, position unknown.
    let position = |st: SlotState| match st {
        SlotState::Reserving { segment } if segment == index => Some(None),
        SlotState::Holding { id } if id / cap == index && id % cap >= offset => {
            Some(Some(id % cap))
        }
        _ => None,
    };
    // The size a dead owner of `offset` recorded.
    let mut dead_size: Option<u64> = None;
    // Whether a live appender reserves in this segment, its position not
    // known yet: it blocks a scan, not an exact repair (below).
    let mut live_reserving = false;
    for j in 0..slots.count() {
        if Some(j) == held {
            // Ours to repair: its state is final.
            let st = SlotState::decode(slots.word(j).load(Ordering::SeqCst));
            if st == here {
                dead_size = Some(slots.size(j).load(Ordering::Relaxed));
            } else if let Some(Some(h)) = position(st) {
                bound = bound.min(h);
            }
            continue;
        }
        // R2.
        let Some(at) = position(SlotState::decode(slots.word(j).load(Ordering::SeqCst))) else {
            continue;
        };
        if slots.probe_dead(j)? {
            // Its state is final now that we hold its lock (it may have
            // moved on between our load and its death): look again.
            let st = SlotState::decode(slots.word(j).load(Ordering::SeqCst));
            let size = slots.size(j).load(Ordering::Relaxed);
            slots.release(j);
            match position(st) {
                // Died before saying where: its hole is zero, part of ours.
                Some(None) | None => {}
                Some(Some(h)) if h == offset => dead_size = Some(size),
                // Its payload may be written past a zero header: stop there.
                Some(Some(h)) => bound = bound.min(h),
            }
            continue;
        }
        match at {
            None => live_reserving = true,
            Some(h) if h == offset => return Ok(GapEnd::Blocked),
            Some(h) => bound = bound.min(h),
        }
    }
    let end = match dead_size {
        // The dead owner's record, exactly. Reservations are disjoint
        // ranges handed out by one counter, so no live appender, reserving
        // or holding, owns a byte of it: a live reserver does not block
        // this. (It must not: the one who holds the dead slot would
        // otherwise have to give it up knowing the record's extent, and
        // the scan that is left stops at the first written payload word.)
        // Untrusted: a size that is no record's (an 8-byte end-of-segment
        // padding is one), or that overlaps another holding or the tail,
        // falls back to the scan.
        Some(size)
            if size >= format::RECORD_ALIGN
                && size % format::RECORD_ALIGN == 0
                && size <= bound - offset =>
        {
            offset + size
        }
        _ if live_reserving => return Ok(GapEnd::Blocked),
        _ => {
            let mut end = offset + format::RECORD_ALIGN;
            while end < bound && seg.word(end).load(Ordering::Acquire) == 0 {
                end += format::RECORD_ALIGN;
            }
            end
        }
    };
    Ok(GapEnd::At(end))
}

#[cfg(test)]
pub(crate) mod model;

#[cfg(all(test, loom))]
mod loom_tests;

/// `pad_gap` against arbitrary slot states and size words (what a hostile
/// or dead process may leave), with std atomics: whatever they hold, it
/// never pads over a live appender's record, never past the tail, and
/// waits whenever a live appender may own the hole.
#[cfg(all(test, not(loom)))]
mod pad_gap_props {
    use super::model::{Seg, Table};
    use super::*;
    use proptest::prelude::*;

    const WORDS: u64 = 40;
    const CAP: u64 = format::SEGMENT_HEADER_LEN + 8 * WORDS;

    /// A slot: its state (as the protocol writes them, or garbage), its
    /// size word, and whether its owner is dead.
    fn slot() -> impl Strategy<Value = (SlotState, u64, bool)> {
        let pos = (0..WORDS).prop_map(|w| format::SEGMENT_HEADER_LEN + 8 * w);
        let state = prop_oneof![
            Just(SlotState::Idle),
            (0u64..2).prop_map(|segment| SlotState::Reserving { segment }),
            (0u64..2, pos).prop_map(|(i, p)| SlotState::Holding { id: i * CAP + p }),
            Just(SlotState::Invalid),
        ];
        let size = prop_oneof![
            (1u64..=WORDS).prop_map(|w| 8 * w),
            0u64..2 * CAP,
            any::<u64>()
        ];
        (state, size, any::<bool>())
    }

    proptest! {
        /// A new owner taking over a dead slot that holds a record pads
        /// exactly that record, whatever the live appenders are doing: a
        /// live one reserving in the same segment must not make it give up
        /// (it would then release the slot, and the record's size with
        /// it).
        #[test]
        fn a_taken_over_record_is_padded_exactly_beside_live_appenders(
            start in 0..WORDS - 1,
            words in 1u64..8,
            others in prop::collection::vec((0u8..3, 0..WORDS), 0..4),
            written in prop::collection::vec(1u64.., 0..4),
        ) {
            let offset = format::SEGMENT_HEADER_LEN + 8 * start;
            let size = (8 * words).min(CAP - offset);
            let seg = Seg::new(CAP);
            let table = Table::new(1 + others.len());
            // Slot 0: dead, holding the record, part of its payload written
            // (non-zero words where a scan for zero would stop).
            table.words[0].store(SlotState::Holding { id: offset }.encode(), Ordering::Relaxed);
            table.sizes[0].store(size, Ordering::Relaxed);
            table.die(0);
            for (k, v) in written.iter().enumerate() {
                let at = offset + 16 + 8 * k as u64;
                if at < offset + size {
                    seg.word(at).store(*v, Ordering::Relaxed);
                }
            }
            // The tail is past the record and whatever the others hold.
            let mut tail = offset + size;
            for (j, (kind, w)) in others.iter().enumerate() {
                let p = format::SEGMENT_HEADER_LEN + 8 * w;
                let st = match kind {
                    0 => SlotState::Reserving { segment: 0 },
                    // Live holdings lie outside the dead record.
                    1 if p < offset || p >= offset + size => {
                        tail = tail.max(p + 8).min(CAP);
                        SlotState::Holding { id: p }
                    }
                    _ => SlotState::Idle,
                };
                table.words[j + 1].store(st.encode(), Ordering::Relaxed);
            }
            seg.tail.store(tail, Ordering::Relaxed);
            prop_assert!(repair_held(&seg, 0, offset, &table, 0).unwrap());
            prop_assert_eq!(
                look(&seg, offset),
                Look::Padding { size },
                "the dead record is not padded exactly"
            );
        }

        #[test]
        fn never_pads_over_a_live_record_or_past_the_tail(
            slots in prop::collection::vec(slot(), 1..4),
            tail_words in 1..=WORDS,
            hole_word in 0..WORDS,
            at_a_holding in any::<prop::sample::Index>(),
            garbage in prop::collection::vec((0..WORDS, 1u64..), 0..6),
            take_over in 0u8..4,
        ) {
            let tail = format::SEGMENT_HEADER_LEN + 8 * tail_words;
            // Half the time, the hole is where some slot says it holds a
            // record: the exact-size repair's case.
            let held: Vec<u64> = slots
                .iter()
                .filter_map(|s| match s.0 {
                    SlotState::Holding { id } if id / CAP == 0 => Some(id % CAP),
                    _ => None,
                })
                .collect();
            let offset = if !held.is_empty() && hole_word % 2 == 0 {
                held[at_a_holding.index(held.len())]
            } else {
                format::SEGMENT_HEADER_LEN + 8 * hole_word
            };
            let seg = Seg::new(CAP);
            seg.tail.store(tail, Ordering::Relaxed);
            for &(w, v) in &garbage {
                seg.words[(format::SEGMENT_HEADER_LEN / 8 + w) as usize].store(v, Ordering::Relaxed);
            }
            // The caller found the hole's word zero.
            seg.word(offset).store(0, Ordering::Relaxed);
            let table = Table::new(slots.len());
            for (j, (state, size, dead)) in slots.iter().enumerate() {
                table.words[j].store(state.encode(), Ordering::Relaxed);
                table.sizes[j].store(*size, Ordering::Relaxed);
                if *dead {
                    table.die(j as u32);
                }
            }
            // Half the time the caller holds a dead slot's lock, as
            // `repair_slot` does (a new owner taking the slot over).
            let held = (take_over % 2 == 0)
                .then(|| slots.iter().position(|s| s.2))
                .flatten()
                .map(|j| j as u32);
            let gap = pad_gap(&seg, 0, offset, &table, held).unwrap();
            let live = |st: &SlotState| slots.iter().any(|s| !s.2 && s.0 == *st);
            if offset >= tail {
                prop_assert_eq!(gap, Gap::NotReserved);
                return Ok(());
            }
            if live(&SlotState::Holding { id: offset }) {
                prop_assert_eq!(gap, Gap::Blocked);
                return Ok(());
            }
            // The sizes dead owners of `offset` recorded: an exact repair
            // may use one of them even while a live appender reserves.
            let dead_sizes: Vec<u64> = slots
                .iter()
                .filter(|s| s.2 && s.0 == SlotState::Holding { id: offset })
                .map(|s| s.1)
                .collect();
            if live(&SlotState::Reserving { segment: 0 }) {
                if gap == Gap::Blocked {
                    return Ok(());
                }
                let w = Word::decode(seg.word(offset).load(Ordering::Relaxed)).unwrap();
                prop_assert!(
                    dead_sizes.contains(&(w.size as u64)),
                    "padded {} bytes beside a live reserver; dead owners recorded {:?}",
                    w.size,
                    dead_sizes
                );
            }
            prop_assert_eq!(gap, Gap::Padded);
            let w = Word::decode(seg.word(offset).load(Ordering::Relaxed)).unwrap();
            prop_assert_eq!(w.state, State::Padding);
            let end = offset + w.size as u64;
            prop_assert!(end <= tail, "padding to {} past the tail {}", end, tail);
            // No holding past the hole is padded over, live or dead (a dead
            // appender's record may hold payload bytes behind a zero word).
            for (st, _, _) in &slots {
                if let SlotState::Holding { id } = st {
                    if *id / CAP == 0 && *id % CAP > offset {
                        prop_assert!(
                            end <= *id % CAP,
                            "padding to {} over a record held at {}",
                            end,
                            id % CAP
                        );
                    }
                }
            }
        }
    }
}
