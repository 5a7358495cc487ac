//! Appending: reserve with an atomic add, write, commit with a release
//! store (Aeron's claim/commit), across processes and without locks.
//!
//! The steps of one append, and what a death after each leaves behind:
//!
//! | step | if the appender dies here |
//! |---|---|
//! | 1. slot := `Reserving(segment)` | nothing reserved, or a zero hole: [`repair::pad_gap`] |
//! | 2. `tail.fetch_add(size)` | a zero hole below the tail: `pad_gap` |
//! | 3. slot size := `size`, slot := `Holding(id)` | a record with a zero header, held by a dead slot: `pad_gap` pads exactly `size` |
//! | 4. check the header is zero | as 3 |
//! | 5. payload, length, checksum | as 3 (the payload may be partly written) |
//! | 6. header := `Committed` (release) | a committed record: kept |
//! | 7. slot := `Idle` | nothing to repair |
//!
//! The header is written once, at the commit: while the record is being
//! written, the slot says who owns it. A reader spinning on the header
//! therefore pulls its cache line away from the appender once, not twice.
//! (Format version 1 wrote a `Writing` header first; readers and repairs
//! still accept one, as an unfinished record.)

#![allow(unsafe_code)]

use std::sync::atomic::Ordering;
use std::sync::{Arc, mpsc};

use crate::error::{LogError, Result};
use crate::format;
use crate::log::Log;
use crate::ops::repair;
use crate::ops::sync::Durability;
use crate::protocol::{self, Reserve};
use crate::storage::locks::LockFile;
use crate::storage::segment::Segment;
use crate::threads::prefault::Prefault;

/// A handle that appends to a log. Each holds one of the log's appender
/// slots, proved alive by a lock the kernel releases when the process dies.
/// Make one per thread (it needs `&mut self`).
#[derive(Debug)]
pub struct Appender {
    log: Log,
    slot: u32,
    /// Our own open file description of the lock file, holding byte `slot`.
    lock: LockFile,
    seg: Option<Arc<Segment>>,
    durability: Durability,
    background: Option<Background>,
    /// Whether to fault pages in ahead (see `prefault.rs`); the helper
    /// thread, once started.
    prefault_on: bool,
    prefault: Option<Prefault>,
    /// Where the helper runs, if not where the appender may.
    prefault_cpus: Option<rustix::thread::CpuSet>,
    /// Has the next segment made ahead of the roll (any durability).
    ahead: crate::threads::background::MakeAhead,
    /// The process's fork generation when made (see `fork.rs`).
    forks: u64,
}

impl Drop for Appender {
    fn drop(&mut self) {
        if crate::threads::fork::forked_since(self.forks) {
            // In a forked child the helper threads do not exist: joining
            // them would wait for ever. Their memory is the parent's copy.
            std::mem::forget(self.background.take());
            std::mem::forget(self.prefault.take());
            std::mem::forget(std::mem::take(&mut self.ahead));
        }
    }
}

/// The thread that syncs an [`Durability::Interval`] appender's log.
#[derive(Debug)]
struct Background {
    stop: mpsc::Sender<()>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.stop.send(());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Appender {
    /// Takes a free appender slot of `log`, first finishing whatever a dead
    /// previous owner of the slot left unfinished.
    pub fn new(log: &Log) -> Result<Appender> {
        let forks = crate::threads::fork::generation();
        let inner = &log.inner;
        inner.writable("an appender")?;
        let lock_path = inner.dir.join(crate::storage::locks::LOCK_FILE);
        let lock = LockFile::open(&lock_path)?;
        let io = |e| LogError::io(&lock_path, "lock", e);
        // Recovery holds this byte exclusively while it decides that no
        // appender is alive and cuts the log: join only outside it.
        lock.lock_shared_wait(format::RECOVERY_LOCK_BYTE)
            .map_err(io)?;
        let taken = inner.ctl(|| Self::take_slot(inner, &lock)).and_then(|r| r);
        let _ = lock.unlock(format::RECOVERY_LOCK_BYTE);
        let slot = taken?;
        Ok(Appender {
            log: log.clone(),
            slot,
            lock,
            seg: None,
            durability: Durability::None,
            background: None,
            prefault_on: true,
            prefault: None,
            prefault_cpus: None,
            ahead: Default::default(),
            forks,
        })
    }

    /// Fails in a child forked after this appender was made.
    #[inline]
    fn check_process(&self) -> Result<()> {
        if crate::threads::fork::forked_since(self.forks) {
            return Err(LogError::Forked {
                path: self.log.dir().to_path_buf(),
                handle: crate::error::Handle::Appender,
            });
        }
        Ok(())
    }

    /// Finds a free slot, locks it, and repairs what its last owner left.
    fn take_slot(inner: &crate::storage::control::Inner, lock: &LockFile) -> Result<u32> {
        let lock_path = inner.dir.join(crate::storage::locks::LOCK_FILE);
        for slot in 0..format::SLOTS {
            if lock
                .try_lock(slot)
                .map_err(|e| LogError::io(&lock_path, "lock", e))?
            {
                match repair::repair_slot(inner, slot) {
                    Ok(true) => return Ok(slot),
                    // Its dead owner's record cannot be padded yet: leave
                    // the slot, and what it knows, to a later repair.
                    Ok(false) => {
                        let _ = lock.unlock(slot);
                    }
                    Err(e) => {
                        let _ = lock.unlock(slot);
                        return Err(e);
                    }
                }
            }
        }
        Err(LogError::TooManyAppenders {
            path: inner.dir.clone(),
            slots: format::SLOTS,
        })
    }

    /// Sets when appends are durable: see [`Durability`]. Fails only if
    /// the background thread of [`Durability::Interval`] cannot be started,
    /// or in a child forked after this appender was made
    /// ([`LogError::Forked`]).
    pub fn set_durability(&mut self, durability: Durability) -> Result<()> {
        self.check_process()?;
        self.background = None;
        if durability != Durability::None {
            self.prefault = None;
        }
        self.durability = Durability::None;
        if let Durability::Interval(every) = durability {
            let (stop, rx) = mpsc::channel::<()>();
            let log = self.log.clone();
            let thread = std::thread::Builder::new()
                .name("mapped-log-sync".into())
                .spawn(move || {
                    while let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(every) {
                        // A failure is recorded in the control file, where
                        // the next append sees it; syncing on would prove
                        // nothing.
                        if log.sync().is_err() {
                            return;
                        }
                    }
                    // One last sync, so nothing appended waits longer than
                    // the interval even when the appender goes away.
                    let _ = log.sync();
                })
                .map_err(|e| LogError::io(self.log.dir(), "start the sync thread", e))?;
            self.background = Some(Background {
                stop,
                thread: Some(thread),
            });
        }
        self.durability = durability;
        Ok(())
    }

    /// The durability of this appender's appends.
    pub fn durability(&self) -> Durability {
        self.durability
    }

    /// Fails if a sync of the log has failed (in any process) and this
    /// appender promises durability: data appended before it may not be on
    /// disk (see `docs/durability.md`).
    fn check_sync_failure(&self) -> Result<()> {
        if self.durability == Durability::None {
            return Ok(());
        }
        crate::ops::sync::check_sync_failure(&self.log.inner)
    }

    /// The log this appender writes to.
    pub fn log(&self) -> &Log {
        &self.log
    }

    /// Appends `payload` as one message; returns its id once committed:
    /// from then on every reader of the log can see it, and it survives the
    /// death of this process. Under [`Durability::Sync`] it is also on
    /// stable storage when this returns.
    pub fn append(&mut self, payload: &[u8]) -> Result<u64> {
        self.check_process()?;
        self.check_sync_failure()?;
        let len = self.check_len(payload.len())?;
        let size = format::record_size(len);
        // From our own copy: no need to read the shared bytes back.
        let meta = format::encode_meta(len, format::checksum(payload));
        // Steps 1 to 7 in one guarded access to each file: the claim API's
        // steps, without the way out to the caller between them (and the
        // entries into and exits from guards that cost).
        let id = self.reserve_then(size, |inner, slot, seg, pos| {
            write_and_publish(inner, seg, slot, pos, payload, meta)
        })?;
        self.committed(id, size)?;
        Ok(id)
    }

    /// Appends `payload` as the message whose id is exactly `id`, first
    /// filling the space between the log's end and `id` with padding
    /// (rolling to new segments if `id` lies in a later one). Returns `id`
    /// once committed, with the durability of [`append`](Self::append).
    ///
    /// For copies of a log: appending a source log's messages in order at
    /// their own ids, to a log of the same segment size, gives the copy
    /// the very same ids (the gaps the source has, from padding, become
    /// padding here too). It assumes this appender is the log's only one.
    /// A copy of a source whose first segments are gone starts with
    /// [`Log::create_at`](crate::Log::create_at) at the source's first
    /// segment, instead of padding every segment before it.
    ///
    /// Fails with [`LogError::IdTaken`] if the log's end is already past
    /// `id` (another appender wrote to the log, or it holds other
    /// messages than the caller thinks), and with
    /// [`LogError::InvalidArgument`] if no record of this length can start
    /// at `id` (not a record boundary, or it would cross the segment's
    /// end). On either error nothing of `payload` is written; padding
    /// written before a race with another appender is lost to no one.
    pub fn append_at(&mut self, id: u64, payload: &[u8]) -> Result<u64> {
        self.check_process()?;
        self.check_sync_failure()?;
        let len = self.check_len(payload.len())?;
        let size = format::record_size(len);
        let cap = self.log.segment_size();
        let (target, offset) = (id / cap, id % cap);
        if offset < format::SEGMENT_HEADER_LEN
            || offset % format::RECORD_ALIGN != 0
            || size > cap - offset
        {
            return Err(LogError::InvalidArgument {
                path: self.log.dir().to_path_buf(),
                what: format!(
                    "id {id} cannot start a record of {size} bytes in segments of {cap} bytes"
                ),
            });
        }
        let meta = format::encode_meta(len, format::checksum(payload));
        loop {
            let (index, next) = self.next_position()?;
            let taken = || LogError::IdTaken {
                path: self.log.dir().to_path_buf(),
                id,
                next: if next < cap {
                    index * cap + next
                } else {
                    (index + 1) * cap + format::SEGMENT_HEADER_LEN
                },
            };
            if index > target || (index == target && next > offset) {
                return Err(taken());
            }
            if index < target && next >= cap {
                self.roll(index)?;
                continue;
            }
            // Pad up to `id`, or to the end of an earlier segment.
            let gap = if index < target {
                cap - next
            } else {
                offset - next
            };
            let at = index * cap + next;
            let done = if gap > 0 {
                self.reserve_then(gap, |inner, slot, seg, pos| {
                    // Padding is the record abandoned: final, skipped by
                    // readers, never handed out.
                    abandon_reserved(inner, seg, slot, pos, gap);
                    seg.id_of(pos) == at
                })?
            } else {
                let id = self.reserve_then(size, |inner, slot, seg, pos| {
                    if seg.id_of(pos) != id {
                        abandon_reserved(inner, seg, slot, pos, size);
                        return None;
                    }
                    Some(write_and_publish(inner, seg, slot, pos, payload, meta))
                })?;
                if let Some(id) = id {
                    self.committed(id, size)?;
                    return Ok(id);
                }
                false
            };
            if !done {
                // Another appender reserved in between.
                let (index, next) = self.next_position()?;
                return Err(LogError::IdTaken {
                    path: self.log.dir().to_path_buf(),
                    id,
                    next: index * cap + next.min(cap),
                });
            }
        }
    }

    /// The tail segment's index and its reservation counter (the offset
    /// where the next record goes, `>= segment_size` when it is full).
    fn next_position(&mut self) -> Result<(u64, u64)> {
        let inner = &self.log.inner;
        let index = inner.ctl(|| inner.tail_segment().load(Ordering::Acquire))?;
        self.current_segment(index)?;
        let seg = self.seg.as_deref().expect("opened above");
        let next = seg.map.guarded(|| seg.tail().load(Ordering::Acquire))?;
        if next < format::SEGMENT_HEADER_LEN || next % format::RECORD_ALIGN != 0 {
            return Err(self.reserve_error(Reserve::BadTail(next)));
        }
        Ok((index, next))
    }

    /// After a commit of the record at `id` of `size` bytes: waits for
    /// durability if this appender promises it, and feeds the helpers
    /// (make-ahead, prefault). For `append` and `Claim::commit` alike.
    fn committed(&mut self, id: u64, size: u64) -> Result<()> {
        if self.durability == Durability::Sync {
            crate::ops::sync::sync_to(&self.log.inner, id + size, &self.lock)?;
        }
        self.appended((id + size) % self.log.segment_size());
        Ok(())
    }

    /// Checks a message length against the log's maximum.
    fn check_len(&self, len: usize) -> Result<u32> {
        let max = self.log.max_message();
        if len > max as usize {
            return Err(LogError::TooLarge {
                path: self.log.dir().to_path_buf(),
                len,
                max,
            });
        }
        Ok(len as u32)
    }

    /// Reserves room for a `len`-byte message, to be written in place with
    /// [`Claim::as_mut_slice`] and then [`Claim::commit`]ted. Dropping the
    /// claim abandons it (it becomes padding that readers skip).
    pub fn claim(&mut self, len: usize) -> Result<Claim<'_>> {
        self.check_process()?;
        self.check_sync_failure()?;
        let len = self.check_len(len)? as usize;
        let size = format::record_size(len as u32);
        let offset = self.reserve_then(size, |_, _, _, pos| pos)?;
        Ok(Claim {
            app: self,
            offset,
            len: len as u32,
            size: size as u32,
            done: false,
        })
    }

    // This, `roll` and `reserve_error` are the reservation loop's slow
    // paths: kept out of line so that the shared loop (`reserve_then`)
    // lays the hot path out as tightly as a hand-inlined copy did (the
    // `hot_path` example measured the shared loop 4 ns an append slower
    // without this, and as fast with it).
    #[cold]
    #[inline(never)]
    fn current_segment(&mut self, index: u64) -> Result<()> {
        if self.seg.as_ref().is_none_or(|s| s.index != index) {
            let inner = &self.log.inner;
            // A missing tail segment is damage: appending in a new file
            // in its place would hand out its ids again.
            let seg = inner.expected_segment(index)?;
            // The old mapping is unmapped off this path.
            if let Some(old) = self.seg.replace(Arc::new(seg)) {
                crate::threads::background::retire(old);
            }
        }
        Ok(())
    }

    /// Faulting pages in ahead, by a helper thread (on by default): with
    /// it, appends under [`Durability::None`] take no page faults once the
    /// helper is ahead of them. Off, each append that starts a new page of
    /// the log takes that page's first fault itself (several microseconds
    /// on ext4). Under `Sync` and `Interval` it stays off: every sync would
    /// write the populated zero pages out ahead of the records.
    pub fn set_prefault(&mut self, on: bool) {
        self.prefault_on = on;
        if !on && !crate::threads::fork::forked_since(self.forks) {
            self.prefault = None;
        }
    }

    /// Runs the prefault helper (see [`set_prefault`](Self::set_prefault))
    /// on these CPUs, by index, instead of where the thread that starts it
    /// (this appender's, at its first append) may run; `None` goes back to
    /// that. A helper already running is stopped, and the next append
    /// starts one on the new CPUs.
    ///
    /// For an appender pinned to a CPU: its helper otherwise shares that
    /// CPU, and the pages it provisions take turns with the appends. On a
    /// machine with two CPUs, `mapped bench ipc` streams 64-byte messages
    /// 1.1 to 2 times faster with the helper on the reader's CPU; but a
    /// helper sharing a spinning reader's CPU delays the messages that
    /// arrive while it works, by milliseconds at 4 KiB
    /// (`docs/benchmarks.md`). If the system allows none of the CPUs given
    /// (a cpuset, a CPU offline) the helper runs where it would have.
    ///
    /// Fails with [`LogError::InvalidArgument`] for an empty list or an index
    /// past the largest CPU set the system call takes (`CPU_SETSIZE`, 1024).
    pub fn set_prefault_cpus(&mut self, cpus: Option<&[usize]>) -> Result<()> {
        let set = match cpus {
            None => None,
            Some(cpus) => {
                let max = rustix::thread::CpuSet::MAX_CPU;
                if cpus.is_empty() || cpus.iter().any(|&c| c >= max) {
                    return Err(LogError::InvalidArgument {
                        path: self.log.dir().to_path_buf(),
                        what: format!(
                            "prefault helper CPUs {cpus:?}: give at least one, each below {max}"
                        ),
                    });
                }
                let mut set = rustix::thread::CpuSet::new();
                for &c in cpus {
                    set.set(c);
                }
                Some(set)
            }
        };
        self.prefault_cpus = set;
        if !crate::threads::fork::forked_since(self.forks) {
            self.prefault = None;
        }
        Ok(())
    }

    /// After an append whose record ends at `end` of the current segment.
    #[inline]
    fn appended(&mut self, end: u64) {
        let Some(seg) = self.seg.as_ref() else {
            return;
        };
        self.ahead.appended(&self.log.inner, seg, end);
        if !self.prefault_on || self.durability != Durability::None {
            return;
        }
        match &mut self.prefault {
            Some(p) => p.appended(seg, end),
            None => match Prefault::start(self.prefault_cpus.as_ref()) {
                Some(mut p) => {
                    p.appended(seg, end);
                    self.prefault = Some(p);
                }
                // No thread to be had: append without.
                None => self.prefault_on = false,
            },
        }
    }

    /// Steps 1 to 4: reserves `size` bytes in the tail segment, rolling to
    /// a new segment when it is full, then runs `then` on the record (its
    /// segment and offset, held by our slot; with the log's words and our
    /// slot) in the same guarded access to both files. The one reservation
    /// loop, for `append` (which writes and commits in `then`) and `claim`
    /// (which returns the offset).
    fn reserve_then<R>(
        &mut self,
        size: u64,
        mut then: impl FnMut(&crate::storage::control::Inner, u32, &Segment, u64) -> R,
    ) -> Result<R> {
        let slot = self.slot;
        loop {
            let inner = &self.log.inner;
            let seg = self.seg.as_deref();
            // Both files' words are touched: guard both, so that another
            // process truncating either is an error here, not a SIGBUS.
            let outcome = inner.ctl(|| {
                let index = inner.tail_segment().load(Ordering::Acquire);
                let Some(seg) = seg.filter(|s| s.index == index) else {
                    return Ok(Fast::Open(index));
                };
                seg.map.guarded(|| {
                    match protocol::reserve(
                        seg,
                        inner.slot(slot),
                        inner.slot_size(slot),
                        index,
                        size,
                    ) {
                        Reserve::At(pos) => Fast::Done(then(inner, slot, seg, pos)),
                        other => Fast::Reserved(index, other),
                    }
                })
            })??;
            match outcome {
                Fast::Done(r) => return Ok(r),
                Fast::Open(index) => self.current_segment(index)?,
                Fast::Reserved(index, Reserve::Full) => self.roll(index)?,
                Fast::Reserved(_, other) => return Err(self.reserve_error(other)),
            }
        }
    }

    /// The error for a failed reservation in the current segment.
    #[cold]
    #[inline(never)]
    fn reserve_error(&self, r: Reserve) -> LogError {
        let seg = self.seg.as_ref().expect("reserved in the current segment");
        match r {
            Reserve::BadTail(pos) => seg.corrupt(
                pos.min(seg.size().saturating_sub(8)),
                format!("reservation counter holds {pos}, not a record boundary"),
            ),
            Reserve::NotZero(pos) => seg.corrupt(pos, "space past the tail is not zero"),
            Reserve::At(_) | Reserve::Full => unreachable!("not a failure: {r:?}"),
        }
    }

    /// Makes segment `index + 1` the tail segment (idempotent, racing
    /// appenders agree).
    #[cold]
    #[inline(never)]
    fn roll(&mut self, index: u64) -> Result<()> {
        let inner = &self.log.inner;
        // The segment we leave must still hold what we appended to it: a
        // file truncated under us (by another process) keeps the pages we
        // map, but not the records past its new end. One `fstat` per
        // segment bounds what a non-durable appender may acknowledge after
        // such a truncation to the rest of one segment (docs/durability.md).
        if let Some(seg) = self.seg.as_ref().filter(|s| s.index == index) {
            let len = seg.map.file_len()?;
            if len < seg.size() {
                return Err(seg.corrupt(
                    len - len % format::RECORD_ALIGN,
                    format!(
                        "the segment file was truncated to {len} bytes by another process while this appender used it: messages appended past that offset are lost"
                    ),
                ));
            }
        }
        crate::storage::segment::Segment::create(&inner.dir, index + 1, &inner.header)?;
        inner.ctl(|| {
            let _ = inner.tail_segment().compare_exchange(
                index,
                index + 1,
                Ordering::SeqCst,
                Ordering::SeqCst,
            );
            inner.wake_readers();
        })
    }
}

/// Steps 5 to 7 for a payload in our own memory: copies it into the
/// reserved record at `pos`, then [`publish`]es it. Returns its id.
#[inline]
fn write_and_publish(
    inner: &crate::storage::control::Inner,
    seg: &Segment,
    slot: u32,
    pos: u64,
    payload: &[u8],
    meta: u64,
) -> u64 {
    let start = pos + format::RECORD_HEADER_LEN;
    let size = format::record_size(payload.len() as u32);
    debug_assert!(pos + size <= seg.size());
    // SAFETY: the record lies inside the segment (reserved below its
    // size), which is mapped read-write; the protocol gives us the
    // reserved record alone until we commit (see `Claim::as_mut_slice`);
    // `payload` is our own memory, not in the mapping. Called inside
    // `guarded` (`reserve_then`): a truncated file is an error, not a
    // signal.
    unsafe {
        std::ptr::copy_nonoverlapping(
            payload.as_ptr(),
            seg.map.as_ptr().cast_mut().add(start as usize),
            payload.len(),
        );
    }
    publish(inner, seg, slot, pos, size, meta)
}

/// A reservation given up: the record at `pos` of `size` bytes becomes
/// padding, and the slot goes idle. Runs inside guarded accesses to both
/// files.
fn abandon_reserved(
    inner: &crate::storage::control::Inner,
    seg: &Segment,
    slot: u32,
    pos: u64,
    size: u64,
) {
    protocol::abandon(seg, pos, size as u32);
    if protocol::release_slot(inner.slot(slot), inner.waiters()) {
        inner.wake_now();
    }
}

/// Steps 5 to 7, the payload written: word 1 (`meta`: length and
/// checksum), the commit store, and the slot released (waking sleeping
/// readers). Runs inside guarded accesses to both files. The one commit,
/// for `append` and `Claim::commit`. Returns the record's id.
#[inline]
fn publish(
    inner: &crate::storage::control::Inner,
    seg: &Segment,
    slot: u32,
    pos: u64,
    size: u64,
    meta: u64,
) -> u64 {
    seg.word(pos + 8).store(meta, Ordering::Relaxed);
    // Step 6 (C1 in `protocol`): the payload and its length and checksum
    // are visible to any reader that sees `Committed`.
    protocol::commit(seg, pos, size as u32);
    // Step 7 (C2/W1): no system call unless a reader sleeps.
    if protocol::release_slot(inner.slot(slot), inner.waiters()) {
        inner.wake_now();
    }
    seg.id_of(pos)
}

/// What one pass of [`Appender::reserve_then`] came to.
enum Fast<R> {
    /// Reserved, and `then` returned this.
    Done(R),
    /// The tail segment is this one, not the one we have open.
    Open(u64),
    /// The reservation in segment `.0` did not give us a record.
    Reserved(u64, Reserve),
}

/// Room reserved for one message. Write the payload in place, then
/// [`commit`](Self::commit); dropping it uncommitted abandons it.
#[derive(Debug)]
pub struct Claim<'a> {
    app: &'a mut Appender,
    offset: u64,
    len: u32,
    size: u32,
    done: bool,
}

impl Claim<'_> {
    fn seg(&self) -> &Segment {
        self.app
            .seg
            .as_ref()
            .expect("a claim is made in the current segment")
    }

    /// The id the message will have.
    pub fn id(&self) -> u64 {
        self.seg().id_of(self.offset)
    }

    /// Writes `bytes` into the payload's room at `offset`, with a guarded
    /// copy: a segment file truncated by another process meanwhile is an
    /// error (the mapping layer's fault error, naming the file), never
    /// `SIGBUS`. Fails if the bytes do not fit in the claimed length.
    pub fn write_at(&mut self, offset: usize, bytes: &[u8]) -> Result<()> {
        let seg = self.seg();
        if offset
            .checked_add(bytes.len())
            .is_none_or(|end| end > self.len as usize)
        {
            return Err(LogError::InvalidArgument {
                path: seg.path().to_path_buf(),
                what: format!(
                    "{} bytes at offset {offset} do not fit in a claim of {} bytes",
                    bytes.len(),
                    self.len
                ),
            });
        }
        let start = self.offset + format::RECORD_HEADER_LEN + offset as u64;
        seg.map.write_at(start, bytes)?;
        Ok(())
    }

    /// The payload's room, to write in place (zero-copy). It starts zeroed.
    ///
    /// **Whom this trusts.** Every process that may write the log's files:
    /// honest `mapped-log` code never touches a record another live
    /// appender holds, nor truncates a segment. A process that truncates
    /// the segment file while the slice lives makes a store to it raise
    /// `SIGBUS`, which kills this process (what it wrote is lost, nothing
    /// acknowledged is: the claim is not committed). Where that cannot be
    /// ruled out, write with [`write_at`](Self::write_at), whose guarded
    /// copy returns an error instead.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        let seg = self
            .app
            .seg
            .as_ref()
            .expect("a claim is made in the current segment");
        let start = self.offset + format::RECORD_HEADER_LEN;
        // SAFETY: the protocol gives this appender exclusive use of the
        // reserved record until it commits: no honest process reads or
        // writes the payload of a record that a live appender's slot
        // holds, and `&mut self` keeps this process to one borrow. A
        // hostile process can scribble on it regardless; the checksum
        // computed at commit then covers what it wrote, which readers
        // treat as untrusted bytes anyway.
        debug_assert!(start + self.len as u64 <= seg.size());
        // SAFETY: as above; the record lies inside the segment (reserved
        // below its size) and the mapping is writable (appenders map
        // read-write). The pointer comes from the mapping, not a reference.
        unsafe {
            std::slice::from_raw_parts_mut(
                seg.map.as_ptr().cast_mut().add(start as usize),
                self.len as usize,
            )
        }
    }

    /// Commits the message: computes its checksum and publishes it with a
    /// release store. Returns its id.
    pub fn commit(mut self) -> Result<u64> {
        let seg = self.seg();
        let start = self.offset + format::RECORD_HEADER_LEN;
        let crc = seg.map.guarded(|| {
            // SAFETY: the payload lies inside the segment; see `as_mut_slice`
            // for who may touch it. Read under `guarded`, so a truncated
            // file is an error, not a signal.
            let payload = unsafe { seg.map.slice(start, self.len as usize) }.expect("inside");
            format::checksum(payload)
        })?;
        let meta = format::encode_meta(self.len, crc);
        let inner = &self.app.log.inner;
        let (slot, offset, size) = (self.app.slot, self.offset, self.size as u64);
        let id = inner.ctl(|| {
            seg.map
                .guarded(|| publish(inner, seg, slot, offset, size, meta))
        })??;
        self.done = true;
        self.app.committed(id, size)?;
        Ok(id)
    }

    /// Step 7, and waking sleeping readers.
    fn finish(&mut self) -> Result<()> {
        let inner = &self.app.log.inner;
        let slot = self.app.slot;
        inner.ctl(|| {
            // C2/W1 in `protocol`: no system call unless a reader sleeps.
            if protocol::release_slot(inner.slot(slot), inner.waiters()) {
                inner.wake_now();
            }
        })
    }
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        // Abandoned: turn it into padding so readers move past it.
        let seg = self.seg();
        let _ = seg
            .map
            .guarded(|| protocol::abandon(seg, self.offset, self.size));
        let _ = self.finish();
    }
}
