//! `mapped write FILE --offset N (VALUE | --stdin) [--sync] [--grow]`: store
//! bytes through a shared read-write mapping of just the range they need.
//!
//! With `--grow`, a failure after the file was extended (a full disk, on
//! file systems such as ext4 that keep what `fallocate` reserved before it
//! ran out; a failed store or sync) puts the file back to its previous
//! length, or removes it if `--grow` created it: a failed command leaves no
//! gigabytes of zeros behind.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use clap::{ArgGroup, Args};
use mapped::{MapOptions, Mapping, Mode};
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
    #[arg(long, value_name = "N", value_parser = parse_size, allow_hyphen_values = true)]
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
    /// bytes end past its end. If the command then fails (no space, the
    /// file size limit), the file is put back to its previous length, or
    /// removed if it was created.
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
    if args.grow {
        let (fd, old_len, created) = file::open_or_create(path)?;
        // Kept to undo the growth: the mapping takes `fd`.
        let kept = fd
            .try_clone()
            .with_context(|| format!("dup {}", path.display()))?;
        // Makes the file at least `end` bytes long with its blocks reserved,
        // so the stores below cannot fault for want of space.
        let stored = opts
            .create_from(fd, path, end)
            .map_err(anyhow::Error::from)
            .and_then(|map| store(&map, &data, args.sync));
        return stored.map_err(|e| undo_grow(path, &kept, old_len, created, e));
    }
    let (fd, file_len) = file::open(path, true)?;
    if end > file_len {
        bail!(
            "{}: {len} bytes at offset {} would end at byte {end}, past the end of the \
             file ({file_len} bytes); pass --grow to extend the file",
            path.display(),
            args.offset
        );
    }
    store(&opts.map_file(fd, path)?, &data, args.sync)
}

/// Stores `data` at the start of `map`, and waits for the disk if `sync`.
fn store(map: &Mapping, data: &[u8], sync: bool) -> Result<()> {
    map.write_at(0, data)?;
    if sync {
        map.flush()?;
    }
    Ok(())
}

/// After `--grow` failed with `e`: takes the file back to the `old_len`
/// bytes it had (through `file`, the descriptor opened before growing), or
/// removes it if it was `created` here (and its name still leads to it);
/// returns `e` with what was done, or could not be done, added.
fn undo_grow(
    path: &Path,
    file: &File,
    old_len: u64,
    created: bool,
    e: anyhow::Error,
) -> anyhow::Error {
    let shown = path.display();
    let undone = if created {
        let ours = |m: &std::fs::Metadata| {
            file.metadata()
                .is_ok_and(|f| f.dev() == m.dev() && f.ino() == m.ino())
        };
        match std::fs::metadata(path) {
            Ok(m) if ours(&m) => match std::fs::remove_file(path) {
                Ok(()) => Some(format!("{shown}, which --grow created, was removed")),
                Err(re) => Some(format!(
                    "{shown}, which --grow created, could not be removed: {re}"
                )),
            },
            // Already gone (the library removes a file it made when
            // reserving fails), or another file now has its name.
            _ => None,
        }
    } else {
        match file.metadata() {
            Ok(m) if m.len() > old_len => match file.set_len(old_len) {
                Ok(()) => Some(format!(
                    "{shown} was put back to its previous length ({old_len} bytes)"
                )),
                Err(te) => Some(format!(
                    "{shown} could not be put back to its previous length ({old_len} bytes; \
                     it is {} bytes now): {te}",
                    m.len()
                )),
            },
            _ => None,
        }
    };
    match undone {
        Some(undone) => anyhow!("{}; {undone}", crate::message(&e)),
        None => e,
    }
}
