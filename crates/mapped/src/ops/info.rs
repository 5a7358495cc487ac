//! What a file is to the mapping layer: its size against the storage
//! behind it, its file system and how much of it is in memory. These decide
//! how a mapping of the file behaves (`docs/safety.md`), so a program can
//! ask before it maps, and `mapped info` prints them.

use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::error::{IoError, Op};
use crate::mapping::Mapping;
use crate::ops::residency::Residency;

/// The facts about a file that decide how a shared mapping of it behaves.
///
/// - A file with fewer bytes [`allocated`](Self::allocated) than its
///   [`size`](Self::size) is sparse: the first store into a hole needs a
///   block, and on a full disk that store faults (`SIGBUS`, or
///   [`AccessError::Fault`](crate::AccessError::Fault) in a guarded
///   access). [`MapOptions::create`](crate::MapOptions::create) and
///   [`Mapping::grow`] reserve the blocks of the length they are given;
///   a file opened as it is keeps its holes.
/// - The file system ([`fs_name`](Self::fs_name)) says whether reserved
///   blocks stay reserved: copy-on-write file systems (btrfs, bcachefs, ZFS)
///   need new space for every overwrite, and tmpfs keeps the pages in memory.
/// - [`residency`](Self::residency) says which pages a read will find in
///   memory and which it must wait for the disk to supply.
///
/// ```
/// use mapped::{FileInfo, Mapping};
/// # fn main() -> Result<(), mapped::Error> {
/// # let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("data");
/// Mapping::create(&path, 1 << 20)?; // 1 MiB, every block reserved
///
/// let info = FileInfo::of(&path)?;
/// assert_eq!(info.size, 1 << 20);
/// if info.allocated < info.size {
///     println!("sparse: a first write to a hole can fault on a full disk");
/// }
/// println!(
///     "on {}, {} of {} pages in memory",
///     info.fs_name.unwrap_or("an unknown file system"),
///     info.residency.resident_pages(),
///     info.residency.total_pages(),
/// );
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct FileInfo {
    /// Length in bytes.
    pub size: u64,
    /// Bytes of storage allocated (`st_blocks * 512`): less than `size` for
    /// a sparse file, whose holes may fault with `ENOSPC` on first write.
    pub allocated: u64,
    /// The file system's magic number (`statfs.f_type`).
    pub fs_magic: u64,
    /// Its usual name, if known ([`fs_name`]).
    pub fs_name: Option<&'static str>,
    /// Which pages are in the page cache.
    pub residency: Residency,
}

impl FileInfo {
    /// Examines the file at `path`, mapping it read-only to ask `mincore`
    /// (which changes nothing: no page is read in). Fails as
    /// [`Mapping::open`] does, for a missing file, a directory, a FIFO.
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

/// The usual name of a file system, from its `statfs` magic number
/// (`linux/magic.h`); `None` for one this crate does not know.
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
