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
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use crate::error::Result;
use crate::format;
use crate::storage::control::Inner;
use crate::storage::segment::Segment;

pub(crate) mod start;
mod step;
mod unfinished;
mod wait;

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
    /// `SIGBUS`; a record rewritten since is [`LogError::Corrupt`](crate::LogError::Corrupt). What
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
    _lock: crate::storage::locks::LockFile,
    flag: u32,
}

impl Reader {
    /// For a named reader whose saved position named no message any more
    /// (it lay in a range that recovery turned into padding or replaced,
    /// or that retention removed): that saved position. The reader
    /// resumed instead at the next message that exists, at
    /// [`position`](Reader::position); the messages between are lost or
    /// removed, which the caller may want to tell its user.
    pub fn resumed_from(&self) -> Option<u64> {
        self.resumed_from
    }

    /// The name of a named reader.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
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
