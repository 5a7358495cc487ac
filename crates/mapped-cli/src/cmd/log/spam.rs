//! `mapped __log_spam DIR [--hold-after N]` (hidden): an appender that
//! appends `spam 1`, `spam 2`, ... for ever, for the demo and the tests to
//! kill with `SIGKILL`.
//!
//! It prints one line once it is under way (`appending`, after its first
//! message is committed). With `--hold-after N` it appends N messages, then
//! starts message N + 1 (reserves it and writes half of it), prints
//! `holding id X after N messages`, and waits to be killed in the middle of
//! that record: the tour's output is then the same on every run.

use std::io::{self, Write};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use mapped_log::Appender;

use super::open::open;

/// The hidden subcommand's name.
pub const COMMAND: &str = "__log_spam";

/// Append messages to the log in DIR for ever (for the demo and tests).
#[derive(Debug, Args)]
pub struct SpamArgs {
    /// The log's directory (the log must exist).
    dir: PathBuf,
    /// Append N messages, then stop in the middle of the next one.
    #[arg(long, value_name = "N")]
    hold_after: Option<u64>,
}

/// Runs `mapped __log_spam`.
pub fn run(args: &SpamArgs) -> Result<()> {
    let log = open(&args.dir)?;
    let mut appender = Appender::new(&log)?;
    let mut out = io::stdout().lock();
    let mut say = |line: &str| {
        writeln!(out, "{line}")
            .and_then(|()| out.flush())
            .context("write to stdout")
    };
    for i in 1u64.. {
        if args.hold_after == Some(i - 1) {
            let payload = format!("spam {i}");
            let mut claim = appender.claim(payload.len())?;
            let half = payload.len() / 2;
            claim.as_mut_slice()[..half].copy_from_slice(&payload.as_bytes()[..half]);
            say(&format!(
                "holding id {} after {} messages",
                claim.id(),
                i - 1
            ))?;
            loop {
                // Never commits: waits for SIGKILL with the record half
                // written. (Dropping the claim would abandon it cleanly.)
                std::thread::sleep(Duration::from_secs(3600));
            }
        }
        appender.append(format!("spam {i}").as_bytes())?;
        if i == 1 && args.hold_after.is_none() {
            say("appending")?;
        }
    }
    Ok(())
}
