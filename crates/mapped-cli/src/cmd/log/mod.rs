//! `mapped log ...`: create, append to, follow, examine, check, repair and
//! trim a `mapped-log` message log, one file per subcommand. What several
//! subcommands share is below them: opening the log (`open.rs`), argument
//! checks (`args.rs`) and shared text (`text.rs`).
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

mod args;
mod open;
mod text;

use anyhow::Result;
use clap::{Args, Subcommand};

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
