//! Atomic words at fixed offsets of a mapping (the control file's fields,
//! a segment's tail and record headers).
//!
//! Not through `Mapping::atomic_u64`, whose checks (bounds, alignment,
//! poison) would cost on every record, and whose poison check would turn
//! every later access into an error the callers would have to thread
//! through: the log instead checks poison once per guarded operation
//! (`Mapping::guarded`), and a poisoned mapping's words are harmless
//! anonymous memory until then.

#![allow(unsafe_code)]

use mapped::Mapping;

use crate::protocol::{AtomicU32, AtomicU64};

/// The `AtomicU64` at `offset`, which callers have validated: 8-aligned and
/// at least 8 bytes before the end of the mapping.
pub(crate) fn u64_at(map: &Mapping, offset: u64) -> &AtomicU64 {
    assert!(
        offset % 8 == 0 && offset + 8 <= map.len() as u64,
        "word offset {offset} escaped validation"
    );
    // SAFETY: in bounds and aligned (asserted; mappings start on a page
    // boundary and the log maps whole files); the log maps its files
    // read-write, except for a handle opened read-only, which only loads
    // (its store paths are refused first: `Inner::writable`; on the 64-bit
    // targets it is limited to, an atomic load is a plain load), and they
    // stay mapped while `map` is borrowed; atomics allow shared mutation,
    // by any process. A file truncated under us
    // faults here: callers access words inside `Mapping::guarded`.
    unsafe { AtomicU64::from_ptr(map.as_ptr().add(offset as usize).cast_mut().cast()) }
}

/// The `AtomicU32` at `offset`; as [`u64_at`], 4-aligned.
pub(crate) fn u32_at(map: &Mapping, offset: u64) -> &AtomicU32 {
    assert!(
        offset % 4 == 0 && offset + 4 <= map.len() as u64,
        "word offset {offset} escaped validation"
    );
    // SAFETY: as in `u64_at`.
    unsafe { AtomicU32::from_ptr(map.as_ptr().add(offset as usize).cast_mut().cast()) }
}
