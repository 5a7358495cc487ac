//! Helpers shared by the integration tests: re-executing the test binary as
//! a child process in a given role, and waiting on words in a mapping.

#![allow(dead_code)] // each test binary uses a different subset

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use mapped::{Mapping, WaitOutcome};

#[allow(unused_imports)] // each test binary uses a different subset
pub use mapped_testkit::child::*;

/// Sleeps on the futex at `offset` of `map` until the word satisfies
/// `done`, checking on `child` (if any) between naps. Panics after
/// [`SAFETY_NET`]. Returns the value that satisfied `done`.
pub fn wait_until(
    map: &Mapping,
    offset: u64,
    mut child: Option<&mut Child>,
    what: &str,
    done: impl Fn(u32) -> bool,
) -> u32 {
    let word = map.atomic_u32(offset).expect("futex word");
    let deadline = Instant::now() + SAFETY_NET;
    loop {
        let v = word.load(Ordering::SeqCst);
        if done(v) {
            return v;
        }
        if let Some(c) = child.as_deref_mut() {
            c.check_alive(what);
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what} (word at {offset} is {v})"
        );
        // Short naps only so that a dead child is noticed; the waker wakes
        // us. Every outcome (woken, changed, timed out, interrupted) just
        // means: look at the word again.
        let _: WaitOutcome = map
            .wait(offset, v, Some(Duration::from_millis(100)))
            .expect("futex wait");
    }
}

/// Stores `value` into the word at `offset` and wakes every waiter on it.
pub fn store_and_wake(map: &Mapping, offset: u64, value: u32) {
    map.atomic_u32(offset)
        .expect("futex word")
        .store(value, Ordering::SeqCst);
    map.wake(offset, u32::MAX >> 1).expect("futex wake");
}

/// A deterministic byte pattern for file offset `i`, never zero.
pub fn pattern(i: u64) -> u8 {
    (i % 251) as u8 + 1
}

/// `len` bytes of [`pattern`] starting at file offset `start`.
pub fn pattern_bytes(start: u64, len: usize) -> Vec<u8> {
    (start..start + len as u64).map(pattern).collect()
}
