//! What `mapped bench ipc` measured: the rows of its tables and the
//! report that holds them, with how they print as JSON.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::env::Environment;
use crate::stats::{Ratio, Summary, Target};

/// Percentiles of one-way latency over every round trip, in nanoseconds.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Percentiles {
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// The largest.
    pub max: f64,
}

/// One latency row.
#[derive(Debug, Clone, Serialize)]
pub struct LatencyRow {
    /// What was measured.
    pub name: String,
    /// A short key: `spin`, `spin-1way`, `futex`, `futex-1way`, `pipe`,
    /// `unix`, `log-spin`,
    /// `log-block`, `log-default`, `log-1way-spin`, `log-1way-block`,
    /// `iceoryx2` (slice API), `iceoryx2-fixed` (a fixed-size type).
    pub transport: String,
    /// Payload bytes per message.
    pub payload: usize,
    /// Samples per repetition (after a warm-up): round trips, or messages
    /// for the stamped rows.
    pub round_trips: u64,
    /// One-way p50 (half the round trip) per repetition, in nanoseconds.
    pub p50_ns: Summary,
    /// One-way p99 per repetition, in nanoseconds.
    pub p99_ns: Summary,
    /// Percentiles over every repetition's round trips.
    pub all: Percentiles,
    /// p50 against other rows (time ratio: above 1 is slower), for the
    /// log's rows: the raw baselines and each peer with the same payload.
    pub vs: BTreeMap<String, Ratio>,
}

/// One throughput row.
#[derive(Debug, Clone, Serialize)]
pub struct ThroughputRow {
    /// What was measured.
    pub name: String,
    /// A short key: `ring`, `pipe`, `unix`, `log`, `iceoryx2`,
    /// `iceoryx2-fixed`, `log-2w`, `log-append-1`, `log-append-2`, `log-sync-1`, `log-sync-8`.
    pub transport: String,
    /// Payload bytes per message.
    pub payload: usize,
    /// Messages per repetition.
    pub messages: u64,
    /// Messages per second.
    pub msgs_per_s: Summary,
    /// Payload MiB per second.
    pub mib_per_s: Summary,
    /// Rate against other rows (above 1 is faster), for the log's rows.
    pub vs: BTreeMap<String, Ratio>,
}

/// The result of [`run_ipc`](crate::ipc::run_ipc).
#[derive(Debug, Clone, Serialize)]
pub struct IpcReport {
    /// Where it ran.
    pub environment: Environment,
    /// `processes` or `threads`.
    pub peer_mode: String,
    /// Repetitions per row.
    pub repetitions: usize,
    /// Latency rows.
    pub latency: Vec<LatencyRow>,
    /// Throughput rows.
    pub throughput: Vec<ThroughputRow>,
    /// The project's targets, PASS or MISS.
    pub targets: Vec<Target>,
    /// How to read the numbers, and what was not measured.
    pub notes: Vec<String>,
}

impl IpcReport {
    /// The report as pretty-printed JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("reports serialize")
    }

    /// The latency row of `transport` with `payload`, if measured.
    pub fn latency_row(&self, transport: &str, payload: usize) -> Option<&LatencyRow> {
        self.latency
            .iter()
            .find(|r| r.transport == transport && r.payload == payload)
    }

    /// The throughput row of `transport` with `payload`, if measured.
    pub fn throughput_row(&self, transport: &str, payload: usize) -> Option<&ThroughputRow> {
        self.throughput
            .iter()
            .find(|r| r.transport == transport && r.payload == payload)
    }
}
