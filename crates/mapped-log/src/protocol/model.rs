//! The shared-memory words of one segment and of the appender slots, as
//! plain vectors of atomics, for the protocol's tests: loom's atomics under
//! `--cfg loom` (the model checks in `loom_tests.rs`), std's otherwise (the
//! property tests in `protocol/mod.rs`).

#![allow(unsafe_code)] // loom's UnsafeCell accessors are unsafe by design

#[cfg(loom)]
use loom::{cell::UnsafeCell, sync::atomic::AtomicBool};
#[cfg(not(loom))]
use std::sync::atomic::AtomicBool;

use super::{AtomicU64, Ordering, Slots, Words};
use crate::format;

/// A segment of `cap` bytes: its tail counter and its header words. Under
/// loom, payload words are `UnsafeCell`s, so a payload read that is not
/// ordered after its write by the commit's release/acquire pair is
/// reported as a data race.
pub(crate) struct Seg {
    cap: u64,
    pub(crate) tail: AtomicU64,
    pub(crate) words: Vec<AtomicU64>,
    #[cfg(loom)]
    payload: Vec<UnsafeCell<u64>>,
}

impl Seg {
    /// An empty segment: tail at the first record, every word zero.
    pub(crate) fn new(cap: u64) -> Seg {
        Seg {
            cap,
            tail: AtomicU64::new(format::SEGMENT_HEADER_LEN),
            words: (0..cap / 8).map(|_| AtomicU64::new(0)).collect(),
            #[cfg(loom)]
            payload: (0..cap / 8).map(|_| UnsafeCell::new(0)).collect(),
        }
    }

    #[cfg(loom)]
    pub(crate) fn write_payload(&self, pos: u64, v: u64) {
        // SAFETY (model): the protocol gives the appender exclusive use of
        // its reserved record until it commits; loom checks that claim.
        self.payload[((pos + 16) / 8) as usize].with_mut(|p| unsafe { *p = v });
    }

    #[cfg(loom)]
    pub(crate) fn read_payload(&self, pos: u64) -> u64 {
        // SAFETY (model): read only after an acquire load saw `Committed`.
        self.payload[((pos + 16) / 8) as usize].with(|p| unsafe { *p })
    }
}

impl Words for Seg {
    fn cap(&self) -> u64 {
        self.cap
    }
    fn tail(&self) -> &AtomicU64 {
        &self.tail
    }
    fn word(&self, offset: u64) -> &AtomicU64 {
        &self.words[(offset / 8) as usize]
    }
}

/// `n` appender slots: slot words, size words, and whether each owner died.
pub(crate) struct Table {
    pub(crate) words: Vec<AtomicU64>,
    pub(crate) sizes: Vec<AtomicU64>,
    /// Set by a modelled appender when it "dies"; the kernel's lock release.
    dead: Vec<AtomicBool>,
}

impl Table {
    pub(crate) fn new(n: usize) -> Table {
        Table {
            words: (0..n).map(|_| AtomicU64::new(0)).collect(),
            sizes: (0..n).map(|_| AtomicU64::new(0)).collect(),
            dead: (0..n).map(|_| AtomicBool::new(false)).collect(),
        }
    }

    /// A modelled death: the kernel releases the lock after everything the
    /// process wrote (a `SeqCst` store, paired with the probe's load).
    pub(crate) fn die(&self, slot: u32) {
        self.dead[slot as usize].store(true, Ordering::SeqCst);
    }
}

impl Slots for Table {
    type Error = ();
    fn count(&self) -> u32 {
        self.words.len() as u32
    }
    fn word(&self, j: u32) -> &AtomicU64 {
        &self.words[j as usize]
    }
    fn size(&self, j: u32) -> &AtomicU64 {
        &self.sizes[j as usize]
    }
    fn probe_dead(&self, j: u32) -> Result<bool, ()> {
        Ok(self.dead[j as usize].load(Ordering::SeqCst))
    }
    fn release(&self, _j: u32) {}
}
