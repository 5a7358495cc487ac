//! The command line of `mapped`: subcommands and their dispatch.

use anyhow::Result;
use clap::{Parser, Subcommand};

use crate::cmd::{bench, cat, demo, info, log, watch, write};

/// Shared file mappings from the command line.
///
/// Sizes and offsets accept binary units: 4096, 4k, 4KiB, 1M, 1GiB, 0x1000.
#[derive(Debug, Parser)]
#[command(name = "mapped", version)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Cat(cat::CatArgs),
    Write(write::WriteArgs),
    Info(info::InfoArgs),
    Watch(watch::WatchArgs),
    Log(log::LogArgs),
    Bench(bench::BenchArgs),
    Demo(demo::DemoArgs),
    #[command(name = log::spam::COMMAND, hide = true)]
    LogSpam(log::spam::SpamArgs),
}

/// Reports bad usage of `mapped SUBCOMMAND...` (`path`, as in `["bench",
/// "ipc"]`) the way clap does (message and usage on stderr, exit status
/// 2), for what only running the command can tell.
pub fn usage_error(path: &[&str], message: &str) -> ! {
    use clap::CommandFactory;
    let mut cmd = Cli::command();
    // Names every subcommand's usage `mapped ...`.
    cmd.build();
    for name in path {
        match cmd.find_subcommand(name) {
            Some(sub) => cmd = sub.clone(),
            None => break,
        }
    }
    cmd.error(clap::error::ErrorKind::ValueValidation, message)
        .exit()
}

/// Runs the subcommand.
pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Cat(args) => cat::run(&args),
        Command::Write(args) => write::run(&args),
        Command::Info(args) => info::run(&args),
        Command::Watch(args) => watch::run(&args),
        Command::Log(args) => log::run(&args),
        Command::Bench(args) => bench::run(&args),
        Command::Demo(args) => demo::run(&args),
        Command::LogSpam(args) => log::spam::run(&args),
    }
}
