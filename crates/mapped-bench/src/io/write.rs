//! Writes: `pwrite` against stores into a shared writable mapping, and the
//! cost of making a write durable.
//!
//! A store to a clean page of a shared mapping faults once, so that the
//! kernel can track the page as dirty (`page_mkwrite`); later stores to the
//! same page are plain memory writes until write-back cleans the page and
//! write-protects it again. So the rows come in pairs: to pages just synced
//! (clean), then to the same pages again (dirty). Every write of a row goes
//! to a distinct page, in random order, of a scratch file of our own.

use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::Instant;

use mapped::{MapOptions, Mapping, Mode};

use crate::error::{BenchError, Result};
use crate::io::file::{BenchFile, Rng};
use crate::io::plan::Plan;
use crate::io::report::{DurabilityRow, WriteRow};
use crate::progress::Progress;
use crate::stats::Summary;

const PAGE: u64 = 4096;

/// Runs the write and durability rows on a scratch file in `dir`.
pub(crate) fn run(
    dir: &Path,
    plan: &Plan,
    progress: &dyn Progress,
) -> Result<(Vec<WriteRow>, Vec<DurabilityRow>)> {
    let file = BenchFile::create(&dir.join("scratch"), plan.write_file_len)?;
    let map = file.map_with(MapOptions::new().mode(Mode::ReadWrite))?;
    let pages = (file.len / PAGE) as usize;
    let mut order: Vec<u64> = (0..pages as u64).collect();
    Rng::new(3).shuffle(&mut order);
    let ops = plan.write_ops.min(pages);
    let w = Writer {
        file: &file,
        map: &map,
    };

    progress.phase("writes", 2 * (plan.reps as u64 + 1));
    let mut writes = Vec::new();
    for size in [64u64, PAGE] {
        // pwrite clean, pwrite dirty, write_at clean, write_at dirty.
        let mut ns = vec![Vec::new(); 4];
        for round in 0..=plan.reps {
            let data = vec![round as u8 ^ 0xa5; size as usize];
            let pages = &order[..ops];
            let mut t = [0u64; 4];
            w.sync()?;
            t[0] = w.time(|| w.pwrite_pages(pages, &data))?;
            t[1] = w.time(|| w.pwrite_pages(pages, &data))?;
            w.sync()?;
            t[2] = w.time(|| w.store_pages(pages, &data))?;
            t[3] = w.time(|| w.store_pages(pages, &data))?;
            if round > 0 {
                for (v, t) in ns.iter_mut().zip(t) {
                    v.push(t as f64 / ops as f64);
                }
            }
            progress.step(&format!("{size} B"));
        }
        let s: Vec<Summary> = ns.into_iter().map(Summary::of).collect();
        for (i, (method, pages)) in [
            ("pwrite", "clean"),
            ("pwrite", "dirty"),
            ("write_at", "clean"),
            ("write_at", "dirty"),
        ]
        .into_iter()
        .enumerate()
        {
            // Rate against pwrite to pages in the same state: time of the
            // pwrite row over time of this row.
            let base = &s[i % 2];
            writes.push(WriteRow {
                method: method.to_string(),
                size,
                pages: pages.to_string(),
                ops,
                ns_per_op: s[i].clone(),
                vs_pwrite: Some(base.ratio(&s[i])),
            });
        }
    }

    let durability = durability(&w, &order, plan, progress)?;
    Ok((writes, durability))
}

/// The durability rows: one 4 KiB write made durable (or submitted) at a
/// time by each method, then batches of pages and one sync.
fn durability(
    w: &Writer<'_>,
    pages: &[u64],
    plan: &Plan,
    progress: &dyn Progress,
) -> Result<Vec<DurabilityRow>> {
    let n = plan.durable_ops.min(pages.len());
    let batch = plan.batch_pages.min(pages.len());
    let singles = &pages[..n];
    let batch_pages = &pages[..batch];
    type Step<'a> = Box<dyn Fn(u64, &[u8]) -> Result<()> + 'a>;
    let single: Vec<(&str, bool, Step<'_>)> = vec![
        (
            "pwrite + fdatasync",
            true,
            Box::new(|p, d| {
                w.pwrite(p, d)?;
                w.sync()
            }),
        ),
        (
            "write_at + flush_range (msync MS_SYNC, one page)",
            true,
            Box::new(|p, d| {
                w.map.write_at(p * PAGE, d)?;
                Ok(w.map.flush_range(p * PAGE, PAGE as usize)?)
            }),
        ),
        (
            "write_at + sync_data (fdatasync)",
            true,
            Box::new(|p, d| {
                w.map.write_at(p * PAGE, d)?;
                Ok(w.map.sync_data()?)
            }),
        ),
        (
            "write_at + start_writeback_range (sync_file_range: submitted, not durable)",
            false,
            Box::new(|p, d| {
                w.map.write_at(p * PAGE, d)?;
                Ok(w.map.start_writeback_range(p * PAGE, PAGE as usize)?)
            }),
        ),
    ];
    let rows = single.len() + 2;
    progress.phase("durability", (plan.reps as u64 + 1) * rows as u64);
    let mut ns = vec![Vec::new(); rows];
    for round in 0..=plan.reps {
        let data = vec![round as u8 ^ 0x5a; PAGE as usize];
        for (i, (name, _, step)) in single.iter().enumerate() {
            w.sync()?;
            let t = w.time(|| {
                for &p in singles {
                    step(p, &data)?;
                }
                Ok(())
            })?;
            if round > 0 {
                ns[i].push(t as f64 / n.max(1) as f64);
            }
            progress.step(name);
        }
        w.sync()?;
        let t = w.time(|| {
            w.store_pages(batch_pages, &data)?;
            Ok(w.map.flush()?)
        })?;
        if round > 0 {
            ns[single.len()].push(t as f64 / batch.max(1) as f64);
        }
        progress.step("batched msync");
        w.sync()?;
        let t = w.time(|| {
            w.pwrite_pages(batch_pages, &data)?;
            w.sync()
        })?;
        if round > 0 {
            ns[single.len() + 1].push(t as f64 / batch.max(1) as f64);
        }
        progress.step("batched fdatasync");
    }
    let batch_names = [
        (
            format!("{batch} × write_at, one flush (msync MS_SYNC)"),
            true,
        ),
        (format!("{batch} × pwrite, one fdatasync"), true),
    ];
    let names = single
        .iter()
        .map(|(n, d, _)| (n.to_string(), *d))
        .chain(batch_names);
    let s: Vec<Summary> = ns.into_iter().map(Summary::of).collect();
    Ok(names
        .zip(&s)
        .map(|((method, durable), ns_per_page)| DurabilityRow {
            method,
            durable,
            ns_per_page: ns_per_page.clone(),
            vs_pwrite_fdatasync: Some(ns_per_page.ratio(&s[0])),
        })
        .collect())
}

/// The scratch file and its writable mapping.
struct Writer<'a> {
    file: &'a BenchFile,
    map: &'a Mapping,
}

impl Writer<'_> {
    fn time(&self, f: impl FnOnce() -> Result<()>) -> Result<u64> {
        let start = Instant::now();
        f()?;
        Ok(start.elapsed().as_nanos() as u64)
    }

    fn sync(&self) -> Result<()> {
        self.file
            .file
            .sync_data()
            .map_err(|e| BenchError::io("fdatasync", &self.file.path, e))
    }

    fn pwrite(&self, page: u64, data: &[u8]) -> Result<()> {
        self.file
            .file
            .write_all_at(data, page * PAGE)
            .map_err(|e| BenchError::io("pwrite", &self.file.path, e))
    }

    fn pwrite_pages(&self, pages: &[u64], data: &[u8]) -> Result<()> {
        for &p in pages {
            self.pwrite(p, data)?;
        }
        Ok(())
    }

    fn store_pages(&self, pages: &[u64], data: &[u8]) -> Result<()> {
        for &p in pages {
            self.map.write_at(p * PAGE, data)?;
        }
        Ok(())
    }
}
