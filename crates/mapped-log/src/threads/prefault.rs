//! Faulting a segment's pages in ahead of an appender, off its path.
//!
//! A log only grows, so every page an appender writes is new: its first
//! store takes a fault in which the kernel allocates and zeroes a page-cache
//! page (and ext4 converts an unwritten extent), several microseconds each
//! on the machines we measured. With 64-byte messages that is one append in
//! about fifty; with 4 KiB messages, every one. Populating pages in bulk
//! (`MADV_POPULATE_WRITE`) costs far less per page than faulting them one at
//! a time (about 0.25 µs against 2 to 5 µs here), and done by a helper
//! thread on the appender's own mapping it leaves the appender no faults at
//! all.
//!
//! The helper keeps a window of [`AHEAD`] bytes populated past the
//! appender's last record: the appender asks for more when it has used half
//! of the window (a futex wake, once per [`AHEAD`]` / 2` bytes; no system
//! call otherwise). Population changes no bytes, so it never races the
//! protocol; it fails harmlessly (`EFAULT`) on a file truncated under it.
//!
//! Only for [`Durability::None`](crate::Durability::None): populated pages
//! are dirty zeros, which every `fdatasync` of the segment would write out
//! ahead of the records.
//!
//! The helper runs where the appender's thread may run, unless the
//! appender was given other CPUs for it (`Appender::set_prefault_cpus`). An
//! appender pinned to one CPU does better with its helper elsewhere: the
//! provisioning then no longer takes turns with the appends
//! (`docs/benchmarks.md`, "Where the prefault helper runs").
//!
//! (Making the next segment ahead of the roll is another matter, done for
//! appenders of every durability: `background::MakeAhead`.)

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use rustix::thread::CpuSet;

use crate::storage::segment::Segment;

/// Bytes kept populated past the appender's last record.
pub(crate) const AHEAD: u64 = 4 << 20;

/// Population is asked for in steps of this many bytes.
const STEP: u64 = 1 << 20;

/// The appender's side: asks the helper thread for pages.
#[derive(Debug)]
pub(crate) struct Prefault {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    /// The segment the helper works on, as the appender last told it.
    index: Option<u64>,
    /// Offset up to which population was last asked for.
    asked: u64,
}

#[derive(Debug)]
struct Shared {
    /// The segment to populate, from where (for a segment new to the
    /// helper: the appender's position) up to which offset.
    work: Mutex<Option<(Arc<Segment>, u64, u64)>>,
    /// Bumped for each request; the helper sleeps on it.
    wake: AtomicU32,
    stop: AtomicBool,
    /// How far the helper got in the current segment (for tests).
    done: AtomicU64,
    /// The helper's thread id, once it runs on its CPUs (for tests).
    #[cfg(test)]
    tid: std::sync::atomic::AtomicI32,
}

impl Prefault {
    /// Starts the helper thread, on `cpus` if given (else where the
    /// calling thread may run); `None` if it cannot be started (appends
    /// then take their faults as they come).
    pub(crate) fn start(cpus: Option<&CpuSet>) -> Option<Prefault> {
        let shared = Arc::new(Shared {
            work: Mutex::new(None),
            wake: AtomicU32::new(0),
            stop: AtomicBool::new(false),
            done: AtomicU64::new(0),
            #[cfg(test)]
            tid: std::sync::atomic::AtomicI32::new(0),
        });
        let cpus = cpus.cloned();
        let thread = std::thread::Builder::new()
            .name("mapped-log-prefault".into())
            .spawn({
                let shared = shared.clone();
                move || {
                    if let Some(cpus) = cpus {
                        // None of the given CPUs allowed (a cpuset, a CPU
                        // offline): the helper stays where it was born.
                        let _ = rustix::thread::sched_setaffinity(None, &cpus);
                    }
                    #[cfg(test)]
                    shared.tid.store(
                        rustix::thread::gettid().as_raw_nonzero().get(),
                        Ordering::Release,
                    );
                    helper(&shared)
                }
            })
            .ok()?;
        Some(Prefault {
            shared,
            thread: Some(thread),
            index: None,
            asked: 0,
        })
    }

    /// The appender's last record in `seg` ends at `end`: asks for the
    /// window past it once half of what was asked for is used.
    #[inline]
    pub(crate) fn appended(&mut self, seg: &Arc<Segment>, end: u64) {
        if self.index == Some(seg.index) && end + AHEAD / 2 <= self.asked {
            return;
        }
        self.request(seg, end);
    }

    #[cold]
    fn request(&mut self, seg: &Arc<Segment>, end: u64) {
        let upto = (end + AHEAD).min(seg.size());
        if self.index == Some(seg.index) && upto <= self.asked {
            return; // the segment's end is asked for already
        }
        self.index = Some(seg.index);
        self.asked = upto;
        *self.shared.work.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((seg.clone(), end, upto));
        self.shared.wake.fetch_add(1, Ordering::Release);
        let _ = mapped::wake(&self.shared.wake, 1);
    }
}

impl Drop for Prefault {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.wake.fetch_add(1, Ordering::SeqCst);
        let _ = mapped::wake(&self.shared.wake, 1);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn helper(shared: &Shared) {
    // The appender's own priority, not a lower one. The work is the
    // appender's: without the helper it would fault the same pages in
    // itself, one at a time and at a higher cost each. At the lowest
    // priority (nice 19, as it once ran) the helper, sharing the
    // appender's CPU in `mapped bench ipc`, fell behind: in A/B runs
    // 64-byte streaming ran at 9.9 to 10.0 M/s against 11.3 to 12.2 M/s at
    // the appender's priority, 4 KiB at 326 k/s against 430 k/s, and the
    // 4 KiB stamped p99 was 31 to 141 µs against 5 to 9 µs
    // (`docs/notes/performance-history.md`). The cost: on a machine with no spare core,
    // the helper may take turns with a spinning reader on the reader's
    // core.
    // Where population stands: the segment and the offset reached.
    let mut at: Option<(u64, u64)> = None;
    loop {
        let seen = shared.wake.load(Ordering::Acquire);
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let work = shared
            .work
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if let Some((seg, start, upto)) = work {
            let mut from = match at {
                Some((index, off)) if index == seg.index => off.max(start),
                _ => start,
            };
            // In steps, so that a new request or a stop is seen soon.
            while from < upto && !shared.stop.load(Ordering::Relaxed) {
                let len = (upto - from).min(STEP);
                if seg
                    .map
                    .advise_range(mapped::Advice::PopulateWrite, from, len as usize)
                    .is_err()
                {
                    // Truncated, or no memory: leave this segment be.
                    from = seg.size();
                    break;
                }
                from += len;
                shared.done.store(from, Ordering::Release);
            }
            at = Some((seg.index, from));
            // Drop our reference before sleeping: the appender may be done
            // with the segment.
            drop(seg);
        }
        if shared.wake.load(Ordering::Acquire) == seen {
            let _ = mapped::wait(&shared.wake, seen, None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_helper_populates_the_window_and_stops_on_drop() {
        let (_dir, log) = crate::testing::temp_log(64 << 20);
        let seg = Arc::new(log.open_segment(0).unwrap().unwrap());
        // An appender's last record ends 40 MiB in: the window past it.
        let end = 40 << 20;
        let window = |seg: &Segment| {
            seg.map
                .residency_range(end, AHEAD as usize)
                .unwrap()
                .resident_pages()
        };
        let before = window(&seg);
        let mut p = Prefault::start(None).expect("thread");
        p.appended(&seg, end);
        let want = end + AHEAD;
        let start = std::time::Instant::now();
        while p.shared.done.load(Ordering::Acquire) < want {
            assert!(
                start.elapsed() < std::time::Duration::from_secs(60),
                "the helper never got there"
            );
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        let after = window(&seg);
        assert_eq!(after, (AHEAD / 4096) as usize, "{before} -> {after} pages");
        // No request within half a window; a request past it.
        let asked = p.asked;
        p.appended(&seg, end + AHEAD / 4);
        assert_eq!(p.asked, asked);
        p.appended(&seg, end + AHEAD / 2 + 8);
        assert!(p.asked > asked);
        drop(p); // joins the helper
    }

    #[test]
    fn the_helper_runs_on_the_cpus_it_is_given() {
        let mine = rustix::thread::sched_getaffinity(None).unwrap();
        let last = (0..CpuSet::MAX_CPU)
            .rev()
            .find(|&c| mine.is_set(c))
            .unwrap();
        let mut want = CpuSet::new();
        want.set(last);
        let p = Prefault::start(Some(&want)).expect("thread");
        let start = std::time::Instant::now();
        let tid = loop {
            let tid = p.shared.tid.load(Ordering::Acquire);
            if tid != 0 {
                break rustix::thread::Pid::from_raw(tid).unwrap();
            }
            assert!(start.elapsed() < std::time::Duration::from_secs(60));
            std::thread::sleep(std::time::Duration::from_millis(1));
        };
        let got = rustix::thread::sched_getaffinity(Some(tid)).unwrap();
        let on: Vec<usize> = (0..CpuSet::MAX_CPU).filter(|&c| got.is_set(c)).collect();
        assert_eq!(on, [last]);
        drop(p);
    }
}
