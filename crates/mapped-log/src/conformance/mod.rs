//! The protocol's conformance tests, written once and run against both
//! implementations of its words: the model (`model.rs`: vectors of atomics,
//! a flag for each appender's death), which the loom models and the
//! property tests check, and the real storage (a segment file and the
//! control file's slots, mapped shared, with deaths proved by OFD locks on
//! the lock file, as in production). The pattern of iceoryx2's
//! `conformance-tests` crates.
//!
//! Each test is a function generic over [`Harness`]; the macro at the end
//! instantiates it for both.

use crate::format::{self, SlotState};
use crate::protocol::*;

/// One segment and a few appender slots, in one implementation or the
/// other. Every slot starts live (its owner holds its lock) and idle.
pub(super) trait Harness {
    type W: Words;
    type S: Slots<Error: std::fmt::Debug>;
    /// A fresh harness with `slots` live slots and a segment of `cap`
    /// bytes.
    fn new(cap: u64, slots: u32) -> Self;
    fn seg(&self) -> &Self::W;
    fn slots(&self) -> &Self::S;
    /// The owner of slot `j` dies: the kernel releases its lock.
    fn die(&mut self, j: u32);
    /// A new owner takes slot `j`, whose owner is dead: it holds its lock
    /// now, as `Appender::new` does before `repair_slot`.
    fn take_over(&mut self, j: u32);
    /// The waiters word.
    fn waiters(&self) -> &AtomicU32;
    /// Writes payload bytes (a non-zero word) at `offset`, as an appender
    /// writing its record does.
    fn write_word(&self, offset: u64, value: u64) {
        self.seg().word(offset).store(value, Ordering::Relaxed);
    }
}

const CAP: u64 = 8192;
const SIZE: u64 = 48; // record_size(32)

/// Reserves a record for `slot`, writes a word of payload, commits it.
fn append<H: Harness>(h: &H, slot: u32, value: u64) -> u64 {
    let Reserve::At(pos) = reserve(h.seg(), h.slots().word(slot), h.slots().size(slot), 0, SIZE)
    else {
        panic!("fits");
    };
    h.write_word(pos + 16, value);
    commit(h.seg(), pos, SIZE as u32);
    release_slot(h.slots().word(slot), h.waiters());
    pos
}

/// Follows the records from the first, as a reader: the committed ones'
/// positions, up to the first record that is neither committed nor
/// padding (and what it is).
fn follow<H: Harness>(h: &H) -> (Vec<u64>, Look) {
    let mut off = format::SEGMENT_HEADER_LEN;
    let mut seen = Vec::new();
    loop {
        if off >= CAP {
            return (seen, Look::Empty);
        }
        match look(h.seg(), off) {
            Look::Committed { size } => {
                seen.push(off);
                off += size;
            }
            Look::Padding { size } => off += size,
            other => return (seen, other),
        }
    }
}

pub(super) fn appends_are_read_in_order<H: Harness>() {
    let h = H::new(CAP, 2);
    let a = append(&h, 0, 1);
    let b = append(&h, 1, 2);
    assert_eq!(follow(&h), (vec![a, b], Look::Empty));
    assert!(!reserved(h.seg(), b + SIZE));
}

pub(super) fn an_abandoned_claim_becomes_padding<H: Harness>() {
    let h = H::new(CAP, 1);
    let Reserve::At(pos) = reserve(h.seg(), h.slots().word(0), h.slots().size(0), 0, SIZE) else {
        panic!("fits");
    };
    abandon(h.seg(), pos, SIZE as u32);
    release_slot(h.slots().word(0), h.waiters());
    let next = append(&h, 0, 3);
    assert_eq!(look(h.seg(), pos), Look::Padding { size: SIZE });
    assert_eq!(follow(&h), (vec![next], Look::Empty));
}

pub(super) fn a_crossing_reservation_pads_to_the_end<H: Harness>() {
    let h = H::new(CAP, 1);
    h.seg().tail().store(CAP - 16, Ordering::SeqCst);
    assert_eq!(
        reserve(h.seg(), h.slots().word(0), h.slots().size(0), 0, SIZE),
        Reserve::Full
    );
    assert_eq!(look(h.seg(), CAP - 16), Look::Padding { size: 16 });
    assert_eq!(
        SlotState::decode(h.slots().word(0).load(Ordering::SeqCst)),
        SlotState::Idle
    );
}

/// A dead appender's written record, taken over by a new owner while a
/// live appender is reserving in the same segment: padded exactly, and a
/// reader reads on.
pub(super) fn a_takeover_beside_a_reserving_appender_pads_exactly<H: Harness>() {
    let mut h = H::new(CAP, 3);
    let before = append(&h, 2, 1);
    let Reserve::At(dead) = reserve(h.seg(), h.slots().word(0), h.slots().size(0), 0, SIZE) else {
        panic!("fits");
    };
    h.write_word(dead + 16, 0xfeed);
    h.write_word(dead + 24, 0xbeef);
    h.die(0);
    // Slot 1 is live and reserving in this segment.
    h.slots().word(1).store(
        SlotState::Reserving { segment: 0 }.encode(),
        Ordering::SeqCst,
    );
    h.take_over(0);
    assert!(repair_held(h.seg(), 0, dead, h.slots(), 0).unwrap());
    release_slot(h.slots().word(0), h.waiters());
    assert_eq!(look(h.seg(), dead), Look::Padding { size: SIZE });
    h.slots().word(1).store(0, Ordering::SeqCst);
    let after = append(&h, 1, 2);
    assert_eq!(follow(&h), (vec![before, after], Look::Empty));
}

/// The same dead record found by a reader (no slot held): padded exactly
/// once no live appender reserves, and waited for while one does only if
/// its size is unknown.
pub(super) fn a_reader_pads_a_dead_record_exactly<H: Harness>() {
    let mut h = H::new(CAP, 2);
    let Reserve::At(dead) = reserve(h.seg(), h.slots().word(0), h.slots().size(0), 0, SIZE) else {
        panic!("fits");
    };
    h.write_word(dead + 16, 0xfeed);
    h.die(0);
    // A live appender reserving: the dead owner's size is known, so the
    // repair does not wait for it.
    h.slots().word(1).store(
        SlotState::Reserving { segment: 0 }.encode(),
        Ordering::SeqCst,
    );
    assert_eq!(
        pad_gap(h.seg(), 0, dead, h.slots(), None).unwrap(),
        Gap::Padded
    );
    assert_eq!(look(h.seg(), dead), Look::Padding { size: SIZE });
}

/// An appender that died between reserving and saying where leaves a zero
/// hole: a reader waits while a live appender reserves (its record may be
/// the hole), and pads up to the next record once none does.
pub(super) fn a_dead_reservation_is_padded_up_to_the_next_record<H: Harness>() {
    let mut h = H::new(CAP, 2);
    h.slots().word(0).store(
        SlotState::Reserving { segment: 0 }.encode(),
        Ordering::SeqCst,
    );
    let hole = h.seg().tail().fetch_add(SIZE, Ordering::AcqRel);
    h.die(0);
    h.slots().word(1).store(
        SlotState::Reserving { segment: 0 }.encode(),
        Ordering::SeqCst,
    );
    assert_eq!(
        pad_gap(h.seg(), 0, hole, h.slots(), None).unwrap(),
        Gap::Blocked
    );
    h.slots().word(1).store(0, Ordering::SeqCst);
    let after = append(&h, 1, 5);
    assert_eq!(
        pad_gap(h.seg(), 0, hole, h.slots(), None).unwrap(),
        Gap::Padded
    );
    assert_eq!(look(h.seg(), hole), Look::Padding { size: SIZE });
    assert_eq!(follow(&h), (vec![after], Look::Empty));
}

/// A live appender's record is never padded over.
pub(super) fn a_live_holding_is_never_padded<H: Harness>() {
    let h = H::new(CAP, 1);
    let Reserve::At(pos) = reserve(h.seg(), h.slots().word(0), h.slots().size(0), 0, SIZE) else {
        panic!("fits");
    };
    assert_eq!(
        pad_gap(h.seg(), 0, pos, h.slots(), None).unwrap(),
        Gap::Blocked
    );
    commit(h.seg(), pos, SIZE as u32);
    release_slot(h.slots().word(0), h.waiters());
    assert_eq!(look(h.seg(), pos), Look::Committed { size: SIZE });
}

/// Runs every conformance test against one harness.
macro_rules! conformance {
    ($harness:ty) => {
        #[test]
        fn appends_are_read_in_order() {
            crate::conformance::appends_are_read_in_order::<$harness>();
        }
        #[test]
        fn an_abandoned_claim_becomes_padding() {
            crate::conformance::an_abandoned_claim_becomes_padding::<$harness>();
        }
        #[test]
        fn a_crossing_reservation_pads_to_the_end() {
            crate::conformance::a_crossing_reservation_pads_to_the_end::<$harness>();
        }
        #[test]
        fn a_takeover_beside_a_reserving_appender_pads_exactly() {
            crate::conformance::a_takeover_beside_a_reserving_appender_pads_exactly::<$harness>();
        }
        #[test]
        fn a_reader_pads_a_dead_record_exactly() {
            crate::conformance::a_reader_pads_a_dead_record_exactly::<$harness>();
        }
        #[test]
        fn a_dead_reservation_is_padded_up_to_the_next_record() {
            crate::conformance::a_dead_reservation_is_padded_up_to_the_next_record::<$harness>();
        }
        #[test]
        fn a_live_holding_is_never_padded() {
            crate::conformance::a_live_holding_is_never_padded::<$harness>();
        }
    };
}

/// The model: the words the loom models and property tests check.
mod model {
    use super::Harness;
    use crate::protocol::AtomicU32;
    use crate::protocol::model::{Seg, Table};

    pub(super) struct Model {
        seg: Seg,
        table: Table,
        waiters: AtomicU32,
    }

    impl Harness for Model {
        type W = Seg;
        type S = Table;
        fn new(cap: u64, slots: u32) -> Model {
            Model {
                seg: Seg::new(cap),
                table: Table::new(slots as usize),
                waiters: AtomicU32::new(0),
            }
        }
        fn seg(&self) -> &Seg {
            &self.seg
        }
        fn slots(&self) -> &Table {
            &self.table
        }
        fn die(&mut self, j: u32) {
            self.table.die(j);
        }
        fn take_over(&mut self, _j: u32) {
            // The repairer holds the slot: `repair_held` is told which.
        }
        fn waiters(&self) -> &AtomicU32 {
            &self.waiters
        }
    }

    conformance!(Model);
}

/// The real storage: a log's segment file and control file, mapped
/// shared; each live slot's lock held through a lock-file description of
/// its own, released at death as the kernel releases a dead process's.
mod storage {
    use std::sync::Arc;

    use super::Harness;
    use crate::protocol::{AtomicU32, AtomicU64, Slots};
    use crate::storage::control::Inner;
    use crate::storage::segment::Segment;

    pub(super) struct Storage {
        seg: Segment,
        slots: RealSlots,
        /// One lock-file description per live slot, holding its byte.
        owners: Vec<Option<crate::storage::locks::LockFile>>,
        _dir: tempfile::TempDir,
    }

    /// The control file's slots, with deaths proved by the locks, as a
    /// repairer's `Prober` proves them: through a lock-file description
    /// of its own, taking a dead slot's lock.
    pub(super) struct RealSlots {
        log: Arc<Inner>,
        lock: crate::storage::locks::LockFile,
        count: u32,
    }

    impl Slots for RealSlots {
        type Error = crate::LogError;
        fn count(&self) -> u32 {
            self.count
        }
        fn word(&self, j: u32) -> &AtomicU64 {
            self.log.slot(j)
        }
        fn size(&self, j: u32) -> &AtomicU64 {
            self.log.slot_size(j)
        }
        fn probe_dead(&self, j: u32) -> Result<bool, crate::LogError> {
            self.lock
                .try_lock(j)
                .map_err(|e| crate::LogError::io(self.log.dir(), "lock", e))
        }
        fn release(&self, j: u32) {
            let _ = self.lock.unlock(j);
        }
    }

    impl Harness for Storage {
        type W = Segment;
        type S = RealSlots;
        fn new(cap: u64, slots: u32) -> Storage {
            let (dir, log) = crate::testing::temp_log(cap);
            let seg = log.open_segment(0).unwrap().expect("segment 0");
            let owners = (0..slots)
                .map(|j| {
                    let f = log.lock_file().unwrap();
                    assert!(f.try_lock(j).unwrap());
                    Some(f)
                })
                .collect();
            let lock = log.lock_file().unwrap();
            Storage {
                seg,
                slots: RealSlots {
                    log,
                    lock,
                    count: slots,
                },
                owners,
                _dir: dir,
            }
        }
        fn seg(&self) -> &Segment {
            &self.seg
        }
        fn slots(&self) -> &RealSlots {
            &self.slots
        }
        fn die(&mut self, j: u32) {
            self.owners[j as usize] = None;
        }
        fn take_over(&mut self, j: u32) {
            // The new owner's lock is the one the repair holds: taken
            // through the prober's description, as `Appender::new` takes
            // the slot and then repairs it.
            assert!(self.slots.probe_dead(j).unwrap(), "slot {j} is not dead");
        }
        fn waiters(&self) -> &AtomicU32 {
            self.slots.log.waiters()
        }
    }

    conformance!(Storage);
}
