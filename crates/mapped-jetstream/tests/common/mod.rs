//! Shared by the tests: a runtime, the stream's content, the log's.
#![allow(dead_code)]

use std::path::Path;

use mapped_jetstream::headers::Origin;
use mapped_log::{Log, LogOptions, Start};

/// A runtime for one test.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Small segments, so that tests cross many of them.
pub fn small() -> LogOptions {
    LogOptions {
        segment_size: 64 << 10,
        max_message: 4096,
        ..LogOptions::default()
    }
}

/// Every message of the log: (id, payload).
pub fn log_messages(log: &Log) -> Vec<(u64, Vec<u8>)> {
    let mut r = log.reader(Start::Beginning).unwrap();
    let mut out = Vec::new();
    let mut buf = Vec::new();
    while let Some(m) = r.try_next().unwrap() {
        m.copy_to(&mut buf).unwrap();
        out.push((m.id(), buf.clone()));
    }
    out
}

/// Every message of the log in `dir`.
pub fn dir_messages(dir: &Path) -> Vec<(u64, Vec<u8>)> {
    log_messages(&Log::open(dir).unwrap())
}

/// Every message of the stream, in sequence order: (sequence, origin,
/// payload). Fails on a gap in the sequences.
pub async fn stream_messages(url: &str, stream: &str) -> Vec<(u64, Origin, Vec<u8>)> {
    let client = async_nats::connect(url).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let s = js.get_stream(stream).await.unwrap();
    let state = s.get_info().await.unwrap().state;
    let mut out = Vec::new();
    if state.messages == 0 {
        return out;
    }
    for seq in state.first_sequence..=state.last_sequence {
        let m = s.get_raw_message(seq).await.unwrap();
        let o = Origin::parse(stream, seq, Some(&m.headers)).unwrap();
        out.push((seq, o, m.payload.to_vec()));
    }
    out
}

/// The stream's messages as (id, payload), checking that they are
/// numbered 1, 2, ... without a gap.
pub async fn stream_ids(url: &str, stream: &str) -> Vec<(u64, Vec<u8>)> {
    let all = stream_messages(url, stream).await;
    for (i, (seq, _, _)) in all.iter().enumerate() {
        assert_eq!(
            *seq,
            i as u64 + 1,
            "stream sequences start at 1 without gaps"
        );
    }
    all.into_iter().map(|(_, o, p)| (o.id, p)).collect()
}

/// A payload that says who wrote it and when: `w<writer>-<n>` padded with
/// `n % 200` dots, so sizes vary.
pub fn payload(writer: u32, n: u64) -> Vec<u8> {
    let mut p = format!("w{writer}-{n}").into_bytes();
    p.resize(p.len() + (n % 200) as usize, b'.');
    p
}
