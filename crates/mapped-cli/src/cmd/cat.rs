//! `mapped cat FILE [--offset N] [--len N]`: the bytes of a range, read
//! through a shared read-only mapping, raw to stdout.

use std::io::{self, Write};
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use mapped::{Advice, MapOptions};
use mapped_cli::size::parse_size;

use super::file;

/// Bytes copied out of the mapping per write to stdout.
const CHUNK: u64 = 1 << 20;

/// Print the bytes of a range of FILE, read through a shared mapping.
///
/// FILE must be a regular file: a FIFO, socket, device, or a /proc or /sys
/// file (whose content is made when it is read) is refused at once.
#[derive(Debug, Args)]
pub struct CatArgs {
    /// The file to read.
    file: PathBuf,
    /// Where the range starts, in bytes.
    #[arg(long, value_name = "N", default_value = "0", value_parser = parse_size,
          allow_hyphen_values = true)]
    offset: u64,
    /// How many bytes [default: to the end of the file].
    #[arg(long, value_name = "N", value_parser = parse_size, allow_hyphen_values = true)]
    len: Option<u64>,
}

/// Runs `mapped cat`.
pub fn run(args: &CatArgs) -> Result<()> {
    let path = &args.file;
    let (fd, file_len) = file::open(path, false)?;
    let len = file::range_len(path, args.offset, args.len, file_len)?;
    let map = MapOptions::new()
        .window(args.offset, len)
        .advice(Advice::Sequential)
        .map_file(fd, path)?;

    let mut buf = vec![0u8; file::buffer_len(path, len.min(CHUNK))?];
    let mut out = io::stdout().lock();
    let mut pos = 0;
    while pos < len {
        let n = (len - pos).min(CHUNK) as usize;
        map.read_at(pos, &mut buf[..n])?;
        out.write_all(&buf[..n]).context("write to stdout")?;
        pos += n as u64;
    }
    out.flush().context("write to stdout")
}
