//! The I/O report as text.

use std::fmt::Write;

use crate::io::{Cache, IoReport};
use crate::table::{Table, bytes, ns_spread, num};

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

    for cache in [Cache::Warm, Cache::WarmHuge, Cache::Cold] {
        let rows: Vec<_> = r.rows.iter().filter(|x| x.cache == cache).collect();
        if rows.is_empty() {
            continue;
        }
        let cold = cache == Cache::Cold;
        let _ = writeln!(
            out,
            "\nReads, {} (time per operation median [min–max]; rate against pread{})",
            match cache {
                Cache::Cold => "cold: file evicted before each repetition",
                Cache::Warm => "warm: file in the page cache",
                Cache::WarmHuge =>
                    "warm, 2 MiB pages: file read in through a mapping with Advice::HugePage",
            },
            if cold {
                "; bytes read from storage and left cached"
            } else {
                ""
            }
        );
        let mut header = vec![
            "access", "size", "method", "advice", "ns/op", "MiB/s", "vs pread",
        ];
        if cold {
            header.extend(["read from storage", "cached after"]);
        }
        let mut t = Table::new(&header);
        for x in rows {
            let mut cells = vec![
                x.access.name().to_string(),
                bytes(x.size),
                x.method.name().to_string(),
                x.advice.name().to_string(),
                ns_spread(&x.ns_per_op),
                num(x.mib_per_s.median),
                x.vs_pread.map_or("-".to_string(), |q| q.show()),
            ];
            if cold {
                let b = |s: &Option<crate::stats::Summary>| {
                    s.as_ref()
                        .map_or("-".to_string(), |s| bytes(s.median as u64))
                };
                cells.push(b(&x.disk_read_bytes));
                cells.push(b(&x.cached_after_bytes));
            }
            t.row(cells);
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
    let _ = writeln!(out, "\nTargets");
    for t in &r.targets {
        let _ = writeln!(out, "{}", t.line());
    }
    let _ = writeln!(out, "\nNotes");
    for n in &r.notes {
        let _ = writeln!(out, "- {n}");
    }
    out
}
