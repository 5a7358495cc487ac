//! A child that `fork`s (and does not `exec`) after an appender or a
//! readiness descriptor was made must not use them: it would share the
//! appender's slot lock with its parent (so neither's death could be
//! proved while the other lives), and it has none of their helper threads.
//! In the child they fail with a clear error, dropping them does not wait
//! for threads that are not there, and the parent's handles go on.
//!
//! A fork while the background thread makes a segment ahead waits for that
//! work, so that the child does not inherit the lock it holds.

#![allow(unsafe_code)] // fork, waitpid, _exit

use std::time::{Duration, Instant};

use mapped_log::{Appender, Log, LogError, LogOptions, Start};

#[test]
fn handles_made_before_fork_refuse_to_work_in_the_child() {
    let tmp = tempfile::tempdir().unwrap();
    let log = Log::create(tmp.path().join("log"), LogOptions::default()).unwrap();
    let mut app = Appender::new(&log).unwrap();
    // Starts the appender's prefault helper thread.
    app.append(b"before").unwrap();
    let mut reader = log.reader(Start::Beginning).unwrap();
    let ready = reader.readiness().unwrap();

    // SAFETY: the child only calls the log's handles, which check the fork
    // generation before anything else and fail; drops them; and leaves with
    // `_exit` (no unwinding into the test harness, no atexit handlers).
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
    if pid == 0 {
        let mut code = 0;
        if !matches!(
            app.append(b"from the child"),
            Err(LogError::Forked {
                handle: mapped_log::Handle::Appender,
                ..
            })
        ) {
            code |= 1;
        }
        if !matches!(app.claim(8).map(drop), Err(LogError::Forked { .. })) {
            code |= 2;
        }
        if !matches!(
            ready.clear(),
            Err(LogError::Forked {
                handle: mapped_log::Handle::Readiness,
                ..
            })
        ) {
            code |= 4;
        }
        // Neither waits for the parent's helper threads.
        drop(ready);
        drop(app);
        // SAFETY: ends the child at once, as above.
        unsafe { libc::_exit(code) };
    }

    // The child must end, and quickly: a drop that joined a thread that is
    // not there would hang it.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut status = 0;
    loop {
        // SAFETY: waits for our own child; `status` is ours to write.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        assert!(r >= 0, "waitpid: {}", std::io::Error::last_os_error());
        if r == pid {
            break;
        }
        if Instant::now() > deadline {
            // SAFETY: our own child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("the forked child hung (dropping a handle waited for a thread?)");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "child: status {status:#x} (exit bits: 1 append, 2 claim, 4 readiness)"
    );

    // The parent's appender and descriptor work as before, and the child
    // appended nothing.
    app.append(b"after").unwrap();
    ready.clear().unwrap();
    let got: Vec<Vec<u8>> = (0..2)
        .map(|_| {
            let m = reader.next(Some(Duration::from_secs(60))).unwrap();
            m.expect("a message").payload().to_vec()
        })
        .collect();
    assert_eq!(got, [b"before".to_vec(), b"after".to_vec()]);
    assert!(reader.try_next().unwrap().is_none());
}

#[test]
fn a_fork_during_background_work_leaves_the_child_no_lock_of_the_log() {
    // An appender past the middle of its segment has the next one made on
    // the process's background thread, which holds the lock file's recovery
    // byte (shared) while it works. A fork in the middle must wait for that
    // work, or the child would keep the lock for as long as it lives, and a
    // recovery in the parent would wait for the child's exit.
    //
    // The job holds the byte for milliseconds; a forker thread that is not
    // scheduled then misses it. Such a round proves nothing and is run
    // again: three rounds must catch the job at work.
    let mut caught = 0;
    for round in 0..30 {
        if caught == 3 {
            break;
        }
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("log");
        let log = Log::create(
            &dir,
            LogOptions {
                segment_size: 8 << 20,
                max_message: 64 << 10,
                ..LogOptions::default()
            },
        )
        .unwrap();
        let mut app = Appender::new(&log).unwrap();
        let lock = std::fs::File::open(dir.join(mapped_log::LOCK_FILE)).unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        // A thread forks the moment it sees the job at work.
        let forker = std::thread::spawn({
            let stop = stop.clone();
            move || {
                while !recovery_byte_held(&lock) {
                    if stop.load(std::sync::atomic::Ordering::SeqCst) {
                        return None;
                    }
                }
                // SAFETY: the child only sleeps and leaves with `_exit`.
                let pid = unsafe { libc::fork() };
                assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
                if pid == 0 {
                    std::thread::sleep(Duration::from_millis(1500));
                    // SAFETY: ends the child at once.
                    unsafe { libc::_exit(0) };
                }
                Some(pid)
            }
        });
        let msg = vec![7u8; 60 << 10];
        // Past the middle, then small appends until the job has made the
        // next segment (each also lets a job that stood down be asked for
        // again).
        while app.append(&msg).unwrap() < 5 << 20 {}
        let deadline = Instant::now() + Duration::from_secs(60);
        while !log.segments().unwrap().contains(&1) {
            assert!(
                Instant::now() < deadline,
                "round {round}: segment 1 never made"
            );
            app.append(b"x").unwrap();
            std::thread::sleep(Duration::from_millis(1));
        }
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let Some(pid) = forker.join().unwrap() else {
            continue;
        };
        caught += 1;
        drop(app);
        let started = Instant::now();
        log.recover().unwrap();
        let took = started.elapsed();
        let mut status = 0;
        // SAFETY: waits for our own child.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        assert!(
            took < Duration::from_millis(1000),
            "round {round}: recovery waited {took:?}, for the forked child's lock"
        );
    }
    assert_eq!(caught, 3, "the make-ahead job was never caught at work");
}

/// Whether some open file description holds a lock on the lock file's
/// recovery byte (`format::RECOVERY_LOCK_BYTE`), by `F_OFD_GETLK`.
fn recovery_byte_held(lock: &std::fs::File) -> bool {
    use std::os::fd::AsRawFd;
    // SAFETY: `flock` is plain data; zero is valid for every field.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = libc::F_WRLCK as libc::c_short;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    fl.l_start = mapped_log::format::RECOVERY_LOCK_BYTE as libc::off_t;
    fl.l_len = 1;
    // SAFETY: F_OFD_GETLK reads and writes the `flock` we own, on our fd.
    let rc = unsafe { libc::fcntl(lock.as_raw_fd(), libc::F_OFD_GETLK, &mut fl) };
    assert_eq!(rc, 0, "F_OFD_GETLK: {}", std::io::Error::last_os_error());
    fl.l_type != libc::F_UNLCK as libc::c_short
}
