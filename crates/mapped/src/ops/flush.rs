//! Write-back control: `msync`, `sync_file_range`, `fdatasync`, `fsync`.
//!
//! What each promises after a process crash and after a power loss is in
//! `docs/durability.md`. Two rules shape this file:
//!
//! - `msync(MS_ASYNC)` has done nothing on Linux since 2.6.19 (dirty pages
//!   are already tracked), so "start write-back" is `sync_file_range` with
//!   `SYNC_FILE_RANGE_WRITE`, and it promises nothing about durability.
//! - A failed sync is sticky. After `EIO` the kernel may have dropped the
//!   dirty pages and reports the error once per open file, so a retry can
//!   succeed while the data is gone (PostgreSQL's "fsyncgate", 2018). Once
//!   any sync through a mapping fails, every later one fails too.

#![allow(unsafe_code)]

use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;

use rustix::mm::MsyncFlags;

use crate::error::{IoError, Op, SyncError};
use crate::mapping::Mapping;
use crate::sys::mode::Mode;

impl Mapping {
    /// Writes the window's dirty pages to the disk and waits
    /// (`msync(MS_SYNC)`). On Linux this is `fdatasync` of the range: the
    /// data and the metadata needed to read it back (the file size), with
    /// the drive's write cache flushed on file systems that do so (ext4 and
    /// XFS by default).
    pub fn flush(&self) -> Result<(), SyncError> {
        self.flush_range(0, self.len)
    }

    /// As [`flush`](Self::flush), for `len` bytes at `offset` in the window.
    ///
    /// Afterwards the file's length is checked: if another process cut the
    /// file short of the range, the bytes past its end never reach the disk
    /// and this fails with [`SyncError::Truncated`].
    pub fn flush_range(&self, offset: u64, len: usize) -> Result<(), SyncError> {
        self.sync_preconditions(offset, len)?;
        let Some((addr, pages)) = self.region.pages_of(offset as usize, len) else {
            return Ok(());
        };
        // SAFETY: `addr..addr + pages` is page-aligned and inside our
        // mapping; msync only writes back, it does not change the memory.
        let r = unsafe { rustix::mm::msync(addr.cast(), pages, MsyncFlags::SYNC) };
        self.sync_result(Op::Flush, r.map_err(Into::into))?;
        let end = self.offset + offset + len as u64;
        let file_len = self.file_len()?;
        if file_len < end {
            return Err(SyncError::Truncated {
                path: self.path.clone(),
                file_len,
                end,
            });
        }
        Ok(())
    }

    /// Starts write-back of the window's dirty pages and returns without
    /// waiting (`sync_file_range(SYNC_FILE_RANGE_WRITE)`). Useful to spread
    /// out I/O before a later [`flush`](Self::flush); it makes **no**
    /// durability promise: no metadata is written, no cache is flushed, and
    /// a write error is only reported by a later sync.
    pub fn start_writeback(&self) -> Result<(), SyncError> {
        self.start_writeback_range(0, self.len)
    }

    /// As [`start_writeback`](Self::start_writeback), for a range.
    pub fn start_writeback_range(&self, offset: u64, len: usize) -> Result<(), SyncError> {
        self.sync_preconditions(offset, len)?;
        if len == 0 {
            return Ok(());
        }
        let file_offset = (self.offset + offset) as libc::off64_t;
        // SAFETY: plain system call on our own open file descriptor.
        let rc = unsafe {
            libc::sync_file_range(
                self.file.as_raw_fd(),
                file_offset,
                len as libc::off64_t,
                libc::SYNC_FILE_RANGE_WRITE,
            )
        };
        let r = if rc == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        };
        self.sync_result(Op::StartWriteback, r)
    }

    /// `fdatasync` of the whole file: every dirty page of it (through any
    /// mapping or `write`) and the metadata needed to read them back.
    pub fn sync_data(&self) -> Result<(), SyncError> {
        self.sync_preconditions(0, 0)?;
        let r = self.file.sync_data();
        self.sync_result(Op::SyncData, r)
    }

    /// `fsync` of the whole file: as [`sync_data`](Self::sync_data), plus all
    /// metadata (times, permissions). Making a newly created file's name
    /// durable also needs an `fsync` of its directory.
    pub fn sync_all(&self) -> Result<(), SyncError> {
        self.sync_preconditions(0, 0)?;
        let r = self.file.sync_all();
        self.sync_result(Op::SyncAll, r)
    }

    fn sync_preconditions(&self, offset: u64, len: usize) -> Result<(), SyncError> {
        if self.mode == Mode::CopyOnWrite {
            return Err(SyncError::PrivateMapping {
                path: self.path.clone(),
            });
        }
        if self.sync_failed.load(Ordering::Acquire) {
            return Err(SyncError::PreviouslyFailed {
                path: self.path.clone(),
                op: *self.first_sync_failure.get().unwrap_or(&Op::Flush),
            });
        }
        if offset
            .checked_add(len as u64)
            .is_none_or(|end| end > self.len as u64)
        {
            return Err(SyncError::OutOfBounds {
                path: self.path.clone(),
                offset,
                len: len as u64,
                map_len: self.len as u64,
            });
        }
        // Stores into replaced pages went to anonymous memory, not the file.
        self.check_poison()?;
        Ok(())
    }

    fn sync_result(&self, op: Op, r: std::io::Result<()>) -> Result<(), SyncError> {
        match r {
            Ok(()) => Ok(()),
            Err(e) => {
                let _ = self.first_sync_failure.set(op);
                self.sync_failed.store(true, Ordering::Release);
                Err(SyncError::Io(IoError::new(&self.path, op, e)))
            }
        }
    }
}
