//! Replica: a local log kept an exact copy of a stream that an exporter
//! fills, for local readers at memory speed.
//!
//! **The correspondence.** Every stream message carries its source id
//! (header `Mapped-Id`); the replica appends it at exactly that id
//! ([`Appender::append_at`]), in a log of the source's segment size and
//! largest message (headers `Mapped-Segment-Size`, `Mapped-Max-Message`).
//! So message `id` of the replica is message `id` of the source, and
//! stream sequence `s` holds the replica's message whose id its header
//! names; sequences and ids grow together.
//!
//! **Resuming.** After any stop or failure, the replica's last id is looked
//! up in the stream (a binary search over message gets), its payload
//! compared with the local one, and consumption resumes at the next
//! sequence. A replica the stream does not account for (another appender
//! wrote to it, it holds a message the stream has not, or a different
//! payload) stops with [`JetStreamError::Diverged`] instead of guessing.

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_nats::jetstream::consumer::{DeliverPolicy, pull};
use async_nats::jetstream::stream::Stream;
use async_nats::jetstream::{self};
use futures_util::StreamExt;
use mapped_log::{Appender, Durability, Log, LogError, LogOptions, Start, format};
use tokio_util::sync::CancellationToken;

use crate::connect::{Connection, reconnect_delay};
use crate::error::{Failure, JetStreamError, Result};
use crate::event::{Event, Events, Lag};
use crate::headers::Origin;
use crate::stream as js_stream;

/// What to replicate, and how.
#[derive(Debug, Clone)]
pub struct ReplicaOptions {
    /// The stream's name.
    pub stream: String,
    /// Mode and group of a replica log created here (its segment size and
    /// largest message come from the stream's headers).
    pub create: LogOptions,
    /// The replica appender's durability. `None` is safe: after a power
    /// loss the replica resumes where its recovered log ends.
    pub durability: Durability,
    /// How often to report the lag (`None`: never).
    pub report_every: Option<Duration>,
    /// Stop once the replica holds every message the stream held when it
    /// started (or resynchronised), instead of waiting for more.
    pub once: bool,
    /// How long a replica that goes past the stream's end may wait for the
    /// stream to catch up (see `docs/jetstream.md`) before that is an error.
    pub ahead_grace: Duration,
}

impl ReplicaOptions {
    /// Defaults: `Durability::None`, lag every 10 s.
    pub fn new(stream: impl Into<String>) -> ReplicaOptions {
        ReplicaOptions {
            stream: stream.into(),
            create: LogOptions::default(),
            durability: Durability::None,
            report_every: Some(Duration::from_secs(10)),
            once: false,
            ahead_grace: Duration::from_secs(30),
        }
    }
}

/// What a replica did before it stopped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplicaSummary {
    /// Messages appended in this run.
    pub appended: u64,
    /// The last stream sequence applied and its message id.
    pub last: Option<(u64, u64)>,
}

/// Keeps the log in `dir` (created at the first message if missing) a
/// copy of the stream until `stop` is cancelled, a fatal error, or, with
/// [`ReplicaOptions::once`], the stream's end.
pub async fn replicate(
    dir: &Path,
    connection: &Connection,
    options: &ReplicaOptions,
    stop: CancellationToken,
    events: &Events,
) -> Result<ReplicaSummary> {
    let client = tokio::select! {
        c = connection.connect(events) => c?,
        _ = stop.cancelled() => return Ok(ReplicaSummary::default()),
    };
    let mut run = Replica {
        dir: dir.to_path_buf(),
        js: jetstream::new(client),
        options: options.clone(),
        events: events.clone(),
        stop,
        summary: ReplicaSummary::default(),
        log: None,
        ahead_since: None,
    };
    let mut attempt = 0usize;
    let start = tokio::time::Instant::now();
    loop {
        let before = run.summary.appended;
        match run.session().await {
            Ok(()) => return Ok(run.summary),
            Err(Failure::Fatal(e)) => return Err(e),
            Err(Failure::Retry(what)) => {
                if run.summary.last.is_none()
                    && run.log.is_none()
                    && start.elapsed() > connection.connect_wait
                {
                    return Err(JetStreamError::Nats {
                        op: format!("stream {}", options.stream),
                        detail: format!(
                            "still failing after {:?}: {what}",
                            connection.connect_wait
                        ),
                    });
                }
                if run.summary.appended > before {
                    attempt = 0;
                }
                let after = reconnect_delay(attempt);
                attempt += 1;
                run.events.emit(Event::Retrying { what, after });
                tokio::select! {
                    _ = tokio::time::sleep(after) => {}
                    _ = run.stop.cancelled() => return Ok(run.summary),
                }
            }
        }
    }
}

/// The local log and its appender, once it exists.
struct Local {
    log: Log,
    appender: Appender,
    /// The last message's id and the end of its record.
    last: Option<(u64, u64)>,
}

struct Replica {
    dir: PathBuf,
    js: jetstream::Context,
    options: ReplicaOptions,
    events: Events,
    stop: CancellationToken,
    summary: ReplicaSummary,
    log: Option<Local>,
    /// Since when the replica has been found past the stream's end.
    ahead_since: Option<std::time::Instant>,
}

impl Replica {
    fn diverged(&self, what: String) -> Failure {
        Failure::Fatal(JetStreamError::Diverged {
            dir: self.dir.clone(),
            what,
        })
    }

    /// Opens the local log if it exists (once per run).
    fn open_local(&mut self) -> Result<(), Failure> {
        if self.log.is_some() || !self.dir.join(mapped_log::CONTROL_FILE).exists() {
            return Ok(());
        }
        let log = Log::open(&self.dir)?;
        self.log = Some(self.local(log)?);
        Ok(())
    }

    fn local(&self, log: Log) -> Result<Local, Failure> {
        let mut appender = Appender::new(&log)?;
        appender.set_durability(self.options.durability)?;
        let last = last_message(&log)?;
        Ok(Local {
            log,
            appender,
            last,
        })
    }

    /// Finds where to resume, then consumes until stopped or a failure.
    async fn session(&mut self) -> Result<(), Failure> {
        let name = self.options.stream.clone();
        let stream = js_stream::open(&self.js, &name, None, None, &self.events).await?;
        self.open_local()?;
        let state = js_stream::state(&stream).await?;
        let (after, source) = self.resume_point(&stream, &state).await?;
        self.events.emit(Event::Resumed {
            sequence: after,
            id: self.log.as_ref().and_then(|l| l.last.map(|(id, _)| id)),
        });
        if self.options.once && after >= state.last_sequence {
            return Ok(());
        }
        let until = self.options.once.then_some(state.last_sequence);
        self.consume(&stream, after, source, until).await
    }

    /// The stream sequence the replica's last message is at (0 if the
    /// replica is empty), checked, and the source log's id if known.
    async fn resume_point(
        &mut self,
        stream: &Stream,
        state: &jetstream::stream::State,
    ) -> Result<(u64, Option<[u8; 16]>), Failure> {
        let name = &self.options.stream;
        // An empty replica starts at the stream's first message.
        let empty = (state.first_sequence.saturating_sub(1), None);
        let Some(local) = &self.log else {
            return Ok(empty);
        };
        let Some((last_id, _)) = local.last else {
            return Ok(empty);
        };
        if state.messages == 0 {
            return Err(self.diverged(format!(
                "the replica holds messages (the last is {last_id}) but stream {name} holds none: \
                 it is not a replica of this stream, or the stream lost them"
            )));
        }
        // The source log's identity, from the stream's last message.
        let Some((tail_msg, tail)) =
            js_stream::get_origin(stream, name, state.last_sequence, None).await?
        else {
            return Err(Failure::Retry(format!(
                "stream {name}: its last message ({}) is gone",
                state.last_sequence
            )));
        };
        self.check_shape(&tail, state.last_sequence)?;
        let found = js_stream::find_id(
            stream,
            name,
            tail.log_id,
            last_id,
            state.first_sequence,
            state.last_sequence,
        )
        .await?;
        match found {
            Ok((seq, msg)) => {
                let mut buf = Vec::new();
                let mut reader = local.log.reader(Start::Id(last_id))?;
                match reader.try_next()? {
                    Some(m) if m.id() == last_id => m.copy_to(&mut buf)?,
                    _ => {
                        return Err(Failure::Retry(format!(
                            "the replica's last message {last_id} is no longer readable"
                        )));
                    }
                }
                if buf != msg.payload {
                    return Err(self.diverged(format!(
                        "message {last_id} of the replica differs from stream {name}'s (sequence \
                         {seq}): another process appended to the replica, or it was made from \
                         another stream"
                    )));
                }
                self.summary.last = Some((seq, last_id));
                self.ahead_since = None;
                Ok((seq, Some(tail.log_id)))
            }
            Err(_) if last_id > tail.id => {
                self.ahead(state.last_sequence, last_id, &tail, &tail_msg.payload)
            }
            Err(next) => {
                let first = js_stream::get_origin(stream, name, state.first_sequence, None).await?;
                match first {
                    Some((_, o)) if o.id > last_id => Err(self.diverged(format!(
                        "stream {name} no longer holds the messages after the replica's last \
                         ({last_id}): its first is {} (limits removed the rest); start a new \
                         replica",
                        o.id
                    ))),
                    _ => Err(self.diverged(format!(
                        "stream {name} holds no message {last_id}, the replica's last (the \
                         next it holds is at sequence {next}): another process appended to the \
                         replica, or it was made from another stream"
                    ))),
                }
            }
        }
    }

    /// The replica goes past the stream's last message. A server that
    /// was killed can lose the last messages it acknowledged (a single
    /// node's file store writes them a moment later), and the exporter
    /// then publishes them again, with the same ids: so this is waited
    /// out for [`ReplicaOptions::ahead_grace`], if the replica holds the
    /// stream's last message, before it is called a divergence.
    fn ahead(
        &mut self,
        sequence: u64,
        last_id: u64,
        tail: &Origin,
        tail_payload: &[u8],
    ) -> Result<(u64, Option<[u8; 16]>), Failure> {
        let name = &self.options.stream;
        let tail_id = tail.id;
        let local = self.log.as_ref().expect("a replica with messages");
        let mut reader = local.log.reader(Start::Id(tail_id)).ok();
        let mut buf = Vec::new();
        let same = match reader.as_mut().map(|r| r.try_next()) {
            Some(Ok(Some(m))) if m.id() == tail_id => {
                m.copy_to(&mut buf)?;
                buf == tail_payload
            }
            _ => false,
        };
        if !same {
            return Err(self.diverged(format!(
                "the replica's last message ({last_id}) is past stream {name}'s last ({tail_id}), \
                 and the replica does not hold that one as the stream does: another process \
                 appended to the replica, or the stream is not its source"
            )));
        }
        let since = *self.ahead_since.get_or_insert_with(std::time::Instant::now);
        if since.elapsed() > self.options.ahead_grace {
            return Err(self.diverged(format!(
                "the replica's last message ({last_id}) is past stream {name}'s last ({tail_id}, \
                 sequence {sequence}) for more than {:?}: another process appended to the \
                 replica, or the stream is not its source",
                self.options.ahead_grace
            )));
        }
        Err(Failure::Retry(format!(
            "the replica's last message ({last_id}) is past stream {name}'s last ({tail_id}): \
             waiting for the exporter to publish the rest again (a server lost them?)"
        )))
    }

    /// The replica's log must have the source's segment size and largest
    /// message, or its ids cannot be the source's.
    fn check_shape(&self, origin: &Origin, sequence: u64) -> Result<(), Failure> {
        let Some(local) = &self.log else {
            return Ok(());
        };
        let (size, max) = (local.log.segment_size(), local.log.max_message());
        if origin.segment_size != size || origin.max_message != max {
            return Err(self.diverged(format!(
                "stream {} (sequence {sequence}) comes from a log of {} byte segments and \
                 messages up to {} bytes, the replica has {size} and {max}: it cannot hold the \
                 same ids; replicate into a new directory",
                self.options.stream, origin.segment_size, origin.max_message
            )));
        }
        Ok(())
    }

    /// Consumes the stream after sequence `after`, appending each message
    /// at its id.
    async fn consume(
        &mut self,
        stream: &Stream,
        after: u64,
        mut source: Option<[u8; 16]>,
        until: Option<u64>,
    ) -> Result<(), Failure> {
        let name = self.options.stream.clone();
        let consumer = stream
            .create_consumer(pull::OrderedConfig {
                deliver_policy: DeliverPolicy::ByStartSequence {
                    start_sequence: after + 1,
                },
                ..Default::default()
            })
            .await
            .map_err(|e| Failure::Retry(format!("create a consumer on {name}: {e}")))?;
        let mut messages = consumer
            .messages()
            .await
            .map_err(|e| Failure::Retry(format!("consume {name}: {e}")))?;
        let mut expected = after + 1;
        let mut report = tokio::time::interval(
            self.options
                .report_every
                .unwrap_or(Duration::from_secs(3600)),
        );
        report.tick().await;
        let mut pending = 0u64;
        loop {
            let next = tokio::select! {
                biased;
                _ = self.stop.cancelled() => return Ok(()),
                _ = report.tick(), if self.options.report_every.is_some() => {
                    self.report(stream, pending).await;
                    continue;
                }
                m = messages.next() => m,
            };
            let msg = match next {
                Some(Ok(m)) => m,
                Some(Err(e)) => return Err(Failure::Retry(format!("consume {name}: {e}"))),
                None => {
                    return Err(Failure::Retry(format!(
                        "consume {name}: the consumer ended"
                    )));
                }
            };
            let info = msg
                .info()
                .map_err(|e| Failure::Retry(format!("consume {name}: {e}")))?;
            let seq = info.stream_sequence;
            pending = info.pending;
            if seq != expected {
                return Err(self.diverged(format!(
                    "stream {name} skipped from sequence {} to {seq}: the messages between are \
                     gone (limits removed them before the replica got them); start a new replica",
                    expected - 1
                )));
            }
            let origin = Origin::parse(&name, seq, msg.headers.as_ref())?;
            match source {
                Some(ours) => js_stream::check_log(&name, seq, &origin, ours)?,
                None => source = Some(origin.log_id),
            }
            self.apply(seq, &origin, &msg.payload)?;
            expected += 1;
            if until.is_some_and(|u| seq >= u) {
                return Ok(());
            }
        }
    }

    /// Appends the message at `origin.id` (creating the log first if need
    /// be).
    fn apply(&mut self, seq: u64, origin: &Origin, payload: &[u8]) -> Result<(), Failure> {
        if self.log.is_none() {
            let opts = LogOptions {
                segment_size: origin.segment_size,
                max_message: origin.max_message,
                ..self.options.create
            };
            // A new replica starts at the segment of the stream's first
            // message: no file for the segments before it.
            let log = match Log::create_at(&self.dir, opts, origin.id / origin.segment_size) {
                Err(LogError::AlreadyExists { .. }) => Log::open(&self.dir)?,
                made => made?,
            };
            self.log = Some(self.local(log)?);
        }
        self.check_shape(origin, seq)?;
        let name = self.options.stream.clone();
        let dir = self.dir.clone();
        let local = self.log.as_mut().expect("made above");
        if let Some((last, _)) = local.last {
            if origin.id <= last {
                return Err(Failure::Fatal(JetStreamError::Diverged {
                    dir,
                    what: format!(
                        "stream {name}, sequence {seq}: message id {} is not past the replica's \
                         last ({last}): the stream's ids go back (it holds more than one export)",
                        origin.id
                    ),
                }));
            }
        }
        match local.appender.append_at(origin.id, payload) {
            Ok(_) => {}
            Err(LogError::IdTaken { next, .. }) => {
                return Err(Failure::Fatal(JetStreamError::Diverged {
                    dir,
                    what: format!(
                        "cannot append stream {name}'s sequence {seq} at id {}: the replica \
                         already reaches {next}; another process appended to it",
                        origin.id
                    ),
                }));
            }
            Err(e) => return Err(e.into()),
        }
        local.last = Some((
            origin.id,
            origin.id + format::record_size(payload.len() as u32),
        ));
        self.summary.appended += 1;
        self.summary.last = Some((seq, origin.id));
        Ok(())
    }

    /// Emits the lag: messages the stream holds past the replica, and the
    /// span of ids to the stream's last message.
    async fn report(&self, stream: &Stream, pending: u64) {
        let done = self.log.as_ref().and_then(|l| l.last);
        let mut bytes = 0;
        let mut messages = pending;
        if let Ok(state) = js_stream::state(stream).await {
            let seq = self.summary.last.map_or(0, |(s, _)| s);
            messages = state.last_sequence.saturating_sub(seq);
            if let Ok(Some((m, o))) =
                js_stream::get_origin(stream, &self.options.stream, state.last_sequence, None).await
            {
                let end = o.id + format::record_size(m.payload.len() as u32);
                bytes = end.saturating_sub(done.map_or(0, |(_, e)| e));
            }
        }
        self.events.emit(Event::Lag(Lag {
            messages,
            bytes,
            done_id: done.map(|(id, _)| id),
            sequence: self.summary.last.map_or(0, |(s, _)| s),
            total: self.summary.appended,
        }));
    }
}

/// The log's last message: its id and the end of its record.
fn last_message(log: &Log) -> Result<Option<(u64, u64)>, LogError> {
    let Some(id) = log.last_id()? else {
        return Ok(None);
    };
    let mut reader = log.reader(Start::Id(id))?;
    let m = reader.try_next()?;
    Ok(m.map(|m| (id, id + format::record_size(m.payload().len() as u32))))
}
