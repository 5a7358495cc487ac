//! Reserving file space and growing a mapping.

use std::fs::File;
use std::io;
use std::os::fd::AsFd;
use std::os::unix::fs::FileExt;
use std::path::Path;

use rustix::fs::FallocateFlags;
use rustix::process::Resource;

use crate::error::{FileSizeLimitError, GrowError, IoError, Op, ReserveError};
use crate::mapping::Mapping;
use crate::sys::mode::Mode;

/// Makes the file at least `offset + len` bytes long with the blocks of
/// `offset..offset + len` allocated, so that no store into that range can
/// later fault for want of space (on file systems that overwrite in place;
/// without `fallocate`, only the part past the old end is filled).
///
/// The file size limit is checked first: past it the kernel would send
/// `SIGXFSZ`, which kills a process that has not ignored it.
pub(crate) fn reserve(file: &File, path: &Path, offset: u64, len: u64) -> Result<(), ReserveError> {
    let Some(end) = offset.checked_add(len) else {
        return Err(ReserveError::Io(IoError::new(
            path,
            Op::Allocate,
            io::Error::from_raw_os_error(libc::EFBIG),
        )));
    };
    if let Some(limit) = rustix::process::getrlimit(Resource::Fsize).current {
        if end > limit {
            return Err(ReserveError::Limit(FileSizeLimitError {
                path: path.to_path_buf(),
                requested: end,
                limit,
            }));
        }
    }
    if len == 0 {
        return Ok(());
    }
    loop {
        match rustix::fs::fallocate(file.as_fd(), FallocateFlags::empty(), offset, len) {
            Ok(()) => return Ok(()),
            Err(rustix::io::Errno::INTR) => continue,
            Err(rustix::io::Errno::OPNOTSUPP) => break,
            Err(e) => return Err(ReserveError::Io(IoError::new(path, Op::Allocate, e.into()))),
        }
    }
    // The file system cannot allocate without writing (some network and FUSE
    // file systems): extend by writing zeros past the end, where the bytes
    // are zero anyway. Holes below the old end cannot be filled without
    // risking a race with other writers, so they stay sparse.
    let io = |e| ReserveError::Io(IoError::new(path, Op::Allocate, e));
    let old_len = file.metadata().map_err(io)?.len();
    let block = 4096u64;
    let mut pos = old_len.max(offset);
    let zeros = [0u8; 4096];
    while pos < end {
        let n = (block - pos % block).min(end - pos) as usize;
        file.write_all_at(&zeros[..n], pos).map_err(io)?;
        pos += n as u64;
    }
    Ok(())
}

impl Mapping {
    /// Grows the file and the window to `new_len` bytes (counted from the
    /// window's start), reserving the new blocks first.
    ///
    /// A full disk or a file size limit is an error here, with the mapping
    /// as it was (after a full disk the file may be partly extended), not a
    /// `SIGBUS` later (with the exceptions listed in `docs/safety.md`). On
    /// Linux the window is extended with `mremap`, which may move it: this
    /// takes `&mut self`, so no reference into the old address range can
    /// still be alive. A `new_len` not above the current one changes nothing.
    pub fn grow(&mut self, new_len: usize) -> Result<(), GrowError> {
        if self.mode != Mode::ReadWrite {
            return Err(GrowError::NotWritable {
                path: self.path.clone(),
                mode: self.mode,
            });
        }
        self.check_poison()?;
        if new_len <= self.len {
            return Ok(());
        }
        reserve(&self.file, &self.path, self.offset, new_len as u64)?;
        self.resize_region(new_len)
    }

    /// Changes the window to `new_len` bytes without changing the file: to
    /// follow a file that another process grew (or shrank). Fails if the
    /// file is shorter than the new window.
    pub fn remap(&mut self, new_len: usize) -> Result<(), GrowError> {
        self.check_poison()?;
        let file_len = self.file_len()?;
        let end = self.offset.checked_add(new_len as u64);
        if end.is_none_or(|end| end > file_len) {
            return Err(GrowError::PastEndOfFile {
                path: self.path.clone(),
                offset: self.offset,
                len: new_len as u64,
                file_len,
            });
        }
        self.resize_region(new_len)
    }

    /// Sets the window to reach the file's current end; returns the new
    /// length.
    pub fn remap_to_file_len(&mut self) -> Result<usize, GrowError> {
        let file_len = self.file_len()?;
        let len = file_len.saturating_sub(self.offset);
        let Ok(len) = usize::try_from(len) else {
            return Err(GrowError::TooLarge {
                path: self.path.clone(),
                len,
            });
        };
        self.remap(len)?;
        Ok(len)
    }

    fn resize_region(&mut self, new_len: usize) -> Result<(), GrowError> {
        if new_len == self.len {
            return Ok(());
        }
        self.region
            .resize(
                self.file.as_fd(),
                self.offset,
                new_len,
                self.mode.protection(),
            )
            .map_err(|e| IoError::new(&self.path, Op::Remap, e))?;
        self.len = new_len;
        Ok(())
    }
}
