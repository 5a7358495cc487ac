//! The cost of the log's hot paths in one process, for profiling changes
//! to them: `cargo run --release -p mapped-log --example hot_path [DIR
//! [SIZE]]`.
//!
//! Times rounds of SIZE-byte appends (default 64) into a log in DIR
//! (default: the temporary folder), then reads of them back, and prints the
//! fastest and the median round in nanoseconds per message. The fastest
//! round is the figure to compare between two builds on a noisy machine:
//! noise only ever adds time. (`mapped bench ipc` measures the log between
//! processes against its baselines; this is the magnifying glass.)

use std::io::Write;
use std::time::Instant;

use mapped_log::{Appender, Log, LogOptions, Start};

const ROUNDS: usize = 15;
const PER_ROUND: u64 = 200_000;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let base = std::env::args_os()
        .nth(1)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let dir = tempfile::Builder::new()
        .prefix("mapped-log-hot-path-")
        .tempdir_in(&base)?;
    let size: usize = match std::env::args().nth(2) {
        Some(s) => s.parse()?,
        None => 64,
    };
    let log = Log::create(dir.path().join("log"), LogOptions::default())?;
    let mut app = Appender::new(&log)?;
    let payload = vec![7u8; size];
    let mut reader = log.reader(Start::Beginning)?;
    let (mut appends, mut reads) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let t = Instant::now();
        for _ in 0..PER_ROUND {
            app.append(&payload)?;
        }
        appends.push(t.elapsed().as_nanos() as f64 / PER_ROUND as f64);
        let t = Instant::now();
        for _ in 0..PER_ROUND {
            let m = reader.try_next()?.ok_or("a message appended is missing")?;
            std::hint::black_box(m.payload());
        }
        reads.push(t.elapsed().as_nanos() as f64 / PER_ROUND as f64);
    }
    let mut out = std::io::stdout().lock();
    for (what, v) in [("append", &mut appends), ("read", &mut reads)] {
        v.sort_by(f64::total_cmp);
        // Not `println!`: a closed pipe (`| head -1`) is no reason to panic.
        let _ = writeln!(
            out,
            "{what:>6} {size} B: fastest {:.1} ns, median {:.1} ns per message ({ROUNDS} rounds of {PER_ROUND})",
            v[0],
            v[ROUNDS / 2]
        );
    }
    Ok(())
}
