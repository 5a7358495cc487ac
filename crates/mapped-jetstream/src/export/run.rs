//! The acknowledging task and the sessions: resynchronising from the
//! stream, taking acknowledgements in order, saving the named reader's
//! position, reporting the lag, retrying with backoff.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::context::PublishErrorKind;
use async_nats::jetstream::stream::Stream;
use async_nats::jetstream::{self};
use futures_util::FutureExt;
use mapped_log::{Log, LogError, Start, format};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::connect::{Connection, reconnect_delay};
use crate::error::{Failure, JetStreamError, Result};
use crate::event::{Event, Events, Lag};
use crate::headers::Origin;
use crate::stream as js_stream;

use super::options::{ExportOptions, ExportSummary};
use super::thread::{InFlight, Publisher, Sent, read_and_publish};

/// Where the stream stands: the last sequence, and the last exported
/// message's id and record end (`None`: nothing exported yet).
#[derive(Debug, Clone, Copy)]
struct Position {
    sequence: u64,
    last: Option<(u64, u64)>,
}

/// Exports `log` to the stream until `stop` is cancelled (then finishes
/// the messages in flight, saves the reader's position and returns), a
/// fatal error, or, with [`ExportOptions::once`], the end of the log.
pub async fn export(
    log: &Log,
    connection: &Connection,
    options: &ExportOptions,
    stop: CancellationToken,
    events: &Events,
) -> Result<ExportSummary> {
    // A lost connection ends the session at once: the acknowledgements in
    // flight will not come, and waiting for their timeouts is time lost.
    let disconnected = Arc::new(tokio::sync::Notify::new());
    let events = {
        let (inner, d) = (events.clone(), disconnected.clone());
        Events::new(move |e| {
            if e == Event::Disconnected {
                d.notify_one();
            }
            inner.emit(e)
        })
    };
    let client = tokio::select! {
        c = connection.connect(&events) => c?,
        _ = stop.cancelled() => return Ok(ExportSummary::default()),
    };
    let js = jetstream::ContextBuilder::new()
        .timeout(options.ack_timeout)
        .max_ack_inflight(options.window + 64)
        .build(client.clone());
    let mut run = Run {
        log: log.clone(),
        js,
        client,
        options: options.clone(),
        events: events.clone(),
        disconnected,
        stop,
        summary: ExportSummary::default(),
        saved: None,
    };
    if log.reader_position(&options.reader)?.is_none() {
        // Exists from now on, so retention keeps what is not exported yet.
        let first = log.reader(Start::Beginning)?.position();
        log.save_reader_position(&options.reader, first)?;
    }
    let mut attempt = 0usize;
    let mut connect_retry_deadline = Some(tokio::time::Instant::now() + connection.connect_wait);
    loop {
        let before = run.summary.published;
        match run.session().await {
            Ok(()) => return Ok(run.summary),
            Err(Failure::Fatal(e)) => return Err(e),
            Err(Failure::Retry(what)) => {
                // A stream that never became reachable at start is as bad
                // as an unreachable server.
                if let Some(deadline) = connect_retry_deadline {
                    if tokio::time::Instant::now() > deadline && run.summary.last.is_none() {
                        return Err(JetStreamError::Nats {
                            op: format!("stream {}", options.stream),
                            detail: format!(
                                "still failing after {:?}: {what}",
                                connection.connect_wait
                            ),
                        });
                    }
                }
                if run.summary.published > before {
                    attempt = 0;
                    connect_retry_deadline = None;
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

/// The state of one export across its sessions (a session ends at a
/// failure, and the next resynchronises from the stream).
struct Run {
    log: Log,
    js: jetstream::Context,
    client: async_nats::Client,
    options: ExportOptions,
    events: Events,
    stop: CancellationToken,
    summary: ExportSummary,
    /// The last position saved for the named reader.
    saved: Option<u64>,
    /// Notified when the connection is lost.
    disconnected: Arc<tokio::sync::Notify>,
}

impl Run {
    /// Resynchronises from the stream, then publishes until stopped or a
    /// failure.
    async fn session(&mut self) -> Result<(), Failure> {
        let o = &self.options;
        let stream = js_stream::open(
            &self.js,
            &o.stream,
            Some(&o.subject),
            o.create.as_ref(),
            &self.events,
        )
        .await?;
        let position = self.resync(&stream).await?;
        self.summary.last = position.last.map(|(id, _)| (position.sequence, id));
        self.events.emit(Event::Resumed {
            sequence: position.sequence,
            id: position.last.map(|(id, _)| id),
        });
        let start = match position.last {
            Some((_, end)) => {
                self.save(end).await?;
                Start::Id(end)
            }
            None => Start::Beginning,
        };
        self.publish_from(start, position).await
    }

    /// Where the stream stands, checked against the log.
    async fn resync(&mut self, stream: &Stream) -> Result<Position, Failure> {
        let name = &self.options.stream;
        let state = js_stream::state(stream).await?;
        if state.last_sequence == 0 {
            return Ok(Position {
                sequence: 0,
                last: None,
            });
        }
        let ours = self.log.log_id();
        let Some((msg, origin)) =
            js_stream::get_origin(stream, name, state.last_sequence, Some(ours)).await?
        else {
            if state.messages == 0 {
                // Everything was removed (age, size limits): only the
                // named reader says how far the export went.
                return self.resume_from_reader(state.last_sequence);
            }
            return Err(Failure::Retry(format!(
                "stream {name}: its last message ({}) is gone",
                state.last_sequence
            )));
        };
        if origin.segment_size != self.log.segment_size() {
            return Err(Failure::Fatal(JetStreamError::BadMessage {
                stream: name.clone(),
                sequence: state.last_sequence,
                what: format!(
                    "its segment size ({}) is not this log's ({})",
                    origin.segment_size,
                    self.log.segment_size()
                ),
            }));
        }
        let end = self.check_in_log(origin.id, &msg.payload)?;
        Ok(Position {
            sequence: state.last_sequence,
            last: Some((origin.id, end)),
        })
    }

    /// Checks that the log holds message `id` with this payload; returns
    /// the end of its record.
    fn check_in_log(&self, id: u64, payload: &[u8]) -> Result<u64, Failure> {
        let log = &self.log;
        let diverged = |what: String| {
            Failure::Fatal(JetStreamError::Diverged {
                dir: log.dir().to_path_buf(),
                what,
            })
        };
        let name = &self.options.stream;
        let mut reader = match log.reader(Start::Id(id)) {
            Ok(r) => r,
            Err(LogError::Behind { .. }) => {
                return Err(diverged(format!(
                    "stream {name} ends with message {id}, which this log no longer holds \
                     (retention removed it): cannot tell where to resume"
                )));
            }
            Err(e) => {
                return Err(diverged(format!(
                    "stream {name} ends with message {id}, which this log does not hold ({e}): \
                     the log lost messages it had exported (a power loss, with unsynced export?) \
                     or is not the log that was exported; export to a new stream"
                )));
            }
        };
        let mut buf = Vec::new();
        let found = match reader.try_next()? {
            Some(m) if m.id() == id => {
                m.copy_to(&mut buf)?;
                Some(id + format::record_size(buf.len() as u32))
            }
            _ => None,
        };
        match found {
            Some(end) if buf == payload => Ok(end),
            Some(_) => Err(diverged(format!(
                "stream {name} holds another payload for message {id} than this log: the log \
                 lost exported messages and reused their ids (a power loss, with unsynced \
                 export?); export to a new stream"
            ))),
            None => {
                let last = log.last_id()?;
                Err(diverged(format!(
                    "stream {name} ends with message {id}, which this log does not hold (its last \
                     message is {last:?}): the log lost messages it had exported (a power loss, \
                     with unsynced export?) or is not the log that was exported; export to a new \
                     stream"
                )))
            }
        }
    }

    /// The stream has a history but no message left: resume at the named
    /// reader's saved position.
    fn resume_from_reader(&self, sequence: u64) -> Result<Position, Failure> {
        let saved = self.log.reader_position(&self.options.reader)?;
        self.events.emit(Event::Retrying {
            what: format!(
                "stream {} holds no message any more (limits removed them): resuming at the \
                 named reader {}'s saved position {saved:?}",
                self.options.stream, self.options.reader
            ),
            after: Duration::ZERO,
        });
        Ok(Position {
            sequence,
            // The id before the saved position is unknown; only its end
            // matters from here.
            last: saved.map(|end| (end, end)),
        })
    }

    /// Saves the named reader's position (durably, off the async threads).
    async fn save(&mut self, end: u64) -> Result<(), Failure> {
        if self.saved == Some(end) {
            return Ok(());
        }
        let (log, name) = (self.log.clone(), self.options.reader.clone());
        tokio::task::spawn_blocking(move || log.save_reader_position(&name, end))
            .await
            .expect("save task")?;
        self.saved = Some(end);
        Ok(())
    }

    /// Reads the log from `start` and publishes in a thread of its own
    /// (nothing between a message's append and its publish but that
    /// thread's wake-up), and takes the acknowledgements here, in order.
    async fn publish_from(&mut self, start: Start, position: Position) -> Result<(), Failure> {
        let o = self.options.clone();
        let (tx, mut rx) = mpsc::unbounded_channel::<Sent>();
        let quit = CancellationToken::new();
        // A context of its own per session: the window of an earlier
        // session (acknowledgements that will never come) is not this one's.
        let js = jetstream::ContextBuilder::new()
            .timeout(o.ack_timeout)
            .max_ack_inflight(o.window)
            .backpressure_on_inflight(true)
            .build(self.client.clone());
        let window_kib = u32::try_from(o.window_bytes.div_ceil(1024).max(1)).unwrap_or(u32::MAX);
        let publisher = Publisher {
            handle: tokio::runtime::Handle::current(),
            js,
            subject: o.subject.clone(),
            origin: Origin {
                log_id: self.log.log_id(),
                id: 0,
                segment_size: self.log.segment_size(),
                max_message: self.log.max_message(),
            },
            max_payload: self.client.server_info().max_payload,
            last_sequence: position.sequence,
            // Bytes in flight, by the KiB.
            bytes: Arc::new(tokio::sync::Semaphore::new(window_kib as usize)),
            window_kib,
            chunk: (o.window / 2).clamp(1, 64),
            quit: quit.clone(),
        };
        let reading = {
            let log = self.log.clone();
            let (durability, once, wait) = (o.durability, o.once, o.wait);
            tokio::task::spawn_blocking(move || {
                read_and_publish(&log, start, durability, once, wait, publisher, &tx)
            })
        };
        // Stops the thread however this function ends.
        let _guard = quit.clone().drop_guard();
        let mut pending: VecDeque<InFlight> = VecDeque::new();
        let mut acked_end = position.last.map(|(_, end)| end);
        let mut reader_done = false;
        let mut stopping = false;
        let mut fatal: Option<JetStreamError> = None;
        let mut save_tick = tokio::time::interval(Duration::from_millis(100));
        let mut report_tick =
            tokio::time::interval(o.report_every.unwrap_or(Duration::from_secs(3600)));
        report_tick.tick().await;
        let mut saving: Option<tokio::task::JoinHandle<Result<(), LogError>>> = None;
        let (mut first_publish, mut last_ack) = (None::<Instant>, None::<Instant>);
        // What the thread sends: a published message, or its end.
        let mut take = |item: Option<Sent>,
                        pending: &mut VecDeque<InFlight>,
                        reader_done: &mut bool|
         -> Result<(), Failure> {
            match item {
                Some(Sent::Published(f)) => {
                    first_publish.get_or_insert_with(Instant::now);
                    pending.extend(f);
                }
                Some(Sent::CaughtUp) | None => *reader_done = true,
                Some(Sent::Stopped(Failure::Fatal(e))) => {
                    // After the acknowledgements of what went before.
                    *reader_done = true;
                    fatal = Some(e);
                }
                Some(Sent::Stopped(retry)) => return Err(retry),
            }
            Ok(())
        };
        loop {
            // Everything the thread has published, without waiting.
            while !reader_done {
                match rx.try_recv() {
                    Ok(item) => take(Some(item), &mut pending, &mut reader_done)?,
                    Err(mpsc::error::TryRecvError::Empty) => break,
                    Err(mpsc::error::TryRecvError::Disconnected) => reader_done = true,
                }
            }
            if reader_done && pending.is_empty() {
                break;
            }
            tokio::select! {
                biased;
                _ = self.stop.cancelled(), if !stopping => {
                    // The thread stops before its next publish; what it
                    // published is still taken, and acknowledged.
                    stopping = true;
                    quit.cancel();
                }
                ack = std::future::poll_fn(|cx| {
                    pending.front_mut().expect("not empty").ack.as_mut().poll(cx)
                }), if !pending.is_empty() => {
                    // In order, this one and every next one already there:
                    // the one at the front alone waits (and arms its
                    // timeout's timer).
                    let mut next = Some(ack);
                    while let Some(ack) = next {
                        let p = pending.pop_front().expect("one per acknowledgement");
                        let failure = match ack {
                            Ok(a) if a.sequence == p.sequence => {
                                acked_end = Some(p.end);
                                last_ack = Some(Instant::now());
                                self.summary.published += 1;
                                self.summary.last = Some((p.sequence, p.id));
                                None
                            }
                            Ok(a) => Some(Failure::Retry(format!(
                                "message {} was stored at sequence {} instead of {}; \
                                 resynchronising",
                                p.id, a.sequence, p.sequence
                            ))),
                            Err(e) => Some(publish_failure(&o.stream, p.id, e)),
                        };
                        if let Some(failure) = failure {
                            quit.cancel();
                            // Keep what was acknowledged before it.
                            if let Some(t) = saving.take() {
                                t.await.expect("save task")?;
                            }
                            if let Some(end) = acked_end {
                                self.saved = None;
                                self.save(end).await?;
                            }
                            return Err(failure);
                        }
                        next = pending.front_mut().and_then(|f| f.ack.as_mut().now_or_never());
                    }
                }
                item = rx.recv(), if !reader_done => take(item, &mut pending, &mut reader_done)?,
                _ = self.disconnected.notified(), if !pending.is_empty() => {
                    quit.cancel();
                    if let Some(t) = saving.take() {
                        t.await.expect("save task")?;
                    }
                    if let Some(end) = acked_end {
                        self.saved = None;
                        self.save(end).await?;
                    }
                    return Err(Failure::Retry(
                        "the connection was lost with messages in flight; resynchronising".into(),
                    ));
                }
                _ = save_tick.tick() => {
                    // In the background: the publishing goes on meanwhile
                    // (a save is an fdatasync, a rename and a directory
                    // fsync). One at a time; a failure stops the export.
                    if saving.as_ref().is_none_or(|t| t.is_finished()) {
                        if let Some(t) = saving.take() {
                            t.await.expect("save task")?;
                        }
                        if let Some(end) = acked_end.filter(|&e| self.saved != Some(e)) {
                            let (log, name) = (self.log.clone(), o.reader.clone());
                            saving = Some(tokio::task::spawn_blocking(move || {
                                log.save_reader_position(&name, end)
                            }));
                            self.saved = Some(end);
                        }
                    }
                }
                _ = report_tick.tick(), if o.report_every.is_some() => {
                    self.report(acked_end, pending.len()).await?;
                }
            }
        }
        if let (Some(a), Some(b)) = (first_publish, last_ack) {
            self.summary.publishing += b.saturating_duration_since(a);
        }
        if let Some(t) = saving.take() {
            t.await.expect("save task")?;
        }
        if let Some(end) = acked_end {
            self.saved = None;
            self.save(end).await?;
        }
        quit.cancel();
        drop(rx);
        reading.await.expect("reading task");
        if let Some(e) = fatal {
            return Err(Failure::Fatal(e));
        }
        Ok(())
    }

    /// Emits the lag: messages and bytes from the last acknowledged
    /// message to the log's end.
    async fn report(&self, acked_end: Option<u64>, in_flight: usize) -> Result<(), Failure> {
        let log = self.log.clone();
        let (messages, bytes) = tokio::task::spawn_blocking(move || behind(&log, acked_end))
            .await
            .expect("lag task")?;
        self.events.emit(Event::Lag(Lag {
            messages: messages.max(in_flight as u64),
            bytes,
            done_id: self.summary.last.map(|(_, id)| id),
            sequence: self.summary.last.map_or(0, |(s, _)| s),
            total: self.summary.published,
        }));
        Ok(())
    }
}

/// Messages and bytes of the log from `from` (a record's end; `None`: the
/// beginning) to its end, counting at most 10 million.
pub(crate) fn behind(log: &Log, from: Option<u64>) -> Result<(u64, u64), LogError> {
    let start = from.map_or(Start::Beginning, Start::Id);
    let mut reader = log.reader(start)?;
    let begin = reader.position();
    let mut n = 0u64;
    let mut end = begin;
    while n < 10_000_000 {
        match reader.try_next()? {
            Some(m) => {
                n += 1;
                end = m.id() + format::record_size(m.payload().len() as u32);
            }
            None => break,
        }
    }
    Ok((n, end.saturating_sub(begin)))
}

/// What a failed publish means.
fn publish_failure(
    stream: &str,
    id: u64,
    e: async_nats::jetstream::context::PublishError,
) -> Failure {
    match e.kind() {
        PublishErrorKind::WrongLastSequence => Failure::Retry(format!(
            "message {id}: the stream's last sequence is not the one expected (a publish \
             lost or stored out of turn); resynchronising"
        )),
        PublishErrorKind::StreamNotFound => Failure::Retry(format!(
            "message {id}: no stream {stream} answered (a leader election, or the stream is gone)"
        )),
        _ => {
            let detail = e.to_string();
            let code = std::error::Error::source(&e)
                .and_then(|s| s.downcast_ref::<async_nats::jetstream::Error>())
                .map(|j| j.error_code().0);
            if code == Some(10054) {
                // The stream's own max_msg_size.
                Failure::Fatal(JetStreamError::Nats {
                    op: format!("publish message {id} to stream {stream}"),
                    detail: format!(
                        "{detail}: the stream's maximum message size is below this message's \
                         (the export stops here; nothing after it was published)"
                    ),
                })
            } else {
                Failure::Retry(format!("message {id}: {detail}"))
            }
        }
    }
}
