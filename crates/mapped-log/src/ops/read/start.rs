//! Where a reader starts: `Start` resolved to a place in a segment, the
//! readers a log makes (`Log::reader`, watchers, named readers resuming)
//! and `Log::last_id`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::{Reader, Start, Step, WaitStrategy};
use crate::error::{LogError, Result};
use crate::format;
use crate::storage::control::Inner;
use crate::storage::segment::Segment;

/// [`Log::reader`](crate::Log::reader).
pub(crate) fn reader(log: &Arc<Inner>, start: Start) -> Result<Reader> {
    let inner = log;
    // On a log opened read-only the reader stores nothing: it naps
    // instead of registering to sleep (`wait`), and reports a dead
    // appender's record instead of repairing it (`try_repair`). To
    // tell a dead appender from a slow one it reads the lock file's
    // locks: a lock file it may not open is an error now, not at the
    // first unfinished record it meets.
    if inner.read_only {
        inner.lock_file_read_only()?;
    }
    let size = inner.header.segment_size;
    let (index, offset) = match start {
        Start::Beginning => (log.first_index()?, format::SEGMENT_HEADER_LEN),
        Start::End => {
            let index = inner.ctl(|| inner.tail_segment().load(Ordering::Acquire))?;
            (index, u64::MAX) // resolved below, once the segment is open
        }
        // An id at offset 0 names the start of its segment (the
        // durable position takes that form at a segment's end).
        Start::Id(id) if id % size == 0 => (id / size, format::SEGMENT_HEADER_LEN),
        Start::Id(id) => (id / size, id % size),
    };
    let seg = match inner.open_segment(index)? {
        Some(seg) => seg,
        None => {
            // The first record of the segment after the tail segment,
            // not made yet: where a reader that finished a segment
            // whose records fill it exactly stands (`position`). Wait
            // at the end of the tail segment instead.
            if offset == format::SEGMENT_HEADER_LEN
                && index > 0
                && index
                    == inner
                        .ctl(|| inner.tail_segment().load(Ordering::Acquire))?
                        .wrapping_add(1)
            {
                if let Some(prev) = inner.open_segment(index - 1)? {
                    return Reader::new(log, prev, size);
                }
            }
            // The id asked for, as given (an id at offset 0 was moved
            // past the segment's header above).
            let id = match start {
                Start::Id(id) => id,
                _ => index.saturating_mul(size).saturating_add(offset.min(size)),
            };
            let first = log.first_index()?;
            if index < first {
                return Err(LogError::Behind {
                    path: inner.dir.clone(),
                    id,
                    oldest: first * size + format::SEGMENT_HEADER_LEN,
                });
            }
            // Between the first segment and the tail: the log says it
            // exists, so it is lost, not yet to come.
            if index <= inner.ctl(|| inner.tail_segment().load(Ordering::Acquire))? {
                return Err(inner.missing_segment(index));
            }
            return Err(LogError::NoSuchId {
                path: inner.dir.clone(),
                id,
            });
        }
    };
    let mut reader = Reader::new(log, seg, format::SEGMENT_HEADER_LEN)?;
    match start {
        Start::Beginning => {}
        Start::End => {
            let tail = reader
                .seg
                .map
                .guarded(|| reader.seg.tail().load(Ordering::Acquire))?;
            reader.offset = tail.clamp(format::SEGMENT_HEADER_LEN, size);
            if reader.offset % format::RECORD_ALIGN != 0 {
                return Err(reader
                    .seg
                    .corrupt(tail, "reservation counter is not a record boundary"));
            }
        }
        Start::Id(id) => reader.seek_within(offset, id)?,
    }
    Ok(reader)
}

/// [`Log::last_id`](crate::Log::last_id).
pub(crate) fn last_id(log: &Arc<Inner>) -> Result<Option<u64>> {
    let inner = log;
    let size = inner.header.segment_size;
    let first = log.first_index()?;
    let mut index = inner.ctl(|| inner.tail_segment().load(Ordering::Acquire))?;
    loop {
        let start = index * size + format::SEGMENT_HEADER_LEN;
        let mut reader = reader(log, Start::Id(start))?;
        let mut last = None;
        while let Some(m) = reader.try_next()? {
            last = Some(m.id());
        }
        if last.is_some() || index <= first {
            return Ok(last);
        }
        index -= 1;
    }
}

impl Reader {
    /// A reader at the record boundary `id`, trusted to be one (the
    /// log's own positions: the durable position, a frontier).
    pub(crate) fn at(log: &Arc<Inner>, id: u64) -> Result<Reader> {
        let size = log.segment_size();
        let (index, offset) = (id / size, (id % size).max(format::SEGMENT_HEADER_LEN));
        let seg = log.open_segment(index)?.ok_or_else(|| LogError::NoSuchId {
            path: log.dir().to_path_buf(),
            id,
        })?;
        if offset % format::RECORD_ALIGN != 0 {
            return Err(LogError::NoSuchId {
                path: log.dir().to_path_buf(),
                id,
            });
        }
        Reader::new(log, seg, offset)
    }

    pub(super) fn new(log: &Arc<Inner>, seg: Segment, offset: u64) -> Result<Reader> {
        let inner = log;
        let cuts_seen = inner.ctl(|| inner.cuts().load(Ordering::Acquire))?;
        Ok(Reader {
            log: log.clone(),
            seg,
            offset,
            resumed_from: None,
            strategy: WaitStrategy::default(),
            name: None,
            sleeper: None,
            check_payloads: true,
            stop: None,
            cuts_seen,
            polled_stuck: None,
            unrepaired: None,
        })
    }

    /// A reader at this one's position that skips payload checksums and
    /// stops waiting once `stop` is set: a readiness watcher.
    pub(crate) fn watcher(&self, stop: Arc<AtomicBool>) -> Result<Reader> {
        let seg = self
            .log
            .open_segment(self.seg.index)?
            .ok_or_else(|| LogError::Behind {
                path: self.log.dir().to_path_buf(),
                id: self.position(),
                oldest: self.log.first_index().unwrap_or(0) * self.seg.size()
                    + format::SEGMENT_HEADER_LEN,
            })?;
        let mut watcher = Reader::new(&self.log, seg, self.offset)?;
        watcher.cuts_seen = self.cuts_seen;
        watcher.check_payloads = false;
        watcher.stop = Some(stop);
        // An event loop's reader: never spin, sleep at once.
        watcher.strategy = WaitStrategy::SpinThenSleep(Duration::ZERO);
        Ok(watcher)
    }

    pub(crate) fn set_name(&mut self, name: String) {
        self.name = Some(name);
    }

    /// A reader at the first record boundary at or after `id`: the next
    /// message that exists, or the end of the log. For named readers whose
    /// saved position lies in a removed range.
    pub(crate) fn at_or_after(log: &Arc<Inner>, id: u64) -> Result<Reader> {
        let inner = log;
        let size = inner.header.segment_size;
        let (first, tail) = (
            log.first_index()?,
            inner.ctl(|| inner.tail_segment().load(Ordering::Acquire))?,
        );
        let index = id / size;
        let mut reader = if index < first {
            reader(log, Start::Beginning)?
        } else if index > tail {
            reader(log, Start::End)?
        } else {
            let seg = inner.expected_segment(index)?;
            let mut reader = Reader::new(log, seg, format::SEGMENT_HEADER_LEN)?;
            let offset = id % size;
            while reader.offset < offset {
                match reader.step()? {
                    Step::Message { size, .. } | Step::Skip(size) => reader.offset += size,
                    _ => break,
                }
            }
            reader
        };
        reader.resumed_from = Some(id);
        Ok(reader)
    }

    pub(crate) fn log(&self) -> &Arc<Inner> {
        &self.log
    }

    /// Walks from the start of the segment to `offset`, which must be a
    /// record boundary.
    pub(super) fn seek_within(&mut self, offset: u64, id: u64) -> Result<()> {
        let no_such = || LogError::NoSuchId {
            path: self.log.dir().to_path_buf(),
            id,
        };
        if offset < format::SEGMENT_HEADER_LEN || offset % format::RECORD_ALIGN != 0 {
            return Err(no_such());
        }
        while self.offset < offset {
            match self.step()? {
                Step::Message { size, .. } | Step::Skip(size) => self.offset += size,
                // Past the committed records: accept only their end.
                _ => break,
            }
        }
        if self.offset != offset {
            return Err(no_such());
        }
        Ok(())
    }
}
