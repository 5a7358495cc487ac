//! The log between processes: ping-pong through two logs, streaming to a
//! spinning reader, appends from one and two writer processes, and
//! durable appends with and without group commit.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use mapped_log::{Appender, Durability, Log, LogOptions, Reader, Start, WaitStrategy};

use crate::error::{BenchError, Result};
use crate::ipc::ctx::{Ctx, Outcome, histogram};
use crate::ipc::peer::{Ctl, PeerArgs, Watch};
use crate::sys::{mono_ns, spin_until_ns};

const PING: &str = "ping";
const PONG: &str = "pong";
const LOG: &str = "log";

fn options() -> LogOptions {
    LogOptions {
        segment_size: 64 << 20,
        max_message: 1 << 20,
        ..LogOptions::default()
    }
}

fn strategy(variant: &str) -> WaitStrategy {
    match variant {
        "spin" => WaitStrategy::Spin,
        // Sleeps on the futex as soon as nothing is there.
        "block" => WaitStrategy::SpinThenSleep(Duration::ZERO),
        _ => WaitStrategy::default(),
    }
}

/// A reader of `log` from its first message, waiting as `wait` says.
fn reader_from_start(log: &Log, wait: WaitStrategy) -> Result<Reader> {
    let mut reader = log.reader(Start::Beginning)?;
    reader.set_wait_strategy(wait);
    Ok(reader)
}

/// An appender of `log` whose prefault helper runs on `helpers` (if any:
/// see `Ctx::helper_cpus`).
fn appender(log: &Log, helpers: &[usize]) -> Result<Appender> {
    let mut app = Appender::new(log)?;
    if !helpers.is_empty() {
        app.set_prefault_cpus(Some(helpers))?;
    }
    Ok(app)
}

/// The little-endian u64 at `at` of a payload, if it is long enough.
fn u64_at(payload: &[u8], at: usize) -> Option<u64> {
    payload
        .get(at..at + 8)
        .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
}

/// A message's sequence number (its first 8 bytes).
fn seq_of(payload: &[u8]) -> u64 {
    u64_at(payload, 0).unwrap_or(u64::MAX)
}

const TRANSPORT: &str = "mapped-log";

fn mismatch(i: u64, got: u64) -> BenchError {
    BenchError::Transport {
        transport: TRANSPORT.to_string(),
        why: format!("message {i} carries sequence number {got}"),
    }
}

/// Waits for the next message, bounded by `watch`; returns what `f`
/// makes of its payload (called as soon as the message is there).
fn next_with<T>(
    reader: &mut Reader,
    watch: &mut Watch<'_>,
    f: impl FnOnce(&[u8]) -> T,
) -> Result<T> {
    loop {
        if let Some(m) = reader.next(Some(Duration::from_millis(20)))? {
            return Ok(f(m.payload()));
        }
        watch.check()?;
    }
}

/// Waits for the next message, bounded by `watch`; returns its sequence
/// number.
fn next_seq(reader: &mut Reader, watch: &mut Watch<'_>) -> Result<u64> {
    next_with(reader, watch, seq_of)
}

/// Main side of the ping-pong: appends to `ping`, reads `pong`.
pub(crate) fn latency(
    ctx: &Ctx<'_>,
    variant: &'static str,
    size: usize,
    n: u64,
    warmup: u64,
) -> Result<Outcome> {
    let args = PeerArgs::new("log-lat", size, n, warmup).variant(variant);
    let setup = |dir: &Path| -> Result<(Appender, Reader)> {
        let ping = Log::create(dir.join(PING), options())?;
        let pong = Log::create(dir.join(PONG), options())?;
        let reader = reader_from_start(&pong, strategy(variant))?;
        let helpers = ctx.helper_cpus(ctx.cpus.first().copied(), false, 1);
        Ok((appender(&ping, &helpers)?, reader))
    };
    ctx.run(args, 1, setup, |ctl, (app, reader), watch| {
        let mut msg = vec![0xa5u8; size];
        let mut h = histogram();
        ctl.go();
        for i in 1..=warmup + n {
            msg[..8].copy_from_slice(&i.to_le_bytes());
            let t = Instant::now();
            app.append(&msg)?;
            let got = next_seq(reader, watch)?;
            let rtt = t.elapsed().as_nanos() as u64;
            if got != i {
                return Err(mismatch(i, got));
            }
            if i > warmup {
                h.saturating_record((rtt / 2).max(1));
            }
        }
        Ok(Outcome::Latency(h))
    })
}

/// How long the writer of the one-way experiment leaves between
/// messages: long enough for a spinning reader to be back at the tail, and
/// for a blocking reader to be asleep, when the next one comes.
pub(crate) fn oneway_gap_ns(variant: &str) -> u64 {
    match variant {
        "spin" => 20_000,
        _ => 300_000,
    }
}

/// Main side of the one-way experiment: the peer appends messages carrying
/// a `CLOCK_MONOTONIC` stamp taken just before its append, spaced out; we
/// read them and record the time from the stamp to the message in hand.
/// One writer, one reader, one log: no echo, no halving.
pub(crate) fn oneway(
    ctx: &Ctx<'_>,
    variant: &'static str,
    size: usize,
    n: u64,
    warmup: u64,
) -> Result<Outcome> {
    let args = PeerArgs::new("log-1way", size, n, warmup).variant(variant);
    let setup = |dir: &Path| -> Result<Reader> {
        reader_from_start(&Log::create(dir.join(LOG), options())?, strategy(variant))
    };
    ctx.run(args, 1, setup, |ctl, reader, watch| {
        let mut h = histogram();
        ctl.go();
        for i in 0..warmup + n {
            let (got, stamp) = next_with(reader, watch, |p| {
                let now = mono_ns();
                (seq_of(p), u64_at(p, 8).map(|t| now.saturating_sub(t)))
            })?;
            if got != i {
                return Err(mismatch(i, got));
            }
            if i >= warmup {
                h.saturating_record(stamp.unwrap_or(0).max(1));
            }
        }
        Ok(Outcome::Latency(h))
    })
}

/// Main side of streaming: `writers` peers append `n` messages between
/// them, we read them with a spinning reader, checking each writer's
/// sequence.
pub(crate) fn throughput(ctx: &Ctx<'_>, size: usize, n: u64, writers: usize) -> Result<Outcome> {
    let per = (n / writers as u64).max(1);
    let args = PeerArgs::new("log-tput", size, per, 0);
    let setup = |dir: &Path| -> Result<Reader> {
        reader_from_start(&Log::create(dir.join(LOG), options())?, WaitStrategy::Spin)
    };
    ctx.run(args, writers, setup, |ctl, reader, watch| {
        let mut next = vec![0u64; writers];
        let total = per * writers as u64;
        ctl.go();
        let start = Instant::now();
        for i in 0..total {
            let (seq, writer) = next_with(reader, watch, |p| {
                (seq_of(p), u64_at(p, 8).unwrap_or(u64::MAX))
            })?;
            match next.get_mut(writer as usize) {
                Some(want) if *want == seq => *want += 1,
                _ => return Err(mismatch(i, seq)),
            }
        }
        Ok(Outcome::Rate(total, start.elapsed().as_nanos() as u64))
    })
}

/// `writers` processes append `n` 64-byte messages between them, with no
/// reader; the rate runs from the start signal to the last writer's end.
pub(crate) fn append(ctx: &Ctx<'_>, writers: usize, n: u64) -> Result<Outcome> {
    appenders(ctx, writers, n, "")
}

/// `appenders` processes append `n` 64-byte messages between them under
/// `Durability::Sync`: each append returns once durable, and concurrent
/// appenders share syncs (group commit).
pub(crate) fn sync(ctx: &Ctx<'_>, appenders_n: usize, n: u64) -> Result<Outcome> {
    appenders(ctx, appenders_n, n, "sync")
}

/// `writers` appender processes, `n` messages between them; `variant`
/// "sync" makes them `Durability::Sync`.
fn appenders(ctx: &Ctx<'_>, writers: usize, n: u64, variant: &str) -> Result<Outcome> {
    let per = (n / writers as u64).max(1);
    let args = PeerArgs::new("log-append", 64, per, 0).variant(variant);
    let setup = |dir: &Path| -> Result<Log> { Ok(Log::create(dir.join(LOG), options())?) };
    ctx.run(args, writers, setup, |ctl, _log, watch| {
        ctl.go();
        while (ctl.done().load(Ordering::Acquire) as usize) < writers {
            std::thread::sleep(Duration::from_micros(500));
            watch.check()?;
        }
        let start = ctl.start_ns();
        let end = (0..writers)
            .map(|i| ctl.end_ns(i).load(Ordering::Acquire))
            .max()
            .unwrap_or(start);
        Ok(Outcome::Rate(
            per * writers as u64,
            end.saturating_sub(start),
        ))
    })
}

/// The peer side of every log experiment.
pub(crate) fn peer(a: &PeerArgs, ctl: &Ctl) -> Result<()> {
    let mut watch = a.watch(ctl);
    match a.kind.as_str() {
        "log-lat" => {
            let mut reader =
                reader_from_start(&Log::open(a.dir.join(PING))?, strategy(&a.variant))?;
            let mut app = appender(&Log::open(a.dir.join(PONG))?, &a.helpers)?;
            ctl.peer_ready();
            ctl.wait_go(&mut watch)?;
            for _ in 0..a.warmup + a.n {
                // Echo the message back, payload and all.
                next_with(&mut reader, &mut watch, |p| app.append(p))??;
            }
        }
        "log-1way" => {
            let mut app = appender(&Log::open(a.dir.join(LOG))?, &a.helpers)?;
            let mut msg = vec![0x5au8; a.size.max(16)];
            let gap = oneway_gap_ns(&a.variant);
            ctl.peer_ready();
            ctl.wait_go(&mut watch)?;
            for i in 0..a.warmup + a.n {
                msg[..8].copy_from_slice(&i.to_le_bytes());
                let stamp = mono_ns();
                msg[8..16].copy_from_slice(&stamp.to_le_bytes());
                app.append(&msg)?;
                spin_until_ns(stamp + gap);
                if i % 1024 == 0 {
                    watch.check()?;
                }
            }
        }
        "log-tput" | "log-append" => {
            let mut app = appender(&Log::open(a.dir.join(LOG))?, &a.helpers)?;
            if a.variant == "sync" {
                app.set_durability(Durability::Sync)?;
            }
            let mut msg = vec![0x5au8; a.size.max(16)];
            // Which writer: the reader checks each one's sequence.
            msg[8..16].copy_from_slice(&(a.index as u64).to_le_bytes());
            ctl.peer_ready();
            ctl.wait_go(&mut watch)?;
            for i in 0..a.n {
                msg[..8].copy_from_slice(&i.to_le_bytes());
                app.append(&msg)?;
            }
            if a.kind == "log-tput" {
                ctl.peer_done(a.index);
                ctl.wait_consumed(&mut watch)?;
                return Ok(());
            }
        }
        other => {
            return Err(BenchError::PeerArgs {
                args: a.to_args(),
                why: format!("unknown log experiment {other:?}"),
            });
        }
    }
    ctl.peer_done(a.index);
    Ok(())
}
