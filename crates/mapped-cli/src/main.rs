//! `mapped`: shared file mappings from the command line.
//!
//! `mapped cat`, `write`, `info` and `watch` read, store, examine and follow
//! bytes of a file through shared mappings; `mapped log ...` creates, appends
//! to, follows, checks, repairs and trims a `mapped-log` message log;
//! `mapped demo` is a guided tour.
//! Exit status: 0 on success, 1 on failure (with `mapped: <error>` on
//! stderr), 2 on bad usage. A closed output pipe ends a command quietly,
//! with status 0, except where it leaves input unprocessed: `mapped log
//! append --ids` then fails.

mod cli;
mod cmd;

use std::ffi::OsString;
use std::io::{self, Write};
use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // A file size limit (RLIMIT_FSIZE) should be an error from the call that
    // hits it, not death by SIGXFSZ.
    // SAFETY: setting a signal's disposition to SIG_IGN runs no code of ours
    // and affects nothing else in the process.
    unsafe { libc::signal(libc::SIGXFSZ, libc::SIG_IGN) };

    let args: Vec<OsString> = std::env::args_os().collect();
    if args.get(1).is_some_and(|a| a == cmd::demo::T_MMAP_COMMAND) {
        // The demo's child processes: exactly the `t_mmap` binary's code.
        let rest = &args[2..];
        return ExitCode::from(mapped_cli::t_mmap::run(
            rest,
            &mut io::stdout(),
            &mut io::stderr(),
        ));
    }

    let cli = cli::Cli::parse_from(args);
    match cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            if let Some(usage) = e.downcast_ref::<cmd::UsageError>() {
                cli::usage_error(usage.path, &usage.message);
            }
            let _ = writeln!(io::stderr(), "mapped: {}", message(&e));
            ExitCode::FAILURE
        }
    }
}

/// True if the error comes from writing to a pipe whose reader is gone (Rust
/// ignores `SIGPIPE`, so the write fails with `EPIPE`): `mapped cat | head`.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    })
}

/// The error and its causes, joined by `: `. Every error of the project's
/// libraries prints its own text only, and gives its cause as its
/// `source()`, so the chain says each thing once.
fn message(e: &anyhow::Error) -> String {
    e.chain()
        .map(|cause| cause.to_string())
        .collect::<Vec<_>>()
        .join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_part_of_a_chain_is_printed_once() {
        let os = io::Error::from_raw_os_error(libc::EEXIST);
        let shown = os.to_string();
        let e = anyhow::Error::new(mapped_log::LogError::Io {
            path: "d".into(),
            op: "create directory",
            source: os,
        })
        .context("line 3 of stdin");
        assert_eq!(
            message(&e),
            format!("line 3 of stdin: create directory d: {shown}")
        );
        let e = anyhow::anyhow!("ready").context("not ready");
        assert_eq!(message(&e), "not ready: ready");
    }
}
