//! Opening the file a command works on, and checking a range against it.

use std::fs::{File, OpenOptions};
use std::path::Path;

use anyhow::{Context, Result, bail};

/// Opens `path` (read-write if `write`), returning the file and its length.
/// Errors name the operation, the file and the OS error, as the library's do.
pub fn open(path: &Path, write: bool) -> Result<(File, u64)> {
    let file = OpenOptions::new()
        .read(true)
        .write(write)
        .open(path)
        .with_context(|| format!("open {}", path.display()))?;
    let len = file
        .metadata()
        .with_context(|| format!("fstat {}", path.display()))?
        .len();
    Ok((file, len))
}

/// The length of the range `offset..offset + len` (`len` defaulting to the
/// rest of the file), checked to lie inside a file of `file_len` bytes.
pub fn range_len(path: &Path, offset: u64, len: Option<u64>, file_len: u64) -> Result<u64> {
    if offset > file_len {
        bail!(
            "{}: offset {offset} is past the end of the file ({file_len} bytes)",
            path.display()
        );
    }
    let len = len.unwrap_or(file_len - offset);
    if offset.checked_add(len).is_none_or(|end| end > file_len) {
        bail!(
            "{}: {len} bytes at offset {offset} run past the end of the file ({file_len} bytes)",
            path.display()
        );
    }
    Ok(len)
}

/// `len` as a `usize`, for buffers.
pub fn buffer_len(path: &Path, len: u64) -> Result<usize> {
    usize::try_from(len)
        .with_context(|| format!("{}: {len} bytes do not fit in memory", path.display()))
}
