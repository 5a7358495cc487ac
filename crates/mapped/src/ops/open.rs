//! Opening or creating a file and mapping it: [`MapOptions`], and
//! [`Mapping::open`], [`Mapping::open_rw`] and [`Mapping::create`] as
//! shorthands for it. Built on the other operations: the space of a
//! created file is reserved as growth reserves it (`grow.rs`), and the
//! advice, locking and population asked for are given as `advice.rs` gives
//! them.

use std::fs::{File, OpenOptions};
use std::os::fd::AsFd;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::error::{IoError, Op, OpenError};
use crate::mapping::Mapping;
use crate::ops::grow::reserve;
use crate::sys::advice::Advice;
use crate::sys::guard;
use crate::sys::mode::Mode;
use crate::sys::region::RawRegion;

impl Mapping {
    /// Opens an existing file and maps all of it, shared and read-only.
    pub fn open(path: impl AsRef<Path>) -> Result<Mapping, OpenError> {
        MapOptions::new().open(path)
    }

    /// Opens an existing file and maps all of it, shared and read-write.
    pub fn open_rw(path: impl AsRef<Path>) -> Result<Mapping, OpenError> {
        MapOptions::new().mode(Mode::ReadWrite).open(path)
    }

    /// Creates the file (mode 0600) if needed, reserves at least `len`
    /// bytes, and maps all of it shared and read-write. See
    /// [`MapOptions::create`].
    pub fn create(path: impl AsRef<Path>, len: u64) -> Result<Mapping, OpenError> {
        MapOptions::new().mode(Mode::ReadWrite).create(path, len)
    }
}

/// Options for opening or creating a file and mapping it.
///
/// ```no_run
/// use mapped::{Advice, MapOptions, Mode};
/// # fn main() -> Result<(), mapped::Error> {
/// // Map 1 MiB at offset 4 KiB of an existing file, read-write, for random access.
/// let map = MapOptions::new()
///     .mode(Mode::ReadWrite)
///     .window(4096, 1 << 20)
///     .advice(Advice::Random)
///     .open("data.bin")?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct MapOptions {
    pub(crate) mode: Mode,
    pub(crate) offset: u64,
    pub(crate) len: Option<u64>,
    pub(crate) populate: bool,
    pub(crate) lock: bool,
    pub(crate) advice: Option<Advice>,
    pub(crate) permissions: u32,
    pub(crate) create_new: bool,
}

impl Default for MapOptions {
    fn default() -> Self {
        MapOptions::new()
    }
}

impl MapOptions {
    /// Shared read-only, the whole file, no options.
    pub fn new() -> Self {
        MapOptions {
            mode: Mode::ReadOnly,
            offset: 0,
            len: None,
            populate: false,
            lock: false,
            advice: None,
            permissions: 0o600,
            create_new: false,
        }
    }

    /// How the pages are shared; [`Mode::ReadOnly`] by default.
    pub fn mode(&mut self, mode: Mode) -> &mut Self {
        self.mode = mode;
        self
    }

    /// Maps `len` bytes from file offset `offset` instead of the whole file.
    /// The offset need not be page-aligned.
    pub fn window(&mut self, offset: u64, len: u64) -> &mut Self {
        self.offset = offset;
        self.len = Some(len);
        self
    }

    /// Maps from `offset` to the end of the file.
    pub fn offset(&mut self, offset: u64) -> &mut Self {
        self.offset = offset;
        self.len = None;
        self
    }

    /// `MAP_POPULATE`: read the whole range into memory (and the page
    /// tables) now, rather than fault it in page by page later. With an
    /// [`advice`](Self::advice), the advice is given first and the pages
    /// read in after it (`MADV_POPULATE_READ`), so that it applies to them.
    pub fn populate(&mut self, populate: bool) -> &mut Self {
        self.populate = populate;
        self
    }

    /// `mlock` the range, so its pages stay in memory. Fails at open if
    /// `RLIMIT_MEMLOCK` does not allow it.
    pub fn lock(&mut self, lock: bool) -> &mut Self {
        self.lock = lock;
        self
    }

    /// Access advice given with `madvise` right after mapping.
    pub fn advice(&mut self, advice: Advice) -> &mut Self {
        self.advice = Some(advice);
        self
    }

    /// Permission bits of a file that [`create`](Self::create) makes
    /// (before the umask); 0600 by default, since a shared file is a channel
    /// into every process that maps it.
    pub fn permissions(&mut self, mode: u32) -> &mut Self {
        self.permissions = mode;
        self
    }

    /// Makes [`create`](Self::create) fail if the file exists (`O_EXCL`).
    pub fn create_new(&mut self, create_new: bool) -> &mut Self {
        self.create_new = create_new;
        self
    }

    /// Opens an existing file and maps it.
    pub fn open(&self, path: impl AsRef<Path>) -> Result<Mapping, OpenError> {
        let path = path.as_ref();
        let mut oo = OpenOptions::new();
        oo.read(true).write(self.mode == Mode::ReadWrite);
        if self.mode != Mode::ReadWrite {
            // A read-only open of a FIFO would wait for a writer; with
            // O_NONBLOCK it returns and `map_file` refuses it. (No effect on
            // regular files; a read-write open of a FIFO never waits.)
            oo.custom_flags(libc::O_NONBLOCK);
        }
        let file = oo.open(path).map_err(|e| IoError::new(path, Op::Open, e))?;
        self.map_file(file, path)
    }

    /// Creates the file if it does not exist, makes it at least `len` bytes
    /// long with every block reserved (`fallocate`), and maps it.
    ///
    /// An existing file is never shortened and its contents are kept. Because
    /// the blocks are reserved here, a full disk or a file size limit is an
    /// error from this call, not a `SIGBUS` when a page is first written
    /// (except on copy-on-write file systems, and in holes below an existing
    /// file's end where `fallocate` is unsupported: see `docs/safety.md`).
    pub fn create(&self, path: impl AsRef<Path>, len: u64) -> Result<Mapping, OpenError> {
        let path = path.as_ref();
        let mut oo = OpenOptions::new();
        oo.read(true)
            .write(true)
            .mode(self.permissions)
            .create_new(true);
        // Try to make the file first, so that we know whether we made it and
        // can take it away again if reserving its space fails.
        let (file, created) = match oo.open(path) {
            Ok(file) => (file, true),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && !self.create_new => {
                let file = OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open(path)
                    .map_err(|e| IoError::new(path, Op::Open, e))?;
                (file, false)
            }
            Err(e) => return Err(IoError::new(path, Op::Open, e).into()),
        };
        check_regular(&file, path)?;
        if let Err(e) = reserve(&file, path, 0, len) {
            if created {
                // Leave nothing behind: a retry with `create_new` must work.
                let _ = std::fs::remove_file(path);
            }
            return Err(e.into());
        }
        self.map_file(file, path)
    }

    /// Makes `file`, which the caller opened read-write (an `O_TMPFILE`,
    /// say, that has no name yet), at least `len` bytes long with every
    /// block reserved, and maps it: [`create`](Self::create) without the
    /// opening. `path` is used in error messages. The file is never
    /// shortened and its contents are kept.
    pub fn create_from(
        &self,
        file: File,
        path: impl Into<PathBuf>,
        len: u64,
    ) -> Result<Mapping, OpenError> {
        let path = path.into();
        check_regular(&file, &path)?;
        reserve(&file, &path, 0, len)?;
        self.map_file(file, path)
    }

    /// Maps a file that the caller opened (with read access, and write
    /// access for [`Mode::ReadWrite`]). `path` is used in error messages.
    pub fn map_file(&self, file: File, path: impl Into<PathBuf>) -> Result<Mapping, OpenError> {
        let path = path.into();
        let file_len = check_regular(&file, &path)?;
        let len = match self.len {
            Some(len) => len,
            None => file_len.saturating_sub(self.offset),
        };
        let end = self.offset.checked_add(len);
        if end.is_none_or(|end| end > file_len) {
            return Err(OpenError::WindowOutOfRange {
                path,
                offset: self.offset,
                len,
                file_len,
            });
        }
        let Ok(len_usize) = usize::try_from(len) else {
            return Err(OpenError::TooLarge { path, len });
        };
        self.map(file, path, len_usize)
    }

    /// Maps `len` bytes of `file` at the chosen offset, then gives the
    /// advice, locking and population asked for.
    fn map(&self, file: File, path: PathBuf, len: usize) -> Result<Mapping, OpenError> {
        guard::install().map_err(|e| IoError::new(&path, Op::Map, e))?;
        // Advice shapes how pages come in (read-ahead, page size: see
        // `Advice::HugePage`), so when both are asked for, the advice goes
        // first and the pages are populated after it; `MAP_POPULATE` would
        // read them in during `mmap`, before any advice.
        let populate_late = self.populate && self.advice.is_some();
        let region = RawRegion::map(
            file.as_fd(),
            self.offset,
            len,
            self.mode.protection(),
            self.populate && !populate_late,
        )
        .map_err(|e| IoError::new(&path, Op::Map, e))?;
        let map = Mapping::from_region(region, file, path, self.mode, self.offset, len);
        if let Some(advice) = self.advice {
            map.advise(advice)?;
        }
        if self.lock {
            map.lock()?;
        }
        if populate_late {
            map.populate_now();
        }
        Ok(map)
    }
}

/// Refuses what cannot be mapped as a file; returns the file's length.
fn check_regular(file: &File, path: &Path) -> Result<u64, OpenError> {
    let meta = file
        .metadata()
        .map_err(|e| IoError::new(path, Op::Stat, e))?;
    let ft = meta.file_type();
    if ft.is_file() {
        return Ok(meta.len());
    }
    let what = if ft.is_dir() {
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
        "not a regular file"
    };
    Err(OpenError::NotRegularFile {
        path: path.to_path_buf(),
        what,
    })
}
