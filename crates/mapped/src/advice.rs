//! Access advice (`madvise`) and locking pages in memory (`mlock`).
//!
//! Advice that can change the mapping's contents is separate and `unsafe`
//! ([`UncheckedAdvice`]), as memmap2 split it after its issue #94: dropping
//! the pages of a private mapping discards its copy-on-write changes, and
//! `MADV_REMOVE` punches a hole in the file itself.

#![allow(unsafe_code)]

use rustix::mm::Advice as Sys;

use crate::error::{IoError, Op};
use crate::mapping::Mapping;

/// Advice that only affects performance, never the contents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Advice {
    /// `MADV_NORMAL`: the kernel's default read-ahead around each fault.
    Normal,
    /// `MADV_RANDOM`: no read-ahead; a fault reads only its own page. Use it
    /// for random access to a file that is not in memory: with the default,
    /// every fault also reads its neighbours.
    Random,
    /// `MADV_SEQUENTIAL`: aggressive read-ahead; pages behind may be freed
    /// early.
    Sequential,
    /// `MADV_WILLNEED`: start reading the range now.
    WillNeed,
    /// `MADV_HUGEPAGE`: map 2 MiB pages where the kernel can. For random
    /// access to a large file that is already in memory this saves a TLB
    /// miss and a page-table walk per access (in `mapped bench io`, random
    /// 4 KiB reads in place of a 4 GiB file took 618 ns instead of 785).
    ///
    /// The kernel maps a file with 2 MiB pages only where its page cache
    /// holds the file in 2 MiB folios: shmem (per its `huge=` mount
    /// option), or a file system with large folios (ext4 and XFS on recent
    /// kernels; Linux 6.18 here) when the file was read in through a
    /// mapping with this advice (or by large read-ahead). Pages cached by
    /// small `write`s stay 4 KiB until they leave the cache. So give it
    /// before the pages come in: [`MapOptions::advice`](crate::MapOptions::advice)
    /// with [`populate`](crate::MapOptions::populate) does. Check the
    /// outcome in `/proc/PID/smaps` (`FilePmdMapped`).
    HugePage,
    /// `MADV_NOHUGEPAGE`.
    NoHugePage,
    /// `MADV_DONTDUMP`: leave the range out of core dumps.
    DontDump,
    /// `MADV_DODUMP`: undo [`Advice::DontDump`].
    DoDump,
    /// `MADV_POPULATE_READ` (Linux 5.14): fault every page of the range in
    /// now, readable, reading the file where needed.
    PopulateRead,
    /// `MADV_POPULATE_WRITE` (Linux 5.14): fault every page in now,
    /// writable, as a store would, without changing the contents. For a
    /// shared file mapping the file system does its first-write work for
    /// every page here (on ext4, a fallocated page's first store costs
    /// several microseconds), so later stores take no fault. Needs a
    /// writable mapping; fails with `ENOSPC` rather than a later `SIGBUS`
    /// where blocks must be allocated and cannot be.
    PopulateWrite,
}

impl Advice {
    fn sys(self) -> Sys {
        match self {
            Advice::Normal => Sys::Normal,
            Advice::Random => Sys::Random,
            Advice::Sequential => Sys::Sequential,
            Advice::WillNeed => Sys::WillNeed,
            Advice::HugePage => Sys::LinuxHugepage,
            Advice::NoHugePage => Sys::LinuxNoHugepage,
            Advice::DontDump => Sys::LinuxDontDump,
            Advice::DoDump => Sys::LinuxDoDump,
            Advice::PopulateRead => Sys::LinuxPopulateRead,
            Advice::PopulateWrite => Sys::LinuxPopulateWrite,
        }
    }
}

/// Advice that can change what the mapping holds: see each variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum UncheckedAdvice {
    /// `MADV_DONTNEED`: drop the pages now. A shared mapping reads them back
    /// from the file; a private one loses its changes and reads the file.
    DontNeed,
    /// `MADV_REMOVE`: free the pages **and the file's blocks** behind them:
    /// the file reads as zeros there afterwards, for every process.
    Remove,
    /// `MADV_COLD`: deactivate the pages (Linux 5.4); contents kept.
    Cold,
    /// `MADV_PAGEOUT`: reclaim the pages now (Linux 5.4); contents kept, but
    /// a private mapping's changes go to swap.
    PageOut,
}

impl UncheckedAdvice {
    fn sys(self) -> Sys {
        match self {
            UncheckedAdvice::DontNeed => Sys::LinuxDontNeed,
            UncheckedAdvice::Remove => Sys::LinuxRemove,
            UncheckedAdvice::Cold => Sys::LinuxCold,
            UncheckedAdvice::PageOut => Sys::LinuxPageOut,
        }
    }
}

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
        let page = crate::raw::page_size();
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
