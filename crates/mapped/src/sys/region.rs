//! The one owner of a region of address space: `mmap`, `mremap`, `munmap`.
//!
//! Everything here works on page-aligned regions. A window at an unaligned
//! file offset is mapped from the page boundary below it; `delta` is the
//! distance from the region's start to the first byte the caller asked for.

#![allow(unsafe_code)]

use std::io;
use std::os::fd::BorrowedFd;
use std::ptr::{self, NonNull};

use rustix::mm::{MapFlags, MremapFlags, ProtFlags};

use super::page_size;

/// How a region is mapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Protection {
    pub(crate) write: bool,
    pub(crate) shared: bool,
}

/// A mapped region, or none for a zero-length mapping (`mmap` refuses
/// length 0).
#[derive(Debug)]
pub(crate) struct RawRegion {
    /// Page-aligned start of the region; dangling when `region_len == 0`.
    base: NonNull<u8>,
    region_len: usize,
    delta: usize,
}

impl RawRegion {
    /// Maps `len` bytes of `fd` at `offset`.
    pub(crate) fn map(
        fd: BorrowedFd<'_>,
        offset: u64,
        len: usize,
        prot: Protection,
        populate: bool,
    ) -> io::Result<RawRegion> {
        let page = page_size() as u64;
        let delta = (offset % page) as usize;
        let aligned = offset - delta as u64;
        if len == 0 {
            return Ok(RawRegion {
                base: NonNull::dangling(),
                region_len: 0,
                delta,
            });
        }
        let region_len = len
            .checked_add(delta)
            .ok_or_else(|| io::Error::from_raw_os_error(libc::ENOMEM))?;
        let mut flags = if prot.shared {
            MapFlags::SHARED
        } else {
            MapFlags::PRIVATE
        };
        if populate {
            flags |= MapFlags::POPULATE;
        }
        let protf = if prot.write {
            ProtFlags::READ | ProtFlags::WRITE
        } else {
            ProtFlags::READ
        };
        // SAFETY: a null hint lets the kernel choose fresh address space, so
        // no existing memory is replaced; the region is owned by the returned
        // value and unmapped exactly once, in `drop`.
        let base =
            unsafe { rustix::mm::mmap(ptr::null_mut(), region_len, protf, flags, fd, aligned) }?;
        Ok(RawRegion {
            // mmap never returns null on success.
            base: NonNull::new(base.cast()).expect("mmap returned null"),
            region_len,
            delta,
        })
    }

    /// The first byte the caller asked for.
    #[inline]
    pub(crate) fn ptr(&self) -> *mut u8 {
        if self.region_len == 0 {
            return NonNull::dangling().as_ptr();
        }
        // SAFETY: delta < region_len for a non-empty region, so the result
        // stays inside the region.
        unsafe { self.base.as_ptr().add(self.delta) }
    }

    /// The page-aligned region and its length, for `madvise`, `msync`,
    /// `mincore` over the byte range `offset..offset + len` of the window.
    /// Returns `None` when the window is empty.
    pub(crate) fn pages_of(&self, offset: usize, len: usize) -> Option<(*mut u8, usize)> {
        if self.region_len == 0 || len == 0 {
            return None;
        }
        let page = page_size();
        let start = (self.delta + offset) / page * page;
        let end = (self.delta + offset + len).div_ceil(page) * page;
        let end = end.min(self.region_len.div_ceil(page) * page);
        // SAFETY: start is within the region (callers check offset + len
        // against the window, which lies inside the region).
        Some((unsafe { self.base.as_ptr().add(start) }, end - start))
    }

    /// Changes the window's length to `new_len`, moving the region if the
    /// kernel must. Takes `&mut self`: no borrow of the old region survives.
    pub(crate) fn resize(
        &mut self,
        fd: BorrowedFd<'_>,
        file_offset: u64,
        new_len: usize,
        prot: Protection,
    ) -> io::Result<()> {
        if self.region_len == 0 {
            *self = RawRegion::map(fd, file_offset, new_len, prot, false)?;
            return Ok(());
        }
        if new_len == 0 {
            let empty = RawRegion {
                base: NonNull::dangling(),
                region_len: 0,
                delta: self.delta,
            };
            *self = empty; // drops (unmaps) the old region
            return Ok(());
        }
        let new_region_len = new_len
            .checked_add(self.delta)
            .ok_or_else(|| io::Error::from_raw_os_error(libc::ENOMEM))?;
        {
            // SAFETY: the old region is ours and no borrow into it is alive
            // (`&mut self`); MAYMOVE lets the kernel pick a new address that
            // it knows to be free, and on failure the old region is untouched.
            let r = unsafe {
                rustix::mm::mremap(
                    self.base.as_ptr().cast(),
                    self.region_len,
                    new_region_len,
                    MremapFlags::MAYMOVE,
                )
            };
            let base = match r {
                Ok(base) => base,
                // mremap refuses a region that advice or locking on part of
                // it split into several VMAs. A shared mapping holds only the
                // file's pages, so mapping the file afresh is equivalent.
                Err(rustix::io::Errno::FAULT) if prot.shared => {
                    *self = RawRegion::map(fd, file_offset, new_len, prot, false)?;
                    return Ok(());
                }
                Err(e) => return Err(e.into()),
            };
            self.base = NonNull::new(base.cast()).expect("mremap returned null");
            self.region_len = new_region_len;
            Ok(())
        }
    }
}

impl Drop for RawRegion {
    fn drop(&mut self) {
        if self.region_len == 0 {
            return;
        }
        // SAFETY: the region was mapped by us, is unmapped only here, and no
        // borrow of it outlives `self`.
        let _ = unsafe { rustix::mm::munmap(self.base.as_ptr().cast(), self.region_len) };
    }
}

// SAFETY: the region is plain memory owned by this value; which threads
// may touch it and how is governed by the `Mapping` API above it.
unsafe impl Send for RawRegion {}
// SAFETY: as above; `RawRegion` itself offers no interior mutability.
unsafe impl Sync for RawRegion {}
