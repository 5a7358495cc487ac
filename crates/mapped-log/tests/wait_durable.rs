//! `Log::wait_durable`: a wait for others' syncs, woken by their group
//! commits (the futex word `sync_seq`), across handles (as across
//! processes: each maps the control file).

use std::time::Duration;

use mapped_log::{Appender, Log, LogOptions};

fn small() -> LogOptions {
    LogOptions {
        segment_size: 4096,
        max_message: 1000,
        ..LogOptions::default()
    }
}

#[test]
fn wait_durable_sleeps_until_another_handle_syncs_or_the_timeout() {
    // No look without a wake-up: a wait that returns before its timeout
    // was woken by a group commit.
    mapped_log::set_durable_nap_for_tests(Duration::from_secs(3600));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let log = Log::create(&path, small()).unwrap();
    let mut app = Appender::new(&log).unwrap();
    let id = app.append(b"not yet durable").unwrap();
    let end = id + mapped_log::format::record_size(15);
    // Nobody syncs: the timeout passes, the position is returned as is.
    let d = log
        .wait_durable(end, Some(Duration::from_millis(20)))
        .unwrap();
    assert!(d <= id, "{d} {id}");
    // Another handle (its own mapping of the control file, as another
    // process has), read-only, waits while this one syncs. The wait has no
    // timeout and no look without a wake-up: only the sync's wake-up ends
    // it (the 30 s below only bound a broken build's hang).
    let watcher = Log::open_read_only(&path).unwrap();
    let woken = wait_in_thread(watcher, end);
    std::thread::sleep(Duration::from_millis(50));
    let synced = log.sync().unwrap();
    assert!(synced >= end);
    assert_eq!(
        woken.recv_timeout(Duration::from_secs(30)),
        Ok(synced),
        "woken by the sync"
    );
    // Already there: at once, whatever the timeout.
    assert_eq!(log.wait_durable(end, Some(Duration::ZERO)).unwrap(), synced);
    // The background syncs of an appender wake it too.
    let woken = wait_in_thread(log.clone(), synced + 1);
    app.set_durability(mapped_log::Durability::Interval(Duration::from_millis(5)))
        .unwrap();
    let id = app.append(b"soon durable").unwrap();
    let d = woken
        .recv_timeout(Duration::from_secs(30))
        .expect("woken by a background sync");
    assert!(d > id, "{d} {id}");
}

/// `log.wait_durable(position, None)` in a thread; its result comes on the
/// channel.
fn wait_in_thread(log: Log, position: u64) -> std::sync::mpsc::Receiver<u64> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(log.wait_durable(position, None).unwrap());
    });
    rx
}
