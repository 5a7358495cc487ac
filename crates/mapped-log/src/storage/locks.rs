//! The lock file: who is alive, proved by kernel-held locks.
//!
//! Each appender owns one slot of the control file and holds an open file
//! description (OFD) write lock on byte `i` of `appenders.lock` for slot
//! `i`. The kernel drops the lock when the last descriptor of that open file
//! description closes, which for a killed process is at its death: an
//! unlocked slot is proof that its owner is gone. Never a PID (reused,
//! namespaced), never a timeout (a slow appender is not a dead one). Other
//! bytes serve syncs, recovery and sleeping readers (`docs/format.md`,
//! section 12).

#![allow(unsafe_code)]

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;

use crate::error::{LogError, Result};
use crate::storage::dir::set_file_mode;

/// The appender lock file's name inside the log directory.
pub const LOCK_FILE: &str = "appenders.lock";

/// One open file description of the lock file. The OFD locks taken
/// through it belong to it alone (not to the process, not to other
/// descriptions of the same file), and the kernel releases them when its
/// last descriptor closes: at the latest, when the process dies. So each
/// holder (an appender, a repairer, a sleeping reader, a sync leader)
/// opens its own.
#[derive(Debug)]
pub(crate) struct LockFile(File);

impl LockFile {
    /// Opens the lock file at `path`, making it if it is missing.
    pub(crate) fn open(path: &Path) -> Result<LockFile> {
        use std::os::unix::fs::OpenOptionsExt;
        File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)
            .map(LockFile)
            .map_err(|e| LogError::io(path, "open", e))
    }

    /// Opens the lock file, making it with `mode` if it is missing.
    pub(crate) fn ensure(path: &Path, mode: u32) -> Result<LockFile> {
        use std::os::unix::fs::OpenOptionsExt;
        match File::options()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
        {
            Ok(f) => {
                set_file_mode(&f, path, mode)?;
                Ok(LockFile(f))
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => LockFile::open(path),
            Err(e) => Err(LogError::io(path, "open", e)),
        }
    }

    /// Opens the lock file for reading only, to ask who holds what
    /// ([`held`](Self::held)); `None` if there is none.
    pub(crate) fn open_read_only(path: &Path) -> Result<Option<LockFile>> {
        match File::open(path) {
            Ok(f) => Ok(Some(LockFile(f))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(LogError::io(path, "open", e)),
        }
    }

    /// Tries to take the write lock on byte `byte`. `Ok(false)` if another
    /// open file description holds it.
    pub(crate) fn try_lock(&self, byte: u32) -> std::io::Result<bool> {
        ofd_lock(&self.0, byte, libc::F_WRLCK as libc::c_short)
    }

    /// Takes the write lock on byte `byte`, waiting for it.
    pub(crate) fn lock_wait(&self, byte: u32) -> std::io::Result<()> {
        ofd(
            &self.0,
            byte,
            libc::F_WRLCK as libc::c_short,
            libc::F_OFD_SETLKW,
        )
        .map(|_| ())
    }

    /// Takes a shared (read) lock on byte `byte`, waiting for it.
    pub(crate) fn lock_shared_wait(&self, byte: u32) -> std::io::Result<()> {
        ofd(
            &self.0,
            byte,
            libc::F_RDLCK as libc::c_short,
            libc::F_OFD_SETLKW,
        )
        .map(|_| ())
    }

    /// Tries to take a shared (read) lock on byte `byte`. `Ok(false)` if
    /// another open file description holds the write lock.
    pub(crate) fn try_lock_shared(&self, byte: u32) -> std::io::Result<bool> {
        ofd_lock(&self.0, byte, libc::F_RDLCK as libc::c_short)
    }

    /// Whether another open file description holds a lock on byte `byte`
    /// (`F_OFD_GETLK`, which needs no write access to the file).
    pub(crate) fn held(&self, byte: u32) -> std::io::Result<bool> {
        let mut fl = one_byte(byte, libc::F_WRLCK as libc::c_short);
        // SAFETY: F_OFD_GETLK reads and writes a valid `flock` we own, on
        // our own descriptor.
        let rc = unsafe { libc::fcntl(self.0.as_raw_fd(), libc::F_OFD_GETLK, &mut fl) };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(fl.l_type != libc::F_UNLCK as libc::c_short)
    }

    /// Releases the lock on byte `byte`.
    pub(crate) fn unlock(&self, byte: u32) -> std::io::Result<()> {
        ofd_lock(&self.0, byte, libc::F_UNLCK as libc::c_short).map(|_| ())
    }
}

fn ofd_lock(file: &File, slot: u32, kind: libc::c_short) -> std::io::Result<bool> {
    ofd(file, slot, kind, libc::F_OFD_SETLK)
}

/// An OFD lock request of `kind` on byte `byte` alone.
fn one_byte(byte: u32, kind: libc::c_short) -> libc::flock {
    // SAFETY: `flock` is plain data; zero is a valid value for every field
    // (l_pid must be 0 for OFD locks).
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = kind;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    fl.l_start = byte as libc::off_t;
    fl.l_len = 1;
    fl
}

fn ofd(file: &File, slot: u32, kind: libc::c_short, cmd: libc::c_int) -> std::io::Result<bool> {
    let fl = one_byte(slot, kind);
    loop {
        // SAFETY: F_OFD_SETLK(W) reads a valid `flock` we own, on our own fd.
        let rc = unsafe { libc::fcntl(file.as_raw_fd(), cmd, &fl) };
        if rc == 0 {
            return Ok(true);
        }
        let e = std::io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EAGAIN) | Some(libc::EACCES) => return Ok(false),
            _ => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ofd_locks_conflict_between_open_file_descriptions() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("l");
        let a = LockFile::open(&p).unwrap();
        let b = LockFile::open(&p).unwrap();
        assert!(a.try_lock(3).unwrap());
        assert!(!b.try_lock(3).unwrap(), "same byte, other description");
        assert!(b.held(3).unwrap() && !a.held(4).unwrap());
        assert!(b.try_lock(4).unwrap(), "other byte");
        a.unlock(3).unwrap();
        assert!(b.try_lock(3).unwrap());
        drop(b); // closing releases
        assert!(a.try_lock(3).unwrap());
        assert!(a.try_lock(4).unwrap());
    }
}
