//! `mapped info FILE [--json]`: size, blocks allocated, page-cache
//! residency, file system and page size.

use std::io::{self, Write};
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use mapped::FileInfo;
use mapped_cli::fields::{aligned, bytes};

use super::file;

/// Show FILE's size, allocation, page-cache residency and file system.
///
/// FILE must be a regular file: a FIFO, socket, device, or a /proc or /sys
/// file (whose content is made when it is read) is refused.
#[derive(Debug, Args)]
pub struct InfoArgs {
    /// The file to examine.
    file: PathBuf,
    /// Print one JSON object instead, with the keys path, size,
    /// allocated_bytes, page_size, resident_pages, total_pages,
    /// resident_bytes, fs_type (null if unknown) and fs_magic.
    #[arg(long)]
    json: bool,
}

/// Runs `mapped info`.
pub fn run(args: &InfoArgs) -> Result<()> {
    // What the library's open would take: a /proc file (size 0) would be
    // reported as an empty file.
    file::open(&args.file, false)?;
    let info = FileInfo::of(&args.file)?;
    let text = if args.json {
        json(&args.file.to_string_lossy(), &info)
    } else {
        human(&args.file.to_string_lossy(), &info)
    };
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .context("write to stdout")
}

fn json(path: &str, info: &FileInfo) -> String {
    let r = &info.residency;
    let value = serde_json::json!({
        "path": path,
        "size": info.size,
        "allocated_bytes": info.allocated,
        "page_size": mapped::page_size(),
        "resident_pages": r.resident_pages(),
        "total_pages": r.total_pages(),
        "resident_bytes": r.resident_bytes(),
        "fs_type": info.fs_name,
        "fs_magic": info.fs_magic,
    });
    format!("{value}\n")
}

fn human(path: &str, info: &FileInfo) -> String {
    let r = &info.residency;
    let percent = if r.total_pages() == 0 {
        String::new()
    } else {
        format!(
            " ({:.1}%)",
            100.0 * r.resident_pages() as f64 / r.total_pages() as f64
        )
    };
    let page_size = mapped::page_size() as u64;
    let lines = [
        ("path", path.to_owned()),
        ("size", bytes(info.size)),
        ("allocated", bytes(info.allocated)),
        (
            "resident",
            format!(
                "{}/{} pages{percent}, {}",
                r.resident_pages(),
                r.total_pages(),
                bytes(r.resident_bytes())
            ),
        ),
        (
            "file system",
            format!(
                "{} (magic {:#x})",
                info.fs_name.unwrap_or("unknown"),
                info.fs_magic
            ),
        ),
        ("page size", bytes(page_size)),
    ];
    aligned(&lines)
}
