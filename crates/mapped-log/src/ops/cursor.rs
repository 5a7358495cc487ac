//! Named readers: a reader whose position is kept in the log directory, so
//! that it resumes where it stopped after a restart.
//!
//! `readers/NAME` holds 32 bytes: magic `MLOGRDR\0`, format version (u32
//! LE), 4 zero bytes, the position (u64 LE, the id of the next message to
//! read), CRC32C of bytes 0..24 (u32 LE), 4 zero bytes. It is replaced
//! atomically (write a temporary file, `fdatasync`, `rename`, `fsync` the
//! directory), so a crash leaves the old position or the new one, never a
//! mix.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{LogError, Result};
use crate::format::{self, HeaderError};
use crate::ops::read::{Reader, Start};
use crate::storage::control::Inner;
use crate::storage::dir::READERS_DIR;
use crate::storage::dir::sync_dir;

const MAGIC: [u8; 8] = *b"MLOGRDR\0";

/// Checks a reader name: 1 to 64 of `A-Z a-z 0-9 _ - .`, not starting with
/// a dot.
pub(crate) fn check_name(dir: &Path, name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(LogError::BadName {
            path: dir.to_path_buf(),
            name: name.to_string(),
        })
    }
}

fn encode(position: u64) -> [u8; 32] {
    let mut b = [0u8; 32];
    b[0..8].copy_from_slice(&MAGIC);
    b[8..12].copy_from_slice(&format::VERSION.to_le_bytes());
    b[16..24].copy_from_slice(&position.to_le_bytes());
    let crc = crc32c::crc32c(&b[0..24]);
    b[24..28].copy_from_slice(&crc.to_le_bytes());
    b
}

fn decode(path: &Path, b: &[u8]) -> Result<u64> {
    let bad = |why: HeaderError| LogError::NotALog {
        path: path.to_path_buf(),
        why,
    };
    if b.len() != 32 {
        return Err(bad(HeaderError::Field(format!(
            "reader position file is {} bytes, expected 32",
            b.len()
        ))));
    }
    let mut m = [0u8; 8];
    m.copy_from_slice(&b[0..8]);
    if m != MAGIC {
        return Err(bad(HeaderError::Magic(m)));
    }
    let version = u32::from_le_bytes(b[8..12].try_into().expect("4 bytes"));
    if version != format::VERSION {
        return Err(bad(HeaderError::Version(version)));
    }
    let stored = u32::from_le_bytes(b[24..28].try_into().expect("4 bytes"));
    let computed = crc32c::crc32c(&b[0..24]);
    if stored != computed {
        return Err(bad(HeaderError::Checksum { stored, computed }));
    }
    Ok(u64::from_le_bytes(b[16..24].try_into().expect("8 bytes")))
}

pub(crate) fn reader_path(log: &Arc<Inner>, name: &str) -> PathBuf {
    log.dir().join(READERS_DIR).join(name)
}

/// [`Log::reader_position`](crate::Log::reader_position).
pub(crate) fn reader_position(log: &Arc<Inner>, name: &str) -> Result<Option<u64>> {
    check_name(log.dir(), name)?;
    let path = reader_path(log, name);
    match std::fs::read(&path) {
        Ok(b) => decode(&path, &b).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(LogError::io(&path, "read", e)),
    }
}

/// [`Log::named_readers`](crate::Log::named_readers).
pub(crate) fn named_readers(log: &Arc<Inner>) -> Result<Vec<(String, u64)>> {
    list_readers(log)?
        .into_iter()
        .map(|(name, pos)| pos.map(|p| (name, p)))
        .collect()
}

/// Every named reader, sorted by name, with its saved position or why
/// its file cannot be read (for `stat`, which reports the others too).
pub(crate) fn list_readers(log: &Arc<Inner>) -> Result<Vec<(String, Result<u64>)>> {
    let dir = log.dir().join(READERS_DIR);
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(LogError::io(&dir, "read directory", e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| LogError::io(&dir, "read directory", e))?;
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        if check_name(log.dir(), &name).is_err() {
            continue; // temporary files and strangers
        }
        match crate::ops::cursor::reader_position(log, &name) {
            Ok(Some(pos)) => out.push((name, Ok(pos))),
            Ok(None) => {} // removed meanwhile
            Err(e) => out.push((name, Err(e))),
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// [`Log::named_reader`](crate::Log::named_reader).
pub(crate) fn named_reader(log: &Arc<Inner>, name: &str, start: Start) -> Result<Reader> {
    log.writable("a named reader")?;
    let mut reader = match crate::ops::cursor::reader_position(log, name)? {
        Some(pos) => match crate::ops::read::start::reader(log, Start::Id(pos)) {
            // The saved position lies in a range recovery or
            // retention removed: resume at the next message that
            // exists (`Reader::resumed_from` says so).
            Err(LogError::NoSuchId { .. } | LogError::Behind { .. }) => {
                crate::ops::read::Reader::at_or_after(log, pos)?
            }
            other => other?,
        },
        None => crate::ops::read::start::reader(log, start)?,
    };
    reader.set_name(name.to_string());
    Ok(reader)
}

/// [`Log::save_reader_position`](crate::Log::save_reader_position).
pub(crate) fn save_reader_position(log: &Arc<Inner>, name: &str, position: u64) -> Result<()> {
    check_name(log.dir(), name)?;
    let dir = log.dir().join(READERS_DIR);
    let mode = log.header.file_mode;
    if !dir.exists() {
        crate::storage::dir::make_log_dir(&dir, mode)?;
        // The new folder's name must survive a power loss too.
        sync_dir(log.dir())?;
    }
    let path = reader_path(log, name);
    // Locked while it is written, so that a sweep of leftovers
    // (`temp.rs`) leaves it be; its name is gone once renamed.
    let tmp = crate::storage::temp::Temp::create(&dir, name)?;
    crate::storage::dir::set_file_mode(tmp.file(), tmp.path(), mode)?;
    let written = (|| -> std::io::Result<()> {
        let mut f = tmp.file();
        f.write_all(&encode(position))?;
        f.sync_data()?;
        std::fs::rename(tmp.path(), &path)
    })();
    drop(tmp);
    if let Err(e) = written {
        return Err(LogError::io(&path, "save reader position", e));
    }
    sync_dir(&dir)
}

/// [`Log::remove_named_reader`](crate::Log::remove_named_reader).
pub(crate) fn remove_named_reader(log: &Arc<Inner>, name: &str) -> Result<()> {
    log.writable("removing a named reader")?;
    check_name(log.dir(), name)?;
    let path = reader_path(log, name);
    match std::fs::remove_file(&path) {
        Ok(()) => sync_dir(&log.dir().join(READERS_DIR)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(LogError::io(&path, "remove", e)),
    }
}

/// A named reader saves its own position.
impl Reader {
    /// Stores a named reader's position durably: after a restart it resumes
    /// at the first message not yet returned. Call it after processing
    /// (at-least-once delivery). Fails for an unnamed reader.
    pub fn save(&self) -> Result<()> {
        match self.name() {
            Some(name) => save_reader_position(self.log(), name, self.position()),
            None => Err(LogError::BadName {
                path: self.log().dir().to_path_buf(),
                name: String::new(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn position_file_round_trips_and_rejects_damage() {
        let p = Path::new("r");
        assert_eq!(decode(p, &encode(12345)).unwrap(), 12345);
        for i in 0..28 {
            let mut b = encode(12345);
            b[i] ^= 1;
            assert!(decode(p, &b).is_err(), "flipped byte {i}");
        }
        assert!(decode(p, &encode(1)[..31]).is_err());
    }

    #[test]
    fn names_are_checked() {
        let d = Path::new("d");
        for good in ["a", "reader-1", "A_b.c"] {
            assert!(check_name(d, good).is_ok(), "{good}");
        }
        for bad in ["", ".hidden", "a/b", "..", &"x".repeat(65), "sp ace"] {
            assert!(check_name(d, bad).is_err(), "{bad}");
        }
    }
}
