//! [`Mode`]: how a mapping shares its pages, and the `mmap` flags for it.

use std::fmt;

use crate::sys::region::Protection;

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
    pub(crate) fn protection(self) -> Protection {
        Protection {
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
