//! The errors of exporting and replicating: each says what is wrong and,
//! where there is one, what the user can do.

use std::path::PathBuf;
use std::time::Duration;

use mapped_log::LogError;

/// Why an export or a replica stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JetStreamError {
    /// The local log failed.
    #[error(transparent)]
    Log(#[from] LogError),
    /// No server answered at start within the bounded wait.
    #[error(
        "cannot reach the NATS server at {servers} (tried for {waited:?}): {last}; \
         is nats-server running there, with JetStream enabled (-js)?"
    )]
    Unreachable {
        /// The server addresses tried.
        servers: String,
        /// How long we kept trying.
        waited: Duration,
        /// The last error seen.
        last: String,
    },
    /// The server refused our credentials (or we sent none and it wants
    /// some).
    #[error(
        "the NATS server at {servers} refused authentication: {detail}; check the credentials \
         (--creds, --nkey, --token-file, or the URL's user)"
    )]
    Auth {
        /// The server addresses.
        servers: String,
        /// What the client reported.
        detail: String,
    },
    /// TLS could not be set up (a certificate file, a handshake).
    #[error(
        "TLS with the NATS server at {servers} failed: {detail}; check --tls-ca, --tls-cert and --tls-key"
    )]
    Tls {
        /// The server addresses.
        servers: String,
        /// What the client reported.
        detail: String,
    },
    /// A credentials or certificate file could not be read.
    #[error("cannot read {}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The stream does not exist.
    #[error("stream {stream} does not exist on the server{hint}")]
    NoStream {
        /// Its name.
        stream: String,
        /// How to create it, for the exporter.
        hint: &'static str,
    },
    /// The stream does not take the subject we publish to.
    #[error("stream {stream} does not take subject {subject} (its subjects: {subjects})")]
    SubjectNotInStream {
        /// The stream.
        stream: String,
        /// Our subject.
        subject: String,
        /// Its subjects, comma-separated.
        subjects: String,
    },
    /// The stream holds messages of another log (or messages not exported
    /// from a mapped log at all).
    #[error(
        "stream {stream} holds messages of another log (sequence {sequence} is from log {theirs}, \
         this log is {ours}): give each log a stream of its own"
    )]
    ForeignStream {
        /// The stream.
        stream: String,
        /// The sequence of the foreign message found.
        sequence: u64,
        /// Its log id, in hex.
        theirs: String,
        /// Ours, in hex.
        ours: String,
    },
    /// A stream message lacks the headers an exported message carries, or
    /// they are garbage.
    #[error("stream {stream}, sequence {sequence}: {what}")]
    BadMessage {
        /// The stream.
        stream: String,
        /// The message's sequence.
        sequence: u64,
        /// What is wrong.
        what: String,
    },
    /// A message of the log is larger than the server accepts: never
    /// skipped, so the export stops before it.
    #[error(
        "message {id} of the log takes {size} bytes with its headers, more than the server's \
         maximum payload of {max_payload} bytes: raise max_payload in the server's configuration \
         (the export stops here; nothing after it was published)"
    )]
    TooLarge {
        /// The message's id.
        id: u64,
        /// Its payload and headers, in bytes.
        size: usize,
        /// The server's limit.
        max_payload: usize,
    },
    /// The log and the stream disagree: a replica that someone else
    /// appended to, a replica or a log that lost messages the stream has,
    /// a log whose tail a power loss cut after it was exported.
    #[error("{}: {what}", dir.display())]
    Diverged {
        /// The local log's directory.
        dir: PathBuf,
        /// How they disagree, and what to do.
        what: String,
    },
    /// The connection options contradict each other (two ways to
    /// authenticate).
    #[error("{what}")]
    Options {
        /// What is wrong.
        what: String,
    },
    /// A NATS request failed in a way that retrying will not mend.
    #[error("{op}: {detail}")]
    Nats {
        /// What we asked for.
        op: String,
        /// What the server or the client said.
        detail: String,
    },
}

/// The result of this crate's calls.
pub type Result<T, E = JetStreamError> = std::result::Result<T, E>;

/// What a failed step of a long-running loop means: try again after a
/// pause (the connection, a leader election), or stop.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Transient: say so, back off, resynchronise, carry on.
    Retry(String),
    /// Stop with this error.
    Fatal(JetStreamError),
}

impl From<JetStreamError> for Failure {
    fn from(e: JetStreamError) -> Self {
        Failure::Fatal(e)
    }
}

impl From<LogError> for Failure {
    fn from(e: LogError) -> Self {
        Failure::Fatal(e.into())
    }
}
