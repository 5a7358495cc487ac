//! A hostile or buggy process writes garbage into the log's files: every
//! operation must fail with an error (or carry on past what it can skip),
//! never panic, hang or die of a signal, and no reader may hand out a
//! message that was not appended.
//!
//! - Random bytes over random places of segment files and the control file,
//!   headers excluded (so the log still opens) and included.
//! - Forged record words: `Writing` by a live slot or a dead one, huge
//!   sizes and lengths.
//! - Garbage counters: a segment's tail, the control file's tail segment
//!   and durable position.
//! - Truncated segment files, under readers, a repairing reader, recovery
//!   and verify: each scenario runs in a child process, so that a `SIGBUS`
//!   shows up as a failed child rather than a dead test binary; likewise a
//!   segment truncated under an appender, and a control file truncated
//!   under an appender and a reader.
//! - A vandal process scribbling while this one reads, verifies and
//!   appends.
//!
//! `MAPPED_LOG_HOSTILE_CASES` (default 60) sets the random garbage cases,
//! `MAPPED_LOG_VANDAL_WRITES` (default 20000) the vandal's writes.

mod common;

use std::collections::HashMap;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{
    Rng, child_role, copy_dir, env, env_u64, payload, pread, pwrite, seed, segment_path,
    spawn_child, with_timeout,
};
use mapped_log::{Appender, Durability, Log, LogError, LogOptions, Start, format};

const SEGMENT: u64 = 16 << 10;
/// Upper bound for anything that could hang: a failure, not a timing.
const HANG: Duration = Duration::from_secs(60);
/// How long a read waits at the end of a damaged log before it counts as
/// the end. Where garbage leaves a record that looks unfinished, the read
/// may report it or time out; both are accepted, so the outcome does not
/// depend on this. Reads that must fail wait up to [`HANG`] instead.
const SHORT: Duration = Duration::from_millis(20);
const DIR_ENV: &str = "MAPPED_LOG_TEST_DIR";

fn opts() -> LogOptions {
    LogOptions {
        segment_size: SEGMENT,
        max_message: 1024,
        ..LogOptions::default()
    }
}

/// A log of three segments and a bit; returns the messages by id.
fn build(dir: &Path) -> HashMap<u64, Vec<u8>> {
    let log = Log::create(dir, opts()).unwrap();
    let mut app = Appender::new(&log).unwrap();
    (0..300)
        .map(|seq| {
            let p = payload(1, seq);
            (app.append(&p).unwrap(), p)
        })
        .collect()
}

/// How reading the whole log ended.
#[derive(Debug, Default)]
struct Outcome {
    messages: usize,
    error: Option<String>,
}

/// Reads from the beginning with the blocking `next` until the log runs
/// out or fails. Every message handed out must be one that was appended,
/// at its id. Bounded: a reader that kept producing would be a bug too.
fn read_through(log: &Log, known: &HashMap<u64, Vec<u8>>) -> Outcome {
    let mut out = Outcome::default();
    let mut r = match log.reader(Start::Beginning) {
        Ok(r) => r,
        Err(e) => {
            out.error = Some(e.to_string());
            return out;
        }
    };
    loop {
        match r.next(Some(SHORT)) {
            Ok(Some(m)) => {
                let want = known.get(&m.id());
                assert!(
                    want.is_some_and(|w| w[..] == *m.payload()),
                    "a reader handed out message {} ({} bytes), which was never appended there",
                    m.id(),
                    m.payload().len()
                );
                out.messages += 1;
                assert!(out.messages <= known.len(), "more messages than appended");
            }
            Ok(None) => return out,
            Err(e) => {
                out.error = Some(e.to_string());
                return out;
            }
        }
    }
}

/// Everything a user might do with a damaged log; none of it may panic or
/// hang. Returns what reading found.
fn exercise(dir: &Path, known: &HashMap<u64, Vec<u8>>, append: bool) -> Outcome {
    let log = match Log::open(dir) {
        Ok(log) => log,
        Err(e) => {
            return Outcome {
                messages: 0,
                error: Some(format!("open: {e}")),
            };
        }
    };
    let outcome = read_through(&log, known);
    let _ = log.verify();
    let _ = log.stat();
    let _ = log.segments();
    if let Ok(mut r) = log.reader(Start::End) {
        let _ = r.next(Some(Duration::from_millis(1)));
    }
    if append {
        if let Ok(mut app) = Appender::new(&log) {
            for seq in 0..50 {
                if app.append(&payload(9, seq)).is_err() {
                    break;
                }
            }
        }
        let _ = log.recover();
        let _ = read_through_any(&log);
    }
    outcome
}

/// Like [`read_through`], for a log that also holds messages this test
/// did not record: only checks that reading ends.
fn read_through_any(log: &Log) -> Option<String> {
    let mut r = log.reader(Start::Beginning).ok()?;
    for _ in 0..1_000_000 {
        match r.next(Some(SHORT)) {
            Ok(Some(_)) => {}
            Ok(None) => return None,
            Err(e) => return Some(e.to_string()),
        }
    }
    panic!("a reader never reached the end");
}

// --- random garbage -----------------------------------------------------------

#[test]
fn random_garbage_is_an_error_never_a_panic_or_hang() {
    let cases = env_u64("MAPPED_LOG_HOSTILE_CASES", 60);
    let mut rng = Rng::new(seed("random_garbage"));
    let tmp = tempfile::tempdir().unwrap();
    let template = tmp.path().join("template");
    let known = build(&template);
    let segments: Vec<PathBuf> = (0..4).map(|i| segment_path(&template, i)).collect();
    assert!(segments.iter().all(|p| p.exists()));
    let (mut errors, mut intact) = (0, 0);
    for case in 0..cases {
        let dir = tmp.path().join(format!("case-{case}"));
        copy_dir(&template, &dir);
        // Headers (and their magic numbers) too, in one case out of four.
        let headers = rng.one_in(4);
        let mut writes = Vec::new();
        for _ in 0..rng.range(1, 6) {
            let (name, len) = if rng.one_in(4) {
                (mapped_log::CONTROL_FILE.to_owned(), format::CONTROL_LEN)
            } else {
                let i = rng.below(4);
                (format!("{i:020}.seg"), SEGMENT)
            };
            let lo = if headers { 0 } else { 64 };
            let at = rng.range(lo, len - 1);
            let n = rng.range(1, 64).min(len - at) as usize;
            let bytes = rng.bytes(n);
            pwrite(&dir.join(&name), at, &bytes);
            writes.push((name, at, n));
        }
        let d = dir.clone();
        let k = known.clone();
        let what = format!("case {case}: garbage at {writes:?}");
        let outcome = with_timeout(&what, HANG, move || exercise(&d, &k, true));
        match outcome.error {
            Some(_) => errors += 1,
            None => intact += 1,
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
    println!("{cases} cases: {errors} ended in an error, {intact} read to the end");
}

// --- forged records -------------------------------------------------------------

/// A fresh log in `tmp` and its messages, oldest first.
fn fresh(tmp: &Path) -> (PathBuf, Log, Vec<(u64, Vec<u8>)>) {
    let dir = tmp.join("log");
    let log = Log::create(&dir, opts()).unwrap();
    let mut app = Appender::new(&log).unwrap();
    let msgs = (0..40)
        .map(|seq| {
            let p = payload(1, seq);
            (app.append(&p).unwrap(), p)
        })
        .collect();
    (dir, log, msgs)
}

fn word(size: u64, state: u64, slot: u64) -> [u8; 8] {
    (size | state << 32 | slot << 40).to_le_bytes()
}

/// Reads from the beginning: the first `good` messages must come back
/// intact, then the read must fail with `Corrupt`.
fn assert_corrupt_after(log: &Log, msgs: &[(u64, Vec<u8>)], good: usize, case: &str) {
    let known: HashMap<u64, Vec<u8>> = msgs.iter().cloned().collect();
    let log = log.clone();
    let case = case.to_owned();
    with_timeout(&case.clone(), HANG, move || {
        let mut r = log.reader(Start::Beginning).unwrap();
        for (id, p) in &msgs_of(&known)[..good] {
            let m = r.next(Some(HANG)).unwrap().expect("an intact message");
            assert_eq!((m.id(), m.payload()), (*id, &p[..]), "{case}");
        }
        // Reported at once, or after a look at the writer's slot (every
        // 10 ms): never a timeout.
        match r.next(Some(HANG)) {
            Err(LogError::Corrupt { .. }) => {}
            other => panic!("{case}: expected a Corrupt error, got {other:?}"),
        }
        // It stays an error; verify reports it (or stops before it, at a
        // record that looks unfinished) and never panics.
        assert!(matches!(r.next(Some(HANG)), Err(LogError::Corrupt { .. })));
        let _ = log.verify().unwrap();
    });
}

fn msgs_of(known: &HashMap<u64, Vec<u8>>) -> Vec<(u64, Vec<u8>)> {
    let mut v: Vec<_> = known.iter().map(|(k, p)| (*k, p.clone())).collect();
    v.sort();
    v
}

#[test]
fn forged_writing_record_of_a_live_slot_is_corrupt() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, log, msgs) = fresh(tmp.path());
    // This appender is alive and idle, in slot 0.
    let live = Appender::new(&log).unwrap();
    let (id, _) = msgs[20];
    let size = format::record_size(msgs[20].1.len() as u32);
    pwrite(&segment_path(&dir, 0), id % SEGMENT, &word(size, 1, 0));
    assert_corrupt_after(&log, &msgs, 20, "forged Writing by live slot 0");
    drop(live);
}

#[test]
fn forged_writing_record_of_a_dead_slot_is_corrupt() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, log, msgs) = fresh(tmp.path());
    let (id, _) = msgs[5];
    let size = format::record_size(msgs[5].1.len() as u32);
    pwrite(&segment_path(&dir, 0), id % SEGMENT, &word(size, 1, 17));
    assert_corrupt_after(&log, &msgs, 5, "forged Writing by dead slot 17");
}

#[test]
fn forged_writing_record_at_the_tail_is_corrupt() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, log, msgs) = fresh(tmp.path());
    let live = Appender::new(&log).unwrap();
    let (last, p) = msgs.last().unwrap();
    let end = last + format::record_size(p.len() as u32);
    pwrite(&segment_path(&dir, 0), end % SEGMENT, &word(64, 1, 0));
    assert_corrupt_after(&log, &msgs, msgs.len(), "forged Writing at the tail");
    drop(live);
}

#[test]
fn huge_sizes_and_lengths_are_corrupt() {
    for (case, at, bytes) in [
        (
            "committed, huge size",
            0,
            Some(word(0xffff_fff8, 2, 0).to_vec()),
        ),
        (
            "padding, huge size",
            0,
            Some(word(0xffff_fff8, 3, 0).to_vec()),
        ),
        (
            "huge payload length",
            8,
            Some(0xffff_fff0u32.to_le_bytes().to_vec()),
        ),
        ("payload length one too long", 8, None),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let (dir, log, msgs) = fresh(tmp.path());
        let (id, p) = &msgs[12];
        let bytes = bytes.unwrap_or_else(|| (p.len() as u32 + 1).to_le_bytes().to_vec());
        pwrite(&segment_path(&dir, 0), id % SEGMENT + at, &bytes);
        assert_corrupt_after(&log, &msgs, 12, case);
        // Opening from that id, or seeking past it, fails the same way.
        assert!(log.reader(Start::Id(msgs[13].0)).is_err(), "{case}");
    }
}

// --- garbage counters -------------------------------------------------------------

#[test]
fn garbage_segment_tail_counter_is_an_error_or_harmless() {
    for tail in [
        0u64,
        7,
        format::SEGMENT_HEADER_LEN + 3,
        SEGMENT - 8,
        SEGMENT + 4096,
        u64::MAX - 7,
        u64::MAX,
    ] {
        let case = format!("segment tail {tail:#x}");
        let tmp = tempfile::tempdir().unwrap();
        let (dir, log, msgs) = fresh(tmp.path());
        pwrite(
            &segment_path(&dir, 0),
            format::SEGMENT_TAIL_OFFSET,
            &tail.to_le_bytes(),
        );
        let known: HashMap<u64, Vec<u8>> = msgs.iter().cloned().collect();
        let (log2, case2) = (log.clone(), case.clone());
        with_timeout(&case.clone(), HANG, move || {
            // Every message before the garbage reads back; then the end, or
            // an error.
            let out = read_through(&log2, &known);
            assert_eq!(out.messages, known.len(), "{case2}: {out:?}");
            if let Ok(mut r) = log2.reader(Start::End) {
                let _ = r.next(Some(SHORT));
            }
            // Appending either fails cleanly or works and reads back.
            let mut app = Appender::new(&log2).unwrap();
            if let Ok(id) = app.append(b"after the garbage") {
                let mut r = log2.reader(Start::Id(id)).unwrap();
                let m = r.next(Some(SHORT)).unwrap().expect("the new message");
                assert_eq!(m.payload(), b"after the garbage", "{case2}");
            }
            let _ = log2.verify();
            let _ = log2.stat();
        });
        drop(log);
    }
}

#[test]
fn garbage_control_counters_are_errors_never_panics() {
    use format::{CONTROL_DURABLE, CONTROL_TAIL_SEGMENT};
    for (field, at, value) in [
        ("tail segment", CONTROL_TAIL_SEGMENT, 1u64 << 40),
        ("tail segment", CONTROL_TAIL_SEGMENT, u64::MAX),
        ("durable", CONTROL_DURABLE, 131),
        ("durable", CONTROL_DURABLE, u64::MAX - 3),
        ("durable", CONTROL_DURABLE, 5 * SEGMENT + 128),
    ] {
        let case = format!("{field} = {value:#x}");
        let tmp = tempfile::tempdir().unwrap();
        let (dir, log, msgs) = fresh(tmp.path());
        drop(log);
        pwrite(
            &dir.join(mapped_log::CONTROL_FILE),
            at,
            &value.to_le_bytes(),
        );
        let known: HashMap<u64, Vec<u8>> = msgs.iter().cloned().collect();
        let (d, case2) = (dir.clone(), case.clone());
        with_timeout(&case.clone(), HANG, move || {
            let log = Log::open(&d).unwrap();
            let out = read_through(&log, &known);
            assert_eq!(out.messages, known.len(), "{case2}: {out:?}");
            let _ = log.sync();
            let _ = log.recover();
            if let Ok(mut app) = Appender::new(&log) {
                app.set_durability(Durability::Sync).unwrap();
                let _ = app.append(b"x");
            }
            let _ = log.verify();
            let _ = log.stat();
        });
        // A restart recovery from the garbage, too.
        common::simulate_restart(&dir);
        let d = dir.clone();
        with_timeout(&case.clone(), HANG, move || {
            if let Ok(log) = Log::open(&d) {
                let _ = read_through_any(&log);
            }
        });
    }
}

/// Forged cut words: a count that jumps past what the ring keeps, a count
/// that goes backwards, and ring entries that name no record boundary.
/// Each is a clear error, or harmless, never a panic or a hang.
#[test]
fn forged_cut_words_are_clear_errors() {
    use format::{CONTROL_CUT_RING, CONTROL_CUTS};
    let tmp = tempfile::tempdir().unwrap();
    let (dir, log, _msgs) = fresh(tmp.path());
    let control = dir.join(mapped_log::CONTROL_FILE);
    let set = |at: u64, v: u64| pwrite(&control, at, &v.to_le_bytes());

    set(CONTROL_CUTS, 1000);
    let mut reader = log.reader(Start::End).unwrap();
    set(CONTROL_CUTS, 5);
    match reader.try_next() {
        Err(
            e @ LogError::CutsMissed {
                missed: u64::MAX, ..
            },
        ) => {
            assert!(e.to_string().contains("went backwards"), "{e}");
        }
        other => panic!("a count going backwards: {other:?}"),
    }

    let mut reader = log.reader(Start::End).unwrap();
    set(CONTROL_CUTS, 5 + 100);
    match reader.try_next() {
        Err(LogError::CutsMissed {
            missed: 100, kept, ..
        }) => assert_eq!(kept, format::CUT_RING),
        other => panic!("a count 100 ahead: {other:?}"),
    }

    // A cut below the reader that is no record boundary: corrupt. Cuts
    // at or above it: nothing to move back to (harmless).
    for (id, harmless) in [(3, false), (SEGMENT * 1000 + 128, true), (u64::MAX, true)] {
        let mut reader = log.reader(Start::Beginning).unwrap();
        reader.try_next().unwrap().expect("the first message");
        set(CONTROL_CUT_RING + 8 * (105 % format::CUT_RING), id);
        set(CONTROL_CUTS, 106);
        let case = format!("a cut ring entry of {id:#x}");
        match reader.try_next() {
            Ok(Some(_)) if harmless => {}
            Err(LogError::Corrupt { .. }) if !harmless => {}
            other => panic!("{case}: {other:?}"),
        }
        set(CONTROL_CUTS, 105);
    }
}

#[test]
fn damaged_headers_make_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, log, msgs) = fresh(tmp.path());
    let mut app = Appender::new(&log).unwrap();
    // Roll into segment 1, then damage its header's magic.
    let mut seq = 100;
    while app.append(&payload(1, seq)).unwrap() < SEGMENT {
        seq += 1;
    }
    drop(app);
    let seg1 = segment_path(&dir, 1);
    let magic = pread(&seg1, 0, 8);
    pwrite(&seg1, 0, b"NOTALOG!");
    let known: HashMap<u64, Vec<u8>> = msgs.iter().cloned().collect();
    let mut r = log.reader(Start::Beginning).unwrap();
    let mut n = 0;
    let err = loop {
        match r.next(Some(SHORT)) {
            Ok(Some(m)) => {
                if let Some(p) = known.get(&m.id()) {
                    assert_eq!(m.payload(), &p[..]);
                }
                n += 1;
            }
            Ok(None) => panic!("read past a damaged segment header"),
            Err(e) => break e,
        }
    };
    assert!(n >= msgs.len());
    assert!(matches!(err, LogError::NotALog { .. }), "{err}");
    assert!(!log.verify().unwrap().is_empty());
    pwrite(&seg1, 0, &magic);
    assert_eq!(log.verify().unwrap(), []);

    // The control file's header: the log no longer opens.
    drop(log);
    let control = dir.join(mapped_log::CONTROL_FILE);
    pwrite(&control, 20, &[0xff]);
    let err = Log::open(&dir).unwrap_err();
    assert!(matches!(err, LogError::NotALog { .. }), "{err}");
    std::fs::OpenOptions::new()
        .write(true)
        .open(&control)
        .unwrap()
        .set_len(100)
        .unwrap();
    let err = Log::open(&dir).unwrap_err();
    assert!(matches!(err, LogError::NotALog { .. }), "{err}");
}

// --- truncated segments: a SIGBUS would kill the process -----------------------------

fn truncate(path: &Path, len: u64) {
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(len)
        .unwrap();
}

/// The truncation scenarios, each run in a child process by the test below.
fn truncation_scenario(name: &str, work: &Path) {
    let (dir, log, msgs) = fresh(work);
    let seg0 = segment_path(&dir, 0);
    let known: HashMap<u64, Vec<u8>> = msgs.iter().cloned().collect();
    match name {
        "reader-mapped-before" => {
            // A reader with the segment mapped, positioned before records
            // that lie past the new end.
            let mut r = log.reader(Start::Beginning).unwrap();
            truncate(&seg0, 4096);
            let mut n = 0;
            let err = loop {
                match r.next(Some(SHORT)) {
                    Ok(Some(m)) => {
                        assert_eq!(known[&m.id()][..], *m.payload());
                        n += 1;
                    }
                    Ok(None) => panic!("read past the truncation without an error"),
                    Err(e) => break e,
                }
            };
            assert!(n < msgs.len());
            println!("reader: {n} messages, then {err}");
        }
        "reader-opened-after" => {
            truncate(&seg0, 8192);
            let err = log.reader(Start::Beginning).unwrap_err();
            assert!(matches!(err, LogError::NotALog { .. }), "{err}");
            // The file is named as a bad file, with its size.
            let problem = log.verify().unwrap().into_iter().next().expect("a problem");
            assert_eq!(
                (problem.segment.as_path(), problem.offset),
                (seg0.as_path(), None)
            );
            assert!(problem.what.contains("8192 bytes"), "{problem}");
            // `stat` sums the log up, the problem included.
            assert_eq!(log.stat().unwrap().problems, [problem]);
        }
        "repairing-reader" => {
            // The tail says everything up to the segment's end is reserved,
            // so the zeros past the last record look like a dead
            // appender's hole, and the reader pads them, over the missing
            // pages.
            let mut r = log.reader(Start::Beginning).unwrap();
            for _ in 0..msgs.len() {
                r.next(Some(SHORT)).unwrap().unwrap();
            }
            let (last, p) = msgs.last().unwrap();
            assert!(last + format::record_size(p.len() as u32) < 8192);
            pwrite(&seg0, format::SEGMENT_TAIL_OFFSET, &SEGMENT.to_le_bytes());
            truncate(&seg0, 8192);
            match r.next(Some(Duration::from_secs(2))) {
                Err(_) => {}
                other => panic!("expected an error, got {other:?}"),
            }
        }
        "recover-and-verify" => {
            truncate(&seg0, 8192);
            let problems = log.verify().unwrap();
            assert_eq!(problems.len(), 1, "{problems:?}");
            assert!(problems[0].what.contains("8192 bytes"), "{}", problems[0]);
            // Recovery gives the file its length back and keeps every
            // record it still holds; what the truncation took is reported
            // lost, and the original goes into quarantine.
            let report = log.recover().unwrap();
            assert!(
                report
                    .changes
                    .iter()
                    .any(|c| matches!(c, mapped_log::Change::Resized { from: 8192, .. })),
                "{report:?}"
            );
            assert!(report.quarantine.is_some(), "{report:?}");
            assert_eq!(log.verify().unwrap(), [], "{report:?}");
            let mut r = log.reader(Start::Beginning).unwrap();
            let mut n = 0;
            while let Some(m) = r.next(Some(SHORT)).unwrap() {
                assert_eq!(known[&m.id()][..], *m.payload());
                assert!(m.id() + format::record_size(m.payload().len() as u32) <= 8192);
                n += 1;
            }
            let whole = msgs
                .iter()
                .filter(|(id, p)| id + format::record_size(p.len() as u32) <= 8192)
                .count();
            assert_eq!(n, whole, "every record the truncation left whole is kept");
            common::simulate_restart(&dir);
            drop(log);
            let log = Log::open(&dir).unwrap();
            assert_eq!(log.verify().unwrap(), [], "after restart recovery");
        }
        "appender-after-segment-truncated" => {
            let mut app = mapped_log::Appender::new(&log).unwrap();
            app.append(b"before").unwrap();
            // The next reservation lies past the new end of the file.
            truncate(&seg0, 4096);
            let mut failed = false;
            for _ in 0..200 {
                if let Err(e) = app.append(&[7u8; 100]) {
                    println!("appender: {e}");
                    failed = true;
                    break;
                }
            }
            assert!(failed, "appends past the truncation must fail");
        }
        "appenders-after-a-truncation-inside-a-page" => {
            // Cut just past the last record, inside its page: the page
            // stays mapped, so stores past the new end land in memory
            // that is no longer the file's (no SIGBUS to tell).
            let tail = || {
                u64::from_le_bytes(
                    common::pread(&seg0, format::SEGMENT_TAIL_OFFSET, 8)
                        .try_into()
                        .unwrap(),
                )
            };
            // Fill until the next record would stay in the page.
            let mut filler = mapped_log::Appender::new(&log).unwrap();
            while tail() % 4096 > 3000 {
                filler.append(&[1u8; 200]).unwrap();
            }
            // Appenders that have the segment mapped already.
            let mut sync = mapped_log::Appender::new(&log).unwrap();
            sync.set_durability(mapped_log::Durability::Sync).unwrap();
            let mut app = mapped_log::Appender::new(&log).unwrap();
            while tail() % 4096 > 2800 || tail() % 4096 < 100 {
                filler.append(&[1u8; 200]).unwrap();
            }
            sync.append(&[2u8; 8]).unwrap();
            app.append(&[3u8; 8]).unwrap();
            drop(filler);
            let cut = tail() + 8;
            truncate(&seg0, cut);
            // A durable append is never acknowledged.
            let err = sync.append(&[7u8; 200]).unwrap_err();
            assert!(
                matches!(
                    err,
                    LogError::SyncFailed {
                        why: mapped_log::SyncFailure::Damaged,
                        ..
                    }
                ) && error_chain(&err).contains("00000000000000000000.seg"),
                "{err}"
            );
            println!("sync appender: {}", error_chain(&err));
            // A non-durable one is stopped at its segment's end (the roll)
            // at the latest.
            let mut failed = None;
            for _ in 0..SEGMENT / 64 {
                if let Err(e) = app.append(&[8u8; 40]) {
                    failed = Some(e);
                    break;
                }
            }
            let err = failed.expect("a roll out of the truncated segment must fail");
            assert!(err.to_string().contains("truncated to"), "{err}");
            println!("appender: {err}");
            // And the survey names the file.
            assert!(log.verify().unwrap().iter().any(|p| p.segment == seg0));
        }
        "copies-and-claim-writes-after-truncation" => {
            let mut app = mapped_log::Appender::new(&log).unwrap();
            // A message and a claim past the first two pages of the
            // segment (the messages before them fill about 2 KiB).
            while app.claim(1000).unwrap().id() % SEGMENT < 8192 {}
            let far = app.append(b"far message").unwrap();
            let mut r = log.reader(Start::Id(far)).unwrap();
            let m = r.next(Some(SHORT)).unwrap().unwrap();
            let mut buf = Vec::new();
            m.copy_to(&mut buf).unwrap();
            assert_eq!(buf, b"far message");
            let mut claim = app.claim(1000).unwrap();
            claim.write_at(0, b"start").unwrap();
            assert!(claim.write_at(990, &[0; 20]).is_err(), "past the claim");
            // Rewritten since its check: the copy says so.
            let mut first = log.reader(Start::Beginning).unwrap();
            let m0 = first.next(Some(SHORT)).unwrap().unwrap();
            pwrite(&seg0, msgs[0].0 % SEGMENT + 16, b"forged!");
            let err = m0.copy_to(&mut buf).unwrap_err();
            assert!(matches!(err, LogError::Corrupt { .. }), "{err}");
            // Truncated under them: errors, never SIGBUS.
            truncate(&seg0, 4096);
            let err = m.copy_to(&mut buf).unwrap_err();
            println!("copy after truncation: {err}");
            let err = claim.write_at(500, b"after").unwrap_err();
            println!("claim write after truncation: {err}");
        }
        "control-truncated" => {
            let mut app = mapped_log::Appender::new(&log).unwrap();
            let mut r = log.reader(Start::End).unwrap();
            truncate(&dir.join(mapped_log::CONTROL_FILE), 0);
            let err = app.append(b"after").unwrap_err();
            println!("appender: {err}");
            // The reader fails too (or, at worst, times out): never a signal.
            match r.next(Some(SHORT)) {
                Err(e) => println!("reader: {e}"),
                Ok(m) => println!("reader: {:?}", m.map(|m| m.id())),
            }
        }
        other => panic!("unknown scenario {other}"),
    }
}

#[test]
fn truncated_segments_are_errors_not_sigbus() {
    const TEST: &str = "truncated_segments_are_errors_not_sigbus";
    if let Some(role) = child_role() {
        let work = PathBuf::from(env(DIR_ENV));
        return truncation_scenario(&role, &work);
    }
    let mut failures = Vec::new();
    for name in [
        "reader-mapped-before",
        "reader-opened-after",
        "repairing-reader",
        "recover-and-verify",
        "appender-after-segment-truncated",
        "appenders-after-a-truncation-inside-a-page",
        "copies-and-claim-writes-after-truncation",
        "control-truncated",
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let child = spawn_child(
            TEST,
            name,
            &[(DIR_ENV, tmp.path().to_str().unwrap().to_owned())],
        );
        let f = child.finish();
        if !f.succeeded() {
            failures.push(f.describe(name));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

// --- a vandal process ---------------------------------------------------------------

/// Vandal role: writes random bytes (or zeros) at random places of the
/// log's files, segment headers included, then exits.
fn vandal(dir: &Path) {
    let writes = env_u64("MAPPED_LOG_VANDAL_WRITES", 20_000);
    let mut rng = Rng::new(env_u64("MAPPED_LOG_SEED", 1));
    for _ in 0..writes {
        let files: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                let n = p.file_name().unwrap().to_str().unwrap();
                n.ends_with(".seg") || n == mapped_log::CONTROL_FILE
            })
            .collect();
        if files.is_empty() {
            continue;
        }
        let file = &files[rng.below(files.len() as u64) as usize];
        // Recovery in the other process may remove a segment meanwhile.
        let Ok(f) = std::fs::OpenOptions::new().write(true).open(file) else {
            continue;
        };
        let len = f.metadata().unwrap().len();
        // Past the control file's header, so that the log keeps opening;
        // segment headers now and then.
        let control = file.ends_with(mapped_log::CONTROL_FILE);
        let lo = if !control && rng.one_in(10) {
            0
        } else {
            64.min(len)
        };
        if len <= lo {
            continue;
        }
        let at = rng.range(lo, len - 1);
        let n = rng.range(1, 32).min(len - at) as usize;
        let bytes = if rng.one_in(3) {
            vec![0; n]
        } else {
            rng.bytes(n)
        };
        f.write_all_at(&bytes, at).unwrap();
    }
}

#[test]
fn a_vandal_process_never_makes_readers_panic_hang_or_crash() {
    const TEST: &str = "a_vandal_process_never_makes_readers_panic_hang_or_crash";
    if child_role().is_some() {
        return vandal(Path::new(&env(DIR_ENV)));
    }
    let seed = seed(TEST);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    build(&dir);
    let mut child = spawn_child(
        TEST,
        "vandal",
        &[
            (DIR_ENV, dir.to_str().unwrap().to_owned()),
            ("MAPPED_LOG_SEED", seed.to_string()),
        ],
    );
    // Payloads are not checked here: the vandal may change a message's
    // bytes after the reader checked them (see docs/safety.md). Each round
    // must end within the safety net.
    let mut rounds = 0u64;
    let mut appender: Option<Appender> = None;
    loop {
        let done = child.try_status().is_some();
        let d = dir.clone();
        appender = with_timeout(TEST, HANG, move || {
            let mut appender = appender;
            if let Ok(log) = Log::open(&d) {
                let _ = read_through_any(&log);
                let _ = log.verify();
                let _ = log.stat();
                if appender.is_none() {
                    appender = Appender::new(&log).ok();
                }
                if let Some(app) = appender.as_mut() {
                    for seq in 0..20 {
                        if app.append(&payload(3, rounds * 20 + seq)).is_err() {
                            break;
                        }
                    }
                }
            }
            appender
        });
        rounds += 1;
        if done {
            break;
        }
    }
    child.finish().assert_success();
    println!("{rounds} rounds of reading under the vandal");
}

/// An error and its causes, as a program prints them (`: ` between).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}
