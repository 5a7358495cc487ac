//! Durability: the durable position and group commit.
//!
//! The log's durable position (`control.durable`) is an id: every record
//! below it is on stable storage. It only ever covers a contiguous prefix of
//! committed records, so that recovery after a power loss can trust
//! everything below it and never has to parse an unsynced record to reach a
//! synced one.
//!
//! To make a record durable an appender waits until the durable position
//! passes it. Whoever holds the sync lock (an OFD lock, released by the
//! kernel if the holder dies) is the leader: it finds the end of the
//! committed prefix, `fdatasync`s the segments up to it, publishes the new
//! durable position and syncs the control file. Appenders that queued on the
//! lock meanwhile usually find their records covered when they get it: one
//! sync serves them all (group commit).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::error::{LogError, Result, SyncFailure};
use crate::format::{self, State, Word};
use crate::ops::read::Reader;
use crate::storage::control::Inner;
use crate::storage::locks::LockFile;
use crate::storage::segment::Segment;

/// When an append's record must be on stable storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// In the page cache when the append returns: survives the death of any
    /// process, not a power loss or kernel crash.
    #[default]
    None,
    /// Synced in the background, at most this long after the append.
    Interval(Duration),
    /// On stable storage when the append returns. Concurrent appenders share
    /// syncs (group commit).
    Sync,
}

/// The id just past the end of the committed prefix that starts at
/// `from`, following padding and segment ends.
pub(crate) fn committed_frontier(inner: &Inner, from: u64) -> Result<u64> {
    let size = inner.header.segment_size;
    let (mut index, mut off) = (from / size, (from % size).max(format::SEGMENT_HEADER_LEN));
    if from % format::RECORD_ALIGN != 0 {
        return Err(bad_durable(inner, from));
    }
    let mut seg = match inner.open_segment(index)? {
        Some(seg) => seg,
        // Retention removed the segment holding `from`: nothing of it
        // is left to sync; go on from the first segment kept.
        None => match first_kept_after(inner, index)? {
            Some(seg) => {
                (index, off) = (seg.index, format::SEGMENT_HEADER_LEN);
                seg
            }
            None => return Ok(from),
        },
    };
    loop {
        if off >= size {
            if inner.tail_segment().load(Ordering::Acquire) <= index {
                break;
            }
            match inner.open_segment(index + 1)? {
                Some(next) => {
                    seg = next;
                    index += 1;
                    off = format::SEGMENT_HEADER_LEN;
                    continue;
                }
                None => break,
            }
        }
        let w = seg.map.guarded(|| seg.word(off).load(Ordering::Acquire))?;
        match Word::decode(w) {
            Some(Word {
                size: s,
                state: State::Committed | State::Padding,
            }) if off + s as u64 <= size => off += s as u64,
            _ => break,
        }
    }
    Ok(index * size + off)
}

/// When segment `index` is missing: the first segment present, if
/// every segment present comes after `index` (retention removed it from
/// the front of the log); `None` otherwise.
pub(crate) fn first_kept_after(inner: &Inner, index: u64) -> Result<Option<Segment>> {
    let first = crate::storage::segment::list(&inner.dir)?.first().copied();
    match first {
        Some(f) if f > index => inner.open_segment(f),
        _ => Ok(None),
    }
}

/// Syncs the segments holding `from..to` and publishes `to` as durable.
pub(crate) fn publish_durable(inner: &Inner, from: u64, to: u64) -> Result<()> {
    let size = inner.header.segment_size;
    let last = (to - 1) / size;
    for index in from / size..=last {
        // A segment that cannot be opened as it should be (truncated,
        // replaced) cannot be proved durable either.
        let opened = inner
            .open_segment(index)
            .map_err(|e| sync_refused(inner, e))?;
        if let Some(seg) = opened {
            if let Err(e) = seg.map.sync_data() {
                return Err(sync_failed(inner, e.into()));
            }
            // A file truncated under the log (by another process)
            // holds no record past its end, whatever the mappings
            // show: nothing past it may be called durable. (Checked
            // after the sync: a truncation before it is seen here.)
            let len = seg.map.file_len()?;
            if len < size {
                return Err(sync_refused(
                    inner,
                    seg.corrupt(
                        len - len % format::RECORD_ALIGN,
                        format!(
                            "truncated to {len} bytes by another process (segments are {size}): the records past that offset are not in the file"
                        ),
                    ),
                ));
            }
        }
    }
    inner.durable().fetch_max(to, Ordering::AcqRel);
    if let Err(e) = inner.control.flush_range(format::CONTROL_DURABLE, 8) {
        return Err(sync_failed(inner, e.into()));
    }
    Ok(())
}

/// Records a sync failure for every process (see
/// `format::CONTROL_SYNC_FAILED`) and returns the error to report.
pub(crate) fn sync_failed(inner: &Inner, error: LogError) -> LogError {
    inner.sync_failure().store(1, Ordering::SeqCst);
    let _ = inner.control.flush_range(format::CONTROL_SYNC_FAILED, 8);
    LogError::SyncFailed {
        path: inner.dir.clone(),
        why: SyncFailure::WriteBack,
        source: Some(Box::new(error)),
    }
}

/// The error of a sync that cannot prove durability because a file of
/// the log is damaged (truncated, unreadable). Not sticky, unlike
/// [`sync_failed`](Self::sync_failed): no write-back error was
/// swallowed, and every later sync meets the same damage until
/// explicit recovery repairs it.
pub(crate) fn sync_refused(inner: &Inner, error: LogError) -> LogError {
    LogError::SyncFailed {
        path: inner.dir.clone(),
        why: SyncFailure::Damaged,
        source: Some(Box::new(error)),
    }
}

/// Fails if any sync of this log has failed.
pub(crate) fn check_sync_failure(inner: &Inner) -> Result<()> {
    if inner.sync_failure().load(Ordering::SeqCst) != 0 {
        return Err(LogError::SyncFailed {
            path: inner.dir.clone(),
            why: SyncFailure::Earlier,
            source: None,
        });
    }
    Ok(())
}

/// The control file's durable position is not a record boundary: written
/// by someone else than this code.
pub(crate) fn bad_durable(inner: &Inner, from: u64) -> LogError {
    let size = inner.header.segment_size;
    LogError::Corrupt {
        path: inner.dir.join(crate::storage::control::CONTROL_FILE),
        id: from,
        offset: format::CONTROL_DURABLE,
        what: format!(
            "durable position {from} is not a record boundary (segments of {size} bytes)"
        ),
    }
}

/// [`Log::durable_position`](crate::Log::durable_position).
pub(crate) fn durable_position(log: &Arc<Inner>) -> u64 {
    log.durable().load(Ordering::Acquire)
}

/// The longest [`wait_durable`] sleeps before it looks again, in
/// milliseconds (100): the durable position can move without a wake-up
/// (restart recovery stores it; a group-commit leader can die between
/// publishing it and waking). Tests lengthen it
/// ([`set_durable_nap_for_tests`]) to tell a wake-up from a look.
static DURABLE_NAP_MS: AtomicU64 = AtomicU64::new(100);

/// Sets how long [`wait_durable`] sleeps at most between looks, for this
/// process. For tests only: with a nap longer than the test's patience,
/// a wait that returns was woken.
#[doc(hidden)]
pub fn set_durable_nap_for_tests(nap: Duration) {
    DURABLE_NAP_MS.store(
        nap.as_millis().min(u64::MAX as u128) as u64,
        Ordering::Relaxed,
    );
}

/// [`Log::wait_durable`](crate::Log::wait_durable): sleeps on `sync_seq`,
/// which every group-commit leader bumps (release) and wakes after it
/// publishes the durable position (section 18 of `docs/format.md`).
pub(crate) fn wait_durable(inner: &Inner, position: u64, timeout: Option<Duration>) -> Result<u64> {
    // A timeout too large to add is no limit.
    let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
    loop {
        // `sync_seq` before the position, as a group-commit follower
        // reads them: a position published after our look bumps `seq`
        // after it, and the futex then does not sleep.
        let seq = inner.ctl(|| inner.sync_seq().load(Ordering::Acquire))?;
        let d = inner.ctl(|| inner.durable().load(Ordering::Acquire))?;
        if d >= position {
            return Ok(d);
        }
        inner.ctl(|| check_sync_failure(inner))??;
        let most = Duration::from_millis(DURABLE_NAP_MS.load(Ordering::Relaxed));
        let nap = match deadline {
            None => most,
            Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
                Some(left) if !left.is_zero() => left.min(most),
                _ => return Ok(d),
            },
        };
        // The kernel reads the word: a truncated control file makes the
        // wait fail (EFAULT), never a signal; the next look reports it.
        let _ = mapped::wait(inner.sync_seq(), seq, Some(nap));
    }
}

/// [`Log::sync`](crate::Log::sync).
pub(crate) fn sync(log: &Arc<Inner>) -> Result<u64> {
    log.writable("sync")?;
    let d = crate::ops::sync::durable_position(log);
    let target = committed_frontier(log, d)?;
    sync_to(log, target, &log.lock_file()?)
}

/// Waits until the durable position reaches `end`, leading a group
/// commit when no one else is. `lock` is a descriptor of the lock file.
pub(crate) fn sync_to(log: &Arc<Inner>, end: u64, lock: &LockFile) -> Result<u64> {
    let inner = log;
    let lock_path = || inner.dir.join(crate::storage::locks::LOCK_FILE);
    loop {
        let d = inner.ctl(|| inner.durable().load(Ordering::Acquire))?;
        if d >= end {
            return Ok(d);
        }
        inner.ctl(|| check_sync_failure(inner))??;
        // Lead if no one is leading; otherwise sleep until the leader
        // publishes. Followers sleep together on one futex word, not in
        // a queue on the lock: a queue would hand the lock on, and wake
        // its waiters, one at a time.
        let seq = inner.ctl(|| inner.sync_seq().load(Ordering::Acquire))?;
        if !lock
            .try_lock(format::SYNC_LOCK_BYTE)
            .map_err(|e| LogError::io(lock_path(), "lock", e))?
        {
            // The leader publishes the durable position, then bumps
            // `seq` (release): we read `seq`, then the position
            // (acquire). If we miss the position, the futex sees the
            // bumped `seq` and does not sleep. The timeout bounds the
            // wait should the leader die between the two.
            let d = inner.ctl(|| inner.durable().load(Ordering::Acquire))?;
            if d >= end {
                return Ok(d);
            }
            let _ = mapped::wait(inner.sync_seq(), seq, Some(Duration::from_millis(10)));
            continue;
        }
        // Let appenders that are ready to run (woken by the last lead,
        // waiting for a CPU) commit before we take the frontier: their
        // records then share this sync instead of waiting for the next.
        // With nothing else to run, this returns at once.
        std::thread::yield_now();
        let led = inner
            .ctl(|| -> Result<u64> {
                let d = inner.durable().load(Ordering::Acquire);
                if d >= end {
                    return Ok(d);
                }
                // A segment that cannot be walked (truncated,
                // replaced) cannot be proved durable.
                let frontier = committed_frontier(inner, d).map_err(|e| sync_refused(inner, e))?;
                if frontier > d {
                    publish_durable(inner, d, frontier)?;
                }
                Ok(frontier)
            })
            .and_then(|r| r);
        let _ = lock.unlock(format::SYNC_LOCK_BYTE);
        inner.ctl(|| {
            inner.sync_seq().fetch_add(1, Ordering::Release);
            let _ = mapped::wake_all(inner.sync_seq());
        })?;
        let frontier = led?;
        if frontier >= end {
            return Ok(frontier);
        }
        // A record before ours is unfinished: wait for it (repairing it
        // if its appender died), then lead again.
        let mut r = Reader::at(log, frontier)?;
        let _ = r.next(Some(Duration::from_millis(50)))?;
    }
}
