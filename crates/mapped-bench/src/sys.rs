//! What the benchmarks ask of the kernel beyond the mapping layer: CPU
//! pinning, a clock shared by processes, and counters from `/proc`.
//! Every reading here is best effort: `None` when the machine does not
//! offer it, never an error.

use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use rustix::thread::{CpuSet, sched_getaffinity, sched_setaffinity};

/// The CPUs this thread may run on, in order.
pub(crate) fn allowed_cpus() -> Vec<usize> {
    match sched_getaffinity(None) {
        Ok(set) => (0..CpuSet::MAX_CPU).filter(|&c| set.is_set(c)).collect(),
        Err(_) => Vec::new(),
    }
}

/// Pins the calling thread to one CPU until dropped, then restores the
/// mask it had. Pinning is best effort: `cpu()` says whether it took.
#[derive(Debug)]
pub(crate) struct Pin {
    previous: Option<CpuSet>,
    cpu: Option<usize>,
}

impl Pin {
    /// Pins to `cpu`, if given and the kernel allows it.
    pub(crate) fn to(cpu: Option<usize>) -> Pin {
        let none = Pin {
            previous: None,
            cpu: None,
        };
        let Some(cpu) = cpu else { return none };
        let Ok(previous) = sched_getaffinity(None) else {
            return none;
        };
        // Not checked against `previous`: a thread started by a pinned
        // thread inherits its one CPU, and must still be able to move to
        // another the process may use (the kernel refuses the others).
        if cpu >= CpuSet::MAX_CPU {
            return none;
        }
        let mut set = CpuSet::new();
        set.set(cpu);
        match sched_setaffinity(None, &set) {
            Ok(()) => Pin {
                previous: Some(previous),
                cpu: Some(cpu),
            },
            Err(_) => none,
        }
    }

    /// The CPU pinned to, if pinning took.
    pub(crate) fn cpu(&self) -> Option<usize> {
        self.cpu
    }
}

impl Drop for Pin {
    fn drop(&mut self) {
        if let Some(previous) = &self.previous {
            let _ = sched_setaffinity(None, previous);
        }
    }
}

/// Bytes of this process's mapping that starts at `addr` mapped with
/// 2 MiB page-table entries (`FilePmdMapped` plus `ShmemPmdMapped` in
/// `/proc/self/smaps`), or `None` if it cannot be read.
pub(crate) fn pmd_mapped_bytes(addr: usize) -> Option<u64> {
    let smaps = std::fs::read_to_string("/proc/self/smaps").ok()?;
    let start = format!("{addr:x}-");
    let mut lines = smaps.lines().skip_while(|l| !l.starts_with(&start));
    lines.next()?;
    let mut kib = 0;
    for line in lines {
        // The next mapping's header line starts with its address range.
        if line
            .split_whitespace()
            .next()
            .is_some_and(|w| w.contains('-') && !w.ends_with(':'))
        {
            break;
        }
        if let Some(rest) = line
            .strip_prefix("FilePmdMapped:")
            .or_else(|| line.strip_prefix("ShmemPmdMapped:"))
        {
            kib += rest
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()?;
        }
    }
    Some(kib * 1024)
}

/// `CLOCK_MONOTONIC` in nanoseconds: the same clock in every process of
/// the machine, unlike `Instant`, whose values cannot cross processes.
pub(crate) fn mono_ns() -> u64 {
    let ts = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Spins until `CLOCK_MONOTONIC` reaches `t` (nanoseconds): pacing that
/// a sleep, which wakes late by about as much as the benchmarks measure,
/// cannot give.
pub(crate) fn spin_until_ns(t: u64) {
    while mono_ns() < t {
        std::hint::spin_loop();
    }
}

/// Bytes this thread caused to be read from storage (`read_bytes` of
/// `/proc/thread-self/io`, falling back to the process's): counts the
/// read-ahead a page fault or a `read` starts, not page-cache hits.
pub(crate) fn read_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/io")
        .or_else(|_| std::fs::read_to_string("/proc/self/io"))
        .ok()?;
    field(&text, "read_bytes:")
}

/// The number after `key` on its line of a `/proc` text.
fn field(text: &str, key: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// Memory of this process, from `/proc/self/smaps_rollup`, in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Rollup {
    pub(crate) rss: u64,
    pub(crate) pss: u64,
    pub(crate) pss_anon: u64,
    pub(crate) pss_file: u64,
}

pub(crate) fn smaps_rollup() -> Option<Rollup> {
    rollup_at("/proc/self/smaps_rollup")
}

/// As [`smaps_rollup`], for another process.
pub(crate) fn smaps_rollup_of(pid: u32) -> Option<Rollup> {
    rollup_at(&format!("/proc/{pid}/smaps_rollup"))
}

fn rollup_at(path: &str) -> Option<Rollup> {
    let text = std::fs::read_to_string(path).ok()?;
    let kb = |k| field(&text, k).map(|v| v * 1024);
    Some(Rollup {
        rss: kb("Rss:")?,
        pss: kb("Pss:")?,
        // Older kernels lack the split; zero says "not reported".
        pss_anon: kb("Pss_Anon:").unwrap_or(0),
        pss_file: kb("Pss_File:").unwrap_or(0),
    })
}

/// `MemAvailable` in bytes.
pub(crate) fn mem_available() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    field(&text, "MemAvailable:").map(|v| v * 1024)
}

/// `MemTotal` in bytes.
pub(crate) fn mem_total() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    field(&text, "MemTotal:").map(|v| v * 1024)
}

/// Bytes free for unprivileged use on the file system holding `dir`.
pub(crate) fn disk_free(dir: &Path) -> Option<u64> {
    let st = rustix::fs::statvfs(dir).ok()?;
    Some(st.f_bavail.saturating_mul(st.f_frsize))
}

/// The usual name of the file system holding `path`, if known.
pub(crate) fn fs_name(path: &Path) -> Option<&'static str> {
    let st = rustix::fs::statfs(path).ok()?;
    #[allow(clippy::unnecessary_cast)] // f_type's width differs by target
    let magic = st.f_type as u64;
    mapped::fs_name(magic)
}

/// True for file systems whose `fdatasync` does nothing (memory only).
pub(crate) fn is_memory_fs(path: &Path) -> bool {
    matches!(fs_name(path), Some("tmpfs" | "ramfs"))
}

/// The kernel release (`uname -r`).
pub(crate) fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".to_string())
}

/// The CPU's model name.
pub(crate) fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).trim().to_string())
        })
        .unwrap_or_else(|| "unknown".to_string())
}

/// The read-ahead window of the block device holding `file`, in KiB
/// (`/sys/dev/block/MAJ:MIN/queue/read_ahead_kb`, or its parent's for a
/// partition). `None` for files not on a block device (tmpfs, overlay on
/// some setups).
pub(crate) fn read_ahead_kb(file: &File) -> Option<u64> {
    let dev = file.metadata().ok()?.dev();
    let (major, minor) = (rustix::fs::major(dev), rustix::fs::minor(dev));
    let base = format!("/sys/dev/block/{major}:{minor}");
    for p in [
        format!("{base}/queue/read_ahead_kb"),
        format!("{base}/../queue/read_ahead_kb"),
    ] {
        if let Ok(s) = std::fs::read_to_string(p) {
            return s.trim().parse().ok();
        }
    }
    None
}

/// Drops the file's clean pages from the page cache
/// (`posix_fadvise(POSIX_FADV_DONTNEED)`). Dirty pages and pages mapped
/// by any process stay: callers sync first and unmap, then check with
/// `mincore`.
pub(crate) fn evict(file: &File) -> std::io::Result<()> {
    rustix::fs::fadvise(file, 0, None, rustix::fs::Advice::DontNeed)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readings_parse() {
        assert!(mono_ns() > 0);
        assert!(!allowed_cpus().is_empty());
        assert!(mem_total().unwrap_or(1) > 0);
        assert_eq!(field("a: 1\nread_bytes: 42\n", "read_bytes:"), Some(42));
        // Pinning to a CPU we may use takes and is undone on drop.
        let before = allowed_cpus();
        {
            let pin = Pin::to(before.last().copied());
            assert_eq!(
                allowed_cpus().len(),
                if pin.cpu().is_some() { 1 } else { before.len() }
            );
        }
        assert_eq!(allowed_cpus(), before);
        assert!(Pin::to(Some(CpuSet::MAX_CPU)).cpu().is_none());
    }
}
