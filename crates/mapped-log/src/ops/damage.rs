//! Damage to a log's files: found (`verify`, `stat`), and repaired by
//! explicit recovery without losing what can be kept.
//!
//! A process crash needs none of this: dead appenders' records are
//! repaired as they are met (`repair.rs`). Damage is what happens to the
//! files themselves: a segment deleted by a cleaner, truncated, replaced by
//! an older copy or by another log's, bytes flipped on disk. The control
//! file says which segments the log holds (`first_segment` to
//! `tail_segment`); each segment's header names its log and its index; each
//! record is checksummed. So a survey can tell, for every id range, whether
//! its messages are there, and name what is wrong where they are not.
//!
//! Recovery then keeps everything valid: a damaged range of records
//! becomes padding (the records after it keep their ids), a missing or
//! unreadable segment gets a placeholder (one padding record, flagged), a
//! file that leaves the log is moved into `quarantine/`, never deleted, and
//! every segment file changed is first copied there. The rules are in
//! `docs/format.md`, section 19.3.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::error::{LogError, Result};
use crate::format::{self, SegmentHeader, State, Word};
use crate::protocol::{self, GapEnd};
use crate::storage::control::Inner;
use crate::storage::segment::{self, Segment};

/// What kind of damage a [`Problem`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProblemKind {
    /// A segment file between the log's first segment and its tail
    /// segment is missing.
    MissingSegment,
    /// A segment file cannot be used as it is: wrong size, bad header,
    /// another log's, or another index's.
    BadSegment,
    /// A segment file that is not part of the log: below its first
    /// segment, or past its tail segment.
    ExtraSegment,
    /// A segment before the tail segment whose records end before the
    /// segment does: its last records are missing (truncated, or replaced
    /// by an older copy).
    ShortSegment,
    /// Records that fail their checks (header word, length, checksum).
    DamagedRecords,
    /// The tail segment's records end below the durable position: synced
    /// messages are missing.
    BelowDurable,
    /// The tail segment's reservation counter is below the end of its
    /// records: appends would land on them (the appender refuses, so the
    /// log cannot be appended to).
    TailCounter,
}

/// A problem with a log's files. Its `Display` names the file, the ids
/// affected, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// What kind of damage.
    pub kind: ProblemKind,
    /// The file concerned (for a run of missing segments, the first).
    pub segment: PathBuf,
    /// The first id affected (for a bad record, its id).
    pub id: u64,
    /// The id after the last one affected: the ids `id..end` are missing
    /// or unreadable. Equal to `id` when no message is affected (a stray
    /// file outside the log).
    pub end: u64,
    /// The offset in the segment file of the first bad record, if the
    /// problem is inside a segment.
    pub offset: Option<u64>,
    /// What is wrong.
    pub what: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let path = self.segment.display();
        match (self.kind, self.offset) {
            (ProblemKind::DamagedRecords, Some(offset)) => write!(
                f,
                "{path}: corrupt record at id {} (segment offset {offset}): {}; ids {} to {} unreadable",
                self.id, self.what, self.id, self.end
            ),
            _ if self.end > self.id => {
                write!(f, "{path}: {} (ids {} to {})", self.what, self.id, self.end)
            }
            _ => write!(f, "{path}: {}", self.what),
        }
    }
}

/// What a survey found in one segment's records.
#[derive(Debug, Default)]
pub(crate) struct Walk {
    pub(crate) messages: u64,
    pub(crate) payload_bytes: u64,
    pub(crate) first_id: Option<u64>,
    pub(crate) last_id: Option<u64>,
    /// Where the records end: the segment's size if they fill it.
    pub(crate) end: u64,
    /// Damaged ranges `(start, end, what)`: each ends at the next record
    /// that verifies, or past the last non-zero word of the segment.
    pub(crate) damaged: Vec<(u64, u64, String)>,
    /// The reservation counter, as read.
    pub(crate) tail: u64,
    /// Records dead appenders left unfinished, `(start, end, word)`, that
    /// a reader would pad: a hole (word 0), or a `Writing` record of a
    /// dead slot (as format version 1 wrote).
    pub(crate) holes: Vec<(u64, u64, u64)>,
}

/// A segment file as the survey found it.
#[derive(Debug)]
pub(crate) enum FileState {
    Missing,
    /// Valid; a placeholder if its header says so.
    Ok {
        seg: Segment,
        placeholder: bool,
    },
    /// Its header is this log's and this index's, but its length is not
    /// the segment size: recovery can give it back its size and keep the
    /// records it still holds.
    WrongLength {
        len: u64,
    },
    /// Unusable: why.
    Bad(String),
}

/// Looks at segment file `index` without trusting it.
pub(crate) fn file_state(inner: &Inner, index: u64) -> Result<FileState> {
    match inner.open_segment(index) {
        Ok(Some(seg)) => {
            let flags = header_flags(&seg)?;
            Ok(FileState::Ok {
                seg,
                placeholder: flags & format::SEGMENT_PLACEHOLDER != 0,
            })
        }
        Ok(None) => Ok(FileState::Missing),
        Err(LogError::NotALog { why, .. }) => {
            // A file of the wrong length whose header is right keeps its
            // records: tell it apart.
            let path = inner.dir.join(segment::file_name(index));
            match header_of(&path) {
                Ok((h, len))
                    if h.index == index
                        && h.log_id == inner.header.log_id
                        && h.segment_size == inner.header.segment_size
                        && len != inner.header.segment_size =>
                {
                    Ok(FileState::WrongLength { len })
                }
                _ => Ok(FileState::Bad(why.to_string())),
            }
        }
        // Unreadable (permissions, an I/O error): unusable as it is.
        Err(e @ (LogError::Io { .. } | LogError::Mapped(_))) => Ok(FileState::Bad(e.to_string())),
        Err(e) => Err(e),
    }
}

/// The decoded header and the length of a segment file, read with plain
/// reads (a file shorter than its header cannot be mapped usefully).
pub(crate) fn header_of(path: &Path) -> std::io::Result<(SegmentHeader, u64)> {
    let mut f = File::open(path)?;
    let len = f.metadata()?.len();
    let mut raw = [0u8; 64];
    f.read_exact(&mut raw)?;
    SegmentHeader::decode(&raw)
        .map(|h| (h, len))
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))
}

/// The flags of a valid segment's header.
fn header_flags(seg: &Segment) -> Result<u32> {
    let mut b = [0u8; 4];
    seg.map.read_at(format::SEGMENT_FLAGS, &mut b)?;
    Ok(u32::from_le_bytes(b))
}

/// Whether the committed record at `off` verifies: its length matches its
/// size, it fits, its payload is at most `max_message` bytes and its
/// checksum matches. `Ok(len)` if it does; else what is wrong.
fn check_committed(
    seg: &Segment,
    off: u64,
    size: u32,
    max_message: u32,
) -> Result<std::result::Result<u32, String>> {
    let cap = seg.size();
    let mut meta = [0u8; 8];
    seg.map.read_at(off + 8, &mut meta)?;
    let (len, crc) = format::decode_meta(u64::from_le_bytes(meta));
    if !format::committed_fits(off, size, len, cap) {
        return Ok(Err(format!(
            "payload length {len} does not match record size {size}"
        )));
    }
    if len > max_message {
        return Ok(Err(format!(
            "payload length {len} exceeds the log's maximum message of {max_message}"
        )));
    }
    let mut payload = vec![0u8; len as usize];
    seg.map
        .read_at(off + format::RECORD_HEADER_LEN, &mut payload)?;
    let computed = format::checksum(&payload);
    if computed != crc {
        return Ok(Err(format!(
            "checksum mismatch (stored {crc:#010x}, computed {computed:#010x})"
        )));
    }
    Ok(Ok(len))
}

/// The next offset at or after `from` where a committed record verifies
/// (the resynchronisation rule of `docs/format.md` section 19.3), if any.
/// Each candidate's checksum costs its payload's length, which hostile
/// bytes can make quadratic: `budget` bounds the bytes checked in one
/// segment, and once it is spent no further record is trusted there (the
/// rest of the segment counts as damaged).
fn resync(seg: &Segment, from: u64, max_message: u32, budget: &mut u64) -> Result<Option<u64>> {
    let cap = seg.size();
    let mut at = from;
    while at + format::RECORD_HEADER_LEN <= cap {
        let w = seg.map.guarded(|| seg.word(at).load(Ordering::Acquire))?;
        if let Some(Word {
            size,
            state: State::Committed,
        }) = Word::decode(w)
        {
            if at + size as u64 <= cap {
                if *budget < size as u64 {
                    return Ok(None);
                }
                *budget -= size as u64;
                if check_committed(seg, at, size, max_message)?.is_ok() {
                    return Ok(Some(at));
                }
            }
        }
        at += format::RECORD_ALIGN;
    }
    Ok(None)
}

/// Bytes of checksums a survey may compute while resynchronising in one
/// segment: 16 times the segment, far more than honest damage needs.
const RESYNC_BUDGET_SEGMENTS: u64 = 16;

/// Where the valid records of a segment file `len` bytes long (shorter
/// than `cap`, its header intact) end: the end of the last record that
/// lies wholly in the file and passes its checks, following records from
/// 128 over padding and committed records, and past anything else (a
/// damaged record, a dead appender's hole) to the next record whose
/// checksum verifies, as the survey does. What lies past that end, the
/// truncation took. Plain reads: the file cannot be mapped whole.
fn records_end(path: &Path, len: u64, cap: u64, max_message: u32) -> Result<u64> {
    let mut bytes = Vec::new();
    File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(|e| LogError::io(path, "read", e))?;
    let len = len.min(bytes.len() as u64);
    let u64_at = |at: u64| {
        u64::from_le_bytes(
            bytes[at as usize..at as usize + 8]
                .try_into()
                .expect("8 bytes"),
        )
    };
    // The record at `off`, if it is whole in the file and passes its
    // checks: where it ends.
    let record = |off: u64, committed_only: bool| -> Option<u64> {
        let Word { size, state } = Word::decode(u64_at(off))?;
        let end = off + size as u64;
        if size == 0 || end > len || end > cap {
            return None;
        }
        match state {
            State::Padding if !committed_only => Some(end),
            State::Committed => {
                if off + format::RECORD_HEADER_LEN > len {
                    return None;
                }
                let (plen, crc) = format::decode_meta(u64_at(off + 8));
                if !format::committed_fits(off, size, plen, cap) || plen > max_message {
                    return None;
                }
                let start = (off + format::RECORD_HEADER_LEN) as usize;
                (format::checksum(&bytes[start..start + plen as usize]) == crc).then_some(end)
            }
            _ => None,
        }
    };
    let mut budget = RESYNC_BUDGET_SEGMENTS * cap;
    let (mut off, mut last_end) = (format::SEGMENT_HEADER_LEN, format::SEGMENT_HEADER_LEN);
    while off + 8 <= len {
        if let Some(end) = record(off, false) {
            off = end;
            last_end = end;
            continue;
        }
        // Resynchronise: the next committed record that verifies.
        let mut at = off + format::RECORD_ALIGN;
        let mut found = None;
        while at + format::RECORD_HEADER_LEN <= len {
            if let Some(Word { size, .. }) =
                Word::decode(u64_at(at)).filter(|w| w.state == State::Committed)
            {
                if budget < size as u64 {
                    break;
                }
                budget -= size as u64;
                if record(at, true).is_some() {
                    found = Some(at);
                    break;
                }
            }
            at += format::RECORD_ALIGN;
        }
        match found {
            Some(r) => off = r,
            None => break,
        }
    }
    Ok(last_end)
}

/// The offset just past the last non-zero word of the segment at or after
/// `from`, or `from` if there is none.
fn last_nonzero_end(seg: &Segment, from: u64) -> Result<u64> {
    let cap = seg.size();
    let mut end = from;
    let mut at = from;
    while at < cap {
        if seg.map.guarded(|| seg.word(at).load(Ordering::Relaxed))? != 0 {
            end = at + format::RECORD_ALIGN;
        }
        at += format::RECORD_ALIGN;
    }
    Ok(end)
}

/// Walks every record of `seg`, checking each committed one fully and
/// resynchronising past damage. Stores nothing. Holes below the
/// reservation counter are judged as a reader that may not write would
/// (`protocol::gap_end`, observing locks): a dead appender's is crossed,
/// one a live appender may still fill ends the walk.
pub(crate) fn walk(inner: &Inner, seg: &Segment, durable: u64) -> Result<Walk> {
    let cap = seg.size();
    let max_message = inner.header.max_message;
    let tail = seg.map.guarded(|| seg.tail().load(Ordering::Acquire))?;
    let mut walk = Walk {
        tail,
        ..Walk::default()
    };
    let mut off = format::SEGMENT_HEADER_LEN;
    let mut observer = None;
    let mut budget = RESYNC_BUDGET_SEGMENTS * cap;
    while off < cap {
        let w = seg.map.guarded(|| seg.word(off).load(Ordering::Acquire))?;
        let bad = match Word::decode(w) {
            None => Some(format!("invalid record header word {w:#018x}")),
            Some(Word { size, state }) if state != State::Empty && off + size as u64 > cap => Some(
                format!("record of {size} bytes runs past the segment's end"),
            ),
            Some(Word {
                state: State::Empty,
                ..
            }) => {
                if off >= tail.min(cap) {
                    break;
                }
                // Below the durable position a zero word is no appender's
                // hole (the durable position never passes an unfinished
                // record): synced records were zeroed.
                if seg.id_of(off) < durable {
                    let end =
                        match resync(seg, off + format::RECORD_ALIGN, max_message, &mut budget)? {
                            Some(next) => next,
                            None => last_nonzero_end(seg, off)?
                                .max(off + format::RECORD_ALIGN)
                                .max((durable - seg.id_of(0)).min(cap)),
                        };
                    walk.damaged.push((
                        off,
                        end,
                        format!(
                            "zeros below the durable position {durable}: synced records were lost"
                        ),
                    ));
                    off = end;
                    continue;
                }
                let prober = match &observer {
                    Some(p) => p,
                    None => observer.insert(crate::ops::repair::Prober::observer(inner)?),
                };
                match seg
                    .map
                    .guarded(|| protocol::gap_end(seg, seg.index, off, prober, None))??
                {
                    GapEnd::At(end) => {
                        walk.holes.push((off, end, 0));
                        off = end;
                        continue;
                    }
                    GapEnd::Blocked | GapEnd::NotReserved => break,
                }
            }
            // An unfinished record (as format version 1 wrote): its appender's, while
            // that one lives.
            Some(Word {
                state: State::Writing { slot },
                size,
            }) => {
                let prober = match &observer {
                    Some(p) => p,
                    None => observer.insert(crate::ops::repair::Prober::observer(inner)?),
                };
                if !protocol::Slots::probe_dead(prober, slot)? {
                    break;
                }
                walk.holes.push((off, off + size as u64, w));
                off += size as u64;
                continue;
            }
            Some(Word {
                state: State::Padding,
                size,
            }) => {
                off += size as u64;
                continue;
            }
            Some(Word {
                state: State::Committed,
                size,
            }) => match check_committed(seg, off, size, max_message)? {
                Ok(len) => {
                    walk.messages += 1;
                    walk.payload_bytes += len as u64;
                    let id = seg.id_of(off);
                    walk.first_id.get_or_insert(id);
                    walk.last_id = Some(id);
                    off += size as u64;
                    continue;
                }
                Err(what) => Some(what),
            },
        };
        if let Some(what) = bad {
            let end = match resync(seg, off + format::RECORD_ALIGN, max_message, &mut budget)? {
                Some(next) => next,
                None => last_nonzero_end(seg, off)?.max(off + format::RECORD_ALIGN),
            };
            walk.damaged.push((off, end, what));
            off = end;
        }
    }
    walk.end = off.min(cap);
    Ok(walk)
}

/// What a survey of the whole log found.
#[derive(Debug, Default)]
pub(crate) struct Survey {
    pub(crate) problems: Vec<Problem>,
    /// Segments of the log present and valid, with their walks.
    pub(crate) walks: Vec<(u64, Walk)>,
    /// Placeholders: segments recovery made for lost ones.
    pub(crate) placeholders: Vec<u64>,
    /// A segment made ahead of its roll, empty.
    pub(crate) ahead: Vec<u64>,
    /// Segments of the log present (valid or not), in order.
    pub(crate) present: Vec<u64>,
    pub(crate) first: u64,
    pub(crate) tail: u64,
}

/// More missing segments than this in one run are not taken at the
/// control file's word: the survey reports the run, and recovery refuses
/// to make placeholders for it.
pub(crate) const MAX_PLACEHOLDERS: u64 = 4096;

/// Surveys the whole log: every segment from the first to the tail
/// (and any other segment file), every record. Stores nothing.
pub(crate) fn survey(log: &Arc<Inner>) -> Result<Survey> {
    let inner = log;
    let cap = inner.header.segment_size;
    // The tail segment before the listing, the words after it. A roll
    // makes a segment before it publishes it, so every segment up to
    // the tail read before is listed (unless it is missing); one
    // published meanwhile is listed or not, and is not taken for a
    // stray past the tail read after. Retention raises the first
    // segment before it removes a file, so a file removed before the
    // listing is below the first segment read after it.
    let tail_before = inner.ctl(|| inner.tail_segment().load(Ordering::Acquire))?;
    let listed = segment::list(&inner.dir)?;
    let (first, tail, durable) = inner.ctl(|| {
        (
            inner.first_segment().load(Ordering::Acquire),
            inner.tail_segment().load(Ordering::Acquire),
            inner.durable().load(Ordering::Acquire),
        )
    })?;
    let path = |i: u64| inner.dir.join(segment::file_name(i));
    let ids = |i: u64| {
        (
            i.saturating_mul(cap)
                .saturating_add(format::SEGMENT_HEADER_LEN),
            i.saturating_add(1).saturating_mul(cap),
        )
    };
    // A problem with a whole segment file: all its ids affected.
    let whole_file = |kind: ProblemKind, i: u64, what: String| Problem {
        kind,
        segment: path(i),
        id: ids(i).0,
        end: ids(i).1,
        offset: None,
        what,
    };
    let mut s = Survey {
        first,
        tail,
        ..Survey::default()
    };
    if first > tail || !inner.index_fits(tail) {
        s.problems.push(Problem {
            kind: ProblemKind::BadSegment,
            segment: inner.dir.join(crate::storage::control::CONTROL_FILE),
            id: 0,
            end: 0,
            offset: None,
            what: format!(
                "the control file's segment range is impossible: first segment {first}, tail segment {tail}"
            ),
        });
        return Ok(s);
    }
    // Files outside the log.
    for &i in &listed {
        if i < first {
            if std::fs::symlink_metadata(path(i)).is_err() {
                continue; // removed meanwhile by retention
            }
            s.problems.push(Problem {
                kind: ProblemKind::ExtraSegment,
                segment: path(i),
                id: 0,
                end: 0,
                offset: None,
                what: format!(
                    "segment file below the log's first segment {first} (an interrupted retention left it)"
                ),
            });
        } else if i > tail {
            let unused = i == tail + 1
                && matches!(file_state(inner, i)?, FileState::Ok { ref seg, .. }
                    if seg.map.guarded(|| seg.tail().load(Ordering::Acquire)
                        == format::SEGMENT_HEADER_LEN
                        && seg.word(format::SEGMENT_HEADER_LEN).load(Ordering::Acquire) == 0)?);
            // Published (and appended to) since the words were read:
            // the log has moved on; this survey does not look at it.
            let published_since = || -> Result<bool> {
                Ok(inner.ctl(|| inner.tail_segment().load(Ordering::Acquire))? >= i)
            };
            if unused {
                s.ahead.push(i);
            } else if !published_since()? {
                s.problems.push(whole_file(ProblemKind::ExtraSegment, i, format!(
                        "segment file past the log's tail segment {tail} that is not an empty segment made ahead (the control file may be older than the segments)"
                    )));
            }
        }
    }
    // The log's segments, and the runs of missing ones between.
    let mut expected = first;
    let inside: Vec<u64> = listed
        .iter()
        .copied()
        .filter(|&i| i >= first && i <= tail)
        .collect();
    for &i in inside
        .iter()
        .chain(std::iter::once(&tail.saturating_add(1)))
    {
        if i > expected {
            // Published after the listing: not missing.
            let last = (i - 1).min(tail).min(tail_before);
            if last >= expected {
                let n = last - expected + 1;
                s.problems.push(Problem {
                    kind: ProblemKind::MissingSegment,
                    segment: path(expected),
                    id: ids(expected).0,
                    end: ids(last).1,
                    offset: None,
                    what: if n == 1 {
                        format!("segment {expected} is missing")
                    } else {
                        format!("segments {expected} to {last} are missing ({n} files)")
                    },
                });
            }
        }
        if i > tail {
            break;
        }
        expected = i + 1;
        s.present.push(i);
        let seg = match file_state(inner, i)? {
            FileState::Missing => {
                // Removed since the listing (retention): gone from the
                // log, not damage.
                continue;
            }
            FileState::WrongLength { len } => {
                s.problems.push(whole_file(ProblemKind::BadSegment, i, format!(
                        "segment file is {len} bytes, the log's segments are {cap} (truncated or extended; its header is intact)"
                    )));
                continue;
            }
            FileState::Bad(why) => {
                s.problems.push(whole_file(
                    ProblemKind::BadSegment,
                    i,
                    format!("bad segment file: {why}"),
                ));
                continue;
            }
            FileState::Ok {
                placeholder: true, ..
            } => {
                s.placeholders.push(i);
                continue;
            }
            FileState::Ok { seg, .. } => seg,
        };
        let mut walk = walk(inner, &seg, durable)?;
        for (start, end, what) in &walk.damaged {
            s.problems.push(Problem {
                kind: ProblemKind::DamagedRecords,
                segment: path(i),
                id: seg.id_of(*start),
                end: seg.id_of(*end),
                offset: Some(*start),
                what: what.clone(),
            });
        }
        if i < tail && walk.end < cap {
            s.problems.push(Problem {
                kind: ProblemKind::ShortSegment,
                segment: path(i),
                id: seg.id_of(walk.end),
                end: ids(i).1,
                offset: Some(walk.end),
                what: format!(
                    "its records end at offset {}, before the segment's end, and later segments exist: its last records are missing (truncated, or replaced by an older copy)",
                    walk.end
                ),
            });
        }
        // The counter again, after the walk: records committed while
        // it walked lie past the value read before it (it only grows
        // while appenders run).
        if i == tail && walk.end > walk.tail.min(cap) {
            walk.tail = seg.map.guarded(|| seg.tail().load(Ordering::Acquire))?;
        }
        if i == tail && walk.end > walk.tail.min(cap) {
            s.problems.push(Problem {
                kind: ProblemKind::TailCounter,
                segment: path(i),
                id: seg.id_of(walk.tail.min(cap)),
                end: seg.id_of(walk.end),
                offset: Some(format::SEGMENT_TAIL_OFFSET),
                what: format!(
                    "the reservation counter ({}) is below the end of the records ({}): appends would land on them",
                    walk.tail, walk.end
                ),
            });
        }
        if i == tail {
            let ends = seg.id_of(walk.end);
            // The durable position, in this segment or at its end.
            if (durable / cap == i || durable == ids(i).1)
                && durable > ends
                && durable % format::RECORD_ALIGN == 0
            {
                {
                    s.problems.push(Problem {
                        kind: ProblemKind::BelowDurable,
                        segment: path(i),
                        id: ends,
                        end: durable,
                        offset: Some(walk.end),
                        what: format!(
                            "the records end at id {ends}, below the durable position {durable}: synced messages are missing (truncated, or replaced by an older copy)"
                        ),
                    });
                }
            }
        }
        s.walks.push((i, walk));
    }
    Ok(s)
}

/// [`Log::verify`](crate::Log::verify).
pub(crate) fn verify(log: &Arc<Inner>) -> Result<Vec<Problem>> {
    Ok(survey(log)?.problems)
}

/// Where `from` goes in the quarantine folder `q`: its own name, or, if
/// that is taken (an earlier step put a file of that name there), its name
/// with `.1`, `.2`, ... after it. Nothing in quarantine is ever replaced.
fn quarantine_name(q: &Path, from: &Path) -> PathBuf {
    let name = from.file_name().expect("a file name").to_string_lossy();
    let mut to = q.join(&*name);
    let mut n = 0;
    while std::fs::symlink_metadata(&to).is_ok() {
        n += 1;
        to = q.join(format!("{name}.{n}"));
    }
    to
}

/// Copies `from` into the quarantine folder `q` (made if needed), and
/// syncs the copy: the file as it was before recovery changed it. The
/// first copy of a file in one recovery is the one that counts: a later
/// call for the same file copies nothing.
pub(crate) fn quarantine_copy(q: &Path, from: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(q).map_err(|e| LogError::io(q, "create directory", e))?;
    let own = q.join(from.file_name().expect("a file name"));
    if std::fs::symlink_metadata(&own).is_ok() {
        return Ok(own);
    }
    let mut src = File::open(from).map_err(|e| LogError::io(from, "open", e))?;
    let mut dst = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&own)
        .map_err(|e| LogError::io(&own, "create in quarantine", e))?;
    std::io::copy(&mut src, &mut dst)
        .and_then(|_| dst.sync_all())
        .map_err(|e| LogError::io(&own, "copy into quarantine", e))?;
    crate::storage::dir::sync_dir(q)?;
    Ok(own)
}

/// Moves `from` into the quarantine folder `q` (made if needed), keeping
/// its name unless a file of that name is there already (never replaced).
pub(crate) fn quarantine_move(q: &Path, from: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(q).map_err(|e| LogError::io(q, "create directory", e))?;
    let to = quarantine_name(q, from);
    rustix::fs::renameat_with(
        rustix::fs::CWD,
        from,
        rustix::fs::CWD,
        &to,
        rustix::fs::RenameFlags::NOREPLACE,
    )
    .map_err(|e| LogError::io(from, "move into quarantine", e.into()))?;
    crate::storage::dir::sync_dir(q)?;
    if let Some(dir) = from.parent() {
        crate::storage::dir::sync_dir(dir)?;
    }
    Ok(to)
}

/// A new quarantine folder for one recovery: `quarantine/<UTC
/// time>-<pid>-<random>` in the log directory (not made until something
/// goes into it).
pub(crate) fn quarantine_dir(dir: &Path) -> PathBuf {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    dir.join(QUARANTINE_DIR).join(format!(
        "{y:04}-{m:02}-{d:02}T{:02}-{:02}-{:02}Z-{}-{}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        std::process::id(),
        crate::storage::temp::random_u64() % 1_000_000
    ))
}

/// The folder, inside a log directory, that holds what recovery took out
/// of the log or changed.
pub const QUARANTINE_DIR: &str = "quarantine";

/// The civil date of a day count since 1970-01-01 (Howard Hinnant's
/// algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Makes a placeholder for segment `index`: a valid segment whose header
/// carries [`format::SEGMENT_PLACEHOLDER`], holding one padding record
/// over all its space, its reservation counter at its end (so no appender
/// reserves in it). Sparse: it takes a page of disk. Fails if the name
/// exists.
pub(crate) fn make_placeholder(inner: &Inner, index: u64) -> Result<()> {
    let cap = inner.header.segment_size;
    let path = inner.dir.join(segment::file_name(index));
    let tmp = crate::storage::temp::NewFile::create(&inner.dir, &segment::file_name(index))?;
    let result = (|| -> Result<()> {
        tmp.set_mode(inner.header.file_mode)?;
        let file = tmp.file();
        file.set_len(cap)
            .map_err(|e| LogError::io(&path, "size placeholder", e))?;
        let header = SegmentHeader {
            segment_size: cap,
            index,
            log_id: inner.header.log_id,
            flags: format::SEGMENT_PLACEHOLDER,
        };
        let mut head = vec![0u8; format::SEGMENT_HEADER_LEN as usize + 8];
        head[..64].copy_from_slice(&header.encode());
        head[format::SEGMENT_TAIL_OFFSET as usize..][..8].copy_from_slice(&cap.to_le_bytes());
        let pad = Word {
            size: (cap - format::SEGMENT_HEADER_LEN) as u32,
            state: State::Padding,
        };
        head[format::SEGMENT_HEADER_LEN as usize..].copy_from_slice(&pad.encode().to_le_bytes());
        file.write_all_at(&head, 0)
            .map_err(|e| LogError::io(&path, "write placeholder", e))?;
        file.sync_data()
            .map_err(|e| LogError::io(&path, "fsync", e))?;
        tmp.link(&path).map_err(|e| LogError::io(&path, "link", e))
    })();
    drop(tmp);
    result
}

/// One change explicit recovery made to a damaged log (or, in a dry run,
/// would make). Its `Display` says what and where, in words.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Change {
    /// Damaged records became padding: the ids `id..end` are lost; the
    /// records after them keep their ids.
    Padded {
        /// The segment file.
        segment: PathBuf,
        /// The first id lost.
        id: u64,
        /// The id after the last one lost.
        end: u64,
        /// Why.
        why: String,
    },
    /// A segment file that was missing or unusable is now a placeholder
    /// (one padding record): its ids `id..end` are lost.
    Placeholder {
        /// The placeholder's file.
        segment: PathBuf,
        /// The first id lost.
        id: u64,
        /// The id after the last one lost.
        end: u64,
    },
    /// The log's first segment moved up past segments missing at its
    /// start: the ids `lost_from..lost_end` are lost.
    FirstSegment {
        /// The first segment before.
        from: u64,
        /// The first segment after.
        to: u64,
        /// The first id lost.
        lost_from: u64,
        /// The id after the last one lost.
        lost_end: u64,
    },
    /// Segments found past the tail segment, holding records, became part
    /// of the log (its control file was older than its segments).
    TailSegment {
        /// The tail segment before.
        from: u64,
        /// The tail segment after.
        to: u64,
    },
    /// A segment file of the wrong length, its header intact, got its
    /// length back (zeros added, or bytes past the end cut off, after a
    /// copy went into quarantine); the records it still holds are kept.
    Resized {
        /// The segment file.
        segment: PathBuf,
        /// Its length before.
        from: u64,
        /// Its length after: the segment size.
        to: u64,
    },
    /// A file moved out of the log into quarantine.
    Quarantined {
        /// Where it was.
        from: PathBuf,
        /// Where it is now.
        to: PathBuf,
        /// Why it left the log.
        why: String,
    },
    /// The control file was rebuilt from the segment files.
    ControlRebuilt {
        /// The log's first segment, as the files say.
        first: u64,
        /// Its tail segment.
        tail: u64,
        /// The segment size the headers give.
        segment_size: u64,
        /// The largest message, now the largest that fits a segment (the
        /// old limit was in the lost control file).
        max_message: u32,
    },
    /// The tail segment's reservation counter was raised past its records.
    TailCounter {
        /// The segment file.
        segment: PathBuf,
        /// The counter before.
        from: u64,
        /// The counter after: the end of the records.
        to: u64,
    },
    /// A segment file copied into quarantine before recovery changed it.
    Copied {
        /// The segment file.
        from: PathBuf,
        /// The copy.
        to: PathBuf,
    },
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Change::Padded {
                segment,
                id,
                end,
                why,
            } => write!(
                f,
                "{}: ids {id} to {end} become padding ({why}); the records after them keep their ids",
                segment.display()
            ),
            Change::Placeholder { segment, id, end } => write!(
                f,
                "{}: replaced by a placeholder segment; ids {id} to {end} are lost",
                segment.display()
            ),
            Change::FirstSegment {
                from,
                to,
                lost_from,
                lost_end,
            } => write!(
                f,
                "the log's first segment moves from {from} to {to}; ids {lost_from} to {lost_end} are lost"
            ),
            Change::TailSegment { from, to } => write!(
                f,
                "the log's tail segment moves from {from} to {to}: the segments between hold records and become part of the log"
            ),
            Change::Resized { segment, from, to } => write!(
                f,
                "{}: length {from} becomes {to}; the records it still holds are kept",
                segment.display()
            ),
            Change::Quarantined { from, to, why } => {
                write!(f, "{}: moved to {} ({why})", from.display(), to.display())
            }
            Change::ControlRebuilt {
                first,
                tail,
                segment_size,
                max_message,
            } => write!(
                f,
                "a new control file from the segment files: segments {first} to {tail} of {segment_size} bytes, messages up to {max_message} bytes (the old limit is lost)"
            ),
            Change::TailCounter { segment, from, to } => write!(
                f,
                "{}: the reservation counter goes from {from} to {to}, past the records",
                segment.display()
            ),
            Change::Copied { from, to } => write!(
                f,
                "{}: copied to {} before any change",
                from.display(),
                to.display()
            ),
        }
    }
}

/// What [`Log::repair_damage`] found and did.
#[derive(Debug, Default)]
pub(crate) struct Repairs {
    pub(crate) problems: Vec<Problem>,
    pub(crate) changes: Vec<Change>,
    /// Unfinished records of dead appenders padded (normal repairs).
    pub(crate) holes_padded: u64,
    /// Valid messages in the log (after the repairs, if applied).
    pub(crate) messages: u64,
    /// Problems left after the repairs (only when applied).
    pub(crate) left: Vec<Problem>,
    pub(crate) quarantine: Option<PathBuf>,
}

/// Explicit recovery's repair of damaged files (`docs/format.md`
/// section 19.3). The caller holds the recovery lock and has found no
/// appender alive. With `apply` false, changes nothing and lists what
/// it would do.
pub(crate) fn repair_damage(log: &Arc<Inner>, apply: bool) -> Result<Repairs> {
    let inner = log;
    let cap = inner.header.segment_size;
    let path = |i: u64| inner.dir.join(segment::file_name(i));
    let q = quarantine_dir(&inner.dir);
    let mut out = Repairs::default();
    let survey = survey(log)?;
    out.problems = survey.problems.clone();
    out.messages = survey.walks.iter().map(|(_, w)| w.messages).sum();
    let index_of = |p: &Problem| {
        p.segment
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(segment::parse_name)
    };

    // Files first: what leaves the log, what stands in for what is
    // lost, what gets its length back.
    let mut first = survey.first;
    let mut tail = survey.tail;
    let mut placeholders = Vec::new();
    let mut moves: Vec<(u64, String)> = Vec::new();
    // Segments given back their length: `(index, length before)`.
    let mut resizes: Vec<(u64, u64)> = Vec::new();
    let mut past_tail: Vec<u64> = survey.ahead.clone();
    for p in &survey.problems {
        let Some(i) = index_of(p) else {
            return Err(LogError::InvalidArgument {
                path: p.segment.clone(),
                what: format!("recovery cannot repair this: {p}"),
            });
        };
        match p.kind {
            ProblemKind::ExtraSegment if i < survey.first => {
                moves.push((i, "below the log's first segment".into()));
            }
            ProblemKind::ExtraSegment => past_tail.push(i),
            ProblemKind::MissingSegment => {
                let (a, b) = (p.id / cap, (p.end - 1) / cap);
                if a == survey.first {
                    // At the start: the log now starts after them (the
                    // tail segment, if every segment is missing, gets
                    // a placeholder).
                    let to = (b + 1).min(tail);
                    if to > a {
                        out.changes.push(Change::FirstSegment {
                            from: a,
                            to,
                            lost_from: p.id,
                            lost_end: p.end.min(to * cap),
                        });
                    }
                    first = to;
                    if b == tail {
                        placeholders.push(tail);
                    }
                } else {
                    if b - a + 1 > MAX_PLACEHOLDERS {
                        return Err(LogError::InvalidArgument {
                            path: p.segment.clone(),
                            what: format!(
                                "recovery will not make {} placeholder segments: {p}",
                                b - a + 1
                            ),
                        });
                    }
                    placeholders.extend(a..=b);
                }
            }
            ProblemKind::BadSegment => match file_state(inner, i)? {
                FileState::WrongLength { len } => resizes.push((i, len)),
                _ => {
                    moves.push((i, p.what.clone()));
                    placeholders.push(i);
                }
            },
            _ => {}
        }
    }
    // Past the tail: a run of valid segments right after it holds
    // records the control file does not know of: publish them.
    // Anything else there leaves the log.
    past_tail.sort_unstable();
    past_tail.dedup();
    let mut next = survey.tail + 1;
    let mut published = survey.tail;
    for &i in &past_tail {
        // A placeholder there too: it stands for ids that were the
        // log's, which must never be handed out again.
        let valid = matches!(file_state(inner, i)?, FileState::Ok { .. });
        if i == next && valid && !survey.ahead.contains(&i) {
            published = i;
            next += 1;
        } else if i == next && survey.ahead.contains(&i) {
            next += 1; // empty, made ahead: part of the run if one follows
        } else {
            moves.push((i, "past the log's tail segment".into()));
        }
    }
    if published > survey.tail {
        out.changes.push(Change::TailSegment {
            from: survey.tail,
            to: published,
        });
        tail = published;
    }
    for (i, why) in &moves {
        out.changes.push(Change::Quarantined {
            from: path(*i),
            to: q.join(segment::file_name(*i)),
            why: why.clone(),
        });
    }
    // Where the records a short file still holds end: from there on,
    // what the truncation took is reported lost, and padded in the
    // same step that gives the file its length back.
    let mut cut_ends: Vec<(u64, u64)> = Vec::new();
    for &(i, len) in &resizes {
        out.changes.push(Change::Copied {
            from: path(i),
            to: q.join(segment::file_name(i)),
        });
        out.changes.push(Change::Resized {
            segment: path(i),
            from: len,
            to: cap,
        });
        if len < cap {
            let end = records_end(&path(i), len, cap, inner.header.max_message)?;
            cut_ends.push((i, end));
            out.changes.push(Change::Padded {
                segment: path(i),
                id: i * cap + end,
                end: (i + 1) * cap,
                why: format!("lost when the file was cut to {len} bytes"),
            });
        }
    }
    placeholders.sort_unstable();
    placeholders.dedup();
    for &i in &placeholders {
        out.changes.push(Change::Placeholder {
            segment: path(i),
            id: i * cap + format::SEGMENT_HEADER_LEN,
            end: (i + 1) * cap,
        });
    }
    if apply {
        for (i, _) in &moves {
            quarantine_move(&q, &path(*i))?;
            out.quarantine = Some(q.clone());
        }
        for &(i, _) in &resizes {
            quarantine_copy(&q, &path(i))?;
            out.quarantine = Some(q.clone());
            let p = path(i);
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(&p)
                .map_err(|e| LogError::io(&p, "open", e))?;
            // A short file: the padding over what the truncation took,
            // and a full reservation counter, are written before the
            // file has its length back, so that no survey or reader
            // ever sees those zeros as an appender's hole, and no
            // appender reserves there again.
            if let Some(&(_, end)) = cut_ends.iter().find(|(r, _)| *r == i) {
                let pad = Word {
                    size: (cap - end) as u32,
                    state: State::Padding,
                };
                f.write_all_at(&pad.encode().to_le_bytes(), end)
                    .and_then(|()| f.write_all_at(&cap.to_le_bytes(), format::SEGMENT_TAIL_OFFSET))
                    .map_err(|e| LogError::io(&p, "pad", e))?;
            }
            f.set_len(cap)
                .and_then(|()| f.sync_all())
                .map_err(|e| LogError::io(&p, "resize", e))?;
        }
        for &i in &placeholders {
            make_placeholder(inner, i)?;
        }
        inner.ctl(|| {
            inner.first_segment().fetch_max(first, Ordering::AcqRel);
            inner.tail_segment().fetch_max(tail, Ordering::AcqRel);
        })?;
        inner.control.flush()?;
        crate::storage::dir::sync_dir(&inner.dir)?;
    }

    // Then records, in the segments as they now are (a dry run looks
    // at them as they are: a resized segment's records are checked
    // once it has its length back).
    let survey = if apply { self::survey(log)? } else { survey };
    let durable_end = |i: u64| {
        survey.problems.iter().find_map(|p| {
            (p.kind == ProblemKind::BelowDurable && index_of(p) == Some(i))
                .then(|| (p.offset.unwrap_or(cap), (p.end - i * cap).min(cap)))
        })
    };
    for (i, walk) in &survey.walks {
        let i = *i;
        let mut pads: Vec<(u64, u64, String)> = walk.damaged.clone();
        let mut holes = walk.holes.clone();
        // Zeros a truncation left (in a segment just given its length
        // back) are lost records, not a dead appender's hole.
        if let Some(&(_, len)) = resizes.iter().find(|(r, _)| *r == i) {
            let cut = len - len % format::RECORD_ALIGN;
            holes.retain(|&(start, end, _)| {
                let lost = end > cut;
                if lost {
                    pads.push((
                        start,
                        end,
                        format!("lost when the file was cut to {len} bytes"),
                    ));
                }
                !lost
            });
        }
        if i < survey.tail && walk.end < cap {
            pads.push((
                walk.end,
                cap,
                "the segment's last records are missing".into(),
            ));
        }
        if let Some((from, to)) = durable_end(i) {
            if to > from {
                pads.push((
                    from,
                    to,
                    "synced messages are missing below the durable position; their ids are never handed out again"
                        .into(),
                ));
            }
        }
        out.holes_padded += holes.len() as u64;
        let raise_tail = i == survey.tail && walk.end > walk.tail.min(cap);
        if raise_tail {
            out.changes.push(Change::TailCounter {
                segment: path(i),
                from: walk.tail,
                to: walk.end,
            });
        }
        if pads.is_empty() && !raise_tail && (holes.is_empty() || !apply) {
            continue;
        }
        let seg_path = path(i);
        let copied = resizes.iter().any(|(r, _)| *r == i);
        if !pads.is_empty() && !copied {
            out.changes.push(Change::Copied {
                from: seg_path.clone(),
                to: q.join(segment::file_name(i)),
            });
        }
        if !pads.is_empty() {
            for (start, end, why) in &pads {
                out.changes.push(Change::Padded {
                    segment: seg_path.clone(),
                    id: i * cap + start,
                    end: i * cap + end,
                    why: why.clone(),
                });
            }
        }
        if !apply {
            continue;
        }
        let seg = inner.expected_segment(i)?;
        if !pads.is_empty() {
            quarantine_copy(&q, &seg_path)?;
            out.quarantine = Some(q.clone());
        }
        seg.map.guarded(|| -> Result<()> {
            for &(start, end, word) in &holes {
                let pad = Word {
                    size: (end - start) as u32,
                    state: State::Padding,
                };
                let _ = seg.word(start).compare_exchange(
                    word,
                    pad.encode(),
                    Ordering::SeqCst,
                    Ordering::SeqCst,
                );
            }
            let mut top = 0;
            for (start, end, _) in &pads {
                let pad = Word {
                    size: (end - start) as u32,
                    state: State::Padding,
                };
                seg.word(*start).store(pad.encode(), Ordering::SeqCst);
                top = top.max(*end);
            }
            // Appends must start past everything padded, and past
            // every record.
            seg.tail().fetch_max(top.max(walk.end), Ordering::AcqRel);
            Ok(())
        })??;
        seg.map.sync_data()?;
    }
    if apply {
        inner.wake_now();
        let after = self::survey(log)?;
        out.messages = after.walks.iter().map(|(_, w)| w.messages).sum();
        out.left = after.problems;
    }
    Ok(out)
}
