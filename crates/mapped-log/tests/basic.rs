//! Single-process behaviour of the log: append, read, roll, abandon, wait.

use std::time::Duration;

use mapped_log::{Appender, Log, LogError, LogOptions, Start};

/// An error and its causes, as a program prints them (`: ` between).
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

fn small() -> LogOptions {
    LogOptions {
        segment_size: 4096,
        max_message: 1000,
        ..LogOptions::default()
    }
}

#[test]
fn append_then_read_in_order_across_segments() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::create(dir.path().join("log"), small()).unwrap();
    let mut app = Appender::new(&log).unwrap();
    let mut ids = Vec::new();
    for i in 0..500u32 {
        let payload = format!("message {i} {}", "x".repeat((i % 97) as usize));
        ids.push(app.append(payload.as_bytes()).unwrap());
    }
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "ids grow with position"
    );
    assert!(
        ids.last().unwrap() / 4096 > 5,
        "rolled over several segments"
    );
    let mut r = log.reader(Start::Beginning).unwrap();
    for (i, id) in ids.iter().enumerate() {
        let m = r.try_next().unwrap().expect("committed message");
        assert_eq!(m.id(), *id);
        let want = format!("message {i} {}", "x".repeat(i % 97));
        assert_eq!(m.payload(), want.as_bytes());
    }
    assert!(r.try_next().unwrap().is_none());
    // Start from an id in the middle.
    let mut r = log.reader(Start::Id(ids[250])).unwrap();
    assert_eq!(r.try_next().unwrap().unwrap().id(), ids[250]);
    // A position that is not a record boundary is refused.
    assert!(matches!(
        log.reader(Start::Id(ids[250] + 8)),
        Err(LogError::NoSuchId { .. })
    ));
}

#[test]
fn zero_length_and_maximum_messages() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::create(dir.path().join("log"), small()).unwrap();
    let mut app = Appender::new(&log).unwrap();
    app.append(b"").unwrap();
    app.append(&[7u8; 1000]).unwrap();
    let err = app.append(&[7u8; 1001]).unwrap_err();
    assert!(
        matches!(
            err,
            LogError::TooLarge {
                len: 1001,
                max: 1000,
                ..
            }
        ),
        "{err}"
    );
    let mut r = log.reader(Start::Beginning).unwrap();
    assert_eq!(r.try_next().unwrap().unwrap().payload(), b"");
    assert_eq!(r.try_next().unwrap().unwrap().payload(), &[7u8; 1000][..]);
}

#[test]
fn abandoned_claims_become_padding() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::create(dir.path().join("log"), small()).unwrap();
    let mut app = Appender::new(&log).unwrap();
    app.append(b"one").unwrap();
    {
        let mut c = app.claim(10).unwrap();
        c.as_mut_slice().copy_from_slice(b"abandoned!");
    }
    let mut c = app.claim(3).unwrap();
    c.as_mut_slice().copy_from_slice(b"two");
    c.commit().unwrap();
    let mut r = log.reader(Start::Beginning).unwrap();
    assert_eq!(r.try_next().unwrap().unwrap().payload(), b"one");
    assert_eq!(r.try_next().unwrap().unwrap().payload(), b"two");
    assert!(r.try_next().unwrap().is_none());
}

#[test]
fn reader_from_end_sees_only_new_messages_and_waits() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::create(dir.path().join("log"), small()).unwrap();
    let mut app = Appender::new(&log).unwrap();
    app.append(b"old").unwrap();
    let mut r = log.reader(Start::End).unwrap();
    assert!(
        r.next(Some(Duration::from_millis(20))).unwrap().is_none(),
        "times out"
    );
    let log2 = log.clone();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        Appender::new(&log2).unwrap().append(b"new").unwrap()
    });
    let m = r
        .next(Some(Duration::from_secs(10)))
        .unwrap()
        .expect("woken by the append");
    assert_eq!(m.payload(), b"new");
    assert_eq!(m.id(), t.join().unwrap());
}

#[test]
fn concurrent_appenders_each_message_once() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::create(dir.path().join("log"), small()).unwrap();
    let threads: Vec<_> = (0..4u8)
        .map(|t| {
            let log = log.clone();
            std::thread::spawn(move || {
                let mut app = Appender::new(&log).unwrap();
                for i in 0..2000u32 {
                    let mut p = vec![t];
                    p.extend_from_slice(&i.to_le_bytes());
                    app.append(&p).unwrap();
                }
            })
        })
        .collect();
    let mut r = log.reader(Start::Beginning).unwrap();
    let mut next = [0u32; 4];
    let mut total = 0;
    while total < 8000 {
        let m = r
            .next(Some(Duration::from_secs(20)))
            .unwrap()
            .expect("all arrive");
        let p = m.payload();
        let t = p[0] as usize;
        let i = u32::from_le_bytes(p[1..5].try_into().unwrap());
        assert_eq!(i, next[t], "per-appender order kept, no loss, no duplicate");
        next[t] += 1;
        total += 1;
    }
    for t in threads {
        t.join().unwrap();
    }
    assert!(r.try_next().unwrap().is_none());
}

#[test]
fn opening_a_non_log_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = Log::open(dir.path()).unwrap_err();
    assert!(err.to_string().contains("not a log directory"), "{err}");
    std::fs::write(dir.path().join("control"), vec![1u8; 4096]).unwrap();
    let err = Log::open(dir.path()).unwrap_err();
    assert!(err.to_string().contains("bad magic"), "{err}");
    let err = Log::create(dir.path(), small()).unwrap_err();
    assert!(matches!(err, LogError::AlreadyExists { .. }), "{err}");
    // The magic number's complaint is not repeated.
    let err = Log::open(dir.path()).unwrap_err().to_string();
    assert_eq!(err.matches("not a mapped-log file").count(), 1, "{err}");
}

#[test]
fn create_makes_one_directory_and_refuses_bad_places_and_sizes() {
    let dir = tempfile::tempdir().unwrap();
    // A missing parent is a mistyped path: nothing is created.
    let deep = dir.path().join("no").join("such").join("log");
    for err in [
        Log::create(&deep, small()).unwrap_err(),
        Log::open_or_create(&deep, small()).unwrap_err(),
    ] {
        let text = chain(&err);
        assert!(
            text.contains("no/such/log") && text.contains("parent directory does not exist"),
            "{text}"
        );
    }
    assert!(!dir.path().join("no").exists());
    // A file where the directory should be.
    let file = dir.path().join("file");
    std::fs::write(&file, b"").unwrap();
    let err = chain(&Log::create(&file, small()).unwrap_err());
    assert!(err.contains("not a directory"), "{err}");
    // A dangling symbolic link: the error met following it.
    let dangling = dir.path().join("dangling");
    std::os::unix::fs::symlink(dir.path().join("nowhere"), &dangling).unwrap();
    let err = chain(&Log::create(&dangling, small()).unwrap_err());
    assert!(
        err.contains("dangling") && err.contains("No such file or directory"),
        "{err}"
    );
    // An existing empty directory, or a new one, is fine.
    std::fs::create_dir(dir.path().join("empty")).unwrap();
    Log::create(dir.path().join("empty"), small()).unwrap();
    Log::create(dir.path().join("new"), small()).unwrap();
    // A log that could hold nothing but empty messages is refused.
    let none = LogOptions {
        max_message: 0,
        ..small()
    };
    let err = Log::create(dir.path().join("zero"), none).unwrap_err();
    assert!(matches!(err, LogError::InvalidArgument { .. }), "{err}");
    assert!(!dir.path().join("zero").exists());
}

#[test]
fn a_read_only_open_inspects_and_refuses_what_would_write() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let log = Log::create(&path, small()).unwrap();
    let mut app = Appender::new(&log).unwrap();
    for i in 0..200u32 {
        app.append(&i.to_le_bytes()).unwrap();
    }
    let mut named = log.named_reader("r", Start::Beginning).unwrap();
    named.try_next().unwrap().unwrap();
    named.save().unwrap();
    // The appender stays alive: the read-only probe must see its slot.
    let expected = log.stat().unwrap();
    assert_eq!(expected.live_appenders.len(), 1);

    // Every mapping of this handle is read-only: a store through any of
    // them would kill the test with SIGSEGV.
    let ro = Log::open_read_only(&path).unwrap();
    assert!(ro.is_read_only() && !log.is_read_only());
    assert!(!ro.restart_recovery_pending().unwrap());
    assert_eq!(ro.stat().unwrap(), expected);
    assert_eq!(ro.verify().unwrap(), []);
    assert_eq!(ro.durable_position(), log.durable_position());
    assert_eq!(ro.named_readers().unwrap(), log.named_readers().unwrap());
    drop(app);
    assert!(ro.stat().unwrap().live_appenders.is_empty());

    let refused = |r: Result<(), LogError>, what: &str| match r {
        Err(LogError::ReadOnly { what: w, .. }) => assert_eq!(w, what),
        other => panic!("{what}: expected ReadOnly, got {other:?}"),
    };
    refused(Appender::new(&ro).map(drop), "an appender");
    refused(
        ro.named_reader("r", Start::Beginning).map(drop),
        "a named reader",
    );
    refused(ro.recover().map(drop), "recovery");
    refused(ro.retain(Default::default()).map(drop), "retention");
    refused(ro.sync().map(drop), "sync");
    refused(ro.remove_named_reader("r"), "removing a named reader");
    let err = Appender::new(&ro).unwrap_err().to_string();
    assert!(err.contains("opened read-only"), "{err}");
    // Nothing was changed on the way.
    assert_eq!(log.named_readers().unwrap().len(), 1);
    drop((ro, named, log));

    // As if the system had restarted since a writer last opened the log: a
    // read-only open reports it and leaves the boot id for the next
    // read-write open, which recovers.
    let control = path.join(mapped_log::CONTROL_FILE);
    let mut bytes = std::fs::read(&control).unwrap();
    let at = mapped_log::format::CONTROL_BOOT_ID as usize;
    bytes[at..at + mapped_log::format::BOOT_ID_LEN].fill(b'x');
    std::fs::write(&control, &bytes).unwrap();
    let ro = Log::open_read_only(&path).unwrap();
    assert!(ro.restart_recovery_pending().unwrap());
    assert!(ro.restart_recovery().is_none());
    assert_eq!(ro.stat().unwrap().messages, 200);
    drop(ro);
    assert_eq!(std::fs::read(&control).unwrap(), bytes);
    let rw = Log::open(&path).unwrap();
    assert!(rw.restart_recovery().is_some());
    assert!(!rw.restart_recovery_pending().unwrap());
}

/// A reader of a log opened read-only reads and follows it without a
/// single store (the mappings are read-only: a store would be SIGSEGV):
/// from the beginning across segments, from an id, from the end; it naps
/// instead of registering to sleep, so appends reach it without a wake-up
/// meant for it, blocking or in an event loop.
#[test]
fn a_read_only_reader_reads_and_follows_without_storing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let log = Log::create(&path, small()).unwrap();
    let mut app = Appender::new(&log).unwrap();
    let ids: Vec<u64> = (0..1000u32)
        .map(|i| app.append(&i.to_le_bytes()).unwrap())
        .collect();
    assert!(ids[999] / 4096 > 2, "several segments");

    let ro = Log::open_read_only(&path).unwrap();
    let mut r = ro.reader(Start::Beginning).unwrap();
    for (i, id) in ids.iter().enumerate() {
        let m = r.try_next().unwrap().expect("committed");
        assert_eq!((m.id(), m.payload()), (*id, &(i as u32).to_le_bytes()[..]));
    }
    assert!(r.try_next().unwrap().is_none());
    let mut from_id = ro.reader(Start::Id(ids[550])).unwrap();
    assert_eq!(from_id.try_next().unwrap().unwrap().id(), ids[550]);
    let mut at_end = ro.reader(Start::End).unwrap();
    assert!(at_end.try_next().unwrap().is_none());
    // With nothing to read, a wait times out (through naps).
    assert!(r.next(Some(Duration::from_millis(30))).unwrap().is_none());

    // A blocking reader, asleep at the tail when the append comes.
    r.set_wait_strategy(mapped_log::WaitStrategy::SpinThenSleep(Duration::ZERO));
    let ready = at_end.readiness().unwrap();
    let writer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        app.append(b"later").unwrap()
    });
    let m = r
        .next(Some(Duration::from_secs(30)))
        .unwrap()
        .expect("woken");
    assert_eq!(m.payload(), b"later");
    let later = writer.join().unwrap();
    assert_eq!(m.id(), later);
    // The event loop's descriptor turns readable too.
    let mut fds = [rustix::event::PollFd::new(
        &ready,
        rustix::event::PollFlags::IN,
    )];
    let timeout = rustix::event::Timespec {
        tv_sec: 30,
        tv_nsec: 0,
    };
    assert_eq!(rustix::event::poll(&mut fds, Some(&timeout)).unwrap(), 1);
    ready.clear().unwrap();
    assert_eq!(at_end.try_next().unwrap().unwrap().id(), later);
    // Dropping the descriptor stops its napping watcher.
    drop(ready);
}

#[test]
fn named_readers_resume_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let log = Log::create(&path, small()).unwrap();
    let mut app = Appender::new(&log).unwrap();
    for i in 0..300u32 {
        app.append(&i.to_le_bytes()).unwrap();
    }
    let mut r = log.named_reader("worker", Start::Beginning).unwrap();
    for i in 0..150u32 {
        assert_eq!(r.try_next().unwrap().unwrap().payload(), i.to_le_bytes());
    }
    r.save().unwrap();
    drop(r);
    drop(log);
    let log = Log::open(&path).unwrap();
    assert_eq!(log.named_readers().unwrap().len(), 1);
    let mut r = log.named_reader("worker", Start::Beginning).unwrap();
    assert_eq!(
        r.try_next().unwrap().unwrap().payload(),
        150u32.to_le_bytes()
    );
    assert!(log.named_reader("../etc", Start::Beginning).is_err());
    assert!(
        log.reader(Start::Beginning).unwrap().save().is_err(),
        "unnamed"
    );
}

#[test]
fn retention_respects_named_readers_and_reports_behind() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::create(dir.path().join("log"), small()).unwrap();
    let mut app = Appender::new(&log).unwrap();
    let first = app.append(b"first").unwrap();
    for _ in 0..400 {
        app.append(&[1u8; 40]).unwrap();
    }
    // The log's segments (not one its appender's helper made ahead).
    let segs = log.stat().unwrap().segments;
    assert!(segs.len() > 4);
    let mut slow = log.named_reader("slow", Start::Beginning).unwrap();
    slow.save().unwrap();
    let policy = mapped_log::Retention {
        max_bytes: Some(2 * 4096),
        ..Default::default()
    };
    let rep = log.retain(policy).unwrap();
    assert!(rep.removed.is_empty(), "held by the named reader");
    assert_eq!(rep.held_by, vec!["slow".to_string()]);
    // The reader still reads from its mapping after a forced removal.
    let rep = log
        .retain(mapped_log::Retention {
            force: true,
            ..policy
        })
        .unwrap();
    assert_eq!(rep.removed.len(), segs.len() - 2);
    assert_eq!(slow.try_next().unwrap().unwrap().id(), first);
    let err = log.reader(Start::Id(first)).unwrap_err();
    assert!(matches!(err, LogError::Behind { .. }), "{err}");
    assert!(
        err.to_string().contains("oldest message still available"),
        "{err}"
    );
    // Reading on from the removed segment's end reports the gap.
    let mut saw_behind = false;
    for _ in 0..1000 {
        match slow.try_next() {
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(LogError::Behind { .. }) => {
                saw_behind = true;
                break;
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert!(saw_behind);
    assert_eq!(log.verify().unwrap(), []);
    let stat = log.stat().unwrap();
    assert_eq!(stat.segments.len(), 2);
    assert_eq!(stat.live_appenders.len(), 1);
}

#[test]
fn sync_durability_advances_the_durable_position() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::create(dir.path().join("log"), small()).unwrap();
    let mut app = Appender::new(&log).unwrap();
    let before = log.durable_position();
    let id = app.append(b"volatile").unwrap();
    assert!(log.durable_position() <= id, "no sync yet");
    app.set_durability(mapped_log::Durability::Sync).unwrap();
    let id2 = app.append(b"durable").unwrap();
    assert!(log.durable_position() > id2, "covers the synced record");
    assert!(log.durable_position() > before);
    app.set_durability(mapped_log::Durability::Interval(Duration::from_millis(5)))
        .unwrap();
    let id3 = app.append(b"soon").unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while log.durable_position() <= id3 {
        assert!(
            std::time::Instant::now() < deadline,
            "background sync never ran"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn concurrent_sync_appenders_share_syncs() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::create(dir.path().join("log"), small()).unwrap();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let log = log.clone();
            std::thread::spawn(move || {
                let mut app = Appender::new(&log).unwrap();
                app.set_durability(mapped_log::Durability::Sync).unwrap();
                let mut last = 0;
                for _ in 0..50 {
                    last = app.append(b"payload").unwrap();
                    assert!(log.durable_position() > last);
                }
                last
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(log.stat().unwrap().messages, 200);
}

#[test]
fn a_sync_failure_is_sticky_across_handles_until_restart_recovery() {
    use std::os::unix::fs::FileExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let log = Log::create(&path, small()).unwrap();
    let mut app = Appender::new(&log).unwrap();
    app.set_durability(mapped_log::Durability::Sync).unwrap();
    app.append(b"durable").unwrap();
    // Another process's sync failed: it set the flag in the control file.
    let control = std::fs::OpenOptions::new()
        .write(true)
        .open(path.join("control"))
        .unwrap();
    control
        .write_all_at(&1u64.to_le_bytes(), mapped_log::format::CONTROL_SYNC_FAILED)
        .unwrap();
    let err = app.append(b"not promised").unwrap_err();
    assert!(
        matches!(
            err,
            LogError::SyncFailed {
                why: mapped_log::SyncFailure::Earlier,
                source: None,
                ..
            }
        ),
        "{err}"
    );
    // Appends that promise nothing still work, but syncing them fails.
    let mut plain = Appender::new(&log).unwrap();
    plain.append(b"page cache only").unwrap();
    assert!(matches!(
        log.sync(),
        Err(LogError::SyncFailed {
            why: mapped_log::SyncFailure::Earlier,
            ..
        })
    ));
    drop((app, plain, log));
    // A restart re-validates what is on disk and clears the flag.
    control
        .write_all_at(&[b'x'; 8], mapped_log::format::CONTROL_BOOT_ID)
        .unwrap();
    let log = Log::open(&path).unwrap();
    assert!(log.restart_recovery().is_some());
    let mut app = Appender::new(&log).unwrap();
    app.set_durability(mapped_log::Durability::Sync).unwrap();
    app.append(b"durable again").unwrap();
}

#[test]
fn create_refuses_segment_files_without_a_control_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("00000000000000000000.seg"),
        b"someone's data",
    )
    .unwrap();
    let err = Log::create(dir.path(), small()).unwrap_err();
    assert!(err.to_string().contains("without a control file"), "{err}");
    assert_eq!(
        std::fs::read(dir.path().join("00000000000000000000.seg")).unwrap(),
        b"someone's data"
    );
}

#[test]
fn a_durable_position_at_a_segment_end_is_a_valid_start() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::create(dir.path().join("log"), small()).unwrap();
    let mut app = Appender::new(&log).unwrap();
    // Fill segment 0 exactly: 3968 bytes of records after the header,
    // three of 1000 bytes (984-byte payloads) and one of 968.
    for _ in 0..3 {
        app.append(&[9u8; 984]).unwrap();
    }
    let last = app.append(&[9u8; 952]).unwrap();
    assert_eq!(last, 128 + 3000);
    // The position just past segment 0, in the `(i + 1) * size` form.
    let mut r = log.reader(Start::Id(4096)).unwrap();
    assert!(r.try_next().unwrap().is_none());
    let id = app.append(b"next").unwrap();
    assert_eq!(
        r.next(Some(Duration::from_secs(5))).unwrap().unwrap().id(),
        id
    );
}

#[test]
fn a_reader_killed_asleep_is_discounted_by_the_next_sleeper() {
    use mapped_log::format;
    use std::os::unix::fs::FileExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let log = Log::create(&path, small()).unwrap();
    let control = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path.join("control"))
        .unwrap();
    let waiters = || {
        let mut b = [0u8; 4];
        control
            .read_exact_at(&mut b, format::CONTROL_WAITERS)
            .unwrap();
        u32::from_le_bytes(b)
    };
    // What a reader killed in its sleep leaves: counted, flag set, its
    // lock released with its death.
    control
        .write_all_at(&1u32.to_le_bytes(), format::CONTROL_WAITERS)
        .unwrap();
    control
        .write_all_at(&1u64.to_le_bytes(), format::CONTROL_SLEEPERS + 5 * 8)
        .unwrap();
    assert_eq!(waiters(), 1);
    // The next reader to sleep discounts it, and counts only itself.
    let mut r = log.reader(Start::End).unwrap();
    r.set_wait_strategy(mapped_log::WaitStrategy::SpinThenSleep(Duration::ZERO));
    assert!(r.next(Some(Duration::from_millis(30))).unwrap().is_none());
    assert_eq!(waiters(), 0, "the dead sleeper's count was undone");
    let mut flag = [0u8; 8];
    control
        .read_exact_at(&mut flag, format::CONTROL_SLEEPERS + 5 * 8)
        .unwrap();
    assert_eq!(flag, [0; 8]);
}

#[test]
fn the_next_segment_is_made_ahead_under_every_durability() {
    use mapped_log::Durability;
    for durability in [
        Durability::None,
        Durability::Sync,
        Durability::Interval(Duration::from_millis(5)),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::create(
            dir.path().join("log"),
            LogOptions {
                segment_size: 16 << 10,
                max_message: 1000,
                ..LogOptions::default()
            },
        )
        .unwrap();
        let mut app = Appender::new(&log).unwrap();
        app.set_durability(durability).unwrap();
        // Up to just before the middle of segment 0: nothing is made.
        let size = mapped_log::format::record_size(250);
        let mut last = 0;
        while last + 2 * size < 8 << 10 {
            last = app.append(&[3; 250]).unwrap();
        }
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(log.stat().unwrap().ahead, [] as [u64; 0], "{durability:?}");
        // Past it: segment 1 is made, and not published.
        while last < 9 << 10 {
            last = app.append(&[3; 250]).unwrap();
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let stat = log.stat().unwrap();
            if stat.ahead == [1] {
                assert_eq!(stat.segments, [0], "{durability:?}");
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{durability:?}: segment 1 never made ahead: {stat:?}"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
        // The roll publishes it; the log reads back whole.
        while last < 20 << 10 {
            last = app.append(&[3; 250]).unwrap();
        }
        assert_eq!(log.stat().unwrap().segments, [0, 1]);
        assert_eq!(log.verify().unwrap(), []);
    }
}

#[test]
fn prefault_cpus_are_checked_and_appends_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::create(dir.path().join("log"), small()).unwrap();
    let mut app = Appender::new(&log).unwrap();
    for bad in [&[][..], &[1 << 20][..], &[0, 4096][..]] {
        match app.set_prefault_cpus(Some(bad)) {
            Err(LogError::InvalidArgument { path, what }) => {
                assert_eq!(path, log.dir());
                assert!(what.contains("CPUs"), "{what}");
            }
            other => panic!("{bad:?}: {other:?}"),
        }
    }
    app.set_prefault_cpus(Some(&[0])).unwrap();
    let a = app.append(b"on cpu 0's helper").unwrap();
    app.set_prefault_cpus(None).unwrap();
    let b = app.append(b"on the default").unwrap();
    let mut r = log.reader(Start::Beginning).unwrap();
    assert_eq!(r.try_next().unwrap().unwrap().id(), a);
    assert_eq!(r.try_next().unwrap().unwrap().id(), b);
}

/// A log of another format version is refused, naming both versions and
/// what to do, whichever file carries the other version.
#[test]
fn a_log_of_another_format_version_is_refused_clearly() {
    use std::os::unix::fs::FileExt;
    let tmp = tempfile::tempdir().unwrap();
    for (n, (file, version)) in [("control", 1u32), ("control", 3), ("segment", 1)]
        .into_iter()
        .enumerate()
    {
        let dir = tmp.path().join(format!("log-{n}"));
        let log = Log::create(&dir, small()).unwrap();
        Appender::new(&log).unwrap().append(b"x").unwrap();
        drop(log);
        let path = match file {
            "control" => dir.join(mapped_log::CONTROL_FILE),
            _ => dir.join(format!("{:020}.seg", 0)),
        };
        // The version word, resealed so that only the version is wrong.
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        let mut header = [0u8; 64];
        f.read_exact_at(&mut header, 0).unwrap();
        header[8..12].copy_from_slice(&version.to_le_bytes());
        let crc = crc32c::crc32c(&header[..60]);
        header[60..64].copy_from_slice(&crc.to_le_bytes());
        f.write_all_at(&header, 0).unwrap();
        drop(f);
        let err = Log::open(&dir)
            .and_then(|log| log.reader(Start::Beginning).map(drop))
            .unwrap_err();
        let text = err.to_string();
        assert!(
            matches!(err, LogError::NotALog { .. }),
            "{file} v{version}: {err}"
        );
        assert!(
            text.contains(&format!("format version {version}"))
                && text.contains(&format!(
                    "reads only version {}",
                    mapped_log::format::VERSION
                )),
            "{text}"
        );
        let advice = if version < mapped_log::format::VERSION {
            "older build"
        } else {
            "newer build"
        };
        assert!(text.contains(advice), "{text}");
    }
}

/// A create in an existing directory that died after moving segment 0 in
/// and before the control file: the next create goes through (the empty
/// segment holds nothing). A segment 0 holding anything is refused.
#[test]
fn create_goes_through_what_an_interrupted_create_left() {
    let tmp = tempfile::tempdir().unwrap();
    let made = tmp.path().join("made");
    drop(Log::create(&made, small()).unwrap());
    let dir = tmp.path().join("dir");
    std::fs::create_dir(&dir).unwrap();
    let seg0 = "00000000000000000000.seg";
    std::fs::copy(made.join(seg0), dir.join(seg0)).unwrap();
    let log = Log::create(&dir, small()).unwrap();
    Appender::new(&log).unwrap().append(b"x").unwrap();
    // With a record in it, it is someone's data.
    let other = tmp.path().join("other");
    std::fs::create_dir(&other).unwrap();
    std::fs::copy(dir.join(seg0), other.join(seg0)).unwrap();
    let err = Log::create(&other, small()).unwrap_err();
    assert!(err.to_string().contains("without a control file"), "{err}");
}
