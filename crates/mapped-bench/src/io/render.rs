//! The I/O report as text: a conclusion for this machine first, then the
//! tables, the claims and notes. The project's own targets are printed
//! only on request ([`IoReport::render_with_targets`]); the JSON always
//! holds them.

use std::fmt::Write;

use crate::io::report::{Access, AdviceKind, Cache, IoReport, Method, ReadRow};
use crate::stats::{Ratio, Verdict, fmt_ratio};
use crate::table::{Table, bytes, faster_than, ns, ns_spread, num, short_ratio};

impl IoReport {
    /// The report as text with the project's targets (PASS or MISS) at the
    /// end: `mapped bench io --targets`.
    pub fn render_with_targets(&self) -> String {
        let mut out = render(self);
        let _ = writeln!(
            out,
            "\nTargets (the project's own goals for the library, checked on the medians; a MISS \
             is a goal not reached on this machine, not a failure of the run)"
        );
        for t in &self.targets {
            let _ = writeln!(out, "{}", t.line());
        }
        out
    }
}

const KIB4: u64 = 4096;

/// The methods of the read matrix, in column order.
const METHODS: [Method; 4] = [
    Method::Pread,
    Method::ReadAt,
    Method::InPlace,
    Method::MapPerOp,
];

fn warm(r: &IoReport, access: Access, size: u64, method: Method) -> Option<Ratio> {
    r.row(Cache::Warm, access, size, method, AdviceKind::Default)?
        .vs_pread
}

fn claim_verdict(r: &IoReport, number: u32) -> Verdict {
    r.claims
        .iter()
        .find(|c| c.number == number)
        .map_or(Verdict::NotMeasured, |c| c.verdict)
}

/// The lines that open the report: what this run says a user should do
/// with each kind of access, from the claims' rows. A line whose rows
/// were not measured is left out.
fn conclusion(r: &IoReport) -> Vec<String> {
    let mut lines = Vec::new();
    let rate = |q: Ratio| format!("{} pread", faster_than(q.value));

    if let (Some(read_at), Some(in_place)) = (
        warm(r, Access::Random, KIB4, Method::ReadAt),
        warm(r, Access::Random, KIB4, Method::InPlace),
    ) {
        let advice = match claim_verdict(r, 1) {
            Verdict::Holds => "map a file you read at random, and keep the mapping",
            Verdict::DoesNotHold => "a mapping did not beat pread for random reads here",
            _ => "random reads: too close to call between a mapping and pread",
        };
        let huge = r
            .row(
                Cache::WarmHuge,
                Access::Random,
                KIB4,
                Method::InPlace,
                AdviceKind::HugePage,
            )
            .and_then(|x| x.vs_pread)
            .map(|q| {
                format!(
                    ", {} with 2 MiB pages (Advice::HugePage)",
                    faster_than(q.value).trim_end_matches(" than")
                )
            })
            .unwrap_or_default();
        lines.push(format!(
            "{advice}: random 4 KiB reads of the cached file ran {} with read_at (a copy), \
             {} reading in place{huge}",
            rate(read_at),
            faster_than(in_place.value).trim_end_matches(" than"),
        ));
    }
    if let Some(q) = warm(r, Access::Random, KIB4, Method::MapPerOp) {
        let advice = match claim_verdict(r, 4) {
            Verdict::Holds => "for a one-off small read use pread, not a mapping made for it",
            _ => "a mapping made for one read",
        };
        lines.push(format!("{advice}: map, read 4 KiB, unmap ran {}", rate(q)));
    }
    let cold = |method, advice| {
        r.row(Cache::Cold, Access::Random, KIB4, method, advice)
            .and_then(|x: &ReadRow| x.disk_read_bytes.clone())
    };
    if let (Some(p), Some(d), Some(rnd)) = (
        cold(Method::Pread, AdviceKind::Default),
        cold(Method::ReadAt, AdviceKind::Default),
        cold(Method::ReadAt, AdviceKind::Random),
    ) {
        let advice = match claim_verdict(r, 5) {
            Verdict::Holds => "give Advice::Random when you map a cold file to read at random",
            _ => "cold random reads",
        };
        lines.push(format!(
            "{advice}: without it the mapping read {}x the bytes pread read from storage, \
             with it {}x",
            short_ratio(d.ratio(&p).value),
            fmt_ratio(rnd.ratio(&p).value)
        ));
    }
    if let Some(q) = warm(r, Access::Sequential, 1 << 20, Method::ReadAt) {
        let in_place = warm(r, Access::Sequential, 1 << 20, Method::InPlace)
            .map(|x| {
                format!(
                    "; reading in place (no copy) ran {}",
                    faster_than(x.value).trim_end_matches(" than")
                )
            })
            .unwrap_or_default();
        lines.push(format!(
            "big sequential reads (1 MiB) that copy: read_at ran {}{in_place}",
            rate(q)
        ));
    }
    let dirty = r
        .writes
        .iter()
        .find(|w| w.method == "write_at" && w.pages == "dirty" && w.size == KIB4)
        .and_then(|w| w.vs_pwrite);
    if let (Some(q), [fdatasync, msync, ..]) = (dirty, r.durability.as_slice()) {
        lines.push(format!(
            "writes: rewriting pages already dirty through a mapping ran {} pwrite; a durable \
             4 KiB write took {} through the mapping (msync) against {} with pwrite + fdatasync",
            faster_than(q.value),
            ns(msync.ns_per_page.median),
            ns(fdatasync.ns_per_page.median)
        ));
    }
    lines
}

/// The warm read matrix, one line per access pattern and size, one column
/// per method: time per operation and rate against pread.
fn warm_table(rows: &[&ReadRow]) -> String {
    let mut t = Table::new(&[
        "access",
        "size",
        "pread",
        "read_at",
        "in_place",
        "map_per_op",
    ]);
    let mut keys: Vec<(Access, u64)> = Vec::new();
    for x in rows {
        if !keys.contains(&(x.access, x.size)) {
            keys.push((x.access, x.size));
        }
    }
    for (access, size) in keys {
        let mut cells = vec![access.name().to_string(), bytes(size)];
        for m in METHODS {
            let cell = rows
                .iter()
                .find(|x| x.access == access && x.size == size && x.method == m)
                .map_or(String::new(), |x| match (m, x.vs_pread) {
                    (Method::Pread, _) | (_, None) => ns(x.ns_per_op.median),
                    (_, Some(q)) => format!("{} {}x", ns(x.ns_per_op.median), fmt_ratio(q.value)),
                });
            cells.push(cell);
        }
        t.row(cells);
    }
    t.render()
}

pub(crate) fn render(r: &IoReport) -> String {
    let mut out = String::new();
    let f = &r.file;
    let _ = writeln!(out, "mapped bench io");
    let _ = writeln!(out, "machine: {}", r.environment.line());
    let _ = writeln!(
        out,
        "file: {} ({}, {}{}{}), hot subset {}",
        f.path.display(),
        bytes(f.len),
        f.fs.as_deref().unwrap_or("unknown file system"),
        if f.created {
            ", created for the run and removed"
        } else {
            ", read-only"
        },
        f.read_ahead_kb
            .map(|k| format!(", read-ahead {k} KiB"))
            .unwrap_or_default(),
        bytes(f.hot_len)
    );

    let summary = conclusion(r);
    if !summary.is_empty() {
        let _ = writeln!(out, "\nIn short, on this machine (medians of this run):");
        for line in summary {
            let _ = writeln!(out, "- {line}");
        }
    }

    for cache in [Cache::Warm, Cache::WarmHuge] {
        let rows: Vec<_> = r.rows.iter().filter(|x| x.cache == cache).collect();
        if rows.is_empty() {
            continue;
        }
        let _ = writeln!(
            out,
            "\nReads, {} (time per operation, median; after it the rate against pread, above 1 \
             is faster; [min–max] spreads in the JSON)",
            match cache {
                Cache::Warm => "warm: file in the page cache",
                _ => "warm, 2 MiB pages: file read in through a mapping with Advice::HugePage",
            }
        );
        out.push_str(&warm_table(&rows));
    }

    let cold: Vec<_> = r.rows.iter().filter(|x| x.cache == Cache::Cold).collect();
    if !cold.is_empty() {
        let _ = writeln!(
            out,
            "\nReads, cold: file evicted before each repetition (time per operation median \
             [min–max]; rate against pread; bytes read from storage and left cached)"
        );
        let mut t = Table::new(&[
            "access",
            "size",
            "method",
            "advice",
            "ns/op",
            "MiB/s",
            "vs pread",
            "read from storage",
            "cached after",
        ]);
        let b = |s: &Option<crate::stats::Summary>| {
            s.as_ref()
                .map_or("-".to_string(), |s| bytes(s.median as u64))
        };
        for x in cold {
            t.row(vec![
                x.access.name().to_string(),
                bytes(x.size),
                x.method.name().to_string(),
                x.advice.name().to_string(),
                ns_spread(&x.ns_per_op),
                num(x.mib_per_s.median),
                x.vs_pread.map_or("-".to_string(), |q| q.show()),
                b(&x.disk_read_bytes),
                b(&x.cached_after_bytes),
            ]);
        }
        out.push_str(&t.render());
    }

    if !r.writes.is_empty() {
        let _ = writeln!(
            out,
            "\nWrites (each to a distinct page, random order; rate against pwrite to pages in the same state)"
        );
        let mut t = Table::new(&["method", "size", "pages", "ns/op", "vs pwrite"]);
        for w in &r.writes {
            t.row(vec![
                w.method.clone(),
                bytes(w.size),
                w.pages.clone(),
                ns_spread(&w.ns_per_op),
                w.vs_pwrite.map_or("-".to_string(), |q| q.show()),
            ]);
        }
        out.push_str(&t.render());
    }

    if !r.durability.is_empty() {
        let _ = writeln!(
            out,
            "\nDurability (time per 4 KiB page; against pwrite + fdatasync, below 1 is cheaper)"
        );
        let mut t = Table::new(&["method", "durable", "per page", "vs pwrite+fdatasync"]);
        for d in &r.durability {
            t.row(vec![
                d.method.clone(),
                if d.durable { "yes" } else { "no" }.to_string(),
                ns_spread(&d.ns_per_page),
                d.vs_pwrite_fdatasync.map_or("-".to_string(), |q| q.show()),
            ]);
        }
        out.push_str(&t.render());
    }

    if let Some(m) = &r.memory {
        let _ = writeln!(
            out,
            "\nMemory ({} of the file, every page touched; growth of this process)",
            bytes(m.bytes)
        );
        let signed = |v: i64| {
            if v < 0 {
                format!("-{}", bytes(v.unsigned_abs()))
            } else {
                bytes(v as u64)
            }
        };
        let mut t = Table::new(&["held as", "RSS", "PSS", "PSS anon", "PSS file"]);
        for (name, d) in [("mapping", &m.mapping), ("private copy", &m.private_copy)] {
            t.row(vec![
                name.to_string(),
                signed(d.rss),
                signed(d.pss),
                signed(d.pss_anon),
                signed(d.pss_file),
            ]);
        }
        out.push_str(&t.render());
        let _ = writeln!(
            out,
            "The page cache held {} of the range: the mapping uses those pages themselves, \
             the private copy holds them a second time.",
            bytes(m.page_cache)
        );
        if let Some(sh) = &m.shared {
            let _ = writeln!(
                out,
                "\n{} processes holding the same {} at once (growth of each one's PSS, read \
                 while all hold it)",
                sh.processes,
                bytes(sh.bytes)
            );
            let mut t = Table::new(&["held as", "each", "all together"]);
            for (name, each, total) in [
                ("mapping", &sh.mapping_pss, sh.mapping_total()),
                ("private copy", &sh.copy_pss, sh.copy_total()),
            ] {
                let each: Vec<String> = each.iter().map(|&v| signed(v)).collect();
                t.row(vec![name.to_string(), each.join(", "), signed(total)]);
            }
            out.push_str(&t.render());
            let _ = writeln!(
                out,
                "Mappings share the page cache's pages, each process charged its share; \
                 private copies cost the bytes once per process."
            );
        }
    }

    let _ = writeln!(out, "\nClaims");
    for c in &r.claims {
        let _ = writeln!(out, "{}", c.line());
    }
    let _ = writeln!(out, "\nNotes");
    for n in &r.notes {
        let _ = writeln!(out, "- {n}");
    }
    let _ = writeln!(
        out,
        "- the project's own performance targets are not shown: --targets prints them, and \
         the JSON (--json) always holds them"
    );
    out
}

impl IoReport {
    /// The report as text: environment, tables, claims, targets, notes.
    pub fn render(&self) -> String {
        render(self)
    }
}
