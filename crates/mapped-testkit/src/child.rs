//! Child test processes: a test re-executes its own test binary to run one
//! test function in another process, in a given role (a writer, a reader, a
//! process to kill), and waits for it with a safety net.
//!
//! Shared by the integration tests of `mapped`, `mapped-log` and the CLI
//! (a dev-dependency: see their `Cargo.toml`).

use std::ffi::OsStr;
use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, ExitStatus, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The environment variable that makes a test function run a child role.
pub const ROLE_ENV: &str = "MAPPED_TEST_ROLE";

/// A generous safety net for anything that waits on another process. Tests
/// never depend on it for their outcome: reaching it is a failure (a hang).
pub const SAFETY_NET: Duration = Duration::from_secs(60);

/// The role this process was started in, if it is a child started by
/// [`spawn_child`].
pub fn child_role() -> Option<String> {
    std::env::var(ROLE_ENV).ok()
}

/// An environment variable the parent passed to this child.
pub fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("child needs {name} in its environment"))
}

/// A child process running one test function of this test binary.
pub struct Child {
    test: String,
    role: String,
    process: std::process::Child,
    reaped: Option<ExitStatus>,
    stdout: Option<JoinHandle<String>>,
    stderr: Option<JoinHandle<String>>,
}

/// What a child left behind.
#[derive(Debug)]
pub struct Finished {
    /// Its role.
    pub role: String,
    /// How it ended.
    pub status: ExitStatus,
    /// Everything it wrote to stdout.
    pub stdout: String,
    /// Everything it wrote to stderr.
    pub stderr: String,
}

impl Finished {
    /// Whether it died of `SIGKILL`.
    pub fn killed(&self) -> bool {
        self.status.signal() == Some(libc::SIGKILL)
    }

    /// Whether it ran its test to success.
    pub fn succeeded(&self) -> bool {
        self.status.success() && self.stdout.contains("test result: ok. 1 passed")
    }

    /// Panics, with the child's output, unless it ran its test to success.
    pub fn assert_success(&self) {
        assert!(self.succeeded(), "{}", self.describe("failed"));
    }

    /// Panics unless it was killed or ran its test to success.
    pub fn assert_killed_or_success(&self) {
        assert!(
            self.killed() || self.succeeded(),
            "{}",
            self.describe("neither killed nor successful")
        );
    }

    /// The child's status and output, for a failure message.
    pub fn describe(&self, what: &str) -> String {
        format!(
            "child ({}) {what}: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.role, self.status, self.stdout, self.stderr
        )
    }
}

/// Runs the test function `test` of this binary again, in a new process,
/// with [`ROLE_ENV`]` = role` and the extra environment `env`. Its stdout
/// and stderr are collected (pipes are unaffected by file size limits).
pub fn spawn_child<V: AsRef<OsStr>>(test: &str, role: &str, env: &[(&str, V)]) -> Child {
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
        reaped: None,
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
        if self.reaped.is_none() {
            self.reaped = self.process.try_wait().expect("try_wait");
        }
        self.reaped
    }

    /// Sends `SIGKILL` to this one process (by its id), unless it has
    /// already been reaped.
    pub fn kill(&mut self) {
        if self.reaped.is_none() {
            let _ = self.process.kill();
        }
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
                let status = self.process.wait().expect("wait");
                self.reaped = Some(status);
                let f = self.output(status);
                panic!(
                    "{}",
                    f.describe(&format!("still running after {SAFETY_NET:?}; killed"))
                );
            }
            std::thread::sleep(Duration::from_millis(1));
        };
        self.output(status)
    }

    fn output(&mut self, status: ExitStatus) -> Finished {
        let join = |h: Option<JoinHandle<String>>| h.map(|h| h.join().unwrap()).unwrap_or_default();
        Finished {
            role: format!("{} in {}", self.role, self.test),
            status,
            stdout: join(self.stdout.take()),
            stderr: join(self.stderr.take()),
        }
    }

    /// Panics with the child's output if it has already ended: used while
    /// waiting for it to reach some point.
    pub fn check_alive(&mut self, waiting_for: &str) {
        if let Some(status) = self.try_status() {
            let f = self.output(status);
            panic!(
                "{}",
                f.describe(&format!("ended while the parent waited for {waiting_for}"))
            );
        }
    }
}

impl Drop for Child {
    /// A test that fails while its child runs kills that child (this one
    /// process, by its id), so that no child outlives the test.
    fn drop(&mut self) {
        if self.reaped.is_none() {
            let _ = self.process.kill();
            let _ = self.process.wait();
        }
    }
}

/// Polls `done` every millisecond until it holds; panics after
/// [`SAFETY_NET`], or at once if `child` ends meanwhile.
pub fn wait_for(what: &str, mut child: Option<&mut Child>, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + SAFETY_NET;
    while !done() {
        if let Some(c) = child.as_deref_mut() {
            c.check_alive(what);
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}
