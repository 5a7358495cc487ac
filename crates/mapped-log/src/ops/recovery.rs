//! Recovery: after a system restart (power loss, kernel crash), and on
//! request.
//!
//! A process crash needs no recovery: the page cache keeps everything any
//! process committed, and unfinished records of dead appenders are repaired
//! as they are met (`repair.rs`). A system restart is different: only what
//! was synced is known to be on disk, and pages written back after the last
//! sync may hold records torn at any byte. So the first process to open the
//! log in a new boot (the control file records the boot id) validates every
//! record past the durable position, keeps each valid committed one, and
//! cuts the log at the first record that is not: the rest of that segment is
//! zeroed and later segments are moved into `quarantine/`. The report says
//! what was cut.
//!
//! Recovery on request (`Log::recover`) is the repair of damaged files in
//! `damage.rs`, after the slots of dead appenders are released here.

use std::path::PathBuf;
use std::sync::atomic::Ordering;

use crate::error::{LogError, Result};
use crate::format::SlotState;
use crate::format::{self, State, Word};
use crate::ops::damage::{Change, Problem};
use std::sync::Arc;

use crate::storage::control::{Inner, boot_id};
use crate::storage::temp::Leftovers;

/// What recovery found and changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Validation started at this id: the durable position for restart
    /// recovery; the first record's id (128) for explicit recovery, which
    /// checks the whole log; 0 if it checked nothing (an appender was
    /// alive).
    pub from: u64,
    /// Valid committed records found past it, and kept.
    pub kept: u64,
    /// Where the log was cut, if it was.
    pub cut_at: Option<u64>,
    /// Why.
    pub reason: Option<String>,
    /// Bytes past the cut that were zeroed: reserved space, and stale
    /// records past the reservation counter (pages written back before a
    /// power loss while the counter's page was not).
    pub bytes_zeroed: u64,
    /// Segments that left the log because they lay past the cut (restart
    /// recovery), moved into [`quarantine`](Self::quarantine).
    pub segments_removed: Vec<u64>,
    /// Appender slots of dead processes that were repaired or released.
    pub slots_released: u32,
    /// Temporary files left by crashed processes (a segment's is a whole
    /// segment of reserved disk), removed.
    pub leftovers_removed: Leftovers,
    /// Whether recovery made its changes. `false` for a dry run
    /// ([`Log::recover_dry_run`](crate::Log::recover_dry_run)), whose report lists what it would do.
    pub applied: bool,
    /// Explicit recovery: the problems it found with the log's files, as
    /// [`Log::verify`](crate::Log::verify) reports them.
    pub problems: Vec<Problem>,
    /// Explicit recovery: what it changed to repair them (or would).
    pub changes: Vec<Change>,
    /// Explicit recovery: unfinished records of dead appenders it turned
    /// into padding (what readers do as they meet them).
    pub holes_padded: u64,
    /// Problems still there after the changes (applied recovery only):
    /// damage recovery cannot repair, such as a control file that
    /// contradicts itself.
    pub unrepaired: Vec<Problem>,
    /// Where the files recovery took out of the log, and copies of those
    /// it changed, went (`quarantine/<time>-<pid>` in the log directory),
    /// if any did.
    pub quarantine: Option<PathBuf>,
}

impl RecoveryReport {
    /// True if recovery found nothing to change.
    pub fn is_clean(&self) -> bool {
        self.cut_at.is_none()
            && self.segments_removed.is_empty()
            && self.slots_released == 0
            && self.leftovers_removed.files == 0
            && self.changes.is_empty()
            && self.holes_padded == 0
    }
}

/// Fills the part of an explicit recovery's report about the log's
/// files: when no appender is `live`, the repairs made (or, without
/// `apply`, those that would be); otherwise what a survey sees, nothing
/// else touched.
pub(crate) fn report_damage(
    log: &Arc<Inner>,
    report: &mut RecoveryReport,
    live: bool,
    apply: bool,
) -> Result<()> {
    if live {
        report.problems = crate::ops::damage::verify(log)?;
        return Ok(());
    }
    let repairs = crate::ops::damage::repair_damage(log, apply)?;
    report.from = format::SEGMENT_HEADER_LEN;
    report.kept = repairs.messages;
    report.problems = repairs.problems;
    report.changes = repairs.changes;
    report.holes_padded = repairs.holes_padded;
    report.unrepaired = repairs.left;
    report.quarantine = repairs.quarantine;
    Ok(())
}

/// Runs restart recovery if the log was last opened in another boot.
/// Every opener calls this; the recovery lock makes one of them do it.
pub(crate) fn recover_if_restarted(inner: &Inner) -> Result<Option<RecoveryReport>> {
    let now = boot_id();
    if inner.stored_boot_id()? == now {
        return Ok(None);
    }
    let lock = inner.lock_file()?;
    let lock_error = |e| LogError::io(inner.dir.join(crate::storage::locks::LOCK_FILE), "lock", e);
    lock.lock_wait(format::RECOVERY_LOCK_BYTE)
        .map_err(lock_error)?;
    let result = inner
        .ctl(|| {
            if inner.stored_boot_id()? == now {
                return Ok(None); // another opener recovered meanwhile
            }
            // A live appender holds a lock taken in this boot, so this is
            // not a restart after all (the boot id was unreadable, or the
            // file was copied): cutting now could race it. Dead slots are
            // not repaired here: after a power loss a hole's interior need
            // not be zero, which repair assumes; the cut below handles them.
            if live_slots(inner, &lock, false)?.0 > 0 {
                inner.store_boot_id(&now)?;
                return Ok(None);
            }
            let mut report = cut_after_durable(inner)?;
            report.leftovers_removed = crate::storage::temp::sweep_log(&inner.dir);
            inner.store_boot_id(&now)?;
            Ok(Some(report))
        })
        .and_then(|r| r);
    let _ = lock.unlock(format::RECOVERY_LOCK_BYTE);
    result
}

/// Counts the slots held by live appenders, and the busy slots of dead
/// ones, which it repairs if `repair`.
pub(crate) fn live_slots(
    inner: &Inner,
    lock: &crate::storage::locks::LockFile,
    repair: bool,
) -> Result<(u32, u32)> {
    let lock_error = |e| LogError::io(inner.dir.join(crate::storage::locks::LOCK_FILE), "lock", e);
    let (mut live, mut dead_busy) = (0, 0);
    for i in 0..format::SLOTS {
        if !lock.try_lock(i).map_err(lock_error)? {
            live += 1;
            continue;
        }
        let repaired = if inner.slot_state(i) != SlotState::Idle {
            dead_busy += 1;
            if repair {
                crate::ops::repair::repair_slot(inner, i).map(|_| ())
            } else {
                Ok(())
            }
        } else {
            Ok(())
        };
        let _ = lock.unlock(i);
        repaired?;
    }
    Ok((live, dead_busy))
}

/// Explicit recovery (`mapped log recover`): repairs the slots of dead
/// appenders; and if no appender is alive, repairs damage to the log's
/// files without losing what can be kept (`damage.rs`). With `apply`
/// false, changes nothing: the report lists what it would do.
pub(crate) fn recover(log: &Arc<Inner>, apply: bool) -> Result<RecoveryReport> {
    let inner: &Inner = log;
    let lock = inner.lock_file()?;
    let lock_error = |e| LogError::io(inner.dir.join(crate::storage::locks::LOCK_FILE), "lock", e);
    lock.lock_wait(format::RECOVERY_LOCK_BYTE)
        .map_err(lock_error)?;
    let result = inner
        .ctl(|| {
            let (live, released) = live_slots(inner, &lock, apply)?;
            let mut report = RecoveryReport {
                applied: apply,
                slots_released: released,
                ..RecoveryReport::default()
            };
            report_damage(log, &mut report, live > 0, apply)?;
            report.leftovers_removed = if apply {
                crate::storage::temp::sweep_log(&inner.dir)
            } else {
                crate::storage::temp::log_leftovers(&inner.dir)?
            };
            Ok(report)
        })
        .and_then(|r| r);
    let _ = lock.unlock(format::RECOVERY_LOCK_BYTE);
    result
}

/// Every process of the last boot is gone: their slots and their
/// sleeper counts are stale, and what is on disk is about to be, or has
/// just been, validated record by record.
pub(crate) fn reset_after_restart(inner: &Inner, report: &mut RecoveryReport) {
    for i in 0..format::SLOTS {
        if inner.slot_state(i) != SlotState::Idle {
            inner
                .slot(i)
                .store(SlotState::Idle.encode(), Ordering::SeqCst);
            report.slots_released += 1;
        }
    }
    inner.waiters().store(0, Ordering::SeqCst);
    for k in 0..format::SLEEPERS {
        inner.sleeper_flag(k).store(0, Ordering::SeqCst);
    }
    inner.sync_failure().store(0, Ordering::SeqCst);
}

/// The first segment after `index` that opens as a valid segment, if
/// any.
pub(crate) fn next_usable_after(
    inner: &Inner,
    index: u64,
) -> Result<Option<crate::storage::segment::Segment>> {
    let first = inner.first_segment().load(Ordering::Acquire);
    for i in crate::storage::segment::list(&inner.dir)?
        .into_iter()
        .filter(|&i| i > index && i >= first)
    {
        match inner.open_segment(i) {
            Ok(Some(seg)) => return Ok(Some(seg)),
            Ok(None) | Err(LogError::NotALog { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(None)
}

/// Whether segment `index` is valid and looks unused: its tail is at
/// its first record, and that record's word is zero, as in a segment
/// made ahead and never published. (After a power loss a used segment
/// whose first page never reached the disk looks the same.)
pub(crate) fn segment_unused(inner: &Inner, index: u64) -> bool {
    let Ok(Some(seg)) = inner.open_segment(index) else {
        return false;
    };
    let first = format::SEGMENT_HEADER_LEN;
    seg.map
        .guarded(|| {
            seg.tail().load(Ordering::Acquire) == first
                && seg.word(first).load(Ordering::Acquire) == 0
        })
        .unwrap_or(false)
}

/// Whether every byte of segment `index` past its header is zero: it
/// holds nothing at all, and deleting it loses nothing.
pub(crate) fn segment_empty(inner: &Inner, index: u64) -> bool {
    let Ok(Some(seg)) = inner.open_segment(index) else {
        return false;
    };
    let mut buf = vec![0u8; 1 << 16];
    let mut at = format::SEGMENT_HEADER_LEN;
    while at < seg.size() {
        let n = (seg.size() - at).min(buf.len() as u64) as usize;
        if seg.map.read_at(at, &mut buf[..n]).is_err() || buf[..n].iter().any(|&b| b != 0) {
            return false;
        }
        at += n as u64;
    }
    true
}

/// Restart recovery's validation: every record past the durable
/// position, cutting at the first that is not a valid committed record
/// or padding. Only safe when no appender is alive.
pub(crate) fn cut_after_durable(inner: &Inner) -> Result<RecoveryReport> {
    let size = inner.header.segment_size;
    let from = inner.durable().load(Ordering::Acquire);
    let mut report = RecoveryReport {
        from,
        applied: true,
        ..RecoveryReport::default()
    };
    // Segments past this were never published (as far as the control
    // file knows): one of those that holds nothing was made ahead.
    let published = inner.tail_segment().load(Ordering::Acquire);
    let (mut index, mut off) = if from % size == 0 && from > 0 {
        // The end of the previous segment: the sync leader stops there
        // when the segment is full and the next one not made yet.
        (from / size - 1, size)
    } else {
        (from / size, (from % size).max(format::SEGMENT_HEADER_LEN))
    };
    if from % format::RECORD_ALIGN != 0 {
        return Err(crate::ops::sync::bad_durable(inner, from));
    }
    // Below the log's first segment there is nothing of the log to
    // check (retention removed it, or left a file it meant to remove):
    // start at the first segment.
    let first = inner.first_segment().load(Ordering::Acquire);
    if index < first && inner.index_fits(first) {
        (index, off) = (first, format::SEGMENT_HEADER_LEN);
    }
    // The segment holding the durable position. Missing or unusable
    // (retention removed it, or the files are damaged): validation
    // starts at the next usable segment after it. Damage is not restart
    // recovery's to repair: it leaves it for `verify` to report and
    // explicit recovery to repair, and the log opens, so that they can.
    let opened = match inner.open_segment(index) {
        Ok(Some(seg)) => Some(seg),
        Ok(None) | Err(LogError::NotALog { .. }) => next_usable_after(inner, index)?,
        Err(e) => return Err(e),
    };
    let mut seg = match opened {
        Some(seg) => {
            if seg.index != index {
                // Retention removes segments below the first: not damage.
                if index >= inner.first_segment().load(Ordering::Acquire) {
                    report.reason = Some(format!(
                        "segment {index}, which holds the durable position, is missing or damaged: checked from segment {} on (`mapped log verify` names the damage)",
                        seg.index
                    ));
                }
                (index, off) = (seg.index, format::SEGMENT_HEADER_LEN);
            }
            seg
        }
        None => {
            // Nothing past the durable position to check.
            report.reason = Some(format!(
                "segment {index}, which holds the durable position, is missing or damaged, and no usable segment follows it: nothing past the durable position was checked (`mapped log verify` names the damage)"
            ));
            reset_after_restart(inner, &mut report);
            inner.control.flush()?;
            return Ok(report);
        }
    };
    let cut_reason: String = loop {
        if off >= size {
            match inner.open_segment(index + 1) {
                Ok(Some(next)) => {
                    // Everything up to the cut becomes durable below:
                    // sync each segment as we leave it.
                    seg.map.sync_data()?;
                    seg = next;
                    index += 1;
                    off = format::SEGMENT_HEADER_LEN;
                    continue;
                }
                Ok(None) => break String::new(),
                Err(LogError::NotALog { why, .. }) => {
                    break format!("segment {} is unreadable: {why}", index + 1);
                }
                Err(e) => return Err(e),
            }
        }
        let w = seg.map.guarded(|| seg.word(off).load(Ordering::Acquire))?;
        let word = Word::decode(w);
        let bad = match word {
            None => Some(format!("invalid header word {w:#018x}")),
            Some(Word { size: s, .. }) if off + s as u64 > size => {
                Some(format!("record of {s} bytes runs past the segment's end"))
            }
            Some(Word {
                state: State::Empty,
                ..
            }) => {
                let tail = seg.map.guarded(|| seg.tail().load(Ordering::Acquire))?;
                if off < tail.min(size) {
                    Some("reserved record never announced".to_string())
                } else {
                    Some(String::new()) // the clean end
                }
            }
            Some(Word {
                state: State::Writing { .. },
                ..
            }) => Some("record never committed".to_string()),
            Some(Word {
                state: State::Padding,
                size: s,
            }) => {
                off += s as u64;
                None
            }
            Some(Word {
                state: State::Committed,
                size: s,
            }) => {
                let mut meta = [0u8; 8];
                seg.map.read_at(off + 8, &mut meta)?;
                let (len, crc) = format::decode_meta(u64::from_le_bytes(meta));
                if !format::committed_fits(off, s, len, size) {
                    Some(format!(
                        "payload length {len} does not match record size {s}"
                    ))
                } else {
                    let mut payload = vec![0u8; len as usize];
                    seg.map
                        .read_at(off + format::RECORD_HEADER_LEN, &mut payload)?;
                    if format::checksum(&payload) != crc {
                        Some("checksum mismatch (torn write)".to_string())
                    } else {
                        report.kept += 1;
                        off += s as u64;
                        None
                    }
                }
            }
        };
        if let Some(reason) = bad {
            break reason;
        }
    };
    // Cut at (index, off): zero what lies between it and the tail, reset
    // the tail, and remove later segments.
    let tail = seg.map.guarded(|| seg.tail().load(Ordering::Acquire))?;
    let cut = off.min(size);
    let zero_end = tail.clamp(cut, size);
    if !cut_reason.is_empty() || zero_end > cut {
        if !cut_reason.is_empty() {
            report.cut_at = Some(index * size + cut);
            report.reason = Some(cut_reason);
        }
        seg.map.fill(cut, (zero_end - cut) as usize, 0)?;
        report.bytes_zeroed = zero_end - cut;
    }
    // Past the tail too: after a power loss the page holding the tail
    // counter may be older than pages of records written after it, and
    // appends must find zeros wherever they reserve.
    let mut page = [0u8; 4096];
    let mut at = zero_end;
    while at < size {
        let n = (size - at).min(page.len() as u64) as usize;
        seg.map.read_at(at, &mut page[..n])?;
        if page[..n].iter().any(|&b| b != 0) {
            seg.map.fill(at, n, 0)?;
            report.bytes_zeroed += n as u64;
            if report.cut_at.is_none() {
                report.cut_at = Some(index * size + cut);
                report.reason = Some(
                    "stale records past the reservation counter (written back after the last sync)"
                        .into(),
                );
            }
        }
        at += n as u64;
    }
    seg.map
        .guarded(|| seg.tail().store(cut, Ordering::Release))?;
    seg.map.sync_data()?;
    let later = crate::storage::segment::list(&inner.dir)?
        .into_iter()
        .filter(|&i| i > index)
        .map(|i| (i, inner.dir.join(crate::storage::segment::file_name(i))));
    let quarantine = crate::ops::damage::quarantine_dir(&inner.dir);
    for (i, path) in later {
        // Every later segment leaves the log for its quarantine
        // folder, never deleted: its records were not synced, but they
        // may be all someone has. Only a segment made ahead of its roll
        // (`background.rs`) whose every byte past its header is zero is
        // removed: it holds nothing. (One that looks made ahead may
        // still hold records past a first page that never reached the
        // disk.) A segment made ahead is no cut: not reported, and no
        // reader is told.
        let made_ahead = i > published && segment_unused(inner, i);
        if made_ahead && segment_empty(inner, i) {
            // Not a byte of data in it: removed.
            std::fs::remove_file(&path).map_err(|e| LogError::io(&path, "remove", e))?;
            continue;
        }
        crate::ops::damage::quarantine_move(&quarantine, &path)?;
        report.quarantine = Some(quarantine.clone());
        if !made_ahead {
            report.segments_removed.push(i);
        }
    }
    if cut < tail || !report.segments_removed.is_empty() {
        // Readers waiting past the cut move back to it (section 15 of
        // docs/format.md): where, then that it happened.
        // (Recoveries exclude each other: the count is ours to bump.)
        let id = index * size + cut;
        let k = inner.cuts().load(Ordering::Acquire);
        inner.cut_ring(k).store(id, Ordering::Release);
        inner.last_cut().store(id, Ordering::Release);
        inner.cuts().fetch_add(1, Ordering::AcqRel);
    }
    inner.tail_segment().store(index, Ordering::Release);
    reset_after_restart(inner, &mut report);
    let end = index * size + cut;
    if inner.durable().load(Ordering::Acquire) < end {
        inner.durable().store(end, Ordering::Release);
    }
    inner.control.flush()?;
    crate::storage::dir::sync_dir(&inner.dir)?;
    Ok(report)
}

/// [`Log::recover_dry_run`](crate::Log::recover_dry_run).
pub(crate) fn dry_run(log: &Arc<Inner>) -> Result<RecoveryReport> {
    if log.read_only {
        let (live, dead_busy) = crate::ops::inspect::appender_slots(log)?;
        let mut report = RecoveryReport {
            slots_released: dead_busy.len() as u32,
            leftovers_removed: crate::storage::temp::log_leftovers(log.dir())?,
            ..RecoveryReport::default()
        };
        report_damage(log, &mut report, !live.is_empty(), false)?;
        return Ok(report);
    }
    recover(log, false)
}
