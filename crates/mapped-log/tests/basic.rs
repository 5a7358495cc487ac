//! Single-process behaviour of the log: append, read, roll, abandon, wait.

use std::time::Duration;

use mapped_log::{Appender, Log, LogError, LogOptions, Start};

fn small() -> LogOptions {
    LogOptions {
        segment_size: 4096,
        max_message: 1000,
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
}
