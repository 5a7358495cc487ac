//! What a running export or replica tells its user: reconnections, retries,
//! where it resumed, and its lag, as values the caller prints (as text or
//! JSON) or ignores.

use std::sync::Arc;
use std::time::Duration;

/// Something worth telling while an export or a replica runs.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// The connection to the server was lost; the client reconnects with
    /// backoff.
    Disconnected,
    /// The client is connected (at start, and again after a loss).
    Connected,
    /// The server reported an error on the connection.
    ServerError {
        /// What it said.
        detail: String,
    },
    /// A step failed for a reason that may pass (no server, a leader
    /// election, a timeout); it is tried again after `after`.
    Retrying {
        /// What failed.
        what: String,
        /// The pause before the next try.
        after: Duration,
    },
    /// The stream was created.
    CreatedStream {
        /// Its name.
        stream: String,
    },
    /// Where the work (re)starts: after stream sequence `sequence`, which
    /// holds the message `id` (`None`: the stream or the replica is empty).
    Resumed {
        /// The last stream sequence already done.
        sequence: u64,
        /// The id of the message there.
        id: Option<u64>,
    },
    /// How far behind the work is.
    Lag(Lag),
}

/// How far an export or a replica is behind its source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lag {
    /// Messages not yet acknowledged by the stream (export) or not yet in
    /// the replica (replica).
    pub messages: u64,
    /// Their bytes: the span of ids between the last message done and the
    /// source's end (records, with their headers and padding).
    pub bytes: u64,
    /// The id of the last message done (acknowledged, or appended to the
    /// replica).
    pub done_id: Option<u64>,
    /// The stream sequence of that message.
    pub sequence: u64,
    /// Messages done since the start.
    pub total: u64,
}

/// Where events go: a function called from the tasks that run the work.
#[derive(Clone)]
pub struct Events(Arc<dyn Fn(Event) + Send + Sync>);

impl Events {
    /// Events passed to `f`.
    pub fn new(f: impl Fn(Event) + Send + Sync + 'static) -> Events {
        Events(Arc::new(f))
    }

    /// Events dropped.
    pub fn ignore() -> Events {
        Events::new(|_| {})
    }

    pub(crate) fn emit(&self, e: Event) {
        (self.0)(e)
    }
}

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Events")
    }
}
