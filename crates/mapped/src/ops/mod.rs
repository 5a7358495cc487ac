//! What a [`Mapping`](crate::Mapping) does, one concern per file, each
//! adding methods to the type in `mapping.rs`:
//!
//! - `access`: guarded copies, plain-old-data values, atomics, raw views;
//! - `advice`: `madvise`, `mlock`, populating the page tables;
//! - `flush`: write-back and its sticky failure;
//! - `grow`: reserving space, growing and remapping the window;
//! - `residency`: which pages are in the page cache (`mincore`);
//! - `wait`: futex wait and wake on a word, in any process;
//! - `open`: opening or creating a file and mapping it ([`MapOptions`](crate::MapOptions)),
//!   which reserves space as `grow` does and advises as `advice` does;
//! - `info`: what a file is to the mapping layer ([`FileInfo`](crate::FileInfo)),
//!   which opens it and asks `residency`.

// First, so that rustdoc lists `Mapping`'s constructors before the rest of
// its methods.
pub(crate) mod open;

pub(crate) mod access;
pub(crate) mod advice;
pub(crate) mod flush;
pub(crate) mod grow;
pub(crate) mod info;
pub(crate) mod residency;
pub(crate) mod wait;
