//! A file truncated under a live mapping: guarded accesses turn the
//! `SIGBUS` into errors naming the file, the process survives, and faults
//! outside guarded accesses still kill the process (or reach the
//! application's own `SIGBUS` handler), as they would without this crate.

mod common;

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use common::{
    SAFETY_NET, child_role, env, pattern, pattern_bytes, spawn_child, store_and_wake, wait_until,
};
use mapped::{AccessError, FaultCause, MapOptions, Mapping, SyncError, WaitOutcome};

const PATH_ENV: &str = "MAPPED_TEST_PATH";
const CONTROL_ENV: &str = "MAPPED_TEST_CONTROL";
const DIR_ENV: &str = "MAPPED_TEST_DIR";

const PAGE: u64 = 4096;
/// Length of the file the readers map.
const LEN: u64 = 16 * PAGE;
/// Truncate-and-extend rounds; each one makes at least one reader fault.
const ROUNDS: u32 = 250;
const READERS: usize = 4;

/// Words of the control file shared with the truncating child: the parent
/// writes a command, the child carries it out and echoes it in `ACK`.
const CMD: u64 = 0;
const ACK: u64 = 4;
/// Command: stop.
const STOP: u32 = u32::MAX;

/// The length the child cuts the file to in `round`: to nothing, to inside
/// the first page, to a page boundary, to inside a later page.
fn short_len(round: u32) -> u64 {
    [0, 100, PAGE, 3 * PAGE + 17][round as usize % 4]
}

/// Asserts that `e` is a fault or poison error naming `path` at an offset
/// inside the file's mapped length; returns true for a fault.
fn check_fault(e: &AccessError, path: &Path) -> bool {
    let text = e.to_string();
    assert!(
        text.contains(path.to_str().unwrap()),
        "error does not name the file: {text}"
    );
    match e {
        AccessError::Fault {
            path: p,
            offset,
            cause,
        } => {
            assert_eq!(p, path);
            assert!(*offset < LEN, "fault offset {offset}");
            if let FaultCause::Truncated { file_len } = cause {
                assert!(file_len <= offset, "{file_len} > {offset}");
            }
            true
        }
        AccessError::Poisoned(p) => {
            assert_eq!(p.path, path);
            assert!(p.offset < LEN);
            false
        }
        other => panic!("expected a fault or poison error, got {other:?}"),
    }
}

/// The truncating child. Command `2r + 1` cuts the file short for round
/// `r`; `2r + 2` extends it again to `LEN` and rewrites the pattern.
fn truncator() {
    let data = PathBuf::from(env(PATH_ENV));
    let control = Mapping::open_rw(env(CONTROL_ENV)).unwrap();
    let file = OpenOptions::new().write(true).open(&data).unwrap();
    let contents = pattern_bytes(0, LEN as usize);
    let mut last = 0;
    loop {
        let cmd = wait_until(&control, CMD, None, "a command", |c| c != last);
        if cmd == STOP {
            return;
        }
        assert_eq!(cmd, last + 1, "commands come in order");
        let round = (cmd - 1) / 2;
        if cmd % 2 == 1 {
            file.set_len(short_len(round)).unwrap();
        } else {
            file.set_len(LEN).unwrap();
            file.write_all_at(&contents, 0).unwrap();
        }
        last = cmd;
        store_and_wake(&control, ACK, cmd);
    }
}

/// What the readers share: the current mapping and its generation.
struct Current {
    generation: u32,
    map: Arc<Mapping>,
    /// `AccessError::Fault`s seen through this generation's mapping.
    faults: u32,
    done: bool,
}

/// Reads through the current mapping at random places until told to stop;
/// after an error, waits for the next generation. Returns (successful
/// reads, faults, poison errors).
fn reader(t: usize, path: &Path, shared: &(Mutex<Current>, Condvar)) -> (u64, u64, u64) {
    let (lock, cvar) = shared;
    let mut rng = 0x9E37_79B9_7F4A_7C15u64 ^ (t as u64 + 1);
    let mut next = move || {
        // xorshift64: deterministic, different per thread.
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut buf = vec![0u8; 3 * PAGE as usize];
    let (mut ok, mut faults, mut poisoned) = (0, 0, 0);
    let (mut generation, mut map) = {
        let cur = lock.lock().unwrap();
        (cur.generation, cur.map.clone())
    };
    loop {
        let r = next();
        let result = if r % 2 == 0 {
            let offset = next() % LEN;
            let len = (next() % (LEN - offset).min(buf.len() as u64) + 1) as usize;
            map.read_at(offset, &mut buf[..len])
                .map(|()| (offset, buf[..len].to_vec()))
        } else {
            let offset = next() % (LEN - 7);
            map.read_pod::<u64>(offset)
                .map(|v| (offset, v.to_le_bytes().to_vec()))
        };
        match result {
            Ok((offset, bytes)) => {
                // The child extends with zeros, then rewrites the pattern.
                for (i, &b) in bytes.iter().enumerate() {
                    let at = offset + i as u64;
                    assert!(b == 0 || b == pattern(at), "byte {b} at {at}");
                }
                ok += 1;
                if ok % 64 == 0 && lock.lock().unwrap().done {
                    return (ok, faults, poisoned);
                }
            }
            Err(e) => {
                let fault = check_fault(&e, path);
                if fault {
                    faults += 1;
                } else {
                    poisoned += 1;
                }
                // Every access through a poisoned mapping fails from now on.
                assert!(map.is_poisoned());
                let mut one = [0u8; 1];
                assert!(matches!(
                    map.read_at(LEN - 1, &mut one),
                    Err(AccessError::Poisoned(_))
                ));
                let mut cur = lock.lock().unwrap();
                if fault && cur.generation == generation {
                    cur.faults += 1;
                    cvar.notify_all();
                }
                cur = cvar
                    .wait_while(cur, |c| c.generation == generation && !c.done)
                    .unwrap();
                if cur.done {
                    return (ok, faults, poisoned);
                }
                (generation, map) = (cur.generation, cur.map.clone());
            }
        }
    }
}

#[test]
fn readers_survive_truncation_by_another_process() {
    if let Some(role) = child_role() {
        assert_eq!(role, "truncator");
        truncator();
        return;
    }

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data");
    let control_path = dir.path().join("control");
    std::fs::write(&path, pattern_bytes(0, LEN as usize)).unwrap();
    let control = Mapping::create(&control_path, PAGE).unwrap();
    let map_full = || Arc::new(MapOptions::new().window(0, LEN).open(&path).unwrap());
    let shared = (
        Mutex::new(Current {
            generation: 0,
            map: map_full(),
            faults: 0,
            done: false,
        }),
        Condvar::new(),
    );
    let mut child = spawn_child(
        "readers_survive_truncation_by_another_process",
        "truncator",
        &[
            (PATH_ENV, path.to_str().unwrap()),
            (CONTROL_ENV, control_path.to_str().unwrap()),
        ],
    );
    let command = |child: &mut common::Child, cmd: u32| {
        store_and_wake(&control, CMD, cmd);
        wait_until(&control, ACK, Some(child), "the truncator", |a| a == cmd);
    };

    let (lock, cvar) = &shared;
    let totals = std::thread::scope(|s| {
        let readers: Vec<_> = (0..READERS)
            .map(|t| {
                let (path, shared) = (&path, &shared);
                s.spawn(move || reader(t, path, shared))
            })
            .collect();
        let deadline = Instant::now() + SAFETY_NET;
        for round in 0..ROUNDS {
            // Cut the file short under the readers' mapping, and wait until
            // one of them has faulted on it.
            command(&mut child, 2 * round + 1);
            let cur = lock.lock().unwrap();
            let (cur, timeout) = cvar
                .wait_timeout_while(
                    cur,
                    deadline.saturating_duration_since(Instant::now()),
                    |c| c.faults == 0,
                )
                .unwrap();
            assert!(!timeout.timed_out(), "no reader faulted in round {round}");
            drop(cur);
            // Make the file whole again and give the readers a new mapping.
            command(&mut child, 2 * round + 2);
            let mut cur = lock.lock().unwrap();
            cur.generation += 1;
            cur.map = map_full();
            cur.faults = 0;
            cvar.notify_all();
        }
        lock.lock().unwrap().done = true;
        cvar.notify_all();
        readers
            .into_iter()
            .map(|r| r.join().unwrap())
            .fold((0, 0, 0), |a, b| (a.0 + b.0, a.1 + b.1, a.2 + b.2))
    });
    store_and_wake(&control, CMD, STOP);
    child.finish().assert_success();

    let (ok, faults, poisoned) = totals;
    println!("{ROUNDS} rounds: {faults} faults, {poisoned} poison errors, {ok} successful reads");
    assert!(faults >= u64::from(ROUNDS));
    assert!(ok > 0);
    // The file is whole again, and a fresh mapping reads all of it.
    let map = Mapping::open(&path).unwrap();
    assert_eq!(map.len() as u64, LEN);
    let mut all = vec![0u8; LEN as usize];
    map.read_at(0, &mut all).unwrap();
    assert_eq!(all, pattern_bytes(0, LEN as usize));
}

/// Shortens the file at `path` through a separate open file.
fn truncate(path: &Path, len: u64) {
    OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(len)
        .unwrap();
}

/// A prefetch is a hint: on a page truncated away, past the window, or
/// anywhere in between, it neither faults nor poisons the mapping.
#[test]
fn prefetch_never_faults() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p");
    let map = Mapping::create(&path, 4 * PAGE).unwrap();
    map.write_at(0, b"first page").unwrap();
    truncate(&path, PAGE);
    for offset in [0, 5, PAGE, 2 * PAGE + 64, 4 * PAGE - 1, 4 * PAGE, u64::MAX] {
        map.prefetch(offset);
    }
    assert!(!map.is_poisoned());
    let mut buf = [0u8; 10];
    map.read_at(0, &mut buf).unwrap();
    assert_eq!(&buf, b"first page");
}

#[test]
fn write_past_truncation_faults_and_poisons() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w");
    let map = Mapping::create(&path, 4 * PAGE).unwrap();
    map.write_at(0, b"first page").unwrap();
    map.flush().unwrap();
    truncate(&path, PAGE);

    let e = map.write_at(2 * PAGE + 5, b"lost").unwrap_err();
    match &e {
        AccessError::Fault {
            path: p,
            offset,
            cause,
        } => {
            assert_eq!(p, &path);
            assert_eq!(*offset, 2 * PAGE + 5);
            assert_eq!(*cause, FaultCause::Truncated { file_len: PAGE });
        }
        other => panic!("expected a fault, got {other:?}"),
    }
    assert!(e.to_string().contains(path.to_str().unwrap()), "{e}");
    assert!(e.to_string().contains("truncated"), "{e}");
    // The store did not extend the file.
    assert_eq!(std::fs::metadata(&path).unwrap().len(), PAGE);

    // From now on every access and every sync through this mapping fails,
    // even where the file is still there.
    assert!(map.is_poisoned());
    let mut buf = [0u8; 10];
    assert!(matches!(
        map.read_at(0, &mut buf),
        Err(AccessError::Poisoned(_))
    ));
    assert!(matches!(
        map.write_at(0, b"x"),
        Err(AccessError::Poisoned(_))
    ));
    match map.flush() {
        Err(SyncError::Poisoned(p)) => {
            assert_eq!(p.path, path);
            assert_eq!(p.offset, 2 * PAGE + 5);
        }
        other => panic!("flush of a poisoned mapping: {other:?}"),
    }
    assert!(matches!(
        map.flush_range(0, 10),
        Err(SyncError::Poisoned(_))
    ));
    assert!(matches!(map.sync_data(), Err(SyncError::Poisoned(_))));
    assert!(matches!(map.guarded(|| ()), Err(AccessError::Poisoned(_))));
    assert!(matches!(map.wake(0, 1), Err(AccessError::Poisoned(_))));
    // A wait on a poisoned mapping fails instead of sleeping on the private
    // page that replaced the file's (where no other process could wake it).
    match map.wait(2 * PAGE + 8, 0, Some(Duration::from_secs(5))) {
        Err(AccessError::Poisoned(_)) => {}
        other => panic!("wait on a poisoned mapping: {other:?}"),
    }
    let e = map.atomic_u32(0).map(|_| ()).unwrap_err();
    assert!(matches!(e, AccessError::Poisoned(_)), "{e:?}");
    let e = map.atomic_u64(2 * PAGE).map(|_| ()).unwrap_err();
    assert!(matches!(e, AccessError::Poisoned(_)), "{e:?}");

    // The file's surviving page is intact; a new mapping reads it.
    let fresh = Mapping::open(&path).unwrap();
    fresh.read_at(0, &mut buf).unwrap();
    assert_eq!(&buf, b"first page");
}

#[test]
fn guarded_atomic_over_truncated_page_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a");
    let map = Mapping::create(&path, 2 * PAGE).unwrap();
    let word = map.atomic_u64(PAGE + 8).unwrap();
    word.store(42, Ordering::SeqCst);
    assert_eq!(map.guarded(|| word.load(Ordering::SeqCst)).unwrap(), 42);

    truncate(&path, PAGE);
    match map.guarded(|| word.load(Ordering::SeqCst)) {
        Err(AccessError::Fault {
            path: p,
            offset,
            cause,
        }) => {
            assert_eq!(p, path);
            assert_eq!(offset, PAGE + 8);
            assert_eq!(cause, FaultCause::Truncated { file_len: PAGE });
        }
        other => panic!("expected a fault, got {other:?}"),
    }
    assert!(map.is_poisoned());
    assert!(matches!(
        map.guarded(|| word.load(Ordering::SeqCst)),
        Err(AccessError::Poisoned(_))
    ));

    // A read-modify-write faults the same way, on another mapping.
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(2 * PAGE)
        .unwrap();
    let map = Mapping::open_rw(&path).unwrap();
    let word = map.atomic_u32(PAGE).unwrap();
    truncate(&path, 0);
    assert!(matches!(
        map.guarded(|| word.fetch_add(1, Ordering::SeqCst)),
        Err(AccessError::Fault { .. })
    ));
}

#[test]
fn futex_wait_on_truncated_page_is_a_fault() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    let map = Mapping::create(&path, 2 * PAGE).unwrap();
    truncate(&path, PAGE);
    // The kernel reads the word itself and reports EFAULT: no signal. The
    // timeout is only a safety net: sleeping at all would be the bug.
    match map.wait(PAGE, 0, Some(SAFETY_NET)) {
        Err(AccessError::Fault { offset, cause, .. }) => {
            assert_eq!(offset, PAGE);
            assert_eq!(cause, FaultCause::Truncated { file_len: PAGE });
        }
        other => panic!("expected a fault, got {other:?}"),
    }
    // The first page is still there.
    assert_eq!(
        map.wait(0, 1, Some(SAFETY_NET)).unwrap(),
        WaitOutcome::Changed
    );
}

// --- faults that are not ours ----------------------------------------------

/// In a child: maps a file, truncates it and reads a gone page without a
/// guard, in the way `role` says. Does not return if the fault kills.
fn unguarded_fault(role: &str) {
    // No core dump: the child is expected to die.
    let no_core = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain system call with a valid struct.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_CORE, &no_core) }, 0);
    if let Some(kind) = role.strip_prefix("app-handler-") {
        install_app_handler(kind == "siginfo");
    }
    // The parent's directory: this process dies before it could clean up.
    let dir = PathBuf::from(env(DIR_ENV));
    let path = dir.join(role);
    let map = Mapping::create(&path, 2 * PAGE).unwrap();
    let other = Mapping::create(dir.join(format!("{role}.other")), PAGE).unwrap();
    truncate(&path, 0);
    // SAFETY: deliberately breaks the contract of `as_slice` (the file was
    // truncated): the read must raise SIGBUS.
    let p = unsafe { map.as_slice() }
        .as_ptr()
        .wrapping_add(PAGE as usize);
    let read = || {
        // SAFETY: as above; the volatile read cannot be optimised away.
        unsafe { std::ptr::read_volatile(p) }
    };
    let v = if role == "inside-other-guard" {
        // A guard over another mapping does not cover this address.
        other.guarded(read).unwrap()
    } else {
        read()
    };
    eprintln!("SURVIVED an unguarded fault, read {v}");
    std::process::exit(3);
}

/// The application's own handler: says so and exits 42.
extern "C" fn app_handler_siginfo(
    _sig: libc::c_int,
    _info: *mut libc::siginfo_t,
    _ctx: *mut libc::c_void,
) {
    app_handler_plain(libc::SIGBUS);
}

extern "C" fn app_handler_plain(_sig: libc::c_int) {
    let msg = b"APP-SIGBUS-HANDLER\n";
    // SAFETY: write and _exit are async-signal-safe.
    unsafe {
        libc::write(2, msg.as_ptr().cast(), msg.len());
        libc::_exit(42);
    }
}

fn install_app_handler(siginfo: bool) {
    // SAFETY: a zeroed sigaction with a valid handler and an empty mask.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        if siginfo {
            sa.sa_sigaction = app_handler_siginfo as *const () as usize;
            sa.sa_flags = libc::SA_SIGINFO;
        } else {
            sa.sa_sigaction = app_handler_plain as *const () as usize;
        }
        libc::sigemptyset(&mut sa.sa_mask);
        assert_eq!(libc::sigaction(libc::SIGBUS, &sa, std::ptr::null_mut()), 0);
    }
}

#[test]
fn unguarded_fault_still_kills_with_sigbus() {
    if let Some(role) = child_role() {
        unguarded_fault(&role);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let dir_env = [(DIR_ENV, dir.path().to_str().unwrap())];
    for role in ["plain", "inside-other-guard"] {
        let f = spawn_child("unguarded_fault_still_kills_with_sigbus", role, &dir_env).finish();
        assert_eq!(
            f.status.signal(),
            Some(libc::SIGBUS),
            "{role}: child ended with {}\nstderr: {}",
            f.status,
            f.stderr
        );
        assert!(!f.stderr.contains("SURVIVED"), "{}", f.stderr);
    }
}

#[test]
fn application_sigbus_handler_is_chained() {
    if let Some(role) = child_role() {
        unguarded_fault(&role);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let dir_env = [(DIR_ENV, dir.path().to_str().unwrap())];
    for role in ["app-handler-siginfo", "app-handler-plain"] {
        let f = spawn_child("application_sigbus_handler_is_chained", role, &dir_env).finish();
        assert_eq!(
            f.status.code(),
            Some(42),
            "{role}: child ended with {}\nstderr: {}",
            f.status,
            f.stderr
        );
        assert!(f.stderr.contains("APP-SIGBUS-HANDLER"), "{}", f.stderr);
        assert!(!f.stderr.contains("SURVIVED"), "{}", f.stderr);
    }
}

/// Guards nest: a fault in the outer mapping, taken while a guarded access
/// to another mapping runs inside it, is caught and reported by the outer.
#[test]
fn nested_guards_catch_faults_in_every_enclosing_mapping() {
    let dir = tempfile::tempdir().unwrap();
    let outer_path = dir.path().join("outer");
    let inner_path = dir.path().join("inner");
    let outer = mapped::Mapping::create(&outer_path, 3 * 4096).unwrap();
    let inner = mapped::Mapping::create(&inner_path, 4096).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&outer_path)
        .unwrap()
        .set_len(4096)
        .unwrap();
    let word = outer.atomic_u64(8192).unwrap();
    let r = outer.guarded(|| {
        inner
            .guarded(|| word.load(std::sync::atomic::Ordering::SeqCst))
            .is_ok()
    });
    match r {
        Err(mapped::AccessError::Fault { offset, .. }) => assert_eq!(offset, 8192),
        other => panic!("expected the outer guard to report the fault: {other:?}"),
    }
    assert!(outer.is_poisoned());
    assert!(
        !inner.is_poisoned(),
        "only the faulting mapping is poisoned"
    );
    let mut b = [0u8; 1];
    inner.read_at(0, &mut b).unwrap();
}
