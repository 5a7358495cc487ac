//! Memory: what a mapping of cached file data costs the process and the
//! machine, against a private copy of the same bytes.
//!
//! Measured in one process from `/proc/self/smaps_rollup`. The mapped bytes
//! are the page cache's own pages: they count in the process's PSS (shared
//! with every other process that maps them, each charged its share), and
//! the machine holds them once. A private copy is anonymous memory on top
//! of the page cache's copy: the machine holds the data twice.
//!
//! With peer processes ([`shared`]), N processes hold the same bytes at
//! once, each through a mapping or each in a private copy, and their PSS is
//! read from `/proc/PID/smaps_rollup` while all of them hold it: mappings
//! cost the machine the file's size once in all, copies N times over.

#![allow(unsafe_code)]

use std::hint::black_box;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::FileExt;
use std::process::Child;

use mapped::MapOptions;
use serde::Serialize;

use crate::error::{BenchError, Result};
use crate::io::checksum::checksum;
use crate::io::file::BenchFile;
use crate::io::plan::Plan;
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
    /// N processes holding the same bytes, when peers could be started.
    pub shared: Option<SharedReport>,
    /// Holding the bytes through a mapping, every page touched.
    pub mapping: MemoryDelta,
    /// Holding a copy read with `pread` into a buffer of our own.
    pub private_copy: MemoryDelta,
    /// Bytes of the range in the page cache during the run: the machine's
    /// own copy, which the private copy duplicates.
    pub page_cache: u64,
}

/// N processes holding the same bytes at once.
#[derive(Debug, Clone, Serialize)]
pub struct SharedReport {
    /// How many processes.
    pub processes: u32,
    /// Bytes each held.
    pub bytes: u64,
    /// Growth of each process's PSS while all held the bytes through
    /// mappings (each is charged its share of the shared pages).
    pub mapping_pss: Vec<i64>,
    /// The same, each holding a private copy.
    pub copy_pss: Vec<i64>,
}

impl SharedReport {
    /// The mapping processes' PSS growth, added up.
    pub fn mapping_total(&self) -> i64 {
        self.mapping_pss.iter().sum()
    }

    /// The copying processes' PSS growth, added up.
    pub fn copy_total(&self) -> i64 {
        self.copy_pss.iter().sum()
    }
}

/// Starts `n` peer processes that each hold `len` bytes of the file, by
/// `how` ("map" or "copy"), and returns each one's PSS growth, read while
/// all of them hold it. The peers are this program, run again (see
/// [`peer`]); they wait on their standard input, and exit when it closes.
fn hold_in_peers(
    file: &BenchFile,
    len: u64,
    n: u32,
    how: &str,
    spawn: &dyn Fn(&[String]) -> std::io::Result<Child>,
) -> Result<Vec<i64>> {
    let args = [
        "mem".to_string(),
        how.to_string(),
        file.path.display().to_string(),
        len.to_string(),
    ];
    let failed = |why: String| BenchError::PeerArgs {
        args: args.to_vec(),
        why,
    };
    let mut peers = Vec::new();
    for _ in 0..n {
        let child = spawn(&args).map_err(|e| failed(format!("cannot start a peer: {e}")))?;
        peers.push(child);
    }
    // All started: now each takes its baseline and holds the bytes, so that
    // no baseline is taken while siblings are still starting.
    let mut baselines = Vec::new();
    for child in &mut peers {
        let stdin = child
            .stdin
            .as_mut()
            .ok_or_else(|| failed("no stdin pipe".into()))?;
        stdin
            .write_all(b"go\n")
            .and_then(|()| stdin.flush())
            .map_err(|e| failed(format!("peer gone: {e}")))?;
    }
    for child in &mut peers {
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| failed("no stdout pipe".into()))?;
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .map_err(|e| failed(format!("peer gone: {e}")))?;
        let base: u64 = line
            .strip_prefix("ready ")
            .and_then(|v| v.trim().parse().ok())
            .ok_or_else(|| failed(format!("peer said {line:?}, not `ready PSS`")))?;
        baselines.push(base);
    }
    let mut grown = Vec::new();
    for (child, base) in peers.iter().zip(&baselines) {
        let now = sys::smaps_rollup_of(child.id())
            .ok_or_else(|| failed("cannot read the peer's smaps_rollup".into()))?;
        grown.push(now.pss as i64 - *base as i64);
    }
    for mut child in peers {
        drop(child.stdin.take()); // the peer exits at end of input
        let _ = child.wait();
    }
    Ok(grown)
}

/// N processes mapping the same bytes against N private copies.
pub(crate) fn shared(
    file: &BenchFile,
    plan: &Plan,
    n: u32,
    spawn: &dyn Fn(&[String]) -> std::io::Result<Child>,
    progress: &dyn Progress,
) -> Result<SharedReport> {
    progress.phase("memory, several processes", 2);
    let len = plan.memory_len.min(file.len);
    let mapping_pss = hold_in_peers(file, len, n, "map", spawn)?;
    progress.step("mappings");
    let copy_pss = hold_in_peers(file, len, n, "copy", spawn)?;
    progress.step("private copies");
    Ok(SharedReport {
        processes: n,
        bytes: len,
        mapping_pss,
        copy_pss,
    })
}

/// The memory peer (`mapped bench __peer mem map|copy PATH LEN`): waits for
/// a line on standard input, notes its PSS, holds `LEN` bytes of the file
/// (mapped and every page touched, or read into a buffer of its own),
/// prints `ready PSS`, and holds them until its standard input closes.
pub(crate) fn peer(args: &[String]) -> Result<()> {
    let bad = |why: &str| BenchError::PeerArgs {
        args: args.to_vec(),
        why: why.to_string(),
    };
    let [how, path, len] = args else {
        return Err(bad("expected: map|copy PATH LEN"));
    };
    let len: u64 = len.parse().map_err(|_| bad("LEN is not a number"))?;
    let mut stdin = std::io::stdin().lock();
    let mut line = String::new();
    stdin
        .read_line(&mut line)
        .map_err(|e| BenchError::io("read", "stdin", e))?;
    let base = sys::smaps_rollup().ok_or_else(|| bad("cannot read smaps_rollup"))?;
    let file = std::fs::File::open(path).map_err(|e| BenchError::io("open", path, e))?;
    let held: Box<dyn std::any::Any> = match how.as_str() {
        "map" => {
            let map = MapOptions::new().window(0, len).map_file(file, path)?;
            // SAFETY: as in `run`: the benchmark's file, read only, and a
            // truncation is caught by `guarded`.
            black_box(map.guarded(|| checksum(unsafe { map.as_slice() }))?);
            Box::new(map)
        }
        "copy" => {
            let mut copy = vec![0u8; len as usize];
            file.read_exact_at(&mut copy, 0)
                .map_err(|e| BenchError::io("pread", path, e))?;
            black_box(checksum(&copy));
            Box::new(copy)
        }
        _ => return Err(bad("expected map or copy")),
    };
    let mut out = std::io::stdout().lock();
    writeln!(out, "ready {}", base.pss)
        .and_then(|()| out.flush())
        .map_err(|e| BenchError::io("write", "stdout", e))?;
    // Hold until the parent closes our input.
    let mut rest = Vec::new();
    let _ = stdin.read_to_end(&mut rest);
    drop(held);
    Ok(())
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
        shared: None,
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
