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

use std::fs::File;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::error::{LogError, Result};
use crate::format::{self, State, Word};
use crate::log::{Inner, Log};
use crate::read::Reader;
use crate::segment::Segment;
use crate::slots;

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

impl Inner {
    pub(crate) fn durable(&self) -> &AtomicU64 {
        crate::words::u64_at(&self.control, format::CONTROL_DURABLE)
    }

    /// The id just past the end of the committed prefix that starts at
    /// `from`, following padding and segment ends.
    pub(crate) fn committed_frontier(&self, from: u64) -> Result<u64> {
        let size = self.header.segment_size;
        let (mut index, mut off) = (from / size, (from % size).max(format::SEGMENT_HEADER_LEN));
        if from % format::RECORD_ALIGN != 0 {
            return Err(bad_durable(self, from));
        }
        let mut seg = match self.open_segment(index)? {
            Some(seg) => seg,
            // Retention removed the segment holding `from`: nothing of it
            // is left to sync; go on from the first segment kept.
            None => match self.first_kept_after(index)? {
                Some(seg) => {
                    (index, off) = (seg.index, format::SEGMENT_HEADER_LEN);
                    seg
                }
                None => return Ok(from),
            },
        };
        loop {
            if off >= size {
                if self.tail_segment().load(Ordering::Acquire) <= index {
                    break;
                }
                match self.open_segment(index + 1)? {
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
    pub(crate) fn first_kept_after(&self, index: u64) -> Result<Option<Segment>> {
        let first = crate::segment::list(&self.dir)?.first().copied();
        match first {
            Some(f) if f > index => self.open_segment(f),
            _ => Ok(None),
        }
    }

    /// Syncs the segments holding `from..to` and publishes `to` as durable.
    fn publish_durable(&self, from: u64, to: u64) -> Result<()> {
        let size = self.header.segment_size;
        let last = (to - 1) / size;
        for index in from / size..=last {
            // A segment that cannot be opened as it should be (truncated,
            // replaced) cannot be proved durable either.
            let opened = self
                .open_segment(index)
                .map_err(|e| self.sync_refused(e.to_string()))?;
            if let Some(seg) = opened {
                if let Err(e) = seg.map.sync_data() {
                    return Err(self.sync_failed(e.to_string()));
                }
                // A file truncated under the log (by another process)
                // holds no record past its end, whatever the mappings
                // show: nothing past it may be called durable. (Checked
                // after the sync: a truncation before it is seen here.)
                let len = seg.map.file_len()?;
                if len < size {
                    return Err(self.sync_refused(format!(
                        "{} was truncated to {len} bytes by another process (segments are {size}): the records past that offset are not in the file",
                        seg.path().display()
                    )));
                }
            }
        }
        self.durable().fetch_max(to, Ordering::AcqRel);
        if let Err(e) = self.control.flush_range(format::CONTROL_DURABLE, 8) {
            return Err(self.sync_failed(e.to_string()));
        }
        Ok(())
    }

    /// The group-commit sequence word in the control file.
    pub(crate) fn sync_seq(&self) -> &crate::protocol::AtomicU32 {
        crate::words::u32_at(&self.control, format::CONTROL_SYNC_SEQ)
    }

    /// The sync-failure flag in the control file.
    pub(crate) fn sync_failure(&self) -> &AtomicU64 {
        crate::words::u64_at(&self.control, format::CONTROL_SYNC_FAILED)
    }

    /// Records a sync failure for every process (see
    /// `format::CONTROL_SYNC_FAILED`) and returns the error to report.
    fn sync_failed(&self, what: String) -> LogError {
        self.sync_failure().store(1, Ordering::SeqCst);
        let _ = self.control.flush_range(format::CONTROL_SYNC_FAILED, 8);
        LogError::SyncFailed {
            path: self.dir.clone(),
            what,
        }
    }

    /// The error of a sync that cannot prove durability because a file of
    /// the log is damaged (truncated, unreadable). Not sticky, unlike
    /// [`sync_failed`](Self::sync_failed): no write-back error was
    /// swallowed, and every later sync meets the same damage until
    /// explicit recovery repairs it.
    pub(crate) fn sync_refused(&self, what: String) -> LogError {
        LogError::SyncFailed {
            path: self.dir.clone(),
            what,
        }
    }

    /// Fails if any sync of this log has failed.
    pub(crate) fn check_sync_failure(&self) -> Result<()> {
        if self.sync_failure().load(Ordering::SeqCst) != 0 {
            return Err(LogError::SyncFailed {
                path: self.dir.clone(),
                what: "an earlier sync of this log failed, in this or another process; \
                       no later sync can prove the data reached the disk (see docs/durability.md)"
                    .into(),
            });
        }
        Ok(())
    }
}

/// The control file's durable position is not a record boundary: written
/// by someone else than this code.
pub(crate) fn bad_durable(inner: &Inner, from: u64) -> LogError {
    let size = inner.header.segment_size;
    LogError::Corrupt {
        path: inner.dir.join(crate::log::CONTROL_FILE),
        id: from,
        offset: format::CONTROL_DURABLE,
        what: format!(
            "durable position {from} is not a record boundary (segments of {size} bytes)"
        ),
    }
}

impl Log {
    /// The durable position: every message with a smaller id is on stable
    /// storage.
    pub fn durable_position(&self) -> u64 {
        self.inner.durable().load(Ordering::Acquire)
    }

    /// Makes every message committed so far durable; returns the new
    /// durable position.
    pub fn sync(&self) -> Result<u64> {
        self.inner.writable("sync")?;
        let d = self.durable_position();
        let target = self.inner.committed_frontier(d)?;
        self.sync_to(target, &self.inner.lock_file()?)
    }

    /// Waits until the durable position reaches `end`, leading a group
    /// commit when no one else is. `lock` is a descriptor of the lock file.
    pub(crate) fn sync_to(&self, end: u64, lock: &File) -> Result<u64> {
        let inner = &self.inner;
        let lock_path = || inner.dir.join(crate::log::LOCK_FILE);
        loop {
            let d = inner.ctl(|| inner.durable().load(Ordering::Acquire))?;
            if d >= end {
                return Ok(d);
            }
            inner.ctl(|| inner.check_sync_failure())??;
            // Lead if no one is leading; otherwise sleep until the leader
            // publishes. Followers sleep together on one futex word, not in
            // a queue on the lock: a queue would hand the lock on, and wake
            // its waiters, one at a time.
            let seq = inner.ctl(|| inner.sync_seq().load(Ordering::Acquire))?;
            if !slots::try_lock(lock, format::SYNC_LOCK_BYTE)
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
                    let frontier = inner
                        .committed_frontier(d)
                        .map_err(|e| inner.sync_refused(e.to_string()))?;
                    if frontier > d {
                        inner.publish_durable(d, frontier)?;
                    }
                    Ok(frontier)
                })
                .and_then(|r| r);
            let _ = slots::unlock(lock, format::SYNC_LOCK_BYTE);
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
            let mut r = Reader::at(self, frontier)?;
            let _ = r.next(Some(Duration::from_millis(50)))?;
        }
    }
}
