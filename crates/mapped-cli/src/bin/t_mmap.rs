//! `t_mmap`, TLPI Listing 49-2.
fn main() {}
