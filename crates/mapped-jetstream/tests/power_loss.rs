//! Export and power loss, with the log's crash images (as in
//! `crates/mapped-log/tests/recovery.rs`): the files as the disk held them
//! at the last sync, opened as after a restart. The default export never
//! lets the stream hold a message that a power loss takes from the log;
//! the unsynced export can, and then stops with an error rather than
//! publish another message under the same id.

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use mapped_jetstream::server::{NatsServer, nats_server_for_test};
use mapped_jetstream::{
    CancellationToken, Connection, CreateStream, Events, ExportDurability, ExportOptions,
    JetStreamError, export,
};
use mapped_log::{Appender, Log, format};

/// The regular files of a log directory (what a power loss keeps of the
/// segments and the control file, if nothing after this moment reached the
/// disk).
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_file())
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| {
            let name = e.file_name().to_str().unwrap().to_owned();
            (name, std::fs::read(e.path()).unwrap())
        })
        .collect()
}

/// Writes `files` into `dir` as a log last opened in another boot: the
/// next open runs restart recovery.
fn crash_image(files: &BTreeMap<String, Vec<u8>>, dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    for (name, bytes) in files {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
    let mut id = [0u8; format::BOOT_ID_LEN];
    id[..36].copy_from_slice(b"00000000-dead-beef-0000-000000000000");
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(dir.join(mapped_log::CONTROL_FILE))
        .unwrap();
    f.write_all_at(&id, format::CONTROL_BOOT_ID).unwrap();
}

fn options(durability: ExportDurability) -> ExportOptions {
    let mut o = ExportOptions::new("EVENTS", "events");
    o.report_every = None;
    o.create = Some(CreateStream::default());
    o.durability = durability;
    o
}

/// An export that waits for others' syncs, running in a task until the
/// token is cancelled.
fn spawn_waiting_export(
    log: &Log,
    url: &str,
) -> (
    CancellationToken,
    tokio::task::JoinHandle<Result<mapped_jetstream::ExportSummary, JetStreamError>>,
) {
    let stop = CancellationToken::new();
    let (log, url, token) = (log.clone(), url.to_string(), stop.clone());
    let task = tokio::spawn(async move {
        export(
            &log,
            &Connection::new(url),
            &options(ExportDurability::WaitForSync),
            token,
            &Events::ignore(),
        )
        .await
    });
    (stop, task)
}

/// A log with 100 synced messages and 50 after them, unsynced, and the
/// files as they were at the sync.
fn synced_then_not(dir: &Path) -> (Log, BTreeMap<String, Vec<u8>>) {
    let log = Log::create(dir, small()).unwrap();
    let mut app = Appender::new(&log).unwrap();
    for n in 0..100 {
        app.append(&payload(0, n)).unwrap();
    }
    log.sync().unwrap();
    let at_sync = snapshot(dir);
    for n in 100..150 {
        app.append(&payload(0, n)).unwrap();
    }
    (log, at_sync)
}

/// After the power loss: the recovered log takes 30 new messages, whose
/// ids are those of lost ones.
fn recover_and_append(image: &Path) -> Log {
    let log = Log::open(image).unwrap();
    assert!(log.restart_recovery().is_some(), "restart recovery ran");
    assert_eq!(
        log_messages(&log).len(),
        100,
        "the unsynced messages were lost"
    );
    let mut app = Appender::new(&log).unwrap();
    for n in 0..30 {
        app.append(&payload(9, n)).unwrap();
    }
    log
}

#[test]
fn an_export_waiting_for_syncs_publishes_only_what_a_power_loss_keeps() {
    let Some(bin) = nats_server_for_test("export_waiting_for_syncs") else {
        return;
    };
    let server = NatsServer::start(&bin).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let (log, at_sync) = synced_then_not(&tmp.path().join("a"));
    let rt = runtime();
    let url = server.url();
    rt.block_on(async {
        // Waiting for others' syncs: none comes, so only the synced 100
        // may be published.
        let (stop, task) = spawn_waiting_export(&log, &url);
        let deadline = Instant::now() + Duration::from_secs(30);
        while stream_ids_or_empty(&url).await.len() < 100 {
            assert!(
                Instant::now() < deadline,
                "the synced messages were exported"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Give it time to do wrong, then look: still the synced ones only.
        tokio::time::sleep(Duration::from_millis(300)).await;
        stop.cancel();
        task.await.unwrap().unwrap();
        let stream = stream_ids(&url, "EVENTS").await;
        assert_eq!(stream, log_messages(&log)[..100]);
    });
    drop(log);
    // The power loss: the disk holds the files as at the sync.
    let image = tmp.path().join("image");
    crash_image(&at_sync, &image);
    let recovered = recover_and_append(&image);
    rt.block_on(async {
        // The recovered log (same identity) goes on into the same stream:
        // its new messages take the lost ones' ids, which the stream never
        // had.
        let mut o = options(ExportDurability::Sync);
        o.once = true;
        export(
            &recovered,
            &Connection::new(&url),
            &o,
            CancellationToken::new(),
            &Events::ignore(),
        )
        .await
        .unwrap();
        assert_eq!(stream_ids(&url, "EVENTS").await, log_messages(&recovered));
    });
}

#[test]
fn the_sync_export_makes_what_it_publishes_durable() {
    let Some(bin) = nats_server_for_test("sync_export") else {
        return;
    };
    let server = NatsServer::start(&bin).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let (log, _) = synced_then_not(&tmp.path().join("a"));
    let mut o = options(ExportDurability::Sync);
    o.once = true;
    runtime().block_on(async {
        export(
            &log,
            &Connection::new(server.url()),
            &o,
            CancellationToken::new(),
            &Events::ignore(),
        )
        .await
        .unwrap();
        let stream = stream_ids(&server.url(), "EVENTS").await;
        assert_eq!(stream, log_messages(&log));
        let (last, payload) = stream.last().unwrap();
        let end = last + format::record_size(payload.len() as u32);
        assert!(
            log.durable_position() >= end,
            "everything published is durable"
        );
    });
}

#[test]
fn an_unsynced_export_stops_when_a_power_loss_took_what_it_published() {
    let Some(bin) = nats_server_for_test("unsynced_export_power_loss") else {
        return;
    };
    let server = NatsServer::start(&bin).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let (log, at_sync) = synced_then_not(&tmp.path().join("a"));
    let url = server.url();
    let rt = runtime();
    let mut o = options(ExportDurability::Unsynced);
    o.once = true;
    rt.block_on(async {
        export(
            &log,
            &Connection::new(&url),
            &o,
            CancellationToken::new(),
            &Events::ignore(),
        )
        .await
        .unwrap();
        assert_eq!(stream_ids(&url, "EVENTS").await.len(), 150);
    });
    drop(log);
    let image = tmp.path().join("image");
    crash_image(&at_sync, &image);
    let recovered = recover_and_append(&image);
    rt.block_on(async {
        let e = export(
            &recovered,
            &Connection::new(&url),
            &o,
            CancellationToken::new(),
            &Events::ignore(),
        )
        .await
        .unwrap_err();
        assert!(matches!(e, JetStreamError::Diverged { .. }), "{e}");
        assert!(e.to_string().contains("power loss"), "{e}");
        // Nothing was published under the reused ids.
        assert_eq!(stream_ids(&url, "EVENTS").await.len(), 150);
    });
}

async fn stream_ids_or_empty(url: &str) -> Vec<(u64, Vec<u8>)> {
    let client = async_nats::connect(url).await.unwrap();
    let js = async_nats::jetstream::new(client);
    if js.get_stream("EVENTS").await.is_err() {
        return Vec::new();
    }
    stream_ids(url, "EVENTS").await
}

#[test]
fn an_export_waiting_for_syncs_publishes_the_rest_when_another_process_syncs() {
    let Some(bin) = nats_server_for_test("export_waiting_woken") else {
        return;
    };
    let server = NatsServer::start(&bin).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("a");
    let (log, _) = synced_then_not(&dir);
    let rt = runtime();
    let url = server.url();
    rt.block_on(async {
        let (stop, task) = spawn_waiting_export(&log, &url);
        let deadline = Instant::now() + Duration::from_secs(30);
        while stream_ids_or_empty(&url).await.len() < 100 {
            assert!(Instant::now() < deadline, "the synced messages exported");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Give it time to do wrong: still the synced ones only.
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(stream_ids_or_empty(&url).await.len(), 100);
        // Another handle (as another process) syncs: the waiting export
        // wakes and publishes the other 50.
        Log::open(&dir).unwrap().sync().unwrap();
        while stream_ids_or_empty(&url).await.len() < 150 {
            assert!(Instant::now() < deadline, "the rest exported");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        stop.cancel();
        task.await.unwrap().unwrap();
        assert_eq!(stream_ids(&url, "EVENTS").await, log_messages(&log));
    });
}
