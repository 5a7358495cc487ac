//! The `mapped` command-line tool.
fn main() {}
