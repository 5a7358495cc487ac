//! Retention: removing the oldest segments, never past what a named
//! reader or the durable position still needs (`docs/format.md`, section
//! 19).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use crate::error::{LogError, Result};
use crate::format;
use crate::ops::inspect::count_segment;
use crate::storage::control::Inner;
use crate::storage::temp::Leftovers;

/// Which segments retention may remove.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Retention {
    /// Remove segments whose last write is older than this.
    pub max_age: Option<Duration>,
    /// Remove the oldest segments while the log's files exceed this.
    pub max_bytes: Option<u64>,
    /// Remove the oldest segments while the log holds more messages.
    pub max_messages: Option<u64>,
    /// Also remove segments that named readers have not finished.
    pub force: bool,
}

/// What retention removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetainReport {
    /// Segments removed.
    pub removed: Vec<u64>,
    /// Named readers that kept a segment the policy would have removed.
    pub held_by: Vec<String>,
    /// Temporary files left by crashed processes, removed.
    pub leftovers_removed: Leftovers,
    /// Segment files found below the log's first segment (an interrupted
    /// retention left them, or the control file's word is wrong), moved
    /// into [`quarantine`](Self::quarantine), not deleted.
    pub quarantined: Vec<u64>,
    /// Where those went (`quarantine/TIME-PID-N` in the log directory).
    pub quarantine: Option<std::path::PathBuf>,
}

/// [`Log::retain`](crate::Log::retain).
pub(crate) fn retain(log: &Arc<Inner>, policy: Retention) -> Result<RetainReport> {
    log.writable("retention")?;
    // Not while an explicit recovery, or another retention, changes
    // the log's segments: this byte, exclusively (appenders joining
    // wait the few moments it takes).
    let lock = log.lock_file()?;
    lock.lock_wait(format::RECOVERY_LOCK_BYTE)
        .map_err(|e| LogError::io(log.dir().join(crate::storage::locks::LOCK_FILE), "lock", e))?;
    let result = retain_locked(log, policy);
    let _ = lock.unlock(format::RECOVERY_LOCK_BYTE);
    result
}

pub(crate) fn retain_locked(log: &Arc<Inner>, policy: Retention) -> Result<RetainReport> {
    let size = log.segment_size();
    let (first, tail) = log.ctl(|| {
        (
            log.first_segment().load(Ordering::Acquire),
            log.tail_segment().load(Ordering::Acquire),
        )
    })?;
    // Untrusted words: retention removes files on their say-so.
    // The tail segment must be there and sound: retention removes
    // files up to it, on its say-so.
    let tail_ok = log.index_fits(tail) && matches!(log.open_segment(tail), Ok(Some(_)));
    if first > tail || !tail_ok {
        return Err(LogError::Corrupt {
            path: log.dir().join(crate::storage::control::CONTROL_FILE),
            id: 0,
            offset: format::CONTROL_FIRST_SEGMENT,
            what: format!(
                "the control file's segment range is impossible, or its tail segment is missing or damaged (first segment {first}, tail segment {tail}): retention refuses to run; see `mapped log verify` and `mapped log recover`"
            ),
        });
    }
    let present = crate::ops::inspect::segments(log)?;
    let mut report = RetainReport::default();
    // Files below the first segment: an earlier retention moved the
    // first segment up and stopped (a crash) before removing them, or
    // the first segment's word is wrong. Either way they leave the
    // log for its quarantine folder, never deleted on that word alone.
    let below: Vec<u64> = present.iter().copied().filter(|&i| i < first).collect();
    if !below.is_empty() {
        let q = crate::ops::damage::quarantine_dir(log.dir());
        for &i in &below {
            let path = log.dir().join(crate::storage::segment::file_name(i));
            crate::ops::damage::quarantine_move(&q, &path)?;
            report.quarantined.push(i);
        }
        report.quarantine = Some(q);
    }
    // The log's segments: one made ahead of its roll holds nothing and
    // is not counted against the limits.
    let segments: Vec<u64> = present
        .into_iter()
        .filter(|&i| i >= first && i <= tail)
        .collect();
    let readers = crate::ops::cursor::named_readers(log)?;
    let mut counts = Vec::new();
    let mut total_messages = 0;
    if policy.max_messages.is_some() {
        for &i in &segments {
            let n = match log.open_segment(i)? {
                Some(seg) => count_segment(&seg)?.0,
                None => 0,
            };
            counts.push(n);
            total_messages += n;
        }
    }
    let mut total_bytes = segments.len() as u64 * size;
    let now = SystemTime::now();
    for (k, &index) in segments.iter().enumerate() {
        if index >= tail {
            break;
        }
        let path = log.dir().join(crate::storage::segment::file_name(index));
        let too_old = match policy.max_age {
            Some(age) => std::fs::metadata(&path)
                .and_then(|m| m.modified())
                .map(|t| now.duration_since(t).unwrap_or_default() > age)
                .unwrap_or(false),
            None => false,
        };
        let too_big = policy.max_bytes.is_some_and(|b| total_bytes > b);
        let too_many = policy.max_messages.is_some_and(|m| total_messages > m);
        if !(too_old || too_big || too_many) {
            break;
        }
        let end = (index + 1) * size;
        let holders: Vec<String> = readers
            .iter()
            .filter(|(_, pos)| *pos < end)
            .map(|(n, _)| n.clone())
            .collect();
        if !holders.is_empty() && !policy.force {
            report.held_by = holders;
            break;
        }
        // The log's first segment moves up, durably, before the file
        // goes: a log whose first segment is missing is damaged, and a
        // power loss must never make retention look like damage.
        log.ctl(|| log.first_segment().fetch_max(index + 1, Ordering::AcqRel))?;
        log.control.flush_range(format::CONTROL_FIRST_SEGMENT, 8)?;
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            // Gone already (removed by hand): done.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(LogError::io(&path, "remove", e)),
        }
        report.removed.push(index);
        total_bytes -= size;
        if let Some(n) = counts.get(k) {
            total_messages -= n;
        }
    }
    if !report.removed.is_empty() {
        crate::storage::dir::sync_dir(log.dir())?;
    }
    report.leftovers_removed = crate::storage::temp::sweep_log(log.dir());
    Ok(report)
}
