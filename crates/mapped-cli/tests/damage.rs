//! Damaged logs through the real `mapped` binary only, as an outside
//! harness would drive it: the reproductions from the issue (a deleted
//! segment, the last two deleted, garbage in a segment, a named reader
//! inside the lost range), the CLI's damage matrix (mirroring
//! `crates/mapped-log/tests/damage.rs`), and `mapped log create` being all
//! or nothing under a file size limit.
//!
//! Every command runs under a timeout and must exit with 0, 1 or 2: a
//! damaged log never hangs or kills the tool.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Output;

use common::{MAPPED, run_timed, run_timed_with_input, tempdir, text};

/// Small segments, so that a few hundred messages span several.
const SEGMENT: u64 = 4096;
/// The bytes a `msg-NNNN` record takes: a 16-byte header and 8 bytes.
const RECORD: u64 = 24;

/// A segment's file name.
fn seg(index: u64) -> String {
    format!("{index:020}.seg")
}

/// Runs `mapped args...` in `dir` under a timeout, with `input` on stdin
/// if given, and checks it ended with a status of its own (0, 1 or 2),
/// not a signal.
fn mapped_with(dir: &Path, args: &[&str], input: Option<&[u8]>) -> Output {
    let out = run_timed_with_input(dir, MAPPED, args, input);
    assert!(
        matches!(out.status.code(), Some(0..=2)),
        "mapped {args:?} ended with {:?} (signal {:?})\nstdout: {}\nstderr: {}",
        out.status.code(),
        out.status.signal(),
        text(&out.stdout),
        text(&out.stderr)
    );
    out
}

fn mapped(dir: &Path, args: &[&str]) -> Output {
    mapped_with(dir, args, None)
}

/// Asserts exit status 0 and returns stdout as text.
fn ok(out: &Output) -> String {
    text(&common::ok(out))
}

/// Asserts exit status 1 with `mapped: ...` on stderr containing every one
/// of `needles`, and returns stderr.
fn fails(out: &Output, needles: &[&str]) -> String {
    common::assert_fails(out, needles)
}

/// `prefix-0001` to `prefix-NNNN`, a line each.
fn numbered(prefix: &str, n: u32) -> String {
    (1..=n).map(|i| format!("{prefix}-{i:04}\n")).collect()
}

/// Creates log `name` in `dir` with 4 KiB segments and appends `n`
/// numbered messages.
fn build(dir: &Path, name: &str, prefix: &str, n: u32) {
    ok(&mapped(
        dir,
        &["log", "create", name, "--segment-size", "4k"],
    ));
    ok(&mapped_with(
        dir,
        &["log", "append", name],
        Some(numbered(prefix, n).as_bytes()),
    ));
}

/// The messages `tail --format json` printed, by id.
fn parse_json(stdout: &str) -> BTreeMap<u64, String> {
    stdout
        .lines()
        .map(|l| {
            let v: serde_json::Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}"));
            let id = v["id"].as_u64().expect("an id");
            let payload = v["payload"].as_str().expect("a text payload").to_owned();
            (id, payload)
        })
        .collect()
}

/// Every message of log `name`, which must read back without error.
fn messages(dir: &Path, name: &str) -> BTreeMap<u64, String> {
    parse_json(&ok(&mapped(
        dir,
        &["log", "tail", name, "--format", "json"],
    )))
}

/// Appends three lines with --ids and returns the ids.
fn append_ids(dir: &Path, name: &str) -> Vec<u64> {
    let out = ok(&mapped_with(
        dir,
        &["log", "append", name, "--ids"],
        Some(b"new-1\nnew-2\nnew-3\n"),
    ));
    out.lines()
        .map(|l| l.parse().unwrap_or_else(|_| panic!("not an id: {l:?}")))
        .collect()
}

/// Every file and directory under `dir`, with each file's bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let path = e.unwrap().path();
            if path.is_dir() {
                out.insert(path.clone(), None);
                stack.push(path);
            } else {
                out.insert(path.clone(), Some(fs::read(&path).unwrap()));
            }
        }
    }
    out
}

/// The bytes of every file under `log/quarantine`.
fn quarantined(log: &Path) -> Vec<Vec<u8>> {
    let q = log.join("quarantine");
    if !q.exists() {
        return Vec::new();
    }
    snapshot(&q).into_values().flatten().collect()
}

/// Writes `bytes` at `offset` of `path`.
fn pwrite(path: &Path, offset: u64, bytes: &[u8]) {
    use std::os::unix::fs::FileExt;
    fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .write_all_at(bytes, offset)
        .unwrap();
}

fn truncate(path: &Path, len: u64) {
    fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(len)
        .unwrap();
}

/// The `[first, end)` id ranges in `ids A to B` phrases of the lines of
/// `report` that start with `prefix`.
fn id_ranges(report: &str, prefix: &str) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    for line in report.lines().filter(|l| l.starts_with(prefix)) {
        let mut rest = line;
        while let Some(at) = rest.find("ids ") {
            rest = &rest[at + 4..];
            let words: Vec<&str> = rest.splitn(4, ' ').collect();
            let num = |w: &str| {
                w.trim_end_matches(|c: char| !c.is_ascii_digit())
                    .parse::<u64>()
                    .ok()
            };
            if let [a, "to", b, ..] = words[..]
                && let (Some(a), Some(b)) = (num(a), num(b))
            {
                out.push((a, b));
            }
        }
    }
    out
}

/// Asserts that `recover` (no --apply) reports something to do and leaves
/// every byte of `log` as it was.
fn dry_run_changes_nothing(dir: &Path, name: &str) -> String {
    let log = dir.join(name);
    let before = snapshot(&log);
    let out = ok(&mapped(dir, &["log", "recover", name]));
    assert_eq!(snapshot(&log), before, "the dry run changed files:\n{out}");
    assert!(out.contains("found: "), "{out}");
    assert!(out.contains("would change: "), "{out}");
    assert!(
        out.trim_end()
            .lines()
            .last()
            .is_some_and(|l| l.starts_with("dry run: nothing was changed; run again with --apply")),
        "{out}"
    );
    out
}

/// The issue's first reproduction: segment 2 of a 600-message log deleted.
#[test]
fn a_deleted_middle_segment() {
    let dir = tempdir();
    let d = dir.path();
    build(d, "L", "msg", 600);
    let before = messages(d, "L");
    assert_eq!(before.len(), 600);
    let in_2: BTreeSet<u64> = before
        .keys()
        .copied()
        .filter(|id| id / SEGMENT == 2)
        .collect();
    assert!(before.keys().any(|id| id / SEGMENT > 2));
    let first_2 = *in_2.first().expect("messages in segment 2");
    let max = *before.keys().last().unwrap();
    fs::remove_file(d.join("L").join(seg(2))).unwrap();

    // verify names the file and the ids it held.
    let path = format!("L/{}", seg(2));
    let range = format!("ids {first_2} to {}", 3 * SEGMENT);
    fails(&mapped(d, &["log", "verify", "L"]), &[&path, &range]);

    // tail prints what comes before the gap, then stops naming the file.
    let out = mapped(d, &["log", "tail", "L"]);
    fails(&out, &[&path]);
    let expected: String = before
        .range(..first_2)
        .map(|(_, p)| format!("{p}\n"))
        .collect();
    assert_eq!(text(&out.stdout), expected);

    dry_run_changes_nothing(d, "L");
    ok(&mapped(d, &["log", "recover", "L", "--apply"]));

    let out = ok(&mapped(d, &["log", "verify", "L"]));
    assert!(out.contains(&range) && out.contains("lost"), "{out}");
    assert!(
        out.contains(&format!("ok: {} messages in ", 600 - in_2.len())),
        "{out}"
    );
    let s: serde_json::Value =
        serde_json::from_str(&ok(&mapped(d, &["log", "stat", "L", "--json"]))).expect("JSON");
    assert_eq!(
        s["lost"],
        serde_json::json!([[first_2, 3 * SEGMENT]]),
        "{s}"
    );
    assert_eq!(s["problems"], serde_json::json!([]), "{s}");

    let expected: String = before
        .iter()
        .filter(|(id, _)| !in_2.contains(id))
        .map(|(_, p)| format!("{p}\n"))
        .collect();
    assert_eq!(ok(&mapped(d, &["log", "tail", "L"])), expected);
    let after = messages(d, "L");
    assert!(after.iter().all(|(id, p)| before.get(id) == Some(p)));

    for id in append_ids(d, "L") {
        assert!(id > max, "new id {id} at or below {max}");
    }
}

/// The issue's second reproduction: the last two segments that hold
/// messages deleted (an empty segment made ahead of the roll, if any, is
/// left where it is).
#[test]
fn the_last_two_segments_deleted() {
    let dir = tempdir();
    let d = dir.path();
    build(d, "L", "msg", 600);
    let before = messages(d, "L");
    let max = *before.keys().last().unwrap();
    let tail = max / SEGMENT;
    assert!(tail >= 3, "{tail}");
    for i in [tail - 1, tail] {
        fs::remove_file(d.join("L").join(seg(i))).unwrap();
    }
    let named = format!("L/{}", seg(tail - 1));
    fails(&mapped(d, &["log", "verify", "L"]), &[&named]);
    let out = mapped(d, &["log", "stat", "L", "--json"]);
    fails(&out, &[&named]);
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert!(!s["problems"].as_array().unwrap().is_empty(), "{s}");
    assert_eq!(s["lost"], serde_json::json!([]), "{s}");

    // Appending would hand out ids in the lost tail: refused, and nothing
    // is written.
    let files = snapshot(&d.join("L"));
    let out = mapped_with(d, &["log", "append", "L", "--ids"], Some(b"x\n"));
    fails(&out, &[&format!("L/{}", seg(tail))]);
    assert_eq!(text(&out.stdout), "");
    assert_eq!(snapshot(&d.join("L")), files, "a refused append wrote");

    dry_run_changes_nothing(d, "L");
    ok(&mapped(d, &["log", "recover", "L", "--apply"]));
    let out = ok(&mapped(d, &["log", "verify", "L"]));
    let kept: Vec<_> = before
        .iter()
        .filter(|(id, _)| *id / SEGMENT < tail - 1)
        .collect();
    assert!(
        out.contains(&format!("ok: {} messages in ", kept.len())),
        "{out}"
    );
    let after = messages(d, "L");
    assert_eq!(after.iter().collect::<Vec<_>>(), kept);
    for id in append_ids(d, "L") {
        assert!(id > max, "new id {id} at or below {max}");
    }
}

/// The issue's third reproduction: 14 bytes of garbage at offset 2000 of
/// segment 0 of a 400-message log.
#[test]
fn garbage_in_the_first_segment() {
    let dir = tempdir();
    let d = dir.path();
    build(d, "L", "msg", 400);
    let before = messages(d, "L");
    let path = d.join("L").join(seg(0));
    pwrite(&path, 2000, b"GARBAGEGARBAGE");
    let damaged_bytes = fs::read(&path).unwrap();
    // The records whose bytes the garbage overlaps.
    let hit: BTreeSet<u64> = before
        .keys()
        .copied()
        .filter(|&id| id < 2014 && 2000 < id + RECORD)
        .collect();
    assert!(!hit.is_empty());

    fails(
        &mapped(d, &["log", "verify", "L"]),
        &[&format!("L/{}", seg(0)), "2000"],
    );
    dry_run_changes_nothing(d, "L");
    let report = ok(&mapped(d, &["log", "recover", "L", "--apply"]));
    ok(&mapped(d, &["log", "verify", "L"]));

    let after = messages(d, "L");
    let expected: BTreeMap<u64, String> = before
        .iter()
        .filter(|(id, _)| !hit.contains(id))
        .map(|(id, p)| (*id, p.clone()))
        .collect();
    assert_eq!(after, expected, "{report}");
    // What recovery changed, it kept: segment 0 as it was before.
    assert!(
        quarantined(&d.join("L")).contains(&damaged_bytes),
        "segment 0 is not in quarantine: {report}"
    );
}

/// The issue's fourth reproduction: a named reader whose saved position
/// lies in a deleted segment resumes, after recovery, at the next message
/// there is, and says so.
#[test]
fn a_named_reader_inside_the_lost_range_resumes_after_it() {
    let dir = tempdir();
    let d = dir.path();
    build(d, "L", "msg", 600);
    let before = messages(d, "L");
    let ids: Vec<u64> = before.keys().copied().collect();
    // Read up to the 11th message of segment 2: the next one is saved.
    let n = ids.iter().position(|id| id / SEGMENT == 2).unwrap() + 10;
    let saved = ids[n];
    assert_eq!(saved / SEGMENT, 2);
    let out = ok(&mapped(
        d,
        &["log", "tail", "L", "--name", "r", "--count", &n.to_string()],
    ));
    assert_eq!(out.lines().count(), n);
    fs::remove_file(d.join("L").join(seg(2))).unwrap();

    // Before recovery the reader stops at the missing file.
    let out = mapped(d, &["log", "tail", "L", "--name", "r"]);
    fails(&out, &[&format!("L/{}", seg(2))]);
    assert_eq!(text(&out.stdout), "");

    ok(&mapped(d, &["log", "recover", "L", "--apply"]));
    let out = mapped(d, &["log", "tail", "L", "--name", "r"]);
    let printed = ok(&out);
    let err = text(&out.stderr);
    assert!(
        err.contains("warning") && err.contains("reader r") && err.contains(&saved.to_string()),
        "{err}"
    );
    let expected: String = before
        .iter()
        .filter(|(id, _)| *id / SEGMENT > 2)
        .map(|(_, p)| format!("{p}\n"))
        .collect();
    assert_eq!(printed, expected);
    // And it saved where it got to.
    assert_eq!(ok(&mapped(d, &["log", "tail", "L", "--name", "r"])), "");
}

/// Where a damage lands.
#[derive(Debug, Clone, Copy)]
enum Target {
    First,
    Middle,
    /// The tail segment: the last that holds messages.
    Last,
}

#[derive(Debug, Clone, Copy)]
enum Damage {
    Deleted,
    TruncatedToZero,
    TruncatedMidRecord,
    AnotherLogs,
    HeaderOverwritten,
    PayloadFlipped,
    /// Replaced by a copy of itself taken while it was being filled.
    OlderCopy,
}

/// A 600-message log every case starts from (a copy of it), and another
/// log of the same geometry whose segments stand in for this one's.
struct Base {
    work: tempfile::TempDir,
    messages: BTreeMap<u64, String>,
    tail: u64,
    cases: u32,
    /// Each segment as it was while it was the tail, part filled.
    older: BTreeMap<u64, Vec<u8>>,
}

impl Base {
    fn new() -> Base {
        let work = tempdir();
        let other = work.path().join("other");
        fs::create_dir(&other).unwrap();
        build(&other, "L", "oth", 600);
        // The log itself, in batches, keeping a copy of each segment the
        // first time a batch ends in it; the last batch synced, so that
        // the durable position covers every message.
        let dir = work.path().join("base");
        fs::create_dir(&dir).unwrap();
        ok(&mapped(
            &dir,
            &["log", "create", "L", "--segment-size", "4k"],
        ));
        let all = numbered("msg", 600);
        let lines: Vec<&str> = all.lines().collect();
        let mut older = BTreeMap::new();
        for (k, batch) in lines.chunks(50).enumerate() {
            let input = format!("{}\n", batch.join("\n"));
            let mut args = vec!["log", "append", "L"];
            if k == lines.len().div_ceil(50) - 1 {
                args.extend(["--durability", "sync"]);
            }
            ok(&mapped_with(&dir, &args, Some(input.as_bytes())));
            let s: serde_json::Value =
                serde_json::from_str(&ok(&mapped(&dir, &["log", "stat", "L", "--json"]))).unwrap();
            let last = s["last_segment"].as_u64().unwrap();
            older
                .entry(last)
                .or_insert_with(|| fs::read(dir.join("L").join(seg(last))).unwrap());
        }
        let messages = messages(&work.path().join("base"), "L");
        let tail = *messages.keys().last().unwrap() / SEGMENT;
        assert!(tail >= 2, "{tail}");
        Base {
            work,
            messages,
            tail,
            cases: 0,
            older,
        }
    }

    fn log(&self) -> PathBuf {
        self.work.path().join("base").join("L")
    }

    fn other(&self) -> PathBuf {
        self.work.path().join("other").join("L")
    }

    /// A fresh directory holding a copy of the log as `L`.
    fn case_dir(&mut self) -> PathBuf {
        self.cases += 1;
        let dir = self.work.path().join(format!("case-{}", self.cases));
        copy_dir(&self.log(), &dir.join("L"));
        dir
    }

    fn index(&self, target: Target) -> u64 {
        match target {
            Target::First => 0,
            Target::Middle => self.tail / 2,
            Target::Last => self.tail,
        }
    }

    /// A record of segment `index` near its middle.
    fn record_in(&self, index: u64) -> u64 {
        *self
            .messages
            .keys()
            .find(|&&id| id / SEGMENT == index && id % SEGMENT > 1500)
            .unwrap_or_else(|| panic!("segment {index} ends before its middle"))
    }

    fn max_id(&self) -> u64 {
        *self.messages.keys().last().unwrap()
    }
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            fs::copy(e.path(), dest).unwrap();
        }
    }
}

/// Damages segment `index` of the log in `log`.
fn damage(base: &Base, log: &Path, index: u64, d: Damage) {
    let path = log.join(seg(index));
    let record = base.record_in(index) % SEGMENT;
    match d {
        Damage::Deleted => fs::remove_file(&path).unwrap(),
        Damage::TruncatedToZero => truncate(&path, 0),
        Damage::TruncatedMidRecord => truncate(&path, record + 20),
        Damage::AnotherLogs => {
            fs::copy(base.other().join(seg(index)), &path).unwrap();
        }
        Damage::HeaderOverwritten => pwrite(&path, record, b"GARBAGEGARBAGE"),
        Damage::PayloadFlipped => {
            use std::os::unix::fs::FileExt;
            let mut byte = [0];
            fs::File::open(&path)
                .unwrap()
                .read_exact_at(&mut byte, record + 18)
                .unwrap();
            pwrite(&path, record + 18, &[byte[0] ^ 0xff]);
        }
        Damage::OlderCopy => fs::write(&path, &base.older[&index]).unwrap(),
    }
}

/// A case after recovery: what it needs to check the quarantine.
struct Repaired {
    case: String,
    log: PathBuf,
    file: String,
    /// The damaged file before recovery, if there was one.
    damaged: Option<Vec<u8>>,
    report: String,
}

impl Repaired {
    /// Nothing deleted: if recovery changed or moved the damaged file, the
    /// quarantine holds it as it was, byte for byte.
    fn assert_original_quarantined(&self) {
        let Some(bytes) = &self.damaged else { return };
        if fs::read(self.log.join(&self.file)).ok().as_ref() == Some(bytes) {
            return;
        }
        let kept = quarantined(&self.log);
        assert!(
            kept.contains(bytes),
            "{}: the damaged {} ({} bytes) is not in quarantine (which holds files of {:?} \
             bytes)\n{}",
            self.case,
            self.file,
            bytes.len(),
            kept.iter().map(Vec::len).collect::<Vec<_>>(),
            self.report
        );
    }
}

/// One case of the matrix, but for its quarantine: `dir` holds the damaged
/// log `L`, `file` is the file the damage is in, `damaged` the segments
/// whose messages may be lost.
fn check_case(case: &str, base: &Base, dir: &Path, file: &str, damaged: &[u64]) -> Repaired {
    let log = dir.join("L");
    let named = format!("L/{file}");
    let damaged_bytes = fs::read(log.join(file)).ok();

    // Found and named, by verify and by stat.
    let out = mapped(dir, &["log", "verify", "L"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{case}: verify: {err}");
    assert!(
        err.contains(&named),
        "{case}: verify does not name {named}: {err}"
    );
    let out = mapped(dir, &["log", "stat", "L", "--json"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{case}: stat: {err}");
    assert!(
        err.contains(&named),
        "{case}: stat does not name {named}: {err}"
    );
    // (A log whose control file is unusable cannot be summed up.)
    if !out.stdout.is_empty() {
        let s: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
        let problems = s["problems"].as_array().unwrap();
        assert!(
            problems.iter().any(|p| p["file"] == named.as_str()),
            "{case}: {s}"
        );
    }
    // A reader reads on or stops with an error; what it prints is the
    // log's, with its ids.
    let out = mapped(dir, &["log", "tail", "L", "--format", "json"]);
    for (id, p) in parse_json(&text(&out.stdout)) {
        assert_eq!(
            base.messages.get(&id),
            Some(&p),
            "{case}: tail printed id {id} with other bytes"
        );
    }

    dry_run_changes_nothing(dir, "L");
    let report = ok(&mapped(dir, &["log", "recover", "L", "--apply"]));
    let out = ok(&mapped(dir, &["log", "verify", "L"]));
    assert!(out.contains("ok: "), "{case}: {out}");

    // Every undamaged message kept with its id; every lost one reported.
    let lost = id_ranges(&report, "change: ");
    let after = messages(dir, "L");
    for (id, p) in &after {
        assert_eq!(
            base.messages.get(id),
            Some(p),
            "{case}: id {id} reads back other bytes"
        );
    }
    for id in base.messages.keys() {
        if after.contains_key(id) {
            continue;
        }
        assert!(
            damaged.contains(&(id / SEGMENT)),
            "{case}: undamaged id {id} lost\n{report}"
        );
        assert!(
            lost.iter().any(|&(a, b)| a < id + RECORD && *id < b),
            "{case}: id {id} lost without the report naming it: {lost:?}\n{report}"
        );
    }

    // No id handed out twice.
    let max = base.max_id();
    for id in append_ids(dir, "L") {
        assert!(id > max, "{case}: new id {id} at or below {max}");
    }
    ok(&mapped(dir, &["log", "verify", "L"]));

    Repaired {
        case: case.to_owned(),
        log,
        file: file.to_owned(),
        damaged: damaged_bytes,
        report,
    }
}

/// `d` at the first, a middle and the last segment, each in a fresh copy
/// of `base`'s log.
fn matrix_row(base: &mut Base, d: Damage) -> Vec<Repaired> {
    [Target::First, Target::Middle, Target::Last]
        .into_iter()
        .map(|target| {
            let index = base.index(target);
            let dir = base.case_dir();
            damage(base, &dir.join("L"), index, d);
            let case = format!("{d:?} {target:?} (segment {index})");
            check_case(&case, base, &dir, &seg(index), &[index])
        })
        .collect()
}

/// `d` at every segment but a middle one, in a fresh copy of `base`'s
/// log.
fn all_but_one(base: &mut Base, d: Damage) -> Repaired {
    let keep = base.tail / 2;
    let damaged: Vec<u64> = (0..=base.tail).filter(|&i| i != keep).collect();
    let dir = base.case_dir();
    for &i in &damaged {
        damage(base, &dir.join("L"), i, d);
    }
    let case = format!("{d:?} at every segment but {keep}");
    check_case(&case, base, &dir, &seg(damaged[0]), &damaged)
}

#[test]
fn an_older_copy_of_a_segment() {
    let mut base = Base::new();
    for r in matrix_row(&mut base, Damage::OlderCopy) {
        r.assert_original_quarantined();
    }
}

#[test]
fn every_damage_at_all_segments_but_one() {
    let mut base = Base::new();
    for d in [
        Damage::Deleted,
        Damage::TruncatedToZero,
        Damage::TruncatedMidRecord,
        Damage::AnotherLogs,
        Damage::HeaderOverwritten,
        Damage::PayloadFlipped,
        Damage::OlderCopy,
    ] {
        all_but_one(&mut base, d);
    }
}

#[test]
fn a_deleted_segment() {
    let mut base = Base::new();
    for r in matrix_row(&mut base, Damage::Deleted) {
        r.assert_original_quarantined();
    }
}

#[test]
fn a_segment_truncated_to_zero() {
    let mut base = Base::new();
    for r in matrix_row(&mut base, Damage::TruncatedToZero) {
        r.assert_original_quarantined();
    }
}

/// All but the quarantine: see the next test.
#[test]
fn a_segment_truncated_mid_record() {
    matrix_row(&mut Base::new(), Damage::TruncatedMidRecord);
}

#[test]
fn a_segment_truncated_mid_record_is_quarantined_as_it_was() {
    let mut base = Base::new();
    for r in matrix_row(&mut base, Damage::TruncatedMidRecord) {
        r.assert_original_quarantined();
    }
}

#[test]
fn a_segment_of_another_log() {
    let mut base = Base::new();
    for r in matrix_row(&mut base, Damage::AnotherLogs) {
        r.assert_original_quarantined();
    }
}

#[test]
fn a_record_header_overwritten() {
    let mut base = Base::new();
    for r in matrix_row(&mut base, Damage::HeaderOverwritten) {
        r.assert_original_quarantined();
    }
}

#[test]
fn a_payload_byte_flipped() {
    let mut base = Base::new();
    for r in matrix_row(&mut base, Damage::PayloadFlipped) {
        r.assert_original_quarantined();
    }
}

/// A deleted control file is rebuilt from the segments; every message
/// stays.
#[test]
fn a_deleted_control_file() {
    let mut base = Base::new();
    let dir = base.case_dir();
    fs::remove_file(dir.join("L/control")).unwrap();
    check_case("control deleted", &base, &dir, "control", &[]);
    assert_eq!(messages(&dir, "L").len(), base.messages.len() + 3);
}

/// A control file with bytes 16..20 overwritten: moved into quarantine
/// and rebuilt from the segments; every message stays.
#[test]
fn a_damaged_control_file() {
    let mut base = Base::new();
    let dir = base.case_dir();
    pwrite(&dir.join("L/control"), 16, b"XXXX");
    let r = check_case("control damaged", &base, &dir, "control", &[]);
    r.assert_original_quarantined();
    assert!(
        quarantined(&r.log).contains(r.damaged.as_ref().unwrap()),
        "{}",
        r.report
    );
    assert_eq!(messages(&dir, "L").len(), base.messages.len() + 3);
}

/// Another log's segment dropped in past the tail (and past a segment
/// made ahead of the roll): named, moved into quarantine as it was.
#[test]
fn a_stray_segment_of_another_log() {
    let mut base = Base::new();
    let dir = base.case_dir();
    let stray = seg(base.tail + 6);
    fs::copy(base.other().join(seg(2)), dir.join("L").join(&stray)).unwrap();
    let r = check_case("stray segment", &base, &dir, &stray, &[]);
    assert!(!dir.join("L").join(&stray).exists(), "{}", r.report);
    r.assert_original_quarantined();
    assert_eq!(messages(&dir, "L").len(), base.messages.len() + 3);
}

/// A reader of a log whose tail segment is gone or unusable reads what
/// comes before it, then stops naming it, as it does when a middle segment
/// is gone.
#[test]
fn a_reader_reads_up_to_a_lost_tail_segment() {
    let mut base = Base::new();
    let tail = base.tail;
    let expected: String = base
        .messages
        .iter()
        .filter(|(id, _)| *id / SEGMENT < tail)
        .map(|(_, p)| format!("{p}\n"))
        .collect();
    for d in [
        Damage::Deleted,
        Damage::TruncatedToZero,
        Damage::AnotherLogs,
    ] {
        let dir = base.case_dir();
        damage(&base, &dir.join("L"), tail, d);
        let out = mapped(&dir, &["log", "tail", "L"]);
        fails(&out, &[&format!("L/{}", seg(tail))]);
        assert_eq!(text(&out.stdout), expected, "{d:?}");
    }
}

/// `mapped log create L --segment-size 1M` under `ulimit -f 8`, with
/// SIGXFSZ at its default (it may kill) or ignored. Returns whether the
/// signal killed it; else it must have failed with status 1.
fn create_under_limit(dir: &Path, ignore_xfsz: bool) -> bool {
    let script = if ignore_xfsz {
        r#"trap "" XFSZ; ulimit -f 8; exec "$0" "$@""#
    } else {
        r#"ulimit -f 8; exec "$0" "$@""#
    };
    let out = run_timed(
        dir,
        "bash",
        &[
            "-c",
            script,
            MAPPED,
            "log",
            "create",
            "L",
            "--segment-size",
            "1M",
        ],
    );
    let err = text(&out.stderr);
    if out.status.signal() == Some(libc::SIGXFSZ) {
        eprintln!("create under ulimit -f 8 (ignore SIGXFSZ: {ignore_xfsz}): killed by SIGXFSZ");
        return true;
    }
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.starts_with("mapped: "), "{err}");
    eprintln!("create under ulimit -f 8 (ignore SIGXFSZ: {ignore_xfsz}): exit 1: {err}");
    false
}

/// The names in `dir`.
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// A create that cannot make its segment (the file size limit) leaves
/// nothing behind, in a new directory or an empty one that was there, and
/// a retry without the limit works.
#[test]
fn create_is_all_or_nothing() {
    for ignore_xfsz in [false, true] {
        let dir = tempdir();
        let d = dir.path();
        let killed = create_under_limit(d, ignore_xfsz);
        assert!(!d.join("L").exists(), "killed: {killed}");
        let left = names(d);
        if killed {
            assert!(left.iter().all(|n| n.starts_with('.')), "{left:?}");
            if !left.is_empty() {
                eprintln!("left after SIGXFSZ: {left:?}");
            }
        } else {
            assert_eq!(left, Vec::<String>::new(), "a failed create left files");
        }
        ok(&mapped(d, &["log", "create", "L", "--segment-size", "1M"]));
        assert!(
            ok(&mapped(d, &["log", "verify", "L"])).contains("ok: 0 messages"),
            "ignore SIGXFSZ: {ignore_xfsz}"
        );

        // Into an empty directory that is there already: it stays empty.
        let dir = tempdir();
        let d = dir.path();
        fs::create_dir(d.join("L")).unwrap();
        let killed = create_under_limit(d, ignore_xfsz);
        assert_eq!(names(d), ["L"]);
        let left = names(&d.join("L"));
        if killed {
            assert!(
                left.iter().all(|n| n.starts_with(".create.tmp-")),
                "{left:?}"
            );
            if !left.is_empty() {
                eprintln!("left in L after SIGXFSZ: {left:?}");
            }
        } else {
            assert_eq!(left, Vec::<String>::new(), "a failed create left files");
        }
        ok(&mapped(d, &["log", "create", "L", "--segment-size", "1M"]));
        assert!(ok(&mapped(d, &["log", "verify", "L"])).contains("ok: 0 messages"));
    }
}
