//! The damage matrix: what a tmp cleaner, a failing disk or a careless
//! operator does to a log's files, and what the log makes of it.
//!
//! For each of the first, a middle, the last, and all but one of a log's
//! segments, each damage (deleted, truncated to 0, truncated mid-record,
//! replaced by an older copy of itself, replaced by another log's segment,
//! a record header overwritten, a payload overwritten), and a stray extra
//! file:
//!
//! - `verify` names the problem (the file) and `stat` lists it; nothing
//!   panics or hangs, and a reader either reads on or stops with an error;
//! - a dry run of recovery changes no byte of the directory;
//! - recovery keeps every message that was not damaged, with its id and
//!   payload, and every message that is gone lies in an id range its report
//!   names as lost;
//! - afterwards the log verifies, and new appends get ids above every id
//!   ever handed out.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{copy_dir, pread, pwrite, segment_path, with_timeout};
use mapped_log::{Appender, Change, Log, LogOptions, ProblemKind, Start, format};

const SEGMENT: u64 = 4096;

fn opts() -> LogOptions {
    LogOptions {
        segment_size: SEGMENT,
        max_message: 512,
        ..LogOptions::default()
    }
}

fn message(seq: u64) -> Vec<u8> {
    let len = 20 + (seq * 37 % 90) as usize;
    let mut p = format!("message {seq:05} ").into_bytes();
    p.resize(len, b'a' + (seq % 26) as u8);
    p
}

/// A log of five and a half segments, synced; a copy of each segment
/// taken when it was half full (an older copy of itself); every message
/// by id.
struct Fixture {
    dir: PathBuf,
    messages: BTreeMap<u64, Vec<u8>>,
    older: HashMap<u64, Vec<u8>>,
    tail: u64,
}

fn build(work: &Path) -> Fixture {
    std::fs::create_dir_all(work).unwrap();
    let dir = work.join("log");
    let log = Log::create(&dir, opts()).unwrap();
    let mut app = Appender::new(&log).unwrap();
    let mut messages = BTreeMap::new();
    let mut older = HashMap::new();
    let mut seq = 0;
    loop {
        let p = message(seq);
        let id = app.append(&p).unwrap();
        messages.insert(id, p);
        seq += 1;
        let (index, off) = (id / SEGMENT, id % SEGMENT);
        if off > SEGMENT / 4 && !older.contains_key(&index) {
            older.insert(index, std::fs::read(segment_path(&dir, index)).unwrap());
        }
        if index == 5 && off > SEGMENT / 2 {
            break;
        }
    }
    log.sync().unwrap();
    drop(app);
    Fixture {
        dir,
        messages,
        older,
        tail: 5,
    }
}

/// Where a damage lands.
#[derive(Debug, Clone, Copy)]
enum Target {
    First,
    Middle,
    Last,
    AllButOne,
}

#[derive(Debug, Clone, Copy)]
enum Damage {
    Deleted,
    TruncatedToZero,
    TruncatedMidRecord,
    OlderCopy,
    AnotherLogs,
    HeaderOverwritten,
    PayloadOverwritten,
}

fn all_files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                out.insert(e.path(), std::fs::read(e.path()).unwrap());
            }
        }
    }
    out
}

/// The id of a record in segment `index` near its middle.
fn record_in(f: &Fixture, index: u64) -> u64 {
    *f.messages
        .keys()
        .find(|&&id| id / SEGMENT == index && id % SEGMENT > 1500)
        .unwrap()
}

fn damage(f: &Fixture, other: &Path, index: u64, d: Damage) {
    let path = segment_path(&f.dir, index);
    match d {
        Damage::Deleted => std::fs::remove_file(&path).unwrap(),
        Damage::TruncatedToZero => std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(0)
            .unwrap(),
        Damage::TruncatedMidRecord => {
            let id = record_in(f, index);
            std::fs::File::options()
                .write(true)
                .open(&path)
                .unwrap()
                .set_len(id % SEGMENT + 20)
                .unwrap();
        }
        Damage::OlderCopy => std::fs::write(&path, &f.older[&index]).unwrap(),
        Damage::AnotherLogs => std::fs::copy(segment_path(other, index), &path)
            .map(drop)
            .unwrap(),
        Damage::HeaderOverwritten => {
            pwrite(&path, record_in(f, index) % SEGMENT, b"GARBAGEGARBAGE")
        }
        Damage::PayloadOverwritten => pwrite(&path, record_in(f, index) % SEGMENT + 18, b"XYZ"),
    }
}

/// Reads the whole log, with a safety net: every message read, and the
/// error that stopped it, if any.
fn read_all(dir: &Path) -> (Vec<(u64, Vec<u8>)>, Option<String>) {
    let dir = dir.to_path_buf();
    with_timeout(
        "reading a damaged log",
        Duration::from_secs(20),
        move || {
            let log = Log::open(&dir).unwrap();
            let mut r = match log.reader(Start::Beginning) {
                Ok(r) => r,
                Err(e) => return (Vec::new(), Some(e.to_string())),
            };
            let mut got = Vec::new();
            loop {
                match r.next(Some(Duration::from_millis(30))) {
                    Ok(Some(m)) => got.push((m.id(), m.payload().to_vec())),
                    Ok(None) => return (got, None),
                    Err(e) => return (got, Some(e.to_string())),
                }
            }
        },
    )
}

/// The id ranges a report names as lost.
fn lost_ranges(changes: &[Change]) -> Vec<(u64, u64)> {
    changes
        .iter()
        .filter_map(|c| match c {
            Change::Padded { id, end, .. } | Change::Placeholder { id, end, .. } => {
                Some((*id, *end))
            }
            Change::FirstSegment {
                lost_from,
                lost_end,
                ..
            } => Some((*lost_from, *lost_end)),
            _ => None,
        })
        .collect()
}

fn check_case(case: &str, f: &Fixture, damaged: &[u64], expect: ProblemKind) {
    let dir = &f.dir;
    // Found, named.
    let log = Log::open(dir).unwrap();
    let problems = log.verify().unwrap();
    assert!(!problems.is_empty(), "{case}: verify found nothing");
    assert!(
        problems.iter().any(|p| p.kind == expect),
        "{case}: expected {expect:?} in {problems:?}"
    );
    for p in &problems {
        let name = p.segment.file_name().unwrap().to_str().unwrap().to_owned();
        assert!(
            damaged.iter().any(|&i| name == format!("{i:020}.seg")),
            "{case}: a problem names an undamaged file: {p}"
        );
    }
    assert_eq!(log.stat().unwrap().problems, problems, "{case}");
    // Readers never hang: they read on or stop with an error.
    let (_, err) = read_all(dir);
    let _ = err;

    // A dry run changes nothing.
    let before = all_files(dir);
    let dry = log.recover_dry_run().unwrap();
    assert!(!dry.applied, "{case}");
    assert!(
        !dry.changes.is_empty(),
        "{case}: a dry run with nothing to do"
    );
    assert_eq!(all_files(dir), before, "{case}: the dry run changed files");

    // Applied: everything undamaged kept, everything gone reported.
    let report = log.recover().unwrap();
    assert!(report.unrepaired.is_empty(), "{case}: {report:?}");
    assert_eq!(log.verify().unwrap(), [], "{case}: {report:?}");
    let lost = lost_ranges(&report.changes);
    let (got, err) = read_all(dir);
    assert_eq!(err, None, "{case}: reading after recovery");
    let got: BTreeMap<u64, Vec<u8>> = got.into_iter().collect();
    for (id, p) in &got {
        assert_eq!(
            f.messages.get(id),
            Some(p),
            "{case}: id {id} reads back other bytes"
        );
    }
    for (id, p) in &f.messages {
        let index = id / SEGMENT;
        let end = id + format::record_size(p.len() as u32);
        if !damaged.contains(&index) {
            assert!(got.contains_key(id), "{case}: undamaged id {id} lost");
        } else if !got.contains_key(id) {
            assert!(
                lost.iter().any(|&(a, b)| a < end && *id < b),
                "{case}: id {id} lost without a report naming it: {lost:?}"
            );
        }
    }
    // Nothing was deleted: what left the log is in quarantine.
    if let Some(q) = &report.quarantine {
        assert!(
            q.starts_with(dir.join(mapped_log::QUARANTINE_DIR)),
            "{case}"
        );
        assert!(std::fs::read_dir(q).unwrap().count() > 0, "{case}");
    }
    // No id is handed out twice.
    let max = *f.messages.keys().last().unwrap();
    let mut app = Appender::new(&log).unwrap();
    for k in 0..3 {
        let id = app.append(&message(10_000 + k)).unwrap();
        assert!(id > max, "{case}: new id {id} at or below {max}");
    }
    drop(app);
    assert_eq!(log.verify().unwrap(), [], "{case}: after appends");
}

#[test]
fn damaged_segments_are_named_and_recovery_keeps_every_undamaged_message() {
    let work = tempfile::tempdir().unwrap();
    let base = build(work.path());
    // Another log, same geometry, for foreign segments.
    let other = build(&work.path().join("other"));
    let targets = [
        Target::First,
        Target::Middle,
        Target::Last,
        Target::AllButOne,
    ];
    let damages = [
        Damage::Deleted,
        Damage::TruncatedToZero,
        Damage::TruncatedMidRecord,
        Damage::OlderCopy,
        Damage::AnotherLogs,
        Damage::HeaderOverwritten,
        Damage::PayloadOverwritten,
    ];
    let mut n = 0;
    for target in targets {
        for d in damages {
            let case = format!("{d:?} {target:?}");
            let at = work.path().join(format!("case-{n}"));
            n += 1;
            copy_dir(&base.dir, &at);
            let f = Fixture {
                dir: at,
                messages: base.messages.clone(),
                older: base.older.clone(),
                tail: base.tail,
            };
            let damaged: Vec<u64> = match target {
                Target::First => vec![0],
                Target::Middle => vec![2],
                Target::Last => vec![f.tail],
                Target::AllButOne => (0..=f.tail).filter(|&i| i != 3).collect(),
            };
            for &i in &damaged {
                damage(&f, &other.dir, i, d);
            }
            let expect = match d {
                Damage::Deleted => ProblemKind::MissingSegment,
                Damage::TruncatedToZero | Damage::AnotherLogs => ProblemKind::BadSegment,
                Damage::TruncatedMidRecord => ProblemKind::BadSegment,
                Damage::OlderCopy if target == Target::Last => ProblemKind::BelowDurable,
                Damage::OlderCopy if target == Target::AllButOne => ProblemKind::ShortSegment,
                Damage::OlderCopy => ProblemKind::ShortSegment,
                Damage::HeaderOverwritten | Damage::PayloadOverwritten => {
                    ProblemKind::DamagedRecords
                }
            };
            check_case(&case, &f, &damaged, expect);
        }
    }
}

impl PartialEq for Target {
    fn eq(&self, other: &Target) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other)
    }
}

/// A stray segment file past the tail that holds nothing of this log,
/// and one below the first segment: named, and moved into quarantine.
#[test]
fn stray_segment_files_are_named_and_quarantined() {
    let work = tempfile::tempdir().unwrap();
    let f = build(work.path());
    let other = build(&work.path().join("other"));
    std::fs::copy(segment_path(&other.dir, 2), segment_path(&f.dir, 9)).unwrap();
    let log = Log::open(&f.dir).unwrap();
    let problems = log.verify().unwrap();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].kind, ProblemKind::ExtraSegment);
    let report = log.recover().unwrap();
    assert!(
        report
            .changes
            .iter()
            .any(|c| matches!(c, Change::Quarantined { .. })),
        "{report:?}"
    );
    assert!(!segment_path(&f.dir, 9).exists());
    let q = report.quarantine.unwrap();
    assert_eq!(
        std::fs::read(q.join(format!("{:020}.seg", 9))).unwrap(),
        std::fs::read(segment_path(&other.dir, 2)).unwrap()
    );
    assert_eq!(log.verify().unwrap(), []);
    let (got, err) = read_all(&f.dir);
    assert_eq!(err, None);
    assert_eq!(got.len(), f.messages.len());
    let _ = pread; // (shared helpers)
}

/// A deleted or damaged control file: opening names it (and that the
/// segment files are there); rebuilding it from the segment files keeps
/// every message, and new ids come after them all.
#[test]
fn a_lost_control_file_is_rebuilt_from_the_segments() {
    let work = tempfile::tempdir().unwrap();
    let base = build(work.path());
    for (n, how) in ["deleted", "damaged"].into_iter().enumerate() {
        let dir = work.path().join(format!("case-{n}"));
        copy_dir(&base.dir, &dir);
        let control = dir.join(mapped_log::CONTROL_FILE);
        if how == "deleted" {
            std::fs::remove_file(&control).unwrap();
        } else {
            pwrite(&control, 16, b"XXXX");
        }
        let err = Log::open(&dir).unwrap_err().to_string();
        assert!(err.contains("control"), "{how}: {err}");
        let before = all_files(&dir);
        let dry = Log::rebuild_control(&dir, false).unwrap();
        assert!(
            dry.changes.iter().any(|c| matches!(
                c,
                Change::ControlRebuilt {
                    first: 0,
                    tail: 5,
                    ..
                }
            )),
            "{how}: {dry:?}"
        );
        assert_eq!(all_files(&dir), before, "{how}: the dry run changed files");
        let report = Log::rebuild_control(&dir, true).unwrap();
        assert_eq!(report.quarantine.is_some(), how == "damaged", "{how}");
        let log = Log::open(&dir).unwrap();
        assert_eq!(log.verify().unwrap(), [], "{how}");
        let (got, err) = read_all(&dir);
        assert_eq!(err, None, "{how}");
        assert_eq!(
            got.into_iter().collect::<BTreeMap<_, _>>(),
            base.messages,
            "{how}"
        );
        let max = *base.messages.keys().last().unwrap();
        let id = Appender::new(&log).unwrap().append(b"after").unwrap();
        assert!(id > max, "{how}: {id} <= {max}");
    }
}

/// A named reader whose saved position falls inside a range recovery
/// removed resumes at the next message that exists, and says so.
#[test]
fn a_named_reader_inside_a_removed_range_resumes_at_the_next_message() {
    let work = tempfile::tempdir().unwrap();
    let f = build(work.path());
    let log = Log::open(&f.dir).unwrap();
    // Saved inside segment 2, which is then lost.
    let inside = record_in(&f, 2);
    let r = log.named_reader("audit", Start::Id(inside)).unwrap();
    r.save().unwrap();
    drop(r);
    std::fs::remove_file(segment_path(&f.dir, 2)).unwrap();
    assert!(matches!(
        log.named_reader("audit", Start::Beginning),
        Err(mapped_log::LogError::MissingSegment { .. })
    ));
    log.recover().unwrap();
    let mut r = log.named_reader("audit", Start::Beginning).unwrap();
    assert_eq!(r.resumed_from(), Some(inside));
    let first_after = *f.messages.keys().find(|&&id| id / SEGMENT == 3).unwrap();
    let m = r.try_next().unwrap().expect("the next message that exists");
    assert_eq!(m.id(), first_after);
    // Inside a padded range too: the reader saved at `saved`, and the
    // headers of the record before it and of its own were destroyed, so
    // the padding runs from the first over the second.
    drop(r);
    let before = record_in(&f, 4);
    let saved = *f.messages.range(before + 1..).next().unwrap().0;
    let r = log.named_reader("b", Start::Id(saved)).unwrap();
    r.save().unwrap();
    drop(r);
    for at in [before, saved] {
        pwrite(&segment_path(&f.dir, 4), at % SEGMENT, b"GARBAGEGARBAGE");
    }
    log.recover().unwrap();
    let mut r = log.named_reader("b", Start::Beginning).unwrap();
    assert_eq!(r.resumed_from(), Some(saved));
    let next = *f.messages.range(saved + 1..).next().unwrap().0;
    assert_eq!(r.try_next().unwrap().unwrap().id(), next);
}

/// A new append gets an id above every id the log ever handed out.
fn assert_appends_above(log: &Log, messages: &BTreeMap<u64, Vec<u8>>) {
    let max = *messages.keys().last().unwrap();
    let id = Appender::new(log).unwrap().append(b"after").unwrap();
    assert!(id > max, "{id} <= {max}");
}

fn control_word(dir: &Path, offset: u64, value: u64) {
    pwrite(
        &dir.join(mapped_log::CONTROL_FILE),
        offset,
        &value.to_le_bytes(),
    );
}

/// Retention acts on the control file's first segment only when the range
/// is possible, and never deletes a file below it: it moves it aside.
#[test]
fn retention_never_deletes_on_a_corrupt_first_segment() {
    let work = tempfile::tempdir().unwrap();
    let f = build(work.path());
    let log = Log::open(&f.dir).unwrap();
    let all = || mapped_log::Retention {
        max_bytes: Some(u64::MAX),
        ..mapped_log::Retention::default()
    };
    control_word(&f.dir, format::CONTROL_FIRST_SEGMENT, 1 << 40);
    assert!(log.retain(all()).is_err());
    assert_eq!(log.segments().unwrap().len(), 7, "no file touched");
    // A wrong first segment within the range: the files below it leave
    // the log for quarantine, reported, not deleted.
    control_word(&f.dir, format::CONTROL_FIRST_SEGMENT, 2);
    let report = log.retain(all()).unwrap();
    assert_eq!(report.quarantined, [0, 1], "{report:?}");
    let q = report.quarantine.unwrap();
    for i in [0u64, 1] {
        assert!(q.join(format!("{i:020}.seg")).exists());
    }
}

/// A control file lost after a recovery made placeholders: the rebuilt one
/// counts them, so their ids are never handed out again, and nothing in
/// quarantine is replaced.
#[test]
fn a_rebuilt_control_file_keeps_the_placeholders_ids() {
    let work = tempfile::tempdir().unwrap();
    let f = build(work.path());
    let log = Log::open(&f.dir).unwrap();
    std::fs::write(segment_path(&f.dir, f.tail), b"garbage").unwrap();
    let first = log.recover().unwrap();
    assert!(
        first
            .changes
            .iter()
            .any(|c| matches!(c, Change::Placeholder { .. }))
    );
    drop(log);
    std::fs::remove_file(f.dir.join(mapped_log::CONTROL_FILE)).unwrap();
    Log::rebuild_control(&f.dir, true).unwrap();
    let log = Log::open(&f.dir).unwrap();
    log.recover().unwrap();
    assert_eq!(log.verify().unwrap(), []);
    assert_appends_above(&log, &f.messages);
    // The damaged original is still in quarantine, as it was.
    let q = first.quarantine.unwrap();
    assert_eq!(
        std::fs::read(q.join(format!("{:020}.seg", f.tail))).unwrap(),
        b"garbage"
    );
}

/// While an appender is alive, the control file is not rebuilt.
#[test]
fn a_control_file_is_not_rebuilt_under_a_live_appender() {
    let work = tempfile::tempdir().unwrap();
    let f = build(work.path());
    let log = Log::open(&f.dir).unwrap();
    let app = Appender::new(&log).unwrap();
    std::fs::remove_file(f.dir.join(mapped_log::CONTROL_FILE)).unwrap();
    let err = Log::rebuild_control(&f.dir, true).unwrap_err();
    assert!(err.to_string().contains("an appender is alive"), "{err}");
    assert!(!f.dir.join(mapped_log::CONTROL_FILE).exists());
    drop(app);
}

/// Synced records zeroed on disk are damage, not an appender's hole: named
/// by verify, and a reader stops there instead of skipping them.
#[test]
fn zeroed_synced_records_are_damage_not_a_hole() {
    let work = tempfile::tempdir().unwrap();
    let f = build(work.path());
    let ids: Vec<u64> = f
        .messages
        .keys()
        .copied()
        .filter(|id| id / SEGMENT == 1)
        .collect();
    let (from, to) = (ids[3] % SEGMENT, ids[10] % SEGMENT);
    pwrite(
        &segment_path(&f.dir, 1),
        from,
        &vec![0; (to - from) as usize],
    );
    let log = Log::open(&f.dir).unwrap();
    let problems = log.verify().unwrap();
    assert!(
        problems
            .iter()
            .any(|p| p.kind == ProblemKind::DamagedRecords && p.id == ids[3]),
        "{problems:?}"
    );
    let (got, err) = read_all(&f.dir);
    assert!(
        err.is_some_and(|e| e.contains("durable")),
        "read on silently"
    );
    assert_eq!(got.last().map(|m| m.0), Some(ids[2]));
    let report = log.recover().unwrap();
    assert!(
        lost_ranges(&report.changes)
            .iter()
            .any(|&(a, b)| a <= ids[3] && ids[9] < b),
        "{report:?}"
    );
    let (got, err) = read_all(&f.dir);
    assert_eq!(err, None);
    assert!(
        got.iter().any(|m| m.0 == ids[10]),
        "the records after it are kept"
    );
}

/// A segment cut short: the dry run names the ids the truncation took, as
/// the applied recovery does, and the zeros are never taken for a hole.
#[test]
fn a_truncated_segment_loss_is_named_by_the_dry_run_too() {
    let work = tempfile::tempdir().unwrap();
    let f = build(work.path());
    std::fs::File::options()
        .write(true)
        .open(segment_path(&f.dir, 1))
        .unwrap()
        .set_len(1000)
        .unwrap();
    let log = Log::open(&f.dir).unwrap();
    let lost_in = |r: &mapped_log::RecoveryReport| {
        r.changes
            .iter()
            .filter_map(|c| match c {
                Change::Padded { id, end, why, .. } if why.contains("cut") => Some((*id, *end)),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    let dry = lost_in(&log.recover_dry_run().unwrap());
    let applied = log.recover().unwrap();
    assert_eq!(dry, lost_in(&applied), "{applied:?}");
    assert_eq!(dry.len(), 1);
    assert_eq!(dry[0].1, 2 * SEGMENT);
    assert_eq!(
        applied.holes_padded, 0,
        "zeros taken for a hole: {applied:?}"
    );
    assert_eq!(log.verify().unwrap(), []);
}

/// A tail counter below the records: named, and raised by recovery so
/// that the log can be appended to again.
#[test]
fn a_tail_counter_below_the_records_is_named_and_raised() {
    let work = tempfile::tempdir().unwrap();
    let f = build(work.path());
    let tail = segment_path(&f.dir, f.tail);
    pwrite(&tail, format::SEGMENT_TAIL_OFFSET, &200u64.to_le_bytes());
    let log = Log::open(&f.dir).unwrap();
    let problems = log.verify().unwrap();
    assert!(
        problems.iter().any(|p| p.kind == ProblemKind::TailCounter),
        "{problems:?}"
    );
    log.recover().unwrap();
    assert_eq!(log.verify().unwrap(), []);
    assert_appends_above(&log, &f.messages);
}

/// After a restart, a missing segment that held the durable position does
/// not stop the log from opening: verify names it, and recovery repairs it.
#[test]
fn a_restart_with_the_durable_segment_missing_still_opens_for_recovery() {
    let work = tempfile::tempdir().unwrap();
    let f = build(work.path());
    std::fs::remove_file(segment_path(&f.dir, f.tail)).unwrap();
    common::simulate_restart(&f.dir);
    let log = Log::open(&f.dir).unwrap();
    let restart = log.restart_recovery().expect("restart recovery ran");
    assert!(restart.reason.is_some(), "{restart:?}");
    assert!(
        log.verify()
            .unwrap()
            .iter()
            .any(|p| p.kind == ProblemKind::MissingSegment)
    );
    log.recover().unwrap();
    assert_eq!(log.verify().unwrap(), []);
    assert_appends_above(&log, &f.messages);
}

/// A segment truncated under a `Sync` appender: its append fails; after
/// recovery, durable appends work again (no sticky failure for damage).
#[test]
fn durable_appends_work_again_after_a_truncation_is_repaired() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("log");
    let log = Log::create(&dir, opts()).unwrap();
    let mut app = Appender::new(&log).unwrap();
    app.set_durability(mapped_log::Durability::Sync).unwrap();
    let before = app.append(b"before").unwrap();
    std::fs::File::options()
        .write(true)
        .open(segment_path(&dir, 0))
        .unwrap()
        .set_len(before % SEGMENT + 40)
        .unwrap();
    assert!(app.append(b"lost").is_err());
    drop(app);
    log.recover().unwrap();
    let mut app = Appender::new(&log).unwrap();
    app.set_durability(mapped_log::Durability::Sync).unwrap();
    let after = app.append(b"after").unwrap();
    assert!(after > before);
    assert_eq!(log.verify().unwrap(), []);
}

/// A reader polling at the end of a log whose appender syncs each message:
/// the record it found empty may be committed and synced before it looks
/// at the durable position. It must read it, not report synced records
/// lost. (A race: many rounds.)
#[test]
fn a_polling_reader_beside_a_sync_appender_never_cries_loss() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("log");
    let log = Log::create(&dir, opts()).unwrap();
    let appender = {
        let log = log.clone();
        std::thread::spawn(move || {
            let mut app = Appender::new(&log).unwrap();
            app.set_durability(mapped_log::Durability::Sync).unwrap();
            for i in 0..300u32 {
                app.append(&i.to_le_bytes()).unwrap();
            }
        })
    };
    let mut r = log.reader(Start::Beginning).unwrap();
    let mut n = 0;
    let start = std::time::Instant::now();
    while n < 300 {
        assert!(start.elapsed() < Duration::from_secs(60), "stuck at {n}");
        match r.try_next() {
            Ok(Some(m)) => {
                assert_eq!(m.payload(), (n as u32).to_le_bytes());
                n += 1;
            }
            Ok(None) => std::hint::spin_loop(),
            Err(e) => panic!("after {n} messages: {e}"),
        }
    }
    appender.join().unwrap();
}

/// `verify` on a log being appended to reports nothing: records committed
/// while it walks lie past the counter it read first.
#[test]
fn verify_beside_a_live_appender_reports_nothing() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("log");
    let log = Log::create(&dir, opts()).unwrap();
    // 40 segments' worth of messages, rolling all the while.
    let appender = {
        let log = log.clone();
        std::thread::spawn(move || {
            let mut app = Appender::new(&log).unwrap();
            for i in 0..4000u32 {
                app.append(b"a message of some length").unwrap();
                if i % 64 == 0 {
                    std::thread::yield_now();
                }
            }
        })
    };
    let mut surveys = 0;
    while !appender.is_finished() || surveys == 0 {
        assert_eq!(log.verify().unwrap(), [], "survey {surveys}");
        surveys += 1;
    }
    appender.join().unwrap();
    assert_eq!(log.verify().unwrap(), []);
}

/// A truncated segment with a damaged record before the cut: the records
/// between the damage and the cut are kept (only the damaged one and what
/// the cut took are lost).
#[test]
fn a_truncated_segment_keeps_the_records_past_a_damaged_one() {
    let work = tempfile::tempdir().unwrap();
    let f = build(work.path());
    let path = segment_path(&f.dir, 1);
    let ids: Vec<u64> = f
        .messages
        .keys()
        .copied()
        .filter(|id| id / SEGMENT == 1)
        .collect();
    pwrite(&path, ids[2] % SEGMENT + 20, b"XYZ");
    let cut = ids[ids.len() - 3] % SEGMENT;
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(cut)
        .unwrap();
    let log = Log::open(&f.dir).unwrap();
    log.recover().unwrap();
    assert_eq!(log.verify().unwrap(), []);
    let (got, err) = read_all(&f.dir);
    assert_eq!(err, None);
    let got: BTreeMap<u64, Vec<u8>> = got.into_iter().collect();
    for &id in &ids[3..ids.len() - 4] {
        assert!(
            got.contains_key(&id),
            "id {id} after the damaged record and before the cut lost"
        );
    }
    assert!(!got.contains_key(&ids[2]));
}

/// Restart recovery never starts below the log's first segment: a file
/// retention left there (a crash between its two steps) is not the log.
#[test]
fn restart_recovery_starts_at_the_first_segment() {
    let work = tempfile::tempdir().unwrap();
    let f = build(work.path());
    // The durable position lags in segment 0; retention raised the first
    // segment to 2 and stopped before removing segment 1; then a torn
    // record in segment 1 and a restart.
    control_word(&f.dir, format::CONTROL_DURABLE, format::SEGMENT_HEADER_LEN);
    control_word(&f.dir, format::CONTROL_FIRST_SEGMENT, 2);
    std::fs::remove_file(segment_path(&f.dir, 0)).unwrap();
    let torn = record_in(&f, 1);
    pwrite(&segment_path(&f.dir, 1), torn % SEGMENT + 20, b"XYZ");
    common::simulate_restart(&f.dir);
    let log = Log::open(&f.dir).unwrap();
    let report = log.restart_recovery().unwrap();
    assert!(report.segments_removed.is_empty(), "{report:?}");
    let stat = log.stat().unwrap();
    assert_eq!(
        (stat.first_segment, stat.tail_segment),
        (2, f.tail),
        "{report:?}"
    );
    let (got, _) = read_all(&f.dir);
    let want: Vec<u64> = f
        .messages
        .keys()
        .copied()
        .filter(|id| id / SEGMENT >= 2)
        .collect();
    assert_eq!(got.iter().map(|m| m.0).collect::<Vec<_>>(), want);
}
