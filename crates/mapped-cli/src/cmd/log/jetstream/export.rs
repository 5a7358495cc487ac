//! `mapped log export DIR --stream S --subject X ...`: publish a log's
//! messages to a JetStream stream, in order, each once.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use mapped_cli::duration::parse_duration;
use mapped_cli::size::parse_size;
use mapped_jetstream::{CreateStream, ExportDurability, ExportOptions};

use super::ConnectArgs;
use crate::cmd::log::tail::parse_name;

/// Publish the messages of the log in DIR to a NATS JetStream stream, in
/// log order, each exactly once, and keep doing it as messages come.
///
/// Each message goes to SUBJECT with its id: header Nats-Msg-Id
/// `<log id>:<id>` (the server's deduplication), and Mapped-Log,
/// Mapped-Id, Mapped-Segment-Size, Mapped-Max-Message (what
/// `mapped log replicate` needs to rebuild the log with the same ids).
/// Many publishes are in flight at once; each is conditional on the one
/// before it (Nats-Expected-Last-Sequence), so the stream never gets a
/// hole or a message out of order.
///
/// At start, and after any failure, it reads the stream's last message
/// and resumes after it: nothing is skipped or published twice, however
/// long the outage. The stream must hold this log's messages only (one
/// stream per log); another log's are refused.
///
/// The named reader NAME (in DIR/readers) saves the position after the
/// last message the stream acknowledged, so retention keeps what is not
/// exported yet.
///
/// By default only messages the log has made durable are published, and
/// the exporter syncs the log itself to get there: a power loss can then
/// never make the log lose, and give to another message, an id the
/// stream holds. See --durability.
///
/// Runs until SIGINT or SIGTERM (then waits for the acknowledgements in
/// flight, saves the position and exits 0), or with --once until the log's
/// end. Exits 1 with a message on: a server unreachable at start (after
/// --connect-wait), a missing stream (without --create-stream), failed
/// authentication or TLS, a stream holding another log's messages, a
/// message larger than the server's max_payload (named by its id; the
/// export stops before it and never skips it), a log that lost messages
/// the stream holds.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The log's directory.
    dir: PathBuf,
    /// The stream's name.
    #[arg(long, value_name = "NAME")]
    stream: String,
    /// The subject to publish to (the stream must take it).
    #[arg(long, value_name = "SUBJECT")]
    subject: String,
    /// The named reader that records how far the export got.
    #[arg(long, value_name = "NAME", default_value = "jetstream-export", value_parser = parse_name)]
    name: String,
    /// Create the stream if it is missing, taking SUBJECT, in files, with
    /// the limits below.
    #[arg(long)]
    create_stream: bool,
    /// With --create-stream: copies a cluster keeps (1, 3 or 5).
    #[arg(
        long,
        value_name = "N",
        default_value = "1",
        requires = "create_stream"
    )]
    replicas: usize,
    /// With --create-stream: messages older than this are removed (30d,
    /// 12h). A replica that falls further behind cannot catch up.
    #[arg(long, value_name = "DUR", value_parser = parse_duration, requires = "create_stream")]
    max_age: Option<Duration>,
    /// With --create-stream: the oldest messages are removed past this
    /// size (10G).
    #[arg(long, value_name = "SIZE", value_parser = parse_size, requires = "create_stream")]
    max_bytes: Option<u64>,
    /// Which messages may be published: `sync` (default) publishes
    /// messages once durable and syncs the log to make them so; `wait`
    /// waits for others (appenders with --durability sync or interval) to
    /// sync; `unsynced` publishes every committed message at once:
    /// DANGEROUS, a power loss may then take from the log messages the
    /// stream holds and give their ids to others (the export then stops
    /// with an error if it notices, but cannot always).
    #[arg(long, value_name = "WHEN", default_value = "sync")]
    durability: Durability,
    /// At most this many messages awaiting acknowledgement.
    #[arg(long, value_name = "N", default_value = "4096", value_parser = clap::value_parser!(u64).range(1..=100_000))]
    window: u64,
    /// Export what the log holds, then exit, instead of following it.
    #[arg(long)]
    once: bool,
    /// How long the reader spins for a new message before it sleeps until
    /// an appender wakes it: longer saves the wake-up's latency (tens of
    /// microseconds) at the cost of a busy core while messages keep
    /// coming (500us, 5ms).
    #[arg(long, value_name = "DUR", default_value = "50us", value_parser = parse_spin)]
    spin: Duration,
    #[command(flatten)]
    connect: ConnectArgs,
}

/// A spin time: `50us`, `500us`, `5ms`, or what `parse_duration` takes.
fn parse_spin(s: &str) -> Result<Duration, String> {
    if s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{s:?} needs a unit: 50us, 500us, 5ms"));
    }
    match s.strip_suffix("us") {
        Some(n) => n
            .parse::<u64>()
            .map(Duration::from_micros)
            .map_err(|_| format!("invalid duration '{s}'")),
        None => parse_duration(s).map_err(|e| e.to_string()),
    }
}

/// `--durability`.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum Durability {
    Sync,
    Wait,
    Unsynced,
}

/// Runs `mapped log export`.
pub fn run(args: &ExportArgs) -> Result<()> {
    let log = crate::cmd::log::open::open(&args.dir)?;
    let mut o = ExportOptions::new(&args.stream, &args.subject);
    o.reader = args.name.clone();
    o.durability = match args.durability {
        Durability::Sync => ExportDurability::Sync,
        Durability::Wait => ExportDurability::WaitForSync,
        Durability::Unsynced => ExportDurability::Unsynced,
    };
    o.window = args.window as usize;
    o.once = args.once;
    o.wait = mapped_log::WaitStrategy::SpinThenSleep(args.spin);
    o.report_every = args.connect.report_every();
    if args.create_stream {
        o.create = Some(CreateStream {
            subjects: vec![args.subject.clone()],
            replicas: args.replicas,
            max_age: args.max_age,
            max_bytes: args.max_bytes.map(|b| b.min(i64::MAX as u64) as i64),
            ..CreateStream::default()
        });
    }
    let connection = args.connect.connection("export");
    let events = args.connect.events("export");
    let summary = super::run_until_stopped(async |stop| {
        mapped_jetstream::export(&log, &connection, &o, stop, &events)
            .await
            .with_context(|| format!("export {} to stream {}", args.dir.display(), args.stream))
    })?;
    let last = summary.last.map_or("empty".to_string(), |(seq, id)| {
        format!("at sequence {seq} (message {id})")
    });
    if args.connect.json {
        println!(
            "{}",
            serde_json::json!({"event": "done", "published": summary.published,
                "sequence": summary.last.map(|l| l.0), "id": summary.last.map(|l| l.1)})
        );
    } else {
        println!(
            "export: published {}; stream {} {last}",
            mapped_cli::fields::plural(summary.published, "message"),
            args.stream
        );
    }
    Ok(())
}
