//! `mapped log ...`: create, append to, follow, examine, check, repair and
//! trim a `mapped-log` message log, one file per subcommand.
//!
//! Every subcommand takes the log's directory first. Errors from the
//! library name the file or directory they concern; they are printed as
//! `mapped: <error>` with exit status 1 by `main`.

pub mod append;
pub mod create;
pub mod jetstream;
pub mod recover;
pub mod retain;
pub mod spam;
pub mod stat;
pub mod tail;
pub mod verify;

use std::path::Path;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use mapped_cli::fields::plural;
use mapped_cli::size::parse_size;
use mapped_log::{Log, LogError};

/// A persistent, multi-process message log: a directory of segment files.
///
/// Any number of processes append and read at once; messages survive the
/// death of any process (and, once synced, of the system).
#[derive(Debug, Args)]
pub struct LogArgs {
    #[command(subcommand)]
    command: LogCommand,
}

#[derive(Debug, Subcommand)]
enum LogCommand {
    Create(create::CreateArgs),
    Append(append::AppendArgs),
    Tail(tail::TailArgs),
    Stat(stat::StatArgs),
    Verify(verify::VerifyArgs),
    Recover(recover::RecoverArgs),
    Retain(retain::RetainArgs),
    Export(Box<jetstream::export::ExportArgs>),
    Replicate(Box<jetstream::replicate::ReplicateArgs>),
}

/// Runs `mapped log ...`.
pub fn run(args: &LogArgs) -> Result<()> {
    match &args.command {
        LogCommand::Create(a) => create::run(a),
        LogCommand::Append(a) => append::run(a),
        LogCommand::Tail(a) => tail::run(a),
        LogCommand::Stat(a) => stat::run(a),
        LogCommand::Verify(a) => verify::run(a),
        LogCommand::Recover(a) => recover::run(a),
        LogCommand::Retain(a) => retain::run(a),
        LogCommand::Export(a) => jetstream::export::run(a),
        LogCommand::Replicate(a) => jetstream::replicate::run(a),
    }
}

/// Opens the log in `dir`. A directory without a log is an error naming it
/// (the library's message suggests `mapped log create`).
fn open(dir: &Path) -> Result<Log> {
    // A missing directory is named as such, like a missing file elsewhere.
    std::fs::metadata(dir).with_context(|| format!("open {}", dir.display()))?;
    Log::open(dir).map_err(|e| with_hint(dir, e))
}

/// `e`, with the way out when it is a damaged control file beside segment
/// files: `mapped log recover` rebuilds it.
fn with_hint(dir: &Path, e: LogError) -> anyhow::Error {
    let hint = matches!(&e, LogError::NotALog { path, why }
        if *path == dir.join(mapped_log::CONTROL_FILE)
            && !why.to_string().contains("mapped log recover")
            && std::fs::read_dir(dir).is_ok_and(|mut d| d.any(|e| e.is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".seg")))));
    if hint {
        anyhow::anyhow!(
            "{e}; `mapped log recover {}` can rebuild it from the segment files",
            dir.display()
        )
    } else {
        e.into()
    }
}

/// [`open`] for commands that only look (`stat`, `verify`, and `tail`
/// without a name): a log whose files this user may not write (or on
/// read-only storage) is opened read-only instead, with a note on stderr
/// that ends with `limits` (what the command cannot do then).
fn open_to_inspect(dir: &Path, limits: &str) -> Result<Log> {
    std::fs::metadata(dir).with_context(|| format!("open {}", dir.display()))?;
    match Log::open(dir) {
        Ok(log) => Ok(log),
        Err(e) if write_denied(&e) => {
            let log = Log::open_read_only(dir)?;
            let pending = if log.restart_recovery_pending()? {
                "; the system restarted since a writer last opened it, so \
                 records past the durable position may be torn"
            } else {
                ""
            };
            eprintln!(
                "mapped: note: {} opened read-only ({e}){pending}{limits}",
                dir.display()
            );
            Ok(log)
        }
        Err(e) => Err(with_hint(dir, e)),
    }
}

/// Whether `e` is the system refusing write access to a file of the log
/// (permission, or a read-only file system).
fn write_denied(e: &LogError) -> bool {
    let io = match e {
        LogError::Mapped(mapped::Error::Open(mapped::OpenError::Io(io))) => io.os_error(),
        LogError::Io { source, .. } => source,
        _ => return false,
    };
    matches!(
        io.kind(),
        std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem
    )
}

/// Reports bad usage of `mapped log SUBCOMMAND` the way clap does (message
/// and usage on stderr, exit status 2), for what only the combination of
/// options can tell.
fn usage_error(subcommand: &str, message: &str) -> ! {
    use clap::CommandFactory;
    let mut cli = crate::cli::Cli::command();
    cli.build();
    match cli
        .find_subcommand_mut("log")
        .and_then(|log| log.find_subcommand_mut(subcommand))
    {
        Some(cmd) => cmd.error(clap::error::ErrorKind::ValueValidation, message),
        None => cli.error(clap::error::ErrorKind::ValueValidation, message),
    }
    .exit()
}

/// A size that fits the library's 32-bit message lengths.
fn parse_size_u32(s: &str) -> Result<u32, String> {
    let n = parse_size(s).map_err(|e| e.to_string())?;
    u32::try_from(n).map_err(|_| format!("{s} is too large (at most 4 GiB - 1)"))
}

/// A line about removed leftover temporary files, if there were any.
fn leftovers_line(l: mapped_log::Leftovers) -> Option<String> {
    (l.files > 0).then(|| {
        format!(
            "removed {} left by crashed processes ({} freed)",
            plural(l.files, "temporary file"),
            mapped_cli::size::format_size(l.bytes)
        )
    })
}

/// `0, 1, 2`.
fn list<T: ToString>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
