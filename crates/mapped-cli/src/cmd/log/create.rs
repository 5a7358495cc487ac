//! `mapped log create DIR [--segment-size S] [--max-message S]`: a new,
//! empty log.

use std::io::{self, Write};
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use mapped_cli::size::{format_size, parse_size};
use mapped_log::{Log, LogOptions, format};

use super::parse_size_u32;

/// Create a new, empty log in DIR (created if missing; its parent must
/// exist).
///
/// Fails if DIR already holds a log.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The log's directory.
    dir: PathBuf,
    /// Size of each segment file: the unit retention removes. A multiple
    /// of 8 from 4k to 2G [default: 64M].
    #[arg(long, value_name = "S", value_parser = parse_segment_size)]
    segment_size: Option<u64>,
    /// Largest message accepted; must fit in a segment with its 16-byte
    /// header [default: 1M, or what fits a smaller segment].
    #[arg(long, value_name = "S", value_parser = parse_size_u32)]
    max_message: Option<u32>,
}

fn parse_segment_size(s: &str) -> Result<u64, String> {
    let n = parse_size(s).map_err(|e| e.to_string())?;
    format::check_segment_size(n).map_err(|e| e.to_string())?;
    Ok(n)
}

/// Runs `mapped log create`.
pub fn run(args: &CreateArgs) -> Result<()> {
    let defaults = LogOptions::default();
    let segment_size = args.segment_size.unwrap_or(defaults.segment_size);
    let max_message = match args.max_message {
        Some(m) => m,
        // A small segment gets a maximum that fits it.
        None if args.segment_size.is_some() => {
            let fits = segment_size - format::SEGMENT_HEADER_LEN - format::RECORD_HEADER_LEN;
            defaults.max_message.min(fits as u32)
        }
        None => defaults.max_message,
    };
    if max_message == 0 {
        super::usage_error("create", "--max-message: must be at least 1 byte");
    }
    if let Err(why) = format::check_max_message(max_message, segment_size) {
        super::usage_error("create", &format!("--max-message: {why}"));
    }
    let log = Log::create(
        &args.dir,
        LogOptions {
            segment_size,
            max_message,
        },
    )?;
    let mut out = io::stdout().lock();
    writeln!(
        out,
        "created log {}: segments of {}, messages up to {}",
        log.dir().display(),
        format_size(log.segment_size()),
        format_size(log.max_message().into()),
    )
    .and_then(|()| out.flush())
    .context("write to stdout")
}
