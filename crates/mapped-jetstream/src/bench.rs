//! `mapped bench jetstream`: the export and the replica measured side by
//! side with bare `async-nats`, in the same run, against a `nats-server`
//! started for it (file storage, loopback):
//!
//! - **export throughput**, 64 B and 4 KiB messages: [`export()`] of a log
//!   that holds them, against a bare JetStream publisher sending the same
//!   messages (same payloads, same headers) from memory with the same
//!   window of acknowledgements in flight;
//! - **latency** from an append on log A to the message readable in replica
//!   B (an exporter and a replica running), against a bare JetStream
//!   publish to an ordered consumer's receipt; one message a millisecond;
//! - **replica reads**: the replica read with an ordinary reader, against
//!   the source log read the same way.
//!
//! Medians over rounds (throughput, reads); percentiles over every message
//! (latency).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, stream};
use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::FuturesOrdered;
use hdrhistogram::Histogram;
use mapped_log::{Appender, Log, LogOptions, Start, WaitStrategy};
use tokio_util::sync::CancellationToken;

use crate::headers::Origin;
use crate::server::NatsServer;
use crate::{
    Connection, CreateStream, Events, ExportDurability, ExportOptions, ReplicaOptions, export,
    replicate,
};

/// How much to measure.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// A short run (fewer messages and rounds).
    pub quick: bool,
    /// A few messages of each kind: checks that everything runs; the
    /// numbers mean nothing (for tests).
    pub smoke: bool,
    /// Where to put the logs (default: the temporary folder).
    pub dir: Option<PathBuf>,
}

/// One measured comparison.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Row {
    /// What was measured.
    pub name: String,
    /// The unit of `ours` and `bare`.
    pub unit: &'static str,
    /// Ours: the export, the replica, or the replica's reads.
    pub ours: f64,
    /// The baseline.
    pub bare: f64,
    /// What the baseline is.
    pub bare_name: &'static str,
    /// `ours / bare`.
    pub ratio: f64,
    /// The target on the ratio, if there is one (`>= 0.8`, `<= 1.5`).
    pub target: Option<&'static str>,
    /// Whether the ratio meets it.
    pub pass: Option<bool>,
    /// More detail (percentiles, rounds).
    pub detail: String,
}

/// Everything measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    /// The server's version.
    pub server: String,
    /// The comparisons.
    pub rows: Vec<Row>,
}

type BenchResult<T> = std::result::Result<T, String>;

fn s<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Runs the benchmark with the `nats-server` at `binary`; `progress`
/// hears what is being measured.
pub fn run(binary: &Path, options: &BenchOptions, progress: &dyn Fn(&str)) -> BenchResult<Report> {
    let server = NatsServer::start(binary).map_err(s)?;
    let version = std::process::Command::new(binary)
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let tmp = match &options.dir {
        Some(d) => tempfile::tempdir_in(d),
        None => tempfile::tempdir(),
    }
    .map_err(s)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(s)?;
    let url = server.url();
    let (rounds, n64, n4k, lat_n) = if options.smoke {
        (1, 2_000, 200, 50)
    } else if options.quick {
        (4, 50_000, 5_000, 500)
    } else {
        (6, 200_000, 20_000, 2_000)
    };
    let mut rows = Vec::new();
    for (size, n) in [(64usize, n64), (4096, n4k)] {
        progress(&format!("export throughput, {size} B messages"));
        let dir = tmp.path().join(format!("through-{size}"));
        let log = Log::create(&dir, LogOptions::default()).map_err(s)?;
        let mut app = Appender::new(&log).map_err(s)?;
        let payload: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        for _ in 0..n {
            app.append(&payload).map_err(s)?;
        }
        log.sync().map_err(s)?;
        let messages: Vec<(Origin, Bytes)> = {
            let mut r = log.reader(Start::Beginning).map_err(s)?;
            let mut out = Vec::with_capacity(n);
            while let Some(m) = r.try_next().map_err(s)? {
                out.push((
                    Origin {
                        log_id: log.log_id(),
                        id: m.id(),
                        segment_size: log.segment_size(),
                        max_message: log.max_message(),
                    },
                    Bytes::copy_from_slice(m.payload()),
                ));
            }
            out
        };
        let (mut ours, mut bare) = (Vec::new(), Vec::new());
        for round in 0..rounds {
            // Each into a fresh stream, taking turns at going first (the
            // second runs while the server's files of the first are
            // written back).
            if round % 2 == 0 {
                bare.push(rt.block_on(bare_publish(&url, &messages, 4096))?);
                ours.push(rt.block_on(export_throughput(&log, &url, round))?);
            } else {
                ours.push(rt.block_on(export_throughput(&log, &url, round))?);
                bare.push(rt.block_on(bare_publish(&url, &messages, 4096))?);
            }
        }
        let (o, b) = (median(ours.clone()), median(bare.clone()));
        rows.push(Row {
            name: format!("export throughput, {size} B"),
            unit: "messages/s",
            ours: o,
            bare: b,
            bare_name: "async-nats JetStream publisher, 4096 acks in flight, from memory",
            ratio: o / b,
            target: Some(">= 0.80"),
            pass: Some(o / b >= 0.8),
            detail: format!(
                "{n} messages, first publish to last acknowledgement, median of {rounds} \
                 rounds; export {:?}, bare {:?}",
                ours.iter().map(|x| x.round()).collect::<Vec<_>>(),
                bare.iter().map(|x| x.round()).collect::<Vec<_>>()
            ),
        });
        if size == 64 {
            progress("replica local reads");
            rows.push(replica_reads(&rt, &log, &url, tmp.path(), rounds)?);
        }
    }
    progress("latency, bare publish -> consume");
    let bare = rt.block_on(bare_latency(&url, lat_n))?;
    let spin = WaitStrategy::SpinThenSleep(Duration::from_millis(5));
    for (durability, wait, name) in [
        (
            ExportDurability::Sync,
            WaitStrategy::default(),
            "sync (default)",
        ),
        (
            ExportDurability::Unsynced,
            WaitStrategy::default(),
            "unsynced",
        ),
        (
            ExportDurability::Unsynced,
            spin,
            "unsynced, readers spinning 5 ms before they sleep",
        ),
    ] {
        progress(&format!("latency, append on A -> replica B, export {name}"));
        let ours = latency(&rt, &url, tmp.path(), durability, wait, lat_n)?;
        let (o, b) = (ours.value_at_quantile(0.5), bare.value_at_quantile(0.5));
        let ratio = o as f64 / b as f64;
        rows.push(Row {
            name: format!("latency p50, append on A -> readable in replica B, export {name}"),
            unit: "µs",
            ours: o as f64,
            bare: b as f64,
            bare_name: "async-nats JetStream publish -> ordered consumer receipt",
            ratio,
            target: Some("<= 1.5"),
            pass: Some(ratio <= 1.5),
            detail: format!(
                "{lat_n} messages, one a millisecond; p99 {} µs (bare {} µs)",
                ours.value_at_quantile(0.99),
                bare.value_at_quantile(0.99)
            ),
        });
    }
    progress("sync floor: Log::sync of one append");
    let floor = sync_floor(tmp.path(), lat_n)?;
    let (o, b) = (floor.value_at_quantile(0.5), bare.value_at_quantile(0.5));
    rows.push(Row {
        name: "sync floor p50: Log::sync of one 64 B append (the default export's fdatasync)"
            .into(),
        unit: "µs",
        ours: o as f64,
        bare: b as f64,
        bare_name: "async-nats JetStream publish -> ordered consumer receipt",
        ratio: o as f64 / b as f64,
        target: None,
        pass: None,
        detail: format!(
            "{lat_n} syncs, one a millisecond; p99 {} µs. The synced latency cannot be below \
             the bare round trip plus this",
            floor.value_at_quantile(0.99)
        ),
    });
    drop(server);
    Ok(Report {
        server: version,
        rows,
    })
}

/// A fresh file stream `name` taking `subject`.
async fn fresh_stream(js: &jetstream::Context, name: &str, subject: &str) -> BenchResult<()> {
    let _ = js.delete_stream(name).await;
    js.create_stream(stream::Config {
        name: name.into(),
        subjects: vec![subject.into()],
        ..Default::default()
    })
    .await
    .map_err(s)?;
    Ok(())
}

async fn client(url: &str) -> BenchResult<(async_nats::Client, jetstream::Context)> {
    let client = async_nats::connect(url).await.map_err(s)?;
    let js = jetstream::ContextBuilder::new()
        .max_ack_inflight(8192)
        .build(client.clone());
    Ok((client, js))
}

/// Messages a second of a bare publisher: every message published with
/// its headers, `window` acknowledgements in flight.
async fn bare_publish(url: &str, messages: &[(Origin, Bytes)], window: usize) -> BenchResult<f64> {
    let (_c, js) = client(url).await?;
    fresh_stream(&js, "BENCH", "bench").await?;
    let mut start = None;
    let mut acks: FuturesOrdered<
        futures_util::future::BoxFuture<'static, Result<jetstream::publish::PublishAck, _>>,
    > = FuturesOrdered::new();
    for (origin, payload) in messages {
        if acks.len() >= window {
            acks.next().await.expect("not empty").map_err(s)?;
        }
        start.get_or_insert_with(Instant::now);
        let ack = js
            .publish_with_headers("bench", origin.headers(), payload.clone())
            .await
            .map_err(s)?;
        acks.push_back(Box::pin(ack.into_future()));
    }
    while let Some(a) = acks.next().await {
        a.map_err(s)?;
    }
    let secs = start.map_or(0.0, |s| s.elapsed().as_secs_f64());
    Ok(messages.len() as f64 / secs)
}

/// Messages a second of [`export()`] of the whole log into a fresh stream.
async fn export_throughput(log: &Log, url: &str, round: usize) -> BenchResult<f64> {
    let (_c, js) = client(url).await?;
    fresh_stream(&js, "BENCH", "bench").await?;
    let mut o = ExportOptions::new("BENCH", "bench");
    o.once = true;
    o.report_every = None;
    o.reader = format!("bench-{round}");
    let summary = export(
        log,
        &Connection::new(url),
        &o,
        CancellationToken::new(),
        &Events::ignore(),
    )
    .await
    .map_err(s)?;
    log.remove_named_reader(&o.reader).map_err(s)?;
    // From the first publish to the last acknowledgement, as for the bare
    // publisher: connecting and the reader's saves at start and exit are
    // not throughput.
    Ok(summary.published as f64 / summary.publishing.as_secs_f64())
}

/// The replica of `log` read with an ordinary reader, against `log`
/// itself: messages a second, median of `rounds`.
fn replica_reads(
    rt: &tokio::runtime::Runtime,
    log: &Log,
    url: &str,
    work: &Path,
    rounds: usize,
) -> BenchResult<Row> {
    let copy = work.join("replica-reads");
    rt.block_on(async {
        let (_c, js) = client(url).await?;
        fresh_stream(&js, "BENCH", "bench").await?;
        let mut o = ExportOptions::new("BENCH", "bench");
        o.once = true;
        o.report_every = None;
        o.reader = "bench-replica".into();
        let c = Connection::new(url);
        export(log, &c, &o, CancellationToken::new(), &Events::ignore())
            .await
            .map_err(s)?;
        let mut r = ReplicaOptions::new("BENCH");
        r.once = true;
        r.report_every = None;
        replicate(&copy, &c, &r, CancellationToken::new(), &Events::ignore())
            .await
            .map_err(s)?;
        log.remove_named_reader("bench-replica").map_err(s)
    })?;
    let replica = Log::open(&copy).map_err(s)?;
    let read_all = |l: &Log| -> BenchResult<f64> {
        let start = Instant::now();
        let mut r = l.reader(Start::Beginning).map_err(s)?;
        let (mut n, mut sum) = (0u64, 0u64);
        while let Some(m) = r.try_next().map_err(s)? {
            n += 1;
            sum = sum.wrapping_add(m.payload().len() as u64);
        }
        std::hint::black_box(sum);
        Ok(n as f64 / start.elapsed().as_secs_f64())
    };
    let (mut ours, mut bare) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        ours.push(read_all(&replica)?);
        bare.push(read_all(log)?);
    }
    let (o, b) = (median(ours), median(bare));
    Ok(Row {
        name: "replica local reads, 64 B".into(),
        unit: "messages/s",
        ours: o,
        bare: b,
        bare_name: "the source log read the same way",
        ratio: o / b,
        target: None,
        pass: None,
        detail: format!("a reader over every message, median of {rounds} rounds"),
    })
}

/// How long [`Log::sync`] takes to make one fresh 64 B append durable (an
/// `fdatasync` of the segment and an `msync` of the control page), `n`
/// times, one a millisecond as the latency rounds append.
fn sync_floor(work: &Path, n: usize) -> BenchResult<Histogram<u64>> {
    let log = Log::create(work.join("sync-floor"), LogOptions::default()).map_err(s)?;
    let mut app = Appender::new(&log).map_err(s)?;
    let mut h = histogram();
    for _ in 0..n {
        app.append(&[7u8; 64]).map_err(s)?;
        let start = Instant::now();
        log.sync().map_err(s)?;
        h.saturating_record(start.elapsed().as_micros().max(1) as u64);
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(h)
}

/// A histogram of microseconds, 1 µs to 60 s.
fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid bounds")
}

/// Latency of a bare JetStream publish to an ordered consumer's receipt,
/// one message a millisecond.
async fn bare_latency(url: &str, n: usize) -> BenchResult<Histogram<u64>> {
    let (_c, js) = client(url).await?;
    fresh_stream(&js, "BENCHLAT", "benchlat").await?;
    let stream = js.get_stream("BENCHLAT").await.map_err(s)?;
    let consumer = stream
        .create_consumer(jetstream::consumer::pull::OrderedConfig::default())
        .await
        .map_err(s)?;
    let mut messages = consumer.messages().await.map_err(s)?;
    let sent: Arc<Vec<std::sync::OnceLock<Instant>>> =
        Arc::new((0..n).map(|_| std::sync::OnceLock::new()).collect());
    let publisher = {
        let (js, sent) = (js.clone(), sent.clone());
        tokio::spawn(async move {
            let mut acks = FuturesOrdered::new();
            let mut tick = tokio::time::interval(Duration::from_millis(1));
            for i in 0..n {
                tick.tick().await;
                let _ = sent[i].set(Instant::now());
                let ack = js
                    .publish("benchlat", Bytes::from((i as u64).to_le_bytes().to_vec()))
                    .await
                    .map_err(s)?;
                acks.push_back(ack.into_future());
                while acks.len() > 64 {
                    acks.next().await.expect("not empty").map_err(s)?;
                }
            }
            while let Some(a) = acks.next().await {
                a.map_err(s)?;
            }
            BenchResult::Ok(())
        })
    };
    let mut h = histogram();
    for _ in 0..n {
        let m = tokio::time::timeout(Duration::from_secs(30), messages.next())
            .await
            .map_err(|_| "timed out waiting for a message".to_string())?
            .ok_or("the consumer ended")?
            .map_err(s)?;
        let now = Instant::now();
        let i = u64::from_le_bytes(m.payload[..8].try_into().map_err(s)?) as usize;
        let t0 = sent[i].get().ok_or("received before sent")?;
        h.saturating_record(now.duration_since(*t0).as_micros() as u64);
    }
    publisher.await.map_err(s)??;
    Ok(h)
}

/// Latency from an append on a log A to the message readable in its
/// replica B, with an exporter and a replica running.
fn latency(
    rt: &tokio::runtime::Runtime,
    url: &str,
    work: &Path,
    durability: ExportDurability,
    wait: WaitStrategy,
    n: usize,
) -> BenchResult<Histogram<u64>> {
    let tag = match (durability, wait == WaitStrategy::default()) {
        (ExportDurability::Sync, _) => "sync",
        (_, true) => "unsynced",
        _ => "spin",
    };
    let (a, b) = (
        work.join(format!("lat-a-{tag}")),
        work.join(format!("lat-b-{tag}")),
    );
    let log = Log::create(&a, LogOptions::default()).map_err(s)?;
    let stream_name = format!("LAT{}", tag.to_uppercase());
    let subject = format!("lat.{tag}");
    let stop = CancellationToken::new();
    let c = Connection::new(url);
    let mut eo = ExportOptions::new(&stream_name, &subject);
    eo.create = Some(CreateStream::default());
    eo.durability = durability;
    eo.report_every = None;
    eo.wait = wait;
    let mut ro = ReplicaOptions::new(&stream_name);
    ro.report_every = None;
    let exporter = {
        let (log, c, stop) = (log.clone(), c.clone(), stop.clone());
        rt.spawn(async move { export(&log, &c, &eo, stop, &Events::ignore()).await })
    };
    // The first message makes the stream and the replica.
    let mut app = Appender::new(&log).map_err(s)?;
    app.append(&u64::MAX.to_le_bytes()).map_err(s)?;
    rt.block_on(async {
        let (_c, js) = client(url).await?;
        let deadline = Instant::now() + Duration::from_secs(30);
        while js.get_stream(&stream_name).await.is_err() {
            if Instant::now() > deadline {
                return Err("the exporter made no stream within 30 s".to_string());
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        BenchResult::Ok(())
    })?;
    let replica = {
        let (b, c, stop) = (b.clone(), c.clone(), stop.clone());
        rt.spawn(async move { replicate(&b, &c, &ro, stop, &Events::ignore()).await })
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while !b.join(mapped_log::CONTROL_FILE).exists() {
        if Instant::now() > deadline {
            return Err("the replica did not start within 30 s".into());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let copy = Log::open(&b).map_err(s)?;
    let sent: Arc<Vec<std::sync::OnceLock<Instant>>> =
        Arc::new((0..n).map(|_| std::sync::OnceLock::new()).collect());
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (sent, done) = (sent.clone(), done.clone());
        std::thread::spawn(move || -> BenchResult<Histogram<u64>> {
            let mut r = copy.reader(Start::Beginning).map_err(s)?;
            r.set_wait_strategy(wait);
            let mut h = histogram();
            let mut got = 0;
            while got < n && !done.load(Ordering::Relaxed) {
                let Some(m) = r.next(Some(Duration::from_millis(100))).map_err(s)? else {
                    continue;
                };
                let now = Instant::now();
                let i = u64::from_le_bytes(m.payload()[..8].try_into().map_err(s)?);
                if i == u64::MAX {
                    continue;
                }
                let t0 = sent[i as usize].get().ok_or("received before sent")?;
                h.saturating_record(now.duration_since(*t0).as_micros() as u64);
                got += 1;
            }
            if got < n {
                return Err(format!("only {got} of {n} messages reached the replica"));
            }
            Ok(h)
        })
    };
    let start = Instant::now();
    for i in 0..n {
        // One a millisecond, on a schedule (not after a sleep's drift).
        let at = start + Duration::from_millis(i as u64);
        if let Some(wait) = at.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let _ = sent[i].set(Instant::now());
        app.append(&(i as u64).to_le_bytes()).map_err(s)?;
    }
    let watchdog = Instant::now() + Duration::from_secs(60);
    while !reader.is_finished() && Instant::now() < watchdog {
        std::thread::sleep(Duration::from_millis(10));
    }
    done.store(true, Ordering::Relaxed);
    let h = reader
        .join()
        .map_err(|_| "the reader panicked".to_string())?;
    stop.cancel();
    rt.block_on(async {
        exporter.await.map_err(s)?.map_err(s)?;
        replica.await.map_err(s)?.map_err(s)?;
        BenchResult::Ok(())
    })?;
    h
}
