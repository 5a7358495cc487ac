//! Helpers shared by the integration tests: running the real binaries, and
//! reading a child's output with a timeout so that a hung child fails the
//! test instead of hanging it.

// Each test file uses only some of these.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::Duration;

/// The `t_mmap` binary.
pub const T_MMAP: &str = env!("CARGO_BIN_EXE_t_mmap");
/// The `mapped` binary.
pub const MAPPED: &str = env!("CARGO_BIN_EXE_mapped");

/// How long a test waits for a child to print a line.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// A fresh temporary directory.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("create a temporary directory")
}

/// Runs `program args...` in `dir` and returns what it did.
pub fn run_in(dir: &Path, program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("run {program}: {e}"))
}

/// Runs `program args...` in `dir` with `input` on its stdin.
pub fn run_with_input(dir: &Path, program: &str, args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new(program)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("run {program}: {e}"));
    let mut stdin = child.stdin.take().expect("piped stdin");
    // On a thread: a large input must not wait for output nobody reads.
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("wait for {program}: {e}"));
    writer.join().expect("stdin writer");
    out
}

/// Runs `mapped args...` in `dir` (no input, no timeout: see
/// [`run_timed`] for commands that might hang).
pub fn mapped(dir: &Path, args: &[&str]) -> Output {
    run_in(dir, MAPPED, args)
}

/// Asserts exit status 0 and returns stdout.
pub fn ok(out: &Output) -> Vec<u8> {
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout: {}\nstderr: {}",
        text(&out.stdout),
        text(&out.stderr)
    );
    out.stdout.clone()
}

/// Asserts a failure: exit status 1 and `mapped: ...` on stderr containing
/// every one of `needles`. Returns stderr.
pub fn assert_fails(out: &Output, needles: &[&str]) -> String {
    let err = text(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "stdout: {}\nstderr: {err}",
        text(&out.stdout)
    );
    assert!(err.starts_with("mapped: "), "{err}");
    for needle in needles {
        assert!(err.contains(needle), "{needle:?} not in {err:?}");
    }
    err
}

/// stdout and stderr as text, for assertions and failure messages.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Reads `reader` line by line on a thread; the lines (without newline)
/// arrive on the returned channel.
pub fn lines(reader: impl Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(reader).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// The next line, or a panic naming `what` after [`TIMEOUT`].
pub fn next_line(rx: &Receiver<String>, what: &str) -> String {
    rx.recv_timeout(TIMEOUT)
        .unwrap_or_else(|e| panic!("no line from {what} ({e})"))
}

/// Runs `program args...` in `dir` with no stdin, as [`run_in`] does, but
/// kills it and panics if it has not exited after [`TIMEOUT`]: for commands
/// that must not hang (on a FIFO, say).
pub fn run_timed(dir: &Path, program: &str, args: &[&str]) -> Output {
    run_timed_with_input(dir, program, args, None)
}

/// [`run_timed`] with `input` on the child's stdin (`None`: no stdin).
pub fn run_timed_with_input(
    dir: &Path,
    program: &str,
    args: &[&str],
    input: Option<&[u8]>,
) -> Output {
    let mut child = Command::new(program)
        .args(args)
        .current_dir(dir)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("run {program}: {e}"));
    // On a thread: a large input must not wait for output nobody reads.
    let writer = child.stdin.take().map(|mut stdin| {
        let input = input.unwrap_or_default().to_vec();
        std::thread::spawn(move || {
            let _ = stdin.write_all(&input);
        })
    });
    let read_all = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = r.read_to_end(&mut bytes);
            bytes
        })
    };
    let stdout = read_all(Box::new(child.stdout.take().expect("piped stdout")));
    let stderr = read_all(Box::new(child.stderr.take().expect("piped stderr")));
    let deadline = std::time::Instant::now() + TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the child") {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{program} {args:?} still running after {TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    if let Some(writer) = writer {
        writer.join().expect("stdin writer");
    }
    Output {
        status,
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader"),
    }
}
