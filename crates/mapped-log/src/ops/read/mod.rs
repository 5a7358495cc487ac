//! Reading: every reader sees every committed message, in one order.
//!
//! A reader follows records from a position: committed ones are checked
//! (bounds, length, checksum) and handed out as a borrow of the mapping;
//! padding is skipped; at a record still being written, or at the tail, it
//! waits: it spins briefly, then sleeps on the control file's futex word,
//! and appenders wake it only when a reader sleeps. A record that stays
//! unfinished because its appender died is repaired (see `repair.rs`), so a
//! dead appender blocks readers for a bounded time only.

#![allow(unsafe_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::error::{LogError, Result};
use crate::format;
use crate::ops::repair::{self, Gap};
use crate::protocol::{self, Look};
use crate::storage::control::Inner;
use crate::storage::segment::Segment;

/// Where a reader starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// The oldest message still in the log.
    Beginning,
    /// After the last message reserved so far: only new messages.
    End,
    /// The message with this id.
    Id(u64),
}

/// How a reader waits for the next message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitStrategy {
    /// Spin on the memory without sleeping: lowest latency, one busy core.
    Spin,
    /// Spin for about this long, then sleep on a futex: no CPU while idle.
    SpinThenSleep(Duration),
}

impl Default for WaitStrategy {
    fn default() -> Self {
        WaitStrategy::SpinThenSleep(Duration::from_micros(50))
    }
}

/// How often a reader waiting on an unfinished record checks whether its
/// appender died.
const REPAIR_INTERVAL: Duration = Duration::from_millis(10);

/// How long a sleeping reader of a log opened read-only sleeps at a time.
/// It cannot count itself among the sleepers (a store), so no appender
/// wakes it on purpose: it looks again after each nap.
pub(crate) const READ_ONLY_NAP: Duration = Duration::from_millis(10);

/// How long a reader of a log opened read-only waits at a record it has
/// found to be a dead appender's before it fails with
/// [`LogError::Unrepaired`]: time for a reader that may write the log
/// (which repairs after [`REPAIR_INTERVAL`]) to repair it first.
const UNREPAIRED_GRACE: Duration = Duration::from_millis(100);

/// Waiting turns in one `next` call after which the reader prefetches the
/// line after the one it polls (see `Reader::next`).
const PREFETCH_AFTER: u32 = 16;

/// A message borrowed from the log's mapping; valid until the reader moves.
#[derive(Debug)]
pub struct Message<'a> {
    id: u64,
    payload: &'a [u8],
    /// Where the payload is, and the checksum it was checked against, for
    /// [`Message::copy_to`].
    seg: &'a Segment,
    start: u64,
    crc: u32,
}

impl<'a> Message<'a> {
    /// The message's id.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Its payload, checked against its checksum before it was handed out:
    /// a borrow of the shared mapping itself, not a copy (zero-copy).
    ///
    /// **Whom this trusts.** Every process that may write the log's files
    /// (whoever may write its directory, `docs/safety.md`): honest
    /// `mapped-log` code never writes a committed record again nor
    /// truncates a segment, so the bytes stay what was checked while the
    /// borrow lives. A process that does (a hostile or buggy writer, a
    /// `truncate` of a segment) can change the bytes under the borrow, or
    /// make reading them raise `SIGBUS`, which kills the reader. Readers
    /// that cannot trust every such writer use [`copy_to`](Self::copy_to).
    pub fn payload(&self) -> &'a [u8] {
        self.payload
    }

    /// Copies the payload into `buf` (replacing its contents) and checks
    /// the copy against the checksum the record was checked against: a
    /// read that trusts no other process. The copy runs under
    /// `Mapping::guarded`, so a segment truncated since the check is an
    /// error (the mapping layer's fault error, naming the file), never
    /// `SIGBUS`; a record rewritten since is [`LogError::Corrupt`]. What
    /// `buf` holds after `Ok` is exactly the payload that was committed,
    /// whatever any process does to the file meanwhile.
    pub fn copy_to(&self, buf: &mut Vec<u8>) -> Result<()> {
        buf.clear();
        buf.resize(self.payload.len(), 0);
        self.seg.map.read_at(self.start, buf)?;
        if format::checksum(buf) != self.crc {
            let offset = self.start - format::RECORD_HEADER_LEN;
            return Err(self.seg.corrupt(
                offset,
                "the record changed after its checksum was checked (rewritten by another process)",
            ));
        }
        Ok(())
    }
}

/// What the record at the reader's position says.
enum Step {
    Message {
        len: u32,
        size: u64,
        crc: u32,
    },
    Skip(u64),
    NextSegment,
    /// Recovery cut the log (the count is now `cuts`), last at `id`: if we
    /// stand past it, appends after the cut land below us.
    Cut {
        cuts: u64,
        id: u64,
    },
    /// An all-zero header word: the end of the log so far, or a record
    /// reserved below the tail and not yet announced. Which of the two is
    /// asked only when it matters (before a repair or a sleep), so that a
    /// reader waiting here does not pull the tail counter's cache line
    /// away from the appenders at every turn.
    Empty,
    /// A record is being written by `slot`.
    Writing {
        word: u64,
        slot: u32,
    },
}

/// Reads messages from a log, in order.
#[derive(Debug)]
pub struct Reader {
    log: Arc<Inner>,
    seg: Segment,
    offset: u64,
    strategy: WaitStrategy,
    name: Option<String>,
    /// A named reader's saved position that named no message any more,
    /// when it resumed at the next one that exists instead.
    resumed_from: Option<u64>,
    /// The sleeper flag this reader holds, taken at its first sleep.
    sleeper: Option<Sleeper>,
    /// Whether payloads are checked against their checksums. Only a
    /// readiness watcher, which hands nothing out, skips it.
    check_payloads: bool,
    /// Set to make a waiting reader return (a readiness watcher's stop).
    stop: Option<Arc<AtomicBool>>,
    /// The log's cut count when we last looked (see [`Step::Cut`]).
    cuts_seen: u64,
    /// Where `try_next` found no committed record, and since when (taken
    /// at the second call there).
    polled_stuck: Option<(u64, Option<Instant>)>,
    /// On a log opened read-only: where the reader found a dead
    /// appender's unfinished record (its position and the cut count then:
    /// a reader comes back to a position only through a cut), and when
    /// first.
    unrepaired: Option<(u64, u64, Instant)>,
}

/// A sleeper flag of the control file, held through a lock of our own: a
/// reader killed in its sleep leaves its flag set and its lock released,
/// which lets the next reader to take a flag discount it from `waiters`.
/// (Without this, every later append would make a needless wake call.)
#[derive(Debug)]
struct Sleeper {
    _lock: std::fs::File,
    flag: u32,
}

/// [`Log::reader`].
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

/// [`Log::last_id`].
pub(crate) fn last_id(log: &Arc<Inner>) -> Result<Option<u64>> {
    let inner = log;
    let size = inner.header.segment_size;
    let first = log.first_index()?;
    let mut index = inner.ctl(|| inner.tail_segment().load(Ordering::Acquire))?;
    loop {
        let start = index * size + format::SEGMENT_HEADER_LEN;
        let mut reader = crate::ops::read::reader(log, Start::Id(start))?;
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

    fn new(log: &Arc<Inner>, seg: Segment, offset: u64) -> Result<Reader> {
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

    /// For a named reader whose saved position named no message any more
    /// (it lay in a range that recovery turned into padding or replaced,
    /// or that retention removed): that saved position. The reader
    /// resumed instead at the next message that exists, at
    /// [`position`](Reader::position); the messages between are lost or
    /// removed, which the caller may want to tell its user.
    pub fn resumed_from(&self) -> Option<u64> {
        self.resumed_from
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
            crate::ops::read::reader(log, Start::Beginning)?
        } else if index > tail {
            crate::ops::read::reader(log, Start::End)?
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

    /// The name of a named reader.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Stores a named reader's position durably: after a restart it resumes
    /// at the first message not yet returned. Call it after processing
    /// (at-least-once delivery). Fails for an unnamed reader.
    pub fn save(&self) -> Result<()> {
        match &self.name {
            Some(name) => {
                crate::ops::cursor::save_reader_position(&self.log, name, self.position())
            }
            None => Err(LogError::BadName {
                path: self.log.dir().to_path_buf(),
                name: String::new(),
            }),
        }
    }

    /// Sets how [`next`](Self::next) waits.
    pub fn set_wait_strategy(&mut self, strategy: WaitStrategy) {
        self.strategy = strategy;
    }

    /// The id the next message will have, or the position the reader waits
    /// at.
    pub fn position(&self) -> u64 {
        if self.offset >= self.seg.size() {
            // Past the last record of the segment: the next one starts the
            // next segment.
            return (self.seg.index + 1) * self.seg.size() + format::SEGMENT_HEADER_LEN;
        }
        self.seg.id_of(self.offset)
    }

    /// Walks from the start of the segment to `offset`, which must be a
    /// record boundary.
    fn seek_within(&mut self, offset: u64, id: u64) -> Result<()> {
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

    /// Examines the record at the current position. Never blocks.
    fn step(&self) -> Result<Step> {
        let step = self.step_at();
        // After examining the record: a record committed after a cut is
        // seen only with the cut (its appender started after recovery).
        let inner = &self.log;
        let seen = self.cuts_seen;
        let cut = inner.ctl(|| {
            let cuts = inner.cuts().load(Ordering::Acquire);
            (cuts != seen).then(|| (cuts, lowest_cut(inner, seen, cuts)))
        })?;
        match cut {
            Some((cuts, Some(id))) => Ok(Step::Cut { cuts, id }),
            Some((cuts, None)) => Err(LogError::CutsMissed {
                path: self.log.dir().to_path_buf(),
                id: self.position(),
                missed: cuts.checked_sub(seen).unwrap_or(u64::MAX),
                kept: format::CUT_RING,
            }),
            None => step,
        }
    }

    /// Moves back to a cut below our position; takes note of the cut.
    fn follow_cut(&mut self, cuts: u64, id: u64) -> Result<()> {
        self.cuts_seen = cuts;
        if id >= self.position() {
            return Ok(());
        }
        let size = self.seg.size();
        // An id at a segment boundary names the end of the segment before.
        let (index, offset) = if id % size == 0 && id > 0 {
            (id / size - 1, size)
        } else {
            (id / size, id % size)
        };
        if offset < format::SEGMENT_HEADER_LEN || offset % format::RECORD_ALIGN != 0 {
            return Err(self.seg.corrupt(
                self.offset,
                format!("the last cut of the log names {id}, not a record boundary"),
            ));
        }
        if index != self.seg.index {
            let seg = self
                .log
                .open_segment(index)?
                .ok_or_else(|| LogError::NoSuchId {
                    path: self.log.dir().to_path_buf(),
                    id,
                })?;
            crate::threads::background::retire(std::mem::replace(&mut self.seg, seg));
        }
        self.offset = offset;
        Ok(())
    }

    /// Examines the record at the current position, apart from cuts.
    fn step_at(&self) -> Result<Step> {
        let seg = &self.seg;
        let off = self.offset;
        let cap = seg.size();
        if off >= cap {
            return Ok(Step::NextSegment);
        }
        let max = self.log.max_message();
        let check = self.check_payloads;
        // Everything read from the mapping is untrusted: a peer may have
        // written anything, or truncated the file (hence `guarded`). Only
        // plain words come out of the guarded access; errors are made
        // after it, off the hot path.
        let (look, meta, computed) = seg.map.guarded(|| {
            let look = protocol::look(seg, off);
            let Look::Committed { size } = look else {
                return (look, 0, None);
            };
            // Word 1, after word 0's acquire load: the commit's release
            // store published it. (An atomic load, in the host's order like
            // every word: no nested guard.)
            let meta = seg.word(off + 8).load(Ordering::Relaxed);
            let (len, _) = format::decode_meta(meta);
            if !check || len > max || !format::committed_fits(off, size as u32, len, cap) {
                return (look, meta, None);
            }
            // SAFETY: in bounds (checked just above); read under `guarded`;
            // the bytes are untrusted, and only checked.
            let payload = unsafe { seg.map.slice(off + format::RECORD_HEADER_LEN, len as usize) };
            (look, meta, payload.ok().map(format::checksum))
        })?;
        Ok(match look {
            Look::Invalid { word } => {
                return Err(seg.corrupt(off, format!("invalid record header word {word:#018x}")));
            }
            Look::Overrun { size } => {
                return Err(seg.corrupt(
                    off,
                    format!("record of {size} bytes runs past the segment's end"),
                ));
            }
            Look::Empty => Step::Empty,
            Look::Writing { word, slot, .. } => Step::Writing { word, slot },
            Look::Padding { size } => Step::Skip(size),
            Look::Committed { size } => {
                let (len, crc) = format::decode_meta(meta);
                if len > max {
                    return Err(seg.corrupt(
                        off,
                        format!("payload length {len} exceeds the log's maximum of {max}"),
                    ));
                }
                if !format::committed_fits(off, size as u32, len, cap) {
                    return Err(seg.corrupt(
                        off,
                        format!("payload length {len} does not match record size {size}"),
                    ));
                }
                match computed {
                    Some(c) if c != crc => {
                        return Err(seg.corrupt(
                            off,
                            format!("checksum mismatch (stored {crc:#010x}, computed {c:#010x})"),
                        ));
                    }
                    None if check => {
                        return Err(seg.corrupt(off, "payload outside the segment's mapping"));
                    }
                    _ => Step::Message { len, size, crc },
                }
            }
        })
    }

    /// The next message if one is committed, without waiting.
    ///
    /// A record left unfinished by a dead appender is repaired here too,
    /// once calls have found it unfinished for `REPAIR_INTERVAL` (10 ms),
    /// so a reader that only polls is not stopped there for good.
    pub fn try_next(&mut self) -> Result<Option<Message<'_>>> {
        loop {
            let step = self.step()?;
            match step {
                Step::Message { len, size, crc } => return Ok(Some(self.take(len, size, crc))),
                Step::Skip(size) => self.offset += size,
                Step::Cut { cuts, id } => self.follow_cut(cuts, id)?,
                Step::NextSegment => {
                    if !self.advance_segment()? {
                        return Ok(None);
                    }
                }
                Step::Empty | Step::Writing { .. } => {
                    // The clock is read only here, at a record not yet
                    // committed, from the second call at one position: a
                    // poller that finds a new message at each call never
                    // reads it.
                    let pos = self.position();
                    let since = match &mut self.polled_stuck {
                        Some((p, since)) if *p == pos => since,
                        other => {
                            *other = Some((pos, None));
                            return Ok(None);
                        }
                    };
                    let now = Instant::now();
                    if now.duration_since(*since.get_or_insert(now)) < REPAIR_INTERVAL {
                        return Ok(None);
                    }
                    if !self.try_repair(step)? {
                        self.polled_stuck = Some((pos, Some(now)));
                        return Ok(None);
                    }
                    self.polled_stuck = None;
                }
            }
        }
    }

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

    /// Hands out the message at the current position and moves past it.
    fn take(&mut self, len: u32, size: u64, crc: u32) -> Message<'_> {
        let off = self.offset;
        self.offset += size;
        let id = self.seg.id_of(off);
        // SAFETY: `step` checked bounds and checksum just now; the record
        // is committed, and no honest process writes a committed record
        // again (retention deletes whole files, which stay mapped). See
        // docs/safety.md on borrows of shared bytes.
        let payload = unsafe {
            self.seg
                .map
                .slice(off + format::RECORD_HEADER_LEN, len as usize)
        }
        .expect("checked by step");
        Message {
            id,
            payload,
            seg: &self.seg,
            start: off + format::RECORD_HEADER_LEN,
            crc,
        }
    }

    /// Moves to the next segment if it has been published.
    fn advance_segment(&mut self) -> Result<bool> {
        let inner = &self.log;
        let next = self.seg.index + 1;
        if inner.ctl(|| inner.tail_segment().load(Ordering::Acquire))? < next {
            return Ok(false);
        }
        match inner.open_segment(next)? {
            Some(seg) => {
                // The old mapping is unmapped off this path.
                crate::threads::background::retire(std::mem::replace(&mut self.seg, seg));
                self.offset = format::SEGMENT_HEADER_LEN;
                Ok(true)
            }
            None => {
                let first = self.log.first_index()?;
                if first > next {
                    return Err(LogError::Behind {
                        path: inner.dir.clone(),
                        id: self.position(),
                        oldest: first * self.seg.size() + format::SEGMENT_HEADER_LEN,
                    });
                }
                Err(inner.missing_segment(next))
            }
        }
    }

    /// Repairs the unfinished record at the position if its appender died.
    /// Runs under `guarded`, like `step`: the repair reads (and pads) this
    /// segment's words, which another process may have truncated away.
    fn try_repair(&mut self, step: Step) -> Result<bool> {
        // A zero word below the durable position is no appender's hole:
        // the durable position never passes an unfinished record, so the
        // synced records here were zeroed (damage). Padding it would lose
        // them silently.
        if matches!(step, Step::Empty) {
            let inner = &self.log;
            let durable = inner.ctl(|| inner.durable().load(Ordering::Acquire))?;
            // The word again, after the durable position (acquire): a
            // record committed since the step, and synced past since, is
            // seen now (its commit store happened before the sync leader's
            // walk, which happened before its store of the position).
            let still_zero = || {
                self.seg
                    .map
                    .guarded(|| self.seg.word(self.offset).load(Ordering::Acquire) == 0)
            };
            if self.seg.id_of(self.offset) < durable && still_zero()? {
                return Err(self.seg.corrupt(
                    self.offset,
                    format!(
                        "zeros below the durable position {durable}: synced records were lost here (`mapped log recover` shows what it would do)"
                    ),
                ));
            }
        }
        if self.log.read_only {
            self.check_unrepaired(step)?;
            return Ok(false);
        }
        let inner = &self.log;
        let seg = &self.seg;
        match step {
            // Repairs touch the slots in the control file too.
            Step::Writing { word, slot } => inner.ctl(|| {
                seg.map
                    .guarded(|| repair::check_writer(inner, seg, self.offset, word, slot))
            })??,
            // At the tail (`NotReserved`) there is nothing to repair.
            Step::Empty => Ok(matches!(
                inner.ctl(|| {
                    seg.map
                        .guarded(|| repair::pad_gap(inner, seg, self.offset, None))
                })???,
                Gap::Padded | Gap::Filled
            )),
            _ => Ok(false),
        }
    }

    /// A reader of a log opened read-only, stuck at an unfinished record:
    /// fails with [`LogError::Unrepaired`] once the record has been a dead
    /// appender's for [`UNREPAIRED_GRACE`] (a reader that may write would
    /// have padded it by then).
    fn check_unrepaired(&mut self, step: Step) -> Result<()> {
        let writing = match step {
            Step::Writing { slot, word } => Some((slot, word)),
            Step::Empty => None,
            _ => return Ok(()),
        };
        let (inner, seg, off) = (&self.log, &self.seg, self.offset);
        let dead = inner.ctl(|| {
            seg.map
                .guarded(|| repair::unrepaired(inner, seg, off, writing))
        })???;
        let (pos, cuts) = (self.position(), self.cuts_seen);
        if !dead {
            self.unrepaired = None;
            return Ok(());
        }
        let now = Instant::now();
        match self.unrepaired {
            Some((p, c, since)) if (p, c) == (pos, cuts) => {
                if now.duration_since(since) >= UNREPAIRED_GRACE {
                    return Err(LogError::Unrepaired {
                        path: inner.dir.clone(),
                        id: pos,
                    });
                }
            }
            _ => self.unrepaired = Some((pos, cuts, now)),
        }
        Ok(())
    }

    /// Waits for something to change. Returns `false` if the deadline
    /// passed (or the reader was told to stop). Spins first (for the
    /// strategy's spin time), then sleeps on the futex, for at most `cap` at
    /// a time.
    fn wait(
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

    fn stopping(&self) -> bool {
        self.stop.as_ref().is_some_and(|s| s.load(Ordering::SeqCst))
    }
}

/// The lowest of the cuts numbered `seen..cuts` (section 15 of
/// `docs/format.md`), from the control file's cut ring; `None` if more
/// were made than the ring keeps, or if the count went backwards. Runs
/// inside the caller's guarded access to the control file.
///
/// Recovery stores a cut's ring entry before it bumps the count, so the
/// entries of the cuts counted are there; they could be overwritten only
/// by `CUT_RING` more recoveries between our loads. An entry of 0 (no cut
/// has id 0) is one written by an earlier build, which kept only
/// `last_cut`: that stands in for it.
fn lowest_cut(inner: &crate::storage::control::Inner, seen: u64, cuts: u64) -> Option<u64> {
    let missed = cuts.checked_sub(seen)?;
    if missed > format::CUT_RING {
        return None;
    }
    let last = inner.last_cut().load(Ordering::Acquire);
    (seen..cuts)
        .map(|k| match inner.cut_ring(k).load(Ordering::Acquire) {
            0 => last,
            id => id,
        })
        .min()
}

/// The waiting turns of one `next` call, and its clock, started lazily:
/// a call that finds a message at once never reads the clock.
struct Turns {
    timeout: Option<Duration>,
    /// When waiting began, and the deadline.
    start: Option<(Instant, Option<Instant>)>,
    count: u32,
    /// Whether the reader has gone to sleep in this call: from then on
    /// every turn reads the clock (a turn is a sleep, not a spin).
    slept: bool,
}

impl Turns {
    fn new(timeout: Option<Duration>) -> Turns {
        Turns {
            timeout,
            start: None,
            count: 0,
            slept: false,
        }
    }

    fn start(&mut self) -> (Instant, Option<Instant>) {
        let timeout = self.timeout;
        *self.start.get_or_insert_with(|| {
            let now = Instant::now();
            (now, timeout.map(|t| now + t))
        })
    }

    /// Whether this turn reads the clock (every 16th spin, from the first;
    /// every turn once asleep).
    fn clock_due(&self) -> bool {
        self.slept || self.count % 16 == 1
    }
}

/// Takes a free sleeper flag, and discounts the readers that died asleep
/// (their flag set, their lock free). `None` when all flags are taken: the
/// reader then sleeps without one.
fn take_sleeper(inner: &crate::storage::control::Inner) -> Result<Option<Sleeper>> {
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
        if !crate::storage::locks::try_lock(&file, byte).map_err(lock_error)? {
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
            let _ = crate::storage::locks::unlock(&file, byte);
        }
    }
    Ok(mine.map(|flag| Sleeper { _lock: file, flag }))
}
