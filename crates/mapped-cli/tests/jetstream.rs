//! `mapped log export` and `mapped log replicate` against real
//! `nats-server` processes, with faults: the exporter and the replica
//! killed at random instants, the server killed and restarted, a cluster's
//! stream leader killed. Each ends by checking that the stream holds
//! exactly the log's messages, once each, in order, and the replica
//! exactly the log.
//!
//! Without `nats-server` on the PATH these tests say so loudly and pass,
//! unless `MAPPED_TEST_REQUIRE_NATS=1` (CI), which makes them fail.
//! `MAPPED_JETSTREAM_SOAK=N` multiplies the rounds and durations by N (a
//! longer soak); `MAPPED_TEST_SEED` replays the random instants of a run.

mod common;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::MAPPED;
use mapped_cli::reaped::Reaped;
use mapped_jetstream::server::{
    Cluster, NatsServer, nats_server_for_test, stream_leader, stream_messages,
};
use mapped_log::{Appender, Log, LogOptions, Start};

/// `MAPPED_JETSTREAM_SOAK`, at least 1.
fn soak() -> u64 {
    std::env::var("MAPPED_JETSTREAM_SOAK")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
        .max(1)
}

/// A small random number generator (xorshift), seeded from
/// `MAPPED_TEST_SEED` or the clock, and the seed printed.
struct Rng(u64);

impl Rng {
    fn new(test: &str) -> Rng {
        let seed = std::env::var("MAPPED_TEST_SEED")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
            });
        println!("{test}: MAPPED_TEST_SEED={seed}");
        Rng(seed | 1)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn small() -> LogOptions {
    LogOptions {
        segment_size: 64 << 10,
        max_message: 4096,
        ..LogOptions::default()
    }
}

/// Threads appending to a log until stopped: each appends a few messages
/// of varied sizes, then pauses a millisecond; at most 15,000 each (times
/// the soak factor), so that a slow phase cannot make the catch-up long.
struct Appenders {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<u64>>,
}

impl Appenders {
    fn start(dir: &Path, n: u32) -> Appenders {
        let stop = Arc::new(AtomicBool::new(false));
        let threads = (0..n)
            .map(|w| {
                let (dir, stop) = (dir.to_path_buf(), stop.clone());
                std::thread::spawn(move || {
                    let log = Log::open(&dir).unwrap();
                    let mut app = Appender::new(&log).unwrap();
                    let mut i = 0u64;
                    let cap = 15_000 * soak();
                    while !stop.load(Ordering::Relaxed) && i < cap {
                        for _ in 0..4 {
                            let mut p = format!("w{w}-{i}").into_bytes();
                            p.resize(p.len() + (i % 300) as usize, b'.');
                            app.append(&p).unwrap();
                            i += 1;
                        }
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    i
                })
            })
            .collect();
        Appenders { stop, threads }
    }

    fn stop(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.threads.into_iter().map(|t| t.join().unwrap()).sum()
    }
}

/// A `mapped` process with its stdout and stderr in files.
struct Proc {
    child: Reaped,
    out: PathBuf,
    err: PathBuf,
}

impl Proc {
    fn spawn(work: &Path, name: &str, args: &[&str]) -> Proc {
        let out = work.join(format!("{name}.out"));
        let err = work.join(format!("{name}.err"));
        let child = Command::new(MAPPED)
            .args(args)
            .stdin(Stdio::null())
            .stdout(File::create(&out).unwrap())
            .stderr(File::create(&err).unwrap())
            .spawn()
            .unwrap();
        Proc {
            child: Reaped(child),
            out,
            err,
        }
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.err).unwrap_or_default()
    }

    fn describe(&self) -> String {
        format!(
            "--- stdout ---\n{}\n--- stderr ---\n{}",
            std::fs::read_to_string(&self.out).unwrap_or_default(),
            self.stderr()
        )
    }

    fn kill(&mut self) {
        let _ = self.child.0.kill();
        let _ = self.child.0.wait();
    }

    /// Sends SIGTERM and waits (at most 30 s) for the exit.
    fn terminate(&mut self) -> ExitStatus {
        // SAFETY: kill(2) on our own child's pid has no memory effects.
        unsafe { libc::kill(self.child.0.id() as i32, libc::SIGTERM) };
        self.wait(Duration::from_secs(30))
    }

    fn wait(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(s) = self.child.0.try_wait().unwrap() {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "still running after {limit:?}\n{}",
                self.describe()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn check_running(&mut self) {
        if let Some(s) = self.child.0.try_wait().unwrap() {
            panic!("ended early ({s})\n{}", self.describe());
        }
    }
}

fn export_args<'a>(dir: &'a str, url: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut a = vec![
        "log",
        "export",
        dir,
        "--server",
        url,
        "--stream",
        "EVENTS",
        "--subject",
        "events",
        "--create-stream",
        "--report-every",
        "0",
    ];
    a.extend_from_slice(extra);
    a
}

fn replicate_args<'a>(dir: &'a str, url: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut a = vec![
        "log",
        "replicate",
        dir,
        "--server",
        url,
        "--stream",
        "EVENTS",
        "--report-every",
        "0",
    ];
    a.extend_from_slice(extra);
    a
}

/// Every message of a log: (id, payload).
fn log_messages(dir: &Path) -> Vec<(u64, Vec<u8>)> {
    let log = Log::open(dir).unwrap();
    let mut r = log.reader(Start::Beginning).unwrap();
    let mut out = Vec::new();
    let mut buf = Vec::new();
    while let Some(m) = r.try_next().unwrap() {
        m.copy_to(&mut buf).unwrap();
        out.push((m.id(), buf.clone()));
    }
    out
}

/// The stream holds exactly the log's messages, once each, in order, at
/// sequences 1, 2, ...
fn assert_stream_is_log(url: &str, dir: &Path) {
    let stream = stream_messages(url, "EVENTS").unwrap();
    let log = log_messages(dir);
    let log_id = Log::open(dir).unwrap().log_id();
    for (i, e) in stream.iter().enumerate() {
        assert_eq!(e.sequence, i as u64 + 1, "sequences without a gap");
        assert_eq!(e.origin.log_id, log_id);
    }
    let got: Vec<(u64, Vec<u8>)> = stream
        .into_iter()
        .map(|e| (e.origin.id, e.payload))
        .collect();
    assert_eq!(
        got.len(),
        log.len(),
        "as many messages in the stream as in the log"
    );
    assert!(got == log, "the stream's messages are the log's, in order");
}

/// Polls `done` every 20 ms for at most `limit`.
fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The last id of the log in `dir`, if it exists.
fn last_id(dir: &Path) -> Option<u64> {
    Log::open(dir).ok()?.last_id().unwrap()
}

#[test]
fn an_exporter_killed_at_random_instants_exports_each_message_once_in_order() {
    let Some(bin) = nats_server_for_test("exporter_killed") else {
        return;
    };
    let mut rng = Rng::new("exporter_killed");
    let server = NatsServer::start(&bin).unwrap();
    let work = tempfile::tempdir().unwrap();
    let a = work.path().join("a");
    Log::create(&a, small()).unwrap();
    let (a_s, url) = (a.to_str().unwrap(), server.url());
    let appenders = Appenders::start(&a, 2);
    let rounds = 8 * soak();
    for round in 0..rounds {
        let mut p = Proc::spawn(work.path(), "export", &export_args(a_s, &url, &[]));
        std::thread::sleep(Duration::from_millis(50 + rng.below(400)));
        if round % 4 == 3 {
            // Sometimes a clean stop instead.
            assert!(p.terminate().success(), "{}", p.describe());
        } else {
            p.kill();
        }
    }
    let appended = appenders.stop();
    let mut last = Proc::spawn(work.path(), "export", &export_args(a_s, &url, &["--once"]));
    assert!(
        last.wait(Duration::from_secs(60)).success(),
        "{}",
        last.describe()
    );
    assert_stream_is_log(&url, &a);
    println!("{appended} messages appended; {rounds} exporters killed or stopped");
}

#[test]
fn export_and_replica_carry_on_across_a_server_killed_and_restarted() {
    let Some(bin) = nats_server_for_test("server_restarted") else {
        return;
    };
    let mut server = NatsServer::start(&bin).unwrap();
    let work = tempfile::tempdir().unwrap();
    let (a, b) = (work.path().join("a"), work.path().join("b"));
    Log::create(&a, small()).unwrap();
    let (a_s, b_s, url) = (a.to_str().unwrap(), b.to_str().unwrap(), server.url());
    let mut exporter = Proc::spawn(work.path(), "export", &export_args(a_s, &url, &[]));
    wait_until("the stream", Duration::from_secs(30), || {
        exporter.check_running();
        mapped_jetstream::server::stream_last_sequence(&url, "EVENTS").is_some()
    });
    let appenders = Appenders::start(&a, 2);
    let mut replica = Proc::spawn(work.path(), "replicate", &replicate_args(b_s, &url, &[]));
    for _ in 0..soak() {
        std::thread::sleep(Duration::from_millis(700));
        server.kill();
        std::thread::sleep(Duration::from_millis(500));
        server.restart().unwrap();
        std::thread::sleep(Duration::from_millis(700));
    }
    let appended = appenders.stop();
    let end = last_id(&a);
    wait_until("the replica to catch up", Duration::from_secs(60), || {
        exporter.check_running();
        replica.check_running();
        last_id(&b) == end
    });
    assert!(exporter.terminate().success(), "{}", exporter.describe());
    assert!(replica.terminate().success(), "{}", replica.describe());
    assert!(
        exporter.stderr().contains("connection to the server lost"),
        "the exporter says it lost the server: {}",
        exporter.describe()
    );
    assert_stream_is_log(&url, &a);
    assert!(
        log_messages(&b) == log_messages(&a),
        "the replica is the log"
    );
    // End to end, as a user sees it.
    let tail = |dir: &str| {
        let out = common::mapped(
            work.path(),
            &["log", "tail", dir, "--from", "begin", "--format", "json"],
        );
        common::ok(&out)
    };
    let (ta, tb) = (tail(a_s), tail(b_s));
    assert!(
        !ta.is_empty() && ta == tb,
        "mapped log tail prints the same on A and B"
    );
    println!("{appended} messages appended");
}

#[test]
fn export_and_replica_carry_on_when_the_stream_leader_of_a_cluster_dies() {
    let Some(bin) = nats_server_for_test("leader_killed") else {
        return;
    };
    let mut cluster = Cluster::start(&bin, 3).unwrap();
    let work = tempfile::tempdir().unwrap();
    let (a, b) = (work.path().join("a"), work.path().join("b"));
    Log::create(&a, small()).unwrap();
    let (a_s, b_s, urls) = (a.to_str().unwrap(), b.to_str().unwrap(), cluster.urls());
    let mut exporter = Proc::spawn(
        work.path(),
        "export",
        &export_args(a_s, &urls, &["--replicas", "3", "--connect-wait", "30s"]),
    );
    wait_until("the stream", Duration::from_secs(60), || {
        exporter.check_running();
        mapped_jetstream::server::stream_last_sequence(&urls, "EVENTS").is_some()
    });
    let appenders = Appenders::start(&a, 2);
    let mut replica = Proc::spawn(work.path(), "replicate", &replicate_args(b_s, &urls, &[]));
    for _ in 0..soak() {
        std::thread::sleep(Duration::from_millis(800));
        let t = Instant::now();
        let leader = stream_leader(&urls, "EVENTS").expect("the stream has a leader");
        println!(
            "killing the stream leader {leader} (found in {:?})",
            t.elapsed()
        );
        let node = cluster.node_mut(&leader).unwrap();
        node.kill();
        std::thread::sleep(Duration::from_millis(1500));
        let t = Instant::now();
        node.restart().unwrap();
        println!("restarted in {:?}", t.elapsed());
    }
    std::thread::sleep(Duration::from_millis(500));
    let appended = appenders.stop();
    let end = last_id(&a);
    let t = Instant::now();
    wait_until("the replica to catch up", Duration::from_secs(90), || {
        exporter.check_running();
        replica.check_running();
        last_id(&b) == end
    });
    assert!(exporter.terminate().success(), "{}", exporter.describe());
    assert!(replica.terminate().success(), "{}", replica.describe());
    println!("caught up in {:?}", t.elapsed());
    assert_stream_is_log(&urls, &a);
    assert!(
        log_messages(&b) == log_messages(&a),
        "the replica is the log"
    );
    println!("{appended} messages appended");
}

#[test]
fn a_replica_killed_at_random_instants_ends_equal_to_the_stream() {
    let Some(bin) = nats_server_for_test("replica_killed") else {
        return;
    };
    let mut rng = Rng::new("replica_killed");
    let server = NatsServer::start(&bin).unwrap();
    let work = tempfile::tempdir().unwrap();
    let (a, b) = (work.path().join("a"), work.path().join("b"));
    Log::create(&a, small()).unwrap();
    let (a_s, b_s, url) = (a.to_str().unwrap(), b.to_str().unwrap(), server.url());
    // This exporter also reports its lag, as JSON.
    let mut args = export_args(a_s, &url, &["--json"]);
    let every = args.iter().position(|a| *a == "--report-every").unwrap();
    args[every + 1] = "200ms";
    let mut exporter = Proc::spawn(work.path(), "export", &args);
    wait_until("the stream", Duration::from_secs(30), || {
        exporter.check_running();
        mapped_jetstream::server::stream_last_sequence(&url, "EVENTS").is_some()
    });
    let appenders = Appenders::start(&a, 2);
    let rounds = 8 * soak();
    for _ in 0..rounds {
        let mut p = Proc::spawn(work.path(), "replicate", &replicate_args(b_s, &url, &[]));
        std::thread::sleep(Duration::from_millis(50 + rng.below(400)));
        p.kill();
    }
    appenders.stop();
    let end = last_id(&a);
    wait_until("the export to finish", Duration::from_secs(60), || {
        exporter.check_running();
        stream_messages(&url, "EVENTS")
            .unwrap()
            .last()
            .map(|e| e.origin.id)
            == end
    });
    let mut last = Proc::spawn(
        work.path(),
        "replicate",
        &replicate_args(b_s, &url, &["--once"]),
    );
    assert!(
        last.wait(Duration::from_secs(60)).success(),
        "{}",
        last.describe()
    );
    assert!(exporter.terminate().success(), "{}", exporter.describe());
    // Every line of its stdout is a JSON event; the lag was reported; the
    // last line says what was done.
    let out = std::fs::read_to_string(&exporter.out).unwrap();
    let events: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect();
    let lags: Vec<&serde_json::Value> = events.iter().filter(|e| e["event"] == "lag").collect();
    assert!(!lags.is_empty(), "{out}");
    for l in &lags {
        assert!(
            l["messages"].is_u64() && l["bytes"].is_u64() && l["total"].is_u64(),
            "{l}"
        );
    }
    let done = events.last().unwrap();
    assert_eq!(done["event"], "done", "{out}");
    assert_eq!(done["id"].as_u64(), end, "{out}");
    assert_stream_is_log(&url, &a);
    assert!(
        log_messages(&b) == log_messages(&a),
        "the replica is the log"
    );
}

#[test]
fn a_message_over_the_servers_max_payload_stops_the_export_naming_it() {
    let Some(bin) = nats_server_for_test("max_payload") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let conf = work.path().join("server.conf");
    std::fs::write(&conf, "max_payload: 2048\n").unwrap();
    let server = NatsServer::start_with(&bin, &["-c", conf.to_str().unwrap()]).unwrap();
    let a = work.path().join("a");
    let log = Log::create(&a, small()).unwrap();
    let mut app = Appender::new(&log).unwrap();
    app.append(b"small").unwrap();
    let big = app.append(&[b'x'; 3000]).unwrap();
    app.append(b"after").unwrap();
    let url = server.url();
    let mut p = Proc::spawn(
        work.path(),
        "export",
        &export_args(a.to_str().unwrap(), &url, &["--once"]),
    );
    let status = p.wait(Duration::from_secs(30));
    assert_eq!(status.code(), Some(1), "{}", p.describe());
    let err = p.stderr();
    assert!(
        err.contains(&format!("message {big} ")) && err.contains("maximum payload of 2048"),
        "{err}"
    );
    let stream = stream_messages(&url, "EVENTS").unwrap();
    assert_eq!(stream.len(), 1, "only the message before it");
    // Never skipped: a second run stops at the same message.
    let mut p = Proc::spawn(
        work.path(),
        "export2",
        &export_args(a.to_str().unwrap(), &url, &["--once"]),
    );
    assert_eq!(p.wait(Duration::from_secs(30)).code(), Some(1));
    assert_eq!(stream_messages(&url, "EVENTS").unwrap().len(), 1);
}

#[test]
fn failed_authentication_and_a_missing_stream_are_clear_errors() {
    let Some(bin) = nats_server_for_test("failed_authentication") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let conf = work.path().join("server.conf");
    std::fs::write(&conf, "authorization { user: alice, password: secret }\n").unwrap();
    let server = NatsServer::start_with(&bin, &["-c", conf.to_str().unwrap()]).unwrap();
    let a = work.path().join("a");
    Log::create(&a, small()).unwrap();
    let a_s = a.to_str().unwrap();
    let url = server.url();
    let out = common::mapped(work.path(), &export_args(a_s, &url, &["--once"]));
    common::assert_fails(&out, &["refused authentication"]);
    let out = common::mapped(
        work.path(),
        &export_args(a_s, &url, &["--once", "--creds", "/nonexistent.creds"]),
    );
    common::assert_fails(&out, &["/nonexistent.creds"]);
    // With the right user, but no stream and no --create-stream.
    let good = format!(
        "nats://alice:secret@127.0.0.1:{}",
        url.rsplit(':').next().unwrap()
    );
    let out = common::mapped(
        work.path(),
        &[
            "log",
            "export",
            a_s,
            "--server",
            &good,
            "--stream",
            "S",
            "--subject",
            "s",
            "--once",
        ],
    );
    common::assert_fails(&out, &["stream S does not exist", "--create-stream"]);
    let out = common::mapped(
        work.path(),
        &[
            "log",
            "replicate",
            a_s,
            "--server",
            &good,
            "--stream",
            "S",
            "--once",
        ],
    );
    common::assert_fails(&out, &["stream S does not exist"]);
}

#[test]
fn bench_jetstream_measures_every_comparison_or_says_how_to_get_the_server() {
    let work = tempfile::tempdir().unwrap();
    let out = Command::new(MAPPED)
        .args(["bench", "jetstream", "--smoke"])
        .env("MAPPED_NATS_SERVER", "/nonexistent/nats-server")
        .output()
        .unwrap();
    let text = common::ok(&out);
    let text = String::from_utf8_lossy(&text);
    assert!(
        text.contains("skipped") && text.contains("apt-get install nats-server"),
        "{text}"
    );
    if nats_server_for_test("bench_jetstream").is_none() {
        return;
    }
    let json = work.path().join("bench.json");
    let out = common::mapped(
        work.path(),
        &[
            "bench",
            "jetstream",
            "--smoke",
            "--json",
            json.to_str().unwrap(),
        ],
    );
    let text = String::from_utf8_lossy(&common::ok(&out)).into_owned();
    for row in [
        "export throughput, 64 B",
        "export throughput, 4096 B",
        "replica local reads",
        "latency p50",
        "sync floor p50",
        "ratio",
    ] {
        assert!(text.contains(row), "{row} in {text}");
    }
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(v["rows"].as_array().unwrap().len(), 7);
}
