//! Export: a local log's messages published to a JetStream stream, in log
//! order, each once.
//!
//! How it keeps "each once" (`docs/jetstream.md` states the guarantee):
//!
//! - **The stream is the record of what was exported.** At start, and
//!   after every failure, the exporter reads the stream's last message:
//!   its headers name the last exported id, and export resumes after it.
//!   Nothing depends on the server's duplicate window, however long the
//!   outage.
//! - **Publishes are conditional.** Each carries `Nats-Expected-Last-Sequence`
//!   (the sequence its predecessor got) and its `Nats-Msg-Id`, so with many
//!   acknowledgements in flight a message is stored only right after its
//!   predecessor: a lost publish makes every later one fail instead of
//!   leaving a hole, and a stale one from before a reconnection is stored
//!   once at most. Any failure drops what is in flight and resynchronises
//!   from the stream.
//! - **The named reader's position follows the acknowledgements**: it is
//!   saved after the last message the stream acknowledged, never past it,
//!   so retention never removes a message not yet in the stream.
//! - **Only durable messages by default**: a message is published once the
//!   log's durable position has passed it (the exporter syncs the log
//!   itself), so a power loss can never take from the log a message the
//!   stream holds and then give its id to another.
//!
//! Two halves: a thread reads the log and publishes (nothing between a
//! message's append and its publish but that thread's wake-up); a task
//! takes the acknowledgements in order, saves the reader's position,
//! reports the lag, and ends the session at the first failure.

mod options;
mod run;
mod thread;

pub use options::{ExportDurability, ExportOptions, ExportSummary};
pub use run::export;
