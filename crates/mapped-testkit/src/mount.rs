//! Small file systems mounted for full-disk tests: a tmpfs, or an ext4
//! image on a loop device, unmounted when the test ends.
//!
//! Mounting needs root (and, for ext4, `mkfs.ext4` and loop devices). Where
//! it is not possible, [`Mount::tmpfs_or_skip`] and [`Mount::ext4_or_skip`]
//! print a notice and return `None`, and the test passes without running,
//! unless [`REQUIRE_ENV`] is set (as in CI): then they panic, so that a
//! machine that should run the test cannot skip it silently.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The environment variable that turns "cannot mount here" from a skipped
/// test into a failed one.
pub const REQUIRE_ENV: &str = "MAPPED_TEST_REQUIRE_MOUNT";

/// A mounted file system, unmounted on drop (also when the test fails).
/// Drop every mapping and open file in it first.
#[derive(Debug)]
pub struct Mount {
    dir: PathBuf,
}

impl Mount {
    /// Mounts a tmpfs of `size` bytes on `dir`, or says why not.
    pub fn tmpfs(dir: &Path, size: u64) -> Result<Mount, String> {
        run(Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir))?;
        Ok(Mount {
            dir: dir.to_path_buf(),
        })
    }

    /// Makes an ext4 image of `size` bytes in `work` (sparse, `fs.img`) and
    /// mounts it through a loop device on `work/mnt`, or says why not.
    pub fn ext4(work: &Path, size: u64) -> Result<Mount, String> {
        let image = work.join("fs.img");
        let dir = work.join("mnt");
        std::fs::create_dir(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
        std::fs::File::create(&image)
            .and_then(|f| f.set_len(size))
            .map_err(|e| format!("create {}: {e}", image.display()))?;
        run(Command::new("mkfs.ext4").args(["-q", "-F"]).arg(&image))?;
        run(Command::new("mount")
            .args(["-t", "ext4", "-o", "loop"])
            .arg(&image)
            .arg(&dir))?;
        Ok(Mount { dir })
    }

    /// [`tmpfs`](Self::tmpfs), or `None` after a notice when mounting is
    /// not possible here and [`REQUIRE_ENV`] is not set.
    pub fn tmpfs_or_skip(dir: &Path, size: u64) -> Option<Mount> {
        or_skip(Mount::tmpfs(dir, size), "root")
    }

    /// [`ext4`](Self::ext4), or `None` after a notice when mounting is not
    /// possible here and [`REQUIRE_ENV`] is not set.
    pub fn ext4_or_skip(work: &Path, size: u64) -> Option<Mount> {
        or_skip(Mount::ext4(work, size), "root, mkfs.ext4 and loop devices")
    }

    /// Where the file system is mounted.
    pub fn dir(&self) -> &Path {
        &self.dir
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

/// The mount, or `None` after a notice; a panic instead of the notice when
/// [`REQUIRE_ENV`] is set.
fn or_skip(mounted: Result<Mount, String>, needs: &str) -> Option<Mount> {
    match mounted {
        Ok(m) => Some(m),
        Err(why) if std::env::var_os(REQUIRE_ENV).is_some() => {
            panic!("{REQUIRE_ENV} is set but {why}")
        }
        Err(why) => {
            println!(
                "NOTICE: full-disk test skipped: {why} (needs {needs}; set {REQUIRE_ENV} to make \
                 this a failure)"
            );
            None
        }
    }
}

/// Runs `cmd`; its standard error is the message if it fails.
fn run(cmd: &mut Command) -> Result<(), String> {
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
}
