//! Looking at a log from outside: its segments, `stat`, the appender
//! slots.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::error::{LogError, Result};
use crate::format::SlotState;
use crate::format::{self, State, Word};
use crate::ops::damage::Problem;
use crate::storage::control::Inner;
use crate::storage::segment::Segment;
use crate::storage::temp::Leftovers;

/// A summary of a log, for `mapped log stat`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stat {
    /// Indexes of the log's segment files present, from its first segment
    /// to its tail segment.
    pub segments: Vec<u64>,
    /// The index of the log's first segment, as its control file says.
    pub first_segment: u64,
    /// The index of the segment appenders append to.
    pub tail_segment: u64,
    /// Indexes of segment files past the tail segment: made ahead of the
    /// roll that will publish them, and empty until then.
    pub ahead: Vec<u64>,
    /// Size of each segment file.
    pub segment_size: u64,
    /// Largest message.
    pub max_message: u32,
    /// Id of the first committed message, if any.
    pub first_id: Option<u64>,
    /// Id of the last committed message, if any.
    pub last_id: Option<u64>,
    /// Committed messages.
    pub messages: u64,
    /// Payload bytes of the committed messages.
    pub payload_bytes: u64,
    /// Bytes of the segment files, those made ahead included.
    pub file_bytes: u64,
    /// The durable position.
    pub durable: u64,
    /// Named readers and their positions.
    pub readers: Vec<(String, u64)>,
    /// Named readers whose files cannot be read or decoded, with the
    /// error (naming the file). Retention refuses to run while there are
    /// any; removing the file forgets the reader.
    pub bad_readers: Vec<(String, String)>,
    /// Appender slots held by live processes.
    pub live_appenders: Vec<u32>,
    /// Temporary files left by crashed processes (a segment's is a whole
    /// segment of reserved disk); [`Log::recover`](crate::Log::recover) and [`Log::retain`](crate::Log::retain)
    /// remove them.
    pub leftovers: Leftovers,
    /// Id ranges `(first, end)` lost to damage that recovery replaced with
    /// placeholder segments: known gaps, not problems.
    pub lost: Vec<(u64, u64)>,
    /// Every problem with the log's files ([`Log::verify`](crate::Log::verify)).
    pub problems: Vec<Problem>,
}

/// One record as seen by a scan.
enum Seen {
    Message {
        len: u32,
    },
    Padding,
    /// The end of what is committed in this segment.
    End,
}

/// [`Log::segments`](crate::Log::segments).
pub(crate) fn segments(log: &Arc<Inner>) -> Result<Vec<u64>> {
    crate::storage::segment::list(log.dir())
}

/// Walks the records of one segment, checking each committed one fully.
fn scan_segment(
    seg: &Segment,
    mut each: impl FnMut(u64, &Seen),
) -> std::result::Result<(), (u64, String)> {
    let size = seg.size();
    let mut off = format::SEGMENT_HEADER_LEN;
    let problem = |off: u64, what: String| (off, what);
    while off < size {
        let w = seg
            .map
            .guarded(|| seg.word(off).load(Ordering::Acquire))
            .map_err(|e| problem(off, e.to_string()))?;
        let Some(word) = Word::decode(w) else {
            return Err(problem(off, format!("invalid header word {w:#018x}")));
        };
        let s = word.size as u64;
        if word.state != State::Empty && off + s > size {
            return Err(problem(
                off,
                format!("record of {s} bytes runs past the segment's end"),
            ));
        }
        match word.state {
            State::Empty | State::Writing { .. } => {
                each(off, &Seen::End);
                return Ok(());
            }
            State::Padding => each(off, &Seen::Padding),
            State::Committed => {
                let mut meta = [0u8; 8];
                seg.map
                    .read_at(off + 8, &mut meta)
                    .map_err(|e| problem(off, e.to_string()))?;
                let (len, crc) = format::decode_meta(u64::from_le_bytes(meta));
                if !format::committed_fits(off, word.size, len, size) {
                    return Err(problem(
                        off,
                        format!("payload length {len} does not match record size {s}"),
                    ));
                }
                let mut payload = vec![0u8; len as usize];
                seg.map
                    .read_at(off + format::RECORD_HEADER_LEN, &mut payload)
                    .map_err(|e| problem(off, e.to_string()))?;
                let computed = format::checksum(&payload);
                if computed != crc {
                    return Err(problem(
                        off,
                        format!(
                            "checksum mismatch (stored {crc:#010x}, computed {computed:#010x})"
                        ),
                    ));
                }
                each(off, &Seen::Message { len });
            }
        }
        off += s;
    }
    Ok(())
}

/// Counts a segment's messages and payload bytes.
pub(crate) fn count_segment(seg: &Segment) -> Result<(u64, u64, Option<u64>, Option<u64>)> {
    let (mut n, mut bytes, mut first, mut last) = (0, 0, None, None);
    scan_segment(seg, |off, seen| {
        if let Seen::Message { len } = seen {
            n += 1;
            bytes += *len as u64;
            first.get_or_insert(seg.id_of(off));
            last = Some(seg.id_of(off));
        }
    })
    .map_err(|(off, what)| seg.corrupt(off, what))?;
    Ok((n, bytes, first, last))
}

/// [`Log::stat`](crate::Log::stat).
pub(crate) fn stat(log: &Arc<Inner>) -> Result<Stat> {
    let survey = crate::ops::damage::survey(log)?;
    let (mut messages, mut payload_bytes, mut first_id, mut last_id) = (0, 0, None, None);
    for (_, walk) in &survey.walks {
        messages += walk.messages;
        payload_bytes += walk.payload_bytes;
        if first_id.is_none() {
            first_id = walk.first_id;
        }
        if walk.last_id.is_some() {
            last_id = walk.last_id;
        }
    }
    let mut file_bytes = 0;
    for &index in survey.present.iter().chain(&survey.ahead) {
        let path = log.dir().join(crate::storage::segment::file_name(index));
        if let Ok(m) = std::fs::metadata(&path) {
            file_bytes += m.len();
        }
    }
    let size = log.segment_size();
    let lost = survey
        .placeholders
        .iter()
        .map(|&i| (i * size + format::SEGMENT_HEADER_LEN, (i + 1) * size))
        .collect();
    let (live_appenders, _) = crate::ops::inspect::appender_slots(log)?;
    let (mut readers, mut bad_readers) = (Vec::new(), Vec::new());
    for (name, pos) in crate::ops::cursor::list_readers(log)? {
        match pos {
            Ok(p) => readers.push((name, p)),
            Err(e) => bad_readers.push((name, e.to_string())),
        }
    }
    Ok(Stat {
        segments: survey.present,
        ahead: survey.ahead,
        first_segment: survey.first,
        tail_segment: survey.tail,
        segment_size: size,
        max_message: log.max_message(),
        first_id,
        last_id,
        messages,
        payload_bytes,
        file_bytes,
        durable: crate::ops::sync::durable_position(log),
        readers,
        bad_readers,
        live_appenders,
        leftovers: crate::storage::temp::log_leftovers(log.dir())?,
        lost,
        problems: survey.problems,
    })
}

/// [`Log::appender_slots`](crate::Log::appender_slots).
pub(crate) fn appender_slots(log: &Arc<Inner>) -> Result<(Vec<u32>, Vec<u32>)> {
    let lock_path = log.dir().join(crate::storage::locks::LOCK_FILE);
    // A slot's lock is taken (and its word read while held); through a
    // read-only handle, which cannot take a write lock, the kernel is
    // asked who holds it instead. Without a lock file no appender ever
    // held a slot; busy slot words are still reported.
    let (probe, take) = if log.read_only {
        (log.lock_file_read_only()?, false)
    } else {
        (Some(log.lock_file()?), true)
    };
    let (mut live, mut dead_busy) = (Vec::new(), Vec::new());
    for i in 0..format::SLOTS {
        let held = match &probe {
            Some(f) if take => f.try_lock(i).map(|got| !got),
            Some(f) => f.held(i),
            None => Ok(false),
        }
        .map_err(|e| LogError::io(&lock_path, "probe a lock of", e))?;
        if held {
            live.push(i);
            continue;
        }
        if log.slot_state(i) != SlotState::Idle {
            dead_busy.push(i);
        }
        if let (Some(f), true) = (&probe, take) {
            let _ = f.unlock(i);
        }
    }
    Ok((live, dead_busy))
}
