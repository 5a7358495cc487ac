//! One segment file: a header, a reservation counter, and records.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use mapped::{MapOptions, Mapping, Mode};

use crate::error::{LogError, Result};
use crate::format::{self, SegmentHeader};
use crate::storage::temp::NewFile;

/// The file name of segment `index`.
pub(crate) fn file_name(index: u64) -> String {
    format!("{index:020}.seg")
}

/// Parses a segment file name.
pub(crate) fn parse_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".seg")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The indexes of the segment files in `dir`, in increasing order (other
/// files, temporary ones included, are ignored).
pub(crate) fn list(dir: &Path) -> Result<Vec<u64>> {
    let read_error = |e| LogError::io(dir, "read directory", e);
    let mut v = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(read_error)? {
        let entry = entry.map_err(read_error)?;
        if let Some(i) = entry.file_name().to_str().and_then(parse_name) {
            v.push(i);
        }
    }
    v.sort_unstable();
    Ok(v)
}

/// A mapped segment.
#[derive(Debug)]
pub(crate) struct Segment {
    pub(crate) index: u64,
    pub(crate) map: Mapping,
}

impl Segment {
    /// Opens and validates segment `index` of the log in `dir`.
    pub(crate) fn open(
        dir: &Path,
        index: u64,
        expect: &format::ControlHeader,
        mode: Mode,
    ) -> Result<Option<Segment>> {
        let path = dir.join(file_name(index));
        if check_index(&path, index, expect.segment_size).is_err() {
            return Ok(None); // cannot exist
        }
        let map = match MapOptions::new().mode(mode).open(&path) {
            Ok(map) => map,
            Err(mapped::OpenError::Io(e))
                if e.os_error().kind() == std::io::ErrorKind::NotFound =>
            {
                return Ok(None);
            }
            Err(e) => return Err(e.into()),
        };
        if map.len() as u64 != expect.segment_size {
            return Err(not_a_log(
                &path,
                format!(
                    "segment file is {} bytes, the log's segments are {}",
                    map.len(),
                    expect.segment_size
                ),
            ));
        }
        let mut raw = [0u8; 64];
        map.read_at(0, &mut raw)?;
        let header = SegmentHeader::decode(&raw).map_err(|why| LogError::NotALog {
            path: path.clone(),
            why,
        })?;
        if header.index != index
            || header.log_id != expect.log_id
            || header.segment_size != expect.segment_size
        {
            return Err(not_a_log(
                &path,
                format!(
                    "segment header says index {} of another log or geometry; expected index {index}",
                    header.index
                ),
            ));
        }
        Ok(Some(Segment { index, map }))
    }

    /// Creates segment `index` unless it exists, atomically: the file is
    /// built with no name (or, where the system does not allow that, under
    /// a temporary name) and linked into place, so no process ever sees a
    /// half-made segment. Returns whether this call created it.
    /// If another process is creating a segment, waits up to [`ROLL_WAIT`]
    /// for it to finish (see [`Segment::create_with`]).
    ///
    /// When another process made it, its name may not be durable yet (that
    /// creator may still be in its `fsync` of the directory): this makes
    /// it durable before returning, since the caller is about to use the
    /// segment, and a `Sync` append in it must not be acknowledged while a
    /// power loss could still take its name away.
    pub(crate) fn create(dir: &Path, index: u64, ctl: &format::ControlHeader) -> Result<bool> {
        let made = Segment::create_with(dir, index, ctl, ROLL_WAIT)?;
        if !made {
            crate::storage::dir::sync_dir(dir)?;
        }
        Ok(made)
    }

    /// [`Segment::create`], waiting at most `patience` for another creator.
    ///
    /// Creators take the lock file's byte [`format::ROLL_LOCK_BYTE`], so that
    /// appenders rolling together (or a helper making the segment ahead)
    /// do not each reserve a segment's worth of disk only for all but one
    /// to throw it away. The lock is only tried, never waited on blindly:
    /// while it is busy this polls for the segment to appear, and after
    /// `patience` creates it anyway, so a creator that is stopped (not dead:
    /// the kernel releases a dead one's lock at once) delays the others by
    /// at most `patience`, and blocks nobody. With a zero `patience`, a busy
    /// lock makes this return `Ok(false)` at once: someone is on it.
    pub(crate) fn create_with(
        dir: &Path,
        index: u64,
        ctl: &format::ControlHeader,
        patience: Duration,
    ) -> Result<bool> {
        let path = dir.join(file_name(index));
        check_index(&path, index, ctl.segment_size)?;
        if path.exists() {
            return Ok(false);
        }
        let lock_path = dir.join(crate::storage::locks::LOCK_FILE);
        let lock = crate::storage::locks::LockFile::open(&lock_path)?;
        let started = Instant::now();
        loop {
            match lock.try_lock(format::ROLL_LOCK_BYTE) {
                Ok(true) => break,
                Ok(false) => {}
                Err(e) => return Err(LogError::io(&lock_path, "lock", e)),
            }
            if path.exists() {
                return Ok(false);
            }
            if patience.is_zero() {
                return Ok(false);
            }
            if started.elapsed() >= patience {
                break; // the creator is stuck: make it ourselves
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        if path.exists() {
            return Ok(false);
        }
        // Built with no name where the system allows (nothing is left
        // behind if we die), else under a locked temporary name that a
        // sweep of leftovers leaves alone (`temp.rs`).
        let tmp = NewFile::create(dir, &file_name(index))?;
        let result = (|| -> Result<bool> {
            tmp.set_mode(ctl.file_mode)?;
            let map = tmp.map(ctl.segment_size)?;
            let header = SegmentHeader {
                segment_size: ctl.segment_size,
                index,
                log_id: ctl.log_id,
                flags: 0,
            };
            map.write_at(0, &header.encode())?;
            map.atomic_u64(format::SEGMENT_TAIL_OFFSET)?
                .store(format::SEGMENT_HEADER_LEN, Ordering::Release);
            // The header must be on disk before the name is, or a power loss
            // could leave a segment whose name exists and header does not.
            map.sync_data()?;
            match tmp.link(&path) {
                Ok(()) => {
                    crate::storage::dir::sync_dir(dir)?;
                    Ok(true)
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
                Err(e) => Err(LogError::io(&path, "link", e)),
            }
        })();
        drop(tmp);
        result
    }

    pub(crate) fn path(&self) -> &Path {
        self.map.path()
    }

    pub(crate) fn size(&self) -> u64 {
        self.map.len() as u64
    }

    /// The reservation counter: the offset of the next reservation. May run
    /// past the segment's end (reservations that did not fit).
    pub(crate) fn tail(&self) -> &AtomicU64 {
        self.atomic(format::SEGMENT_TAIL_OFFSET)
    }

    /// The header word of the record at `offset`.
    pub(crate) fn word(&self, offset: u64) -> &AtomicU64 {
        self.atomic(offset)
    }

    fn atomic(&self, offset: u64) -> &AtomicU64 {
        crate::storage::words::u64_at(&self.map, offset)
    }

    /// The id of the record at `offset`.
    pub(crate) fn id_of(&self, offset: u64) -> u64 {
        self.index * self.size() + offset
    }

    pub(crate) fn corrupt(&self, offset: u64, what: impl Into<String>) -> LogError {
        LogError::Corrupt {
            path: self.path().to_path_buf(),
            id: self.id_of(offset),
            offset,
            what: what.into(),
        }
    }
}

/// How long [`Segment::create`] waits for another process creating a
/// segment before creating it too. Making a 64 MiB segment takes about
/// 20 ms on the machines we measured (reserving it on tmpfs; two journal
/// commits on ext4).
pub(crate) const ROLL_WAIT: Duration = Duration::from_millis(250);

/// Refuses a segment index whose ids do not fit in 64 bits: only a
/// hostile tail segment counter leads there.
fn check_index(path: &Path, index: u64, segment_size: u64) -> Result<()> {
    if index
        .checked_add(1)
        .and_then(|n| n.checked_mul(segment_size))
        .is_none()
    {
        return Err(not_a_log(
            path,
            format!("segment index {index} is out of range: its ids overflow 64 bits"),
        ));
    }
    Ok(())
}

impl crate::protocol::Words for Segment {
    fn cap(&self) -> u64 {
        self.size()
    }
    fn tail(&self) -> &AtomicU64 {
        Segment::tail(self)
    }
    fn word(&self, offset: u64) -> &AtomicU64 {
        Segment::word(self, offset)
    }
}

pub(crate) fn not_a_log(path: &Path, why: String) -> LogError {
    LogError::NotALog {
        path: PathBuf::from(path),
        why: format::HeaderError::Field(why),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A log in a temporary directory, and the roll lock held by an open
    /// file description of our own, as another creator would hold it.
    fn held() -> (
        tempfile::TempDir,
        format::ControlHeader,
        crate::storage::locks::LockFile,
    ) {
        let (dir, log) = crate::testing::temp_log(1 << 20);
        let lock = crate::storage::locks::LockFile::open(
            &log.dir().join(crate::storage::locks::LOCK_FILE),
        )
        .unwrap();
        assert!(lock.try_lock(format::ROLL_LOCK_BYTE).unwrap());
        (dir, log.header, lock)
    }

    fn entries(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn creators_wait_for_the_one_holding_the_roll_lock() {
        let (tmp, header, lock) = held();
        let dir = tmp.path().join("log");
        let before = entries(&dir);
        std::thread::scope(|s| {
            let waiter =
                s.spawn(|| Segment::create_with(&dir, 1, &header, Duration::from_secs(60)));
            // While the lock is held, the waiter makes nothing, not even a
            // temporary file.
            std::thread::sleep(Duration::from_millis(100));
            assert!(!waiter.is_finished());
            assert_eq!(entries(&dir), before);
            // The holder finishes (here: makes nothing) and lets go.
            drop(lock);
            assert!(waiter.join().unwrap().unwrap(), "made by the waiter");
        });
        assert!(dir.join(file_name(1)).exists());
    }

    #[test]
    fn a_creator_finds_the_segment_made_while_it_waited() {
        let (tmp, header, _lock) = held();
        let dir = tmp.path().join("log");
        std::thread::scope(|s| {
            let waiter =
                s.spawn(|| Segment::create_with(&dir, 1, &header, Duration::from_secs(60)));
            std::thread::sleep(Duration::from_millis(20));
            // The holder links the segment into place (a stand-in file
            // here) and has not let go yet: the waiter sees the name.
            std::fs::write(dir.join(file_name(1)), b"").unwrap();
            assert!(!waiter.join().unwrap().unwrap(), "made by the holder");
        });
    }

    #[test]
    fn a_stuck_creator_delays_the_others_by_their_patience_only() {
        let (tmp, header, _lock) = held();
        let dir = tmp.path().join("log");
        let started = Instant::now();
        assert!(Segment::create_with(&dir, 1, &header, Duration::from_millis(50)).unwrap());
        assert!(started.elapsed() >= Duration::from_millis(50));
        assert!(dir.join(file_name(1)).exists());
        // And with no patience at all, a busy lock means "someone is on it".
        assert!(!Segment::create_with(&dir, 2, &header, Duration::ZERO).unwrap());
        assert!(!dir.join(file_name(2)).exists());
    }
}
