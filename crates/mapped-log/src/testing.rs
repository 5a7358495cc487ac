//! Helpers for the crate's unit tests.

use std::sync::Arc;

use crate::log::Log;
use crate::ops::open::LogOptions;
use crate::storage::control::Inner;

/// A new log of `segment_size`-byte segments (messages up to 4 KiB) in a
/// temporary directory, for the crate's unit tests: the state the layers
/// below the façade work on.
#[cfg(test)]
pub(crate) fn temp_log(segment_size: u64) -> (tempfile::TempDir, Arc<Inner>) {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::create(
        dir.path().join("log"),
        LogOptions {
            segment_size,
            max_message: 4096,
            ..LogOptions::default()
        },
    )
    .unwrap();
    (dir, log.inner)
}
