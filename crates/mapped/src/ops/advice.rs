//! Giving a mapping access advice (`madvise`) and locking its pages in
//! memory (`mlock`). The advice values are in `sys/advice.rs`; advice that
//! can change the contents is given only through the `unsafe`
//! [`Mapping::advise_unchecked`].

#![allow(unsafe_code)]

use rustix::mm::Advice as Sys;

use crate::error::{IoError, Op};
use crate::mapping::Mapping;
use crate::sys::advice::{Advice, UncheckedAdvice};
use crate::sys::page_size;

impl Mapping {
    /// Gives `advice` for the whole window.
    pub fn advise(&self, advice: Advice) -> Result<(), IoError> {
        self.advise_range(advice, 0, self.len)
    }

    /// Gives `advice` for `len` bytes at `offset` (widened to whole pages).
    pub fn advise_range(&self, advice: Advice, offset: u64, len: usize) -> Result<(), IoError> {
        // SAFETY: `Advice` holds only hints that never change contents.
        unsafe { self.madvise(advice.sys(), offset, len) }
    }

    /// Gives advice that may change the window's contents.
    ///
    /// # Safety
    ///
    /// No reference into the affected range may be alive, and the caller
    /// accepts the variant's effect on the contents, for every process that
    /// maps the file (for [`UncheckedAdvice::Remove`]).
    pub unsafe fn advise_unchecked(
        &self,
        advice: UncheckedAdvice,
        offset: u64,
        len: usize,
    ) -> Result<(), IoError> {
        // SAFETY: forwarded to the caller.
        unsafe { self.madvise(advice.sys(), offset, len) }
    }

    /// # Safety
    /// As for `advise_unchecked`.
    unsafe fn madvise(&self, advice: Sys, offset: u64, len: usize) -> Result<(), IoError> {
        let einval = || {
            IoError::new(
                &self.path,
                Op::Advise,
                std::io::Error::from_raw_os_error(libc::EINVAL),
            )
        };
        if offset
            .checked_add(len as u64)
            .is_none_or(|end| end > self.len as u64)
        {
            return Err(einval());
        }
        let Some((addr, pages)) = self.region.pages_of(offset as usize, len) else {
            return Ok(());
        };
        // SAFETY: the range is page-aligned and inside our mapping; the
        // caller answers for the advice's effect.
        unsafe { rustix::mm::madvise(addr.cast(), pages, advice) }
            .map_err(|e| IoError::new(&self.path, Op::Advise, e.into()))
    }

    /// Fills the page tables for the whole window now, as `MAP_POPULATE`
    /// does at `mmap`: with `MADV_POPULATE_READ`, or on kernels before
    /// 5.14 by reading a byte of each page. Like `MAP_POPULATE`, a hint:
    /// what cannot be read in now (a truncated file, no memory) faults
    /// later instead, so failures are ignored.
    pub(crate) fn populate_now(&self) {
        let Some((addr, pages)) = self.region.pages_of(0, self.len) else {
            return;
        };
        // SAFETY: the range is inside our mapping; population changes no
        // contents.
        match unsafe { rustix::mm::madvise(addr.cast(), pages, Sys::LinuxPopulateRead) } {
            // EINVAL: a kernel without it. Anything else (EFAULT past the
            // end of a truncated file, ENOMEM) is what MAP_POPULATE would
            // have left unpopulated too; touching would poison the mapping.
            Err(rustix::io::Errno::INVAL) => {}
            _ => return,
        }
        let page = page_size();
        let base = self.region.ptr();
        let _ = self.guarded(|| {
            let mut off = 0;
            while off < self.len {
                // SAFETY: inside the window; read under `guarded`, so a
                // page past the end of a truncated file is no signal; a
                // volatile read of one byte, discarded.
                unsafe { std::ptr::read_volatile(base.add(off)) };
                off += page;
            }
        });
    }

    /// Locks the window's pages in memory (`mlock`): they are read in now
    /// and never paged out while the mapping lives. Limited by
    /// `RLIMIT_MEMLOCK`.
    pub fn lock(&self) -> Result<(), IoError> {
        let Some((addr, pages)) = self.region.pages_of(0, self.len) else {
            return Ok(());
        };
        // SAFETY: the range is inside our mapping; mlock changes no contents.
        unsafe { rustix::mm::mlock(addr.cast(), pages) }
            .map_err(|e| IoError::new(&self.path, Op::Lock, e.into()))
    }

    /// Undoes [`lock`](Self::lock). Unmapping unlocks too.
    pub fn unlock(&self) -> Result<(), IoError> {
        let Some((addr, pages)) = self.region.pages_of(0, self.len) else {
            return Ok(());
        };
        // SAFETY: the range is inside our mapping; munlock changes no contents.
        unsafe { rustix::mm::munlock(addr.cast(), pages) }
            .map_err(|e| IoError::new(&self.path, Op::Lock, e.into()))
    }
}
