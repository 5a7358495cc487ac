//! [`IpcOptions`]: what [`run_ipc`](super::run_ipc) measures.

use std::path::PathBuf;

use crate::Scale;

/// What `run_ipc` measures. Start from [`IpcOptions::new`] and set fields.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct IpcOptions {
    /// How much work to do.
    pub scale: Scale,
    /// Directory for the logs, rings and sockets (a private subdirectory,
    /// removed at the end). Default: the system's temporary directory. The
    /// `sync` rows measure its storage.
    pub dir: Option<PathBuf>,
    /// Pin the main side and the peers to different CPUs (default: true).
    pub pin: bool,
    /// Measure the third-party peers built in (iceoryx2 with the `peers`
    /// feature; default: true).
    pub peers: bool,
    /// Measure only the rows whose transport key (see [`LatencyRow`](super::LatencyRow) and
    /// [`ThroughputRow`](super::ThroughputRow)) is listed; empty: every row.
    pub only: Vec<String>,
}

impl IpcOptions {
    /// Options at `scale`, with everything else by default.
    pub fn new(scale: Scale) -> IpcOptions {
        IpcOptions {
            scale,
            dir: None,
            pin: true,
            peers: true,
            only: Vec::new(),
        }
    }
}

impl Default for IpcOptions {
    fn default() -> Self {
        IpcOptions::new(Scale::Full)
    }
}
