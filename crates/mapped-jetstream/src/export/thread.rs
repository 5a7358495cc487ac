//! The reading thread: reads the log, makes or awaits durability,
//! publishes each message conditional on its predecessor, and hands the
//! publishes to the acknowledging task ([`super::run`]).

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::context::PublishError;
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::{self, publish::PublishAck};
use bytes::Bytes;
use futures_util::future::BoxFuture;
use mapped_log::{Log, Start, WaitStrategy, format};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::options::ExportDurability;
use crate::error::{Failure, JetStreamError, Result};
use crate::headers::Origin;

/// One message read from the log, to publish.
pub(super) struct Out {
    id: u64,
    /// The end of its record: the reader's position to save once it is
    /// acknowledged, and what must be durable before it is published.
    end: u64,
    payload: Bytes,
}

/// What the reading thread hands the acknowledging task.
pub(super) enum Sent {
    /// Messages published, awaiting their acknowledgements.
    Published(Vec<InFlight>),
    /// Nothing more to read (`once`); the thread has stopped.
    CaughtUp,
    /// The thread stopped: why.
    Stopped(Failure),
}

/// A message published, awaiting its acknowledgement.
pub(super) struct InFlight {
    pub(super) id: u64,
    pub(super) end: u64,
    pub(super) sequence: u64,
    pub(super) ack: BoxFuture<'static, Result<PublishAck, PublishError>>,
    /// Its bytes' share of the window, given back when it is dropped.
    pub(super) _bytes: tokio::sync::OwnedSemaphorePermit,
}

/// Messages read before the durability check at most.
const BATCH: usize = 512;
/// How long a wait for durability sleeps at most before it looks whether
/// the export is to stop.
const QUIT_CHECK: Duration = Duration::from_millis(100);
const BATCH_BYTES: usize = 1 << 20;

/// What the reading thread needs to publish.
pub(super) struct Publisher {
    pub(super) handle: tokio::runtime::Handle,
    pub(super) js: jetstream::Context,
    pub(super) subject: String,
    /// The log's part of every message's origin.
    pub(super) origin: Origin,
    pub(super) max_payload: usize,
    /// The sequence the last message published got (or will get).
    pub(super) last_sequence: u64,
    /// Payload bytes in flight, by the KiB: taken at publish, given back
    /// at the acknowledgement.
    pub(super) bytes: Arc<tokio::sync::Semaphore>,
    /// The window in KiB (a larger message takes it all).
    pub(super) window_kib: u32,
    /// Messages handed to the acknowledging task at a time.
    pub(super) chunk: usize,
    /// Cancelled to stop the thread (before its next publish).
    pub(super) quit: CancellationToken,
}

impl Publisher {
    /// Publishes `msgs`, each conditional on its predecessor's sequence,
    /// all in one entry into the runtime, and hands them to the
    /// acknowledging task a few at a time (never more than half the
    /// window held here, so that a full window always has
    /// acknowledgements someone awaits). `Ok(false)`: told to stop.
    fn publish_all(
        &mut self,
        msgs: Vec<Out>,
        tx: &mpsc::UnboundedSender<Sent>,
    ) -> Result<bool, Failure> {
        let handle = self.handle.clone();
        handle.block_on(async {
            let mut out: Vec<InFlight> = Vec::with_capacity(self.chunk);
            let flush = |out: &mut Vec<InFlight>| {
                out.is_empty() || tx.send(Sent::Published(std::mem::take(out))).is_ok()
            };
            for m in msgs {
                if self.quit.is_cancelled() {
                    flush(&mut out);
                    return Ok(false);
                }
                let origin = Origin {
                    id: m.id,
                    ..self.origin
                };
                let size = m.payload.len() + origin.header_len();
                if size > self.max_payload {
                    flush(&mut out);
                    return Err(Failure::Fatal(JetStreamError::TooLarge {
                        id: m.id,
                        size,
                        max_payload: self.max_payload,
                    }));
                }
                let kib = u32::try_from(m.payload.len().div_ceil(1024).max(1)).unwrap_or(u32::MAX);
                let kib = kib.min(self.window_kib);
                let publish = PublishMessage::build()
                    .headers(origin.headers())
                    .expected_last_sequence(self.last_sequence)
                    .payload(m.payload);
                let sent = tokio::select! {
                    // The publish first: when it is ready at once (the
                    // window has room), the quit future is never polled.
                    biased;
                    sent = async {
                        let permit = match self.bytes.clone().try_acquire_many_owned(kib) {
                            Ok(p) => p,
                            Err(_) => {
                                // Full: what is held here must be awaited
                                // by the task before room comes back.
                                flush(&mut out);
                                self.bytes.clone().acquire_many_owned(kib).await.expect("open")
                            }
                        };
                        let ack = self.js.send_publish(self.subject.clone(), publish).await;
                        (permit, ack)
                    } => Some(sent),
                    _ = self.quit.cancelled() => None,
                };
                let Some((permit, ack)) = sent else {
                    flush(&mut out);
                    return Ok(false);
                };
                match ack {
                    Ok(ack) => {
                        self.last_sequence += 1;
                        out.push(InFlight {
                            id: m.id,
                            end: m.end,
                            sequence: self.last_sequence,
                            ack: Box::pin(ack.into_future()),
                            _bytes: permit,
                        });
                    }
                    Err(e) => {
                        flush(&mut out);
                        return Err(Failure::Retry(format!("publish message {}: {e}", m.id)));
                    }
                }
                if out.len() >= self.chunk && !flush(&mut out) {
                    return Ok(false);
                }
            }
            Ok(flush(&mut out))
        })
    }
}

/// The reading thread: reads the log from `start`, waits for (or makes)
/// durability as `durability` says, publishes, and hands each publish to
/// the acknowledging task, until told to quit, the task is gone, a
/// failure, or (`once`) it has caught up.
pub(super) fn read_and_publish(
    log: &Log,
    start: Start,
    durability: ExportDurability,
    once: bool,
    wait: WaitStrategy,
    mut publisher: Publisher,
    tx: &mpsc::UnboundedSender<Sent>,
) {
    let quit = publisher.quit.clone();
    let result = (|| -> Result<(), Failure> {
        let mut reader = log.reader(start)?;
        reader.set_wait_strategy(wait);
        loop {
            if quit.is_cancelled() {
                return Ok(());
            }
            let mut batch = Vec::new();
            let mut bytes = 0;
            // The first message waits (not with `once`, which stops at
            // the first look that finds nothing); the rest of the batch is
            // what is there.
            let mut wait = (!once).then_some(Duration::from_millis(50));
            while batch.len() < BATCH && bytes < BATCH_BYTES {
                let msg = match wait.take() {
                    Some(t) => reader.next(Some(t))?,
                    None => reader.try_next()?,
                };
                let Some(m) = msg else { break };
                // Copied into a buffer of its own (checked against its
                // checksum), which becomes the payload without another copy.
                let mut buf = Vec::new();
                m.copy_to(&mut buf)?;
                let id = m.id();
                bytes += buf.len();
                batch.push(Out {
                    id,
                    end: id + format::record_size(buf.len() as u32),
                    payload: Bytes::from(buf),
                });
            }
            let Some(end) = batch.last().map(|m| m.end) else {
                if once {
                    let _ = tx.send(Sent::CaughtUp);
                    return Ok(());
                }
                continue;
            };
            // Publishes `msgs`; false if the thread is to stop.
            let mut publish = |msgs: Vec<Out>| publisher.publish_all(msgs, tx);
            match durability {
                ExportDurability::Unsynced => {}
                ExportDurability::Sync => {
                    while log.durable_position() < end && !quit.is_cancelled() {
                        if log.sync()? < end {
                            // An earlier record is unfinished (it cannot
                            // be: the reader passed it), or another sync
                            // raced: its leader wakes us.
                            log.wait_durable(end, Some(Duration::from_millis(2)))?;
                        }
                    }
                }
                ExportDurability::WaitForSync => {
                    // Publish the durable part at once; sleep until other
                    // processes' syncs make the next message durable
                    // (their group commits wake us), looking at `quit`
                    // every 100 ms.
                    let mut durable = log.durable_position();
                    loop {
                        let n = batch.partition_point(|m| m.end <= durable);
                        if n == batch.len() || quit.is_cancelled() {
                            break;
                        }
                        if n > 0 {
                            let rest = batch.split_off(n);
                            if !publish(std::mem::replace(&mut batch, rest))? {
                                return Ok(());
                            }
                        }
                        durable = log.wait_durable(batch[0].end, Some(QUIT_CHECK))?;
                    }
                }
            }
            if quit.is_cancelled() || !publish(batch)? {
                return Ok(());
            }
        }
    })();
    if let Err(f) = result {
        let _ = tx.send(Sent::Stopped(f));
    }
}
