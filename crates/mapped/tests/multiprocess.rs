//! Several processes sharing one mapping: stores by one are seen by the
//! others at once, atomics are atomic across processes, and futex wait/wake
//! works between them.
//!
//! Each test re-executes this test binary (see `common::spawn_child`) for
//! the other processes; the parent and the children handshake through
//! atomics in the shared file and futex wait/wake, never through sleeps.

mod common;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::{SAFETY_NET, child_role, env, spawn_child, store_and_wake, wait_until};
use mapped::{Mapping, WaitOutcome};

const PATH_ENV: &str = "MAPPED_TEST_PATH";

// --- stores are visible across processes -----------------------------------

/// Layout of the file shared by `writes_are_visible_across_processes`.
mod vis {
    pub const CHILD_READY: u64 = 0;
    pub const PARENT_DONE: u64 = 4;
    pub const CHILD_ATOMIC: u64 = 8;
    pub const PARENT_ATOMIC: u64 = 16;
    pub const CHILD_BYTES: u64 = 4096;
    pub const PARENT_BYTES: u64 = 6000;
    pub const CHILD_MSG: &[u8] = b"written by the child through write_at";
    pub const PARENT_MSG: &[u8] = b"and this by the parent, never remapped";
    pub const CHILD_VALUE: u64 = 0x0123_4567_89ab_cdef;
    pub const PARENT_VALUE: u64 = 0xfedc_ba98_7654_3210;
}

#[test]
fn writes_are_visible_across_processes() {
    if let Some(role) = child_role() {
        assert_eq!(role, "peer");
        let map = Mapping::open_rw(env(PATH_ENV)).unwrap();
        // Nothing of the parent's yet: it waits for us.
        assert_eq!(
            map.atomic_u64(vis::PARENT_ATOMIC)
                .unwrap()
                .load(Ordering::SeqCst),
            0
        );
        map.write_at(vis::CHILD_BYTES, vis::CHILD_MSG).unwrap();
        map.atomic_u64(vis::CHILD_ATOMIC)
            .unwrap()
            .store(vis::CHILD_VALUE, Ordering::SeqCst);
        store_and_wake(&map, vis::CHILD_READY, 1);

        wait_until(&map, vis::PARENT_DONE, None, "the parent's stores", |v| {
            v == 1
        });
        let mut buf = vec![0u8; vis::PARENT_MSG.len()];
        map.read_at(vis::PARENT_BYTES, &mut buf).unwrap();
        assert_eq!(buf, vis::PARENT_MSG);
        let a = map.atomic_u64(vis::PARENT_ATOMIC).unwrap();
        assert_eq!(a.load(Ordering::SeqCst), vis::PARENT_VALUE);
        assert_eq!(
            map.read_pod::<u64>(vis::PARENT_ATOMIC).unwrap(),
            vis::PARENT_VALUE
        );
        return;
    }

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared");
    let map = Mapping::create(&path, 8192).unwrap();
    let addr = map.as_ptr();
    let mut child = spawn_child(
        "writes_are_visible_across_processes",
        "peer",
        &[(PATH_ENV, path.to_str().unwrap())],
    );

    wait_until(
        &map,
        vis::CHILD_READY,
        Some(&mut child),
        "the child's stores",
        |v| v == 1,
    );
    // The child's stores are in our mapping, made before it started.
    let mut buf = vec![0u8; vis::CHILD_MSG.len()];
    map.read_at(vis::CHILD_BYTES, &mut buf).unwrap();
    assert_eq!(buf, vis::CHILD_MSG);
    assert_eq!(
        map.atomic_u64(vis::CHILD_ATOMIC)
            .unwrap()
            .load(Ordering::SeqCst),
        vis::CHILD_VALUE
    );
    assert_eq!(
        map.read_pod::<u64>(vis::CHILD_ATOMIC).unwrap(),
        vis::CHILD_VALUE
    );

    map.write_at(vis::PARENT_BYTES, vis::PARENT_MSG).unwrap();
    map.atomic_u64(vis::PARENT_ATOMIC)
        .unwrap()
        .store(vis::PARENT_VALUE, Ordering::SeqCst);
    store_and_wake(&map, vis::PARENT_DONE, 1);
    child.finish().assert_success();

    // Same mapping throughout, and the file itself holds both processes' bytes.
    assert_eq!(map.as_ptr(), addr);
    let file = std::fs::read(&path).unwrap();
    assert_eq!(file.len(), 8192);
    let at = |o: u64, n: usize| &file[o as usize..o as usize + n];
    assert_eq!(at(vis::CHILD_BYTES, vis::CHILD_MSG.len()), vis::CHILD_MSG);
    assert_eq!(
        at(vis::PARENT_BYTES, vis::PARENT_MSG.len()),
        vis::PARENT_MSG
    );
    assert_eq!(
        at(vis::CHILD_ATOMIC, 8),
        vis::CHILD_VALUE.to_le_bytes().as_slice()
    );
}

// --- fetch_add from several processes --------------------------------------

const ADDERS: u32 = 4;
const ADDS_PER_PROCESS: u64 = 100_000;
const READY: u64 = 0;
const GO: u64 = 4;
const COUNTER: u64 = 8;

#[test]
fn fetch_add_from_several_processes_is_exact() {
    if let Some(role) = child_role() {
        assert_eq!(role, "adder");
        let map = Mapping::open_rw(env(PATH_ENV)).unwrap();
        let counter = map.atomic_u64(COUNTER).unwrap();
        map.atomic_u32(READY)
            .unwrap()
            .fetch_add(1, Ordering::SeqCst);
        map.wake(READY, u32::MAX >> 1).unwrap();
        // Start together, so that the adds really contend.
        wait_until(&map, GO, None, "go", |v| v == 1);
        let mut last = None;
        for _ in 0..ADDS_PER_PROCESS {
            let before = counter.fetch_add(1, Ordering::AcqRel);
            assert!(before < u64::from(ADDERS) * ADDS_PER_PROCESS);
            // This process's own adds are seen in order.
            assert!(last.is_none_or(|l| before > l), "{before} after {last:?}");
            last = Some(before);
        }
        return;
    }

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("counter");
    let map = Mapping::create(&path, 4096).unwrap();
    let mut children: Vec<_> = (0..ADDERS)
        .map(|_| {
            spawn_child(
                "fetch_add_from_several_processes_is_exact",
                "adder",
                &[(PATH_ENV, path.to_str().unwrap())],
            )
        })
        .collect();
    let deadline = Instant::now() + SAFETY_NET;
    while map.atomic_u32(READY).unwrap().load(Ordering::SeqCst) < ADDERS {
        for c in &mut children {
            c.check_alive("all adders to be ready");
        }
        assert!(Instant::now() < deadline, "adders never got ready");
        let v = map.atomic_u32(READY).unwrap().load(Ordering::SeqCst);
        map.wait(READY, v, Some(Duration::from_millis(100)))
            .unwrap();
    }
    assert_eq!(map.atomic_u64(COUNTER).unwrap().load(Ordering::SeqCst), 0);
    store_and_wake(&map, GO, 1);
    for c in children {
        c.finish().assert_success();
    }
    let total = u64::from(ADDERS) * ADDS_PER_PROCESS;
    assert_eq!(
        map.atomic_u64(COUNTER).unwrap().load(Ordering::SeqCst),
        total
    );
    // Through the file too.
    drop(map);
    let reopened = Mapping::open(&path).unwrap();
    assert_eq!(reopened.read_pod::<u64>(COUNTER).unwrap(), total);
}

// --- futex wait/wake across processes --------------------------------------

/// Layout of the file shared by `futex_wakes_a_waiter_in_another_process`.
mod fx {
    pub const READY: u64 = 0;
    pub const WORD: u64 = 4;
    pub const TID: u64 = 8;
    pub const WORD_ADDR: u64 = 16;
    pub const OUTCOME: u64 = 24;
    pub const SEEN: u64 = 28;
    pub const TIMEOUT_OUTCOME: u64 = 32;
    pub const LONELY_WORD: u64 = 40;
}

fn outcome_code(o: WaitOutcome) -> u32 {
    match o {
        WaitOutcome::Woken => 1,
        WaitOutcome::Changed => 2,
        WaitOutcome::TimedOut => 3,
        WaitOutcome::Interrupted => 4,
    }
}

/// Whether thread `tid` of process `pid` is blocked in `futex(addr, ...)`,
/// from `/proc/PID/task/TID/syscall`; `None` if that file cannot be read.
fn blocked_in_futex_at(pid: u32, tid: u64, addr: u64) -> Option<bool> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/syscall")).ok()?;
    let mut fields = text.split_whitespace();
    let nr: i64 = match fields.next()?.parse() {
        Ok(nr) => nr,
        Err(_) => return Some(false), // "running"
    };
    let arg0 = fields
        .next()
        .and_then(|a| u64::from_str_radix(a.trim_start_matches("0x"), 16).ok());
    Some(nr == libc::SYS_futex && arg0 == Some(addr))
}

#[test]
fn futex_wakes_a_waiter_in_another_process() {
    if let Some(role) = child_role() {
        assert_eq!(role, "waiter");
        let map = Mapping::open_rw(env(PATH_ENV)).unwrap();
        // Nobody ever wakes this word: the wait ends by its timeout.
        let lonely = map
            .wait(fx::LONELY_WORD, 0, Some(Duration::from_millis(50)))
            .unwrap();
        map.atomic_u32(fx::TIMEOUT_OUTCOME)
            .unwrap()
            .store(outcome_code(lonely), Ordering::SeqCst);

        // SAFETY: gettid has no preconditions.
        let tid = unsafe { libc::gettid() };
        map.atomic_u64(fx::TID)
            .unwrap()
            .store(tid as u64, Ordering::SeqCst);
        map.atomic_u64(fx::WORD_ADDR)
            .unwrap()
            .store(map.as_ptr() as u64 + fx::WORD, Ordering::SeqCst);
        store_and_wake(&map, fx::READY, 1);
        // One wait, no loop: the parent checks how this very call ended.
        let outcome = map.wait(fx::WORD, 0, Some(SAFETY_NET)).unwrap();
        let seen = map.atomic_u32(fx::WORD).unwrap().load(Ordering::SeqCst);
        map.atomic_u32(fx::SEEN)
            .unwrap()
            .store(seen, Ordering::SeqCst);
        map.atomic_u32(fx::OUTCOME)
            .unwrap()
            .store(outcome_code(outcome), Ordering::SeqCst);
        return;
    }

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("futex");
    let map = Mapping::create(&path, 4096).unwrap();
    let mut child = spawn_child(
        "futex_wakes_a_waiter_in_another_process",
        "waiter",
        &[(PATH_ENV, path.to_str().unwrap())],
    );
    wait_until(&map, fx::READY, Some(&mut child), "the waiter", |v| v == 1);
    let tid = map.atomic_u64(fx::TID).unwrap().load(Ordering::SeqCst);
    let addr = map
        .atomic_u64(fx::WORD_ADDR)
        .unwrap()
        .load(Ordering::SeqCst);

    // Make sure the child is asleep in the kernel on the word before we
    // store, so that the wake, not the value check, is what ends its wait.
    let deadline = Instant::now() + SAFETY_NET;
    let asleep = loop {
        match blocked_in_futex_at(child.pid(), tid, addr) {
            Some(true) => break true,
            None => {
                println!(
                    "notice: /proc/PID/task/TID/syscall unreadable; not checking that the child sleeps"
                );
                break false;
            }
            Some(false) => {
                child.check_alive("the waiter to block in futex wait");
                assert!(Instant::now() < deadline, "the waiter never blocked");
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    };

    map.atomic_u32(fx::WORD).unwrap().store(1, Ordering::SeqCst);
    let woken = map.wake(fx::WORD, 1).unwrap();
    child.finish().assert_success();

    println!("waiter confirmed asleep before the store: {asleep}; woken: {woken}");
    let outcome = map.atomic_u32(fx::OUTCOME).unwrap().load(Ordering::SeqCst);
    let seen = map.atomic_u32(fx::SEEN).unwrap().load(Ordering::SeqCst);
    assert_eq!(seen, 1, "the waiter returned before the parent's store");
    if asleep {
        assert_eq!(woken, 1, "the sleeping waiter was not woken by our wake");
        assert_eq!(outcome, outcome_code(WaitOutcome::Woken));
    } else {
        assert!(
            outcome == outcome_code(WaitOutcome::Woken)
                || outcome == outcome_code(WaitOutcome::Changed),
            "outcome code {outcome}"
        );
    }
    assert_eq!(
        map.atomic_u32(fx::TIMEOUT_OUTCOME)
            .unwrap()
            .load(Ordering::SeqCst),
        outcome_code(WaitOutcome::TimedOut),
        "a wait with a timeout and no waker must time out"
    );
}

#[test]
fn wait_without_waker_times_out_and_changed_value_returns_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let map = Mapping::create(dir.path().join("w"), 4096).unwrap();
    let start = Instant::now();
    assert_eq!(
        map.wait(0, 0, Some(Duration::from_millis(30))).unwrap(),
        WaitOutcome::TimedOut
    );
    assert!(start.elapsed() >= Duration::from_millis(30));
    map.atomic_u32(0).unwrap().store(7, Ordering::SeqCst);
    // The word does not hold the expected value: no sleep at all (the
    // safety-net timeout would make this TimedOut if it slept).
    assert_eq!(
        map.wait(0, 0, Some(SAFETY_NET)).unwrap(),
        WaitOutcome::Changed
    );
    // No waiters: nobody to wake.
    assert_eq!(map.wake(0, 1).unwrap(), 0);
    assert_eq!(mapped::wake_all(map.atomic_u32(0).unwrap()).unwrap(), 0);
}
