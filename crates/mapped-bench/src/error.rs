//! [`BenchError`]: what can stop a benchmark run.

use std::io;
use std::path::PathBuf;

/// The result of a benchmark operation.
pub type Result<T, E = BenchError> = std::result::Result<T, E>;

/// Why a benchmark could not run to its end. Measurements never fail a
/// run: a quantity the machine cannot provide is reported as not measured.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BenchError {
    /// A system call on a file or directory failed: check the path, its
    /// permissions and the free space.
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The error from the system.
        #[source]
        source: io::Error,
    },
    /// The mapping layer refused (see its message).
    #[error(transparent)]
    Mapped(#[from] mapped::Error),
    /// The log refused (see its message).
    #[error(transparent)]
    Log(#[from] mapped_log::LogError),
    /// The options cannot be honoured: the message says which one and why.
    #[error("invalid benchmark options: {0}")]
    Options(String),
    /// A peer process (or thread) failed, exited early, or did not answer
    /// in time. With [`Peer::Process`](crate::Peer::Process) its own error is
    /// on its standard error.
    #[error("benchmark peer for {experiment}: {why}")]
    Peer {
        /// The experiment the peer served.
        experiment: String,
        /// What went wrong.
        why: String,
    },
    /// A transport under test misbehaved: a message arrived out of order
    /// or corrupted, or a third-party peer (iceoryx2) returned an error.
    #[error("{transport}: {why}")]
    Transport {
        /// The transport.
        transport: String,
        /// What it did.
        why: String,
    },
    /// [`peer_main`](crate::peer_main) was called with arguments that
    /// [`run_ipc`](crate::run_ipc) did not make.
    #[error("bad benchmark peer arguments {args:?}: {why}")]
    PeerArgs {
        /// The arguments received.
        args: Vec<String>,
        /// What is wrong with them.
        why: String,
    },
    /// The chart could not be drawn or written.
    #[error("drawing {}: {why}", path.display())]
    Plot {
        /// The SVG file.
        path: PathBuf,
        /// The drawing library's message.
        why: String,
    },
}

impl BenchError {
    /// An [`BenchError::Io`] for `path`.
    pub(crate) fn io(what: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        BenchError::Io {
            what,
            path: path.into(),
            source,
        }
    }
}

macro_rules! from_mapped {
    ($($t:ty),*) => {$(
        impl From<$t> for BenchError {
            fn from(e: $t) -> Self {
                BenchError::Mapped(e.into())
            }
        }
    )*};
}
from_mapped!(
    mapped::OpenError,
    mapped::AccessError,
    mapped::SyncError,
    mapped::IoError
);
