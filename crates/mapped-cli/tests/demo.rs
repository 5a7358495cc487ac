//! `mapped demo` runs its tour, in separate processes, and exits 0.

mod common;

use std::time::Instant;

use common::{MAPPED, run_in, tempdir, text};

#[test]
fn demo_runs_every_section() {
    let dir = tempdir();
    let started = Instant::now();
    let out = run_in(dir.path(), MAPPED, &["demo"]);
    let elapsed = started.elapsed();
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    assert!(out.stderr.is_empty(), "stderr: {}", text(&out.stderr));
    // How long it took is shown, not asserted: no timing thresholds in
    // tests (a loaded or slow machine is not a failure).
    eprintln!("demo took {elapsed:?}");

    // (a) The book's session, as the book prints it.
    for line in [
        "$ t_mmap s.txt hello",
        "Current string=\n",
        "Copied \"hello\" to shared memory",
        "Current string=hello\n",
        "Copied \"goodbye\" to shared memory",
        "$ od -c -w8 s.txt",
        "0000000   g   o   o   d   b   y   e  \\0\n",
        "0000010  \\0  \\0  \\0  \\0  \\0  \\0  \\0  \\0\n",
        "    *\n",
        "0002000\n",
    ] {
        assert!(stdout.contains(line), "{line:?} missing from:\n{stdout}");
    }
    // (b) The watcher saw every store.
    for line in [
        "watcher | \"\"",
        "watcher | \"hello\"",
        "watcher | \"from the\"",
        "watcher | \"other process\"",
    ] {
        assert!(stdout.contains(line), "{line:?} missing from:\n{stdout}");
    }
    // (c) The value came back in a fresh process.
    assert!(stdout.contains("$ mapped cat state.bin\n    survives a restart\n"));
    // (d) The truncated read was an error, and the mapping poisoned.
    assert!(
        stdout.contains("faulted: the file was truncated to 100 bytes"),
        "{stdout}"
    );
    assert!(stdout.contains("poisoned"), "{stdout}");
    assert!(stdout.contains("reopened: 100 bytes mapped"), "{stdout}");
    // The JetStream round trip, or how to get the server.
    assert!(
        stdout.contains("$ mapped log tail there --format json")
            || stdout.contains("no nats-server on the PATH"),
        "{stdout}"
    );
    // The temporary directory is gone.
    assert!(stdout.contains("has been removed"), "{stdout}");
}

#[test]
fn demo_keep_leaves_the_files() {
    let dir = tempdir();
    let keep = dir.path().join("tour");
    let out = run_in(dir.path(), MAPPED, &["demo", "--keep", "tour"]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    let s = std::fs::read(keep.join("s.txt")).unwrap();
    assert_eq!(s.len(), 1024);
    assert_eq!(&s[..8], b"goodbye\0");
    assert_eq!(
        std::fs::read(keep.join("state.bin")).unwrap(),
        b"survives a restart"
    );
}
