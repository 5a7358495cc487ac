//! One segment file: a header, a reservation counter, and records.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use mapped::{MapOptions, Mapping, Mode};

use crate::error::{LogError, Result};
use crate::format::{self, SegmentHeader};
use crate::temp::Temp;

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
    ) -> Result<Option<Segment>> {
        let path = dir.join(file_name(index));
        if check_index(&path, index, expect.segment_size).is_err() {
            return Ok(None); // cannot exist
        }
        let map = match MapOptions::new().mode(Mode::ReadWrite).open(&path) {
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
    /// built under a temporary name and linked into place, so no process
    /// ever sees a half-made segment. Returns whether this call created it.
    pub(crate) fn create(dir: &Path, index: u64, ctl: &format::ControlHeader) -> Result<bool> {
        let path = dir.join(file_name(index));
        check_index(&path, index, ctl.segment_size)?;
        if path.exists() {
            return Ok(false);
        }
        // Locked while it is built, so that a sweep of leftovers
        // (`temp.rs`) leaves it alone; dropped (its name removed) at the end.
        let tmp = Temp::create(dir, &file_name(index))?;
        let result = (|| -> Result<bool> {
            let map = MapOptions::new()
                .mode(Mode::ReadWrite)
                .create(tmp.path(), ctl.segment_size)?;
            let header = SegmentHeader {
                segment_size: ctl.segment_size,
                index,
                log_id: ctl.log_id,
            };
            map.write_at(0, &header.encode())?;
            map.atomic_u64(format::SEGMENT_TAIL_OFFSET)?
                .store(format::SEGMENT_HEADER_LEN, Ordering::Release);
            // The header must be on disk before the name is, or a power loss
            // could leave a segment whose name exists and header does not.
            map.sync_data()?;
            match std::fs::hard_link(tmp.path(), &path) {
                Ok(()) => {
                    crate::log::sync_dir(dir)?;
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
        crate::words::u64_at(&self.map, offset)
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
