//! Page-cache residency (`mincore`), as `fincore` reports it.

#![allow(unsafe_code)]

use std::path::Path;

use crate::error::{IoError, Op};
use crate::mapping::Mapping;
use crate::sys::page_size;

/// Which pages of a range are in the page cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Residency {
    page_size: usize,
    pages: Vec<bool>,
}

impl Residency {
    /// The page size the counts are in.
    pub fn page_size(&self) -> usize {
        self.page_size
    }

    /// Pages in the range.
    pub fn total_pages(&self) -> usize {
        self.pages.len()
    }

    /// Pages of the range in memory.
    pub fn resident_pages(&self) -> usize {
        self.pages.iter().filter(|&&r| r).count()
    }

    /// Bytes of the range in memory (whole pages).
    pub fn resident_bytes(&self) -> u64 {
        self.resident_pages() as u64 * self.page_size as u64
    }

    /// Whether page `i` of the range is in memory.
    pub fn is_resident(&self, i: usize) -> bool {
        self.pages.get(i).copied().unwrap_or(false)
    }
}

impl Mapping {
    /// Which pages of the window are in the page cache.
    ///
    /// For a file the caller may write (or owns), this is the page cache,
    /// whoever loaded the pages. Since Linux 5.0, for other files it counts
    /// only pages this process has itself faulted in.
    pub fn residency(&self) -> Result<Residency, IoError> {
        self.residency_range(0, self.len)
    }

    /// As [`residency`](Self::residency), for `len` bytes at `offset`.
    pub fn residency_range(&self, offset: u64, len: usize) -> Result<Residency, IoError> {
        let page_size = page_size();
        if offset
            .checked_add(len as u64)
            .is_none_or(|end| end > self.len as u64)
        {
            return Err(IoError::new(
                &self.path,
                Op::Residency,
                std::io::Error::from_raw_os_error(libc::EINVAL),
            ));
        }
        let Some((addr, bytes)) = self.region.pages_of(offset as usize, len) else {
            return Ok(Residency {
                page_size,
                pages: Vec::new(),
            });
        };
        let mut vec = vec![0u8; bytes.div_ceil(page_size)];
        // SAFETY: `addr..addr + bytes` is page-aligned and inside our
        // mapping; `vec` has one byte per page, as mincore writes.
        let rc = unsafe { libc::mincore(addr.cast(), bytes, vec.as_mut_ptr()) };
        if rc != 0 {
            return Err(IoError::new(
                &self.path,
                Op::Residency,
                std::io::Error::last_os_error(),
            ));
        }
        Ok(Residency {
            page_size,
            pages: vec.into_iter().map(|b| b & 1 == 1).collect(),
        })
    }
}

/// The page-cache residency of a whole file, without changing it.
pub fn residency(path: impl AsRef<Path>) -> Result<Residency, crate::Error> {
    let map = Mapping::open(path)?;
    Ok(map.residency()?)
}
