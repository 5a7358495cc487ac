//! How a file is opened and mapped: [`MapOptions`], [`Mode`].

use std::fmt;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::advice::Advice;
use crate::error::{IoError, Op, OpenError};
use crate::grow::{ReserveError, reserve};
use crate::mapping::Mapping;

/// How the pages are shared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// `MAP_SHARED`, `PROT_READ`: sees every change to the file, made by any
    /// process, as soon as it is made.
    ReadOnly,
    /// `MAP_SHARED`, `PROT_READ | PROT_WRITE`: stores reach the page cache
    /// at once, where every other process sees them, and the file on
    /// write-back.
    ReadWrite,
    /// `MAP_PRIVATE`, `PROT_READ | PROT_WRITE`: stores copy the page and stay
    /// in this process; the file is never changed.
    CopyOnWrite,
}

impl Mode {
    pub(crate) fn protection(self) -> crate::raw::Protection {
        crate::raw::Protection {
            write: self != Mode::ReadOnly,
            shared: self != Mode::CopyOnWrite,
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::ReadOnly => "shared read-only",
            Mode::ReadWrite => "shared read-write",
            Mode::CopyOnWrite => "private copy-on-write",
        })
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
            return Err(match e {
                ReserveError::Io(e) => OpenError::Io(e),
                ReserveError::Limit(e) => OpenError::FileSizeLimit(e),
            });
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
        reserve(&file, &path, 0, len).map_err(|e| match e {
            ReserveError::Io(e) => OpenError::Io(e),
            ReserveError::Limit(e) => OpenError::FileSizeLimit(e),
        })?;
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
        Mapping::new(file, path, self, len_usize)
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
