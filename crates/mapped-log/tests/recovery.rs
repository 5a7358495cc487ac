//! Restart recovery and simulated power loss.
//!
//! A system restart is simulated by closing the log and overwriting the boot
//! id in its control file: the next opener then believes the system
//! restarted and runs restart recovery.
//!
//! - Restart with everything intact: synced and unsynced messages are all
//!   kept, the log verifies clean, appends continue.
//! - Torn tail: a damaged record past the durable position is where
//!   recovery cuts; everything before it stays, everything after it is
//!   zeroed or removed; appends continue.
//! - Power loss in the style of redb's `crash_consistency` test: the files
//!   as they were at the last sync, plus any subset of the 4 KiB pages
//!   written since, must recover to a log that holds every synced message,
//!   then a prefix of the unsynced ones, nothing else, and takes appends.
//! - A proptest: random byte flips past the durable position never make
//!   open, recovery or reading panic or hang, never lose a synced message;
//!   readers of the damaged log (before recovery) return only intact
//!   messages, then the end or a `Corrupt` error.
//! - Positions at the edges: the durable position in a segment that
//!   retention removed; a saved reader position at the very end of a full
//!   segment.
//!
//! `MAPPED_LOG_POWER_CASES` (default 48) and `MAPPED_LOG_FLIP_CASES`
//! (default 48) set the number of random cases.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{
    Rng, copy_dir, env_u64, payload, pread, pwrite, seed, segment_path, simulate_restart,
    with_timeout,
};
use mapped_log::{Appender, Durability, Log, LogError, LogOptions, Retention, Start, format};

const SEGMENT: u64 = 16 << 10;
const PAGE: u64 = 4096;
/// Upper bound for anything that could hang: a failure, not a timing.
const HANG: Duration = Duration::from_secs(60);

fn opts() -> LogOptions {
    LogOptions {
        segment_size: SEGMENT,
        max_message: 1024,
        ..LogOptions::default()
    }
}

/// Every message from the beginning, without waiting.
fn read_all(log: &Log) -> Vec<(u64, Vec<u8>)> {
    let mut r = log.reader(Start::Beginning).unwrap();
    let mut out = Vec::new();
    while let Some(m) = r.try_next().unwrap() {
        out.push((m.id(), m.payload().to_vec()));
    }
    // And the blocking read agrees that this is the end.
    assert!(r.next(Some(Duration::from_millis(20))).unwrap().is_none());
    out
}

/// Appends message `seq` of writer 1 for each `seq` in `range`.
fn append_range(app: &mut Appender, range: std::ops::Range<u64>) -> Vec<(u64, Vec<u8>)> {
    range
        .map(|seq| {
            let p = payload(1, seq);
            (app.append(&p).unwrap(), p)
        })
        .collect()
}

/// After recovery: `got` must be all of `synced`, then a prefix of
/// `unsynced`, and nothing else. Returns the length of that prefix.
fn assert_synced_then_prefix(
    got: &[(u64, Vec<u8>)],
    synced: &[(u64, Vec<u8>)],
    unsynced: &[(u64, Vec<u8>)],
    case: &str,
) -> usize {
    assert!(
        got.len() >= synced.len(),
        "{case}: {} messages after recovery, {} were synced",
        got.len(),
        synced.len()
    );
    for (i, (g, w)) in got.iter().zip(synced.iter().chain(unsynced)).enumerate() {
        assert_eq!(
            g.0, w.0,
            "{case}: message {i} has id {}, expected {}",
            g.0, w.0
        );
        assert!(
            g.1 == w.1,
            "{case}: message {i} (id {}) is not the one appended",
            g.0
        );
    }
    assert!(
        got.len() <= synced.len() + unsynced.len(),
        "{case}: more messages than were ever appended"
    );
    got.len() - synced.len()
}

/// Appends enough to fill the rest of the tail segment and two more, then
/// checks they all read back after `before`: whatever recovery left past
/// its cut must not get in the way.
fn assert_appends_continue(log: &Log, before: &[(u64, Vec<u8>)], case: &str) {
    let mut app = Appender::new(log).unwrap();
    let mut added = Vec::new();
    let first_segment = before.last().map_or(0, |m| m.0 / SEGMENT);
    let mut seq = 1_000_000;
    while added
        .last()
        .is_none_or(|&(id, _): &(u64, Vec<u8>)| id / SEGMENT < first_segment + 3)
    {
        let p = payload(2, seq);
        let id = app
            .append(&p)
            .unwrap_or_else(|e| panic!("{case}: append {seq} after recovery: {e}"));
        added.push((id, p));
        seq += 1;
    }
    let got = read_all(log);
    assert_eq!(got.len(), before.len() + added.len(), "{case}");
    assert!(
        got[..before.len()] == *before && got[before.len()..] == added[..],
        "{case}: the log after recovery and new appends is not old + new"
    );
    assert_eq!(log.verify().unwrap(), [], "{case}");
}

#[test]
fn restart_keeps_synced_and_intact_unsynced_messages() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let log = Log::create(&dir, opts()).unwrap();
    assert!(log.restart_recovery().is_none());
    let mut app = Appender::new(&log).unwrap();
    app.set_durability(Durability::Sync).unwrap();
    let synced = append_range(&mut app, 0..40);
    app.set_durability(Durability::None).unwrap();
    let unsynced = append_range(&mut app, 40..120);
    let durable = log.durable_position();
    assert!(durable > synced.last().unwrap().0 && durable <= unsynced[0].0);
    drop(app);
    drop(log);

    simulate_restart(&dir);
    let log = Log::open(&dir).unwrap();
    let report = log
        .restart_recovery()
        .expect("a new boot id means restart recovery")
        .clone();
    assert_eq!(report.from, durable);
    // Nothing was lost from the page cache: every unsynced record is valid.
    assert_eq!(report.cut_at, None, "{report:?}");
    assert_eq!(report.kept, unsynced.len() as u64, "{report:?}");
    assert!(report.segments_removed.is_empty(), "{report:?}");
    let got = read_all(&log);
    let all: Vec<_> = synced.iter().chain(&unsynced).cloned().collect();
    assert!(got == all, "every message is still there");
    assert_eq!(log.verify().unwrap(), []);
    assert_appends_continue(&log, &all, "restart");
    drop(log);

    // Recovered once: the next open is an ordinary one.
    assert!(Log::open(&dir).unwrap().restart_recovery().is_none());
}

/// How a record past the durable position is damaged.
#[derive(Debug, Clone, Copy)]
enum Damage {
    /// One payload byte flipped: checksum mismatch.
    FlipPayload,
    /// Header word and length/checksum zeroed: a reserved record that was
    /// never announced.
    ZeroHeader,
    /// The stored length changed: does not match the record's size.
    FlipLength,
    /// The header word is not a valid word at all.
    GarbageWord,
}

#[test]
fn torn_record_past_the_durable_position_is_where_recovery_cuts() {
    for damage in [
        Damage::FlipPayload,
        Damage::ZeroHeader,
        Damage::FlipLength,
        Damage::GarbageWord,
    ] {
        let case = format!("{damage:?}");
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("log");
        let log = Log::create(&dir, opts()).unwrap();
        let mut app = Appender::new(&log).unwrap();
        app.set_durability(Durability::Sync).unwrap();
        let synced = append_range(&mut app, 0..30);
        app.set_durability(Durability::None).unwrap();
        let unsynced = append_range(&mut app, 30..230);
        let durable = log.durable_position();
        // The log's segments, not one made ahead of its roll (recovery
        // removes that one without reporting it).
        let segments_before = log.stat().unwrap().segments;
        drop(app);
        drop(log);

        // Damage the 10th unsynced record; later segments exist.
        let j = 10;
        let victim = unsynced[j].0;
        let (index, offset) = (victim / SEGMENT, victim % SEGMENT);
        assert!(
            *segments_before.last().unwrap() > index,
            "the test wants segments after the damaged one"
        );
        let seg = segment_path(&dir, index);
        match damage {
            Damage::FlipPayload => {
                let at = offset + format::RECORD_HEADER_LEN + 5;
                let b = pread(&seg, at, 1)[0];
                pwrite(&seg, at, &[b ^ 0x40]);
            }
            Damage::ZeroHeader => pwrite(&seg, offset, &[0; 16]),
            Damage::FlipLength => {
                let b = pread(&seg, offset + 8, 1)[0];
                pwrite(&seg, offset + 8, &[b ^ 0x08]);
            }
            Damage::GarbageWord => pwrite(&seg, offset, &[0xa5; 8]),
        }

        simulate_restart(&dir);
        let log = Log::open(&dir).unwrap();
        let report = log.restart_recovery().expect("restart recovery").clone();
        assert_eq!(report.from, durable, "{case}");
        assert_eq!(report.cut_at, Some(victim), "{case}: {report:?}");
        assert_eq!(report.kept, j as u64, "{case}: {report:?}");
        assert!(report.reason.is_some(), "{case}: {report:?}");
        assert!(report.bytes_zeroed > 0, "{case}: {report:?}");
        let later: Vec<u64> = segments_before
            .iter()
            .copied()
            .filter(|&i| i > index)
            .collect();
        assert_eq!(report.segments_removed, later, "{case}");
        assert_eq!(log.stat().unwrap().segments.last(), Some(&index), "{case}");
        // Zero from the cut to the end of the segment.
        let rest = pread(&seg, offset, (SEGMENT - offset) as usize);
        assert!(
            rest.iter().all(|&b| b == 0),
            "{case}: bytes past the cut were not zeroed"
        );
        let got = read_all(&log);
        let kept: Vec<_> = synced.iter().chain(&unsynced[..j]).cloned().collect();
        assert!(
            got == kept,
            "{case}: everything before the cut, nothing after"
        );
        assert!(log.durable_position() >= durable);
        assert_eq!(log.verify().unwrap(), [], "{case}");
        assert_appends_continue(&log, &kept, &case);
    }
}

// --- power loss -----------------------------------------------------------

/// The files of a log directory by name; not temporary files (a segment
/// being made ahead of its roll, at the moment of the snapshot), which the
/// model of a crash below does not cover and restart recovery removes.
fn load_dir(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_file())
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| {
            (
                e.file_name().to_str().unwrap().to_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

/// A page that changed between the durable and the live image.
#[derive(Debug, Clone)]
struct Changed {
    file: String,
    page: usize,
}

/// The durable image, the live image, and the messages appended before and
/// after the last sync.
struct PowerLoss {
    durable: BTreeMap<String, Vec<u8>>,
    live: BTreeMap<String, Vec<u8>>,
    synced: Vec<(u64, Vec<u8>)>,
    unsynced: Vec<(u64, Vec<u8>)>,
}

impl PowerLoss {
    fn build(work: &Path) -> PowerLoss {
        let dir = work.join("log");
        let log = Log::create(&dir, opts()).unwrap();
        let mut app = Appender::new(&log).unwrap();
        // Two segments and a bit, then a synced append (group commit makes
        // all of them durable).
        let mut synced = append_range(&mut app, 0..200);
        app.set_durability(Durability::Sync).unwrap();
        synced.extend(append_range(&mut app, 200..201));
        assert!(log.durable_position() > synced.last().unwrap().0);
        let durable = load_dir(&dir);
        app.set_durability(Durability::None).unwrap();
        // Then two more segments and a bit, unsynced.
        let unsynced = append_range(&mut app, 201..420);
        let live = load_dir(&dir);
        assert!(
            live.len() > durable.len(),
            "new segments were made after the sync"
        );
        PowerLoss {
            durable,
            live,
            synced,
            unsynced,
        }
    }

    fn changed_pages(&self) -> Vec<Changed> {
        let mut out = Vec::new();
        for (name, live) in &self.live {
            let old = self.durable.get(name);
            for page in 0..live.len().div_ceil(PAGE as usize) {
                let r = page * PAGE as usize..((page + 1) * PAGE as usize).min(live.len());
                if old.is_none_or(|o| o.get(r.clone()) != Some(&live[r.clone()])) {
                    out.push(Changed {
                        file: name.clone(),
                        page,
                    });
                }
            }
        }
        out
    }

    /// A directory as a power loss could leave it: the durable image, the
    /// segments made since (if `created` says so) as they were made, and
    /// the `chosen` pages as they are now.
    fn crash_image(&self, at: &Path, chosen: &[&Changed], created: &HashSet<String>) {
        std::fs::create_dir_all(at).unwrap();
        let mut files = self.durable.clone();
        for (name, live) in &self.live {
            if files.contains_key(name) || !created.contains(name) {
                continue;
            }
            // Made after the sync: `Segment::create` syncs the new file's
            // header and its directory entry before it is used.
            let mut fresh = vec![0u8; live.len()];
            fresh[..64].copy_from_slice(&live[..64]);
            fresh[format::SEGMENT_TAIL_OFFSET as usize..][..8]
                .copy_from_slice(&format::SEGMENT_HEADER_LEN.to_le_bytes());
            files.insert(name.clone(), fresh);
        }
        for c in chosen {
            let Some(file) = files.get_mut(&c.file) else {
                continue; // a page of a segment whose creation was lost
            };
            let live = &self.live[&c.file];
            let r = c.page * PAGE as usize..((c.page + 1) * PAGE as usize).min(live.len());
            file[r.clone()].copy_from_slice(&live[r]);
        }
        for (name, bytes) in files {
            std::fs::write(at.join(name), bytes).unwrap();
        }
    }
}

/// Opens a crash image, checks what restart recovery made of it, and that
/// the log then takes appends. Returns how many unsynced messages survived.
fn check_crash_image(dir: PathBuf, pl: &PowerLoss, case: &str) -> usize {
    simulate_restart(&dir);
    let log = Log::open(&dir).unwrap_or_else(|e| panic!("{case}: open after the crash: {e}"));
    let report = log
        .restart_recovery()
        .unwrap_or_else(|| panic!("{case}: no restart recovery"))
        .clone();
    assert!(
        report.from >= pl.synced.last().unwrap().0,
        "{case}: {report:?}"
    );
    assert_eq!(log.verify().unwrap(), [], "{case}: {report:?}");
    let got = read_all(&log);
    let kept = assert_synced_then_prefix(&got, &pl.synced, &pl.unsynced, case);
    assert_eq!(report.kept, kept as u64, "{case}: {report:?}");
    assert_appends_continue(&log, &got, case);
    kept
}

#[test]
fn power_loss_keeps_synced_messages_whatever_pages_reached_the_disk() {
    let cases = env_u64("MAPPED_LOG_POWER_CASES", 48);
    let mut rng = Rng::new(seed("power_loss"));
    let tmp = tempfile::tempdir().unwrap();
    let pl = PowerLoss::build(tmp.path());
    let changed = pl.changed_pages();
    println!(
        "{} pages changed since the sync: {:?}",
        changed.len(),
        changed
            .iter()
            .map(|c| format!("{}:{}", c.file, c.page))
            .collect::<Vec<_>>()
    );
    let mut survived = Vec::new();
    for case in 0..cases {
        let name = format!("case {case}");
        let (chosen, all_created): (Vec<&Changed>, bool) = match case {
            0 => (Vec::new(), false), // nothing after the sync reached the disk
            1 => (changed.iter().collect(), true), // everything did
            _ => (
                changed.iter().filter(|_| rng.one_in(2)).collect(),
                rng.one_in(2),
            ),
        };
        // Segments made since the sync exist unless the crash came first.
        let created: HashSet<String> = pl
            .live
            .keys()
            .filter(|name| !pl.durable.contains_key(*name) && (all_created || !rng.one_in(4)))
            .cloned()
            .collect();
        let dir = tmp.path().join(format!("crash-{case}"));
        pl.crash_image(&dir, &chosen, &created);
        let n = check_crash_image(dir.clone(), &pl, &name);
        if case == 1 {
            assert_eq!(n, pl.unsynced.len(), "all pages written: nothing lost");
        }
        survived.push(n);
        std::fs::remove_dir_all(&dir).unwrap();
    }
    println!("unsynced messages kept per case: {survived:?}");
}

// --- byte flips -------------------------------------------------------------

#[test]
fn byte_flips_past_the_durable_position_never_lose_synced_messages() {
    use proptest::test_runner::{Config, TestRunner};

    let tmp = tempfile::tempdir().unwrap();
    let template = tmp.path().join("template");
    let log = Log::create(&template, opts()).unwrap();
    let mut app = Appender::new(&log).unwrap();
    app.set_durability(Durability::Sync).unwrap();
    let synced = append_range(&mut app, 0..60);
    app.set_durability(Durability::None).unwrap();
    let unsynced = append_range(&mut app, 60..200);
    let durable = log.durable_position();
    let last_segment = *log.stat().unwrap().segments.last().unwrap();
    drop(app);
    drop(log);
    // The region past the durable position, to the end of the last segment.
    let region = (last_segment + 1) * SEGMENT - durable;

    let cases = env_u64("MAPPED_LOG_FLIP_CASES", 48) as u32;
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let counter = std::sync::atomic::AtomicU32::new(0);
    let result = runner.run(
        &proptest::collection::vec((0..region, 1u8..=255), 1..8),
        |flips| {
            let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let dir = tmp.path().join(format!("flip-{n}"));
            copy_dir(&template, &dir);
            for &(pos, xor) in &flips {
                let id = durable + pos;
                let seg = segment_path(&dir, id / SEGMENT);
                let b = pread(&seg, id % SEGMENT, 1)[0];
                pwrite(&seg, id % SEGMENT, &[b ^ xor]);
            }
            let (synced, unsynced) = (synced.clone(), unsynced.clone());
            let case = format!("flips {flips:?}");
            let d = dir.clone();
            with_timeout(&case.clone(), HANG, move || {
                // Before any recovery, a reader of the damaged log gets
                // appended messages only, then the end or an error.
                let all: Vec<_> = synced.iter().chain(&unsynced).cloned().collect();
                read_damaged(&d, &all, &case);
                simulate_restart(&d);
                let log = Log::open(&d).unwrap_or_else(|e| panic!("{case}: open: {e}"));
                assert!(log.restart_recovery().is_some());
                assert_eq!(log.verify().unwrap(), [], "{case}");
                let got = read_all(&log);
                assert_synced_then_prefix(&got, &synced, &unsynced, &case);
                // Explicit recovery finds nothing more to cut.
                let report = log.recover().unwrap();
                assert_eq!(report.cut_at, None, "{case}: {report:?}");
                assert!(read_all(&log) == got, "{case}");
                assert_appends_continue(&log, &got, &case);
            });
            std::fs::remove_dir_all(&dir).unwrap();
            Ok(())
        },
    );
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// Reads a damaged log that was not recovered: every message handed out is
/// the one appended at its id; reading ends, with nothing more, a record
/// that looks unfinished, or a `Corrupt` or `NotALog` error.
fn read_damaged(dir: &Path, all: &[(u64, Vec<u8>)], case: &str) {
    let log = Log::open(dir).unwrap_or_else(|e| panic!("{case}: open: {e}"));
    let mut r = log.reader(Start::Beginning).unwrap();
    let mut i = 0;
    loop {
        match r.next(Some(Duration::from_millis(20))) {
            Ok(Some(m)) => {
                let at = all[i..].iter().position(|(id, _)| *id == m.id());
                let at = at.unwrap_or_else(|| panic!("{case}: message at {} unknown", m.id()));
                assert!(
                    all[i + at].1 == m.payload(),
                    "{case}: message {} damaged",
                    m.id()
                );
                i += at + 1;
            }
            Ok(None) => break,
            Err(LogError::Corrupt { .. } | LogError::NotALog { .. }) => break,
            Err(e) => panic!("{case}: unexpected error {e}"),
        }
    }
}

// --- positions at the edges -------------------------------------------------

#[test]
fn durable_position_in_a_segment_removed_by_retention() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let log = Log::create(&dir, opts()).unwrap();
    let mut app = Appender::new(&log).unwrap();
    app.set_durability(Durability::Sync).unwrap();
    append_range(&mut app, 0..5);
    app.set_durability(Durability::None).unwrap();
    let all = append_range(&mut app, 5..600);
    let durable = log.durable_position();
    let report = log
        .retain(Retention {
            max_bytes: Some(2 * SEGMENT),
            ..Retention::default()
        })
        .unwrap();
    assert!(
        report.removed.contains(&(durable / SEGMENT)),
        "the durable position's segment is gone: {report:?}"
    );
    let first = log.segments().unwrap()[0];
    let left: Vec<_> = all
        .iter()
        .filter(|m| m.0 / SEGMENT >= first)
        .cloned()
        .collect();

    // A synced append still works, and covers everything before it.
    app.set_durability(Durability::Sync).unwrap();
    let id = app
        .append(b"synced after retention")
        .expect("sync with the durable position in a removed segment");
    assert!(log.durable_position() > id);
    let got = read_all(&log);
    assert_eq!(got.len(), left.len() + 1);
    assert!(got[..left.len()] == left[..] && got[left.len()].0 == id);
    drop(app);
    drop(log);

    // And so does a restart whose durable position lies in a removed
    // segment (here: only the unsynced tail is validated).
    let log = Log::create(tmp.path().join("log2"), opts()).unwrap();
    let dir2 = log.dir().to_path_buf();
    let mut app = Appender::new(&log).unwrap();
    let all2 = append_range(&mut app, 0..600);
    log.retain(Retention {
        max_bytes: Some(2 * SEGMENT),
        ..Retention::default()
    })
    .unwrap();
    let first2 = log.segments().unwrap()[0];
    assert!(log.durable_position() < first2 * SEGMENT);
    drop(app);
    drop(log);
    simulate_restart(&dir2);
    let log = Log::open(&dir2).expect("open after a restart, durable position removed");
    let report = log.restart_recovery().unwrap().clone();
    assert_eq!(report.cut_at, None, "{report:?}");
    let got = read_all(&log);
    let left2: Vec<_> = all2
        .iter()
        .filter(|m| m.0 / SEGMENT >= first2)
        .cloned()
        .collect();
    assert!(got == left2, "the segments retention kept are all there");
    assert_eq!(log.verify().unwrap(), []);
    assert_appends_continue(&log, &got, "restart after retention");
}

#[test]
fn reader_position_at_the_end_of_a_full_segment_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let log = Log::create(
        &dir,
        LogOptions {
            segment_size: 4096,
            max_message: 1000,
            ..LogOptions::default()
        },
    )
    .unwrap();
    let mut app = Appender::new(&log).unwrap();
    // Four records of 16 + 976 bytes fill segment 0 exactly: no roll yet.
    for i in 0..4u8 {
        app.append(&[i; 976]).unwrap();
    }
    assert_eq!(log.stat().unwrap().segments, vec![0]);
    let mut r = log.named_reader("edge", Start::Beginning).unwrap();
    for _ in 0..4 {
        r.try_next().unwrap().unwrap();
    }
    assert!(r.try_next().unwrap().is_none());
    let pos = r.position();
    assert_eq!(pos, 4096 + format::SEGMENT_HEADER_LEN);
    r.save().unwrap();
    drop(r);

    // A reader started at that position, by id or by name, gets the next
    // message once it is appended.
    let mut by_id = log
        .reader(Start::Id(pos))
        .expect("a reader at the position another reader reported");
    let mut by_name = log.named_reader("edge", Start::Beginning).unwrap();
    assert!(by_id.try_next().unwrap().is_none());
    let id = app.append(b"next").unwrap();
    assert_eq!(id, pos);
    for r in [&mut by_id, &mut by_name] {
        let m = r.next(Some(HANG)).unwrap().expect("the next message");
        assert_eq!((m.id(), m.payload()), (id, &b"next"[..]));
    }
    // Ids that name no record are still refused.
    assert!(matches!(
        log.reader(Start::Id(3 * 4096 + format::SEGMENT_HEADER_LEN)),
        Err(LogError::NoSuchId { .. })
    ));
}

#[test]
fn durable_position_at_the_end_of_a_full_segment() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let log = Log::create(
        &dir,
        LogOptions {
            segment_size: 4096,
            max_message: 1000,
            ..LogOptions::default()
        },
    )
    .unwrap();
    let mut app = Appender::new(&log).unwrap();
    app.set_durability(Durability::Sync).unwrap();
    // Four records of 16 + 976 bytes fill segment 0 exactly; the sync
    // leader's frontier stops at its end, before segment 1 is published
    // (it may have been made ahead).
    let want: Vec<(u64, Vec<u8>)> = (0..4u8)
        .map(|i| (app.append(&[i; 976]).unwrap(), vec![i; 976]))
        .collect();
    assert_eq!(log.durable_position(), 4096);
    assert_eq!(log.stat().unwrap().segments, vec![0]);
    drop(app);

    // Explicit recovery, then a restart, both from there.
    let report = log.recover().expect("explicit recovery");
    assert_eq!(report.cut_at, None, "{report:?}");
    drop(log);
    simulate_restart(&dir);
    let log = Log::open(&dir).expect("open after a restart");
    let report = log.restart_recovery().unwrap().clone();
    assert_eq!(report.cut_at, None, "{report:?}");
    assert!(read_all(&log) == want);
    assert_eq!(log.verify().unwrap(), []);
    let mut app = Appender::new(&log).unwrap();
    let id = app.append(b"next").unwrap();
    assert_eq!(id, 4096 + format::SEGMENT_HEADER_LEN);
    assert_eq!(read_all(&log).len(), 5);
}

/// A log with three 40-byte messages and no appender left; their ids.
fn log_of_three(dir: &Path) -> (Log, Vec<u64>) {
    let log = Log::create(dir, opts()).unwrap();
    let mut app = Appender::new(&log).unwrap();
    let ids = (0..3u8).map(|i| app.append(&[i; 40]).unwrap()).collect();
    (log, ids)
}

/// What an appender killed mid-record by an earlier build leaves at the
/// tail of segment 0: a `Writing` record of 64 bytes by slot 17 (held by
/// nobody), with the reservation counter past it. Returns where it starts.
fn leave_a_dead_writing_record(dir: &Path) -> u64 {
    let seg0 = segment_path(dir, 0);
    let tail = u64::from_le_bytes(
        pread(&seg0, format::SEGMENT_TAIL_OFFSET, 8)
            .try_into()
            .unwrap(),
    );
    let writing: u64 = 64 | 1 << 32 | 17 << 40;
    pwrite(&seg0, tail, &writing.to_le_bytes());
    pwrite(
        &seg0,
        format::SEGMENT_TAIL_OFFSET,
        &(tail + 64).to_le_bytes(),
    );
    tail
}

/// Restart recovery run by another opener while `dir`'s log stays open
/// here (its appenders all gone): what it reported.
fn restart_recovery_now(dir: &Path) -> mapped_log::RecoveryReport {
    simulate_restart(dir);
    let log = Log::open(dir).unwrap();
    log.restart_recovery()
        .expect("restart recovery ran")
        .clone()
}

/// Two cuts while a reader is not looking: the first below it, then
/// appends, then the second at its position. The reader must move back to
/// the lower cut (the cut ring), not stay where the last cut says.
#[test]
fn a_reader_that_missed_two_cuts_moves_back_to_the_lower_one() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let (log, kept) = log_of_three(&dir);
    let first = leave_a_dead_writing_record(&dir);
    let mut reader = log.reader(Start::End).unwrap();
    assert_eq!(reader.position(), first + 64);
    assert!(reader.try_next().unwrap().is_none());

    // Cut 1 at `first`, below the reader; one append fills the hole up to
    // the reader's position.
    assert_eq!(restart_recovery_now(&dir).cut_at, Some(first));
    let mut app = Appender::new(&log).unwrap();
    let below = app.append(&[7; 48]).unwrap();
    assert_eq!(below, first);
    drop(app);
    // Cut 2 at the reader's position: `last_cut` now says nothing below it.
    let second = leave_a_dead_writing_record(&dir);
    assert_eq!(second, first + 64);
    assert_eq!(restart_recovery_now(&dir).cut_at, Some(second));
    let mut app = Appender::new(&log).unwrap();
    let at = app.append(&[8; 48]).unwrap();
    assert_eq!(at, second);

    for (id, byte) in [(below, 7u8), (at, 8)] {
        let m = reader.next(Some(HANG)).unwrap().expect("the message");
        assert_eq!((m.id(), m.payload()), (id, &[byte; 48][..]));
    }
    assert!(reader.try_next().unwrap().is_none());
    let all = read_all(&log);
    assert_eq!(
        all.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
        [kept, vec![below, at]].concat()
    );
}

/// More cuts than the control file keeps while a reader is not looking:
/// a clear error, not a guess.
#[test]
fn a_reader_that_missed_more_cuts_than_are_kept_fails_clearly() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let log = Log::create(&dir, opts()).unwrap();
    let mut app = Appender::new(&log).unwrap();
    app.append(&[1; 40]).unwrap();
    drop(app);
    let mut reader = log.reader(Start::End).unwrap();
    for _ in 0..=format::CUT_RING {
        leave_a_dead_writing_record(&dir);
        assert!(restart_recovery_now(&dir).cut_at.is_some());
    }
    match reader.try_next() {
        Err(LogError::CutsMissed { missed, kept, .. }) => {
            assert_eq!((missed, kept), (format::CUT_RING + 1, format::CUT_RING));
        }
        other => panic!("expected CutsMissed, got {other:?}"),
    }
}

#[test]
fn restart_recovery_below_a_waiting_reader_moves_it_back_to_the_cut() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let (log, kept) = log_of_three(&dir);
    let end = log.reader(Start::End).unwrap().position();
    assert_eq!(leave_a_dead_writing_record(&dir), end % SEGMENT);
    // A reader from the end now waits past it.
    let mut reader = log.reader(Start::End).unwrap();
    assert_eq!(reader.position(), end + 64);
    assert!(reader.try_next().unwrap().is_none());
    // Restart recovery cuts the unfinished record: the tail goes back to
    // where the next append lands.
    let report = restart_recovery_now(&dir);
    assert_eq!(report.cut_at, Some(end), "{report:?}");
    // Two appends after the cut: the first fills the hole exactly, so the
    // second starts where the reader waited. It must still read both.
    let mut app = Appender::new(&log).unwrap();
    let ids = [app.append(&[7; 48]).unwrap(), app.append(&[8; 48]).unwrap()];
    assert_eq!(ids, [end, end + 64]);
    for (id, byte) in ids.into_iter().zip([7u8, 8]) {
        let m = reader.next(Some(HANG)).unwrap().expect("the message");
        assert_eq!((m.id(), m.payload()), (id, &[byte; 48][..]));
    }
    let all = read_all(&log);
    assert_eq!(
        all.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
        [kept, ids.to_vec()].concat()
    );
}

/// Explicit recovery turns a dead appender's unfinished record into
/// padding, as a reader would: no cut, no id handed out again, and a
/// reader waiting past it reads on.
#[test]
fn explicit_recovery_pads_a_dead_appenders_record_and_cuts_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let (log, kept) = log_of_three(&dir);
    let dead = leave_a_dead_writing_record(&dir);
    let mut reader = log.reader(Start::End).unwrap();
    assert_eq!(reader.position(), dead + 64);
    let report = log.recover().unwrap();
    assert_eq!(
        (report.cut_at, report.holes_padded),
        (None, 1),
        "{report:?}"
    );
    assert_eq!(report.kept, 3, "{report:?}");
    let mut app = Appender::new(&log).unwrap();
    let next = app.append(&[7; 48]).unwrap();
    assert_eq!(
        next,
        dead + 64,
        "the dead record's id is not handed out again"
    );
    let m = reader.next(Some(HANG)).unwrap().expect("the message");
    assert_eq!((m.id(), m.payload()), (next, &[7; 48][..]));
    let all = read_all(&log);
    assert_eq!(
        all.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
        [kept, vec![next]].concat()
    );
    assert_eq!(log.verify().unwrap(), []);
}

#[test]
fn recovery_and_retention_remove_what_killed_creators_left_and_nothing_else() {
    use rustix::fs::{FallocateFlags, FlockOperation, fallocate, flock};
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let log = Log::create(&dir, opts()).unwrap();
    let ids: Vec<u64> = {
        let mut app = Appender::new(&log).unwrap();
        (0..3u64)
            .map(|i| app.append(&payload(0, i)).unwrap())
            .collect()
    };
    // A roller killed after reserving the next segment under its temporary
    // name: a whole segment of disk, and no lock (it died with its owner).
    let seg_tmp = dir.join(format!(".{:020}.seg.tmp-4000000-17", 1));
    let f = std::fs::File::create_new(&seg_tmp).unwrap();
    fallocate(&f, FallocateFlags::empty(), 0, SEGMENT).unwrap();
    drop(f);
    // A named reader killed while saving its position.
    std::fs::create_dir_all(dir.join(mapped_log::READERS_DIR)).unwrap();
    let reader_tmp = dir.join(mapped_log::READERS_DIR).join(".r.tmp-4000001-3");
    std::fs::write(&reader_tmp, [0u8; 16]).unwrap();
    // A file being built right now: its creator holds the lock.
    let live_tmp = dir.join(".control.tmp-4000002-5");
    let live = std::fs::File::create_new(&live_tmp).unwrap();
    flock(&live, FlockOperation::LockExclusive).unwrap();

    let left = log.stat().unwrap().leftovers;
    assert_eq!(left.files, 2, "{left:?}");
    assert!(left.bytes >= SEGMENT, "{left:?}");
    let report = log.recover().unwrap();
    assert_eq!(report.leftovers_removed, left, "{report:?}");
    assert!(!report.is_clean());
    assert!(!seg_tmp.exists() && !reader_tmp.exists());
    assert!(live_tmp.exists(), "a file being built was removed");
    let again = log.recover().unwrap();
    assert!(again.is_clean(), "{again:?}");

    // Its creator dies: retention sweeps it too.
    drop(live);
    assert_eq!(log.stat().unwrap().leftovers.files, 1);
    let retained = log
        .retain(Retention {
            max_bytes: Some(u64::MAX),
            ..Retention::default()
        })
        .unwrap();
    assert_eq!(retained.leftovers_removed.files, 1, "{retained:?}");
    assert!(!live_tmp.exists());
    // The log itself is untouched.
    assert_eq!(log.verify().unwrap(), []);
    let read: Vec<u64> = read_all(&log).into_iter().map(|(id, _)| id).collect();
    assert_eq!(read, ids);
}

#[test]
fn a_segment_made_ahead_and_never_used_is_no_cut() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let log = Log::create(&dir, opts()).unwrap();
    let mut app = Appender::new(&log).unwrap();
    let mut ids = Vec::new();
    // Past the middle of segment 0: the appender's helper makes segment 1
    // ahead of the roll.
    while ids.len() < 3 || ids.last().unwrap() % SEGMENT < SEGMENT / 2 + 512 {
        ids.push(app.append(&payload(0, ids.len() as u64)).unwrap());
    }
    let made_ahead = |log: &Log| {
        let start = std::time::Instant::now();
        while log.segments().unwrap() != [0, 1] {
            assert!(start.elapsed() < HANG, "segment 1 never made ahead");
            std::thread::sleep(Duration::from_millis(1));
        }
    };
    made_ahead(&log);
    drop(app);
    let report = log.recover().unwrap();
    assert!(report.is_clean(), "{report:?}");
    // Explicit recovery deletes nothing: the segment made ahead stays,
    // ready for the roll, and is no problem.
    assert_eq!(log.segments().unwrap(), [0, 1], "kept");
    assert_eq!(log.verify().unwrap(), []);
    // After a restart, the cut's removal of what lies past it leaves it
    // alone too when there is no cut, and readers and appenders go on.
    let mut app = Appender::new(&log).unwrap();
    ids.push(app.append(&payload(0, ids.len() as u64)).unwrap());
    made_ahead(&log);
    drop(app);
    drop(log);
    simulate_restart(&dir);
    let log = Log::open(&dir).unwrap();
    let report = log.restart_recovery().expect("restart recovery ran");
    assert_eq!(report.cut_at, None, "{report:?}");
    assert!(report.segments_removed.is_empty(), "{report:?}");
    let read: Vec<u64> = read_all(&log).into_iter().map(|(id, _)| id).collect();
    assert_eq!(read, ids);
    // The log rolls on, into a segment made again.
    let mut app = Appender::new(&log).unwrap();
    while *ids.last().unwrap() < SEGMENT {
        ids.push(app.append(&payload(0, ids.len() as u64)).unwrap());
    }
    assert_eq!(log.verify().unwrap(), []);
    let read: Vec<u64> = read_all(&log).into_iter().map(|(id, _)| id).collect();
    assert_eq!(read, ids);
}

#[test]
fn a_dropped_appender_leaves_no_segment_being_made_behind() {
    // An appender past the middle of its segment has the next one made in
    // the background; dropping it cancels that work, or waits for it: once
    // it is gone, the directory no longer changes under its owner (here,
    // a recovery that must find what it removes stays removed).
    for round in 0..20 {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("log");
        let log = Log::create(&dir, opts()).unwrap();
        let mut app = Appender::new(&log).unwrap();
        let mut last = 0;
        while last % SEGMENT < SEGMENT / 2 + 512 {
            last = app.append(&payload(0, last)).unwrap();
        }
        drop(app);
        let dropped = log.segments().unwrap();
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(
            log.segments().unwrap(),
            dropped,
            "round {round}: a segment appeared after its appender was dropped"
        );
        // Restart recovery removes a segment made ahead, unused: it must
        // stay removed.
        drop(log);
        simulate_restart(&dir);
        let log = Log::open(&dir).unwrap();
        let report = log.restart_recovery().expect("restart recovery ran");
        assert_eq!(report.cut_at, None, "round {round}: {report:?}");
        std::thread::sleep(Duration::from_millis(30));
        let after = log.segments().unwrap();
        assert_eq!(
            after,
            [0],
            "round {round}: after restart recovery ({dropped:?} before)"
        );
    }
}

/// A reader of a log opened read-only cannot repair what a dead appender
/// left: it reads up to the unfinished record, then fails with
/// `Unrepaired` naming it (not a hang, not a silent end before the
/// messages after it). Once a reader that may write repairs it, the same
/// read-only reader reads on. Both kinds of unfinished record: a zero
/// header held by a dead slot, and a `Writing` header of earlier builds.
#[test]
fn a_read_only_reader_reports_a_dead_appenders_record_it_cannot_repair() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let (log, kept) = log_of_three(&dir);
    let ro = Log::open_read_only(&dir).unwrap();
    // A live appender that takes its time is waited for, not reported.
    let mut app = Appender::new(&log).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let slow = std::thread::spawn(move || {
        let mut claim = app.claim(40).unwrap();
        claim.as_mut_slice().fill(5);
        tx.send(claim.id()).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        claim.commit().unwrap();
        app
    });
    let slow_id = rx.recv().unwrap();
    let mut waiting = ro.reader(Start::Id(slow_id)).unwrap();
    let m = waiting.next(Some(HANG)).unwrap().unwrap();
    assert_eq!((m.id(), m.payload()), (slow_id, &[5; 40][..]));
    let mut app = slow.join().unwrap();

    // An appender that dies mid-record: its claim never committed, its
    // lock released (the appender is dropped; the claim forgotten). `app`
    // holds another slot (a new appender taking the dead one's slot would
    // repair its record).
    let mut dead = Appender::new(&log).unwrap();
    let mut claim = dead.claim(40).unwrap();
    claim.as_mut_slice().fill(9);
    let hole = claim.id();
    std::mem::forget(claim);
    drop(dead);
    let after = app.append(&[4; 40]).unwrap();
    assert!(after > hole);

    let mut r = ro.reader(Start::Beginning).unwrap();
    let before_hole = kept.iter().copied().zip(0u8..).chain([(slow_id, 5)]);
    for (id, byte) in before_hole {
        let m = r.next(Some(HANG)).unwrap().unwrap();
        assert_eq!((m.id(), m.payload()), (id, &[byte; 40][..]));
    }
    let unrepaired = |r: Result<Option<mapped_log::Message<'_>>, LogError>| match r {
        Err(LogError::Unrepaired { id, .. }) => id,
        other => panic!("expected Unrepaired, got {other:?}"),
    };
    assert_eq!(unrepaired(r.next(Some(HANG))), hole);
    // A poller meets it too, and the message says what to do.
    let mut polled = ro.reader(Start::Id(hole)).unwrap();
    let err = with_timeout("a read-only poller at a dead hole", HANG, move || {
        loop {
            match polled.try_next() {
                Ok(None) => std::thread::sleep(Duration::from_millis(5)),
                other => return other.map(|m| m.map(|m| m.id())).unwrap_err().to_string(),
            }
        }
    });
    assert!(err.contains(&format!("record at id {hole}")), "{err}");
    assert!(err.contains("mapped log recover"), "{err}");

    // A reader that may write pads the hole; the read-only one reads on.
    let mut rw = log.reader(Start::Id(hole)).unwrap();
    assert_eq!(rw.next(Some(HANG)).unwrap().unwrap().id(), after);
    assert_eq!(r.next(Some(HANG)).unwrap().unwrap().payload(), [4; 40]);

    // The `Writing` record of an earlier build's dead appender.
    drop(app);
    let writing = leave_a_dead_writing_record(&dir);
    let mut r = ro.reader(Start::Id(writing)).unwrap();
    assert_eq!(unrepaired(r.next(Some(HANG))), writing);
}
