//! Helpers shared by the integration tests: re-executing the test binary as
//! a child process in a given role, and waiting on words in a mapping.

#![allow(dead_code)] // each test binary uses a different subset

use std::io::Read;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mapped::{Mapping, WaitOutcome};

/// The environment variable that makes a test function run a child role.
pub const ROLE_ENV: &str = "MAPPED_TEST_ROLE";

/// A generous safety net for anything that waits on another process. Tests
/// never depend on it for their outcome: reaching it is a failure.
pub const SAFETY_NET: Duration = Duration::from_secs(60);

/// The role this process was started in, if it is a child started by
/// [`spawn_child`].
pub fn child_role() -> Option<String> {
    std::env::var(ROLE_ENV).ok()
}

/// A child process running one test function of this test binary.
pub struct Child {
    test: String,
    role: String,
    process: std::process::Child,
    /// Set once the process was waited for.
    reaped: bool,
    stdout: Option<JoinHandle<String>>,
    stderr: Option<JoinHandle<String>>,
}

/// What a child left behind.
#[derive(Debug)]
pub struct Finished {
    /// How it ended.
    pub status: ExitStatus,
    /// Everything it wrote to stdout.
    pub stdout: String,
    /// Everything it wrote to stderr.
    pub stderr: String,
}

impl Finished {
    /// Panics, with the child's output, unless it exited with status 0
    /// after running its test.
    pub fn assert_success(&self) {
        assert!(
            self.status.success(),
            "child failed: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.status,
            self.stdout,
            self.stderr
        );
        // It really ran its one test, rather than, say, filtering it out.
        assert!(
            self.stdout.contains("test result: ok. 1 passed"),
            "child did not run its test:\n{}",
            self.stdout
        );
    }
}

/// Runs the test function `test` of this binary again, in a new process,
/// with `MAPPED_TEST_ROLE=role` and the extra environment `env`. Its stdout
/// and stderr are collected (pipes are unaffected by file size limits).
pub fn spawn_child(test: &str, role: &str, env: &[(&str, &str)]) -> Child {
    let exe = std::env::current_exe().expect("current_exe");
    let mut cmd = Command::new(exe);
    cmd.args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(ROLE_ENV, role)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut process = cmd.spawn().expect("spawn child test process");
    let stdout = process.stdout.take().map(collect);
    let stderr = process.stderr.take().map(collect);
    Child {
        test: test.to_owned(),
        role: role.to_owned(),
        process,
        reaped: false,
        stdout,
        stderr,
    }
}

fn collect(mut r: impl Read + Send + 'static) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    })
}

impl Child {
    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.process.id()
    }

    /// The exit status, if the child has already ended.
    pub fn try_status(&mut self) -> Option<ExitStatus> {
        self.process.try_wait().expect("try_wait")
    }

    /// Waits for the child to end (killing it and panicking after
    /// [`SAFETY_NET`]) and collects its output.
    pub fn finish(mut self) -> Finished {
        let deadline = Instant::now() + SAFETY_NET;
        let status = loop {
            if let Some(status) = self.try_status() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.process.kill();
                let _ = self.process.wait();
                let f = self.output_after(None);
                panic!(
                    "child {} ({}) still running after {:?}; killed\n--- stdout ---\n{}\n--- stderr ---\n{}",
                    self.test, self.role, SAFETY_NET, f.stdout, f.stderr
                );
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        self.output_after(Some(status))
    }

    fn output_after(&mut self, status: Option<ExitStatus>) -> Finished {
        let status = status.unwrap_or_else(|| self.process.wait().expect("wait"));
        self.reaped = true;
        let join = |h: Option<JoinHandle<String>>| h.map(|h| h.join().unwrap()).unwrap_or_default();
        Finished {
            status,
            stdout: join(self.stdout.take()),
            stderr: join(self.stderr.take()),
        }
    }

    /// Panics with the child's output if it has already ended: used while
    /// waiting for it to reach some point, so that a child that failed does
    /// not leave the parent waiting until the safety net.
    pub fn check_alive(&mut self, waiting_for: &str) {
        if let Some(status) = self.try_status() {
            let f = self.output_after(Some(status));
            panic!(
                "child {} ({}) ended with {} while the parent waited for {waiting_for}\n--- stdout ---\n{}\n--- stderr ---\n{}",
                self.test, self.role, f.status, f.stdout, f.stderr
            );
        }
    }
}

impl Drop for Child {
    /// A test that fails while its child runs kills that child (this one
    /// process, by its id), so that no child outlives the test.
    fn drop(&mut self) {
        if !self.reaped {
            let _ = self.process.kill();
            let _ = self.process.wait();
        }
    }
}

/// Sleeps on the futex at `offset` of `map` until the word satisfies
/// `done`, checking on `child` (if any) between naps. Panics after
/// [`SAFETY_NET`]. Returns the value that satisfied `done`.
pub fn wait_until(
    map: &Mapping,
    offset: u64,
    mut child: Option<&mut Child>,
    what: &str,
    done: impl Fn(u32) -> bool,
) -> u32 {
    let word = map.atomic_u32(offset).expect("futex word");
    let deadline = Instant::now() + SAFETY_NET;
    loop {
        let v = word.load(Ordering::SeqCst);
        if done(v) {
            return v;
        }
        if let Some(c) = child.as_deref_mut() {
            c.check_alive(what);
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what} (word at {offset} is {v})"
        );
        // Short naps only so that a dead child is noticed; the waker wakes
        // us. Every outcome (woken, changed, timed out, interrupted) just
        // means: look at the word again.
        let _: WaitOutcome = map
            .wait(offset, v, Some(Duration::from_millis(100)))
            .expect("futex wait");
    }
}

/// Stores `value` into the word at `offset` and wakes every waiter on it.
pub fn store_and_wake(map: &Mapping, offset: u64, value: u32) {
    map.atomic_u32(offset)
        .expect("futex word")
        .store(value, Ordering::SeqCst);
    map.wake(offset, u32::MAX >> 1).expect("futex wake");
}

/// An environment variable the parent passed to this child.
pub fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("child needs {name} in its environment"))
}

/// A deterministic byte pattern for file offset `i`, never zero.
pub fn pattern(i: u64) -> u8 {
    (i % 251) as u8 + 1
}

/// `len` bytes of [`pattern`] starting at file offset `start`.
pub fn pattern_bytes(start: u64, len: usize) -> Vec<u8> {
    (start..start + len as u64).map(pattern).collect()
}
