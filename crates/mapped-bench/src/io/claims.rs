//! The brief's claims about mappings and the project's I/O targets, judged
//! against one run.

use crate::io::report::{Access, AdviceKind, Cache, IoReport, Method, ReadRow};
use crate::stats::{Claim, Ratio, Summary, Target, Verdict};
use crate::table::{bytes, ns};

const KIB4: u64 = 4096;

fn warm(r: &IoReport, access: Access, size: u64, method: Method) -> Option<&ReadRow> {
    r.row(Cache::Warm, access, size, method, AdviceKind::Default)
}

fn vs_pread(r: &IoReport, access: Access, size: u64, method: Method) -> Option<Ratio> {
    warm(r, access, size, method).and_then(|row| row.vs_pread)
}

/// A random 4 KiB row with the file in 2 MiB pages, against `pread` on the
/// same page cache.
fn huge_vs_pread(r: &IoReport, method: Method) -> Option<Ratio> {
    r.row(
        Cache::WarmHuge,
        Access::Random,
        KIB4,
        method,
        AdviceKind::HugePage,
    )
    .and_then(|row| row.vs_pread)
}

/// Bytes read from storage by a cold row (or, without the counter, bytes
/// left in the page cache).
fn cold_bytes(r: &IoReport, size: u64, method: Method, advice: AdviceKind) -> Option<Summary> {
    let row = r.row(Cache::Cold, Access::Random, size, method, advice)?;
    row.disk_read_bytes
        .clone()
        .or_else(|| row.cached_after_bytes.clone())
}

fn write_row(r: &IoReport, method: &str, pages: &str) -> Option<Ratio> {
    r.writes
        .iter()
        .find(|w| w.method == method && w.pages == pages && w.size == KIB4)
        .and_then(|w| w.vs_pwrite)
}

fn claim(
    number: u32,
    text: &str,
    measured: String,
    ratio: Option<Ratio>,
    verdict: Verdict,
) -> Claim {
    Claim {
        number,
        claim: text.to_string(),
        measured,
        ratio,
        verdict,
    }
}

fn unmeasured(number: u32, text: &str, why: &str) -> Claim {
    claim(number, text, why.to_string(), None, Verdict::NotMeasured)
}

fn show(r: Option<Ratio>) -> String {
    r.map_or_else(|| "not measured".to_string(), Ratio::show)
}

pub(crate) fn claims(r: &IoReport) -> Vec<Claim> {
    let mut out = Vec::new();

    let text = "a mapping avoids a copy: in-place use beats pread (4 KiB random reads, warm)";
    out.push(match vs_pread(r, Access::Random, KIB4, Method::InPlace) {
        Some(q) => claim(
            1,
            text,
            format!(
                "in_place {} the pread rate (read_at, which copies: {}); with 2 MiB pages: \
                 in_place {}",
                q.show(),
                show(vs_pread(r, Access::Random, KIB4, Method::ReadAt)),
                show(huge_vs_pread(r, Method::InPlace))
            ),
            Some(q),
            q.at_least(1.0),
        ),
        None => unmeasured(1, text, "no warm 4 KiB random rows"),
    });

    let text = "repeated random access to a large file: a mapping wins (4 KiB, hot subset, warm)";
    out.push(match vs_pread(r, Access::Hot, KIB4, Method::ReadAt) {
        Some(q) => claim(
            2,
            text,
            format!(
                "over a {} hot subset of a {} file, read_at {} the pread rate, in_place {}",
                bytes(r.file.hot_len),
                bytes(r.file.len),
                q.show(),
                show(vs_pread(r, Access::Hot, KIB4, Method::InPlace))
            ),
            Some(q),
            q.at_least(1.0),
        ),
        None => unmeasured(2, text, "no warm 4 KiB hot-subset rows"),
    });

    let text = "sequential reads with big buffers: little or no gain (1 MiB, warm; gain under 25%)";
    out.push(
        match vs_pread(r, Access::Sequential, 1 << 20, Method::ReadAt) {
            Some(q) => claim(
                3,
                text,
                format!(
                    "read_at {} the pread rate, in_place {}",
                    q.show(),
                    show(vs_pread(r, Access::Sequential, 1 << 20, Method::InPlace))
                ),
                Some(q),
                q.at_most(1.25),
            ),
            None => unmeasured(3, text, "no warm 1 MiB sequential rows"),
        },
    );

    let text = "small one-off I/O: mapping per operation loses to pread (4 KiB random, warm)";
    out.push(match vs_pread(r, Access::Random, KIB4, Method::MapPerOp) {
        Some(q) => claim(
            4,
            text,
            format!(
                "map_per_op {} the pread rate (64 B: {})",
                q.show(),
                show(vs_pread(r, Access::Random, 64, Method::MapPerOp))
            ),
            Some(q),
            q.at_most(1.0),
        ),
        None => unmeasured(4, text, "no warm 4 KiB random rows"),
    });

    let text = "cold random reads through a default-advice mapping read far more from storage \
                than pread (fault read-around); MADV_RANDOM fixes it (4 KiB)";
    let pread = cold_bytes(r, KIB4, Method::Pread, AdviceKind::Default);
    let default = cold_bytes(r, KIB4, Method::ReadAt, AdviceKind::Default);
    let random = cold_bytes(r, KIB4, Method::ReadAt, AdviceKind::Random);
    out.push(match (pread, default, random) {
        (Some(p), Some(d), Some(rnd)) => {
            let more = d.ratio(&p);
            let fixed = rnd.ratio(&p);
            let ops = r
                .row(
                    Cache::Cold,
                    Access::Random,
                    KIB4,
                    Method::Pread,
                    AdviceKind::Default,
                )
                .map_or(0, |row| row.ops);
            claim(
                5,
                text,
                format!(
                    "for {ops} reads: pread read {}, default advice {} ({}), MADV_RANDOM {} ({})",
                    bytes(p.median as u64),
                    bytes(d.median as u64),
                    more.show(),
                    bytes(rnd.median as u64),
                    fixed.show()
                ),
                Some(more),
                more.at_least(2.0).and(fixed.at_most(1.2)),
            )
        }
        _ => unmeasured(5, text, "cold rows not measured (see notes)"),
    });

    let text = "writable mappings: stores to already-dirty pages beat pwrite (a store to a clean \
                page pays a write fault); durability costs a sync either way (4 KiB)";
    out.push(match write_row(r, "write_at", "dirty") {
        Some(q) => {
            let dur = |i: usize| r.durability.get(i).map(|d| d.ns_per_page.median);
            let msync = r.durability.get(1).and_then(|d| d.vs_pwrite_fdatasync);
            claim(
                6,
                text,
                format!(
                    "stores to dirty pages {} the pwrite rate, to clean pages {}; a durable \
                     write: pwrite+fdatasync {}, write_at+msync {} ({} of it)",
                    q.show(),
                    show(write_row(r, "write_at", "clean")),
                    dur(0).map_or("-".to_string(), ns),
                    dur(1).map_or("-".to_string(), ns),
                    show(msync)
                ),
                Some(q),
                q.at_least(1.0),
            )
        }
        None => unmeasured(6, text, "write rows not measured"),
    });
    out
}

pub(crate) fn targets(r: &IoReport) -> Vec<Target> {
    let pread_time = |access, size, method| -> Option<Ratio> {
        let row = warm(r, access, size, method)?;
        let base = warm(r, access, size, Method::Pread)?;
        Some(row.ns_per_op.ratio(&base.ns_per_op))
    };
    let cold = match (
        cold_bytes(r, KIB4, Method::ReadAt, AdviceKind::Random),
        cold_bytes(r, KIB4, Method::Pread, AdviceKind::Default),
    ) {
        (Some(a), Some(b)) => Some(a.ratio(&b)),
        _ => None,
    };
    vec![
        Target::check(
            "random 4 KiB warm: read_at >= 1.5x the pread rate",
            vs_pread(r, Access::Random, KIB4, Method::ReadAt),
            1.5,
            true,
            "",
        ),
        Target::check(
            "random 4 KiB warm: in-place >= 2x the pread rate",
            huge_vs_pread(r, Method::InPlace),
            2.0,
            true,
            format!(
                "with Advice::HugePage (2 MiB pages, the library's setting for random access \
                 to a large cached file); with 4 KiB pages: {}",
                show(vs_pread(r, Access::Random, KIB4, Method::InPlace))
            ),
        ),
        Target::check(
            "sequential scan warm: read_at >= 0.95x the rate of read() with a 1 MiB buffer",
            vs_pread(r, Access::Sequential, 1 << 20, Method::ReadAt),
            0.95,
            true,
            "pread with a 1 MiB buffer stands for read()",
        ),
        Target::check(
            "small one-off reads: read_at on a long-lived mapping <= 1.1x pread's time",
            pread_time(Access::Random, 64, Method::ReadAt),
            1.1,
            false,
            "64 B random reads, warm; time ratio",
        ),
        Target::check(
            "cold random 4 KiB via Advice::Random: bytes read from storage <= 1.2x pread's",
            cold,
            1.2,
            false,
            "",
        ),
        Target::check(
            "stores to dirty pages >= 4x the pwrite rate",
            write_row(r, "write_at", "dirty"),
            4.0,
            true,
            "4 KiB writes to dirty pages, against pwrite to the same pages",
        ),
    ]
}

/// How to read the numbers, and what is left out.
pub(crate) fn notes(r: &IoReport) -> Vec<String> {
    let mut notes = vec![
        format!(
            "medians over {} timed repetitions (after one warm-up round), [min–max] spreads; \
             ratios compare rows of this run only; on a shared or virtual machine they are \
             indicative, and a verdict whose spreads straddle its line says so",
            r.repetitions
        ),
        "warm rows: file in the page cache; long-lived mappings are pre-faulted \
         (MAP_POPULATE), the steady state of a mapping in use; every method computes the same \
         checksum over the bytes"
            .to_string(),
        "map_per_op goes through the library per operation: dup, fstat, mmap, checksum, munmap, close"
            .to_string(),
    ];
    if let Some(ra) = r.file.read_ahead_kb {
        notes.push(format!(
            "the device's read-ahead window is {ra} KiB: a default-advice fault on a cold page \
             reads up to that much around it, until Linux, after about a hundred more misses \
             than hits on one open file, stops reading around"
        ));
    }
    notes
}
