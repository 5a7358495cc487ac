//! Code shared by the `mapped` and `t_mmap` binaries.
//!
//! - [`t_mmap`]: TLPI Listing 49-2, run by the `t_mmap` binary and by the
//!   demo's child processes (`mapped __t_mmap`);
//! - [`size`]: sizes on the command line (`4096`, `4k`, `1GiB`);
//! - [`duration`]: durations on the command line (`500ms`, `30s`, `7d`);
//! - [`count`]: counts on the command line (at least 1);
//! - [`regular`]: opening a file to map, refusing FIFOs, sockets, devices
//!   and `/proc` files at once;
//! - [`od`]: an `od -c` dump, for showing files the way the book does;
//! - [`fields`]: aligned `key: value` reports, byte counts, plurals;
//! - [`errno`]: errno names, for TLPI-style error messages;
//! - [`reaped`]: a child process killed and reaped when dropped (the demo's
//!   children, and the CLI tests').

pub mod count;
pub mod duration;
pub mod errno;
pub mod fields;
pub mod od;
pub mod reaped;
pub mod regular;
pub mod size;
pub mod t_mmap;
