//! `mapped log ...` through the real binary: create, append, tail (text,
//! JSON, named, following), stat, verify, recover, retain, errors, and the
//! demo's log section.

mod common;

use std::fs;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use base64::Engine;
use common::{MAPPED, assert_fails, lines, mapped, next_line, ok, run_with_input, tempdir, text};
use mapped_cli::reaped::Reaped;

/// The first segment file of a log.
const SEGMENT_0: &str = "00000000000000000000.seg";

/// Runs `mapped args...` in `dir`.
/// Creates a log `name` in `dir` with small segments.
fn create(dir: &Path, name: &str, segment_size: &str) {
    ok(&mapped(
        dir,
        &["log", "create", name, "--segment-size", segment_size],
    ));
}

/// Appends `input`'s lines with --ids and returns the ids.
fn append(dir: &Path, log: &str, input: &[u8]) -> Vec<u64> {
    let out = run_with_input(dir, MAPPED, &["log", "append", log, "--ids"], input);
    text(&ok(&out))
        .lines()
        .map(|l| l.parse().unwrap_or_else(|_| panic!("not an id: {l:?}")))
        .collect()
}

/// `mapped log stat --json` as a JSON value.
fn stat(dir: &Path, log: &str) -> serde_json::Value {
    let out = ok(&mapped(dir, &["log", "stat", log, "--json"]));
    serde_json::from_slice(&out).expect("valid JSON")
}

fn spawn(dir: &Path, args: &[&str]) -> Reaped {
    Reaped(
        Command::new(MAPPED)
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn mapped"),
    )
}

/// Everything the child wrote to stderr (call after it exited).
fn stderr_of(child: &mut Reaped) -> String {
    let mut err = String::new();
    child
        .0
        .stderr
        .take()
        .expect("piped stderr")
        .read_to_string(&mut err)
        .expect("read stderr");
    err
}

fn kill(child: &Reaped, signal: libc::c_int) {
    // SAFETY: kill(2) on our own child's pid, which it still is (not reaped).
    let rc = unsafe { libc::kill(child.0.id() as libc::pid_t, signal) };
    assert_eq!(rc, 0);
}

#[test]
fn create_then_create_again_fails() {
    let dir = tempdir();
    let out = ok(&mapped(dir.path(), &["log", "create", "L"]));
    assert_eq!(
        text(&out),
        "created log L: segments of 64.0 MiB, messages up to 1.0 MiB\n"
    );
    assert!(dir.path().join("L/control").exists());
    assert!(dir.path().join("L").join(SEGMENT_0).exists());

    let out = mapped(dir.path(), &["log", "create", "L", "--segment-size", "4k"]);
    assert_fails(&out, &["L", "already exists"]);
    // The first log is untouched.
    assert_eq!(stat(dir.path(), "L")["segment_size"], 64 << 20);

    // Small segments get a maximum message that fits; options are kept.
    let out = ok(&mapped(
        dir.path(),
        &["log", "create", "S", "--segment-size", "4k"],
    ));
    assert!(text(&out).contains("segments of 4.0 KiB"), "{}", text(&out));
    let s = stat(dir.path(), "S");
    assert_eq!(s["segment_size"], 4096);
    assert_eq!(s["max_message"], 4096 - 128 - 16);
    ok(&mapped(
        dir.path(),
        &[
            "log",
            "create",
            "M",
            "--segment-size",
            "1M",
            "--max-message",
            "1k",
        ],
    ));
    assert_eq!(stat(dir.path(), "M")["max_message"], 1024);
}

#[test]
fn append_prints_one_increasing_id_per_line() {
    let dir = tempdir();
    // The log is created if missing; an empty line is an empty message; a
    // \r is kept; bytes need not be UTF-8; the last line has no newline.
    let input = b"one\n\ntwo\r\n\xffbin\nlast";
    let ids = append(dir.path(), "L", input);
    assert_eq!(ids.len(), 5, "{ids:?}");
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    assert_eq!(ids[0], 128, "the first record follows the segment header");

    let out = ok(&mapped(dir.path(), &["log", "tail", "L"]));
    assert_eq!(out, b"one\n\ntwo\r\n\xffbin\nlast\n");

    // Nothing in, nothing appended; without --ids, nothing printed.
    assert!(append(dir.path(), "L", b"").is_empty());
    let out = run_with_input(dir.path(), MAPPED, &["log", "append", "L"], b"six\n");
    assert!(ok(&out).is_empty());
    assert_eq!(stat(dir.path(), "L")["messages"], 6);
}

#[test]
fn append_reads_lines_as_they_arrive() {
    let dir = tempdir();
    create(dir.path(), "L", "64k");
    for durability in ["none", "sync", "interval=10", "interval=10ms"] {
        let mut child = spawn(
            dir.path(),
            &["log", "append", "L", "--ids", "--durability", durability],
        );
        let ids = lines(child.0.stdout.take().unwrap());
        let mut stdin = child.0.stdin.take().unwrap();
        // Each id arrives while stdin is still open: line by line.
        stdin.write_all(b"first\n").unwrap();
        let a: u64 = next_line(&ids, "append").parse().unwrap();
        stdin.write_all(b"second\n").unwrap();
        let b: u64 = next_line(&ids, "append").parse().unwrap();
        assert!(a < b);
        drop(stdin);
        assert!(child.0.wait().unwrap().success(), "{durability}");
    }
    let s = stat(dir.path(), "L");
    assert_eq!(s["messages"], 8);
    // --durability sync moved the durable position past its messages.
    assert!(s["durable_position"].as_u64().unwrap() > 128, "{s}");
}

#[test]
fn append_refuses_a_message_over_the_maximum() {
    let dir = tempdir();
    ok(&mapped(
        dir.path(),
        &[
            "log",
            "create",
            "L",
            "--segment-size",
            "64k",
            "--max-message",
            "8",
        ],
    ));
    let out = run_with_input(
        dir.path(),
        MAPPED,
        &["log", "append", "L", "--ids"],
        b"short\nmuch too long\nafter\n",
    );
    assert_fails(
        &out,
        &[
            "L: line 2 of stdin is 13 bytes, more than the log's maximum message of 8 bytes; \
             1 line was appended, the rest of stdin was not",
        ],
    );
    assert_eq!(text(&out.stdout), "128\n", "the first line went in");
    let out = run_with_input(
        dir.path(),
        MAPPED,
        &["log", "append", "L"],
        b"one\ntwo\nthree is too long\nfour\n",
    );
    assert_fails(
        &out,
        &[
            "line 3 of stdin is 17 bytes",
            "2 lines were appended, the rest of stdin was not",
        ],
    );
    let out = ok(&mapped(dir.path(), &["log", "tail", "L"]));
    assert_eq!(text(&out), "short\none\ntwo\n");
}

#[test]
fn tail_json_is_one_object_per_line() {
    let dir = tempdir();
    let ids = append(dir.path(), "L", b"hello\n\n\xff\xfe\n\"q\"\n");
    let out = ok(&mapped(
        dir.path(),
        &["log", "tail", "L", "--format", "json"],
    ));
    let objects: Vec<serde_json::Value> = text(&out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON object per line"))
        .collect();
    assert_eq!(objects.len(), 4);
    for (o, id) in objects.iter().zip(&ids) {
        assert_eq!(o["id"], *id);
    }
    assert_eq!(objects[0]["payload"], "hello");
    assert_eq!(objects[0]["len"], 5);
    assert!(objects[0].get("encoding").is_none());
    assert_eq!(objects[1]["payload"], "");
    assert_eq!(objects[1]["len"], 0);
    assert_eq!(objects[2]["encoding"], "base64");
    assert_eq!(objects[2]["len"], 2);
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(objects[2]["payload"].as_str().unwrap())
        .unwrap();
    assert_eq!(decoded, b"\xff\xfe");
    assert_eq!(objects[3]["payload"], "\"q\"");

    // --from an id, and --from end (nothing yet).
    let from = ids[2].to_string();
    let out = ok(&mapped(dir.path(), &["log", "tail", "L", "--from", &from]));
    assert_eq!(out, b"\xff\xfe\n\"q\"\n");
    let out = ok(&mapped(dir.path(), &["log", "tail", "L", "--from", "end"]));
    assert!(out.is_empty());
    // An id that is not a record's start.
    let out = mapped(dir.path(), &["log", "tail", "L", "--from", "130"]);
    assert_fails(&out, &["L", "130"]);
}

#[test]
fn named_tail_resumes_after_a_restart() {
    let dir = tempdir();
    append(dir.path(), "L", b"a\nb\nc\nd\n");
    let tail = |args: &[&str]| {
        let mut all = vec!["log", "tail", "L", "--name", "r"];
        all.extend_from_slice(args);
        text(&ok(&mapped(dir.path(), &all)))
    };
    assert_eq!(tail(&["--count", "1"]), "a\n");
    assert_eq!(tail(&["--count", "2"]), "b\nc\n");
    assert_eq!(tail(&[]), "d\n");
    assert_eq!(tail(&[]), "");
    append(dir.path(), "L", b"e\n");
    // A saved position wins over --from.
    assert_eq!(tail(&["--from", "begin"]), "e\n");
    // Another name starts at --from.
    let out = ok(&mapped(
        dir.path(),
        &["log", "tail", "L", "--name", "other", "--from", "end"],
    ));
    assert!(out.is_empty());
    let s = stat(dir.path(), "L");
    let readers = s["named_readers"].as_object().unwrap();
    assert_eq!(readers.len(), 2);
    assert_eq!(readers["r"], readers["other"], "both at the end");

    // A bad name is bad usage, refused before the log is opened.
    for bad in ["no/slash", "../x", "", ".hidden", &"n".repeat(65)] {
        let out = mapped(dir.path(), &["log", "tail", "L", "--name", bad]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {err}");
        assert!(
            err.contains("'--name <NAME>'") && err.contains("1 to 64 of A-Z a-z 0-9 _ - ."),
            "{bad:?}: {err}"
        );
    }
    assert_eq!(
        stat(dir.path(), "L")["named_readers"]
            .as_object()
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn a_follower_saving_after_every_message_resumes_after_the_last_it_printed() {
    let dir = tempdir();
    create(dir.path(), "L", "1M");
    // Far more than a pipe holds: the follower blocks writing to stdout
    // (nobody reads it until it is dead), in the middle of the messages.
    let input: String = (1..=300)
        .map(|i| format!("{i:04} {}\n", "x".repeat(1000)))
        .collect();
    append(dir.path(), "L", input.as_bytes());
    let child = spawn(
        dir.path(),
        &[
            "log",
            "tail",
            "L",
            "--name",
            "r",
            "--follow",
            "--save-every",
            "0",
        ],
    );
    // Time to fill the pipe and block. Whenever it is killed, it has
    // saved the position after each message it finished writing.
    std::thread::sleep(Duration::from_millis(500));
    let mut child = child;
    kill(&child, libc::SIGKILL);
    child.0.wait().unwrap();
    let mut printed = Vec::new();
    child
        .0
        .stdout
        .take()
        .unwrap()
        .read_to_end(&mut printed)
        .unwrap();
    // The complete lines it printed (the last may be cut short).
    let printed = text(&printed);
    let complete: Vec<&str> = printed
        .split_inclusive('\n')
        .filter(|l| l.ends_with('\n'))
        .collect();
    let n = complete.len();
    assert!(0 < n && n < 300, "printed {n} messages");
    for (i, line) in complete.iter().enumerate() {
        assert!(
            line.starts_with(&format!("{:04} ", i + 1)),
            "line {i}: {line:.10}"
        );
    }
    // The next reader of that name starts exactly after them.
    let out = ok(&mapped(
        dir.path(),
        &["log", "tail", "L", "--name", "r", "--count", "1"],
    ));
    assert!(
        text(&out).starts_with(&format!("{:04} ", n + 1)),
        "after {n} printed, resumed at {:.10}",
        text(&out)
    );
}

#[test]
fn follow_prints_later_messages_and_exits_0_on_sigterm() {
    let dir = tempdir();
    append(dir.path(), "L", b"before\n");
    let mut child = spawn(dir.path(), &["log", "tail", "L", "--follow", "--name", "f"]);
    let out = lines(child.0.stdout.take().unwrap());
    assert_eq!(next_line(&out, "tail --follow"), "before");
    append(dir.path(), "L", b"later\n");
    assert_eq!(next_line(&out, "tail --follow"), "later");
    kill(&child, libc::SIGTERM);
    let status = child.0.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{status}");
    let err = stderr_of(&mut child);
    assert!(err.is_empty(), "{err}");
    // It saved its position on the way out.
    let out = ok(&mapped(dir.path(), &["log", "tail", "L", "--name", "f"]));
    assert!(out.is_empty(), "{}", text(&out));

    // SIGINT too, and JSON output while following.
    let mut child = spawn(
        dir.path(),
        &[
            "log", "tail", "L", "--follow", "--from", "end", "--format", "json",
        ],
    );
    let out = lines(child.0.stdout.take().unwrap());
    // It starts at the end as it is when it opens the log, which may be
    // before or after an append: append until it prints one.
    let line = (0..20)
        .find_map(|_| {
            append(dir.path(), "L", b"new\n");
            out.recv_timeout(Duration::from_millis(250)).ok()
        })
        .expect("tail --follow --from end printed nothing");
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["payload"], "new");
    kill(&child, libc::SIGINT);
    assert_eq!(child.0.wait().unwrap().code(), Some(0));
}

#[test]
fn stat_json_keys_and_human_columns() {
    let dir = tempdir();
    create(dir.path(), "L", "64k");
    let empty = stat(dir.path(), "L");
    assert_eq!(empty["messages"], 0);
    assert!(empty["first_id"].is_null() && empty["last_id"].is_null());

    let ids = append(dir.path(), "L", b"abc\nde\n");
    ok(&mapped(dir.path(), &["log", "tail", "L", "--name", "r"]));
    let s = stat(dir.path(), "L");
    let mut keys: Vec<&str> = s.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    let mut expected = [
        "dir",
        "segments",
        "first_segment",
        "last_segment",
        "segments_ahead",
        "segment_size",
        "max_message",
        "first_id",
        "last_id",
        "messages",
        "payload_bytes",
        "file_bytes",
        "durable_position",
        "named_readers",
        "bad_readers",
        "live_appenders",
        "leftover_files",
        "leftover_bytes",
        "lost",
        "problems",
    ];
    expected.sort_unstable();
    assert_eq!(keys, expected);
    assert_eq!(s["dir"], "L");
    assert_eq!(s["segments"], 1);
    assert_eq!(s["first_segment"], 0);
    assert_eq!(s["last_segment"], 0);
    assert_eq!(s["segments_ahead"], 0);
    assert_eq!(s["first_id"], ids[0]);
    assert_eq!(s["last_id"], ids[1]);
    assert_eq!(s["messages"], 2);
    assert_eq!(s["payload_bytes"], 5);
    assert_eq!(s["file_bytes"], 65536);
    assert!(s["durable_position"].is_u64());
    assert!(s["named_readers"]["r"].as_u64().unwrap() > ids[1]);
    assert_eq!(s["bad_readers"], serde_json::json!({}));
    assert_eq!(s["live_appenders"], serde_json::json!([]));

    let human = text(&ok(&mapped(dir.path(), &["log", "stat", "L"])));
    for key in [
        "segments:",
        "first id:",
        "last id:",
        "messages:",
        "payload:",
        "files:",
        "durable position:",
        "named readers:",
        "live appenders:",
    ] {
        assert!(human.contains(key), "{key} missing from {human}");
    }
    assert!(human.contains("live appenders:   none"), "{human}");
    let columns: Vec<usize> = human
        .lines()
        .map(|line| {
            let after = line.find(':').unwrap() + 1;
            after + line[after..].len() - line[after..].trim_start().len()
        })
        .collect();
    assert!(columns.windows(2).all(|w| w[0] == w[1]), "{human}");

    // A live appender shows up by its slot.
    let mut child = spawn(dir.path(), &["log", "append", "L", "--ids"]);
    let ids = lines(child.0.stdout.take().unwrap());
    let mut stdin = child.0.stdin.take().unwrap();
    stdin.write_all(b"x\n").unwrap();
    next_line(&ids, "append");
    let s = stat(dir.path(), "L");
    assert_eq!(s["live_appenders"], serde_json::json!([0]));
    drop(stdin);
    assert!(child.0.wait().unwrap().success());
}

#[test]
fn verify_ok_then_a_flipped_payload_byte_is_named_by_id() {
    let dir = tempdir();
    create(dir.path(), "L", "64k");
    let ids = append(dir.path(), "L", b"first\nsecond\nthird\n");
    let out = ok(&mapped(dir.path(), &["log", "verify", "L"]));
    assert_eq!(text(&out), "ok: 3 messages in 1 segment\n");

    // Flip a payload byte of the second committed record, behind the
    // log's back.
    let seg = dir.path().join("L").join(SEGMENT_0);
    let mut bytes = fs::read(&seg).unwrap();
    let payload = (ids[1] % 65536) as usize + 16;
    assert_eq!(&bytes[payload..payload + 6], b"second");
    bytes[payload] ^= 0x20;
    fs::write(&seg, &bytes).unwrap();

    let out = mapped(dir.path(), &["log", "verify", "L"]);
    let id = format!("id {}", ids[1]);
    let offset = format!("(segment offset {})", ids[1] % 65536);
    assert_fails(&out, &[SEGMENT_0, &id, &offset, "checksum mismatch"]);
    assert!(out.stdout.is_empty());
    // Readers refuse it too, naming the file and the id.
    let out = mapped(dir.path(), &["log", "tail", "L"]);
    assert_fails(&out, &[SEGMENT_0, &id, "checksum"]);
    assert_eq!(out.stdout, b"first\n");

    // A segment file cut short is named as a bad file, not a bad record.
    fs::File::options()
        .write(true)
        .open(&seg)
        .unwrap()
        .set_len(32768)
        .unwrap();
    let out = mapped(dir.path(), &["log", "verify", "L"]);
    assert_fails(
        &out,
        &[SEGMENT_0, "segment file is 32768 bytes", "header is intact"],
    );
    assert!(!text(&out.stderr).contains("corrupt record"));
}

#[test]
fn stat_verify_and_tail_open_a_log_this_user_may_not_write_read_only() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    // As root, the commands run as `nobody`, which must reach the log: a
    // directory under /tmp, not wherever TMPDIR points.
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let dir = tempfile::Builder::new().tempdir_in("/tmp").unwrap();
    create(dir.path(), "L", "64k");
    append(dir.path(), "L", b"a\nb\n");
    ok(&mapped(
        dir.path(),
        &["log", "tail", "L", "--name", "r", "--count", "1"],
    ));
    // Everything readable, nothing writable by the user who looks.
    fn open_up(path: &Path, file_mode: u32) {
        for entry in fs::read_dir(path).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                open_up(&p, file_mode);
            } else {
                fs::set_permissions(&p, fs::Permissions::from_mode(file_mode)).unwrap();
            }
        }
        fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
    }
    open_up(dir.path(), if root { 0o644 } else { 0o444 });
    // A copy of the binary that `nobody` may run, wherever the build put
    // the original.
    let exe = dir.path().join("mapped-copy");
    fs::copy(MAPPED, &exe).unwrap();
    fs::set_permissions(&exe, fs::Permissions::from_mode(0o755)).unwrap();
    let command = |args: &[&str]| {
        let mut cmd = Command::new(&exe);
        cmd.args(args).current_dir(dir.path());
        if root {
            cmd.uid(65534).gid(65534);
        }
        cmd
    };
    let run = |args: &[&str]| command(args).output().unwrap();

    let out = run(&["log", "stat", "L"]);
    let human = text(&ok(&out));
    assert!(
        human.contains("messages:         2") && human.contains("r at "),
        "{human}"
    );
    let err = text(&out.stderr);
    assert!(
        err.contains("opened read-only") && err.contains("Permission denied"),
        "{err}"
    );
    // The note comes once per command, and is all there is on stderr.
    let once = |err: &str| {
        assert_eq!(err.matches("mapped: note:").count(), 1, "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    };
    once(&err);
    let out = run(&["log", "stat", "L", "--json"]);
    ok(&out);
    once(&text(&out.stderr));
    let out = run(&["log", "verify", "L"]);
    assert_eq!(text(&ok(&out)), "ok: 2 messages in 1 segment\n");
    once(&text(&out.stderr));
    // Tail reads it read-only, and says what that means for following.
    let out = run(&["log", "tail", "L"]);
    assert_eq!(text(&ok(&out)), "a\nb\n");
    let err = text(&out.stderr);
    assert!(
        err.contains("opened read-only") && err.contains("every 10 ms"),
        "{err}"
    );
    once(&err);
    // A named reader saves its position in the log: it needs write access.
    let out = run(&["log", "tail", "L", "--name", "r"]);
    assert_fails(&out, &["Permission denied"]);
    // The lock file tells a read-only reader a dead appender from a slow
    // one: one it may not read is an error at once, naming it.
    let lock = dir.path().join("L").join("appenders.lock");
    fs::set_permissions(&lock, fs::Permissions::from_mode(0o200)).unwrap();
    let out = run(&["log", "tail", "L"]);
    assert_fails(&out, &["appenders.lock", "Permission denied"]);
    let readable = if root { 0o644 } else { 0o444 };
    fs::set_permissions(&lock, fs::Permissions::from_mode(readable)).unwrap();
    // Following: new messages reach a read-only follower (which cannot ask
    // to be woken, and looks again every 10 ms), and SIGTERM ends it with
    // status 0. The owner appends: without root, the files are made the
    // owner's to write again once the follower has opened the log.
    let mut child = Reaped(
        command(&["log", "tail", "L", "--follow"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let out = lines(child.0.stdout.take().unwrap());
    assert_eq!(next_line(&out, "read-only tail --follow"), "a");
    assert_eq!(next_line(&out, "read-only tail --follow"), "b");
    if !root {
        open_up(dir.path(), 0o644);
    }
    append(dir.path(), "L", b"c\n");
    assert_eq!(next_line(&out, "read-only tail --follow"), "c");
    kill(&child, libc::SIGTERM);
    assert_eq!(child.0.wait().unwrap().code(), Some(0));
    assert!(stderr_of(&mut child).contains("opened read-only"));
    // The owner's tools see the log as the owner left it.
    let s = stat(dir.path(), "L");
    assert_eq!(s["messages"], 3);
    assert_eq!(s["live_appenders"].as_array().map(Vec::len), Some(0));
    // A user who may write the log gets no note: nothing fell back.
    for args in [
        &["log", "stat", "L"][..],
        &["log", "verify", "L"],
        &["log", "tail", "L"],
    ] {
        let out = mapped(dir.path(), args);
        ok(&out);
        assert!(out.stderr.is_empty(), "{args:?}: {}", text(&out.stderr));
    }
}

#[test]
fn tail_from_a_missing_id_names_that_id() {
    let dir = tempdir();
    create(dir.path(), "L", "64k");
    append(dir.path(), "L", b"a\n");
    // 2^63 falls on a segment boundary: the error names it as given.
    for id in ["9223372036854775808", "9223372036854775816", "1000000"] {
        let out = mapped(dir.path(), &["log", "tail", "L", "--from", id]);
        assert_fails(&out, &[&format!("no record starts at id {id}\n")]);
    }
}

#[test]
fn stat_shows_and_recover_removes_files_killed_creators_left() {
    let dir = tempdir();
    create(dir.path(), "L", "64k");
    append(dir.path(), "L", b"a\n");
    assert_eq!(stat(dir.path(), "L")["leftover_files"], 0);
    // The value of the human summary's "left by crashes" line.
    let left = || {
        let human = text(&ok(&mapped(dir.path(), &["log", "stat", "L"])));
        let line = human.lines().find(|l| l.starts_with("left by crashes:"));
        let value = line.and_then(|l| l.split_once(':')).map(|(_, v)| v.trim());
        value.unwrap_or_else(|| panic!("{human}")).to_owned()
    };
    assert_eq!(left(), "none");
    // What a process killed while making segment 1 leaves behind.
    let leftover = dir
        .path()
        .join("L")
        .join(".00000000000000000001.seg.tmp-4000000-9");
    std::fs::write(&leftover, vec![1u8; 65536]).unwrap();
    let s = stat(dir.path(), "L");
    assert_eq!(s["leftover_files"], 1);
    // The disk it holds: its blocks, so at least its length.
    let held = s["leftover_bytes"].as_u64().unwrap();
    assert!(held >= 65536, "{s}");
    let left_now = left();
    assert!(
        left_now.starts_with(&format!("1 temporary file, {held} bytes (")),
        "{left_now}"
    );
    assert!(
        left_now.ends_with("): `mapped log recover` removes them"),
        "{left_now}"
    );
    // A dry run says what it would remove, and removes nothing.
    let out = text(&ok(&mapped(dir.path(), &["log", "recover", "L"])));
    assert!(
        out.starts_with("1 temporary file left by crashed processes would be removed\n"),
        "{out}"
    );
    assert!(
        out.ends_with(
            "dry run: nothing was changed; run again with --apply to make these changes\n"
        ),
        "{out}"
    );
    assert!(leftover.exists());
    let out = text(&ok(&mapped(
        dir.path(),
        &["log", "recover", "L", "--apply"],
    )));
    assert!(
        out.starts_with("removed 1 temporary file left by crashed processes (")
            && out.lines().next().unwrap().ends_with(" freed)"),
        "{out}"
    );
    assert!(!leftover.exists());
    assert_eq!(stat(dir.path(), "L")["leftover_files"], 0);
    let out = text(&ok(&mapped(
        dir.path(),
        &["log", "recover", "L", "--apply"],
    )));
    assert!(out.starts_with("nothing to repair"), "{out}");
}

#[test]
fn recover_releases_a_killed_writers_slot() {
    let dir = tempdir();
    create(dir.path(), "L", "64k");
    append(dir.path(), "L", b"a\n");
    let out = ok(&mapped(dir.path(), &["log", "recover", "L"]));
    assert_eq!(
        text(&out),
        "nothing to repair\n\
         checked the whole log: 1 valid message\n"
    );

    // A writer dies holding a half-written record.
    let mut writer = spawn(dir.path(), &["__log_spam", "L", "--hold-after", "2"]);
    let said = lines(writer.0.stdout.take().unwrap());
    let line = next_line(&said, "the writer");
    assert!(
        line.starts_with("holding id ") && line.ends_with(" after 2 messages"),
        "{line}"
    );
    // While it lives, its record is not checked.
    let out = text(&ok(&mapped(dir.path(), &["log", "recover", "L"])));
    assert!(
        out.contains("checked but not repaired: 1 appender alive (slot 0)"),
        "{out}"
    );
    kill(&writer, libc::SIGKILL);
    writer.0.wait().unwrap();

    let out = text(&ok(&mapped(dir.path(), &["log", "recover", "L"])));
    assert!(
        out.starts_with("would release 1 appender slot of dead processes"),
        "{out}"
    );
    let out = text(&ok(&mapped(
        dir.path(),
        &["log", "recover", "L", "--apply"],
    )));
    assert!(
        out.starts_with("released 1 appender slot of dead processes"),
        "{out}"
    );
    assert!(
        out.trim_end()
            .ends_with("checked the whole log: 3 valid messages"),
        "{out}"
    );
    let out = ok(&mapped(dir.path(), &["log", "verify", "L"]));
    assert_eq!(text(&out), "ok: 3 messages in 1 segment\n");
    let out = ok(&mapped(dir.path(), &["log", "tail", "L"]));
    assert_eq!(out, b"a\nspam 1\nspam 2\n");
}

#[test]
fn a_writer_killed_mid_stream_blocks_nobody() {
    let dir = tempdir();
    create(dir.path(), "L", "1M");
    let mut writer = spawn(dir.path(), &["__log_spam", "L"]);
    let said = lines(writer.0.stdout.take().unwrap());
    assert_eq!(next_line(&said, "the writer"), "appending");
    std::thread::sleep(Duration::from_millis(20));
    kill(&writer, libc::SIGKILL);
    writer.0.wait().unwrap();

    // No recover needed: a new appender and a reader go on at once.
    let id = append(dir.path(), "L", b"after the crash\n")[0];
    let out = ok(&mapped(
        dir.path(),
        &["log", "tail", "L", "--format", "json"],
    ));
    let out = text(&out);
    let last: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert_eq!(last["payload"], "after the crash");
    assert_eq!(last["id"], id);
    let n = out.lines().count();
    // Every spam message is there, in order, numbered from 1.
    for (i, line) in out.lines().take(n - 1).enumerate() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["payload"], format!("spam {}", i + 1));
    }
    let s = stat(dir.path(), "L");
    assert_eq!(s["live_appenders"], serde_json::json!([]));
    assert_eq!(s["messages"], n);
    let verdict = text(&ok(&mapped(dir.path(), &["log", "verify", "L"])));
    assert!(
        verdict.starts_with(&format!("ok: {n} messages in ")),
        "{verdict}"
    );
}

#[test]
fn retain_removes_old_segments_unless_a_named_reader_needs_them() {
    let dir = tempdir();
    create(dir.path(), "L", "4096");
    // Each record takes 24 bytes: about 165 per segment.
    let input: String = (0..1000).map(|i| format!("m{i:05}\n")).collect();
    append(dir.path(), "L", input.as_bytes());
    let segments = stat(dir.path(), "L")["segments"].as_u64().unwrap();
    assert!(segments >= 6, "{segments}");
    // A named reader that has read nothing holds everything.
    ok(&mapped(
        dir.path(),
        &["log", "tail", "L", "--name", "slow", "--count", "1"],
    ));

    let out = text(&ok(&mapped(
        dir.path(),
        &["log", "retain", "L", "--max-bytes", "8k"],
    )));
    assert_eq!(
        out,
        "removed nothing\nkept back by a named reader: slow \
         (not finished with the next segment; --force removes it anyway)\n"
    );
    let out = text(&ok(&mapped(
        dir.path(),
        &["log", "retain", "L", "--max-bytes", "8k", "--force"],
    )));
    let removed = segments - 2;
    let list: Vec<String> = (0..removed).map(|i| i.to_string()).collect();
    assert_eq!(
        out,
        format!(
            "removed {removed} segments: {} ({:.1} KiB)\n",
            list.join(", "),
            (removed * 4) as f64
        )
    );
    let s = stat(dir.path(), "L");
    assert_eq!(s["segments"], 2);
    assert_eq!(s["first_segment"], removed);
    // The reader left behind is warned, and resumes where the log now
    // starts.
    let out = mapped(
        dir.path(),
        &["log", "tail", "L", "--name", "slow", "--count", "1"],
    );
    let err = text(&out.stderr);
    assert!(
        err.starts_with("mapped: warning: reader slow: its saved position ")
            && err.contains("recovery or retention removed"),
        "{err}"
    );
    let first = ok(&out);
    let out = text(&ok(&mapped(
        dir.path(),
        &["log", "tail", "L", "--count", "1"],
    )));
    assert_eq!(text(&first), out, "resumed at the oldest message left");
    // The rest still reads, ending with the last message.
    let out = text(&ok(&mapped(dir.path(), &["log", "tail", "L"])));
    assert_eq!(out.lines().last(), Some("m00999"));

    // Nothing more to do by count or age.
    let out = text(&ok(&mapped(
        dir.path(),
        &[
            "log",
            "retain",
            "L",
            "--max-messages",
            "100000",
            "--max-age",
            "1h",
        ],
    )));
    assert!(out.starts_with("removed nothing"), "{out}");
}

#[test]
fn bad_usage_exits_2() {
    let dir = tempdir();
    create(dir.path(), "L", "64k");
    for args in [
        &["log"][..],
        &["log", "frobnicate"],
        &["log", "create"],
        &["log", "create", "N", "--segment-size", "100"],
        &["log", "create", "N", "--segment-size", "4q"],
        &[
            "log",
            "create",
            "N",
            "--segment-size",
            "4k",
            "--max-message",
            "8k",
        ],
        &["log", "create", "N", "--max-message", "8G"],
        &["log", "create", "N", "--max-message", "0"],
        &["log", "append", "L", "--durability", "sometimes"],
        &["log", "append", "L", "--durability", "interval=0"],
        &["log", "append", "L", "--durability", "interval=0ms"],
        &["log", "append", "L", "--durability", "interval=1.5s"],
        &["log", "tail", "L", "--count", "0"],
        &["log", "tail", "L", "--save-every", "0"],
        &["log", "tail", "L", "--name", "r", "--save-every", "soon"],
        &["log", "tail", "L", "--from", "middle"],
        &["log", "tail", "L", "--format", "xml"],
        &["log", "stat"],
        &["log", "verify", "L", "extra"],
        &["log", "retain", "L"],
        &["log", "retain", "L", "--force"],
        &["log", "retain", "L", "--max-age", "3 days"],
        &["log", "retain", "L", "--max-age", "3y"],
    ] {
        let out = mapped(dir.path(), args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "args {args:?}: {}",
            text(&out.stderr)
        );
        assert!(!out.stderr.is_empty(), "args {args:?}");
    }
    assert!(!dir.path().join("N").exists());
    let help = text(&ok(&mapped(dir.path(), &["log", "--help"])));
    for cmd in [
        "create", "append", "tail", "stat", "verify", "recover", "retain",
    ] {
        assert!(help.contains(cmd), "{cmd} missing from {help}");
    }
    let help = text(&ok(&mapped(dir.path(), &["--help"])));
    assert!(
        help.contains("log") && !help.contains("__log_spam"),
        "{help}"
    );
}

#[test]
fn missing_or_foreign_directory_fails_naming_it() {
    let dir = tempdir();
    for args in [
        &["log", "tail", "nosuch"][..],
        &["log", "stat", "nosuch"],
        &["log", "verify", "nosuch"],
        &["log", "recover", "nosuch"],
        &["log", "retain", "nosuch", "--max-bytes", "1M"],
    ] {
        let out = mapped(dir.path(), args);
        assert_fails(&out, &["nosuch", "No such file or directory"]);
    }
    assert!(!dir.path().join("nosuch").exists());
    fs::create_dir(dir.path().join("empty")).unwrap();
    let out = mapped(dir.path(), &["log", "stat", "empty"]);
    assert_fails(&out, &["empty", "not a log directory", "mapped log create"]);

    // A log is made in a new directory, never in a new tree of them (a
    // mistyped path), and never over a file.
    let out = mapped(dir.path(), &["log", "create", "no/such/L"]);
    assert_fails(&out, &["no/such/L", "its parent directory does not exist"]);
    let out = run_with_input(dir.path(), MAPPED, &["log", "append", "no/such/L"], b"a\n");
    assert_fails(&out, &["no/such/L", "its parent directory does not exist"]);
    assert!(!dir.path().join("no").exists());
    fs::write(dir.path().join("afile"), b"").unwrap();
    let out = run_with_input(dir.path(), MAPPED, &["log", "append", "afile"], b"a\n");
    assert_fails(&out, &["afile", "not a directory"]);
}

#[test]
fn a_damaged_reader_file_is_named_once_and_stat_still_summarizes() {
    let dir = tempdir();
    create(dir.path(), "L", "64k");
    append(dir.path(), "L", b"a\nb\n");
    ok(&mapped(dir.path(), &["log", "tail", "L", "--name", "good"]));
    let readers = dir.path().join("L").join("readers");
    fs::write(readers.join("short"), b"garbage\n").unwrap();
    fs::create_dir(readers.join("dir")).unwrap();

    // The named reader's own error, with its OS error said once.
    let out = mapped(dir.path(), &["log", "tail", "L", "--name", "dir"]);
    assert_fails(&out, &["readers/dir", "Is a directory"]);
    let err = text(&out.stderr);
    assert_eq!(err.matches("os error").count(), 1, "{err}");

    // stat prints its summary, lists the damaged readers, and fails.
    let out = mapped(dir.path(), &["log", "stat", "L"]);
    assert_fails(&out, &["readers/dir", "(and 1 more)"]);
    let human = text(&out.stdout);
    assert!(human.contains("messages:         2"), "{human}");
    assert!(
        human.contains("good at ") && human.contains("short (damaged file)"),
        "{human}"
    );
    let out = mapped(dir.path(), &["log", "stat", "L", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["messages"], 2);
    assert!(s["named_readers"]["good"].is_u64(), "{s}");
    let short = s["bad_readers"]["short"].as_str().unwrap();
    assert!(short.contains("reader position file is 8 bytes"), "{short}");
    // Retention, which must know every reader's position, refuses.
    let out = mapped(dir.path(), &["log", "retain", "L", "--max-bytes", "1"]);
    assert_fails(&out, &["readers/dir"]);
}

#[test]
fn append_ids_into_a_closed_pipe_fails_and_says_how_far_it_got() {
    let dir = tempdir();
    create(dir.path(), "L", "1M");
    let input: String = (0..200_000).map(|i| format!("{i}\n")).collect();
    let mut child = spawn(dir.path(), &["log", "append", "L", "--ids"]);
    let mut stdin = child.0.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        // Fails once the appender stops reading: expected.
        let _ = stdin.write_all(input.as_bytes());
    });
    let mut stdout = child.0.stdout.take().unwrap();
    let mut byte = [0u8; 1];
    stdout.read_exact(&mut byte).unwrap();
    drop(stdout);
    let status = child.0.wait().unwrap();
    writer.join().unwrap();
    let err = stderr_of(&mut child);
    assert_eq!(status.code(), Some(1), "stderr: {err}");
    assert!(
        err.contains("Broken pipe") && err.contains("the rest of stdin was not appended"),
        "{err}"
    );
    // The line it names is the last one in the log.
    let line: u64 = err
        .split(": line ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no line number in {err}"));
    let tail = text(&ok(&mapped(dir.path(), &["log", "tail", "L"])));
    assert_eq!(tail.lines().count() as u64, line, "{err}");
    assert_eq!(tail.lines().last(), Some((line - 1).to_string().as_str()));
}

#[test]
fn closed_output_pipe_ends_tail_quietly() {
    let dir = tempdir();
    create(dir.path(), "L", "1M");
    let input: String = (0..20_000).map(|i| format!("message {i}\n")).collect();
    let out = run_with_input(
        dir.path(),
        MAPPED,
        &["log", "append", "L"],
        input.as_bytes(),
    );
    ok(&out);
    for follow in [false, true] {
        let mut args = vec!["log", "tail", "L"];
        if follow {
            args.push("--follow");
        }
        let mut child = spawn(dir.path(), &args);
        let mut stdout = child.0.stdout.take().unwrap();
        let mut byte = [0u8; 1];
        stdout.read_exact(&mut byte).unwrap();
        assert_eq!(&byte, b"m");
        drop(stdout);
        let status = child.0.wait().unwrap();
        let err = stderr_of(&mut child);
        assert_eq!(status.code(), Some(0), "follow {follow}, stderr: {err}");
        assert!(err.is_empty(), "follow {follow}, stderr: {err}");
    }
}

#[test]
fn demo_shows_the_log_section() {
    let dir = tempdir();
    let out = mapped(dir.path(), &["demo"]);
    let stdout = text(&ok(&out));
    assert!(out.stderr.is_empty(), "stderr: {}", text(&out.stderr));
    for fact in [
        "5. A message log: followers, restarts and a killed writer",
        "$ mapped log create events --segment-size 1M --max-message 64k",
        // A follower and an appender, in lockstep.
        "    appender < hello\n    appender | id 128\n    follower | hello\n",
        "    follower | from another process\n",
        "    follower | third message\n",
        "(the follower exited with status 0)",
        // The named reader resumes after a restart.
        "$ mapped log tail events --name audit --count 2\n    hello\n    from another process\n",
        "$ mapped log tail events --name audit\n    third message\n",
        // The killed writer.
        "writer   | holding id 296 after 3 messages",
        "$ kill -KILL %1",
        "live appenders:   none",
        "$ mapped log tail events --name audit\n    spam 1\n    spam 2\n    spam 3\n",
        "$ mapped log tail events --name audit\n    after the crash\n",
        "$ mapped log recover events\n    nothing to repair\n",
        "$ mapped log verify events\n    ok: 7 messages in 1 segment\n",
    ] {
        assert!(stdout.contains(fact), "{fact:?} missing from:\n{stdout}");
    }
}

#[test]
fn recover_reports_restart_recovery_run_by_the_open() {
    let dir = tempdir();
    create(dir.path(), "L", "64k");
    append(dir.path(), "L", b"a\nb\n");
    // Pretend the system restarted: the control file's boot id (40 bytes
    // at offset 256) no longer matches the running system's.
    let control = dir.path().join("L/control");
    let mut bytes = fs::read(&control).unwrap();
    bytes[256..296].copy_from_slice(&[b'x'; 40]);
    fs::write(&control, &bytes).unwrap();

    // A dry run does not run restart recovery: it says it is due.
    let out = text(&ok(&mapped(dir.path(), &["log", "recover", "L"])));
    assert!(
        out.starts_with("the system restarted since the log was last used: with --apply"),
        "{out}"
    );
    let out = text(&ok(&mapped(dir.path(), &["log", "recover", "L"])));
    assert!(out.starts_with("the system restarted"), "still due: {out}");
    let out = text(&ok(&mapped(
        dir.path(),
        &["log", "recover", "L", "--apply"],
    )));
    let mut lines = out.lines();
    assert_eq!(
        lines.next(),
        Some("restart recovery ran on open (the system restarted since the log was last used):"),
        "{out}"
    );
    assert_eq!(lines.next(), Some("  nothing to repair"), "{out}");
    assert!(
        out.contains("  checked 2 committed records past the durable position (id 128)"),
        "{out}"
    );
    // Once only: the boot id is current again.
    let out = text(&ok(&mapped(dir.path(), &["log", "recover", "L"])));
    assert!(!out.contains("restart recovery"), "{out}");
    assert_eq!(ok(&mapped(dir.path(), &["log", "tail", "L"])), b"a\nb\n");
}

/// A log made for a group (`--mode 664 --group G`): an appender of the
/// group makes new segments as it rolls, a follower of the group reads
/// them as they come (and saves its position), and a user outside the
/// group reads the log read-only. Every file keeps the log's mode and
/// group, whoever made it. As root only (it switches users); otherwise it
/// checks what one user can: the modes.
#[test]
fn a_log_shared_by_a_group_is_followed_across_rolls_by_other_users() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    use std::os::unix::process::CommandExt;
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    const GROUP: u32 = 4242;
    let dir = tempfile::Builder::new().tempdir_in("/tmp").unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let exe = dir.path().join("mapped-copy");
    fs::copy(MAPPED, &exe).unwrap();
    fs::set_permissions(&exe, fs::Permissions::from_mode(0o755)).unwrap();
    let as_user = |uid: u32, gid: u32, args: &[&str]| {
        let mut cmd = Command::new(&exe);
        cmd.args(args).current_dir(dir.path());
        if root {
            // (As root, std also drops the supplementary groups: the
            // primary group is the one that counts.)
            cmd.uid(uid).gid(gid);
        }
        cmd
    };
    let mut args = vec![
        "log",
        "create",
        "L",
        "--segment-size",
        "4k",
        "--mode",
        "664",
    ];
    let group = GROUP.to_string();
    if root {
        args.extend(["--group", &group]);
    }
    ok(&mapped(dir.path(), &args));
    let (writer, follower, outsider) = ((4001, GROUP), (4002, GROUP), (65534, 65534));

    // The follower, a named reader, starts before the appends.
    let follow = as_user(
        follower.0,
        follower.1,
        &[
            "log", "tail", "L", "--name", "f", "--follow", "--count", "2000",
        ],
    )
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    // The writer: 2000 messages, about 12 segments.
    let input: String = (0..2000).map(|i| format!("m{i:05}\n")).collect();
    let mut w = as_user(writer.0, writer.1, &["log", "append", "L"])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    w.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let wout = w.wait_with_output().unwrap();
    assert!(wout.status.success(), "writer: {}", text(&wout.stderr));
    let fout = follow.wait_with_output().unwrap();
    assert!(fout.status.success(), "follower: {}", text(&fout.stderr));
    assert_eq!(text(&fout.stdout), input, "the follower saw every message");

    // Every file, whoever made it, has the log's mode and group.
    let mut segments = 0;
    let mut check = |p: &Path| {
        let m = fs::metadata(p).unwrap();
        if m.is_dir() {
            assert_eq!(m.mode() & 0o777, 0o775, "{}", p.display());
        } else {
            assert_eq!(m.mode() & 0o777, 0o664, "{}", p.display());
            segments += u32::from(p.extension().is_some_and(|e| e == "seg"));
        }
        if root {
            assert_eq!(m.gid(), GROUP, "{}", p.display());
        }
    };
    let log = dir.path().join("L");
    check(&log);
    for e in fs::read_dir(&log).unwrap() {
        let p = e.unwrap().path();
        check(&p);
        if p.is_dir() {
            for e in fs::read_dir(&p).unwrap() {
                check(&e.unwrap().path());
            }
        }
    }
    assert!(segments >= 10, "{segments} segments");
    if root {
        let m = fs::metadata(&log).unwrap();
        assert_ne!(m.mode() & 0o2000, 0, "set-group-ID directory");
        assert_eq!(m.uid(), 0);
        // Segments made by the writer are its own, in the log's group.
        let seg = fs::metadata(log.join("00000000000000000005.seg")).unwrap();
        assert_eq!((seg.uid(), seg.gid()), (writer.0, GROUP));
    }

    // A user outside the group reads it read-only.
    let out = as_user(outsider.0, outsider.1, &["log", "tail", "L"])
        .output()
        .unwrap();
    assert_eq!(text(&ok(&out)), input);
    if root {
        assert!(
            text(&out.stderr).contains("opened read-only"),
            "{}",
            text(&out.stderr)
        );
    }
}

#[test]
fn create_refuses_a_maximum_message_the_segments_cannot_hold_as_bad_usage() {
    let dir = tempdir();
    for (max, why) in [
        ("0", "--max-message: must be at least 1 byte"),
        ("8k", "does not fit in a 4096-byte segment"),
    ] {
        let out = mapped(
            dir.path(),
            &[
                "log",
                "create",
                "L",
                "--segment-size",
                "4k",
                "--max-message",
                max,
            ],
        );
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{max}: {err}");
        assert!(err.contains(why), "{max}: {err}");
        assert!(err.contains("Usage: mapped log create"), "{max}: {err}");
        assert!(!dir.path().join("L").exists(), "{max}: nothing made");
    }
}
