//! Creating and opening a log: the directory built whole in a staging
//! directory and moved into place, the control file mapped and checked,
//! restart recovery run (`docs/format.md`, sections 3 and 4).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use mapped::MapOptions;

use crate::error::{LogError, Result};
use crate::format::{self, ControlHeader};
use crate::ops::recovery::RecoveryReport;
use crate::storage::control::{CONTROL_FILE, Inner, map_mode};
use crate::storage::dir::{share_dir, sync_dir};
use crate::storage::locks::{LOCK_FILE, LockFile};
use crate::storage::segment::{Segment, not_a_log};

/// Settings fixed when a log is created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogOptions {
    /// Size of each segment file in bytes (default 64 MiB).
    pub segment_size: u64,
    /// Largest message in bytes (default 1 MiB).
    pub max_message: u32,
    /// The permission bits of every file of the log, whoever makes it
    /// later (segments, named-reader files, the lock file), as git's
    /// `core.sharedRepository` does: `0o600` (the default) for a log only
    /// its owner uses, `0o640` for a group that reads it, `0o660` for a
    /// group that also writes it. Directories get the matching search
    /// bits. Stored in the control file; at least `0o600`, at most
    /// `0o666`.
    pub file_mode: u32,
    /// The group that owns the log's directory, if not the creator's: the
    /// directory gets the set-group-ID bit, so that every file made in it
    /// later belongs to this group too. The creator must be allowed to
    /// give the directory to it (`chown`).
    pub group: Option<u32>,
}

impl Default for LogOptions {
    fn default() -> Self {
        LogOptions {
            segment_size: 64 << 20,
            max_message: 1 << 20,
            file_mode: format::DEFAULT_FILE_MODE,
            group: None,
        }
    }
}

/// `Log::create` and `Log::create_at`: the new log, its first segment
/// `first`, opened.
pub(crate) fn create(
    dir: &Path,
    opts: LogOptions,
    first: u64,
) -> Result<(Arc<Inner>, Option<RecoveryReport>)> {
    if opts.max_message == 0 {
        return Err(LogError::InvalidArgument {
            path: dir.to_path_buf(),
            what: "the maximum message size must be at least 1 byte".into(),
        });
    }
    format::check_segment_size(opts.segment_size).map_err(|why| LogError::NotALog {
        path: dir.to_path_buf(),
        why,
    })?;
    format::check_max_message(opts.max_message, opts.segment_size).map_err(|why| {
        LogError::NotALog {
            path: dir.to_path_buf(),
            why,
        }
    })?;
    format::check_file_mode(opts.file_mode).map_err(|why| LogError::InvalidArgument {
        path: dir.to_path_buf(),
        what: why.to_string(),
    })?;
    if first
        .checked_add(1)
        .and_then(|n| n.checked_mul(opts.segment_size))
        .is_none()
    {
        return Err(LogError::InvalidArgument {
            path: dir.to_path_buf(),
            what: format!(
                "a log cannot start at segment {first}: with segments of {} bytes its ids overflow 64 bits",
                opts.segment_size
            ),
        });
    }
    let existed = match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => true,
        Ok(_) => {
            return Err(LogError::io(
                dir,
                "create a log in",
                std::io::Error::new(std::io::ErrorKind::NotADirectory, "not a directory"),
            ));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // A dangling symbolic link is not a missing directory.
            if std::fs::symlink_metadata(dir).is_ok() {
                return Err(LogError::io(dir, "create a log in", e));
            }
            let parent = parent_of(dir);
            if !parent.is_dir() {
                return Err(LogError::io(
                    dir,
                    "create directory",
                    std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        "its parent directory does not exist",
                    ),
                ));
            }
            false
        }
        Err(e) => return Err(LogError::io(dir, "create a log in", e)),
    };
    // Creators in one existing directory take turns (an exclusive
    // `flock` on it, released at their death): one's half-moved log is
    // never taken for another's leftover.
    let _turn = if existed {
        let d = File::open(dir).map_err(|e| LogError::io(dir, "open directory", e))?;
        rustix::fs::flock(&d, rustix::fs::FlockOperation::LockExclusive)
            .map_err(|e| LogError::io(dir, "lock directory", e.into()))?;
        check_empty_of_logs(dir, first)?;
        Some(d)
    } else {
        None
    };
    let mut log_id = [0u8; 16];
    log_id[..8].copy_from_slice(&crate::storage::temp::random_u64().to_le_bytes());
    log_id[8..].copy_from_slice(&crate::storage::temp::random_u64().to_le_bytes());
    let header = ControlHeader {
        segment_size: opts.segment_size,
        max_message: opts.max_message,
        log_id,
        file_mode: opts.file_mode,
    };
    // All or nothing: the log is built in a staging directory, then
    // renamed into place (a new directory), or its files are moved
    // into the existing directory with the control file last. A
    // failure removes what was built; a crash leaves a staging
    // directory whose name starts with a dot.
    let tag = format!(
        "{}-{}",
        std::process::id(),
        crate::storage::temp::random_u64()
    );
    let staging = if existed {
        dir.join(format!(".create.tmp-{tag}"))
    } else {
        let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("log");
        parent_of(dir).join(format!(".{name}.create.tmp-{tag}"))
    };
    std::fs::create_dir(&staging).map_err(|e| LogError::io(&staging, "create directory", e))?;
    // Shared: the directory's group and mode first (files made in it
    // inherit a set-group-ID directory's group); a directory that
    // existed keeps its own unless asked.
    let shared = opts.file_mode != format::DEFAULT_FILE_MODE || opts.group.is_some();
    let placed = share_dir(&staging, opts.file_mode, opts.group)
        .and_then(|()| {
            if existed && shared {
                share_dir(dir, opts.file_mode, opts.group)
            } else {
                Ok(())
            }
        })
        .and_then(|()| build_log(&staging, &header, first))
        .and_then(|()| {
            if existed {
                move_into(&staging, dir, first)
            } else {
                match rename_noreplace(&staging, dir) {
                    Ok(()) => Ok(true),
                    Err(LogError::AlreadyExists { .. }) => Ok(false),
                    Err(e) => Err(e),
                }
            }
        });
    let _ = std::fs::remove_dir_all(&staging);
    match placed {
        Ok(true) => {}
        // The directory appeared meanwhile: make the log in it.
        Ok(false) => return create(dir, opts, first),
        Err(e) => return Err(e),
    }
    sync_dir(if existed { dir } else { parent_of(dir) })?;
    open(dir, false)
}

/// `Log::open` and `Log::open_read_only`: the log's state, and what
/// restart recovery did if it ran.
pub(crate) fn open(dir: &Path, read_only: bool) -> Result<(Arc<Inner>, Option<RecoveryReport>)> {
    let dir = dir.to_path_buf();
    let control_path = dir.join(CONTROL_FILE);
    let control = MapOptions::new()
        .mode(map_mode(read_only))
        .open(&control_path)
        .map_err(|e| match e {
            mapped::OpenError::Io(io) if io.os_error().kind() == std::io::ErrorKind::NotFound => {
                if crate::storage::segment::list(&dir).is_ok_and(|l| !l.is_empty()) {
                    not_a_log(&control_path, "the control file is missing, but segment files are here: `mapped log recover` can rebuild it from them".into())
                } else {
                    not_a_log(&dir, "no control file: not a log directory (create one with `mapped log create`)".into())
                }
            }
            e => e.into(),
        })?;
    if (control.len() as u64) < format::CONTROL_LEN {
        return Err(not_a_log(
            &control_path,
            format!(
                "control file is {} bytes, expected {}",
                control.len(),
                format::CONTROL_LEN
            ),
        ));
    }
    let mut raw = [0u8; 64];
    control.read_at(0, &mut raw)?;
    let header = ControlHeader::decode(&raw).map_err(|why| LogError::NotALog {
        path: control_path.clone(),
        why,
    })?;
    // Make sure the lock file exists (appenders, repairs and recovery
    // each open their own descriptor of it).
    if !read_only {
        LockFile::ensure(&dir.join(LOCK_FILE), header.file_mode)?;
    }
    let log = Arc::new(Inner {
        dir,
        header,
        control,
        read_only,
    });
    if read_only {
        return Ok((log, None));
    }
    let report = crate::ops::recovery::recover_if_restarted(&log)?;
    Ok((log, report))
}

/// The directory `dir` is in (`.` for a bare name).
fn parent_of(dir: &Path) -> &Path {
    match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Refuses an existing directory that holds a log, or segment files of
/// one: a log is never made over another's files.
fn check_empty_of_logs(dir: &Path, first: u64) -> Result<()> {
    if dir.join(CONTROL_FILE).exists() {
        return Err(LogError::AlreadyExists {
            path: dir.to_path_buf(),
        });
    }
    // A create in this directory that crashed between moving its first
    // segment in and moving the control file in left that one segment
    // behind, empty: it holds nothing (every byte past its header zero,
    // its counter at the first record), so it goes. Only the segment this
    // create would make: another lone segment, even empty, may be what is
    // left of a log whose control file was lost (it says where the log
    // stood), for `mapped log recover` to rebuild.
    if crate::storage::segment::list(dir)? == [first] {
        let p = dir.join(crate::storage::segment::file_name(first));
        if segment_file_is_empty(&p) {
            std::fs::remove_file(&p).map_err(|e| LogError::io(&p, "remove", e))?;
        }
    }
    let entries = std::fs::read_dir(dir).map_err(|e| LogError::io(dir, "read directory", e))?;
    for entry in entries {
        let entry = entry.map_err(|e| LogError::io(dir, "read directory", e))?;
        if entry
            .file_name()
            .to_str()
            .and_then(crate::storage::segment::parse_name)
            .is_some()
        {
            // Another process may have made the log since we looked.
            if dir.join(CONTROL_FILE).exists() {
                return Err(LogError::AlreadyExists {
                    path: dir.to_path_buf(),
                });
            }
            return Err(not_a_log(
                &entry.path(),
                "a segment file without a control file: refusing to create a log over it".into(),
            ));
        }
    }
    Ok(())
}

/// Whether the segment file at `path` has a valid header, a reservation
/// counter at the first record, and nothing but zeros past its header: a
/// segment that never held anything.
fn segment_file_is_empty(path: &Path) -> bool {
    use std::io::Read;
    let Ok(mut f) = File::open(path) else {
        return false;
    };
    let mut head = [0u8; format::SEGMENT_HEADER_LEN as usize];
    if f.read_exact(&mut head).is_err() {
        return false;
    }
    let mut raw = [0u8; 64];
    raw.copy_from_slice(&head[..64]);
    let tail = u64::from_le_bytes(head[64..72].try_into().expect("8 bytes"));
    if format::SegmentHeader::decode(&raw).is_err() || tail != format::SEGMENT_HEADER_LEN {
        return false;
    }
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match f.read(&mut buf) {
            Ok(0) => return true,
            Ok(n) if buf[..n].iter().all(|&b| b == 0) => {}
            _ => return false,
        }
    }
}

/// Builds a whole new log in the empty directory `dir`: the control file,
/// its first segment and the lock file, each synced, and the directory
/// synced.
fn build_log(dir: &Path, header: &ControlHeader, first: u64) -> Result<()> {
    let control_path = dir.join(CONTROL_FILE);
    let tmp = crate::storage::temp::NewFile::create(dir, CONTROL_FILE)?;
    let made = (|| -> Result<()> {
        tmp.set_mode(header.file_mode)?;
        let map = tmp.map(format::CONTROL_LEN)?;
        map.write_at(0, &header.encode())?;
        map.write_at(format::CONTROL_BOOT_ID, &crate::storage::control::boot_id())?;
        map.atomic_u64(format::CONTROL_TAIL_SEGMENT)?
            .store(first, Ordering::Release);
        map.atomic_u64(format::CONTROL_FIRST_SEGMENT)?
            .store(first, Ordering::Release);
        map.atomic_u64(format::CONTROL_DURABLE)?.store(
            first * header.segment_size + format::SEGMENT_HEADER_LEN,
            Ordering::Release,
        );
        map.sync_data()?;
        tmp.link(&control_path)
            .map_err(|e| LogError::io(&control_path, "link", e))
    })();
    drop(tmp);
    made?;
    LockFile::ensure(&dir.join(LOCK_FILE), header.file_mode)?;
    Segment::create(dir, first, header)?;
    sync_dir(dir)
}

/// Renames `from` to `to` unless `to` exists (`renameat2` with
/// `RENAME_NOREPLACE`); [`LogError::AlreadyExists`] if it does.
fn rename_noreplace(from: &Path, to: &Path) -> Result<()> {
    rustix::fs::renameat_with(
        rustix::fs::CWD,
        from,
        rustix::fs::CWD,
        to,
        rustix::fs::RenameFlags::NOREPLACE,
    )
    .map_err(|e| {
        let e = std::io::Error::from(e);
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            LogError::AlreadyExists {
                path: to.to_path_buf(),
            }
        } else {
            LogError::io(to, "rename into place", e)
        }
    })
}

/// Moves the files of a log built in `staging` into the existing directory
/// `dir`, the control file last (it makes the directory a log), never
/// over an existing name. On failure, removes what it moved. `Ok(false)`
/// never happens here (the directory exists); kept for the caller's match.
fn move_into(staging: &Path, dir: &Path, first: u64) -> Result<bool> {
    let segment = crate::storage::segment::file_name(first);
    let mut moved: Vec<PathBuf> = Vec::new();
    let result = (|| -> Result<()> {
        for name in [segment.as_str(), LOCK_FILE, CONTROL_FILE] {
            let to = dir.join(name);
            match rename_noreplace(&staging.join(name), &to) {
                Ok(()) => moved.push(to),
                // A lock file is only ever locked: another's will do.
                Err(LogError::AlreadyExists { .. }) if name == LOCK_FILE => {}
                Err(LogError::AlreadyExists { .. }) => {
                    return Err(LogError::AlreadyExists {
                        path: dir.to_path_buf(),
                    });
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    })();
    if result.is_err() {
        for p in moved.iter().rev() {
            let _ = std::fs::remove_file(p);
        }
    }
    result.map(|()| true)
}
