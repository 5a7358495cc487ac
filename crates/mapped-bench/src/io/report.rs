//! What `mapped bench io` measured: the rows of its tables and the report
//! that holds them, with how they print as JSON.

use serde::Serialize;

use crate::env::Environment;
use crate::io::file::FileDesc;
use crate::io::memory::MemoryReport;
use crate::stats::{Claim, Ratio, Summary, Target};

/// How a row reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// `pread` into a reused buffer.
    Pread,
    /// [`mapped::Mapping::read_at`] on a long-lived mapping (a copy).
    ReadAt,
    /// A checksum straight over a long-lived mapping's bytes (no copy).
    InPlace,
    /// Map the range, checksum it in place, unmap: per operation.
    MapPerOp,
}

impl Method {
    /// The name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Method::Pread => "pread",
            Method::ReadAt => "read_at",
            Method::InPlace => "in_place",
            Method::MapPerOp => "map_per_op",
        }
    }
}

/// Where the offsets of a row's operations fall.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    /// One after the other from the start of the file.
    Sequential,
    /// Uniformly at random over the whole file (aligned to the size).
    Random,
    /// At random over a hot subset (an eighth of the file, at most 64 MiB).
    Hot,
}

impl Access {
    /// The name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Access::Sequential => "sequential",
            Access::Random => "random",
            Access::Hot => "hot subset",
        }
    }
}

/// The `madvise` advice given to a row's mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AdviceKind {
    /// None given: the kernel's read-around on each fault.
    Default,
    /// `MADV_RANDOM`: no read-ahead.
    Random,
    /// `MADV_SEQUENTIAL`: aggressive read-ahead.
    Sequential,
    /// `MADV_HUGEPAGE`: 2 MiB pages where the page cache allows.
    HugePage,
}

impl AdviceKind {
    /// The name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            AdviceKind::Default => "default",
            AdviceKind::Random => "random",
            AdviceKind::Sequential => "sequential",
            AdviceKind::HugePage => "huge_page",
        }
    }
}

/// Whether a row starts with the file in the page cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Cache {
    /// In the page cache, and (for long-lived mappings) in the page tables.
    Warm,
    /// In the page cache in 2 MiB folios, read in through a mapping with
    /// `Advice::HugePage`, which maps them with 2 MiB pages.
    WarmHuge,
    /// Evicted before each repetition.
    Cold,
}

/// One row of the read matrix.
#[derive(Debug, Clone, Serialize)]
pub struct ReadRow {
    /// Cache state.
    pub cache: Cache,
    /// Access pattern.
    pub access: Access,
    /// Bytes per operation.
    pub size: u64,
    /// How the bytes are read.
    pub method: Method,
    /// Advice given to the mapping (`default` for `pread`).
    pub advice: AdviceKind,
    /// Operations per repetition.
    pub ops: usize,
    /// Nanoseconds per operation, over repetitions.
    pub ns_per_op: Summary,
    /// Throughput in MiB/s, over repetitions.
    pub mib_per_s: Summary,
    /// Rate against `pread` in the same cache state, access and size.
    pub vs_pread: Option<Ratio>,
    /// Cold rows: bytes read from storage per repetition.
    pub disk_read_bytes: Option<Summary>,
    /// Cold rows: bytes of the file in the page cache after a repetition.
    pub cached_after_bytes: Option<Summary>,
}

/// One row of the write comparison.
#[derive(Debug, Clone, Serialize)]
pub struct WriteRow {
    /// `pwrite` or `write_at` (a store into the mapping).
    pub method: String,
    /// Bytes per write.
    pub size: u64,
    /// Whether the written pages were `clean` (just synced) or `dirty`.
    pub pages: String,
    /// Writes per repetition, each to a distinct page.
    pub ops: usize,
    /// Nanoseconds per write.
    pub ns_per_op: Summary,
    /// Rate against `pwrite` of the same size to pages in the same state.
    pub vs_pwrite: Option<Ratio>,
}

/// One row of the durability comparison: the cost of a 4 KiB write that
/// is durable (or, for `sync_file_range`, merely submitted) on return.
#[derive(Debug, Clone, Serialize)]
pub struct DurabilityRow {
    /// What is done.
    pub method: String,
    /// Whether the data is on stable storage afterwards.
    pub durable: bool,
    /// Nanoseconds per 4 KiB page written.
    pub ns_per_page: Summary,
    /// Time against `pwrite` + `fdatasync` per page (below 1: cheaper).
    pub vs_pwrite_fdatasync: Option<Ratio>,
}

/// The result of [`run_io`](crate::io::run_io).
#[derive(Debug, Clone, Serialize)]
pub struct IoReport {
    /// Where it ran.
    pub environment: Environment,
    /// The file read.
    pub file: FileDesc,
    /// Timed repetitions per warm row (after one warm-up round).
    pub repetitions: usize,
    /// The read matrix, warm rows then cold rows.
    pub rows: Vec<ReadRow>,
    /// Writes to clean and dirty pages.
    pub writes: Vec<WriteRow>,
    /// The cost of durability.
    pub durability: Vec<DurabilityRow>,
    /// A mapping against a private copy.
    pub memory: Option<MemoryReport>,
    /// The brief's claims, judged.
    pub claims: Vec<Claim>,
    /// The project's targets, PASS or MISS.
    pub targets: Vec<Target>,
    /// Remarks on how to read the numbers, and what was not measured.
    pub notes: Vec<String>,
}

impl IoReport {
    /// The report as pretty-printed JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("reports serialize")
    }

    /// The row of the read matrix with these coordinates, if measured.
    pub fn row(
        &self,
        cache: Cache,
        access: Access,
        size: u64,
        method: Method,
        advice: AdviceKind,
    ) -> Option<&ReadRow> {
        self.rows.iter().find(|r| {
            r.cache == cache
                && r.access == access
                && r.size == size
                && r.method == method
                && r.advice == advice
        })
    }
}
