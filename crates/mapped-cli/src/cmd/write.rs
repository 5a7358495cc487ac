//! `mapped write FILE --offset N (VALUE | --stdin) [--sync] [--grow]`: store
//! bytes through a shared read-write mapping of just the range they need.

use std::ffi::OsString;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{ArgGroup, Args};
use mapped::{MapOptions, Mode};
use mapped_cli::size::parse_size;

use super::file;

/// Store bytes into FILE through a shared mapping.
///
/// Other processes that map the file see the bytes at once; they reach the
/// disk on write-back, or before `mapped write` exits with --sync.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("data").required(true).args(["value", "stdin"])))]
pub struct WriteArgs {
    /// The file to write into.
    file: PathBuf,
    /// Where to store the bytes, in bytes from the start of the file.
    #[arg(long, value_name = "N", value_parser = parse_size)]
    offset: u64,
    /// The bytes to store, exactly as given (no newline is added).
    value: Option<OsString>,
    /// Store the bytes read from stdin instead of VALUE.
    #[arg(long)]
    stdin: bool,
    /// Wait until the bytes are on disk (msync MS_SYNC) before exiting.
    #[arg(long)]
    sync: bool,
    /// Extend the file (creating it if needed, blocks reserved) when the
    /// bytes end past its end.
    #[arg(long)]
    grow: bool,
}

/// Runs `mapped write`.
pub fn run(args: &WriteArgs) -> Result<()> {
    let path = &args.file;
    // clap makes VALUE and --stdin exclusive, and one of them required.
    let data = match &args.value {
        Some(value) => value.as_bytes().to_vec(),
        None => {
            let mut data = Vec::new();
            io::stdin()
                .lock()
                .read_to_end(&mut data)
                .context("read stdin")?;
            data
        }
    };
    let len = data.len() as u64;
    let Some(end) = args.offset.checked_add(len) else {
        bail!(
            "{}: {len} bytes at offset {} would end past the largest possible file",
            path.display(),
            args.offset
        );
    };

    let mut opts = MapOptions::new();
    opts.mode(Mode::ReadWrite).window(args.offset, len);
    let map = if args.grow {
        // Makes the file at least `end` bytes long with its blocks reserved,
        // so the stores below cannot fault for want of space.
        opts.create(path, end)?
    } else {
        let (fd, file_len) = file::open(path, true)?;
        if end > file_len {
            bail!(
                "{}: {len} bytes at offset {} would end at byte {end}, past the end of the \
                 file ({file_len} bytes); pass --grow to extend the file",
                path.display(),
                args.offset
            );
        }
        opts.map_file(fd, path)?
    };
    map.write_at(0, &data)?;
    if args.sync {
        map.flush()?;
    }
    Ok(())
}
