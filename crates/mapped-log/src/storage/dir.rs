//! The log's directory: making its folders with the log's mode, and
//! making entries durable.

use std::fs::File;
use std::path::Path;

use crate::error::{LogError, Result};

/// The folder of named readers inside the log directory.
pub const READERS_DIR: &str = "readers";

/// The mode of a directory of a log whose files have `file_mode`: search
/// bits wherever reading is allowed.
pub(crate) fn dir_mode(file_mode: u32) -> u32 {
    file_mode | (file_mode & 0o444) >> 2
}

/// Gives `dir` the mode that goes with `file_mode` and, with `group`,
/// that group and the set-group-ID bit. Keeps a set-group-ID bit it has.
pub(crate) fn share_dir(dir: &Path, file_mode: u32, group: Option<u32>) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(gid) = group {
        rustix::fs::chown(dir, None, Some(rustix::fs::Gid::from_raw(gid)))
            .map_err(|e| LogError::io(dir, "give the directory to its group", e.into()))?;
    }
    let had = std::fs::metadata(dir)
        .map_err(|e| LogError::io(dir, "stat", e))?
        .permissions()
        .mode();
    let setgid = if group.is_some() {
        0o2000
    } else {
        had & 0o2000
    };
    std::fs::set_permissions(
        dir,
        std::fs::Permissions::from_mode(dir_mode(file_mode) | setgid),
    )
    .map_err(|e| LogError::io(dir, "set the mode of", e))
}

/// Makes the directory `dir` of a log (`readers/`, `quarantine/`) if it is
/// missing, with the log's mode.
pub(crate) fn make_log_dir(dir: &Path, file_mode: u32) -> Result<()> {
    match std::fs::create_dir(dir) {
        Ok(()) => share_dir(dir, file_mode, None),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(LogError::io(dir, "create directory", e)),
    }
}

/// Sets the permission bits of a file the log made (whatever the umask
/// let `open` give it).
pub(crate) fn set_file_mode(file: &File, path: &Path, mode: u32) -> Result<()> {
    rustix::fs::fchmod(file, rustix::fs::Mode::from_raw_mode(mode))
        .map_err(|e| LogError::io(path, "set the mode of", e.into()))
}

/// Makes a directory's entries durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| LogError::io(dir, "fsync directory", e))
}
