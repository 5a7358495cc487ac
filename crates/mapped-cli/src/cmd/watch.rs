//! `mapped watch FILE [--offset N] [--len N] [--interval DUR] [--count K]
//! [--raw] [--cstr]`: print a range each time another process changes it.
//!
//! No kernel notification exists for stores into a shared mapping (inotify
//! and fanotify see `write(2)`, not memory stores), so this polls: it maps
//! the range read-only, copies it out every interval and prints it when it
//! differs from the last copy. The mapping shows other processes' stores as
//! soon as they are made, with no reopening and no system call per poll
//! beyond one `fstat`.
//!
//! If the file is truncated below the range, a notice goes to stderr and the
//! watch waits, reopening the file each interval, until the range exists
//! again: the library turns the `SIGBUS` of a read past the end into an
//! error, so a truncation race cannot kill the watcher. `SIGINT` and
//! `SIGTERM` end the watch with status 0.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use mapped::{AccessError, MapOptions, Mapping, OpenError};
use mapped_cli::count::parse_count;
use mapped_cli::duration::parse_interval;
use mapped_cli::size::parse_size;

use super::file;
use super::stop::{catch_stop_signals, sleep_unless_stopped};

/// Print a range of FILE each time another process changes it.
///
/// The initial contents are printed first, then a line per change, with
/// non-printable bytes escaped (\x00, \n, ...).
///
/// FILE must be a regular file: a FIFO, socket, device, or a /proc or /sys
/// file (whose content is made when it is read) is refused at once.
#[derive(Debug, Args)]
pub struct WatchArgs {
    /// The file to watch.
    file: PathBuf,
    /// Where the range starts, in bytes.
    #[arg(long, value_name = "N", default_value = "0", value_parser = parse_size,
          allow_hyphen_values = true)]
    offset: u64,
    /// How many bytes [default: to the end of the file, as it is at start].
    #[arg(long, value_name = "N", value_parser = parse_size, allow_hyphen_values = true)]
    len: Option<u64>,
    /// Time between polls: 500ms, 2s, ... (a number alone is milliseconds;
    /// at least 1ms).
    #[arg(long, value_name = "DUR", default_value = "20ms", value_parser = parse_poll_interval)]
    interval: Duration,
    /// Exit after printing K lines (the initial contents count as one; at
    /// least 1).
    #[arg(long, value_name = "K", value_parser = parse_count)]
    count: Option<u64>,
    /// Print the raw bytes (and a newline) instead of escaping them.
    #[arg(long)]
    raw: bool,
    /// Show only the bytes before the first NUL, as t_mmap does (changes
    /// after it are still detected).
    #[arg(long)]
    cstr: bool,
}

/// A duration of at least 1 ms (a number alone is milliseconds).
fn parse_poll_interval(s: &str) -> Result<Duration, String> {
    match parse_interval(s) {
        Ok(d) if d.is_zero() => Err("must be at least 1ms".to_owned()),
        Ok(d) => Ok(d),
        Err(e) => Err(e.to_string()),
    }
}

/// What one poll found.
enum Poll {
    /// The range was copied into the buffer.
    Read,
    /// The range is not there (the file shrank, or is gone): why.
    Missing(String),
}

/// The watched range and the mapping of it, reopened after a truncation.
struct Watched<'a> {
    path: &'a Path,
    offset: u64,
    len: u64,
    map: Option<Mapping>,
}

impl Watched<'_> {
    fn end(&self) -> u64 {
        self.offset + self.len
    }

    fn shorter_than_range(&self, file_len: u64) -> String {
        format!(
            "{} is now {file_len} bytes, shorter than the watched range (bytes {}..{})",
            self.path.display(),
            self.offset,
            self.end()
        )
    }

    /// Maps the range of `file`, or says why it is not there.
    fn open_map(&self, file: File) -> Result<Result<Mapping, String>> {
        let file_len = file
            .metadata()
            .with_context(|| format!("fstat {}", self.path.display()))?
            .len();
        if file_len < self.end() {
            return Ok(Err(self.shorter_than_range(file_len)));
        }
        match MapOptions::new()
            .window(self.offset, self.len)
            .map_file(file, self.path)
        {
            Ok(map) => Ok(Ok(map)),
            // Shrank again since the fstat above.
            Err(e @ OpenError::WindowOutOfRange { .. }) => Ok(Err(e.to_string())),
            Err(e) => Err(e.into()),
        }
    }

    /// Copies the range into `buf`, mapping the file afresh if needed.
    fn poll(&mut self, buf: &mut [u8]) -> Result<Poll> {
        let map = match self.map.take() {
            Some(map) => map,
            None => {
                let file = match file::open(self.path, false) {
                    Ok((file, _)) => file,
                    Err(e) => return Ok(Poll::Missing(format!("{e:#}"))),
                };
                match self.open_map(file)? {
                    Ok(map) => map,
                    Err(why) => return Ok(Poll::Missing(why)),
                }
            }
        };
        let file_len = map.file_len()?;
        if file_len < self.end() {
            // The mapping is dropped before any page past the new end is
            // touched.
            return Ok(Poll::Missing(self.shorter_than_range(file_len)));
        }
        match map.read_at(0, buf) {
            Ok(()) => {
                self.map = Some(map);
                Ok(Poll::Read)
            }
            // Truncated between the fstat and the copy: the library caught
            // the SIGBUS and poisoned the mapping, which is dropped here.
            Err(e @ (AccessError::Fault { .. } | AccessError::Poisoned(_))) => {
                Ok(Poll::Missing(e.to_string()))
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// Runs `mapped watch`.
pub fn run(args: &WatchArgs) -> Result<()> {
    let path = &args.file;
    let (fd, file_len) = file::open(path, false)?;
    let len = file::range_len(path, args.offset, args.len, file_len)?;
    let mut buf = vec![0u8; file::buffer_len(path, len)?];
    let mut watched = Watched {
        path,
        offset: args.offset,
        len,
        map: None,
    };
    match watched.open_map(fd)? {
        Ok(map) => watched.map = Some(map),
        // Shrank since it was checked: a race not worth waiting out.
        Err(why) => anyhow::bail!("{why}"),
    }
    catch_stop_signals();

    let interval = args.interval;
    let mut out = io::stdout().lock();
    let mut last: Option<Vec<u8>> = None;
    let mut printed = 0u64;
    let mut missing = false;
    loop {
        match watched.poll(&mut buf)? {
            Poll::Read => {
                if missing {
                    missing = false;
                    notice(&format!(
                        "{} covers the watched range again; watching",
                        path.display()
                    ));
                }
                if last.as_deref() != Some(&buf[..]) {
                    print_line(&mut out, &buf, args)?;
                    printed += 1;
                    if args.count.is_some_and(|k| printed >= k) {
                        return Ok(());
                    }
                    last = Some(buf.clone());
                }
            }
            Poll::Missing(why) => {
                if !missing {
                    missing = true;
                    notice(&format!("{why}; waiting for it to come back"));
                }
            }
        }
        if !sleep_unless_stopped(interval) {
            return Ok(());
        }
    }
}

/// Writes one change to stdout and flushes it, so a reader sees it at once.
fn print_line(out: &mut impl Write, bytes: &[u8], args: &WatchArgs) -> Result<()> {
    let shown = if args.cstr {
        bytes.split(|&b| b == 0).next().unwrap_or_default()
    } else {
        bytes
    };
    let written = if args.raw {
        out.write_all(shown).and_then(|()| out.write_all(b"\n"))
    } else {
        writeln!(out, "{}", shown.escape_ascii())
    };
    written
        .and_then(|()| out.flush())
        .context("write to stdout")
}

/// A notice on stderr (the watch goes on).
fn notice(text: &str) {
    let _ = writeln!(io::stderr(), "mapped: watch: {text}");
}
