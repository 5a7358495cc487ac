//! `t_mmap`'s usage and error handling, and where it does better than the
//! book's program: empty and short files, values that do not fit.

mod common;

use std::fs;

use common::{T_MMAP, run_in, tempdir, text};

const USAGE: &str = "Usage: t_mmap file [new-value]\n";

#[test]
fn usage_without_arguments_or_with_help() {
    let dir = tempdir();
    for args in [&[][..], &["--help"], &["--help", "x"]] {
        let out = run_in(dir.path(), T_MMAP, args);
        assert_eq!(out.status.code(), Some(1), "args {args:?}");
        assert_eq!(text(&out.stderr), USAGE, "args {args:?}");
        assert!(out.stdout.is_empty(), "args {args:?}");
    }
}

#[test]
fn missing_file_is_an_open_error_naming_the_file() {
    let dir = tempdir();
    let out = run_in(dir.path(), T_MMAP, &["nosuch.txt", "hello"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "ERROR [ENOENT No such file or directory] open nosuch.txt\n"
    );
    assert!(out.stdout.is_empty());
    assert!(!dir.path().join("nosuch.txt").exists());
}

#[test]
fn directory_is_an_open_error() {
    let dir = tempdir();
    fs::create_dir(dir.path().join("sub")).unwrap();
    let out = run_in(dir.path(), T_MMAP, &["sub"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "ERROR [EISDIR Is a directory] open sub\n"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn value_of_ten_bytes_or_more_is_refused_and_the_file_unchanged() {
    let dir = tempdir();
    let mut contents = vec![0u8; 1024];
    contents[..3].copy_from_slice(b"abc");
    fs::write(dir.path().join("s.txt"), &contents).unwrap();
    for value in ["0123456789", "a much longer value"] {
        let out = run_in(dir.path(), T_MMAP, &["s.txt", value]);
        assert_eq!(out.status.code(), Some(1));
        assert_eq!(text(&out.stdout), "Current string=abc\n");
        assert_eq!(
            text(&out.stderr),
            "Command-line usage error: 'new-value' too large\n"
        );
        assert_eq!(fs::read(dir.path().join("s.txt")).unwrap(), contents);
    }
    // Nine bytes fit, with the NUL after them.
    let out = run_in(dir.path(), T_MMAP, &["s.txt", "012345678", "ignored"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "Current string=abc\nCopied \"012345678\" to shared memory\n"
    );
    let out = run_in(dir.path(), T_MMAP, &["s.txt"]);
    assert_eq!(text(&out.stdout), "Current string=012345678\n");
}

#[test]
fn full_ten_bytes_without_nul_print_all_ten() {
    let dir = tempdir();
    fs::write(dir.path().join("f"), b"0123456789abcdef").unwrap();
    let out = run_in(dir.path(), T_MMAP, &["f"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stdout), "Current string=0123456789\n");
}

#[test]
fn empty_file_does_not_die_of_sigbus() {
    let dir = tempdir();
    fs::write(dir.path().join("empty"), b"").unwrap();
    let out = run_in(dir.path(), T_MMAP, &["empty"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "Current string=\n");
    assert!(out.stderr.is_empty());

    let out = run_in(dir.path(), T_MMAP, &["empty", "x"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stdout), "Current string=\n");
    let err = text(&out.stderr);
    assert!(err.contains("empty") && err.contains("0 bytes"), "{err}");
    assert!(!err.contains("Copied"));
    assert_eq!(fs::metadata(dir.path().join("empty")).unwrap().len(), 0);
}

#[test]
fn short_file_takes_a_value_that_fits_and_refuses_one_that_does_not() {
    let dir = tempdir();
    let path = dir.path().join("five");
    fs::write(&path, b"abcde").unwrap();

    let out = run_in(dir.path(), T_MMAP, &["five", "xyz"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "Current string=abcde\nCopied \"xyz\" to shared memory\n"
    );
    assert_eq!(fs::read(&path).unwrap(), b"xyz\0\0");

    let out = run_in(dir.path(), T_MMAP, &["five", "toolong"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stdout), "Current string=xyz\n");
    let err = text(&out.stderr);
    assert!(
        err.contains("five") && err.contains("5 bytes") && err.contains("7-byte"),
        "{err}"
    );
    assert!(!text(&out.stdout).contains("Copied"));
    assert_eq!(fs::read(&path).unwrap(), b"xyz\0\0");

    // Exactly the file's length fits.
    let out = run_in(dir.path(), T_MMAP, &["five", "VWXYZ"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(fs::read(&path).unwrap(), b"VWXYZ");
}

#[test]
fn non_utf8_bytes_pass_through_raw() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempdir();
    fs::write(dir.path().join("s"), [0u8; 16]).unwrap();
    let value = std::ffi::OsStr::from_bytes(b"\xff\xfeok");
    let out = std::process::Command::new(T_MMAP)
        .arg("s")
        .arg(value)
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        out.stdout,
        b"Current string=\nCopied \"\xff\xfeok\" to shared memory\n"
    );
    let out = run_in(dir.path(), T_MMAP, &["s"]);
    assert_eq!(out.stdout, b"Current string=\xff\xfeok\n");
}
