//! Waiting for the next message (`Reader::next`): spinning, then sleeping on the control
//! file's futex word with a sleeper flag held through a lock.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::{
    Message, PREFETCH_AFTER, READ_ONLY_NAP, REPAIR_INTERVAL, Reader, Sleeper, Step, Turns,
    WaitStrategy,
};
use crate::error::{LogError, Result};
use crate::format;
use crate::protocol::{self};

impl Reader {
    /// The next message, waiting for it for at most `timeout` (`None`: for
    /// ever). `Ok(None)` when the timeout passes first.
    pub fn next(&mut self, timeout: Option<Duration>) -> Result<Option<Message<'_>>> {
        let spin_for = match self.strategy {
            WaitStrategy::Spin => None,
            WaitStrategy::SpinThenSleep(d) => Some(d),
        };
        // The clock costs tens of nanoseconds (a vDSO call), as much as a
        // small message: it is read only once we have to wait, and then
        // every few turns (`Turns`).
        let mut turns = Turns::new(timeout);
        // Where we started waiting on an unfinished record, for repair; the
        // time is taken once we have waited there a while.
        let mut stuck: Option<(u64, Option<Instant>)> = None;
        loop {
            let step = self.step()?;
            let (len, size, crc) = match step {
                Step::Message { len, size, crc } => (len, size, crc),
                Step::Skip(size) => {
                    self.offset += size;
                    continue;
                }
                Step::Cut { cuts, id } => {
                    self.follow_cut(cuts, id)?;
                    continue;
                }
                Step::NextSegment => {
                    if self.advance_segment()? {
                        continue;
                    }
                    if !self.wait(&mut turns, spin_for, None)? {
                        return Ok(None);
                    }
                    continue;
                }
                Step::Empty | Step::Writing { .. } => {
                    // The record being written here spans the next cache
                    // line too (a 64-byte payload with its header does):
                    // have it fetched while we poll the header's, so that
                    // the payload does not wait for a second transfer once
                    // the commit shows. Only once the wait is not short: a
                    // reader that keeps up with a stream would take the line
                    // from the appender while it is being written.
                    if turns.count >= PREFETCH_AFTER {
                        self.seg.map.prefetch((self.offset | 63) + 1);
                    }
                    let pos = self.position();
                    match &mut stuck {
                        Some((p, since)) if *p == pos => {
                            if turns.clock_due() {
                                let now = Instant::now();
                                let since = *since.get_or_insert(now);
                                if now.duration_since(since) >= REPAIR_INTERVAL {
                                    if self.try_repair(step)? {
                                        stuck = None;
                                        continue;
                                    }
                                    stuck = Some((pos, Some(Instant::now())));
                                }
                            }
                        }
                        _ => stuck = Some((pos, None)),
                    }
                    if !self.wait(&mut turns, spin_for, Some(REPAIR_INTERVAL))? {
                        return Ok(None);
                    }
                    continue;
                }
            };
            return Ok(Some(self.take(len, size, crc)));
        }
    }

    /// Waits for something to change. Returns `false` if the deadline
    /// passed (or the reader was told to stop). Spins first (for the
    /// strategy's spin time), then sleeps on the futex, for at most `cap` at
    /// a time.
    pub(super) fn wait(
        &mut self,
        turns: &mut Turns,
        spin_for: Option<Duration>,
        cap: Option<Duration>,
    ) -> Result<bool> {
        if self.stopping() {
            return Ok(false);
        }
        turns.count += 1;
        let (start, deadline) = turns.start();
        let spinning = match spin_for {
            None => true,
            Some(d) if d.is_zero() => false,
            // Between clock readings, keep spinning.
            Some(d) => !turns.clock_due() || start.elapsed() < d,
        };
        if spinning {
            if turns.clock_due() && deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(false);
            }
            std::hint::spin_loop();
            if spin_for.is_none() && turns.count % 1024 == 0 {
                // A pure spinner still yields now and then, and (with a
                // cap) gets to run its repair checks.
                std::thread::yield_now();
            }
            return Ok(true);
        }
        turns.slept = true;
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(false);
        }
        let inner = &self.log;
        let waiters = inner.waiters();
        let notify = inner.notify();
        // A reader of a log opened read-only may not announce itself (a
        // store): it takes the futex value, re-checks, and naps.
        let ro = inner.read_only;
        // Announce ourselves, then re-check: W2 in `protocol`, pairs with
        // the appender's release of its slot, fence, load of `waiters`.
        if self.sleeper.is_none() && !ro {
            self.sleeper = inner.ctl(|| take_sleeper(inner))??;
        }
        let flag = self.sleeper.as_ref().map(|s| inner.sleeper_flag(s.flag));
        let seq = inner.ctl(|| {
            if ro {
                return notify.load(Ordering::SeqCst);
            }
            let seq = protocol::begin_sleep(waiters, notify);
            // After counting ourselves: a flag set means a count to undo.
            if let Some(f) = flag {
                f.store(1, Ordering::SeqCst);
            }
            seq
        })?;
        let (still_waiting, cap) = match self.step() {
            Ok(Step::Writing { .. }) => (true, cap),
            Ok(Step::Empty) => {
                // At the tail, sleep until woken; below it, the record may
                // be a dead appender's hole: wake in time to repair it.
                let (seg, off) = (&self.seg, self.offset);
                let below = seg.map.guarded(|| protocol::reserved(seg, off))?;
                (true, if below { cap } else { None })
            }
            Ok(Step::NextSegment) => (
                inner.ctl(|| inner.tail_segment().load(Ordering::SeqCst))? <= self.seg.index,
                cap,
            ),
            _ => (false, cap),
        };
        // Not counted among the sleepers, a read-only reader is woken only
        // when another sleeper is: it naps.
        let cap = match cap {
            _ if !ro => cap,
            Some(c) => Some(c.min(READ_ONLY_NAP)),
            None => Some(READ_ONLY_NAP),
        };
        // After announcing ourselves, like the re-check: a `stop` that
        // bumps and wakes the word after setting its flag either is seen
        // here or changes the word we sleep on (`Readiness::drop`).
        let stopping = self.stopping();
        if still_waiting && !stopping {
            let mut timeout = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            if let Some(c) = cap {
                timeout = Some(timeout.map_or(c, |t| t.min(c)));
            }
            // The kernel reads the word itself: a truncated control file
            // makes this EFAULT, not a signal.
            let _ = mapped::wait(notify, seq, timeout);
        }
        if !ro {
            inner.ctl(|| {
                if let Some(f) = flag {
                    f.store(0, Ordering::SeqCst);
                }
                protocol::end_sleep(waiters)
            })?;
        }
        Ok(!stopping && (!still_waiting || deadline.is_none_or(|d| Instant::now() < d)))
    }

    pub(super) fn stopping(&self) -> bool {
        self.stop.as_ref().is_some_and(|s| s.load(Ordering::SeqCst))
    }
}

impl Turns {
    pub(super) fn new(timeout: Option<Duration>) -> Turns {
        Turns {
            timeout,
            start: None,
            count: 0,
            slept: false,
        }
    }

    pub(super) fn start(&mut self) -> (Instant, Option<Instant>) {
        let timeout = self.timeout;
        *self.start.get_or_insert_with(|| {
            let now = Instant::now();
            (now, timeout.map(|t| now + t))
        })
    }

    /// Whether this turn reads the clock (every 16th spin, from the first;
    /// every turn once asleep).
    pub(super) fn clock_due(&self) -> bool {
        self.slept || self.count % 16 == 1
    }
}

/// Takes a free sleeper flag, and discounts the readers that died asleep
/// (their flag set, their lock free). `None` when all flags are taken: the
/// reader then sleeps without one.
pub(super) fn take_sleeper(inner: &crate::storage::control::Inner) -> Result<Option<Sleeper>> {
    let file = inner.lock_file()?;
    let lock_error = |e| LogError::io(inner.dir.join(crate::storage::locks::LOCK_FILE), "lock", e);
    let mut mine = None;
    for k in 0..format::SLEEPERS {
        let byte = format::SLEEPER_LOCK_BASE + k;
        let flag = inner.sleeper_flag(k);
        let busy = flag.load(Ordering::SeqCst) != 0;
        if mine.is_some() && !busy {
            continue;
        }
        if !file.try_lock(byte).map_err(lock_error)? {
            continue; // a live reader holds it
        }
        if busy
            && flag
                .compare_exchange(1, 0, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
        {
            // Its holder died asleep: undo its count.
            let _ = inner
                .waiters()
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |w| w.checked_sub(1));
        }
        if mine.is_none() {
            mine = Some(k);
        } else {
            let _ = file.unlock(byte);
        }
    }
    Ok(mine.map(|flag| Sleeper { _lock: file, flag }))
}
