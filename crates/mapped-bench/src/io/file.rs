//! The file the read rows run on: made by the benchmark, or the user's.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::error::{BenchError, Result};
use crate::sys;

/// An open file under benchmark.
#[derive(Debug)]
pub(crate) struct BenchFile {
    pub(crate) file: File,
    pub(crate) path: PathBuf,
    pub(crate) len: u64,
    /// True for a file this benchmark made: nobody else has it open, and
    /// no other process can (0600, in a 0700 directory of ours).
    pub(crate) owned: bool,
}

impl BenchFile {
    /// Opens the user's file read-only.
    pub(crate) fn open(path: &Path) -> Result<BenchFile> {
        let file = File::open(path).map_err(|e| BenchError::io("open", path, e))?;
        let meta = file
            .metadata()
            .map_err(|e| BenchError::io("stat", path, e))?;
        if !meta.is_file() {
            return Err(BenchError::Options(format!(
                "{} is not a regular file",
                path.display()
            )));
        }
        Ok(BenchFile {
            file,
            path: path.to_path_buf(),
            len: meta.len(),
            owned: false,
        })
    }

    /// Creates a `len`-byte file of pseudo-random bytes, synced, so that
    /// its pages are clean and can be evicted.
    pub(crate) fn create(path: &Path, len: u64) -> Result<BenchFile> {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| BenchError::io("create", path, e))?;
        fill(&mut file, path, len)?;
        file.sync_data()
            .map_err(|e| BenchError::io("fdatasync", path, e))?;
        Ok(BenchFile {
            file,
            path: path.to_path_buf(),
            len,
            owned: true,
        })
    }

    /// Reads the whole file once, so that it is in the page cache; returns
    /// the fraction of it resident afterwards.
    pub(crate) fn load(&self) -> Result<f64> {
        let mut buf = vec![0u8; 1 << 20];
        let mut off = 0;
        while off < self.len {
            let n = (self.len - off).min(buf.len() as u64) as usize;
            self.file
                .read_exact_at(&mut buf[..n], off)
                .map_err(|e| BenchError::io("read", &self.path, e))?;
            off += n as u64;
        }
        self.resident_fraction()
    }

    /// Drops the file's pages from the page cache; returns the fraction
    /// still resident (pages mapped elsewhere, or a file system such as
    /// tmpfs whose pages are its storage, stay).
    pub(crate) fn evict(&self) -> Result<f64> {
        // Dirty pages cannot be dropped: ours never are (synced at
        // creation), a user's file may be.
        if !self.owned {
            let _ = self.file.sync_data();
        }
        // Pages under read-ahead I/O still in flight (from the run before)
        // cannot be dropped yet: try again briefly.
        let mut left = 1.0;
        for attempt in 0..5 {
            if attempt > 0 {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            sys::evict(&self.file).map_err(|e| BenchError::io("posix_fadvise", &self.path, e))?;
            left = self.resident_fraction()?;
            if left < 0.001 {
                break;
            }
        }
        Ok(left)
    }

    /// The fraction of the file in the page cache (`mincore` through a
    /// mapping that is never touched, so it changes nothing).
    pub(crate) fn resident_fraction(&self) -> Result<f64> {
        Ok(self.resident_bytes()? as f64 / self.len.max(1) as f64)
    }

    /// Bytes of the file in the page cache.
    pub(crate) fn resident_bytes(&self) -> Result<u64> {
        let map = self.map(None)?;
        Ok(map.residency()?.resident_bytes().min(self.len))
    }

    /// A read-only mapping of the whole file with `advice`, through a new
    /// descriptor of the same open file.
    pub(crate) fn map(&self, advice: Option<mapped::Advice>) -> Result<mapped::Mapping> {
        let mut opts = mapped::MapOptions::new();
        if let Some(a) = advice {
            opts.advice(a);
        }
        self.map_with(&opts)
    }

    pub(crate) fn map_with(&self, opts: &mapped::MapOptions) -> Result<mapped::Mapping> {
        let fd = self
            .file
            .try_clone()
            .map_err(|e| BenchError::io("dup", &self.path, e))?;
        Ok(opts.map_file(fd, &self.path)?)
    }

    pub(crate) fn describe(&self, hot_len: u64) -> FileDesc {
        use std::os::fd::AsFd;
        let fs = rustix::fs::fstatfs(self.file.as_fd()).ok().map(|st| {
            #[allow(clippy::unnecessary_cast)] // f_type's width differs by target
            let magic = st.f_type as u64;
            mapped::fs_name(magic)
                .map(str::to_string)
                .unwrap_or_else(|| format!("{magic:#x}"))
        });
        FileDesc {
            path: self.path.clone(),
            len: self.len,
            created: self.owned,
            fs,
            read_ahead_kb: sys::read_ahead_kb(&self.file),
            hot_len,
        }
    }
}

/// Writes `len` pseudo-random bytes (incompressible, never zero pages).
fn fill(file: &mut File, path: &Path, len: u64) -> Result<()> {
    let mut rng = Rng::new(0x5eed);
    let mut buf = vec![0u8; 1 << 20];
    let mut left = len;
    while left > 0 {
        for chunk in buf.chunks_exact_mut(8) {
            chunk.copy_from_slice(&rng.next().to_le_bytes());
        }
        let n = left.min(buf.len() as u64) as usize;
        file.write_all(&buf[..n])
            .map_err(|e| BenchError::io("write", path, e))?;
        left -= n as u64;
    }
    Ok(())
}

/// xorshift64*: fast, seeded, good enough for offsets and filler.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub(crate) fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (n > 0), by multiply-shift.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        ((self.next() as u128 * n as u128) >> 64) as u64
    }

    /// Shuffles `v` (Fisher–Yates).
    pub(crate) fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            v.swap(i, j);
        }
    }
}

/// The file the reads ran on.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FileDesc {
    /// Its path.
    pub path: PathBuf,
    /// Its length in bytes.
    pub len: u64,
    /// Whether the benchmark created it (and removed it afterwards).
    pub created: bool,
    /// Its file system, if known.
    pub fs: Option<String>,
    /// The block device's read-ahead window in KiB, if known.
    pub read_ahead_kb: Option<u64>,
    /// The hot subset's length in bytes.
    pub hot_len: u64,
}
