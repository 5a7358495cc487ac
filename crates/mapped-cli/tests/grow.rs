//! `mapped write --grow` on a full file system: the growth is undone.
//!
//! ext4 keeps the blocks that `fallocate` reserved before it ran out of
//! space, and the file's new length with them; the command must take the
//! file back to its length before the command (or remove it, if `--grow`
//! created it), not leave it holding most of the free space.
//!
//! Needs a small ext4 file system, made in a file and mounted here through
//! a loop device (`mapped_testkit::mount`), which needs root, `mkfs.ext4`
//! and loop devices. If that is not possible the test prints a notice and
//! passes, unless `MAPPED_TEST_REQUIRE_MOUNT` is set (as in CI), when it
//! fails.

mod common;

use std::fs;

use common::{MAPPED, run_timed, tempdir, text};
use mapped_testkit::mount::Mount;

/// The file system's size: small, so that filling it is quick.
const FS_SIZE: u64 = 8 << 20;

#[test]
fn a_grow_that_runs_out_of_space_puts_the_file_back() {
    let work = tempdir();
    let Some(mount) = Mount::ext4_or_skip(work.path(), FS_SIZE) else {
        return;
    };
    let dir = mount.dir();
    let path = dir.join("f");
    fs::write(&path, b"0123456789").unwrap();

    // 16 MiB cannot fit in 8: fallocate reserves what there is, then fails.
    let out = run_timed(
        dir,
        MAPPED,
        &["write", "f", "--offset", "16M", "x", "--grow"],
    );
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.starts_with("mapped: fallocate f: No space left on device")
            && err.contains("f was put back to its previous length (10 bytes)"),
        "{err}"
    );
    assert_eq!(fs::metadata(&path).unwrap().len(), 10);
    assert_eq!(fs::read(&path).unwrap(), b"0123456789");

    // A file that --grow created is removed again.
    let out = run_timed(
        dir,
        MAPPED,
        &["write", "new", "--offset", "16M", "x", "--grow"],
    );
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("new: No space left on device"), "{err}");
    assert!(!dir.join("new").exists());

    // The space is free again: a growth that fits works.
    let out = run_timed(
        dir,
        MAPPED,
        &["write", "f", "--offset", "4M", "x", "--grow", "--sync"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(fs::metadata(&path).unwrap().len(), (4 << 20) + 1);
}
