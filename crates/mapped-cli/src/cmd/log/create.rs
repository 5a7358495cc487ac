//! `mapped log create DIR [--segment-size S] [--max-message S] [--mode
//! OCTAL] [--group GROUP]`: a new, empty log.

use std::io::{self, Write};
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use mapped_cli::size::{format_size, parse_size};
use mapped_log::{Log, LogOptions, format};

use super::args::parse_size_u32;
use crate::cmd::UsageError;

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
    /// The permission bits of every file of the log, whoever makes it
    /// later (segments, named-reader files, the lock file), in octal:
    /// 600 (only the owner), 640 (a group reads), 660 (a group reads and
    /// appends), 644, 664, 666. Directories get the matching search bits.
    /// Readers and appenders need write access to the log; a user with
    /// read access only can read it with `mapped log tail` (read-only).
    #[arg(long, value_name = "OCTAL", default_value = "600", value_parser = parse_mode)]
    mode: u32,
    /// The group that owns the log: the directory gets it and the
    /// set-group-ID bit, so every file made in it later belongs to the
    /// group too. A group name or number.
    #[arg(long, value_name = "GROUP", value_parser = parse_group)]
    group: Option<u32>,
}

/// An octal file mode the log accepts.
pub(super) fn parse_mode(s: &str) -> Result<u32, String> {
    let digits = s.strip_prefix("0o").unwrap_or(s);
    let mode = u32::from_str_radix(digits, 8)
        .map_err(|_| format!("{s:?} is not an octal mode such as 640"))?;
    format::check_file_mode(mode).map_err(|e| e.to_string())?;
    Ok(mode)
}

/// A group name or number.
pub(super) fn parse_group(s: &str) -> Result<u32, String> {
    if let Ok(gid) = s.parse::<u32>() {
        return Ok(gid);
    }
    let name = std::ffi::CString::new(s).map_err(|_| format!("{s:?} is not a group name"))?;
    // SAFETY: `libc::group` is a plain C struct of integers and pointers,
    // for which all-zero bytes are a valid value (null pointers).
    let mut group: libc::group = unsafe { std::mem::zeroed() };
    let mut buf = vec![0u8; 16 << 10];
    let mut found: *mut libc::group = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call: `name` is a
    // NUL-terminated string, `group` and `found` are ours, and `buf` is
    // a writable buffer of the length given; on return `found` is null
    // or points to `group`, whose strings point into `buf`.
    let rc = unsafe {
        libc::getgrnam_r(
            name.as_ptr(),
            &mut group,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut found,
        )
    };
    if rc != 0 || found.is_null() {
        return Err(format!("no group named {s:?}"));
    }
    Ok(group.gr_gid)
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
        return Err(
            UsageError::new(&["log", "create"], "--max-message: must be at least 1 byte").into(),
        );
    }
    if let Err(why) = format::check_max_message(max_message, segment_size) {
        return Err(UsageError::new(&["log", "create"], format!("--max-message: {why}")).into());
    }
    let log = Log::create(
        &args.dir,
        LogOptions {
            segment_size,
            max_message,
            file_mode: args.mode,
            group: args.group,
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
