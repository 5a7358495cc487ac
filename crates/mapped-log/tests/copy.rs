//! Copies of a log: `Appender::append_at` gives a copy the source's ids,
//! `Log::last_id` finds where a copy ends, `Log::save_reader_position`
//! saves a position the reader has passed, `Log::log_id` tells logs apart.

use mapped_log::{Appender, Log, LogError, LogOptions, Start};

fn small() -> LogOptions {
    LogOptions {
        segment_size: 4096,
        max_message: 1000,
        ..LogOptions::default()
    }
}

/// Every message of `log`, as (id, payload).
fn all(log: &Log) -> Vec<(u64, Vec<u8>)> {
    let mut r = log.reader(Start::Beginning).unwrap();
    let mut out = Vec::new();
    while let Some(m) = r.try_next().unwrap() {
        let mut buf = Vec::new();
        m.copy_to(&mut buf).unwrap();
        out.push((m.id(), buf));
    }
    out
}

#[test]
fn a_copy_made_with_append_at_has_the_sources_ids() {
    let dir = tempfile::tempdir().unwrap();
    let src = Log::create(dir.path().join("a"), small()).unwrap();
    // Gaps of every kind in the source: abandoned claims (padding of
    // their size), messages of many sizes (segment-end padding), and an
    // abandoned claim of the minimum size.
    let mut app = Appender::new(&src).unwrap();
    for i in 0..400u32 {
        match i % 7 {
            3 => drop(app.claim((i % 50) as usize).unwrap()),
            5 => drop(app.claim(0).unwrap()),
            _ => {
                let payload = vec![i as u8; (i * 13 % 900) as usize];
                app.append(&payload).unwrap();
            }
        }
    }
    let want = all(&src);
    assert!(want.last().unwrap().0 / 4096 > 10, "spans many segments");

    let copy = Log::create(dir.path().join("b"), small()).unwrap();
    assert_ne!(copy.log_id(), src.log_id(), "a copy is another log");
    assert_eq!(copy.last_id().unwrap(), None);
    let mut app = Appender::new(&copy).unwrap();
    for (id, payload) in &want {
        assert_eq!(app.append_at(*id, payload).unwrap(), *id);
    }
    assert_eq!(all(&copy), want);
    assert_eq!(copy.last_id().unwrap(), src.last_id().unwrap());
    assert_eq!(copy.last_id().unwrap(), Some(want.last().unwrap().0));

    // Reopened, the copy is the same and goes on at the same ids.
    drop(app);
    let copy = Log::open(dir.path().join("b")).unwrap();
    let mut a = Appender::new(&src).unwrap();
    let mut b = Appender::new(&copy).unwrap();
    for i in 0..20u8 {
        let id = a.append(&[i; 100]).unwrap();
        assert_eq!(b.append_at(id, &[i; 100]).unwrap(), id);
    }
    assert_eq!(all(&copy), all(&src));
}

#[test]
fn append_at_skips_whole_segments_and_refuses_what_it_cannot_do() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::create(dir.path().join("log"), small()).unwrap();
    let mut app = Appender::new(&log).unwrap();
    // Five segments ahead, in the middle of one.
    let far = 5 * 4096 + 1024;
    assert_eq!(app.append_at(far, b"far").unwrap(), far);
    assert_eq!(all(&log), vec![(far, b"far".to_vec())]);
    assert_eq!(log.last_id().unwrap(), Some(far));

    let taken = |e: LogError| match e {
        LogError::IdTaken { id, next, .. } => (id, next),
        other => panic!("expected IdTaken, got {other}"),
    };
    // The past, and the message's own id again.
    assert_eq!(
        taken(app.append_at(128, b"x").unwrap_err()),
        (128, far + 24)
    );
    assert_eq!(
        taken(app.append_at(far, b"x").unwrap_err()),
        (far, far + 24)
    );
    // An ordinary append goes on after it.
    assert_eq!(app.append(b"next").unwrap(), far + 24);

    // Not a record boundary, inside the header, crossing the end.
    for id in [6 * 4096 + 12, 7 * 4096 + 64, 8 * 4096 - 16] {
        let e = app
            .append_at(id, b"too long for the room left")
            .unwrap_err();
        assert!(matches!(e, LogError::InvalidArgument { .. }), "{id}: {e}");
        assert!(e.to_string().contains(&id.to_string()), "{e}");
    }
    // Nothing was written by the refusals.
    assert_eq!(log.last_id().unwrap(), Some(far + 24));
    // The smallest gap, 8 bytes (a padding record of one word).
    let next = far + 24 + 24;
    assert_eq!(app.append_at(next + 8, b"y").unwrap(), next + 8);
    let ids: Vec<u64> = all(&log).iter().map(|m| m.0).collect();
    assert_eq!(ids, vec![far, far + 24, next + 8]);
}

#[test]
fn append_at_refuses_when_another_appender_wrote_first() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::create(dir.path().join("log"), small()).unwrap();
    let mut replica = Appender::new(&log).unwrap();
    let mut other = Appender::new(&log).unwrap();
    let id = replica.append_at(128, b"one").unwrap();
    let stranger = other.append(b"stranger").unwrap();
    assert_eq!(stranger, id + 24);
    // The copy meant to put its next message right after its last.
    let e = replica.append_at(id + 24, b"two").unwrap_err();
    assert!(matches!(e, LogError::IdTaken { .. }), "{e}");
    assert!(e.to_string().contains("another appender"), "{e}");
}

#[test]
fn last_id_looks_back_past_segments_without_messages() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::create(dir.path().join("log"), small()).unwrap();
    let mut app = Appender::new(&log).unwrap();
    let mut last = 0;
    for _ in 0..4 {
        last = app.append(&[7; 1000]).unwrap();
    }
    // The fourth record did not fit in segment 0: it starts segment 1.
    assert_eq!(last / 4096, 1);
    assert_eq!(log.last_id().unwrap(), Some(last));
    // Abandoned claims, until one lands in a segment of its own: the tail
    // segments then hold padding only.
    loop {
        let claim = app.claim(1000).unwrap();
        let index = claim.id() / 4096;
        drop(claim);
        if index == 3 {
            break;
        }
    }
    assert_eq!(log.last_id().unwrap(), Some(last));
    let next = app.append(b"z").unwrap();
    assert_eq!(log.last_id().unwrap(), Some(next));
}

#[test]
fn a_saved_position_is_where_a_named_reader_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::create(dir.path().join("log"), small()).unwrap();
    let mut app = Appender::new(&log).unwrap();
    let ids: Vec<u64> = (0..10u8).map(|i| app.append(&[i; 10]).unwrap()).collect();
    // Read ahead to the end, but only the first three are done with.
    let mut r = log.named_reader("export", Start::Beginning).unwrap();
    while r.try_next().unwrap().is_some() {}
    log.save_reader_position("export", ids[3]).unwrap();
    drop(r);
    assert_eq!(log.reader_position("export").unwrap(), Some(ids[3]));
    let mut r = log.named_reader("export", Start::Beginning).unwrap();
    assert_eq!(r.try_next().unwrap().unwrap().id(), ids[3]);
    // Bad names are refused as for readers.
    assert!(log.save_reader_position("../x", ids[0]).is_err());
    // The identity stays across opens.
    let again = Log::open(dir.path().join("log")).unwrap();
    assert_eq!(again.log_id(), log.log_id());
}

/// The segment files in `dir`, by name.
fn segment_files(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".seg"))
        .collect();
    names.sort();
    names
}

#[test]
fn a_log_created_at_a_late_segment_starts_there_with_no_file_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("late");
    let log = Log::create_at(&path, small(), 1000).unwrap();
    assert_eq!(segment_files(&path), ["00000000000000001000.seg"]);
    let stat = log.stat().unwrap();
    assert_eq!((stat.first_segment, stat.tail_segment), (1000, 1000));
    assert_eq!(
        (stat.first_id, stat.last_id, stat.messages),
        (None, None, 0)
    );
    assert_eq!(log.last_id().unwrap(), None);
    assert_eq!(log.durable_position(), 1000 * 4096 + 128);

    // An ordinary log from there: appends, copies at the source's ids
    // (rolling to later segments), syncs, reads, verifies.
    let mut app = Appender::new(&log).unwrap();
    let first = app.append(b"first").unwrap();
    assert_eq!(first, 1000 * 4096 + 128);
    let later = 1003 * 4096 + 256;
    assert_eq!(app.append_at(later, b"later").unwrap(), later);
    let next = later + mapped_log::format::record_size(5);
    assert_eq!(app.append(b"next").unwrap(), next);
    log.sync().unwrap();
    let want = vec![
        (first, b"first".to_vec()),
        (later, b"later".to_vec()),
        (next, b"next".to_vec()),
    ];
    assert_eq!(all(&log), want);
    assert_eq!(log.verify().unwrap(), []);
    match app.append_at(999 * 4096 + 128, b"before") {
        Err(LogError::IdTaken { .. }) => {}
        other => panic!("an id before the log's first segment: {other:?}"),
    }
    drop(app);
    drop(log);

    // Reopened after a restart (another boot id): restart recovery keeps
    // every synced message; then with its control file rebuilt from the
    // segments.
    {
        use std::os::unix::fs::FileExt;
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(path.join(mapped_log::CONTROL_FILE))
            .unwrap();
        let other = [b'x'; mapped_log::format::BOOT_ID_LEN];
        f.write_all_at(&other, mapped_log::format::CONTROL_BOOT_ID)
            .unwrap();
    }
    let log = Log::open(&path).unwrap();
    assert!(log.restart_recovery().is_some(), "restart recovery ran");
    assert_eq!(all(&log), want);
    assert_eq!(log.stat().unwrap().first_segment, 1000);
    assert_eq!(log.verify().unwrap(), []);
    drop(log);
    std::fs::remove_file(path.join(mapped_log::CONTROL_FILE)).unwrap();
    Log::rebuild_control(&path, true).unwrap();
    let log = Log::open(&path).unwrap();
    assert_eq!(all(&log), want);
    assert_eq!(log.verify().unwrap(), []);
}

#[test]
fn create_at_refuses_a_first_segment_whose_ids_overflow() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("late-log");
    match Log::create_at(&path, small(), u64::MAX / 4096) {
        Err(e @ LogError::InvalidArgument { .. }) => {
            let text = e.to_string();
            assert!(text.contains("overflow"), "{text}");
            assert!(text.contains("late-log"), "names the directory: {text}");
        }
        other => panic!("{other:?}"),
    }
    assert!(!path.exists(), "nothing made");
    // The last segment whose ids fit is fine.
    let log = Log::create_at(&path, small(), u64::MAX / 4096 - 1).unwrap();
    let mut app = Appender::new(&log).unwrap();
    let id = app.append(b"at the end of the id space").unwrap();
    assert_eq!(id, (u64::MAX / 4096 - 1) * 4096 + 128);
}

#[test]
fn a_create_removes_only_its_own_empty_leftover_segment() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    // What a create at segment 7 that died before moving its control file
    // in leaves: segment 7 alone, empty.
    drop(Log::create_at(&path, small(), 7).unwrap());
    std::fs::remove_file(path.join(mapped_log::CONTROL_FILE)).unwrap();
    assert_eq!(segment_files(&path), ["00000000000000000007.seg"]);
    // Another create (at 0) does not take it for its own leftover: it may
    // be what is left of a log that lost its control file.
    match Log::create(&path, small()) {
        Err(e @ LogError::NotALog { .. }) => {
            assert!(e.to_string().contains("00000000000000000007.seg"), "{e}")
        }
        other => panic!("{other:?}"),
    }
    // A create at 7 (the replica's again) removes it and goes on.
    let log = Log::create_at(&path, small(), 7).unwrap();
    assert_eq!(log.stat().unwrap().first_segment, 7);
}
