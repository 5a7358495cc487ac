//! Rebuilding a missing or unreadable control file from the segment
//! files (`Log::rebuild_control`, run by `mapped log recover`;
//! `docs/format.md`, section 19).

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::Ordering;

use crate::error::{LogError, Result};
use crate::format::{self};
use crate::ops::damage::{
    Change, Problem, ProblemKind, header_of, quarantine_dir, quarantine_move,
};
use crate::ops::recovery::RecoveryReport;
use crate::storage::segment::{self};

/// [`Log::rebuild_control`](crate::Log::rebuild_control).
pub(crate) fn rebuild_control(dir: impl AsRef<Path>, apply: bool) -> Result<RecoveryReport> {
    let dir = dir.as_ref();
    let control_path = dir.join(crate::storage::control::CONTROL_FILE);
    // Segments by (log id, segment size): (index, file mode) each.
    type Groups = std::collections::BTreeMap<([u8; 16], u64), Vec<(u64, u32)>>;
    let mut groups = Groups::new();
    for i in segment::list(dir)? {
        let path = dir.join(segment::file_name(i));
        if let Ok((h, _)) = header_of(&path) {
            // Placeholders count: they prove their index was the log's.
            if h.index == i {
                use std::os::unix::fs::PermissionsExt;
                let mode = std::fs::metadata(&path)
                    .map(|m| m.permissions().mode() & 0o666)
                    .unwrap_or(format::DEFAULT_FILE_MODE);
                groups
                    .entry((h.log_id, h.segment_size))
                    .or_default()
                    .push((i, mode));
            }
        }
    }
    let Some(((log_id, segment_size), segs)) = groups.into_iter().max_by_key(|(_, v)| v.len())
    else {
        return Err(LogError::NotALog {
            path: dir.to_path_buf(),
            why: format::HeaderError::Field(
                "no segment file with a valid header: there is nothing to rebuild the control file from".into(),
            ),
        });
    };
    let first = segs.first().map(|s| s.0).unwrap_or(0);
    // The last segment holding anything: one after it, empty, was made
    // ahead of its roll.
    let unused = |i: u64| {
        let Ok(f) = File::open(dir.join(segment::file_name(i))) else {
            return false;
        };
        let (mut tail, mut word) = ([0u8; 8], [0u8; 8]);
        f.read_exact_at(&mut tail, format::SEGMENT_TAIL_OFFSET)
            .is_ok()
            && f.read_exact_at(&mut word, format::SEGMENT_HEADER_LEN)
                .is_ok()
            && u64::from_le_bytes(tail) == format::SEGMENT_HEADER_LEN
            && u64::from_le_bytes(word) == 0
    };
    let mut tail = segs.last().map(|s| s.0).unwrap_or(0);
    if tail > first && unused(tail) {
        tail -= 1;
    }
    let file_mode = segs
        .first()
        .map(|s| s.1)
        .filter(|&m| format::check_file_mode(m).is_ok())
        .unwrap_or(format::DEFAULT_FILE_MODE);
    let max_message = (segment_size - format::SEGMENT_HEADER_LEN - format::RECORD_HEADER_LEN)
        .min(u32::MAX as u64) as u32;
    let header = format::ControlHeader {
        segment_size,
        max_message,
        log_id,
        file_mode,
    };
    let q = quarantine_dir(dir);
    let mut report = RecoveryReport {
        applied: apply,
        ..Default::default()
    };
    let exists = std::fs::symlink_metadata(&control_path).is_ok();
    report.problems.push(Problem {
        kind: ProblemKind::BadSegment,
        segment: control_path.clone(),
        id: 0,
        end: 0,
        offset: None,
        what: if exists {
            "the control file is unreadable".into()
        } else {
            "the control file is missing".into()
        },
    });
    if exists {
        report.changes.push(Change::Quarantined {
            from: control_path.clone(),
            to: q.join(crate::storage::control::CONTROL_FILE),
            why: "unreadable".into(),
        });
    }
    report.changes.push(Change::ControlRebuilt {
        first,
        tail,
        segment_size,
        max_message,
    });
    if !apply {
        return Ok(report);
    }
    // No appender may work on the log meanwhile: with no control file
    // it would look dead to everyone (its slot word is gone), and a
    // reader of the new control file would pad over its record. The
    // lock file outlives the control file: hold the recovery byte
    // (appenders join only under it) and find every slot free.
    let lock_path = dir.join(crate::storage::locks::LOCK_FILE);
    let lock = crate::storage::locks::LockFile::ensure(&lock_path, file_mode)?;
    let lock_error = |e| LogError::io(&lock_path, "lock", e);
    lock.lock_wait(format::RECOVERY_LOCK_BYTE)
        .map_err(lock_error)?;
    for slot in 0..format::SLOTS {
        if !lock.try_lock(slot).map_err(lock_error)? {
            return Err(LogError::InvalidArgument {
                path: dir.to_path_buf(),
                what: format!(
                    "an appender is alive (it holds slot {slot} of {}): stop every appender before the control file is rebuilt",
                    lock_path.display()
                ),
            });
        }
        let _ = lock.unlock(slot);
    }
    if exists {
        quarantine_move(&q, &control_path)?;
        report.quarantine = Some(q);
    }
    // Everything present is on disk before the control file says the
    // log holds it.
    for (i, _) in &segs {
        let p = dir.join(segment::file_name(*i));
        File::open(&p)
            .and_then(|f| f.sync_all())
            .map_err(|e| LogError::io(&p, "fsync", e))?;
    }
    let tmp = crate::storage::temp::NewFile::create(dir, crate::storage::control::CONTROL_FILE)?;
    let made = (|| -> Result<()> {
        tmp.set_mode(file_mode)?;
        let map = tmp.map(format::CONTROL_LEN)?;
        map.write_at(0, &header.encode())?;
        map.write_at(format::CONTROL_BOOT_ID, &crate::storage::control::boot_id())?;
        map.atomic_u64(format::CONTROL_DURABLE)?.store(
            first * segment_size + format::SEGMENT_HEADER_LEN,
            Ordering::Release,
        );
        map.atomic_u64(format::CONTROL_FIRST_SEGMENT)?
            .store(first, Ordering::Release);
        map.atomic_u64(format::CONTROL_TAIL_SEGMENT)?
            .store(tail, Ordering::Release);
        map.sync_data()?;
        tmp.link(&control_path)
            .map_err(|e| LogError::io(&control_path, "link", e))
    })();
    drop(tmp);
    made?;
    crate::storage::dir::sync_dir(dir)?;
    Ok(report)
}
