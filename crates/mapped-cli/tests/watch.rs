//! `mapped watch`: sees another process's stores through its mapping, and
//! waits out a truncation instead of dying of `SIGBUS`.

mod common;

use std::fs::{self, OpenOptions};
use std::io::Read;
use std::process::{Command, Stdio};

use common::{MAPPED, lines, next_line, tempdir};

/// The watcher, killed if the test fails before it exits.
use mapped_cli::reaped::Reaped as Watcher;

fn spawn_watch(dir: &std::path::Path, args: &[&str]) -> Watcher {
    Watcher(
        Command::new(MAPPED)
            .arg("watch")
            .args(args)
            .current_dir(dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn mapped watch"),
    )
}

#[test]
fn prints_initial_contents_then_each_change() {
    let dir = tempdir();
    let path = dir.path().join("f");
    fs::write(&path, b"hello\0\0\0\0\0tail").unwrap();
    let mut w = spawn_watch(
        dir.path(),
        &["f", "--len", "10", "--count", "3", "--interval", "5"],
    );
    let out = lines(w.0.stdout.take().unwrap());
    assert_eq!(next_line(&out, "watch"), "hello\\x00\\x00\\x00\\x00\\x00");

    // A store through another process's shared mapping: no write(2).
    let map = mapped::Mapping::open_rw(&path).unwrap();
    map.write_at(0, b"world").unwrap();
    assert_eq!(next_line(&out, "watch"), "world\\x00\\x00\\x00\\x00\\x00");
    // A change past the range is not reported; one inside is.
    map.write_at(12, b"XX").unwrap();
    map.write_at(9, b"!").unwrap();
    assert_eq!(next_line(&out, "watch"), "world\\x00\\x00\\x00\\x00!");

    let status = w.0.wait().unwrap();
    assert!(status.success());
}

/// Waits for the watcher and returns its stdout.
fn stdout_of(mut w: Watcher) -> Vec<u8> {
    let mut stdout = Vec::new();
    w.0.stdout.take().unwrap().read_to_end(&mut stdout).unwrap();
    let status = w.0.wait().unwrap();
    assert!(status.success(), "{status}");
    stdout
}

#[test]
fn offset_raw_and_cstr() {
    let dir = tempdir();
    fs::write(dir.path().join("f"), b"....abc\0zz").unwrap();
    let w = spawn_watch(dir.path(), &["f", "--offset", "4", "--count", "1", "--raw"]);
    assert_eq!(stdout_of(w), b"abc\0zz\n");
    let w = spawn_watch(
        dir.path(),
        &["f", "--offset", "4", "--count", "1", "--cstr"],
    );
    assert_eq!(stdout_of(w), b"abc\n");
    let w = spawn_watch(
        dir.path(),
        &["f", "--offset", "4", "--len", "2", "--count", "1"],
    );
    assert_eq!(stdout_of(w), b"ab\n");
}

#[test]
fn survives_truncation_and_resumes_when_the_file_comes_back() {
    let dir = tempdir();
    let path = dir.path().join("f");
    fs::write(&path, b"abcdefghij").unwrap();
    let mut w = spawn_watch(dir.path(), &["f", "--count", "2", "--interval", "5"]);
    let out = lines(w.0.stdout.take().unwrap());
    let err = lines(w.0.stderr.take().unwrap());
    assert_eq!(next_line(&out, "watch"), "abcdefghij");

    OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(3)
        .unwrap();
    let notice = next_line(&err, "watch's stderr");
    // Usually the watcher's fstat sees the truncation; if it lands between
    // the fstat and the copy, the library reports the fault instead.
    assert!(
        notice.starts_with("mapped: watch: f")
            && notice.contains("3 bytes")
            && notice.contains("waiting"),
        "{notice}"
    );

    fs::write(&path, b"ABCDEFGHIJ").unwrap();
    assert_eq!(next_line(&out, "watch"), "ABCDEFGHIJ");
    let status = w.0.wait().unwrap();
    assert!(status.success());
    let resumed = next_line(&err, "watch's stderr");
    assert!(resumed.contains("again"), "{resumed}");
}

#[test]
fn sigterm_ends_the_watch_with_status_0() {
    let dir = tempdir();
    fs::write(dir.path().join("f"), b"x").unwrap();
    let mut w = spawn_watch(dir.path(), &["f", "--interval", "5"]);
    let out = lines(w.0.stdout.take().unwrap());
    assert_eq!(next_line(&out, "watch"), "x");
    // SAFETY: kill(2) on our own child's pid, which it still is (not reaped).
    let rc = unsafe { libc::kill(w.0.id() as libc::pid_t, libc::SIGTERM) };
    assert_eq!(rc, 0);
    let status = w.0.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{status}");
}
