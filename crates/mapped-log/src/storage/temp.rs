//! Files built under a temporary name, and the sweep that removes the ones
//! a crash left behind.
//!
//! The log builds every file it publishes (a segment, the control file, a
//! named reader's position) under a temporary name and links or renames it
//! into place (`docs/format.md` §3). A creator killed in between leaves the
//! temporary file behind; for a segment that is a whole `segment_size` of
//! reserved disk. Its creator holds an exclusive `flock` on it from just
//! after creating it until the temporary name is gone, so a sweep tells a
//! leftover (unlocked: the kernel dropped the lock at the creator's death)
//! from a file still being built (locked) by proof, never by a process id
//! or the file's age.
//!
//! The one gap, between `open(O_CREAT | O_EXCL)` and `flock`, is closed by
//! the creator checking, once it holds the lock, that the name still leads
//! to its file: a sweep that removed it in that gap made the creator start
//! again under a new name, and nothing is lost.
//!
//! Segments and the control file are better still built with no name at
//! all ([`NewFile`], `O_TMPFILE`) where the system allows, and linked into
//! place when done: then a creator killed mid-way leaves nothing to sweep.
//! A named reader's position is replaced by `rename`, which needs a name.

use std::fs::File;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use rustix::fs::{FlockOperation, flock};

use crate::error::{LogError, Result};

/// A file under a temporary name, locked by this process. Dropping it
/// removes the name (if still there), then releases the lock.
#[derive(Debug)]
pub(crate) struct Temp {
    path: PathBuf,
    file: File,
}

/// How many names a creator tries before giving up: each retry means a
/// sweep removed the file in the microseconds between its creation and
/// its lock.
const ATTEMPTS: usize = 8;

impl Temp {
    /// Creates `dir/.{stem}.tmp-PID-RAND` (mode 0600, read-write, empty)
    /// and locks it.
    pub(crate) fn create(dir: &Path, stem: &str) -> Result<Temp> {
        let mut last = None;
        for _ in 0..ATTEMPTS {
            let path = dir.join(format!(
                ".{stem}.tmp-{}-{}",
                std::process::id(),
                crate::storage::temp::random_u64()
            ));
            let file = File::options()
                .read(true)
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .map_err(|e| LogError::io(&path, "create", e))?;
            if let Err(e) = flock(&file, FlockOperation::LockExclusive) {
                let _ = std::fs::remove_file(&path);
                return Err(LogError::io(&path, "lock", e.into()));
            }
            if same_file(&path, &file) {
                return Ok(Temp { path, file });
            }
            last = Some(path); // swept before we locked it: try another name
        }
        let path = last.unwrap_or_else(|| dir.to_path_buf());
        Err(LogError::io(
            &path,
            "create",
            std::io::Error::other(format!(
                "{ATTEMPTS} temporary files were removed by other processes as soon as they \
                 were made"
            )),
        ))
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn file(&self) -> &File {
        &self.file
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        // Gone already if it was renamed into place.
        let _ = std::fs::remove_file(&self.path);
    }
}

/// A file being built, to be linked under its final name when done: a
/// file with no name at all (`O_TMPFILE`) where the file system and
/// `/proc` allow, so that a creator that dies mid-way leaves nothing
/// behind (the kernel frees a nameless file with its last descriptor);
/// else a locked [`Temp`], which a sweep removes once its creator is gone.
#[derive(Debug)]
pub(crate) enum NewFile {
    /// Opened with `O_TMPFILE` in `dir`.
    Unnamed {
        dir: PathBuf,
        file: File,
    },
    Named(Temp),
}

impl NewFile {
    /// A new, empty, read-write file in `dir`, mode 0600. `stem` names
    /// the temporary file if one is needed (`.{stem}.tmp-PID-RAND`).
    pub(crate) fn create(dir: &Path, stem: &str) -> Result<NewFile> {
        // Linking a nameless file without privileges goes through its
        // `/proc/self/fd` link (open(2), `O_TMPFILE`).
        if Path::new("/proc/self/fd").is_dir() {
            match File::options()
                .read(true)
                .write(true)
                .custom_flags(libc::O_TMPFILE)
                .mode(0o600)
                .open(dir)
            {
                Ok(file) => {
                    return Ok(NewFile::Unnamed {
                        dir: dir.to_path_buf(),
                        file,
                    });
                }
                // Not supported here (EOPNOTSUPP, EISDIR or EINVAL from
                // kernels and file systems without it): a named file.
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(LogError::io(dir, "create a file in", e)),
            }
        }
        Temp::create(dir, stem).map(NewFile::Named)
    }

    pub(crate) fn file(&self) -> &File {
        match self {
            NewFile::Unnamed { file, .. } => file,
            NewFile::Named(t) => t.file(),
        }
    }

    /// Gives the file the log's permission bits (it is made 0600).
    pub(crate) fn set_mode(&self, mode: u32) -> Result<()> {
        crate::storage::dir::set_file_mode(self.file(), &self.describe(), mode)
    }

    /// Makes the file `len` bytes long, every block reserved, and maps it
    /// read-write (`MapOptions::create_from` on a second descriptor).
    pub(crate) fn map(&self, len: u64) -> Result<mapped::Mapping> {
        let file = self
            .file()
            .try_clone()
            .map_err(|e| LogError::io(self.describe(), "open", e))?;
        Ok(mapped::MapOptions::new()
            .mode(mapped::Mode::ReadWrite)
            .create_from(file, self.describe(), len)?)
    }

    /// What to call the file in error messages.
    pub(crate) fn describe(&self) -> PathBuf {
        match self {
            NewFile::Unnamed { dir, .. } => dir.join("(new file)"),
            NewFile::Named(t) => t.path().to_path_buf(),
        }
    }

    /// Gives the file the name `to` (in its directory), failing with
    /// `AlreadyExists` if the name is taken.
    pub(crate) fn link(&self, to: &Path) -> std::io::Result<()> {
        match self {
            NewFile::Unnamed { file, .. } => {
                use std::os::fd::AsRawFd;
                let proc = format!("/proc/self/fd/{}", file.as_raw_fd());
                rustix::fs::linkat(
                    rustix::fs::CWD,
                    proc.as_str(),
                    rustix::fs::CWD,
                    to,
                    rustix::fs::AtFlags::SYMLINK_FOLLOW,
                )
                .map_err(std::io::Error::from)
            }
            NewFile::Named(t) => std::fs::hard_link(t.path(), to),
        }
    }
}

/// Whether `path` names `file` now.
fn same_file(path: &Path, file: &File) -> bool {
    match (std::fs::symlink_metadata(path), file.metadata()) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// Whether `name` is a temporary name the log makes: `.` then a stem, then
/// `.tmp-`, a decimal process id, `-` and a decimal random number.
pub(crate) fn is_temp_name(name: &str) -> bool {
    let Some(rest) = name.strip_prefix('.') else {
        return false;
    };
    let Some((stem, tail)) = rest.rsplit_once(".tmp-") else {
        return false;
    };
    let Some((pid, rand)) = tail.split_once('-') else {
        return false;
    };
    let digits = |s: &str| !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit());
    !stem.is_empty() && digits(pid) && digits(rand)
}

/// Temporary files that crashed processes left in a log's directory.
///
/// The log builds each file it publishes under a temporary name; a process
/// killed in between leaves that file behind (for a segment, a whole
/// `segment_size` of reserved disk). [`Log::stat`](crate::Log::stat) counts
/// them; [`Log::recover`](crate::Log::recover), [`Log::retain`](crate::Log::retain)
/// and restart recovery remove them. Files still being built are never
/// counted or removed: their creators hold a lock on them
/// (`docs/format.md` §3).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Leftovers {
    /// How many.
    pub files: u64,
    /// The disk space they held (allocated blocks, not their lengths).
    pub bytes: u64,
}

impl Leftovers {
    fn add(self, other: Leftovers) -> Leftovers {
        Leftovers {
            files: self.files + other.files,
            bytes: self.bytes + other.bytes,
        }
    }
}

/// Removes the leftovers in a log's directory and its `readers/`. Best
/// effort: a file that cannot be looked at or removed is left (and still
/// counted by [`log_leftovers`]); recovery and retention must not fail
/// over disk space.
pub(crate) fn sweep_log(dir: &Path) -> Leftovers {
    sweep(dir).add(sweep(&dir.join(crate::storage::dir::READERS_DIR)))
}

/// Counts the leftovers in a log's directory and its `readers/`.
pub(crate) fn log_leftovers(dir: &Path) -> Result<Leftovers> {
    Ok(visit(dir, false)?.add(visit(&dir.join(crate::storage::dir::READERS_DIR), false)?))
}

/// Removes the temporary files in `dir` whose creators are gone (their
/// lock is free), and `fsync`s `dir` if it removed any. Files being built
/// are left alone.
fn sweep(dir: &Path) -> Leftovers {
    let found = visit(dir, true).unwrap_or_default();
    if found.files > 0 {
        // The removals are made durable with the directory's next sync
        // otherwise; nothing depends on them.
        let _ = crate::storage::dir::sync_dir(dir);
    }
    found
}

fn visit(dir: &Path, remove: bool) -> Result<Leftovers> {
    let mut found = Leftovers::default();
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(found),
        Err(e) => return Err(LogError::io(dir, "list", e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| LogError::io(dir, "list", e))?;
        let name = entry.file_name();
        if !name.to_str().is_some_and(is_temp_name) {
            continue;
        }
        let path = entry.path();
        // Not following links, not waiting on a FIFO someone put there.
        let file = match File::options()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(&path)
        {
            Ok(file) => file,
            // Renamed into place or removed by its creator meanwhile, or
            // not a file we may touch: not ours to sweep.
            Err(_) => continue,
        };
        let Ok(meta) = file.metadata() else { continue };
        if !meta.file_type().is_file() {
            continue;
        }
        if flock(&file, FlockOperation::NonBlockingLockExclusive).is_err() {
            continue; // being built (or unlockable: left alone)
        }
        // Holding the lock: its creator is gone, or has not locked it yet
        // (it will find the name gone and start again), or a live creator
        // just finished and renamed it (then the name leads elsewhere).
        if !same_file(&path, &file) {
            continue;
        }
        if remove && std::fs::remove_file(&path).is_err() {
            continue; // gone meanwhile, or not ours to remove: not counted
        }
        found.files += 1;
        // A file with another name (a segment whose creator died between
        // linking it and removing the temporary name) frees nothing.
        if meta.nlink() <= 1 {
            found.bytes += meta.blocks() * 512;
        }
    }
    Ok(found)
}

/// A random number, for temporary file names and log identities: std's
/// hasher keys are drawn from the OS's random source once per process and
/// advanced per call, so each call differs.
pub(crate) fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_new_file_leaves_nothing_unless_linked_and_never_replaces_a_name() {
        let dir = tempfile::tempdir().unwrap();
        let nameless = NewFile::create(dir.path(), "x").unwrap();
        assert!(
            matches!(nameless, NewFile::Unnamed { .. }),
            "O_TMPFILE works on the file systems CI uses: {nameless:?}"
        );
        // Both kinds: the nameless one, and the named fallback.
        let named = NewFile::Named(Temp::create(dir.path(), "y").unwrap());
        for (k, f) in [nameless, named].into_iter().enumerate() {
            f.file().write_all(b"made").unwrap();
            let to = dir.path().join(format!("final-{k}"));
            f.link(&to).unwrap();
            assert_eq!(std::fs::read(&to).unwrap(), b"made");
            let err = f.link(&to).unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::AlreadyExists, "{err}");
            assert_eq!(std::fs::read(&to).unwrap(), b"made");
        }
        // Dropped unlinked, or after linking: only the final names stay.
        let unused = NewFile::create(dir.path(), "z").unwrap();
        unused.file().write_all(b"lost").unwrap();
        drop(unused);
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["final-0", "final-1"]);
    }

    #[test]
    fn temporary_names() {
        for good in [
            ".control.tmp-1-2",
            ".00000000000000000003.seg.tmp-4242-18446744073709551615",
            ".reader.name.tmp-7-0",
        ] {
            assert!(is_temp_name(good), "{good}");
        }
        for bad in [
            "control",
            "00000000000000000003.seg",
            ".control.tmp-",
            ".control.tmp-1",
            ".control.tmp-1-",
            ".control.tmp--2",
            ".control.tmp-x-2",
            "..tmp-1-2",
            ".control.tmp-1-2-3",
            ".control.tmp-1-123456789012345678901",
        ] {
            assert!(!is_temp_name(bad), "{bad}");
        }
    }

    #[test]
    fn a_sweep_removes_unlocked_leftovers_and_leaves_locked_files() {
        let dir = tempfile::tempdir().unwrap();
        // A leftover: what a creator killed mid-way leaves (no lock held).
        let dead = dir.path().join(".control.tmp-1-2");
        std::fs::write(&dead, vec![1u8; 10_000]).unwrap();
        // A file being built, by a live creator.
        let live = Temp::create(dir.path(), "00000000000000000000.seg").unwrap();
        std::fs::write(live.path(), b"header").unwrap();
        // Not temporary names: never touched.
        std::fs::write(dir.path().join("control"), b"x").unwrap();
        std::fs::write(dir.path().join(".hidden"), b"x").unwrap();
        let counted = visit(dir.path(), false).unwrap();
        assert_eq!(counted.files, 1);
        assert!(counted.bytes >= 10_000, "{counted:?}");
        assert!(dead.exists(), "counting removes nothing");
        assert_eq!(sweep(dir.path()), counted);
        assert!(!dead.exists());
        assert!(live.path().exists(), "a locked file is being built");
        assert!(dir.path().join("control").exists());
        assert!(dir.path().join(".hidden").exists());
        let path = live.path().to_path_buf();
        drop(live);
        assert!(!path.exists(), "dropping a Temp removes it");
        assert_eq!(sweep(dir.path()), Leftovers::default());
    }

    #[test]
    fn sweeps_racing_creators_never_take_a_file_being_built() {
        let dir = tempfile::tempdir().unwrap();
        let stop = std::sync::atomic::AtomicBool::new(false);
        // Stops the sweeper however the loop below ends, a failed assertion
        // included (the scope would otherwise wait for it forever).
        struct Stop<'a>(&'a std::sync::atomic::AtomicBool);
        impl Drop for Stop<'_> {
            fn drop(&mut self) {
                self.0.store(true, std::sync::atomic::Ordering::Relaxed);
            }
        }
        std::thread::scope(|s| {
            s.spawn(|| {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    sweep(dir.path());
                }
            });
            let _stop = Stop(&stop);
            for _ in 0..2000 {
                // Every Temp handed out is still there, under its name, for
                // as long as it is held: a sweep may have removed a file in
                // the gap before its lock, but then `create` tried again.
                let t = Temp::create(dir.path(), "x").unwrap();
                t.file().write_all(b"data").unwrap();
                assert!(same_file(t.path(), t.file()), "{}", t.path().display());
            }
        });
        // Every Temp removed its name when dropped.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_sweep_ignores_links_and_fifos() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("precious");
        std::fs::write(&target, b"keep").unwrap();
        std::os::unix::fs::symlink(&target, dir.path().join(".a.tmp-1-1")).unwrap();
        let fifo = dir.path().join(".b.tmp-1-1");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        assert_eq!(sweep(dir.path()), Leftovers::default());
        assert!(target.exists() && fifo.exists());
    }
}
