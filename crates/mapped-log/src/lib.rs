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

// The modules, in layers; each uses only the layers above it in this list
// (CI checks that no module imports another in a circle: `.ci/acyclic`).
//
// 1. `format` (the bytes: constants, headers, record and slot words,
//    checksums) and `protocol` (the cross-process steps on shared words,
//    what loom and the conformance tests check): pure, no files.
// 2. `storage`: the files and their mappings: the control file and
//    `Inner`, the state every handle of an open log shares; segments, the
//    lock file, the directory, temporary files.
// 3. `threads`: helper threads on storage: segments made ahead and old
//    mappings unmapped, pages faulted in ahead, fork detection.
// 4. `ops`: what a log does, on `Inner`: create and open, append, read
//    (`ops/read/`: start, step, wait, unfinished records), named readers,
//    readiness, sync, repair, recovery, retention, inspection, damage.
// 5. `log`: the façade, `Log` and every one of its methods, each a call
//    into `ops`. Nothing the façade calls names `Log`; the one type below
//    that does is `Appender`, whose constructor takes a `&Log` and which
//    the façade never names.
//
// Tests: `conformance` runs the protocol's tests against the model and
// the real storage; `testing` makes temporary logs for unit tests.
//
// Under `--cfg loom` only the pure layer is built, with loom's atomics, for
// the model checks in `protocol/loom_tests.rs`; the rest of the crate talks
// to files and mappings and is left out.
mod error;
pub mod format;
mod protocol;

#[cfg(all(test, not(loom)))]
mod conformance;
#[cfg(not(loom))]
mod log;
#[cfg(not(loom))]
mod ops;
#[cfg(not(loom))]
mod storage;
#[cfg(all(test, not(loom)))]
mod testing;
#[cfg(not(loom))]
mod threads;

pub use error::{Handle, LogError, Result, SyncFailure};
#[cfg(not(loom))]
pub use log::Log;
#[cfg(not(loom))]
pub use ops::append::{Appender, Claim};
#[cfg(not(loom))]
pub use ops::damage::{Change, Problem, ProblemKind, QUARANTINE_DIR};
#[cfg(not(loom))]
pub use ops::inspect::Stat;
#[cfg(not(loom))]
pub use ops::open::LogOptions;
#[cfg(not(loom))]
pub use ops::read::{Message, Reader, Start, WaitStrategy};
#[cfg(not(loom))]
pub use ops::ready::{Readiness, SIGNAL_EVERY};
#[cfg(not(loom))]
pub use ops::recovery::RecoveryReport;
#[cfg(not(loom))]
pub use ops::retention::{RetainReport, Retention};
#[cfg(not(loom))]
pub use ops::sync::Durability;
#[cfg(not(loom))]
#[doc(hidden)]
pub use ops::sync::set_durable_nap_for_tests;
#[cfg(not(loom))]
pub use storage::control::CONTROL_FILE;
#[cfg(not(loom))]
pub use storage::dir::READERS_DIR;
#[cfg(not(loom))]
pub use storage::locks::LOCK_FILE;
#[cfg(not(loom))]
pub use storage::temp::Leftovers;

#[cfg(not(loom))]
/// The README's examples (of this crate and of `mapped`), compiled and run
/// as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
