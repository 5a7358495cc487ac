//! Opening a file to map it, refusing at once what is not a regular file
//! with its bytes in storage: directories, FIFOs, sockets, devices, and the
//! files of `/proc`, `/sys` and other kernel file systems, whose content is
//! made when they are read (they report a size of 0, or 4096, whatever they
//! hold, so a mapping shows nothing or garbage).
//!
//! Opening a FIFO for reading waits for a writer, opening a socket fails
//! with a puzzling `ENXIO`, and opening a device can do something of its
//! own, so the path is examined before it is opened.
//! It is examined again through the descriptor after the open, which adds
//! `O_NONBLOCK` and `O_NOCTTY`, so that a path that became a FIFO or a
//! terminal meanwhile is neither waited on nor made our controlling
//! terminal.

use std::fs::{File, FileType, Metadata, OpenOptions};
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// Why [`open`] failed.
#[derive(Debug)]
pub enum OpenError {
    /// A system call failed: its name (`open`, `fstat` or `fstatfs`) and
    /// the error.
    Io {
        /// The system call.
        op: &'static str,
        /// What it returned.
        source: io::Error,
    },
    /// The path is not a regular file: what it is instead, as in
    /// `"a FIFO"`.
    NotRegular(&'static str),
}

impl OpenError {
    /// The message for `path`, naming it: `open f: No such file or
    /// directory (os error 2)`, `f: not a regular file (a FIFO)`.
    pub fn message(&self, path: &Path) -> String {
        match self {
            OpenError::Io { op, source } => format!("{op} {}: {source}", path.display()),
            OpenError::NotRegular(what) => {
                format!("{}: not a regular file ({what})", path.display())
            }
        }
    }
}

/// Opens `path` with `options` (plus `O_NONBLOCK | O_NOCTTY`) and returns
/// the file and its length, or [`OpenError::NotRegular`] for anything but a
/// regular file of an ordinary file system, without opening it when that
/// can be seen from its path.
pub fn open(path: &Path, options: &OpenOptions) -> Result<(File, u64), OpenError> {
    // Errors here are left for the open to report (a missing file may be
    // one that `options` creates).
    // A directory is left to the open, which refuses it for writing with
    // `EISDIR` as the book's programs show.
    if let Some(meta) = std::fs::metadata(path).ok().filter(|m| !m.is_dir()) {
        if let Some(what) = special(meta.file_type()) {
            return Err(OpenError::NotRegular(what));
        }
        if let Some(what) = statfs(path).ok().and_then(kernel_fs) {
            return Err(OpenError::NotRegular(what));
        }
    }
    let mut options = options.clone();
    options.custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY);
    let file = options
        .open(path)
        .map_err(|source| OpenError::Io { op: "open", source })?;
    let meta: Metadata = file.metadata().map_err(|source| OpenError::Io {
        op: "fstat",
        source,
    })?;
    if let Some(what) = special(meta.file_type()) {
        return Err(OpenError::NotRegular(what));
    }
    let magic = fstatfs(&file).map_err(|source| OpenError::Io {
        op: "fstatfs",
        source,
    })?;
    if let Some(what) = kernel_fs(magic) {
        return Err(OpenError::NotRegular(what));
    }
    Ok((file, meta.len()))
}

/// What a file that is not a regular file is.
fn special(ft: FileType) -> Option<&'static str> {
    Some(if ft.is_file() {
        return None;
    } else if ft.is_dir() {
        "a directory"
    } else if ft.is_fifo() {
        "a FIFO"
    } else if ft.is_socket() {
        "a socket"
    } else if ft.is_char_device() {
        "a character device"
    } else if ft.is_block_device() {
        "a block device"
    } else {
        "not a file"
    })
}

/// What a file of a kernel file system (by `statfs` magic,
/// linux/magic.h) is, for the file systems whose files have no bytes of
/// their own.
fn kernel_fs(magic: u64) -> Option<&'static str> {
    Some(match magic {
        0x9fa0 => "a /proc file, whose content is made when it is read, cannot be mapped",
        0x6265_6572 => "a /sys file, whose content is made when it is read, cannot be mapped",
        0x6462_6720 | 0x7472_6163 => {
            "a debugfs or tracefs file, whose content is made when it is read, cannot be mapped"
        }
        0x27e0eb | 0x6367_7270 => {
            "a cgroup file, whose content is made when it is read, cannot be mapped"
        }
        _ => return None,
    })
}

/// The `f_type` of the file system holding `path`.
fn statfs(path: &Path) -> io::Result<u64> {
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let mut buf = MaybeUninit::<libc::statfs>::uninit();
    // SAFETY: `c_path` is a NUL-terminated string and `buf` is writable
    // memory of the size statfs(2) fills.
    if unsafe { libc::statfs(c_path.as_ptr(), buf.as_mut_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: statfs returned 0, so it filled `buf`.
    Ok(f_type(unsafe { buf.assume_init() }))
}

/// The `f_type` of the file system holding `file`.
fn fstatfs(file: &File) -> io::Result<u64> {
    let mut buf = MaybeUninit::<libc::statfs>::uninit();
    // SAFETY: the descriptor is open for as long as `file` is borrowed, and
    // `buf` is writable memory of the size fstatfs(2) fills.
    if unsafe { libc::fstatfs(file.as_raw_fd(), buf.as_mut_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fstatfs returned 0, so it filled `buf`.
    Ok(f_type(unsafe { buf.assume_init() }))
}

#[allow(clippy::unnecessary_cast)] // f_type's type differs by target
fn f_type(s: libc::statfs) -> u64 {
    // A signed f_type holds the magic's bits: keep them, not the sign.
    s.f_type as u32 as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(path: &str) -> &'static str {
        match open(Path::new(path), OpenOptions::new().read(true)) {
            Err(OpenError::NotRegular(what)) => what,
            other => panic!("{path}: {other:?}"),
        }
    }

    #[test]
    fn refuses_special_and_kernel_files() {
        assert_eq!(refused("/dev/null"), "a character device");
        assert_eq!(refused("/"), "a directory");
        assert!(refused("/proc/self/status").starts_with("a /proc file"));
        if Path::new("/sys/kernel/mm/transparent_hugepage/enabled").exists() {
            let what = refused("/sys/kernel/mm/transparent_hugepage/enabled");
            assert!(what.starts_with("a /sys file"), "{what}");
        }
    }

    #[test]
    fn opens_regular_files_and_names_them_in_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"abc").unwrap();
        let (_, len) = open(&path, OpenOptions::new().read(true)).unwrap();
        assert_eq!(len, 3);
        let missing = dir.path().join("nosuch");
        let e = open(&missing, OpenOptions::new().read(true)).unwrap_err();
        let msg = e.message(&missing);
        assert!(
            msg.starts_with("open ") && msg.contains("nosuch") && msg.contains("No such file"),
            "{msg}"
        );
        assert_eq!(
            OpenError::NotRegular("a FIFO").message(Path::new("p")),
            "p: not a regular file (a FIFO)"
        );
    }
}
