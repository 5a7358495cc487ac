//! Crash test in the style of sled's: child processes appending to (and
//! reading from) one log are killed with `SIGKILL` at random instants, round
//! after round, and after each round the log is checked against a model.
//!
//! `MAPPED_LOG_KILL_ROUNDS` sets the rounds (default 60, a few seconds).
//! Soak (1,000 rounds: about 2,800 kills, 1.5 million messages checked,
//! under a minute in release; prints the seed and the kill count):
//!
//! ```text
//! MAPPED_LOG_KILL_ROUNDS=1000 cargo test -p mapped-log --release --test kill -- --nocapture
//! ```
//!
//! Replay a failure with the seed it printed: `MAPPED_LOG_SEED=<seed>` (the
//! kill instants still vary with scheduling, so a replay is a hint, not a
//! guarantee).
//!
//! Each round:
//!
//! - 1 to 4 appender children append self-checking messages in a tight
//!   loop (some with `Durability::Sync` or `Interval`, some writing in place
//!   with claim/commit and abandoning a claim now and then). After each
//!   append returns, the child records the id in a shared ack file: those
//!   are the acknowledged messages.
//! - Every other round, 1 or 2 reader children follow the log with the
//!   blocking `next`, checking every message; any error or damaged message
//!   makes them record it and exit non-zero.
//! - In half the rounds with two or more appenders, one is killed
//!   mid-stream and a new appender started at once: it takes the dead
//!   one's slot over, and repairs its unfinished record, while the others
//!   keep appending (some of them, at that instant, between reserving and
//!   saying where).
//! - The parent kills them all at random instants: sometimes during start
//!   up, usually mid-stream after a random number of acks plus 0 to 3 ms,
//!   in random order. Segments are small (32 KiB), so kills land mid-roll
//!   too.
//! - Then, sometimes after an explicit `Log::recover`: `verify` must find
//!   nothing wrong; a new appender and a reader must make progress past the
//!   dead appenders' unfinished records (safety-net timeouts only); and the
//!   messages of each killed appender must be exactly its acknowledged ones
//!   (plus at most the one in flight), intact, once each, in order, with the
//!   acknowledged ids.

mod common;

use std::collections::HashMap;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::{
    Child, Rng, SAFETY_NET, check_payload, child_role, env, env_u64, payload, seed, spawn_child,
    wait_for,
};
use mapped::Mapping;
use mapped_log::{Appender, Durability, Log, LogOptions, Retention, Start, format};

const TEST: &str = "killed_appenders_and_readers_lose_nothing";
const LOG_ENV: &str = "MAPPED_LOG_TEST_LOG";
const ACK_ENV: &str = "MAPPED_LOG_TEST_ACKS";
const INC_ENV: &str = "MAPPED_LOG_TEST_INCARNATION";
const MODE_ENV: &str = "MAPPED_LOG_TEST_MODE";
const START_ENV: &str = "MAPPED_LOG_TEST_START";
const ERR_ENV: &str = "MAPPED_LOG_TEST_ERR";

const SEGMENT: u64 = 32 << 10;
/// Most messages one appender child acknowledges before it stops.
const CAP: u64 = 1 << 16;
/// Ack file: acknowledged count at 0, then the id of message `seq` at
/// `8 + 8 * seq`. Progress file of a reader: messages read at 0.
const ACK_LEN: u64 = 8 + 8 * CAP;
/// Incarnation of the parent's marker messages.
const MARKER: u32 = 0;
/// How long the parent waits for the log to move past dead appenders: a
/// safety net, far above the ~10 ms a repair takes.
const PROGRESS_NET: Duration = Duration::from_secs(20);

const MODES: [&str; 5] = ["plain", "plain", "claim", "sync", "interval"];

/// Appender role: appends messages `0..CAP` of its incarnation, recording
/// each acknowledged id, until killed.
fn appender_child() {
    let log = Log::open(env(LOG_ENV)).unwrap();
    let inc: u32 = env(INC_ENV).parse().unwrap();
    let mode = env(MODE_ENV);
    let acks = Mapping::open_rw(env(ACK_ENV)).unwrap();
    let count = acks.atomic_u64(0).unwrap();
    let mut app = Appender::new(&log).unwrap();
    match mode.as_str() {
        "sync" => app.set_durability(Durability::Sync).unwrap(),
        "interval" => app
            .set_durability(Durability::Interval(Duration::from_millis(1)))
            .unwrap(),
        _ => {}
    }
    for seq in 0..CAP {
        let p = payload(inc, seq);
        let id = if mode == "claim" {
            if seq % 7 == 3 {
                // Abandoned: becomes padding.
                let mut c = app.claim(p.len()).unwrap();
                c.as_mut_slice().fill(0xee);
            }
            let mut c = app.claim(p.len()).unwrap();
            c.as_mut_slice().copy_from_slice(&p);
            c.commit().unwrap()
        } else {
            app.append(&p).unwrap()
        };
        acks.atomic_u64(8 + 8 * seq)
            .unwrap()
            .store(id, Ordering::Relaxed);
        count.store(seq + 1, Ordering::Release);
    }
}

/// Reader role: follows the log from `START` until killed, checking every
/// message. A failure is recorded in the `ERR` file before the panic, so
/// that a kill racing the exit does not hide it.
fn reader_child() {
    let err_path = PathBuf::from(env(ERR_ENV));
    let fail = |what: String| -> ! {
        std::fs::write(&err_path, &what).unwrap();
        panic!("{what}");
    };
    let log = Log::open(env(LOG_ENV)).unwrap_or_else(|e| fail(format!("open: {e}")));
    let progress = Mapping::open_rw(env(ACK_ENV)).unwrap();
    let read = progress.atomic_u64(0).unwrap();
    let start: u64 = env(START_ENV).parse().unwrap();
    let mut r = log
        .reader(Start::Id(start))
        .unwrap_or_else(|e| fail(format!("reader at {start}: {e}")));
    let mut next_seq: HashMap<u32, u64> = HashMap::new();
    let mut last = None;
    loop {
        let m = match r.next(Some(SAFETY_NET)) {
            Ok(Some(m)) => m,
            Ok(None) => fail(format!("no message for {SAFETY_NET:?} at {}", r.position())),
            Err(e) => fail(format!("read error at {}: {e}", r.position())),
        };
        let (inc, seq) =
            check_payload(m.payload()).unwrap_or_else(|e| fail(format!("message {}: {e}", m.id())));
        if last.is_some_and(|l| m.id() <= l) {
            fail(format!("id {} after {last:?}", m.id()));
        }
        last = Some(m.id());
        if inc != MARKER {
            let want = next_seq.entry(inc).or_insert(0);
            if seq != *want {
                fail(format!(
                    "incarnation {inc}: message {seq} where {want} was due (id {})",
                    m.id()
                ));
            }
            *want += 1;
        }
        read.fetch_add(1, Ordering::Release);
    }
}

struct Spawned {
    child: Child,
    inc: u32,
    mode: &'static str,
    acks: Mapping,
    ack_path: PathBuf,
    err_path: Option<PathBuf>,
}

fn new_ack_file(path: &Path) -> Mapping {
    let _ = std::fs::remove_file(path);
    Mapping::create(path, ACK_LEN).unwrap()
}

#[test]
fn killed_appenders_and_readers_lose_nothing() {
    match child_role().as_deref() {
        Some("appender") => return appender_child(),
        Some("reader") => return reader_child(),
        Some(other) => panic!("unknown role {other}"),
        None => {}
    }
    let rounds = env_u64("MAPPED_LOG_KILL_ROUNDS", 60);
    let mut rng = Rng::new(seed(TEST));
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let dir_s = dir.to_str().unwrap().to_owned();
    let log = Log::create(
        &dir,
        LogOptions {
            segment_size: SEGMENT,
            max_message: 1024,
            ..LogOptions::default()
        },
    )
    .unwrap();
    let mut checker = log.reader(Start::Beginning).unwrap();
    let started = Instant::now();
    let (mut kills, mut messages, mut recoveries, mut in_flight_kept) = (0u64, 0u64, 0u64, 0u64);
    // Temporary files of processes killed mid-roll, and how many recovery
    // removed.
    let mut leftovers_removed = 0u64;
    let mut next_inc = 1u32;

    // The first marker: readers of round 1 start at it.
    let mut marker = Appender::new(&log)
        .unwrap()
        .append(&payload(MARKER, 0))
        .unwrap();
    assert_eq!(checker.try_next().unwrap().unwrap().id(), marker);

    let mut relays = 0u64;
    for round in 1..=rounds {
        let n_app = rng.range(1, 4);
        let n_read = if rng.one_in(2) { rng.range(1, 2) } else { 0 };
        // A relay: one appender is killed mid-round and a new one started
        // at once, so that it takes the dead one's slot over (and repairs
        // its record) while the others keep appending.
        let relay = n_app >= 2 && rng.one_in(2);
        let mut children: Vec<Spawned> = Vec::new();
        for k in 0..n_app + n_read {
            let is_reader = k >= n_app;
            let ack_path = tmp.path().join(format!("ack-{k}"));
            let acks = new_ack_file(&ack_path);
            let inc = next_inc;
            next_inc += 1;
            let mode = MODES[rng.below(MODES.len() as u64) as usize];
            let mut env = vec![
                (LOG_ENV, dir_s.clone()),
                (ACK_ENV, ack_path.to_str().unwrap().to_owned()),
            ];
            let err_path = if is_reader {
                let p = tmp.path().join(format!("err-{round}-{k}"));
                env.push((START_ENV, marker.to_string()));
                env.push((ERR_ENV, p.to_str().unwrap().to_owned()));
                Some(p)
            } else {
                env.push((INC_ENV, inc.to_string()));
                env.push((MODE_ENV, mode.to_owned()));
                None
            };
            let role = if is_reader { "reader" } else { "appender" };
            children.push(Spawned {
                child: spawn_child(TEST, role, &env),
                inc,
                mode,
                acks,
                ack_path,
                err_path,
            });
        }

        // Pick the instant.
        if rng.one_in(5) {
            // Early: maybe before the test function runs, while opening the
            // log or taking a slot, or in the first appends.
            std::thread::sleep(Duration::from_micros(rng.below(15_000)));
        } else {
            let threshold = rng.range(1, 200);
            for s in &mut children {
                let want = match (s.err_path.is_some(), s.mode) {
                    (true, _) => 1,
                    (false, "sync") => threshold.min(4),
                    (false, _) => threshold,
                };
                let acks = &s.acks;
                wait_for("a child to make progress", Some(&mut s.child), || {
                    acks.atomic_u64(0).unwrap().load(Ordering::Acquire) >= want
                });
            }
            std::thread::sleep(Duration::from_micros(rng.below(3_000)));
            if relay {
                relays += 1;
                let victim = rng.below(n_app) as usize;
                children[victim].child.kill();
                let k = n_app + n_read;
                let ack_path = tmp.path().join(format!("ack-{k}"));
                let acks = new_ack_file(&ack_path);
                let inc = next_inc;
                next_inc += 1;
                let mode = MODES[rng.below(MODES.len() as u64) as usize];
                let env = vec![
                    (LOG_ENV, dir_s.clone()),
                    (ACK_ENV, ack_path.to_str().unwrap().to_owned()),
                    (INC_ENV, inc.to_string()),
                    (MODE_ENV, mode.to_owned()),
                ];
                let mut s = Spawned {
                    child: spawn_child(TEST, "appender", &env),
                    inc,
                    mode,
                    acks,
                    ack_path,
                    err_path: None,
                };
                let acks = &s.acks;
                wait_for(
                    "the relay appender to make progress",
                    Some(&mut s.child),
                    || acks.atomic_u64(0).unwrap().load(Ordering::Acquire) >= 1,
                );
                children.push(s);
                std::thread::sleep(Duration::from_micros(rng.below(2_000)));
            }
        }
        // Kill in random order, a little apart.
        let mut order: Vec<usize> = (0..children.len()).collect();
        for i in (1..order.len()).rev() {
            order.swap(i, rng.below(i as u64 + 1) as usize);
        }
        for &i in &order {
            children[i].child.kill();
            if rng.one_in(2) {
                std::thread::sleep(Duration::from_micros(rng.below(500)));
            }
        }

        // Reap; nothing may have failed.
        let mut appenders = Vec::new();
        for s in children {
            let Spawned {
                child,
                inc,
                mode,
                acks,
                ack_path,
                err_path,
            } = s;
            let f = child.finish();
            if let Some(err) = &err_path {
                if let Ok(what) = std::fs::read_to_string(err) {
                    panic!(
                        "round {round}: a reader failed: {what}\n{}",
                        f.describe("failed")
                    );
                }
                assert!(f.killed(), "{}", f.describe("a reader ended by itself"));
            } else {
                f.assert_killed_or_success();
            }
            if f.killed() {
                kills += 1;
            }
            if err_path.is_none() {
                let n = acks.atomic_u64(0).unwrap().load(Ordering::Acquire);
                let ids: Vec<u64> = (0..n)
                    .map(|s| acks.atomic_u64(8 + 8 * s).unwrap().load(Ordering::Relaxed))
                    .collect();
                appenders.push((inc, mode, ids));
            }
            drop(acks);
            let _ = std::fs::remove_file(ack_path);
        }

        // Explicit recovery right after the deaths, before anyone has
        // repaired anything: it must not lose an acknowledged message.
        if rng.one_in(4) {
            let report = log.recover().unwrap();
            recoveries += 1;
            assert_eq!(
                report.cut_at, None,
                "round {round}: recovery after process deaths cut the log: {report:?}"
            );
            // Every process is dead or done: whatever they left half-made
            // is gone now.
            leftovers_removed += report.leftovers_removed.files;
            assert_eq!(
                log.stat().unwrap().leftovers.files,
                0,
                "round {round}: temporary files left after recovery"
            );
        }
        assert_eq!(
            log.verify().unwrap(),
            [],
            "round {round}: verify after the kills"
        );

        // The log moves on: a new appender appends, and a reader gets past
        // whatever the dead left unfinished, to the new message.
        marker = Appender::new(&log)
            .unwrap()
            .append(&payload(MARKER, round))
            .unwrap();
        let mut seen: HashMap<u32, Vec<u64>> = HashMap::new();
        loop {
            let at = checker.position();
            let m = checker
                .next(Some(PROGRESS_NET))
                .unwrap_or_else(|e| panic!("round {round}: reading after the kills: {e}"))
                .unwrap_or_else(|| {
                    panic!("round {round}: blocked at {at} for {PROGRESS_NET:?} after the kills")
                });
            let id = m.id();
            let (inc, seq) = check_payload(m.payload())
                .unwrap_or_else(|e| panic!("round {round}: id {id}: {e}"));
            if inc == MARKER {
                assert_eq!((id, seq), (marker, round), "round {round}: a stray marker");
                break;
            }
            let ids = seen.entry(inc).or_default();
            assert_eq!(
                seq,
                ids.len() as u64,
                "round {round}: incarnation {inc}: message {seq} at id {id} where {} was due (lost, repeated or reordered)",
                ids.len()
            );
            ids.push(id);
            messages += 1;
        }
        assert!(
            checker.try_next().unwrap().is_none(),
            "round {round}: nothing after the marker"
        );

        // The model: each appender's messages are its acknowledged ones,
        // plus at most the one it was killed in the middle of.
        for (inc, mode, acked) in &appenders {
            let got = seen.remove(inc).unwrap_or_default();
            assert!(
                got.len() >= acked.len() && got.len() <= acked.len() + 1,
                "round {round}: incarnation {inc} ({mode}) acknowledged {} messages, the log holds {}",
                acked.len(),
                got.len()
            );
            assert_eq!(
                &got[..acked.len()],
                &acked[..],
                "round {round}: incarnation {inc}: ids differ from the acknowledged ones"
            );
            if got.len() > acked.len() {
                in_flight_kept += 1;
            }
        }
        assert!(
            seen.is_empty(),
            "round {round}: messages of unknown writers {:?}",
            seen.keys()
        );
        if round % 8 == 0 {
            log.retain(Retention {
                max_bytes: Some(1 << 20),
                ..Retention::default()
            })
            .unwrap();
        }
    }

    // Everything still in the log reads back intact, and verifies.
    assert_eq!(log.verify().unwrap(), []);
    let mut r = log.reader(Start::Beginning).unwrap();
    let mut n = 0;
    while let Some(m) = r.next(Some(Duration::from_millis(50))).unwrap() {
        check_payload(m.payload()).unwrap();
        n += 1;
    }
    assert_eq!(r.position(), checker.position());
    let stat = log.stat().unwrap();
    assert_eq!(stat.messages, n);
    assert!(stat.live_appenders.is_empty(), "{:?}", stat.live_appenders);
    println!(
        "{rounds} rounds, {kills} kills ({relays} mid-round takeovers), {messages} messages checked ({in_flight_kept} committed in flight when killed), {recoveries} explicit recoveries ({leftovers_removed} temporary files of killed rollers removed), {} segments left, {:?}",
        stat.segments.len(),
        started.elapsed()
    );
    assert!(
        kills >= rounds,
        "too few kills landed: {kills} in {rounds} rounds"
    );
}

/// A log of small segments, for the dead-appender tests below, with `n`
/// messages of writer 1 appended by the appender returned: the messages
/// with their ids.
fn small_log(dir: &Path, n: u64) -> (Log, Appender, Vec<(u64, Vec<u8>)>) {
    let log = Log::create(
        dir,
        LogOptions {
            segment_size: SEGMENT,
            max_message: 1024,
            ..LogOptions::default()
        },
    )
    .unwrap();
    let mut app = Appender::new(&log).unwrap();
    let sent = append_seqs(&mut app, 0..n);
    (log, app, sent)
}

/// Appends the messages of writer 1 numbered `seqs`; returns them with
/// their ids.
fn append_seqs(app: &mut Appender, seqs: std::ops::Range<u64>) -> Vec<(u64, Vec<u8>)> {
    seqs.map(|seq| (app.append(&payload(1, seq)).unwrap(), payload(1, seq)))
        .collect()
}

/// What an appender killed right after reserving leaves: slot 40 (its lock
/// free) says `Reserving` in segment 0, and the tail of segment 0 moved past
/// a 104-byte record never announced. Returns where the hole starts.
fn leave_a_dead_reservation(dir: &Path) -> u64 {
    let control = Mapping::open_rw(dir.join(mapped_log::CONTROL_FILE)).unwrap();
    control
        .atomic_u64(format::CONTROL_SLOTS + 40 * format::SLOT_LEN)
        .unwrap()
        .store(1 << 62, Ordering::SeqCst);
    let seg = Mapping::open_rw(common::segment_path(dir, 0)).unwrap();
    seg.atomic_u64(format::SEGMENT_TAIL_OFFSET)
        .unwrap()
        .fetch_add(format::record_size(88), Ordering::SeqCst)
}

/// An appender killed between reserving its space (`tail.fetch_add`, step
/// 2) and saying where (`Holding`, step 3) leaves a zero hole below the
/// tail and a slot that says `Reserving`. The window is a few instructions,
/// so the random kills above rarely hit it: this test builds that state by
/// hand. Explicit recovery must turn the hole into padding, as readers do,
/// and keep the messages committed after it.
#[test]
fn explicit_recovery_keeps_messages_after_a_hole_left_while_reserving() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let (log, mut app, mut want) = small_log(&dir, 10);

    // The dead appender: slot 40 (its lock is free) says `Reserving` in
    // segment 0, and the tail moved past a 104-byte record never announced.
    let hole = leave_a_dead_reservation(&dir);
    assert_eq!(
        hole,
        want.last().unwrap().0 + format::record_size(want[9].1.len() as u32)
    );

    // Live appenders go on after the hole.
    want.extend(append_seqs(&mut app, 10..20));
    assert!(want[10].0 > hole);
    drop(app);

    let first = log.recover().unwrap();
    assert_eq!(first.slots_released, 1, "{first:?}");
    // Recovery validates only when no appender is alive. Another test
    // thread of this binary that forks a child at this instant shares the
    // dropped appender's open file description, and with it its lock, until
    // the child execs: then recovery sees a live appender and stops after
    // the slots. Look again until the validation has run.
    let mut report = first;
    for _ in 0..500 {
        if report.kept > 0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
        report = log.recover().unwrap();
    }
    assert_eq!(
        report.kept, 20,
        "every record past the durable position kept: {report:?}"
    );
    assert_eq!(report.cut_at, None, "{report:?}");
    let mut r = log.reader(Start::Beginning).unwrap();
    for (id, p) in &want {
        let m = r.try_next().unwrap().expect("kept");
        assert_eq!((m.id(), m.payload()), (*id, &p[..]));
    }
    assert!(r.try_next().unwrap().is_none());
    assert_eq!(log.verify().unwrap(), []);
}

#[test]
fn a_polling_reader_repairs_a_dead_appenders_hole_too() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let (log, mut app, mut want) = small_log(&dir, 5);
    // A dead appender, as in the test above.
    leave_a_dead_reservation(&dir);
    want.extend(append_seqs(&mut app, 5..10));

    // A reader that only ever calls `try_next`, as an event loop does.
    let mut r = log.reader(Start::Beginning).unwrap();
    let mut got = Vec::new();
    let start = std::time::Instant::now();
    while got.len() < want.len() {
        assert!(
            start.elapsed() < common::SAFETY_NET,
            "stuck at the dead appender's hole after {} messages",
            got.len()
        );
        match r.try_next().unwrap() {
            Some(m) => got.push((m.id(), m.payload().to_vec())),
            None => std::thread::sleep(std::time::Duration::from_millis(2)),
        }
    }
    assert_eq!(got, want);
}

const MID_WRITE: &str = "a_writer_killed_mid_payload_is_padded_exactly";

/// An appender that dies after writing part of its record (payload and
/// all, the header still zero: the header is written only at the commit)
/// leaves bytes that a scan for zero words would take for the next record.
/// Its slot's size word says where the record ends: readers, polling or
/// waiting, and explicit recovery must skip exactly that record. A real
/// appender process does it here, through the claim API, and aborts (no
/// unwinding, no drop of the claim).
#[test]
fn a_writer_killed_mid_payload_is_padded_exactly() {
    if child_role().as_deref() == Some("mid-write") {
        let log = Log::open(env(LOG_ENV)).unwrap();
        let mut app = Appender::new(&log).unwrap();
        let mut c = app.claim(88).unwrap();
        // Bytes that decode as a valid record header, had a scan stopped
        // on them: the worst case for a wrong repair.
        let fake = 0x0000_0002_0000_0018u64.to_le_bytes();
        for chunk in c.as_mut_slice().chunks_mut(8) {
            chunk.copy_from_slice(&fake[..chunk.len()]);
        }
        std::process::abort();
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let (log, mut app, mut want) = small_log(&dir, 5);
    let died = spawn_child(
        MID_WRITE,
        "mid-write",
        &[(LOG_ENV, dir.display().to_string())],
    )
    .finish();
    assert!(
        died.status.signal().is_some(),
        "{}",
        died.describe("did not die by a signal")
    );
    want.extend(append_seqs(&mut app, 5..10));

    // A waiting reader and a polling one both get every message, in order.
    let mut waiting = log.reader(Start::Beginning).unwrap();
    let mut polling = log.reader(Start::Beginning).unwrap();
    let start = Instant::now();
    for (id, p) in &want {
        let m = waiting.next(Some(SAFETY_NET)).unwrap().expect("a message");
        assert_eq!((m.id(), m.payload()), (*id, &p[..]));
        let m = loop {
            assert!(start.elapsed() < SAFETY_NET, "polling reader stuck");
            match polling.try_next().unwrap() {
                Some(m) => break m,
                None => std::thread::sleep(Duration::from_millis(1)),
            }
        };
        assert_eq!((m.id(), m.payload()), (*id, &p[..]));
    }
    assert!(waiting.try_next().unwrap().is_none());
    assert_eq!(log.verify().unwrap(), []);

    // The padding covers exactly the dead record: recovery finds the ten
    // messages and nothing to cut.
    drop(app);
    let report = log.recover().unwrap();
    assert_eq!(report.cut_at, None, "{report:?}");
}
