//! `mapped bench io`: a shared mapping against `pread` and `pwrite`.
//!
//! The read matrix crosses access pattern (sequential, uniform random,
//! random over a hot subset) with operation size (64 B to 1 MiB) and
//! method:
//!
//! - `pread` into a reused buffer;
//! - `read_at`: a copy out of a long-lived mapping ([`mapped::Mapping::read_at`]);
//! - `in_place`: a checksum over the long-lived mapping's bytes, no copy;
//! - `map_per_op`: map the range, checksum it, unmap, for every operation.
//!
//! Every method computes the same checksum over the bytes it reads, so the
//! rows differ only in how the bytes arrive. Warm rows run with the file in
//! the page cache and the mapping's page tables filled; cold rows evict the
//! file first (`posix_fadvise(DONTNEED)`, checked with `mincore`) and count
//! the bytes read from storage (`/proc/thread-self/io`) and left in the
//! cache, with default, random or sequential advice for the mappings.
//!
//! Writes compare `pwrite` with stores into a shared writable mapping, to
//! clean pages (each store faults for dirty tracking) and to dirty ones,
//! and the cost of making a write durable. A memory section compares a
//! mapping with a private copy. Then claims and targets are judged.

mod checksum;
mod claims;
mod file;
mod memory;
mod plan;
mod read;
mod render;
mod report;
mod write;

use std::path::PathBuf;

use crate::env::Environment;
use crate::error::{BenchError, Result};
use crate::progress::Progress;
use crate::{Scale, sys};

pub use file::FileDesc;
pub(crate) use memory::peer as memory_peer;
pub use memory::{MemoryDelta, MemoryReport, SharedReport};
pub use report::{Access, AdviceKind, Cache, DurabilityRow, IoReport, Method, ReadRow, WriteRow};

/// What `run_io` measures. Start from [`IoOptions::new`] and set fields.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct IoOptions {
    /// Benchmark this existing file instead of creating one. It is opened
    /// read-only and never written (the write rows use a scratch file of
    /// the benchmark's own). The in-place rows borrow its mapped bytes, as
    /// `rg --mmap` does: the run relies on nobody writing the file while it
    /// lasts (a truncation is caught and reported as an error). Its pages
    /// are evicted from the page cache for the cold rows.
    pub file: Option<PathBuf>,
    /// Size of the file to create (not with `file`). Default: 4 GiB
    /// (256 MiB for [`Scale::Quick`]), capped at a quarter of the available
    /// memory and of the free disk.
    pub size: Option<u64>,
    /// Directory for the files the benchmark creates (a private
    /// subdirectory, removed at the end). Default: the system's temporary
    /// directory. It should be on the storage you care about: cold reads
    /// and durability are measured there.
    pub dir: Option<PathBuf>,
    /// How much work to do.
    pub scale: Scale,
    /// Pin the measuring thread to one CPU (default: true).
    pub pin: bool,
}

impl IoOptions {
    /// Options at `scale`, with everything else by default.
    pub fn new(scale: Scale) -> IoOptions {
        IoOptions {
            file: None,
            size: None,
            dir: None,
            scale,
            pin: true,
        }
    }
}

impl Default for IoOptions {
    fn default() -> Self {
        IoOptions::new(Scale::Full)
    }
}

/// Runs the I/O benchmark, in this process only: the memory of several
/// processes sharing a file is not measured (see [`run_io_with`]).
pub fn run_io(opts: &IoOptions, progress: &dyn Progress) -> Result<IoReport> {
    run_io_with(opts, crate::Peer::Thread, progress)
}

/// Runs the I/O benchmark; with [`Peer::Process`](crate::Peer::Process),
/// also the memory of several processes holding the same bytes (the peers
/// run [`peer_main`](crate::peer_main) with the arguments given).
pub fn run_io_with(
    opts: &IoOptions,
    peer: crate::Peer<'_>,
    progress: &dyn Progress,
) -> Result<IoReport> {
    if opts.file.is_some() && opts.size.is_some() {
        return Err(BenchError::Options(
            "give a file to read or a size to create, not both".to_string(),
        ));
    }
    let plan = plan::Plan::new(opts.scale);
    let mut env = Environment::probe(opts.scale);
    let base = match &opts.dir {
        Some(d) => d.clone(),
        None => std::env::temp_dir(),
    };
    // A private directory (0700) for everything we create; removed on
    // every way out of this function.
    let work = tempfile::Builder::new()
        .prefix("mapped-bench-io-")
        .tempdir_in(&base)
        .map_err(|e| BenchError::io("create a directory in", &base, e))?;
    let pin = sys::Pin::to(if opts.pin {
        sys::allowed_cpus().last().copied()
    } else {
        None
    });
    env.pinned.extend(pin.cpu());
    let mut notes = Vec::new();

    let file = match &opts.file {
        Some(path) => file::BenchFile::open(path)?,
        None => {
            let len = match opts.size {
                Some(len) => len,
                None => plan.default_file_len(sys::mem_available(), sys::disk_free(&base)),
            };
            if len < 4 << 20 {
                return Err(BenchError::Options(format!(
                    "the file must be at least 4 MiB (got {len} bytes)"
                )));
            }
            progress.phase("create file", 1);
            let f = file::BenchFile::create(&work.path().join("data"), len)?;
            progress.step("data");
            f
        }
    };
    if file.len < 2 << 20 {
        return Err(BenchError::Options(format!(
            "{} is too small to benchmark: it needs at least 2 MiB",
            file.path.display()
        )));
    }
    let hot_len = plan.hot_len(file.len);

    let (mut rows, cached) = read::warm_rows(&file, &plan, hot_len, progress)?;
    if cached < 0.9 {
        notes.push(format!(
            "only {:.0}% of the file stayed in the page cache: the warm rows are partly cold",
            cached * 100.0
        ));
    }
    let (huge, huge_notes) = read::huge_rows(&file, &plan, progress)?;
    rows.extend(huge);
    notes.extend(huge_notes);
    let (cold, cold_notes) = read::cold_rows(&file, &plan, progress)?;
    rows.extend(cold);
    notes.extend(cold_notes);
    read::fill_ratios(&mut rows);

    let (writes, durability) = write::run(work.path(), &plan, progress)?;
    if sys::is_memory_fs(work.path()) {
        notes.push(format!(
            "{} is in memory (tmpfs): fdatasync and msync do nothing there, so the durability \
             rows do not measure storage",
            base.display()
        ));
    }
    let mut memory = memory::run(&file, &plan, progress)?;
    match (&mut memory, peer) {
        (None, _) => {
            notes.push("memory not measured: /proc/self/smaps_rollup is unreadable".to_string())
        }
        (Some(m), crate::Peer::Process(spawn)) => {
            m.shared = Some(memory::shared(&file, &plan, 4, spawn, progress)?);
        }
        (Some(_), crate::Peer::Thread) => notes.push(
            "memory of several processes sharing the file not measured: no peer processes"
                .to_string(),
        ),
    }
    progress.finish();

    let mut report = IoReport {
        environment: env,
        file: file.describe(hot_len),
        repetitions: plan.reps,
        rows,
        writes,
        durability,
        memory,
        claims: Vec::new(),
        targets: Vec::new(),
        notes,
    };
    report.claims = claims::claims(&report);
    report.targets = claims::targets(&report);
    report.notes.extend(claims::notes(&report));
    drop(file);
    work.close()
        .map_err(|e| BenchError::io("remove", base.join("mapped-bench-io-*"), e))?;
    Ok(report)
}
