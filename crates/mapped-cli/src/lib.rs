//! Code shared by the `mapped` and `t_mmap` binaries.
//!
//! - [`t_mmap`]: TLPI Listing 49-2, run by the `t_mmap` binary and by the
//!   demo's child processes (`mapped __t_mmap`);
//! - [`size`]: sizes on the command line (`4096`, `4k`, `1GiB`);
//! - [`duration`]: durations on the command line (`30s`, `10m`, `7d`);
//! - [`od`]: an `od -c` dump, for showing files the way the book does;
//! - [`fields`]: aligned `key: value` reports, byte counts, plurals;
//! - [`errno`]: errno names, for TLPI-style error messages.

pub mod duration;
pub mod errno;
pub mod fields;
pub mod od;
pub mod size;
pub mod t_mmap;
