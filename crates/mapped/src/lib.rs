//! Shared file mappings done right.
//!
//! A shared mapping (`mmap` with `MAP_SHARED` on a regular file) gives fast
//! file I/O, with no copy between kernel and user space and one page-cache
//! buffer for every process, and fast persistent IPC: processes that map the
//! same file share the same physical pages, and the bytes stay in the file.
//! This crate closes the gaps a plain `mmap` leaves:
//!
//! - **Truncation- and fault-safe access.** [`Mapping::read_at`],
//!   [`Mapping::write_at`] and friends turn the `SIGBUS` of a file that
//!   another process truncated, or of a page the kernel cannot supply, into
//!   an [`AccessError::Fault`] instead of killing the process.
//! - **Space reserved up front.** [`MapOptions::create`] and
//!   [`Mapping::grow`] reserve the file's blocks with `fallocate`, so a full
//!   disk or a file size limit is an error from that call, not a `SIGBUS`
//!   when a page is first written (except on copy-on-write file systems and
//!   in holes of existing files: see `docs/safety.md`).
//! - **Growth the borrow checker polices.** [`Mapping::grow`] takes
//!   `&mut self`, so no reference into the old address range survives an
//!   `mremap` that moves it.
//! - **Honest write-back.** [`Mapping::flush`] (`msync(MS_SYNC)`),
//!   [`Mapping::start_writeback`] (`sync_file_range`, since `MS_ASYNC` does
//!   nothing on Linux), [`Mapping::sync_data`], [`Mapping::sync_all`]; a
//!   failed sync is sticky, never retried into a false success. What each
//!   promises is in `docs/durability.md`.
//! - **Cross-process synchronisation.** Atomics at an offset
//!   ([`Mapping::atomic_u32`], [`Mapping::atomic_u64`]) and futex
//!   [`wait`]/[`wake`] that work between processes.
//! - **Residency** ([`Mapping::residency`], `mincore`) and access
//!   [`Advice`] (`madvise`), with the advice that can change contents behind
//!   `unsafe` ([`UncheckedAdvice`]).
//!
//! # Example
//!
//! ```
//! use mapped::Mapping;
//! # fn main() -> Result<(), mapped::Error> {
//! # let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("counter");
//!
//! // Create a 4 KiB file (mode 0600, blocks reserved) and map it shared.
//! let map = Mapping::create(&path, 4096)?;
//! map.write_at(8, b"hello")?;
//! let counter = map.atomic_u64(0)?;
//! counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
//! map.flush()?; // msync(MS_SYNC): on disk when this returns
//!
//! // Another mapping of the file, as another process would have, sees both.
//! let other = Mapping::open(&path)?;
//! let mut buf = [0u8; 5];
//! other.read_at(8, &mut buf)?;
//! assert_eq!(&buf, b"hello");
//! assert_eq!(other.read_pod::<u64>(0)?, 1);
//!
//! // Reads past the end are errors naming the file, not crashes.
//! assert!(other.read_at(4095, &mut buf).is_err());
//! # Ok(()) }
//! ```
//!
//! # Safety model
//!
//! Opening and the copying accessors are safe: they never form a Rust
//! reference to bytes another process may change. Borrowing views
//! ([`Mapping::as_slice`]) are `unsafe`, for callers who control the file.
//! `docs/safety.md` states the contract in full.
//!
//! # Platform
//!
//! Linux only: the guarantees above rest on `mremap`, `fallocate`,
//! `sync_file_range`, futexes and Linux's `SIGBUS` semantics. Rather than
//! pretend to offer them elsewhere, the crate does not build on other
//! systems.

#![deny(unsafe_code)]

#[cfg(not(target_os = "linux"))]
compile_error!("mapped supports Linux only: see the crate documentation");

// The modules, in layers; each uses only the layers above it in this list
// (CI checks that no module imports another in a circle: `.ci/acyclic`).
//
// 1. `sys`: the kernel interface: `mmap`, `mremap`, `munmap` of a region,
//    the `SIGBUS` handler behind guarded accesses, and the flags the calls
//    take (`Mode`, `Advice`). Knows nothing of `Mapping`.
// 2. `error`: the error types, which name a file and an operation.
// 3. `mapping`: the `Mapping` type, its fields and its window.
// 4. `ops`: what a mapping does, one file per concern, each adding methods
//    to `Mapping`: access, advice, flush, grow, residency, wait; then
//    opening and creating (`MapOptions`), and `FileInfo`, built on those.
mod error;
mod mapping;
mod ops;
mod sys;

pub use error::{
    AccessError, Error, FaultCause, FileSizeLimitError, GrowError, IoError, Op, OpenError,
    PoisonedError, SyncError,
};
pub use mapping::Mapping;
pub use ops::info::{FileInfo, fs_name};
pub use ops::open::MapOptions;
pub use ops::residency::{Residency, residency};
pub use ops::wait::{WaitOutcome, wait, wake, wake_all};
pub use sys::advice::{Advice, UncheckedAdvice};
pub use sys::mode::Mode;

/// The system page size in bytes.
pub fn page_size() -> usize {
    sys::page_size()
}
