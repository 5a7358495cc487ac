//! What a fresh page of a shared file mapping costs on this machine, and
//! whether memory the system freed a while ago costs more than memory it
//! freed just now: `cargo run --release -p mapped --example provision
//! [DIR [GAP_SECONDS]]`.
//!
//! Each round creates a 256 MiB file in DIR (default: the temporary
//! folder), reserved with `fallocate` as `MapOptions::create` does, maps
//! it, and writes one byte to each page, timing the writes; then it deletes
//! the file (freeing its page-cache pages) and waits GAP seconds (default
//! 0) before the next round. It prints the cost per page of each round.
//!
//! Each of those writes takes a page fault in which the kernel finds or
//! allocates a page-cache page and zeroes it. On a virtual machine whose
//! host takes back memory the guest has freed (virtio-balloon free page
//! reporting, as on the project's benchmark VM), a page freed seconds
//! earlier must first be given back by the host: compare a run with a gap
//! of 0 and one with a gap of 5. A log appends to fresh pages all the time,
//! so this is the cost under its streaming throughput (`docs/benchmarks.md`).

use std::time::{Duration, Instant};

use mapped::{MapOptions, Mode};

const LEN: u64 = 256 << 20;
const PAGE: u64 = 4096;
const ROUNDS: usize = 4;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args_os().skip(1);
    let base = args
        .next()
        .map(std::path::PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let gap: u64 = match args.next() {
        Some(s) => s.to_str().ok_or("GAP_SECONDS is not text")?.parse()?,
        None => 0,
    };
    let dir = tempfile::Builder::new()
        .prefix("mapped-provision-")
        .tempdir_in(&base)?;
    let path = dir.path().join("pages");
    for round in 0..ROUNDS {
        let map = MapOptions::new().mode(Mode::ReadWrite).create(&path, LEN)?;
        let start = Instant::now();
        for page in 0..LEN / PAGE {
            map.fill(page * PAGE, 1, 1)?;
        }
        let per_page = start.elapsed().as_secs_f64() * 1e6 / (LEN / PAGE) as f64;
        drop(map);
        std::fs::remove_file(&path)?;
        println!("round {round}: {per_page:.2} µs per fresh page (gap {gap} s before the next)");
        if round + 1 < ROUNDS {
            std::thread::sleep(Duration::from_secs(gap));
        }
    }
    Ok(())
}
