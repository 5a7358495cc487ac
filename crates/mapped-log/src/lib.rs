//! A persistent, crash-safe, multi-process message log in shared file
//! mappings.
//!
//! A log is a directory of fixed-size segment files. Any number of
//! processes append at once, without locks: each reserves space with an
//! atomic add on the segment's tail counter, writes its record in place, and
//! commits it with a release store. Any number of processes read, each
//! seeing every message in the same order. Messages pass at memory speed,
//! through the page cache every process shares, and stay in the files.
//!
//! A process killed at any instant never blocks the others for long and
//! never makes a committed message disappear: appenders hold kernel locks
//! that die with them, and their unfinished records are turned into padding
//! by whoever finds them (see `docs/format.md`).
//!
//! ```
//! use mapped_log::{Appender, Log, LogOptions, Start};
//! # fn main() -> Result<(), mapped_log::LogError> {
//! # let dir = tempfile::tempdir().unwrap();
//! let log = Log::create(dir.path().join("events"), LogOptions::default())?;
//! let mut appender = Appender::new(&log)?;
//! let id = appender.append(b"hello")?;
//!
//! let mut reader = log.reader(Start::Beginning)?;
//! let msg = reader.try_next()?.expect("committed");
//! assert_eq!((msg.id(), msg.payload()), (id, &b"hello"[..]));
//! # Ok(()) }
//! ```

#![deny(unsafe_code)]
#![cfg_attr(loom, allow(dead_code))]

// The format is little-endian, and the atomics in the mappings are read and
// written in the host's byte order: the two agree only on little-endian
// machines. Rather than a format that silently differs, no build elsewhere.
#[cfg(not(target_endian = "little"))]
compile_error!("mapped-log's format is little-endian; big-endian hosts are not supported");

// Under `--cfg loom` only the protocol (and the pure format) is built, with
// loom's atomics, for the model checks in `protocol/loom_tests.rs`; the rest
// of the crate talks to files and mappings and is left out.
mod crc;
#[cfg(not(loom))]
mod damage;
mod error;
pub mod format;
mod protocol;
mod slots;

#[cfg(not(loom))]
mod append;
#[cfg(not(loom))]
mod background;
#[cfg(not(loom))]
mod cursor;
#[cfg(not(loom))]
mod fork;
#[cfg(not(loom))]
mod inspect;
#[cfg(not(loom))]
mod log;
#[cfg(not(loom))]
mod prefault;
#[cfg(not(loom))]
mod read;
#[cfg(not(loom))]
mod ready;
#[cfg(not(loom))]
mod recovery;
#[cfg(not(loom))]
mod repair;
#[cfg(not(loom))]
mod segment;
#[cfg(not(loom))]
mod sync;
#[cfg(not(loom))]
mod temp;
#[cfg(not(loom))]
mod words;

#[cfg(not(loom))]
pub use append::{Appender, Claim};
#[cfg(not(loom))]
pub use cursor::READERS_DIR;
#[cfg(not(loom))]
pub use damage::{Change, Problem, ProblemKind, QUARANTINE_DIR};
pub use error::{LogError, Result};
#[cfg(not(loom))]
pub use inspect::{RetainReport, Retention, Stat};
#[cfg(not(loom))]
pub use log::{CONTROL_FILE, LOCK_FILE, Log, LogOptions};
#[cfg(not(loom))]
pub use read::{Message, Reader, Start, WaitStrategy};
#[cfg(not(loom))]
pub use ready::{Readiness, SIGNAL_EVERY};
#[cfg(not(loom))]
pub use recovery::RecoveryReport;
#[cfg(not(loom))]
pub use sync::Durability;
#[cfg(not(loom))]
pub use temp::Leftovers;

#[cfg(not(loom))]
/// The README's examples (of this crate and of `mapped`), compiled and run
/// as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;

/// A random number, for temporary file names and log identities: std's
/// hasher keys are drawn from the OS's random source once per process and
/// advanced per call, so each call differs.
#[cfg(not(loom))]
pub(crate) fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.finish()
}
