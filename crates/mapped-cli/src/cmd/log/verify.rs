//! `mapped log verify DIR`: read every record and check every checksum.

use std::io::{self, Write};
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;

use super::plural;

/// Check every record of the log in DIR: headers, lengths, checksums.
///
/// Prints `ok: N messages in M segments` and exits 0 if the log is
/// consistent; else prints the first problem (the segment file, what is
/// wrong, and for a bad record its id and offset) and exits 1. A log this
/// user may not write is opened read-only (a note on stderr says so).
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The log's directory.
    dir: PathBuf,
}

/// Runs `mapped log verify`.
pub fn run(args: &VerifyArgs) -> Result<()> {
    let log = super::open_to_inspect(&args.dir, "")?;
    if let Some(problem) = log.verify()? {
        bail!("{problem}");
    }
    let stat = log.stat()?;
    let mut out = io::stdout().lock();
    writeln!(
        out,
        "ok: {} in {}",
        plural(stat.messages, "message"),
        plural(stat.segments.len() as u64, "segment")
    )
    .and_then(|()| out.flush())
    .context("write to stdout")
}
