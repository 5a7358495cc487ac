//! The advice `madvise` takes: [`Advice`], which only affects
//! performance, and [`UncheckedAdvice`], which can change contents.
//!
//! The split follows memmap2 after its issue #94: dropping the pages of a
//! private mapping discards its copy-on-write changes, and `MADV_REMOVE`
//! punches a hole in the file itself, so that advice is given only through
//! an `unsafe` method.

use rustix::mm::Advice as Sys;

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
    pub(crate) fn sys(self) -> Sys {
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
    pub(crate) fn sys(self) -> Sys {
        match self {
            UncheckedAdvice::DontNeed => Sys::LinuxDontNeed,
            UncheckedAdvice::Remove => Sys::LinuxRemove,
            UncheckedAdvice::Cold => Sys::LinuxCold,
            UncheckedAdvice::PageOut => Sys::LinuxPageOut,
        }
    }
}
