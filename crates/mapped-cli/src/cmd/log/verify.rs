//! `mapped log verify DIR`: read every record and check every checksum.

use std::io::{self, Write};
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;

use mapped_cli::fields::plural;

use super::open::open_to_inspect;

/// Check every record of the log in DIR: headers, lengths, checksums.
///
/// Also checks that every segment file the log needs is there, is this
/// log's, and has its full length, and that no stray segment file lies
/// beside them. Prints `ok: N messages in M segments` and exits 0 if the
/// log is consistent; else prints every problem on stderr (the file, what
/// is wrong, the ids affected, and for a bad record its offset) and exits
/// with status 1. Ranges lost to earlier damage that a recovery replaced
/// are noted, not problems. A log this user may not write is opened
/// read-only (a note on stderr says so).
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The log's directory.
    dir: PathBuf,
}

/// Runs `mapped log verify`.
pub fn run(args: &VerifyArgs) -> Result<()> {
    let log = open_to_inspect(&args.dir, "")?;
    let stat = log.stat()?;
    let mut out = io::stdout().lock();
    let mut lines = Vec::new();
    for &(first, end) in &stat.lost {
        lines.push(format!(
            "note: ids {first} to {end} were lost to damage (a placeholder segment stands for them since a recovery)"
        ));
    }
    if stat.problems.is_empty() {
        lines.push(format!(
            "ok: {} in {}",
            plural(stat.messages, "message"),
            plural(stat.segments.len() as u64, "segment")
        ));
    }
    if !lines.is_empty() {
        writeln!(out, "{}", lines.join("\n"))
            .and_then(|()| out.flush())
            .context("write to stdout")?;
    }
    if !stat.problems.is_empty() {
        drop(out);
        for p in &stat.problems {
            eprintln!("mapped: {p}");
        }
        bail!(
            "{} found; `mapped log recover {}` shows how it would repair them",
            plural(stat.problems.len() as u64, "problem"),
            args.dir.display()
        );
    }
    Ok(())
}
