//! The raw baselines: what shared memory allows with nothing on top.
//!
//! - Spinning ping-pong: one `AtomicU64` each way in a shared mapping;
//!   each side spins until the other's word changes. The floor for any
//!   transport whose reader spins.
//! - Spinning one way, stamped: the writer stores a clock reading, the
//!   reader spins until it changes. The floor for the log's stamped
//!   spinning row: what the stamping itself costs.
//! - Futex ping-pong: the same with `AtomicU32`s and a futex wait/wake
//!   each way, so every hop wakes a sleeping process. The floor for any
//!   transport whose reader sleeps.
//! - A bare single-producer single-consumer ring in a shared mapping: the
//!   floor for streaming. Lamport's ring with cached indices (as in
//!   rigtorp/SPSCQueue): each side keeps its last view of the other's
//!   index and re-reads it only when the ring looks full or empty.

#![allow(unsafe_code)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use mapped::Mapping;

use crate::error::{BenchError, Result};
use crate::ipc::ctx::{Ctx, Outcome, histogram};
use crate::ipc::peer::{Ctl, PING, PONG, PeerArgs, STAMP_SLOTS, STAMPS, Watch};
use crate::sys::{mono_ns, spin_until_ns};

/// Runs the main side `main` of a latency baseline against one peer of
/// `kind`, which has no setup of its own.
fn latency_pair(
    ctx: &Ctx<'_>,
    kind: &str,
    n: u64,
    warmup: u64,
    main: impl FnOnce(&Ctl, &mut Watch<'_>) -> Result<Outcome>,
) -> Result<Outcome> {
    let args = PeerArgs::new(kind, 0, n, warmup);
    ctx.run(args, 1, |_| Ok(()), |ctl, _, watch| main(ctl, watch))
}

/// Main side of the spinning ping-pong: one-way latency is half of each
/// round trip.
pub(crate) fn spin_latency(ctx: &Ctx<'_>, n: u64, warmup: u64) -> Result<Outcome> {
    latency_pair(ctx, "spin", n, warmup, |ctl, watch| {
        let (ping, pong) = (ctl.u64(PING), ctl.u64(PONG));
        let mut h = histogram();
        ctl.go();
        for i in 1..=warmup + n {
            let t = Instant::now();
            // Release pairs with the peer's acquire load of `ping`.
            ping.store(i, Ordering::Release);
            while pong.load(Ordering::Acquire) != i {
                watch.tick()?;
            }
            let rtt = t.elapsed().as_nanos() as u64;
            if i > warmup {
                h.saturating_record((rtt / 2).max(1));
            }
        }
        Ok(Outcome::Latency(h))
    })
}

pub(crate) fn spin_peer(a: &PeerArgs, ctl: &Ctl) -> Result<()> {
    let (ping, pong) = (ctl.u64(PING), ctl.u64(PONG));
    let mut watch = a.watch(ctl);
    ctl.peer_ready();
    ctl.wait_go(&mut watch)?;
    for i in 1..=a.warmup + a.n {
        while ping.load(Ordering::Acquire) != i {
            watch.tick()?;
        }
        pong.store(i, Ordering::Release);
    }
    ctl.peer_done(a.index);
    Ok(())
}

/// Main side of the one-way spinning baseline: the peer stores a
/// `CLOCK_MONOTONIC` stamp (in its slot of a ring) and then a sequence
/// number in `AtomicU64`s of the shared mapping, spaced as the log's
/// stamped spinning row spaces its messages; we spin until the number
/// changes and record the time from each stamp. The floor of the stamped
/// rows: one cache-line transfer, plus the two clock readings that any
/// stamped measurement pays.
pub(crate) fn spin_oneway(ctx: &Ctx<'_>, n: u64, warmup: u64) -> Result<Outcome> {
    stamped_main(ctx, "spin-1way", n, warmup, |ctl, watch, seen| {
        let seq = ctl.u64(PING);
        loop {
            // Acquire pairs with the peer's release store of `seq`.
            let v = seq.load(Ordering::Acquire);
            if v != seen {
                return Ok(v);
            }
            watch.tick()?;
        }
    })
}

/// The reader of a stamped one-way baseline: `wait` returns the peer's
/// message number once it is past `seen`. Every message up to it is timed
/// from its own stamp (a slot of [`STAMPS`]) to now, as the log's stamped
/// rows time every message: a reader that was descheduled, or that a futex
/// word woke once for several, records the late ones as late. A stamp is
/// read only while its slot cannot have been reused.
fn stamped_main(
    ctx: &Ctx<'_>,
    kind: &str,
    n: u64,
    warmup: u64,
    wait: impl Fn(&Ctl, &mut Watch<'_>, u64) -> Result<u64>,
) -> Result<Outcome> {
    latency_pair(ctx, kind, n, warmup, |ctl, watch| {
        let mut h = histogram();
        ctl.go();
        let mut seen = 0;
        while seen < warmup + n {
            // Acquire in `wait` pairs with the peer's release of the
            // number, after its stamps.
            let v = wait(ctl, watch, seen)?;
            let now = mono_ns();
            for j in (seen + 1..=v).filter(|&j| j > warmup && v - j < STAMP_SLOTS - 1) {
                let t = ctl.u64(stamp_slot(j)).load(Ordering::Relaxed);
                h.saturating_record(now.saturating_sub(t).max(1));
            }
            seen = v;
        }
        Ok(Outcome::Latency(h))
    })
}

/// The offset of the stamp slot of message `j`.
fn stamp_slot(j: u64) -> u64 {
    STAMPS + 8 * (j % STAMP_SLOTS)
}

pub(crate) fn spin_oneway_peer(a: &PeerArgs, ctl: &Ctl) -> Result<()> {
    let seq = ctl.u64(PING);
    stamped_peer(a, ctl, "spin", |i| seq.store(i, Ordering::Release))
}

/// The writer of a stamped one-way baseline: message `i` (from 1) gets the
/// `CLOCK_MONOTONIC` time taken just before in its stamp slot, then
/// `publish(i)` announces it (a release store); messages are spaced as the
/// log's stamped rows of `variant` are.
fn stamped_peer(a: &PeerArgs, ctl: &Ctl, variant: &str, publish: impl Fn(u64)) -> Result<()> {
    let gap = crate::ipc::log::oneway_gap_ns(variant);
    let mut watch = a.watch(ctl);
    ctl.peer_ready();
    ctl.wait_go(&mut watch)?;
    for i in 1..=a.warmup + a.n {
        let t = mono_ns();
        ctl.u64(stamp_slot(i)).store(t, Ordering::Relaxed);
        publish(i);
        spin_until_ns(t + gap);
        watch.tick()?;
    }
    ctl.peer_done(a.index);
    Ok(())
}

/// Sleeps on the futex `word` until it holds a value `done` accepts;
/// returns that value. Bounded by `watch`; a 10 ms timeout per sleep
/// bounds a lost wake-up.
fn futex_wait_for(
    word: &AtomicU32,
    watch: &mut Watch<'_>,
    done: impl Fn(u32) -> bool,
) -> Result<u32> {
    loop {
        let v = word.load(Ordering::Acquire);
        if done(v) {
            return Ok(v);
        }
        let _ = mapped::wait(word, v, Some(Duration::from_millis(10)));
        watch.tick()?;
    }
}

/// Main side of the futex ping-pong.
pub(crate) fn futex_latency(ctx: &Ctx<'_>, n: u64, warmup: u64) -> Result<Outcome> {
    latency_pair(ctx, "futex", n, warmup, |ctl, watch| {
        let (ping, pong) = (ctl.u32(PING), ctl.u32(PONG));
        let mut h = histogram();
        ctl.go();
        for i in 1..=(warmup + n) as u32 {
            let t = Instant::now();
            ping.store(i, Ordering::Release);
            let _ = mapped::wake(ping, 1);
            futex_wait_for(pong, watch, |v| v == i)?;
            let rtt = t.elapsed().as_nanos() as u64;
            if u64::from(i) > warmup {
                h.saturating_record((rtt / 2).max(1));
            }
        }
        Ok(Outcome::Latency(h))
    })
}

pub(crate) fn futex_peer(a: &PeerArgs, ctl: &Ctl) -> Result<()> {
    let (ping, pong) = (ctl.u32(PING), ctl.u32(PONG));
    let mut watch = a.watch(ctl);
    ctl.peer_ready();
    ctl.wait_go(&mut watch)?;
    for i in 1..=(a.warmup + a.n) as u32 {
        futex_wait_for(ping, &mut watch, |v| v == i)?;
        pong.store(i, Ordering::Release);
        let _ = mapped::wake(pong, 1);
    }
    ctl.peer_done(a.index);
    Ok(())
}

/// Main side of the one-way futex baseline: the peer stores a
/// `CLOCK_MONOTONIC` stamp (in its slot of a ring), bumps the futex word to
/// the message's number and wakes us, spacing its
/// wake-ups as the log's stamped blocking row does; we record the time
/// from the stamp to our return from the wait. The floor for a reader
/// asleep when its message comes.
pub(crate) fn futex_oneway(ctx: &Ctx<'_>, n: u64, warmup: u64) -> Result<Outcome> {
    stamped_main(ctx, "futex-1way", n, warmup, |ctl, watch, seen| {
        futex_wait_for(ctl.u32(PING), watch, |v| u64::from(v) > seen).map(u64::from)
    })
}

pub(crate) fn futex_oneway_peer(a: &PeerArgs, ctl: &Ctl) -> Result<()> {
    let seq = ctl.u32(PING);
    stamped_peer(a, ctl, "block", |i| {
        seq.store(i as u32, Ordering::Release);
        let _ = mapped::wake(seq, 1);
    })
}

/// Ring file layout: the consumer's index, the producer's index (each on
/// its own cache line), then the slots from `RING_DATA`.
const HEAD: u64 = 0;
const TAIL: u64 = 64;
const RING_DATA: u64 = 4096;
/// Bytes of slots: 1 MiB, as much as fits a typical L2 twice over.
const RING_BYTES: u64 = 1 << 20;
const RING_FILE: &str = "ring";

/// The ring's mapping and geometry.
struct Ring {
    map: Mapping,
    slots: u64,
    size: usize,
}

impl Ring {
    fn new(map: Mapping, size: usize) -> Ring {
        Ring {
            map,
            slots: RING_BYTES / size as u64,
            size,
        }
    }

    /// Address of slot `i` (mod the ring's length).
    fn slot(&self, i: u64) -> *mut u8 {
        let off = RING_DATA as usize + (i % self.slots) as usize * self.size;
        // The mapping is shared read-write and was mapped by a pointer
        // with write provenance; `as_ptr` only narrows its type.
        self.map.as_ptr().wrapping_add(off).cast_mut()
    }
}

/// Main side of the ring: consumes `n` messages of `size` bytes, copying
/// each out and checking its sequence number.
pub(crate) fn ring_throughput(ctx: &Ctx<'_>, size: usize, n: u64) -> Result<Outcome> {
    let args = PeerArgs::new("ring", size, n, 0);
    let setup = |dir: &std::path::Path| -> Result<Ring> {
        let map = Mapping::create(dir.join(RING_FILE), RING_DATA + RING_BYTES)?;
        Ok(Ring::new(map, size))
    };
    ctx.run(args, 1, setup, |ctl, ring, watch| {
        let head = ring.map.atomic_u64(HEAD)?;
        let tail = ring.map.atomic_u64(TAIL)?;
        let mut buf = vec![0u8; size];
        let (mut h, mut seen_tail) = (0u64, 0u64);
        ctl.go();
        let start = Instant::now();
        while h < n {
            if h == seen_tail {
                // Acquire pairs with the producer's release of `tail`: the
                // slots below it are written.
                seen_tail = tail.load(Ordering::Acquire);
                if h == seen_tail {
                    watch.tick()?;
                    continue;
                }
            }
            // SAFETY: slot `h` is below the producer's published tail, so
            // it is fully written, and the producer does not touch it again
            // until our release of `head` passes it. Both processes are
            // ours and nobody truncates the ring file. Raw pointers only:
            // no reference to shared bytes is formed.
            unsafe { std::ptr::copy_nonoverlapping(ring.slot(h), buf.as_mut_ptr(), size) };
            let seq = u64::from_le_bytes(buf[..8].try_into().expect("8 bytes"));
            if seq != h {
                return Err(BenchError::Transport {
                    transport: "ring".into(),
                    why: format!("message {h} carries sequence number {seq}"),
                });
            }
            h += 1;
            // Release: our copy of the slot is done before the producer
            // may reuse it.
            head.store(h, Ordering::Release);
        }
        Ok(Outcome::Rate(n, start.elapsed().as_nanos() as u64))
    })
}

pub(crate) fn ring_peer(a: &PeerArgs, ctl: &Ctl) -> Result<()> {
    let map = Mapping::open_rw(a.dir.join(RING_FILE))?;
    let ring = Ring::new(map, a.size);
    let head = ring.map.atomic_u64(HEAD)?;
    let tail = ring.map.atomic_u64(TAIL)?;
    let mut msg = vec![0x5au8; a.size];
    let mut watch = a.watch(ctl);
    ctl.peer_ready();
    ctl.wait_go(&mut watch)?;
    let (mut t, mut seen_head) = (0u64, 0u64);
    while t < a.n {
        if t - seen_head == ring.slots {
            // Acquire pairs with the consumer's release of `head`.
            seen_head = head.load(Ordering::Acquire);
            if t - seen_head == ring.slots {
                watch.tick()?;
                continue;
            }
        }
        msg[..8].copy_from_slice(&t.to_le_bytes());
        // SAFETY: slot `t` is free (the consumer's head is past its last
        // use); only we write it until our release of `tail` publishes it.
        unsafe { std::ptr::copy_nonoverlapping(msg.as_ptr(), ring.slot(t), a.size) };
        t += 1;
        tail.store(t, Ordering::Release);
    }
    ctl.peer_done(a.index);
    ctl.wait_consumed(&mut watch)?;
    Ok(())
}
