//! Memory: what a mapping of cached file data costs the process and the
//! machine, against a private copy of the same bytes.
//!
//! Measured in one process from `/proc/self/smaps_rollup`. The mapped bytes
//! are the page cache's own pages: they count in the process's PSS (shared
//! with every other process that maps them, each charged its share), and
//! the machine holds them once. A private copy is anonymous memory on top
//! of the page cache's copy: the machine holds the data twice. The variant
//! with N processes mapping one file (each charged 1/N) is not measured
//! yet.

#![allow(unsafe_code)]

use std::hint::black_box;
use std::os::unix::fs::FileExt;

use mapped::MapOptions;
use serde::Serialize;

use crate::error::{BenchError, Result};
use crate::io::file::BenchFile;
use crate::io::plan::Plan;
use crate::io::read::checksum;
use crate::progress::Progress;
use crate::sys::{self, Rollup};

/// Growth of this process's memory while it holds the data one way.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct MemoryDelta {
    /// Resident set size, in bytes.
    pub rss: i64,
    /// Proportional set size, in bytes.
    pub pss: i64,
    /// PSS of anonymous (private) memory.
    pub pss_anon: i64,
    /// PSS of file-backed memory.
    pub pss_file: i64,
}

/// A mapping against a private copy of the same bytes.
#[derive(Debug, Clone, Serialize)]
pub struct MemoryReport {
    /// Bytes of the file mapped, or copied.
    pub bytes: u64,
    /// Holding the bytes through a mapping, every page touched.
    pub mapping: MemoryDelta,
    /// Holding a copy read with `pread` into a buffer of our own.
    pub private_copy: MemoryDelta,
    /// Bytes of the range in the page cache during the run: the machine's
    /// own copy, which the private copy duplicates.
    pub page_cache: u64,
}

/// Measures, or `None` where `/proc/self/smaps_rollup` is unreadable.
pub(crate) fn run(
    file: &BenchFile,
    plan: &Plan,
    progress: &dyn Progress,
) -> Result<Option<MemoryReport>> {
    progress.phase("memory", 2);
    let len = plan.memory_len.min(file.len);
    let Some(r0) = sys::smaps_rollup() else {
        return Ok(None);
    };
    let map = file.map_with(MapOptions::new().window(0, len))?;
    // SAFETY: as for the in-place reads (read.rs): the file is ours, or
    // the user's under `IoOptions::file`'s contract; `guarded` catches a
    // truncation.
    black_box(map.guarded(|| checksum(unsafe { map.as_slice() }))?);
    let r1 = sys::smaps_rollup().unwrap_or(r0);
    let page_cache = map.residency()?.resident_bytes().min(len);
    drop(map);
    progress.step("mapping");

    let r2 = sys::smaps_rollup().unwrap_or(r0);
    let mut copy = vec![0u8; len as usize];
    file.file
        .read_exact_at(&mut copy, 0)
        .map_err(|e| BenchError::io("pread", &file.path, e))?;
    black_box(checksum(&copy));
    let r3 = sys::smaps_rollup().unwrap_or(r2);
    drop(copy);
    progress.step("private copy");

    Ok(Some(MemoryReport {
        bytes: len,
        mapping: delta(r0, r1),
        private_copy: delta(r2, r3),
        page_cache,
    }))
}

fn delta(a: Rollup, b: Rollup) -> MemoryDelta {
    let d = |x: u64, y: u64| y as i64 - x as i64;
    MemoryDelta {
        rss: d(a.rss, b.rss),
        pss: d(a.pss, b.pss),
        pss_anon: d(a.pss_anon, b.pss_anon),
        pss_file: d(a.pss_file, b.pss_file),
    }
}
