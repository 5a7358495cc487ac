//! Helpers shared by the log's integration tests: re-executing the test
//! binary as a child process in a given role, self-checking payloads, a
//! seeded random generator, timeouts that turn a hang into a failure, and
//! file surgery (boot id, page copies) for restart simulations.

#![allow(dead_code)] // each test binary uses a different subset

use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::Duration;

#[allow(unused_imports)] // each test binary uses a different subset
pub use mapped_testkit::child::*;

/// A number from the environment, or `default`.
pub fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a number")),
        Err(_) => default,
    }
}

/// A seed from `MAPPED_LOG_SEED`, or a fresh one; printed so that a failing
/// run can be replayed.
pub fn seed(test: &str) -> u64 {
    let seed = match std::env::var("MAPPED_LOG_SEED") {
        Ok(v) => v.trim().parse().expect("MAPPED_LOG_SEED is a number"),
        Err(_) => {
            use std::hash::{BuildHasher, Hasher};
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u32(std::process::id());
            h.finish()
        }
    };
    println!("{test}: seed {seed} (replay with MAPPED_LOG_SEED={seed})");
    seed
}

/// SplitMix64: small, seedable, good enough to pick instants and offsets.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix(self.0)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// A number in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    /// True with probability `1 / n`.
    pub fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }

    /// `len` random bytes.
    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next_u64() as u8).collect()
    }
}

/// SplitMix64's finaliser.
pub fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

// --- self-checking payloads -------------------------------------------------

/// Bytes before the variable content of a [`payload`].
pub const PAYLOAD_HEAD: usize = 16;
/// The largest variable content of a [`payload`].
pub const MAX_CONTENT: u64 = 300;
const PAYLOAD_MAGIC: u16 = 0x4d4c; // "LM"

/// The payload of message `seq` of writer `writer`: writer (u32), seq (u64),
/// content length (u16), magic (u16), then 0..=300 bytes derived from
/// `(writer, seq)`. Anyone can check it with [`check_payload`] alone.
pub fn payload(writer: u32, seq: u64) -> Vec<u8> {
    let key = mix(((writer as u64) << 40) ^ seq);
    let len = (key % (MAX_CONTENT + 1)) as usize;
    let mut p = Vec::with_capacity(PAYLOAD_HEAD + len);
    p.extend_from_slice(&writer.to_le_bytes());
    p.extend_from_slice(&seq.to_le_bytes());
    p.extend_from_slice(&(len as u16).to_le_bytes());
    p.extend_from_slice(&PAYLOAD_MAGIC.to_le_bytes());
    let mut rng = Rng::new(key);
    p.extend((0..len).map(|_| rng.next_u64() as u8));
    p
}

/// Checks a [`payload`]; returns its `(writer, seq)`.
pub fn check_payload(p: &[u8]) -> Result<(u32, u64), String> {
    if p.len() < PAYLOAD_HEAD {
        return Err(format!("payload of {} bytes is too short", p.len()));
    }
    let writer = u32::from_le_bytes(p[0..4].try_into().unwrap());
    let seq = u64::from_le_bytes(p[4..12].try_into().unwrap());
    let want = payload(writer, seq);
    if p != want.as_slice() {
        let at = p.iter().zip(&want).position(|(a, b)| a != b);
        return Err(format!(
            "payload of writer {writer} seq {seq} is damaged: {} bytes, expected {}, first difference at {at:?}",
            p.len(),
            want.len()
        ));
    }
    Ok((writer, seq))
}

// --- hangs become failures ------------------------------------------------------

/// Runs `f` on its own thread and returns its result; a panic in `f` is
/// re-raised here, and if `f` has not finished after `limit` this panics
/// (the thread is left behind: the test has failed anyway).
pub fn with_timeout<R: Send + 'static>(
    what: &str,
    limit: Duration,
    f: impl FnOnce() -> R + Send + 'static,
) -> R {
    let (tx, rx) = std::sync::mpsc::channel();
    let handle = std::thread::spawn(move || {
        let r = f();
        let _ = tx.send(());
        r
    });
    match rx.recv_timeout(limit) {
        Ok(()) | Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => match handle.join() {
            Ok(r) => r,
            Err(p) => std::panic::resume_unwind(p),
        },
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            panic!("{what}: still running after {limit:?}: a hang")
        }
    }
}

// --- file surgery ----------------------------------------------------------------

/// Overwrites `bytes` at `offset` of the file at `path` (`pwrite`).
pub fn pwrite(path: &Path, offset: u64, bytes: &[u8]) {
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    f.write_all_at(bytes, offset)
        .unwrap_or_else(|e| panic!("pwrite {}: {e}", path.display()));
}

/// Reads `len` bytes at `offset` of the file at `path` (`pread`).
pub fn pread(path: &Path, offset: u64, len: usize) -> Vec<u8> {
    let f = std::fs::File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let mut buf = vec![0u8; len];
    f.read_exact_at(&mut buf, offset)
        .unwrap_or_else(|e| panic!("pread {}: {e}", path.display()));
    buf
}

/// Makes the log in `dir` look as if it was last opened in another boot:
/// the next opener runs restart recovery. The log must be closed.
pub fn simulate_restart(dir: &Path) {
    let mut id = [0u8; mapped_log::format::BOOT_ID_LEN];
    id[..36].copy_from_slice(b"00000000-dead-beef-0000-000000000000");
    pwrite(
        &dir.join(mapped_log::CONTROL_FILE),
        mapped_log::format::CONTROL_BOOT_ID,
        &id,
    );
}

/// The path of segment `index`'s file in the log directory `dir`.
pub fn segment_path(dir: &Path, index: u64) -> std::path::PathBuf {
    dir.join(format!("{index:020}.seg"))
}

/// Copies the regular files of directory `from` (not subdirectories) into
/// `to`, which is created.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}
