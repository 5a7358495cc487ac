//! The stream side: finding (or creating) the stream, checking that it
//! takes our subject, reading its last message, and finding the sequence
//! that holds a given message id (binary search over message gets: ids grow
//! with sequences in a stream that one exporter fills).

use std::time::Duration;

use async_nats::jetstream::ErrorCode;
use async_nats::jetstream::context::{CreateStreamErrorKind, GetStreamErrorKind};
use async_nats::jetstream::message::StreamMessage;
use async_nats::jetstream::stream::{self, LastRawMessageErrorKind, Stream};
use async_nats::jetstream::{self};

use crate::error::{Failure, JetStreamError};
use crate::event::{Event, Events};
use crate::headers::Origin;

/// How to create the stream when it is missing.
#[derive(Debug, Clone)]
pub struct CreateStream {
    /// Subjects it takes (the export's subject if empty).
    pub subjects: Vec<String>,
    /// Copies kept by a cluster (1, 3 or 5).
    pub replicas: usize,
    /// Messages older than this are removed (`None`: kept).
    pub max_age: Option<Duration>,
    /// The stream is kept below this many bytes, oldest removed first.
    pub max_bytes: Option<i64>,
    /// The server's deduplication window for `Nats-Msg-Id`.
    pub duplicate_window: Option<Duration>,
    /// In memory instead of in files (lost when the server stops).
    pub memory: bool,
}

impl Default for CreateStream {
    fn default() -> Self {
        CreateStream {
            subjects: Vec::new(),
            replicas: 1,
            max_age: None,
            max_bytes: None,
            duplicate_window: None,
            memory: false,
        }
    }
}

/// Whether a NATS subject `pattern` (with `*` and `>` wildcards) matches
/// the literal subject `subject`.
pub fn subject_matches(pattern: &str, subject: &str) -> bool {
    let mut p = pattern.split('.');
    let mut s = subject.split('.');
    loop {
        match (p.next(), s.next()) {
            (Some(">"), Some(_)) => return true,
            (Some("*"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// A JetStream API error that means "try again later": no leader yet, no
/// responders while a server starts, a timeout.
fn transient(code: Option<ErrorCode>) -> bool {
    match code {
        None => true,
        Some(c) => matches!(
            c.0,
            10008 /* cluster not available */ | 10076 /* JetStream not enabled (yet) */
                | 10039 /* not enabled for account */
        ),
    }
}

/// Gets the stream `name`, creating it with `create` if it is missing and
/// that is given; checks that it takes `subject` (when given).
pub(crate) async fn open(
    js: &jetstream::Context,
    name: &str,
    subject: Option<&str>,
    create: Option<&CreateStream>,
    events: &Events,
) -> Result<Stream, Failure> {
    let stream = match js.get_stream(name).await {
        Ok(s) => s,
        Err(e) => {
            let code = match e.kind() {
                GetStreamErrorKind::JetStream(j) => Some(j.error_code()),
                _ => None,
            };
            if code != Some(ErrorCode::STREAM_NOT_FOUND) {
                return Err(if transient(code) {
                    Failure::Retry(format!("get stream {name}: {e}"))
                } else {
                    Failure::Fatal(JetStreamError::Nats {
                        op: format!("get stream {name}"),
                        detail: e.to_string(),
                    })
                });
            }
            let Some(c) = create else {
                return Err(Failure::Fatal(JetStreamError::NoStream {
                    stream: name.to_string(),
                    hint: if subject.is_some() {
                        " (create it, or pass --create-stream)"
                    } else {
                        " (the exporter creates it with --create-stream)"
                    },
                }));
            };
            let mut subjects = c.subjects.clone();
            if subjects.is_empty() {
                subjects.extend(subject.map(str::to_string));
            }
            let config = stream::Config {
                name: name.to_string(),
                subjects,
                num_replicas: c.replicas,
                max_age: c.max_age.unwrap_or_default(),
                max_bytes: c.max_bytes.unwrap_or(-1),
                duplicate_window: c.duplicate_window.unwrap_or_default(),
                storage: if c.memory {
                    stream::StorageType::Memory
                } else {
                    stream::StorageType::File
                },
                ..Default::default()
            };
            match js.create_stream(config).await {
                Ok(s) => {
                    events.emit(Event::CreatedStream {
                        stream: name.to_string(),
                    });
                    s
                }
                Err(e) => {
                    let code = match e.kind() {
                        CreateStreamErrorKind::JetStream(j) => Some(j.error_code()),
                        CreateStreamErrorKind::TimedOut
                        | CreateStreamErrorKind::JetStreamUnavailable => None,
                        _ => Some(ErrorCode(0)),
                    };
                    return Err(if transient(code) {
                        Failure::Retry(format!("create stream {name}: {e}"))
                    } else {
                        Failure::Fatal(JetStreamError::Nats {
                            op: format!("create stream {name}"),
                            detail: e.to_string(),
                        })
                    });
                }
            }
        }
    };
    if let Some(subject) = subject {
        let subjects = &stream.cached_info().config.subjects;
        if !subjects.iter().any(|p| subject_matches(p, subject)) {
            return Err(Failure::Fatal(JetStreamError::SubjectNotInStream {
                stream: name.to_string(),
                subject: subject.to_string(),
                subjects: subjects.join(", "),
            }));
        }
    }
    Ok(stream)
}

/// The stream's first and last sequence, and its message count, fresh
/// from the server.
pub(crate) async fn state(stream: &Stream) -> Result<stream::State, Failure> {
    stream
        .get_info()
        .await
        .map(|i| i.state)
        .map_err(|e| Failure::Retry(format!("stream info: {e}")))
}

/// The message at `sequence`, `None` if the stream has none there
/// (removed, or never stored).
pub(crate) async fn get(stream: &Stream, sequence: u64) -> Result<Option<StreamMessage>, Failure> {
    match stream.get_raw_message(sequence).await {
        Ok(m) => Ok(Some(m)),
        Err(e) => match e.kind() {
            LastRawMessageErrorKind::NoMessageFound => Ok(None),
            LastRawMessageErrorKind::JetStream(j)
                if j.error_code() == ErrorCode::NO_MESSAGE_FOUND =>
            {
                Ok(None)
            }
            _ => Err(Failure::Retry(format!("get message {sequence}: {e}"))),
        },
    }
}

/// The message at `sequence` and its origin, which must be from the log
/// `log_id` when that is given.
pub(crate) async fn get_origin(
    stream: &Stream,
    name: &str,
    sequence: u64,
    log_id: Option<[u8; 16]>,
) -> Result<Option<(StreamMessage, Origin)>, Failure> {
    let Some(m) = get(stream, sequence).await? else {
        return Ok(None);
    };
    let origin = Origin::parse(name, sequence, Some(&m.headers))?;
    if let Some(ours) = log_id {
        check_log(name, sequence, &origin, ours)?;
    }
    Ok(Some((m, origin)))
}

/// Fails with [`JetStreamError::ForeignStream`] if `origin` is not of the
/// log `ours`.
pub(crate) fn check_log(
    name: &str,
    sequence: u64,
    origin: &Origin,
    ours: [u8; 16],
) -> Result<(), JetStreamError> {
    if origin.log_id == ours {
        return Ok(());
    }
    Err(JetStreamError::ForeignStream {
        stream: name.to_string(),
        sequence,
        theirs: crate::headers::hex(&origin.log_id),
        ours: crate::headers::hex(&ours),
    })
}

/// The sequence of the stream message whose id is `id`, by binary search
/// over `[first, last]` (ids grow with sequences): `Ok(Err(next))` if no
/// message has that id, with the sequence of the first message past it.
/// A sequence with no message (deleted) is stepped over.
pub(crate) async fn find_id(
    stream: &Stream,
    name: &str,
    log_id: [u8; 16],
    id: u64,
    first: u64,
    last: u64,
) -> Result<Result<(u64, StreamMessage), u64>, Failure> {
    let (mut lo, mut hi) = (first, last + 1); // answer in [lo, hi]
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        // The first message at or after `mid` (deleted ones skipped).
        let mut seq = mid;
        let found = loop {
            if seq >= hi {
                break None;
            }
            match get_origin(stream, name, seq, Some(log_id)).await? {
                Some(found) => break Some(found),
                None => seq += 1,
            }
        };
        match found {
            None => hi = mid,
            Some((m, o)) if o.id == id => return Ok(Ok((seq, m))),
            Some((_, o)) if o.id < id => lo = seq + 1,
            Some(_) => hi = mid,
        }
    }
    Ok(Err(lo))
}

#[cfg(test)]
mod tests {
    use super::subject_matches;

    #[test]
    fn subjects_match_with_wildcards() {
        assert!(subject_matches("a.b", "a.b"));
        assert!(subject_matches("a.*", "a.b"));
        assert!(subject_matches("a.>", "a.b.c"));
        assert!(subject_matches(">", "a"));
        assert!(!subject_matches("a.*", "a.b.c"));
        assert!(!subject_matches("a.>", "a"));
        assert!(!subject_matches("a.b", "a.c"));
        assert!(!subject_matches("a", "a.b"));
    }
}
