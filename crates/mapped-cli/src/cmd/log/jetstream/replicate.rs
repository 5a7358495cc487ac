//! `mapped log replicate DIR --stream S ...`: keep a local log an exact
//! copy of a stream that `mapped log export` fills.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use mapped_jetstream::ReplicaOptions;
use mapped_log::{Durability, LogOptions};

use super::ConnectArgs;
use crate::cmd::log::append::parse_durability;
use crate::cmd::log::create::{parse_group, parse_mode};

/// Keep the log in DIR an exact copy of a JetStream stream that
/// `mapped log export` fills: the same messages, in the same order, under
/// the same ids, so that local programs read it with `mapped log tail`
/// and the library's readers at memory speed.
///
/// DIR is created at the first message, with the source log's segment
/// size and largest message (from the messages' headers); each message is
/// appended at the id its Mapped-Id header names. So message ID of the
/// copy is message ID of the source, and stream sequences and ids grow
/// together.
///
/// At start, and after any failure, it finds the copy's last message in
/// the stream, checks that the payloads match, and resumes at the next
/// sequence: no gap, no duplicate. It stops with status 1, instead of
/// guessing, if the copy and the stream disagree: another process
/// appended to the copy, the copy holds a message the stream has not (or
/// a different one), the stream no longer holds the messages the copy
/// lacks, or a message lacks the export's headers. Do not append to DIR
/// yourself. A copy that holds messages past the stream's end (a single
/// server, killed, can lose the last messages it acknowledged) waits up to
/// 30 s for the exporter to publish them again before that is an error.
///
/// Runs until SIGINT or SIGTERM (exit 0), or with --once until it holds
/// what the stream held at start.
#[derive(Debug, Args)]
pub struct ReplicateArgs {
    /// The replica log's directory.
    dir: PathBuf,
    /// The stream's name.
    #[arg(long, value_name = "NAME")]
    stream: String,
    /// The copy's appends: `none` (default; after a power loss the copy
    /// resumes where its recovered log ends, so nothing is lost for good),
    /// `sync` (durable before the next message), or `interval=DUR`.
    #[arg(long, value_name = "MODE", default_value = "none", value_parser = parse_durability)]
    durability: Durability,
    /// The mode of a log created here (as `mapped log create --mode`).
    #[arg(long, value_name = "OCTAL", default_value = "600", value_parser = parse_mode)]
    mode: u32,
    /// The group of a log created here (as `mapped log create --group`).
    #[arg(long, value_name = "GROUP", value_parser = parse_group)]
    group: Option<u32>,
    /// Copy what the stream holds, then exit, instead of following it.
    #[arg(long)]
    once: bool,
    #[command(flatten)]
    connect: ConnectArgs,
}

/// Runs `mapped log replicate`.
pub fn run(args: &ReplicateArgs) -> Result<()> {
    let mut o = ReplicaOptions::new(&args.stream);
    o.durability = args.durability;
    o.create = LogOptions {
        file_mode: args.mode,
        group: args.group,
        ..LogOptions::default()
    };
    o.once = args.once;
    o.report_every = args.connect.report_every();
    let connection = args.connect.connection("replicate");
    let events = args.connect.events("replicate");
    let summary = super::run_until_stopped(async |stop| {
        mapped_jetstream::replicate(&args.dir, &connection, &o, stop, &events)
            .await
            .with_context(|| {
                format!(
                    "replicate stream {} into {}",
                    args.stream,
                    args.dir.display()
                )
            })
    })?;
    if args.connect.json {
        println!(
            "{}",
            serde_json::json!({"event": "done", "appended": summary.appended,
                "sequence": summary.last.map(|l| l.0), "id": summary.last.map(|l| l.1)})
        );
    } else {
        let last = summary.last.map_or("empty".to_string(), |(seq, id)| {
            format!("at sequence {seq} (message {id})")
        });
        println!(
            "replicate: appended {}; copy {last}",
            mapped_cli::fields::plural(summary.appended, "message")
        );
    }
    Ok(())
}
