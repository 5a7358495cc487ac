//! `mapped cat`, `write` and `info`, usage errors, failures and a closed
//! output pipe, through the real `mapped` binary.

mod common;

use std::fs;
use std::io::{Read, Write};
use std::process::{Command, Stdio};

use common::{MAPPED, T_MMAP, assert_fails, run_in, run_timed, tempdir, text};

#[test]
fn cat_whole_file_and_ranges() {
    let dir = tempdir();
    let data: Vec<u8> = (0..3000u32).map(|i| (i % 251) as u8).collect();
    fs::write(dir.path().join("f"), &data).unwrap();

    let out = run_in(dir.path(), MAPPED, &["cat", "f"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(out.stdout, data);

    let out = run_in(
        dir.path(),
        MAPPED,
        &["cat", "f", "--offset", "1k", "--len", "10"],
    );
    assert_eq!(out.stdout, &data[1024..1034]);
    let out = run_in(dir.path(), MAPPED, &["cat", "f", "--offset", "2990"]);
    assert_eq!(out.stdout, &data[2990..]);
    let out = run_in(dir.path(), MAPPED, &["cat", "f", "--offset", "3000"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty());
}

#[test]
fn cat_empty_file() {
    let dir = tempdir();
    fs::write(dir.path().join("empty"), b"").unwrap();
    let out = run_in(dir.path(), MAPPED, &["cat", "empty"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty() && out.stderr.is_empty());
}

#[test]
fn cat_past_the_end_fails_naming_the_file() {
    let dir = tempdir();
    fs::write(dir.path().join("f"), [7u8; 100]).unwrap();
    let out = run_in(dir.path(), MAPPED, &["cat", "f", "--offset", "101"]);
    assert_fails(&out, &["f", "offset 101", "past the end", "100 bytes"]);
    assert!(out.stdout.is_empty());
    let out = run_in(
        dir.path(),
        MAPPED,
        &["cat", "f", "--offset", "90", "--len", "11"],
    );
    assert_fails(&out, &["f", "past the end", "100 bytes"]);
    assert!(out.stdout.is_empty());
}

#[test]
fn missing_file_fails_naming_the_path() {
    let dir = tempdir();
    for args in [
        &["cat", "nosuch.bin"][..],
        &["info", "nosuch.bin"],
        &["watch", "nosuch.bin", "--count", "1"],
        &["write", "nosuch.bin", "--offset", "0", "x"],
    ] {
        let out = run_in(dir.path(), MAPPED, args);
        assert_fails(&out, &["nosuch.bin", "No such file or directory"]);
    }
    assert!(!dir.path().join("nosuch.bin").exists());
}

#[test]
fn directory_is_refused() {
    let dir = tempdir();
    let out = run_in(dir.path(), MAPPED, &["info", "."]);
    assert_fails(&out, &["not a regular file"]);
    let out = run_in(dir.path(), MAPPED, &["cat", "."]);
    assert_fails(&out, &["not a regular file"]);
}

#[test]
fn bad_usage_exits_2() {
    let dir = tempdir();
    fs::write(dir.path().join("f"), b"abc").unwrap();
    for args in [
        &[][..],
        &["frobnicate"],
        &["cat"],
        &["cat", "f", "--offset", "4q"],
        &["cat", "f", "--bogus"],
        &["write", "f", "--offset", "0"],
        &["write", "f", "x"],
        &["write", "f", "--offset", "0", "x", "--stdin"],
        &["watch", "f", "--interval", "0"],
        &["watch", "f", "--interval", "0ms"],
        &["watch", "f", "--interval", "1.5s"],
        &["watch", "f", "--count", "0"],
        &["watch", "f", "--count", "-1"],
        &["cat", "f", "--offset", "1.5"],
        &["cat", "f", "--len", "-1"],
    ] {
        let out = run_in(dir.path(), MAPPED, args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "args {args:?}: {}",
            text(&out.stderr)
        );
        assert!(!out.stderr.is_empty(), "args {args:?}");
    }
    let out = run_in(dir.path(), MAPPED, &["cat", "f", "--offset", "4q"]);
    assert!(text(&out.stderr).contains("invalid size '4q'"));
    assert_eq!(fs::read(dir.path().join("f")).unwrap(), b"abc");
}

#[test]
fn a_negative_offset_is_a_usage_error_that_says_so() {
    let dir = tempdir();
    fs::write(dir.path().join("f"), b"abc").unwrap();
    for args in [
        &["cat", "f", "--offset", "-1"][..],
        &["write", "f", "--offset", "-1", "x"],
        &["write", "f", "--offset", "-1k", "x", "--grow"],
        &["watch", "f", "--offset", "-1", "--count", "1"],
    ] {
        let out = run_timed(dir.path(), MAPPED, args);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "args {args:?}: {err}");
        assert!(
            err.contains("for '--offset <N>'") && err.contains("a size cannot be negative"),
            "args {args:?}: {err}"
        );
        // Not clap's advice to write `-- -1`, which would not help.
        assert!(!err.contains("tip:"), "args {args:?}: {err}");
    }
    assert_eq!(fs::read(dir.path().join("f")).unwrap(), b"abc");
}

#[test]
fn watch_count_0_is_a_usage_error() {
    let dir = tempdir();
    fs::write(dir.path().join("f"), b"abc").unwrap();
    let out = run_timed(dir.path(), MAPPED, &["watch", "f", "--count", "0"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("'--count <K>'") && err.contains("at least 1"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn sizes_take_fractions_rounded_to_the_byte() {
    let dir = tempdir();
    let data: Vec<u8> = (0..3000u32).map(|i| (i % 251) as u8).collect();
    fs::write(dir.path().join("f"), &data).unwrap();
    let out = run_in(
        dir.path(),
        MAPPED,
        &["cat", "f", "--offset", "0.5k", "--len", "0.25k"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(out.stdout, &data[512..768]);
    // 0.1k is 102.4 bytes: 102.
    let out = run_in(dir.path(), MAPPED, &["cat", "f", "--len", "0.1k"]);
    assert_eq!(out.stdout, &data[..102]);
    // A number of bytes must be whole.
    let out = run_in(dir.path(), MAPPED, &["cat", "f", "--len", "1.5"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("whole"), "{}", text(&out.stderr));
    let out = run_in(
        dir.path(),
        MAPPED,
        &["write", "g", "--offset", "1.5k", "x", "--grow"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(fs::metadata(dir.path().join("g")).unwrap().len(), 1537);
}

/// Makes in `dir` a FIFO `fifo` and a socket `sock` (kept open by the
/// returned listener) and returns the paths to try: those two, a device
/// and a /proc file.
fn special_files(dir: &std::path::Path) -> (std::os::unix::net::UnixListener, Vec<String>) {
    let status = Command::new("mkfifo")
        .arg("fifo")
        .current_dir(dir)
        .status()
        .expect("run mkfifo");
    assert!(status.success());
    let listener = std::os::unix::net::UnixListener::bind(dir.join("sock")).unwrap();
    let paths = ["fifo", "sock", "/dev/null", "/proc/self/status"];
    (listener, paths.map(str::to_owned).to_vec())
}

#[test]
fn fifos_sockets_devices_and_proc_files_are_refused_at_once() {
    let dir = tempdir();
    let (_listener, paths) = special_files(dir.path());
    for path in &paths {
        let p = path.as_str();
        for args in [
            &["cat", p][..],
            &["watch", p, "--count", "1"],
            &["write", p, "--offset", "0", "x"],
            &["write", p, "--offset", "0", "x", "--grow"],
            &["info", p],
        ] {
            // A hang (reading a FIFO with no writer) fails here, not forever.
            let out = run_timed(dir.path(), MAPPED, args);
            assert_fails(&out, &[&format!("{p}: not a regular file")]);
            assert!(out.stdout.is_empty(), "args {args:?}");
        }
        let out = run_timed(dir.path(), T_MMAP, &[p, "x"]);
        assert_eq!(out.status.code(), Some(1));
        let err = text(&out.stderr);
        assert!(
            err.starts_with(&format!("ERROR: {p}: not a regular file")),
            "{err}"
        );
    }
    let out = run_timed(dir.path(), MAPPED, &["cat", "/proc/self/status"]);
    assert_fails(&out, &["/proc file", "cannot be mapped"]);
    // Nothing was written through them.
    assert!(fs::metadata(dir.path().join("fifo")).unwrap().len() == 0);
}

#[test]
fn a_failed_grow_leaves_the_file_as_it_was() {
    // The file size limit (RLIMIT_FSIZE, `ulimit -f` counts 1024-byte
    // blocks) refuses the growth.
    let dir = tempdir();
    let path = dir.path().join("f");
    fs::write(&path, b"0123456789").unwrap();
    let limited = |args: &[&str]| {
        let mut all = vec!["-c", r#"ulimit -f 100; exec "$0" "$@""#, MAPPED];
        all.extend_from_slice(args);
        run_timed(dir.path(), "bash", &all)
    };
    let out = limited(&["write", "f", "--offset", "1M", "x", "--grow"]);
    assert_fails(&out, &["f", "file size limit"]);
    assert_eq!(fs::read(&path).unwrap(), b"0123456789");
    let out = limited(&["write", "new", "--offset", "1M", "x", "--grow"]);
    assert_fails(&out, &["new", "file size limit"]);
    assert!(!dir.path().join("new").exists());
    // Within the limit it works.
    let out = limited(&["write", "f", "--offset", "50k", "x", "--grow"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(fs::metadata(&path).unwrap().len(), 50 * 1024 + 1);
}

#[test]
fn help_exits_0() {
    let dir = tempdir();
    let out = run_in(dir.path(), MAPPED, &["--help"]);
    assert_eq!(out.status.code(), Some(0));
    let help = text(&out.stdout);
    for cmd in ["cat", "write", "info", "watch", "demo"] {
        assert!(help.contains(cmd), "{cmd} missing from {help}");
    }
    assert!(!help.contains("__t_mmap"));
}

#[test]
fn write_in_place_with_and_without_sync() {
    let dir = tempdir();
    let path = dir.path().join("f");
    fs::write(&path, [b'.'; 16]).unwrap();

    let out = run_in(
        dir.path(),
        MAPPED,
        &["write", "f", "--offset", "2", "hello"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty() && out.stderr.is_empty());
    assert_eq!(fs::read(&path).unwrap(), b"..hello.........");

    let out = run_in(
        dir.path(),
        MAPPED,
        &["write", "f", "--offset", "11", "world", "--sync"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty() && out.stderr.is_empty());
    assert_eq!(fs::read(&path).unwrap(), b"..hello....world");
}

#[test]
fn write_past_the_end_needs_grow() {
    let dir = tempdir();
    let path = dir.path().join("f");
    fs::write(&path, b"0123456789").unwrap();

    let out = run_in(dir.path(), MAPPED, &["write", "f", "--offset", "8", "abc"]);
    assert_fails(&out, &["f", "past the end", "10 bytes", "--grow"]);
    assert_eq!(fs::read(&path).unwrap(), b"0123456789");

    let out = run_in(
        dir.path(),
        MAPPED,
        &["write", "f", "--offset", "8", "abc", "--grow", "--sync"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(fs::read(&path).unwrap(), b"01234567abc");

    // Past the end with a gap: the gap reads as zeros.
    let out = run_in(
        dir.path(),
        MAPPED,
        &["write", "f", "--offset", "14", "Z", "--grow"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(fs::read(&path).unwrap(), b"01234567abc\0\0\0Z");

    // --grow creates a missing file.
    let out = run_in(
        dir.path(),
        MAPPED,
        &["write", "new", "--offset", "0", "hi", "--grow"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(fs::read(dir.path().join("new")).unwrap(), b"hi");
}

#[test]
fn write_from_stdin() {
    let dir = tempdir();
    let path = dir.path().join("f");
    fs::write(&path, [0u8; 8]).unwrap();
    let mut child = Command::new(MAPPED)
        .args(["write", "f", "--offset", "1", "--stdin"])
        .current_dir(dir.path())
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"\xffbin\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(fs::read(&path).unwrap(), b"\0\xffbin\n\0\0");
}

#[test]
fn info_human_and_json() {
    let dir = tempdir();
    let path = dir.path().join("s.txt");
    fs::write(&path, [0u8; 1024]).unwrap();

    let out = run_in(dir.path(), MAPPED, &["info", "s.txt"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let human = text(&out.stdout);
    for key in [
        "path:",
        "size:",
        "allocated:",
        "resident:",
        "file system:",
        "page size:",
    ] {
        assert!(human.contains(key), "{key} missing from {human}");
    }
    assert!(human.contains("1024 bytes"), "{human}");
    // Values line up in one column.
    let columns: Vec<usize> = human
        .lines()
        .map(|line| {
            let after = line.find(':').unwrap() + 1;
            after + line[after..].len() - line[after..].trim_start().len()
        })
        .collect();
    assert!(columns.windows(2).all(|w| w[0] == w[1]), "{human}");

    let out = run_in(dir.path(), MAPPED, &["info", "s.txt", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("valid JSON");
    let page = v["page_size"].as_u64().unwrap();
    assert!(page >= 4096 && page.is_power_of_two());
    assert_eq!(v["path"], "s.txt");
    assert_eq!(v["size"], 1024);
    assert_eq!(v["total_pages"], 1);
    let resident = v["resident_pages"].as_u64().unwrap();
    assert!(resident <= 1);
    assert_eq!(v["resident_bytes"].as_u64().unwrap(), resident * page);
    assert!(v["allocated_bytes"].is_u64());
    assert!(v["fs_magic"].is_u64());
    assert!(v["fs_type"].is_string() || v["fs_type"].is_null());
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    let mut expected = [
        "allocated_bytes",
        "fs_magic",
        "fs_type",
        "page_size",
        "path",
        "resident_bytes",
        "resident_pages",
        "size",
        "total_pages",
    ];
    expected.sort_unstable();
    let mut keys = keys;
    keys.sort_unstable();
    assert_eq!(keys, expected);
}

#[test]
fn info_of_empty_file() {
    let dir = tempdir();
    fs::write(dir.path().join("e"), b"").unwrap();
    let out = run_in(dir.path(), MAPPED, &["info", "e", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["size"], 0);
    assert_eq!(v["total_pages"], 0);
    let out = run_in(dir.path(), MAPPED, &["info", "e"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

#[test]
fn closed_output_pipe_exits_quietly() {
    let dir = tempdir();
    // Far more than a pipe holds, so `cat` is still writing when the reader
    // goes away.
    fs::write(dir.path().join("big"), vec![b'x'; 8 << 20]).unwrap();
    let mut child = Command::new(MAPPED)
        .args(["cat", "big"])
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut byte = [0u8; 1];
    stdout.read_exact(&mut byte).unwrap();
    assert_eq!(&byte, b"x");
    drop(stdout);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    assert!(out.stderr.is_empty(), "stderr: {}", text(&out.stderr));
}
