//! A full file system: growing or creating past the free space is an
//! `ENOSPC` error naming the file, from the call itself (the blocks are
//! reserved up front), and nothing written earlier is lost.
//!
//! Needs a small tmpfs, mounted here with `mount(8)` (`mapped_testkit::mount`),
//! which needs root. If the mount fails the test prints a notice and passes,
//! unless `MAPPED_TEST_REQUIRE_MOUNT` is set (as in CI), when it fails.

mod common;

use std::path::Path;

use common::pattern_bytes;
use mapped::{GrowError, IoError, Mapping, Op, OpenError};
use mapped_testkit::mount::Mount;

const FS_SIZE: u64 = 1 << 20;

fn check_no_space(e: &IoError, path: &Path) {
    assert!(e.is_no_space(), "{e}");
    assert_eq!(e.os_error().raw_os_error(), Some(libc::ENOSPC));
    assert_eq!(e.op(), Op::Allocate);
    assert_eq!(e.path(), path);
    let text = e.to_string();
    assert!(text.contains(path.to_str().unwrap()), "{text}");
    assert!(text.contains("fallocate"), "{text}");
}

#[test]
fn full_file_system_is_an_error_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let Some(_mount) = Mount::tmpfs_or_skip(dir.path(), FS_SIZE) else {
        return;
    };
    // Declared after the mount: every mapping is gone before it unmounts.
    let path = dir.path().join("data");
    let start = 256 << 10;
    let data = pattern_bytes(0, start);
    let mut map = Mapping::create(&path, start as u64).unwrap();
    assert_eq!(mapped::FileInfo::of(&path).unwrap().fs_name, Some("tmpfs"));
    map.write_at(0, &data).unwrap();
    map.flush().unwrap();

    // Growing past the free space fails in `grow`, with nothing changed.
    match map.grow(2 * FS_SIZE as usize) {
        Err(GrowError::Io(e)) => check_no_space(&e, &path),
        other => panic!("grow past the free space: {other:?}"),
    }
    assert_eq!(map.len(), start);
    // tmpfs undoes a failed fallocate entirely (other file systems may
    // leave the file partly extended, as `grow` documents).
    assert_eq!(map.file_len().unwrap(), start as u64);
    let mut buf = vec![0u8; start];
    map.read_at(0, &mut buf).unwrap();
    assert_eq!(buf, data);
    map.write_at(0, b"still writable").unwrap();
    map.flush().unwrap();

    // Creating a file larger than the file system fails cleanly: an error,
    // and no length or blocks left behind.
    let big = dir.path().join("big");
    match Mapping::create(&big, 4 * FS_SIZE) {
        Err(OpenError::Io(e)) => check_no_space(&e, &big),
        other => panic!("create larger than the file system: {other:?}"),
    }
    assert!(
        !big.exists(),
        "a file that create made and could not reserve is removed"
    );
    // So a retry that insists on a new file can still succeed.
    let retry = mapped::MapOptions::new()
        .mode(mapped::Mode::ReadWrite)
        .create_new(true)
        .create(&big, 4096)
        .unwrap();
    assert_eq!(retry.len(), 4096);
    drop(retry);
    std::fs::remove_file(&big).unwrap();

    // The failed calls gave back what they had allocated: a grow that fits
    // still succeeds, and every page of it can be written (no SIGBUS: the
    // blocks are reserved).
    let grown = 2 * start;
    map.grow(grown).unwrap();
    assert_eq!(map.file_len().unwrap(), grown as u64);
    map.fill(start as u64, grown - start, 0xA5).unwrap();
    map.flush().unwrap();
    map.read_at(0, &mut buf).unwrap();
    assert_eq!(&buf[..14], b"still writable");
    assert_eq!(buf[14..], data[14..]);
    let mut tail = vec![0u8; grown - start];
    map.read_at(start as u64, &mut tail).unwrap();
    assert!(tail.iter().all(|&b| b == 0xA5));
    drop(map);
    let meta = std::fs::metadata(&path).unwrap();
    assert_eq!(meta.len(), grown as u64);
}
