//! A record a dead appender left unfinished: repaired by a reader of a
//! writable log, reported by a reader of a read-only one.

use std::sync::atomic::Ordering;
use std::time::Instant;

use super::{Reader, Step, UNREPAIRED_GRACE};
use crate::error::{LogError, Result};
use crate::ops::repair::{self, Gap};

impl Reader {
    /// Repairs the unfinished record at the position if its appender died.
    /// Runs under `guarded`, like `step`: the repair reads (and pads) this
    /// segment's words, which another process may have truncated away.
    pub(super) fn try_repair(&mut self, step: Step) -> Result<bool> {
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
    pub(super) fn check_unrepaired(&mut self, step: Step) -> Result<()> {
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
}
