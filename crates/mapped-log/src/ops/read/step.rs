//! One step of a reader: what the record at its position says, following
//! cuts that recovery made below it and the roll to the next segment.

use std::sync::atomic::Ordering;

use super::{Reader, Step};
use crate::error::{LogError, Result};
use crate::format;
use crate::protocol::{self, Look};

impl Reader {
    /// Examines the record at the current position. Never blocks.
    pub(super) fn step(&self) -> Result<Step> {
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
    pub(super) fn follow_cut(&mut self, cuts: u64, id: u64) -> Result<()> {
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
    pub(super) fn step_at(&self) -> Result<Step> {
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

    /// Moves to the next segment if it has been published.
    pub(super) fn advance_segment(&mut self) -> Result<bool> {
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
}

/// The lowest of the cuts numbered `seen..cuts` (section 15 of
/// `docs/format.md`), from the control file's cut ring; `None` if more
/// were made than the ring keeps, or if the count went backwards. Runs
/// inside the caller's guarded access to the control file.
///
/// Recovery stores a cut's ring entry before it bumps the count, so the
/// entries of the cuts counted are there; they could be overwritten only
/// by `CUT_RING` more recoveries between our loads. An entry of 0 (no cut
/// has id 0, and no recovery writes one) stands for `last_cut`.
pub(super) fn lowest_cut(
    inner: &crate::storage::control::Inner,
    seen: u64,
    cuts: u64,
) -> Option<u64> {
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
