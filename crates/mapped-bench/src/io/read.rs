//! The read matrix: warm and cold rows, four methods.
//!
//! Every method computes the same checksum over the bytes it reads, so the
//! rows differ only in how the bytes arrive: copied by the kernel
//! (`pread`), copied by us (`read_at`), not copied (`in_place`), or mapped
//! afresh each time (`map_per_op`). Repetitions of the methods are
//! interleaved (one round runs every method once), so that a slow moment
//! of the machine hits all of them rather than one.

#![allow(unsafe_code)]

use std::fs::File;
use std::hint::black_box;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::Instant;

use mapped::{Advice, MapOptions, Mapping};

use crate::error::{BenchError, Result};
use crate::io::checksum::checksum;
use crate::io::file::{BenchFile, Rng};
use crate::io::plan::{Plan, SIZES};
use crate::io::report::{Access, AdviceKind, Cache, Method, ReadRow};
use crate::progress::Progress;
use crate::stats::Summary;
use crate::sys;
use crate::table::bytes;

const METHODS: [Method; 4] = [
    Method::Pread,
    Method::ReadAt,
    Method::InPlace,
    Method::MapPerOp,
];
const ACCESSES: [Access; 3] = [Access::Sequential, Access::Random, Access::Hot];

/// The warm rows: every access pattern, size and method, default advice;
/// and the fraction of the file that was in the page cache for them.
pub(crate) fn warm_rows(
    file: &BenchFile,
    plan: &Plan,
    hot_len: u64,
    progress: &dyn Progress,
) -> Result<(Vec<ReadRow>, f64)> {
    let sizes: Vec<u64> = SIZES.into_iter().filter(|&s| s * 2 <= file.len).collect();
    progress.phase(
        "warm reads",
        (ACCESSES.len() * sizes.len() * (plan.reps + 1)) as u64,
    );
    let cached = file.load()?;
    // Long-lived, with its page tables filled (MAP_POPULATE): the steady
    // state of a mapping that has been in use for a while.
    let map = file.map_with(MapOptions::new().populate(true))?;
    let mut buf = vec![0u8; 1 << 20];
    let mut rows = Vec::new();
    for access in ACCESSES {
        for &size in &sizes {
            let ops = plan.warm_ops(size);
            let offsets = offsets(access, size, ops, file.len, hot_len, 1);
            let ops_of = |method| match method {
                Method::MapPerOp => ops.min(plan.map_per_op_cap()),
                _ => ops,
            };
            let step = format!("{} {}", access.name(), bytes(size));
            let ns = timed_rounds(&METHODS, plan.reps, progress, &step, |method| {
                run(
                    method,
                    &file.file,
                    &file.path,
                    Some(&map),
                    &offsets[..ops_of(method)],
                    size as usize,
                    &mut buf,
                )
            })?;
            for (i, &method) in METHODS.iter().enumerate() {
                rows.push(row(
                    Cache::Warm,
                    access,
                    size,
                    method,
                    AdviceKind::Default,
                    ops_of(method),
                    &ns[i],
                ));
            }
        }
    }
    Ok((rows, cached))
}

/// Random 4 KiB reads with the file cached in 2 MiB folios and mapped
/// with 2 MiB pages: the file is evicted, then read in through a mapping
/// with `Advice::HugePage` and `populate` (the advice goes first), so the
/// kernel caches it in large folios; `pread`, `read_at` and in-place reads
/// then share that page cache. Also reports how much of the mapping the
/// kernel mapped with 2 MiB pages.
pub(crate) fn huge_rows(
    file: &BenchFile,
    plan: &Plan,
    progress: &dyn Progress,
) -> Result<(Vec<ReadRow>, Vec<String>)> {
    const METHODS: [Method; 3] = [Method::Pread, Method::ReadAt, Method::InPlace];
    let size = 4096u64;
    progress.phase("warm reads, 2 MiB pages", (plan.reps + 1) as u64);
    let mut notes = Vec::new();
    let left = file.evict()?;
    let map = file.map_with(
        MapOptions::new()
            .advice(mapped::Advice::HugePage)
            .populate(true),
    )?;
    let huge = crate::sys::pmd_mapped_bytes(map.as_ptr() as usize);
    notes.push(match huge {
        Some(b) => format!(
            "2 MiB-page rows: the file was evicted ({:.0}% stayed cached), then read in through \
             a mapping with Advice::HugePage and populate; the kernel mapped {:.0}% of it with \
             2 MiB pages (FilePmdMapped); pread reads the same page cache",
            left * 100.0,
            b as f64 * 100.0 / file.len.max(1) as f64
        ),
        None => "2 MiB-page rows: /proc/self/smaps is unreadable, so whether the kernel used \
                 2 MiB pages is unknown"
            .to_string(),
    });
    let ops = plan.warm_ops(size);
    let offsets = offsets(Access::Random, size, ops, file.len, file.len, 3);
    let mut buf = vec![0u8; 1 << 20];
    let ns = timed_rounds(&METHODS, plan.reps, progress, "random 4 KiB", |method| {
        run(
            method,
            &file.file,
            &file.path,
            Some(&map),
            &offsets,
            size as usize,
            &mut buf,
        )
    })?;
    let rows = METHODS
        .iter()
        .enumerate()
        .map(|(i, &method)| {
            let advice = match method {
                Method::Pread => AdviceKind::Default,
                _ => AdviceKind::HugePage,
            };
            row(
                Cache::WarmHuge,
                Access::Random,
                size,
                method,
                advice,
                ops,
                &ns[i],
            )
        })
        .collect();
    Ok((rows, notes))
}

/// Times `one` for every method, round after round: a warm-up round, then
/// `reps` timed ones, the methods interleaved within each round so that
/// the machine's drift falls on all of them. Returns each method's times.
fn timed_rounds(
    methods: &[Method],
    reps: usize,
    progress: &dyn Progress,
    step: &str,
    mut one: impl FnMut(Method) -> Result<u64>,
) -> Result<Vec<Vec<u64>>> {
    let mut ns = vec![Vec::new(); methods.len()];
    for round in 0..=reps {
        for (i, &method) in methods.iter().enumerate() {
            let t = one(method)?;
            if round > 0 {
                ns[i].push(t);
            }
        }
        progress.step(step);
    }
    Ok(ns)
}

/// One cold case: what to read, how, and how often.
struct ColdCase {
    access: Access,
    size: u64,
    method: Method,
    advice: AdviceKind,
    ops: usize,
}

/// The cold rows, or why they cannot be measured here. Each repetition of
/// each case starts from an evicted file and a fresh mapping.
pub(crate) fn cold_rows(
    file: &BenchFile,
    plan: &Plan,
    progress: &dyn Progress,
) -> Result<(Vec<ReadRow>, Vec<String>)> {
    let mut notes = Vec::new();
    let left = file.evict()?;
    if left > 0.5 {
        notes.push(format!(
            "cold rows not measured: {:.0}% of the file stayed in the page cache after \
             posix_fadvise(DONTNEED) (a tmpfs or ramfs file, or pages mapped by another process)",
            left * 100.0
        ));
        return Ok((Vec::new(), notes));
    }
    let (r4k, r64k) = plan.cold_random_ops;
    let seq_ops = plan.cold_seq_ops.min((file.len >> 20) as usize).max(1);
    let case = |access, size, method, advice, ops| ColdCase {
        access,
        size,
        method,
        advice,
        ops,
    };
    use AdviceKind as A;
    use Method as M;
    let cases = [
        case(Access::Random, 4096, M::Pread, A::Default, r4k),
        case(Access::Random, 4096, M::ReadAt, A::Default, r4k),
        case(Access::Random, 4096, M::ReadAt, A::Random, r4k),
        case(Access::Random, 4096, M::InPlace, A::Default, r4k),
        case(Access::Random, 4096, M::InPlace, A::Random, r4k),
        case(Access::Random, 65536, M::Pread, A::Default, r64k),
        case(Access::Random, 65536, M::ReadAt, A::Default, r64k),
        case(Access::Random, 65536, M::ReadAt, A::Random, r64k),
        case(Access::Sequential, 1 << 20, M::Pread, A::Default, seq_ops),
        case(Access::Sequential, 1 << 20, M::ReadAt, A::Default, seq_ops),
        case(
            Access::Sequential,
            1 << 20,
            M::ReadAt,
            A::Sequential,
            seq_ops,
        ),
        case(
            Access::Sequential,
            1 << 20,
            M::InPlace,
            A::Sequential,
            seq_ops,
        ),
    ];
    progress.phase("cold reads", (plan.cold_reps * cases.len()) as u64);
    let mut buf = vec![0u8; 1 << 20];
    let mut ns = vec![Vec::new(); cases.len()];
    let mut disk = vec![Vec::new(); cases.len()];
    let mut cached = vec![Vec::new(); cases.len()];
    let mut worst_left: f64 = 0.0;
    let mut no_counter = false;
    for _ in 0..plan.cold_reps {
        for (i, c) in cases.iter().enumerate() {
            let offsets = offsets(c.access, c.size, c.ops, file.len, file.len, 2);
            worst_left = worst_left.max(file.evict()?);
            // A new open file description per case: the kernel keeps its
            // read-ahead state (including the mmap miss count that turns
            // fault read-around off) per open file, and one case must not
            // inherit another's.
            let fresh =
                File::open(&file.path).map_err(|e| BenchError::io("open", &file.path, e))?;
            let map = match c.method {
                M::Pread => None,
                _ => {
                    let mut opts = MapOptions::new();
                    match c.advice {
                        A::Default => {}
                        A::Random => {
                            opts.advice(Advice::Random);
                        }
                        A::Sequential => {
                            opts.advice(Advice::Sequential);
                        }
                        A::HugePage => {
                            opts.advice(Advice::HugePage);
                        }
                    }
                    let fd = fresh
                        .try_clone()
                        .map_err(|e| BenchError::io("dup", &file.path, e))?;
                    Some(opts.map_file(fd, &file.path)?)
                }
            };
            let before = sys::read_bytes();
            let t = run(
                c.method,
                &fresh,
                &file.path,
                map.as_ref(),
                &offsets,
                c.size as usize,
                &mut buf,
            )?;
            let after = sys::read_bytes();
            ns[i].push(t);
            match (before, after) {
                (Some(b), Some(a)) => disk[i].push(a.saturating_sub(b) as f64),
                _ => no_counter = true,
            }
            drop(map);
            cached[i].push(file.resident_bytes()? as f64);
            progress.step(&format!(
                "{} {} {} {}",
                c.access.name(),
                bytes(c.size),
                c.method.name(),
                c.advice.name()
            ));
        }
    }
    if worst_left > 0.01 {
        notes.push(format!(
            "eviction left up to {:.1}% of the file cached: cold rows read less than a truly cold file",
            worst_left * 100.0
        ));
    }
    if no_counter {
        notes.push(
            "bytes read from storage not measured: /proc/thread-self/io is unreadable; \
             the page-cache residency after each run stands in"
                .to_string(),
        );
    }
    let rows = cases
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let mut r = row(
                Cache::Cold,
                c.access,
                c.size,
                c.method,
                c.advice,
                c.ops,
                &ns[i],
            );
            if !no_counter {
                r.disk_read_bytes = Some(Summary::of(disk[i].clone()));
            }
            r.cached_after_bytes = Some(Summary::of(cached[i].clone()));
            r
        })
        .collect();
    Ok((rows, notes))
}

/// Fills each row's rate against the `pread` row of the same cache state,
/// access pattern and size.
pub(crate) fn fill_ratios(rows: &mut [ReadRow]) {
    let preads: Vec<ReadRow> = rows
        .iter()
        .filter(|r| r.method == Method::Pread)
        .cloned()
        .collect();
    for r in rows.iter_mut() {
        let base = preads
            .iter()
            .find(|p| p.cache == r.cache && p.access == r.access && p.size == r.size);
        r.vs_pread = base.map(|p| r.mib_per_s.ratio(&p.mib_per_s));
    }
}

fn row(
    cache: Cache,
    access: Access,
    size: u64,
    method: Method,
    advice: AdviceKind,
    ops: usize,
    ns: &[u64],
) -> ReadRow {
    let total = Summary::of(ns.iter().map(|&t| t as f64).collect());
    let ops_f = ops.max(1) as f64;
    ReadRow {
        cache,
        access,
        size,
        method,
        advice,
        ops,
        ns_per_op: total.map(|t| t / ops_f),
        mib_per_s: total.map(|t| (ops_f * size as f64 / (1 << 20) as f64) / (t.max(1.0) / 1e9)),
        vs_pread: None,
        disk_read_bytes: None,
        cached_after_bytes: None,
    }
}

/// `ops` offsets for `access` with operations of `size` bytes, aligned to
/// the size, inside `len` bytes (the first `hot_len` for the hot pattern).
fn offsets(access: Access, size: u64, ops: usize, len: u64, hot_len: u64, seed: u64) -> Vec<u64> {
    let mut rng = Rng::new(seed ^ size);
    let blocks = |region: u64| (region / size).max(1);
    match access {
        Access::Sequential => {
            let n = blocks(len);
            (0..ops as u64).map(|i| (i % n) * size).collect()
        }
        Access::Random => {
            let n = blocks(len);
            (0..ops).map(|_| rng.below(n) * size).collect()
        }
        Access::Hot => {
            let n = blocks(hot_len.max(size));
            (0..ops).map(|_| rng.below(n) * size).collect()
        }
    }
}

/// Runs `method` over `offsets`; returns the nanoseconds it took.
fn run(
    method: Method,
    file: &File,
    path: &Path,
    map: Option<&Mapping>,
    offsets: &[u64],
    size: usize,
    buf: &mut [u8],
) -> Result<u64> {
    let buf = &mut buf[..size];
    let need_map =
        || map.ok_or_else(|| BenchError::Options(format!("{} needs a mapping", method.name())));
    let start = Instant::now();
    let sum = match method {
        Method::Pread => {
            let mut sum = 0u64;
            for &off in offsets {
                file.read_exact_at(buf, off)
                    .map_err(|e| BenchError::io("pread", path, e))?;
                sum = sum.wrapping_add(checksum(buf));
            }
            sum
        }
        Method::ReadAt => {
            let map = need_map()?;
            let mut sum = 0u64;
            for &off in offsets {
                map.read_at(off, buf)?;
                sum = sum.wrapping_add(checksum(buf));
            }
            sum
        }
        Method::InPlace => {
            let map = need_map()?;
            // One guarded section for the whole batch: a truncation of the
            // file (only possible for a user's file) becomes an error.
            map.guarded(|| -> Result<u64> {
                let mut sum = 0u64;
                for &off in offsets {
                    // SAFETY: nobody writes or truncates the file while this
                    // borrow lives. A file the benchmark created is ours
                    // alone (0600, in a 0700 directory we made, never handed
                    // out) and only read here; for a file the user named,
                    // `IoOptions::file` states that the run relies on the
                    // same, and `guarded` catches a truncation's SIGBUS.
                    let bytes = unsafe { map.slice(off, size) }?;
                    sum = sum.wrapping_add(checksum(bytes));
                }
                Ok(sum)
            })??
        }
        Method::MapPerOp => {
            let mut sum = 0u64;
            for &off in offsets {
                // Through the library, as a user would: dup, fstat, mmap,
                // use, munmap, close.
                let fd = file
                    .try_clone()
                    .map_err(|e| BenchError::io("dup", path, e))?;
                let m = MapOptions::new()
                    .window(off, size as u64)
                    .map_file(fd, path)?;
                // SAFETY: as for `InPlace` above.
                sum = sum.wrapping_add(m.guarded(|| checksum(unsafe { m.as_slice() }))?);
            }
            sum
        }
    };
    let ns = start.elapsed().as_nanos() as u64;
    black_box(sum);
    Ok(ns)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_stay_inside_and_aligned() {
        for access in ACCESSES {
            for o in offsets(access, 4096, 1000, 1 << 20, 1 << 16, 7) {
                assert_eq!(o % 4096, 0);
                assert!(o + 4096 <= 1 << 20);
                if access == Access::Hot {
                    assert!(o + 4096 <= 1 << 16);
                }
            }
        }
        let seq = offsets(Access::Sequential, 64, 5, 128, 128, 0);
        assert_eq!(seq, vec![0, 64, 0, 64, 0]);
    }
}
