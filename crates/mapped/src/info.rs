//! What a file looks like to the mapping layer: size, allocation, file
//! system, residency.

use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::error::{IoError, Op};
use crate::mapping::Mapping;
use crate::residency::Residency;

/// Facts about a file, for `mapped info`.
#[derive(Debug, Clone)]
pub struct FileInfo {
    /// Length in bytes.
    pub size: u64,
    /// Bytes of storage allocated (`st_blocks * 512`): less than `size` for
    /// a sparse file, whose holes may fault with `ENOSPC` on first write.
    pub allocated: u64,
    /// The file system's magic number (`statfs.f_type`).
    pub fs_magic: u64,
    /// Its usual name, if known.
    pub fs_name: Option<&'static str>,
    /// Which pages are in the page cache.
    pub residency: Residency,
}

impl FileInfo {
    /// Examines the file at `path`, mapping it read-only to ask `mincore`.
    pub fn of(path: impl AsRef<Path>) -> Result<FileInfo, crate::Error> {
        let map = Mapping::open(path)?;
        let path = map.path();
        let meta = map
            .file()
            .metadata()
            .map_err(|e| IoError::new(path, Op::Stat, e))?;
        let statfs = rustix::fs::fstatfs(map.file().as_fd())
            .map_err(|e| IoError::new(path, Op::Stat, e.into()))?;
        #[allow(clippy::unnecessary_cast)] // f_type's width differs by target
        let fs_magic = statfs.f_type as u64;
        Ok(FileInfo {
            size: meta.len(),
            allocated: meta.blocks() * 512,
            fs_magic,
            fs_name: fs_name(fs_magic),
            residency: map.residency()?,
        })
    }
}

/// Names of common file systems by `statfs` magic (linux/magic.h).
pub fn fs_name(magic: u64) -> Option<&'static str> {
    Some(match magic {
        0xEF53 => "ext2/ext3/ext4",
        0x5846_5342 => "xfs",
        0x9123_683E => "btrfs",
        0x0102_1994 => "tmpfs",
        0x858_458F6 => "ramfs",
        0x794C_7630 => "overlayfs",
        0x6969 => "nfs",
        0xFF53_4D42 => "cifs",
        0x2FC1_2FC1 => "zfs",
        0xF2F5_2010 => "f2fs",
        0x6573_5546 => "fuse",
        0x0102_1997 => "9p",
        0x4d44 => "vfat",
        0x5346_544e => "ntfs",
        0x2011_BAB0 => "exfat",
        0x7461_636f => "ocfs2",
        0xCA45_1A4E => "bcachefs",
        0x9fa0 => "proc",
        0x6265_6572 => "sysfs",
        _ => return None,
    })
}
