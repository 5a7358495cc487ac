//! Opening the file a command works on, and checking a range against it.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use mapped_cli::regular;

/// Opens `path` (read-write if `write`), returning the file and its length.
/// Anything but a regular file (a FIFO, a socket, a device, a `/proc`
/// file) is refused at once, without waiting on it. Errors name the
/// operation, the file and the OS error, as the library's do.
pub fn open(path: &Path, write: bool) -> Result<(File, u64)> {
    regular::open(path, OpenOptions::new().read(true).write(write)).map_err(|e| error(path, e))
}

/// Opens `path` read-write as [`open`] does, creating it (empty, mode 0600
/// before the umask, as the library creates files) if it does not exist;
/// also says whether it was created here.
pub fn open_or_create(path: &Path) -> Result<(File, u64, bool)> {
    let mut create = OpenOptions::new();
    create.read(true).write(true).create_new(true).mode(0o600);
    match regular::open(path, &create) {
        Ok((file, len)) => Ok((file, len, true)),
        Err(regular::OpenError::Io { source, .. })
            if source.kind() == std::io::ErrorKind::AlreadyExists =>
        {
            let (file, len) = open(path, true)?;
            Ok((file, len, false))
        }
        Err(e) => Err(error(path, e)),
    }
}

fn error(path: &Path, e: regular::OpenError) -> anyhow::Error {
    match e {
        // The OS error stays a cause, for `main`'s broken-pipe test and
        // message.
        regular::OpenError::Io { op, source } => {
            anyhow::Error::new(source).context(format!("{op} {}", path.display()))
        }
        e @ regular::OpenError::NotRegular(_) => anyhow!(e.message(path)),
    }
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
