//! `t_mmap`: *The Linux Programming Interface*, Listing 49-2.
//!
//! `t_mmap file [new-value]`: shows the first 10 bytes of `file` through a
//! shared mapping and, given a new value, stores it there. See
//! [`mapped_cli::t_mmap`].

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<_> = std::env::args_os().skip(1).collect();
    let status = mapped_cli::t_mmap::run(&args, &mut std::io::stdout(), &mut std::io::stderr());
    ExitCode::from(status)
}
