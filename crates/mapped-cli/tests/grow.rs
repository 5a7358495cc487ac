//! `mapped write --grow` on a full file system: the growth is undone.
//!
//! ext4 keeps the blocks that `fallocate` reserved before it ran out of
//! space, and the file's new length with them; the command must take the
//! file back to its length before the command (or remove it, if `--grow`
//! created it), not leave it holding most of the free space.
//!
//! Needs a small ext4 file system, made in a file and mounted here through
//! a loop device, which needs root, `mkfs.ext4` and loop devices. If that
//! is not possible the test prints a notice and passes, unless
//! `MAPPED_TEST_REQUIRE_MOUNT` is set (as in CI), when it fails.

mod common;

use std::ffi::CString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{MAPPED, run_timed, tempdir, text};

/// The file system's size: small, so that filling it is quick.
const FS_SIZE: &str = "8M";

/// A mounted ext4 image, unmounted on drop (also when the test fails).
struct Mount {
    dir: PathBuf,
}

impl Mount {
    /// Makes an ext4 image in `work` and mounts it on `work/mnt`, or says
    /// why not.
    fn ext4(work: &Path) -> Result<Mount, String> {
        let image = work.join("fs.img");
        let dir = work.join("mnt");
        fs::create_dir(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
        let run = |cmd: &mut Command| {
            let out = cmd
                .output()
                .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
            if out.status.success() {
                Ok(())
            } else {
                Err(format!(
                    "{cmd:?} failed ({}): {}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr).trim()
                ))
            }
        };
        run(Command::new("truncate").args(["-s", FS_SIZE]).arg(&image))?;
        run(Command::new("mkfs.ext4").args(["-q", "-F"]).arg(&image))?;
        run(Command::new("mount")
            .args(["-t", "ext4", "-o", "loop"])
            .arg(&image)
            .arg(&dir))?;
        Ok(Mount { dir })
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let c = CString::new(self.dir.as_os_str().as_bytes()).unwrap();
        // SAFETY: plain system call on a valid C string.
        if unsafe { libc::umount2(c.as_ptr(), 0) } != 0 {
            let e = std::io::Error::last_os_error();
            eprintln!("umount {} failed ({e}); detaching it", self.dir.display());
            // SAFETY: as above.
            unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
        }
    }
}

/// Mounts the file system, or returns `None` after a notice when that is
/// not possible here and not required.
fn mount_or_skip(work: &Path) -> Option<Mount> {
    match Mount::ext4(work) {
        Ok(m) => Some(m),
        Err(why) if std::env::var_os("MAPPED_TEST_REQUIRE_MOUNT").is_some() => {
            panic!("MAPPED_TEST_REQUIRE_MOUNT is set but {why}")
        }
        Err(why) => {
            println!(
                "NOTICE: full-disk grow test skipped: {why} (needs root, mkfs.ext4 and loop \
                 devices; set MAPPED_TEST_REQUIRE_MOUNT to make this a failure)"
            );
            None
        }
    }
}

#[test]
fn a_grow_that_runs_out_of_space_puts_the_file_back() {
    let work = tempdir();
    let Some(mount) = mount_or_skip(work.path()) else {
        return;
    };
    let dir = &mount.dir;
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
