//! `mapped bench jetstream [--quick] [--json OUT]`: the export and the
//! replica against bare `async-nats`, measured in the same run (the
//! measuring is `mapped_jetstream::bench`).

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use mapped_jetstream::bench::{BenchOptions, Report};
use mapped_jetstream::server::{HOW_TO_GET, nats_server_binary};

/// The export and the replica measured against bare async-nats, in the
/// same run, with a nats-server started for it (loopback, file storage):
/// export throughput of 64 B and 4 KiB messages against a bare JetStream
/// publisher with the same acknowledgements in flight (target: at least
/// 0.8 of it); the latency from an append on log A to the message
/// readable in replica B against a bare JetStream publish-to-consume
/// round trip (target: p50 at most 1.5 times it); the replica read by an
/// ordinary reader against the source log; and the sync floor, how long
/// Log::sync of one append takes on this disk, which the default
/// (synced) export adds to its latency. Without nats-server on the
/// PATH it says how to get one and exits 0 having measured nothing.
#[derive(Debug, Args)]
pub struct JetstreamArgs {
    /// A short run (fewer messages and rounds; about half a minute).
    #[arg(long)]
    quick: bool,
    /// A few messages of each kind: checks that everything runs; the
    /// numbers mean nothing (for tests).
    #[arg(long, hide = true, conflicts_with = "quick")]
    smoke: bool,
    /// Also write the results as JSON.
    #[arg(long, value_name = "OUT")]
    json: Option<PathBuf>,
    /// Where to create the logs (default: the temporary folder).
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

/// Runs `mapped bench jetstream`.
pub fn run(args: &JetstreamArgs) -> Result<()> {
    let Some(binary) = nats_server_binary() else {
        println!("bench jetstream: skipped: no nats-server on the PATH; {HOW_TO_GET}");
        return Ok(());
    };
    let options = BenchOptions {
        quick: args.quick,
        smoke: args.smoke,
        dir: args.dir.clone(),
    };
    let report = mapped_jetstream::bench::run(&binary, &options, &|what| {
        eprintln!("measuring {what}...");
    })
    .map_err(|e| anyhow::anyhow!("bench jetstream: {e}"))?;
    print!("{}", table(&report));
    if let Some(out) = &args.json {
        let text = serde_json::to_string_pretty(&report)?;
        std::fs::write(out, text).with_context(|| format!("write {}", out.display()))?;
    }
    Ok(())
}

/// The report as a table: one comparison a line, then its detail.
fn table(r: &Report) -> String {
    let mut s = format!(
        "bench jetstream: {} on loopback, file storage\n\n",
        r.server
    );
    for row in &r.rows {
        let verdict = match (row.target, row.pass) {
            (Some(t), Some(true)) => format!("target {t}: PASS"),
            (Some(t), _) => format!("target {t}: MISS"),
            _ => String::new(),
        };
        s.push_str(&format!(
            "{}\n  ours {:.0} {}, {} {:.0} {}; ratio {:.2}  {verdict}\n  {}\n\n",
            row.name, row.ours, row.unit, row.bare_name, row.bare, row.unit, row.ratio, row.detail
        ));
    }
    s
}
