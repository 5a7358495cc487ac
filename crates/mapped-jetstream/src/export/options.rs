//! What to export and how ([`ExportOptions`]), which messages may go
//! ([`ExportDurability`]), and what an export did ([`ExportSummary`]).

use std::time::Duration;

use mapped_log::WaitStrategy;

use crate::stream::CreateStream;

/// Which messages of the log may be published.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExportDurability {
    /// Only messages below the log's durable position; the exporter syncs
    /// the log itself (one `fdatasync` per batch, shared with every other
    /// process's syncs). Safe against power loss.
    #[default]
    Sync,
    /// Only messages below the durable position, which others move (the
    /// appenders' `Interval` or `Sync` durability): the exporter never
    /// syncs, and waits.
    WaitForSync,
    /// Every committed message, synced or not. **Dangerous**: after a power
    /// loss the log may lose a message that the stream already holds, and
    /// give its id to a new message; the exporter then stops with
    /// [`JetStreamError::Diverged`](crate::JetStreamError::Diverged) when it finds the stream's last message
    /// missing or different, but a lost message whose id a new one took
    /// with the same payload, or lost messages before the stream's last,
    /// go unseen.
    Unsynced,
}

/// What to export, and where to.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    /// The stream's name.
    pub stream: String,
    /// The subject to publish to (the stream must take it).
    pub subject: String,
    /// The named reader whose saved position follows the acknowledgements
    /// (retention keeps what is not exported yet).
    pub reader: String,
    /// Create the stream if it is missing.
    pub create: Option<CreateStream>,
    /// Which messages may be published.
    pub durability: ExportDurability,
    /// At most this many messages awaiting acknowledgement.
    pub window: usize,
    /// At most about this many payload bytes awaiting acknowledgement.
    pub window_bytes: usize,
    /// How often to report the lag (`None`: never).
    pub report_every: Option<Duration>,
    /// How long to wait for an acknowledgement before resynchronising.
    pub ack_timeout: Duration,
    /// Stop once every message that was in the log when the export caught
    /// up is acknowledged, instead of waiting for more.
    pub once: bool,
    /// How the reading thread waits for new messages: the log's default
    /// spins 50 µs, then sleeps until an appender wakes it; spinning
    /// longer saves that wake-up's latency at the cost of a busy core.
    pub wait: WaitStrategy,
}

impl ExportOptions {
    /// Defaults: window of 4096 messages or 32 MiB, no creation, lag
    /// reports every 10 s, acknowledgements awaited for 5 s.
    pub fn new(stream: impl Into<String>, subject: impl Into<String>) -> ExportOptions {
        ExportOptions {
            stream: stream.into(),
            subject: subject.into(),
            reader: "jetstream-export".into(),
            create: None,
            durability: ExportDurability::Sync,
            window: 4096,
            window_bytes: 32 << 20,
            report_every: Some(Duration::from_secs(10)),
            ack_timeout: Duration::from_secs(5),
            once: false,
            wait: WaitStrategy::default(),
        }
    }
}

/// What an export did before it stopped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExportSummary {
    /// Messages acknowledged by the stream in this run.
    pub published: u64,
    /// The stream's last sequence and its message id, if any.
    pub last: Option<(u64, u64)>,
    /// From the first publish to the last acknowledgement of this run:
    /// the time spent publishing (connecting, resynchronising and saving
    /// the reader's position at exit are not in it).
    pub publishing: Duration,
}
