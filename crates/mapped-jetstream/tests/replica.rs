//! Replicas against a real nats-server: the same ids, resumption, refusals.

mod common;

use std::path::Path;

use common::*;
use mapped_jetstream::server::{NatsServer, nats_server_for_test};
use mapped_jetstream::{
    CancellationToken, Connection, CreateStream, Events, ExportOptions, JetStreamError,
    ReplicaOptions, export, replicate,
};
use mapped_log::{Appender, Log, Retention};

async fn export_all(log: &Log, url: &str) {
    let mut o = ExportOptions::new("EVENTS", "events");
    o.once = true;
    o.report_every = None;
    o.create = Some(CreateStream::default());
    export(
        log,
        &Connection::new(url),
        &o,
        CancellationToken::new(),
        &Events::ignore(),
    )
    .await
    .unwrap();
}

async fn replicate_all(dir: &Path, url: &str) -> Result<u64, JetStreamError> {
    let mut o = ReplicaOptions::new("EVENTS");
    o.once = true;
    o.report_every = None;
    o.ahead_grace = std::time::Duration::ZERO;
    let s = replicate(
        dir,
        &Connection::new(url),
        &o,
        CancellationToken::new(),
        &Events::ignore(),
    )
    .await?;
    Ok(s.appended)
}

#[test]
fn a_replica_has_the_same_messages_under_the_same_ids_and_resumes_where_it_ends() {
    let Some(bin) = nats_server_for_test("a_replica_has_the_same_messages") else {
        return;
    };
    let server = NatsServer::start(&bin).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let a = Log::create(tmp.path().join("a"), small()).unwrap();
    let b = tmp.path().join("b");
    let mut app = Appender::new(&a).unwrap();
    for n in 0..2000 {
        app.append(&payload(0, n)).unwrap();
    }
    let rt = runtime();
    rt.block_on(async {
        export_all(&a, &server.url()).await;
        assert_eq!(replicate_all(&b, &server.url()).await.unwrap(), 2000);
        assert_eq!(dir_messages(&b), log_messages(&a));
        // The replica is a log of the source's shape.
        let copy = Log::open(&b).unwrap();
        assert_eq!(copy.segment_size(), a.segment_size());
        assert_eq!(copy.max_message(), a.max_message());
        drop(copy);
        // More, in two steps: it resumes after its last message.
        for n in 2000..2700 {
            app.append(&payload(0, n)).unwrap();
        }
        export_all(&a, &server.url()).await;
        assert_eq!(replicate_all(&b, &server.url()).await.unwrap(), 700);
        assert_eq!(replicate_all(&b, &server.url()).await.unwrap(), 0);
        assert_eq!(dir_messages(&b), log_messages(&a));
    });
}

#[test]
fn a_replica_someone_else_appended_to_stops_with_an_error() {
    let Some(bin) = nats_server_for_test("a_replica_someone_else_appended_to") else {
        return;
    };
    let server = NatsServer::start(&bin).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let a = Log::create(tmp.path().join("a"), small()).unwrap();
    let b = tmp.path().join("b");
    let mut app = Appender::new(&a).unwrap();
    for n in 0..100 {
        app.append(&payload(0, n)).unwrap();
    }
    let rt = runtime();
    rt.block_on(async {
        export_all(&a, &server.url()).await;
        replicate_all(&b, &server.url()).await.unwrap();
        // A stranger appends to the replica: its last message is not in
        // the stream.
        Appender::new(&Log::open(&b).unwrap())
            .unwrap()
            .append(b"stranger")
            .unwrap();
        let e = replicate_all(&b, &server.url()).await.unwrap_err();
        assert!(matches!(e, JetStreamError::Diverged { .. }), "{e}");
        assert!(e.to_string().contains("another process appended"), "{e}");
    });
    // A replica whose last message has another payload.
    let c = tmp.path().join("c");
    let copy = Log::create(&c, small()).unwrap();
    let first = mapped_log::Start::Beginning;
    let id = a.reader(first).unwrap().try_next().unwrap().unwrap().id();
    Appender::new(&copy)
        .unwrap()
        .append_at(id, b"not the same")
        .unwrap();
    drop(copy);
    rt.block_on(async {
        let e = replicate_all(&c, &server.url()).await.unwrap_err();
        assert!(e.to_string().contains("differs"), "{e}");
    });
}

/// The indexes of the segment files in `dir`.
fn segment_files(dir: &Path) -> Vec<u64> {
    let mut out: Vec<u64> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.strip_suffix(".seg")?.parse().ok()
        })
        .collect();
    out.sort();
    out
}

#[test]
fn a_replica_of_a_log_that_starts_late_has_no_file_before_its_first_segment() {
    let Some(bin) = nats_server_for_test("a_replica_of_a_log_that_starts_late") else {
        return;
    };
    let server = NatsServer::start(&bin).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let a = Log::create(tmp.path().join("a"), small()).unwrap();
    let b = tmp.path().join("b");
    let mut app = Appender::new(&a).unwrap();
    for n in 0..6000 {
        app.append(&payload(0, n)).unwrap();
    }
    // Retention removes the source's first segments before the export
    // begins: the stream starts in a late segment.
    let kept = Retention {
        max_messages: Some(1000),
        ..Retention::default()
    };
    let removed = a.retain(kept).unwrap().removed;
    let first = a.stat().unwrap().first_segment;
    assert!(first >= 5 && removed.len() as u64 == first, "{removed:?}");
    let rt = runtime();
    rt.block_on(async {
        export_all(&a, &server.url()).await;
        let want = log_messages(&a);
        assert_eq!(
            replicate_all(&b, &server.url()).await.unwrap(),
            want.len() as u64
        );
        assert_eq!(dir_messages(&b), want);
        let files = segment_files(&b);
        assert_eq!(files.first(), Some(&first), "{files:?}");
        let copy = Log::open(&b).unwrap();
        assert_eq!(copy.stat().unwrap().first_segment, first);
        assert_eq!(copy.verify().unwrap(), []);
    });
}
