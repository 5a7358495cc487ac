//! `mapped log append DIR [--durability none|sync|interval=DUR] [--ids]`:
//! each line of stdin becomes one message.
//!
//! Lines are read as they arrive (so it works interactively and at the end
//! of a pipeline that trickles), and each is appended at once. A message is
//! the line's bytes without its `\n`: any bytes, not checked as UTF-8; a
//! `\r` before the `\n` is kept (strip it first, e.g. with `tr -d '\r'`, for
//! CRLF text); a last line without `\n` is a message too; an empty line is
//! an empty message.

use std::io::{self, BufRead, Write};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;
use mapped_cli::duration::parse_interval;
use mapped_cli::fields::plural;
use mapped_log::{Appender, Durability, Log, LogOptions};

/// Append each line of stdin to the log in DIR as one message.
///
/// The message is the line without its newline (a `\r` before it is kept);
/// a last line without a newline counts too. Creates the log, with the
/// default options, if DIR holds none (DIR's parent must exist).
///
/// A line longer than the log's maximum message stops the command with
/// status 1, saying which line it was and how many were appended before
/// it; the rest of stdin is not appended. With --ids, a closed stdout
/// stops it the same way.
#[derive(Debug, Args)]
pub struct AppendArgs {
    /// The log's directory.
    dir: PathBuf,
    /// When each message must be on stable storage: `none` (in the page
    /// cache: survives the death of any process, not a power loss), `sync`
    /// (on disk before the next line is read) or `interval=DUR` (synced in
    /// the background at most DUR later: 500ms, 2s; a number alone is
    /// milliseconds).
    #[arg(long, value_name = "WHEN", default_value = "none", value_parser = parse_durability)]
    durability: Durability,
    /// Print each message's id on its own line as soon as it is committed
    /// (and durable, with --durability sync).
    #[arg(long)]
    ids: bool,
}

/// `none`, `sync` or `interval=DUR`.
pub(super) fn parse_durability(s: &str) -> Result<Durability, String> {
    const EXPECTED: &str = "expected none, sync or interval=DUR (DUR at least 1ms: 500ms, 2s; \
                            a number alone is milliseconds)";
    match s {
        "none" => Ok(Durability::None),
        "sync" => Ok(Durability::Sync),
        _ => match s.strip_prefix("interval=").map(parse_interval) {
            Some(Ok(d)) if d >= Duration::from_millis(1) => Ok(Durability::Interval(d)),
            Some(Ok(_)) => Err(format!("{EXPECTED}: the interval is 0")),
            Some(Err(e)) => Err(format!("{EXPECTED}: {e}")),
            None => Err(EXPECTED.into()),
        },
    }
}

/// Runs `mapped log append`.
pub fn run(args: &AppendArgs) -> Result<()> {
    let log = Log::open_or_create(&args.dir, LogOptions::default())?;
    let mut appender = Appender::new(&log)?;
    appender.set_durability(args.durability)?;

    let mut stdin = io::stdin().lock();
    let mut out = io::stdout().lock();
    let mut line = Vec::new();
    for number in 1u64.. {
        line.clear();
        if stdin.read_until(b'\n', &mut line).context("read stdin")? == 0 {
            break;
        }
        let message = line.strip_suffix(b"\n").unwrap_or(&line);
        // What was appended, and what was not, for an error that stops here.
        let stopped = || {
            let verb = if number - 1 == 1 { "was" } else { "were" };
            format!(
                "{} {verb} appended, the rest of stdin was not",
                plural(number - 1, "line")
            )
        };
        let max = log.max_message();
        if message.len() as u64 > u64::from(max) {
            bail!(
                "{}: line {number} of stdin is {} bytes, more than the log's maximum message \
                 of {max} bytes; {}",
                args.dir.display(),
                message.len(),
                stopped()
            );
        }
        let id = appender
            .append(message)
            .with_context(|| format!("line {number} of stdin ({})", stopped()))?;
        if args.ids {
            // Not the quiet end of a closed pipe (`main`): the lines not
            // read yet are not appended, and the exit status says so.
            if let Err(e) = writeln!(out, "{id}").and_then(|()| out.flush()) {
                bail!(
                    "write to stdout: {e}: line {number} was appended (id {id}) but its id \
                     could not be written; the rest of stdin was not appended"
                );
            }
        }
    }
    Ok(())
}
