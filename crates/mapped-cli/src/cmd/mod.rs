//! The subcommands of `mapped`, one file each, and what they share.

pub mod bench;
pub mod cat;
pub mod demo;
pub mod file;
pub mod info;
pub mod log;
pub mod stop;
pub mod watch;
pub mod write;
