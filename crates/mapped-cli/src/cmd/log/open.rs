//! Opening the log a subcommand names, with the errors and notes a user
//! needs when that fails or is only possible read-only.

use std::path::Path;

use anyhow::{Context, Result};
use mapped_log::{Log, LogError};

/// Opens the log in `dir`. A directory without a log is an error naming it
/// (the library's message suggests `mapped log create`).
pub(super) fn open(dir: &Path) -> Result<Log> {
    // A missing directory is named as such, like a missing file elsewhere.
    std::fs::metadata(dir).with_context(|| format!("open {}", dir.display()))?;
    Log::open(dir).map_err(|e| with_hint(dir, e))
}

/// `e`, with the way out when it is a damaged control file beside segment
/// files: `mapped log recover` rebuilds it.
pub(super) fn with_hint(dir: &Path, e: LogError) -> anyhow::Error {
    let hint = matches!(&e, LogError::NotALog { path, why }
        if *path == dir.join(mapped_log::CONTROL_FILE)
            && !why.to_string().contains("mapped log recover")
            && std::fs::read_dir(dir).is_ok_and(|mut d| d.any(|e| e.is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".seg")))));
    if hint {
        anyhow::anyhow!(
            "{e}; `mapped log recover {}` can rebuild it from the segment files",
            dir.display()
        )
    } else {
        e.into()
    }
}

/// [`open`] for commands that only look (`stat`, `verify`, and `tail`
/// without a name): a log whose files this user may not write (or on
/// read-only storage) is opened read-only instead, with a note on stderr
/// that ends with `limits` (what the command cannot do then).
pub(super) fn open_to_inspect(dir: &Path, limits: &str) -> Result<Log> {
    std::fs::metadata(dir).with_context(|| format!("open {}", dir.display()))?;
    match Log::open(dir) {
        Ok(log) => Ok(log),
        Err(e) if write_denied(&e) => {
            let log = Log::open_read_only(dir)?;
            let pending = if log.restart_recovery_pending()? {
                "; the system restarted since a writer last opened it, so \
                 records past the durable position may be torn"
            } else {
                ""
            };
            eprintln!(
                "mapped: note: {} opened read-only ({e}){pending}{limits}",
                dir.display()
            );
            Ok(log)
        }
        Err(e) => Err(with_hint(dir, e)),
    }
}

/// Whether `e` is the system refusing write access to a file of the log
/// (permission, or a read-only file system).
fn write_denied(e: &LogError) -> bool {
    let io = match e {
        LogError::Mapped(mapped::Error::Open(mapped::OpenError::Io(io))) => io.os_error(),
        LogError::Io { source, .. } => source,
        _ => return false,
    };
    matches!(
        io.kind(),
        std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem
    )
}
