//! Loom models of the protocol: reserve/commit/pad, repair against a live
//! appender, and sleep/wake. Run with
//! `RUSTFLAGS="--cfg loom" cargo test -p mapped-log --lib --release`.
//!
//! The segment and the slots are the vectors of loom atomics of `model.rs`;
//! payload words are loom `UnsafeCell`s, so a payload read that is not
//! ordered after its write by the commit's release/acquire pair is
//! reported as a data race.

use loom::sync::Arc;
use loom::thread;

use super::model::{Seg, Table};
use super::*;

/// Two 8-byte messages fit; a third reservation would not.
const CAP: u64 = format::SEGMENT_HEADER_LEN + 56;
const SIZE: u64 = 24; // record_size(8)

/// One whole append of `value` by `slot`.
fn append(seg: &Seg, slots: &Table, waiters: &AtomicU32, slot: u32, value: u64) -> u64 {
    let Reserve::At(pos) = reserve(seg, slots.word(slot), slots.size(slot), 0, SIZE) else {
        panic!("two records fit");
    };
    seg.write_payload(pos, value);
    commit(seg, pos, SIZE as u32);
    release_slot(slots.word(slot), waiters);
    pos
}

/// An appender of `slot` that dies right after its `fetch_add` (step 2),
/// before saying where it reserved: a zero hole.
fn die_reserving(seg: &Seg, slots: &Table, slot: u32) {
    slots.words[slot as usize].store(
        SlotState::Reserving { segment: 0 }.encode(),
        Ordering::Relaxed,
    );
    seg.tail.fetch_add(SIZE, Ordering::AcqRel);
    slots.die(slot);
}

#[test]
fn two_appenders_one_reader_see_every_message_once_intact() {
    loom::model(|| {
        let seg = Arc::new(Seg::new(CAP));
        let slots = Arc::new(Table::new(2));
        let waiters = Arc::new(AtomicU32::new(0));
        let writers: Vec<_> = (0..2u32)
            .map(|i| {
                let (seg, slots, waiters) = (seg.clone(), slots.clone(), waiters.clone());
                thread::spawn(move || append(&seg, &slots, &waiters, i, 100 + i as u64))
            })
            .collect();
        // The reader follows records from the start until it has two.
        let mut seen = Vec::new();
        let mut off = format::SEGMENT_HEADER_LEN;
        while seen.len() < 2 {
            match look(&*seg, off) {
                Look::Committed { size } => {
                    seen.push(seg.read_payload(off));
                    off += size;
                }
                Look::Padding { size } => off += size,
                Look::Empty { .. } | Look::Writing { .. } => thread::yield_now(),
                other => panic!("unexpected {other:?}"),
            }
        }
        let mut positions: Vec<u64> = writers.into_iter().map(|t| t.join().unwrap()).collect();
        positions.sort_unstable();
        assert_eq!(
            positions,
            vec![
                format::SEGMENT_HEADER_LEN,
                format::SEGMENT_HEADER_LEN + SIZE
            ]
        );
        seen.sort_unstable();
        assert_eq!(seen, vec![100, 101]);
        // Both slots end idle.
        assert!(slots.words.iter().all(|w| w.load(Ordering::SeqCst) == 0));
    });
}

#[test]
fn a_full_segment_is_padded_by_the_crossing_reservation() {
    loom::model(|| {
        let seg = Arc::new(Seg::new(CAP));
        let slots = Arc::new(Table::new(2));
        // Fill the first record so the next two race for the remaining 32
        // bytes: one fits (24), the other crosses the end.
        seg.tail
            .store(format::SEGMENT_HEADER_LEN + SIZE, Ordering::SeqCst);
        seg.words[(format::SEGMENT_HEADER_LEN / 8) as usize].store(
            Word {
                size: SIZE as u32,
                state: State::Padding,
            }
            .encode(),
            Ordering::SeqCst,
        );
        let ts: Vec<_> = (0..2u32)
            .map(|i| {
                let (seg, slots) = (seg.clone(), slots.clone());
                thread::spawn(move || reserve(&*seg, slots.word(i), slots.size(i), 0, SIZE))
            })
            .collect();
        let results: Vec<Reserve> = ts.into_iter().map(|t| t.join().unwrap()).collect();
        let at: Vec<_> = results
            .iter()
            .filter(|r| matches!(r, Reserve::At(_)))
            .collect();
        let full = results.iter().filter(|r| **r == Reserve::Full).count();
        assert_eq!((at.len(), full), (1, 1), "{results:?}");
        // Whichever came second padded the last 8 bytes to the end.
        let last = format::SEGMENT_HEADER_LEN + 2 * SIZE;
        assert_eq!(look(&*seg, last), Look::Padding { size: CAP - last });
    });
}

#[test]
fn pad_gap_never_pads_a_live_appenders_record() {
    loom::model(|| {
        let seg = Arc::new(Seg::new(CAP));
        let slots = Arc::new(Table::new(1));
        let waiters = Arc::new(AtomicU32::new(0));
        let writer = {
            let (seg, slots, waiters) = (seg.clone(), slots.clone(), waiters.clone());
            thread::spawn(move || append(&seg, &slots, &waiters, 0, 7))
        };
        // A stuck reader tries to repair the first record while the live
        // appender works: it must never win.
        let gap = pad_gap(&*seg, 0, format::SEGMENT_HEADER_LEN, &*slots, None).unwrap();
        let pos = writer.join().unwrap();
        assert_ne!(gap, Gap::Padded, "padded a live appender's record");
        assert_eq!(look(&*seg, pos), Look::Committed { size: SIZE });
        assert_eq!(seg.read_payload(pos), 7);
    });
}

#[test]
fn a_dead_appenders_hole_is_padded_and_readers_move_on() {
    loom::model(|| {
        let seg = Arc::new(Seg::new(CAP));
        let slots = Arc::new(Table::new(2));
        let waiters = Arc::new(AtomicU32::new(0));
        // Appender 0 dies right after its fetch_add (step 2): a zero hole.
        let dying = {
            let (seg, slots) = (seg.clone(), slots.clone());
            thread::spawn(move || die_reserving(&seg, &slots, 0))
        };
        // Appender 1 is alive and appends concurrently.
        let live = {
            let (seg, slots, waiters) = (seg.clone(), slots.clone(), waiters.clone());
            thread::spawn(move || append(&seg, &slots, &waiters, 1, 9))
        };
        dying.join().unwrap();
        let live_pos = live.join().unwrap();
        // Now a reader at the hole repairs it, whatever the order was.
        let hole = if live_pos == format::SEGMENT_HEADER_LEN {
            format::SEGMENT_HEADER_LEN + SIZE
        } else {
            format::SEGMENT_HEADER_LEN
        };
        assert_eq!(look(&*seg, hole), Look::Empty);
        assert!(reserved(&*seg, hole));
        assert_eq!(pad_gap(&*seg, 0, hole, &*slots, None).unwrap(), Gap::Padded);
        assert_eq!(look(&*seg, hole), Look::Padding { size: SIZE });
        assert_eq!(look(&*seg, live_pos), Look::Committed { size: SIZE });
    });
}

#[test]
fn a_dead_appenders_written_record_is_padded_exactly() {
    loom::model(|| {
        let seg = Arc::new(Seg::new(CAP));
        let slots = Arc::new(Table::new(2));
        // Appender 0 dies after its fetch_add, before saying where it
        // reserved: a zero hole. Appender 1 reserves, writes its payload
        // (non-zero, where a scan for zero words would stop) and dies
        // before its commit: a zero header over written bytes.
        let first = {
            let (seg, slots) = (seg.clone(), slots.clone());
            thread::spawn(move || die_reserving(&seg, &slots, 0))
        };
        let second = {
            let (seg, slots) = (seg.clone(), slots.clone());
            thread::spawn(move || {
                let Reserve::At(pos) = reserve(&*seg, slots.word(1), slots.size(1), 0, SIZE) else {
                    panic!("fits");
                };
                seg.word(pos + 16).store(0xfeed, Ordering::Relaxed);
                slots.die(1);
                pos
            })
        };
        // Meanwhile a reader at the first record tries to repair it: it
        // may be told to wait, never to pad a wrong extent.
        let early = pad_gap(&*seg, 0, format::SEGMENT_HEADER_LEN, &*slots, None).unwrap();
        first.join().unwrap();
        let written = second.join().unwrap();
        let hole = if written == format::SEGMENT_HEADER_LEN {
            format::SEGMENT_HEADER_LEN + SIZE
        } else {
            format::SEGMENT_HEADER_LEN
        };
        // Now both deaths are proved: each position pads exactly one record,
        // whichever order the two reserved in.
        for off in [
            format::SEGMENT_HEADER_LEN,
            format::SEGMENT_HEADER_LEN + SIZE,
        ] {
            if look(&*seg, off) == Look::Empty {
                assert_eq!(pad_gap(&*seg, 0, off, &*slots, None).unwrap(), Gap::Padded);
            }
            assert_eq!(
                look(&*seg, off),
                Look::Padding { size: SIZE },
                "early {early:?}, hole {hole}, written {written}"
            );
        }
    });
}

/// A new owner takes over the slot of an appender that died holding a
/// written record, while a live appender appends in the same segment (and
/// may be between its `Reserving` state and its holding at that moment).
/// The taken-over record must be padded exactly, never forgotten: a reader
/// then reads the live appender's message, and nothing it meets is
/// invalid.
#[test]
fn a_takeover_beside_a_live_reserving_appender_pads_the_dead_record_exactly() {
    loom::model(|| {
        let seg = Arc::new(Seg::new(CAP));
        let slots = Arc::new(Table::new(2));
        let waiters = Arc::new(AtomicU32::new(0));
        // Slot 0's appender reserves, writes part of its payload (non-zero:
        // a scan for zero words would stop there) and dies.
        let dying = {
            let (seg, slots) = (seg.clone(), slots.clone());
            thread::spawn(move || {
                let Reserve::At(pos) = reserve(&*seg, slots.word(0), slots.size(0), 0, SIZE) else {
                    panic!("fits");
                };
                seg.word(pos + 16).store(0xfeed, Ordering::Relaxed);
                slots.die(0);
                pos
            })
        };
        // Slot 1's appender is alive throughout.
        let live = {
            let (seg, slots, waiters) = (seg.clone(), slots.clone(), waiters.clone());
            thread::spawn(move || append(&seg, &slots, &waiters, 1, 9))
        };
        // Once slot 0's owner is dead, a new owner takes its slot over.
        let dead_pos = dying.join().unwrap();
        let released = repair_held(&*seg, 0, dead_pos, &*slots, 0).unwrap();
        if released {
            release_slot(slots.word(0), &waiters);
        }
        let live_pos = live.join().unwrap();
        assert!(released, "a valid dead record was left unrepaired");
        assert_eq!(look(&*seg, dead_pos), Look::Padding { size: SIZE });
        // A reader from the start meets only valid records.
        let mut off = format::SEGMENT_HEADER_LEN;
        let mut seen = Vec::new();
        while off < format::SEGMENT_HEADER_LEN + 2 * SIZE {
            match look(&*seg, off) {
                Look::Committed { size } => {
                    seen.push(seg.read_payload(off));
                    off += size;
                }
                Look::Padding { size } => off += size,
                other => panic!("at {off}: {other:?} (dead {dead_pos}, live {live_pos})"),
            }
        }
        assert_eq!(seen, vec![9]);
    });
}

#[test]
fn a_sleeping_reader_is_always_woken() {
    loom::model(|| {
        let seg = Arc::new(Seg::new(CAP));
        let slots = Arc::new(Table::new(1));
        let waiters = Arc::new(AtomicU32::new(0));
        let notify = Arc::new(AtomicU32::new(0));
        let writer = {
            let (seg, slots, waiters, notify) =
                (seg.clone(), slots.clone(), waiters.clone(), notify.clone());
            thread::spawn(move || {
                let Reserve::At(pos) = reserve(&*seg, slots.word(0), slots.size(0), 0, SIZE) else {
                    panic!("fits");
                };
                seg.write_payload(pos, 5);
                commit(&*seg, pos, SIZE as u32);
                if release_slot(slots.word(0), &waiters) {
                    announce_wake(&notify);
                    // (then FUTEX_WAKE)
                }
            })
        };
        let off = format::SEGMENT_HEADER_LEN;
        loop {
            if let Look::Committed { .. } = look(&*seg, off) {
                break;
            }
            let seq = begin_sleep(&waiters, &notify);
            if let Look::Committed { .. } = look(&*seg, off) {
                end_sleep(&waiters);
                break;
            }
            // FUTEX_WAIT(notify, seq): sleeps only while the word still
            // holds `seq`; a lost wake-up would spin here for ever, which
            // loom reports.
            while notify.load(Ordering::SeqCst) == seq {
                thread::yield_now();
            }
            end_sleep(&waiters);
        }
        assert_eq!(seg.read_payload(off), 5);
        writer.join().unwrap();
        assert_eq!(waiters.load(Ordering::SeqCst), 0);
    });
}
