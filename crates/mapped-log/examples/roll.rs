//! The slowest appends of a log, for profiling what happens around segment
//! rolls: `cargo run --release -p mapped-log --example roll [DIR [SIZE
//! [GAP_NS]]]`.
//!
//! Appends SIZE-byte messages (default 4096) into a log of 64 MiB segments
//! in DIR (default: the temporary folder) until four segments are full, and
//! prints, for each segment, its slowest append, where in the segment it
//! started, and the median append. Rolling to a new segment used to be the
//! slowest append by far (creating the segment file, and unmapping the old
//! one); with the next segment made ahead and old mappings unmapped in the
//! background it should not stand out.
//!
//! With GAP_NS, each append starts at least that many nanoseconds after the
//! one before (a spin, not a sleep): an appender that outruns the rate at
//! which the machine can provision fresh pages waits in page faults, in
//! chunks as large as a page-cache folio or a readahead window, and the
//! gap tells whether the slow appends come from that or from the log.

use std::io::Write;
use std::time::Instant;

use mapped_log::{Appender, Log, LogOptions};

const SEGMENT: u64 = 64 << 20;
const SEGMENTS: u64 = 4;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let base = std::env::args_os()
        .nth(1)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let size: usize = match std::env::args().nth(2) {
        Some(s) => s.parse()?,
        None => 4096,
    };
    let gap: u64 = match std::env::args().nth(3) {
        Some(s) => s.parse()?,
        None => 0,
    };
    let dir = tempfile::Builder::new()
        .prefix("mapped-log-roll-")
        .tempdir_in(&base)?;
    let log = Log::create(
        dir.path().join("log"),
        LogOptions {
            segment_size: SEGMENT,
            max_message: size.max(1) as u32,
            ..LogOptions::default()
        },
    )?;
    let mut app = Appender::new(&log)?;
    let payload = vec![7u8; size];
    // Per segment: every append's time, and the slowest with its offset.
    let mut times: Vec<Vec<u64>> = vec![Vec::new(); SEGMENTS as usize];
    let mut slowest = vec![(0u64, 0u64); SEGMENTS as usize];
    let mut previous = Instant::now();
    loop {
        while (previous.elapsed().as_nanos() as u64) < gap {
            std::hint::spin_loop();
        }
        let t = Instant::now();
        previous = t;
        let id = app.append(&payload)?;
        let ns = t.elapsed().as_nanos() as u64;
        let segment = id / SEGMENT;
        if segment >= SEGMENTS {
            break;
        }
        // An append that rolled is counted in the segment it landed in,
        // at its offset there: the first record's.
        let k = segment as usize;
        times[k].push(ns);
        if ns > slowest[k].0 {
            slowest[k] = (ns, id % SEGMENT);
        }
    }
    let mut out = std::io::stdout().lock();
    for (k, mut t) in times.into_iter().enumerate() {
        t.sort_unstable();
        let (ns, at) = slowest[k];
        // Not `println!`: a closed pipe is no reason to panic.
        let _ = writeln!(
            out,
            "segment {k}: slowest {size} B append {:.1} µs at offset {at} ({:.0}% in), median {:.2} µs, {} appends",
            ns as f64 / 1e3,
            at as f64 * 100.0 / SEGMENT as f64,
            t.get(t.len() / 2).copied().unwrap_or(0) as f64 / 1e3,
            t.len()
        );
    }
    Ok(())
}
