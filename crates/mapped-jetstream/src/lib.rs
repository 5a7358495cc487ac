//! Mapped logs beyond one machine, through NATS JetStream.
//!
//! - [`export()`]: a local log's messages published to a stream, in log
//!   order, each once, resuming after any failure from what the stream
//!   holds;
//! - [`replicate()`]: a local log kept an exact copy of such a stream (the
//!   same messages under the same ids), for local readers at memory speed;
//! - [`server`]: real `nats-server` processes for tests, benchmarks and
//!   the demo;
//! - [`bench`](mod@bench): export and replica measured against bare `async-nats`.
//!
//! The core crates stay synchronous: this crate alone brings `tokio` and
//! `async-nats`. What is guaranteed, exactly: `docs/jetstream.md`.

#![deny(unsafe_code)]

pub mod bench;
mod connect;
mod error;
mod event;
mod export;
pub mod headers;
mod replica;
mod signal;
mod stream;

pub mod server;

pub use connect::Connection;
pub use error::{JetStreamError, Result};
pub use event::{Event, Events, Lag};
pub use export::{ExportDurability, ExportOptions, ExportSummary, export};
pub use replica::{ReplicaOptions, ReplicaSummary, replicate};
pub use signal::run_until_signalled;
pub use stream::{CreateStream, subject_matches};
pub use tokio_util::sync::CancellationToken;
