//! `mapped log retain DIR [--max-age DUR] [--max-bytes S] [--max-messages N]
//! [--force]`: remove old segments.

use std::io::{self, Write};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{ArgGroup, Args};
use mapped_cli::duration::parse_duration;
use mapped_cli::size::{format_size, parse_size};
use mapped_log::Retention;

use mapped_cli::fields::plural;

use super::open::open;
use super::text::{leftovers_line, list};

/// Remove whole segments from the front of the log in DIR.
///
/// A segment goes while any limit is exceeded, oldest first; never the
/// segment being appended to, and never one a named reader has not
/// finished (unless --force). Give at least one limit.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("limit").required(true).multiple(true)
    .args(["max_age", "max_bytes", "max_messages"])))]
pub struct RetainArgs {
    /// The log's directory.
    dir: PathBuf,
    /// Remove segments last written longer ago than this: 30s, 10m, 2h, 7d.
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    max_age: Option<Duration>,
    /// Remove the oldest segments while the segment files take more than
    /// this (4k, 64M, 1G).
    #[arg(long, value_name = "S", value_parser = parse_size)]
    max_bytes: Option<u64>,
    /// Remove the oldest segments while the log holds more messages than
    /// this.
    #[arg(long, value_name = "N")]
    max_messages: Option<u64>,
    /// Also remove segments that named readers have not finished (they
    /// get an error naming the oldest id left when they reach the gap).
    #[arg(long)]
    force: bool,
}

/// Runs `mapped log retain`.
pub fn run(args: &RetainArgs) -> Result<()> {
    let log = open(&args.dir)?;
    let report = log.retain(Retention {
        max_age: args.max_age,
        max_bytes: args.max_bytes,
        max_messages: args.max_messages,
        force: args.force,
    })?;
    let mut lines = Vec::new();
    if report.removed.is_empty() {
        lines.push("removed nothing".to_owned());
    } else {
        let n = report.removed.len() as u64;
        lines.push(format!(
            "removed {}: {} ({})",
            plural(n, "segment"),
            list(&report.removed),
            format_size(n * log.segment_size())
        ));
    }
    if !report.held_by.is_empty() {
        lines.push(format!(
            "kept back by {}: {} (not finished with the next segment; --force removes it anyway)",
            if report.held_by.len() == 1 {
                "a named reader"
            } else {
                "named readers"
            },
            list(&report.held_by)
        ));
    }
    if let Some(q) = &report.quarantine {
        lines.push(format!(
            "moved {} found below the log's first segment into {}: {}",
            plural(report.quarantined.len() as u64, "segment file"),
            q.display(),
            list(&report.quarantined)
        ));
    }
    lines.extend(leftovers_line(report.leftovers_removed));
    let mut out = io::stdout().lock();
    out.write_all(lines.join("\n").as_bytes())
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush())
        .context("write to stdout")
}
