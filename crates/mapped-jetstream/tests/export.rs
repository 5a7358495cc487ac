//! Export against a real nats-server: order, resumption, refusals.

mod common;

use std::time::Duration;

use common::*;
use mapped_jetstream::server::{NatsServer, nats_server_for_test};
use mapped_jetstream::{
    CancellationToken, Connection, CreateStream, Events, ExportOptions, JetStreamError, export,
};
use mapped_log::{Appender, Log};

fn options(create: bool) -> ExportOptions {
    let mut o = ExportOptions::new("EVENTS", "events.a");
    o.once = true;
    o.report_every = None;
    if create {
        o.create = Some(CreateStream::default());
    }
    o
}

async fn export_once(log: &Log, url: &str, o: &ExportOptions) -> Result<u64, JetStreamError> {
    let s = export(
        log,
        &Connection::new(url),
        o,
        CancellationToken::new(),
        &Events::ignore(),
    )
    .await?;
    Ok(s.published)
}

#[test]
fn exports_in_order_once_and_resumes_after_the_streams_last_message() {
    let Some(bin) = nats_server_for_test("exports_in_order") else {
        return;
    };
    let server = NatsServer::start(&bin).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let log = Log::create(tmp.path().join("a"), small()).unwrap();
    let mut app = Appender::new(&log).unwrap();
    for n in 0..3000 {
        app.append(&payload(0, n)).unwrap();
    }
    let rt = runtime();
    rt.block_on(async {
        assert_eq!(
            export_once(&log, &server.url(), &options(true))
                .await
                .unwrap(),
            3000
        );
        assert_eq!(
            stream_ids(&server.url(), "EVENTS").await,
            log_messages(&log)
        );
        // Nothing new: nothing published.
        assert_eq!(
            export_once(&log, &server.url(), &options(false))
                .await
                .unwrap(),
            0
        );
        // The reader's saved position is lost: the stream still says where
        // to resume.
        log.remove_named_reader("jetstream-export").unwrap();
        for n in 3000..3500 {
            app.append(&payload(0, n)).unwrap();
        }
        assert_eq!(
            export_once(&log, &server.url(), &options(false))
                .await
                .unwrap(),
            500
        );
        assert_eq!(
            stream_ids(&server.url(), "EVENTS").await,
            log_messages(&log)
        );
    });
    let saved = log.reader_position("jetstream-export").unwrap().unwrap();
    assert_eq!(
        saved,
        log.reader(mapped_log::Start::End).unwrap().position()
    );
}

#[test]
fn refuses_a_missing_stream_and_another_logs_stream() {
    let Some(bin) = nats_server_for_test("refuses_a_missing_stream") else {
        return;
    };
    let server = NatsServer::start(&bin).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let a = Log::create(tmp.path().join("a"), small()).unwrap();
    let b = Log::create(tmp.path().join("b"), small()).unwrap();
    Appender::new(&a).unwrap().append(b"from a").unwrap();
    Appender::new(&b).unwrap().append(b"from b").unwrap();
    let rt = runtime();
    rt.block_on(async {
        let e = export_once(&a, &server.url(), &options(false))
            .await
            .unwrap_err();
        assert!(matches!(e, JetStreamError::NoStream { .. }), "{e}");
        assert!(e.to_string().contains("--create-stream"), "{e}");
        export_once(&a, &server.url(), &options(true))
            .await
            .unwrap();
        let e = export_once(&b, &server.url(), &options(false))
            .await
            .unwrap_err();
        assert!(matches!(e, JetStreamError::ForeignStream { .. }), "{e}");
        let mut o = options(false);
        o.subject = "other".into();
        let e = export_once(&a, &server.url(), &o).await.unwrap_err();
        assert!(
            matches!(e, JetStreamError::SubjectNotInStream { .. }),
            "{e}"
        );
    });
}

#[test]
fn an_unreachable_server_is_an_error_after_a_bounded_wait() {
    let tmp = tempfile::tempdir().unwrap();
    let a = Log::create(tmp.path().join("a"), small()).unwrap();
    let port = mapped_jetstream::server::free_port().unwrap();
    let mut c = Connection::new(format!("nats://127.0.0.1:{port}"));
    c.connect_wait = Duration::from_millis(500);
    let rt = runtime();
    let started = std::time::Instant::now();
    let e = rt
        .block_on(export(
            &a,
            &c,
            &options(true),
            CancellationToken::new(),
            &Events::ignore(),
        ))
        .unwrap_err();
    assert!(matches!(e, JetStreamError::Unreachable { .. }), "{e}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn a_message_without_the_exports_headers_is_a_clear_error_for_both_roles() {
    let Some(bin) = nats_server_for_test("garbage_in_the_stream") else {
        return;
    };
    let server = NatsServer::start(&bin).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let a = Log::create(tmp.path().join("a"), small()).unwrap();
    Appender::new(&a).unwrap().append(b"one").unwrap();
    let rt = runtime();
    rt.block_on(async {
        export_once(&a, &server.url(), &options(true))
            .await
            .unwrap();
        // Someone else publishes to the stream: no headers, then garbage
        // ones.
        let client = async_nats::connect(server.url()).await.unwrap();
        let js = async_nats::jetstream::new(client);
        js.publish("events.a", "stranger".into())
            .await
            .unwrap()
            .await
            .unwrap();
        let e = export_once(&a, &server.url(), &options(false))
            .await
            .unwrap_err();
        assert!(
            matches!(e, JetStreamError::BadMessage { sequence: 2, .. }),
            "{e}"
        );
        assert!(e.to_string().contains("no headers"), "{e}");
        let mut h = async_nats::HeaderMap::new();
        h.insert("Mapped-Log", "not hex");
        js.publish_with_headers("events.a", h, "x".into())
            .await
            .unwrap()
            .await
            .unwrap();
        let e = export_once(&a, &server.url(), &options(false))
            .await
            .unwrap_err();
        assert!(e.to_string().contains("Mapped-Log"), "{e}");
        // The replica stops at the first of them, having copied the
        // message before.
        let mut o = mapped_jetstream::ReplicaOptions::new("EVENTS");
        o.once = true;
        o.report_every = None;
        let b = tmp.path().join("b");
        let e = mapped_jetstream::replicate(
            &b,
            &Connection::new(server.url()),
            &o,
            CancellationToken::new(),
            &Events::ignore(),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(e, JetStreamError::BadMessage { sequence: 2, .. }),
            "{e}"
        );
        assert_eq!(dir_messages(&b), log_messages(&a));
    });
}
