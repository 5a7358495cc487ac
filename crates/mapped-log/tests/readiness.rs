//! Readiness descriptors: a reader in an `epoll` loop and in a tokio loop
//! sees every message that writer processes append, the descriptor stays
//! quiet while the log is idle, a corrupt record stops the watcher with an
//! error instead of a hang, and dropping the descriptor stops its thread.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::{
    SAFETY_NET, check_payload, child_role, env, env_u64, payload, pwrite, segment_path,
    spawn_child, with_timeout,
};
use mapped_log::{Appender, Log, LogError, LogOptions, Reader, Readiness, Start};
use rustix::event::{PollFd, PollFlags, epoll, poll};

const LOG_ENV: &str = "MAPPED_LOG_TEST_LOG";
const WRITER_ENV: &str = "MAPPED_LOG_TEST_WRITER";
const COUNT_ENV: &str = "MAPPED_LOG_TEST_COUNT";
const SEGMENT: u64 = 64 << 10;

fn options() -> LogOptions {
    LogOptions {
        segment_size: SEGMENT,
        max_message: 4096,
        ..LogOptions::default()
    }
}

/// Whether `ready` turns readable within `timeout`.
fn readable_within(ready: &Readiness, timeout: Duration) -> bool {
    let ts = rustix::time::Timespec {
        tv_sec: timeout.as_secs() as i64,
        tv_nsec: timeout.subsec_nanos().into(),
    };
    let mut fds = [PollFd::new(ready, PollFlags::IN)];
    poll(&mut fds, Some(&ts)).expect("poll") == 1
}

/// Takes every message the reader has, checking each writer's sequence.
fn drain(reader: &mut Reader, next_seq: &mut HashMap<u32, u64>) -> u64 {
    let mut n = 0;
    while let Some(m) = reader.try_next().unwrap() {
        let (writer, seq) = check_payload(m.payload()).unwrap();
        let want = next_seq.entry(writer).or_insert(0);
        assert_eq!(seq, *want, "writer {writer}: lost, repeated or reordered");
        *want += 1;
        n += 1;
    }
    n
}

/// After everything is read, the descriptor goes quiet: at most a few
/// late signals (for records the watcher passed after our last `clear`),
/// then none.
fn assert_goes_quiet(ready: &Readiness, reader: &mut Reader) {
    for _ in 0..5 {
        if !readable_within(ready, Duration::from_millis(200)) {
            return;
        }
        ready.clear().unwrap();
        assert!(reader.try_next().unwrap().is_none(), "a message too many");
    }
    panic!("the descriptor keeps turning readable with nothing to read");
}

/// Writer role: appends `count` self-checking messages, pausing now and
/// then so that the watcher catches up and sleeps.
fn writer_child() {
    let log = Log::open(env(LOG_ENV)).unwrap();
    let writer: u32 = env(WRITER_ENV).parse().unwrap();
    let count = env_u64(COUNT_ENV, 0);
    let mut app = Appender::new(&log).unwrap();
    for seq in 0..count {
        app.append(&payload(writer, seq)).unwrap();
        if seq % 97 == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

#[test]
fn epoll_loop_sees_every_message_from_writer_processes() {
    if child_role().is_some() {
        return writer_child();
    }
    const WRITERS: u32 = 2;
    let count = env_u64("MAPPED_LOG_READY_MESSAGES", 3000);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let log = Log::create(&dir, options()).unwrap();
    let mut reader = log.reader(Start::Beginning).unwrap();
    let ready = reader.readiness().unwrap();

    let epfd = epoll::create(epoll::CreateFlags::CLOEXEC).unwrap();
    epoll::add(
        &epfd,
        &ready,
        epoll::EventData::new_u64(7),
        epoll::EventFlags::IN,
    )
    .unwrap();

    let children: Vec<_> = (0..WRITERS)
        .map(|w| {
            spawn_child(
                "epoll_loop_sees_every_message_from_writer_processes",
                "writer",
                &[
                    (LOG_ENV, dir.display().to_string()),
                    (WRITER_ENV, w.to_string()),
                    (COUNT_ENV, count.to_string()),
                ],
            )
        })
        .collect();

    let mut next_seq = HashMap::new();
    let mut seen = 0;
    let mut wakeups = 0;
    let timeout = rustix::time::Timespec {
        tv_sec: SAFETY_NET.as_secs() as i64,
        tv_nsec: 0,
    };
    let mut events = Vec::with_capacity(4);
    while seen < count * WRITERS as u64 {
        events.clear();
        epoll::wait(
            &epfd,
            rustix::buffer::spare_capacity(&mut events),
            Some(&timeout),
        )
        .unwrap();
        assert!(
            !events.is_empty(),
            "no readiness within {SAFETY_NET:?}; {seen} of {} messages read",
            count * WRITERS as u64
        );
        assert_eq!(events[0].data.u64(), 7);
        wakeups += 1;
        ready.clear().unwrap();
        seen += drain(&mut reader, &mut next_seq);
    }
    for child in children {
        child.finish().assert_success();
    }
    assert_eq!(seen, count * WRITERS as u64);
    for w in 0..WRITERS {
        assert_eq!(next_seq.get(&w), Some(&count), "writer {w}");
    }
    println!("{seen} messages in {wakeups} wake-ups");
    assert_goes_quiet(&ready, &mut reader);
}

#[test]
fn idle_descriptor_stays_unreadable_until_an_append() {
    let tmp = tempfile::tempdir().unwrap();
    let log = Log::create(tmp.path().join("log"), options()).unwrap();
    let mut app = Appender::new(&log).unwrap();
    app.append(b"before").unwrap();
    // A reader from the end sees nothing old, and nothing signals.
    let mut reader = log.reader(Start::End).unwrap();
    let ready = reader.readiness().unwrap();
    assert!(!readable_within(&ready, Duration::from_millis(200)));

    let writer = std::thread::spawn(move || app.append(b"after").unwrap());
    assert!(readable_within(&ready, SAFETY_NET), "no readiness");
    let id = writer.join().unwrap();
    ready.clear().unwrap();
    let m = reader
        .try_next()
        .unwrap()
        .expect("the message it announced");
    assert_eq!((m.id(), m.payload()), (id, &b"after"[..]));
    assert_goes_quiet(&ready, &mut reader);
}

#[test]
fn descriptor_follows_the_reader_across_segment_rolls() {
    let tmp = tempfile::tempdir().unwrap();
    let log = Log::create(tmp.path().join("log"), options()).unwrap();
    let mut reader = log.reader(Start::Beginning).unwrap();
    let ready = reader.readiness().unwrap();
    let mut app = Appender::new(&log).unwrap();
    // Several segments' worth, in bursts with pauses between.
    let mut next_seq = HashMap::new();
    let mut seen = 0;
    for burst in 0..20u64 {
        for i in 0..100 {
            app.append(&payload(0, burst * 100 + i)).unwrap();
        }
        while seen < (burst + 1) * 100 {
            assert!(readable_within(&ready, SAFETY_NET), "no readiness");
            ready.clear().unwrap();
            seen += drain(&mut reader, &mut next_seq);
        }
    }
    assert!(log.stat().unwrap().segments.len() > 1, "the log rolled");
    assert_goes_quiet(&ready, &mut reader);
}

#[test]
fn corrupt_record_stops_the_watcher_with_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let log = Log::create(&dir, options()).unwrap();
    let mut app = Appender::new(&log).unwrap();
    let ids: Vec<u64> = (0..3u64)
        .map(|i| app.append(&payload(0, i)).unwrap())
        .collect();
    // A payload length far past the log's maximum, in the second record.
    pwrite(
        &segment_path(&dir, 0),
        ids[1] % SEGMENT + 8,
        &0xffff_fff0u32.to_le_bytes(),
    );
    let mut reader = log.reader(Start::Beginning).unwrap();
    let ready = reader.readiness().unwrap();
    let err = with_timeout("watcher error", SAFETY_NET, move || {
        loop {
            assert!(readable_within(&ready, SAFETY_NET), "no readiness");
            if let Err(e) = ready.clear() {
                // It stays readable, so a loop keeps hearing of it.
                assert!(readable_within(&ready, Duration::ZERO));
                return e;
            }
        }
    });
    // The watcher's own error is the cause, typed.
    let LogError::WatcherStopped { source, .. } = &err else {
        panic!("expected WatcherStopped, got {err}");
    };
    assert!(
        matches!(**source, LogError::Corrupt { id, .. } if id == ids[1]),
        "{source}"
    );
    let cause = std::error::Error::source(&err)
        .expect("a cause")
        .to_string();
    assert!(cause.contains("corrupt record"), "{cause}");
    assert!(
        !err.to_string().contains("corrupt record"),
        "printed once: {err}"
    );
    // The reader itself reads the good record, then fails at the bad one.
    assert_eq!(reader.try_next().unwrap().unwrap().id(), ids[0]);
    assert!(matches!(
        reader.try_next(),
        Err(LogError::Corrupt { id, .. }) if id == ids[1]
    ));
}

#[test]
fn dropping_the_descriptor_stops_its_watcher() {
    let tmp = tempfile::tempdir().unwrap();
    let log = Log::create(tmp.path().join("log"), options()).unwrap();
    let reader = log.reader(Start::End).unwrap();
    for pause in [0, 1, 50] {
        let ready = reader.readiness().unwrap();
        // With a pause the watcher is asleep on the futex when told to stop.
        std::thread::sleep(Duration::from_millis(pause));
        with_timeout("dropping a readiness descriptor", SAFETY_NET, move || {
            drop(ready)
        });
    }
    // The log still works, and a new descriptor still signals.
    let ready = reader.readiness().unwrap();
    Appender::new(&log).unwrap().append(b"x").unwrap();
    assert!(readable_within(&ready, SAFETY_NET));
}

#[test]
fn tokio_async_fd_loop_reads_every_message() {
    use tokio::io::unix::AsyncFd;
    const COUNT: u64 = 2000;
    let tmp = tempfile::tempdir().unwrap();
    let log = Log::create(tmp.path().join("log"), options()).unwrap();
    let mut reader = log.reader(Start::Beginning).unwrap();
    let ready = reader.readiness().unwrap();
    let writer = std::thread::spawn({
        let log = log.clone();
        move || {
            let mut app = Appender::new(&log).unwrap();
            for seq in 0..COUNT {
                app.append(&payload(1, seq)).unwrap();
                if seq % 50 == 0 {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        }
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .unwrap();
    let next_seq = rt.block_on(async move {
        // SAFETY: the `Readiness` owns its descriptor and neither closes
        // nor replaces it while it lives, and `AsyncFd` owns the
        // `Readiness`.
        let afd = unsafe { AsyncFd::register(ready) }.unwrap();
        let mut next_seq = HashMap::new();
        let mut seen = 0;
        while seen < COUNT {
            let mut guard = tokio::time::timeout(SAFETY_NET, afd.readable())
                .await
                .expect("no readiness within the safety net")
                .unwrap();
            afd.get_ref().clear().unwrap();
            guard.clear_ready();
            seen += drain(&mut reader, &mut next_seq);
        }
        next_seq
    });
    writer.join().unwrap();
    assert_eq!(next_seq.get(&1), Some(&COUNT));
}
