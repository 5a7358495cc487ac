//! Running one experiment across two (or more) processes: the control
//! file both sides share, the peer's arguments, and the main side's
//! handling of the peers it started.
//!
//! The protocol, for every experiment:
//!
//! 1. The main side makes a fresh directory with a control file and the
//!    experiment's resources, then starts the peers with [`PeerArgs`].
//! 2. Each peer opens its side, pins itself, and increments `READY`.
//! 3. The main side waits for every peer, stamps `START` and sets `GO`
//!    (with a futex wake); both sides run; each peer stamps `END[i]` and
//!    increments `DONE`.
//! 4. On any failure the main side sets `ABORT`. Every wait on either side
//!    is bounded: by a deadline, by `ABORT`, by the other side's death
//!    (a peer checks that its parent is alive; the main side that its
//!    peers are), so a crash anywhere never leaves a process spinning.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mapped::Mapping;

use crate::error::{BenchError, Result};
use crate::sys;

// Offsets in the control file, one cache line apart.
const READY: u64 = 0;
const GO: u64 = 64;
const ABORT: u64 = 128;
const DONE: u64 = 192;
const START: u64 = 256;
/// `END[i]` at `END + 8 * i`, for up to [`MAX_PEERS`] peers.
const END: u64 = 320;
pub(crate) const MAX_PEERS: usize = 8;
/// Set by the main side once it has consumed everything: a peer whose
/// data lives in its own memory waits for it before going away.
const CONSUMED: u64 = 512;
/// Words the raw ping-pong experiments bounce between the processes.
pub(crate) const PING: u64 = 1024;
pub(crate) const PONG: u64 = 1088;
/// The stamped baselines' ring of stamps: message `j`'s in slot
/// `j % STAMP_SLOTS`, one `u64` each, to the end of the control file.
pub(crate) const STAMPS: u64 = 2048;
pub(crate) const STAMP_SLOTS: u64 = (CONTROL_LEN - STAMPS) / 8;
pub(crate) const CONTROL_LEN: u64 = 4096;
pub(crate) const CONTROL_FILE: &str = "control";

/// The control file of one experiment.
#[derive(Debug)]
pub(crate) struct Ctl {
    map: Mapping,
}

impl Ctl {
    pub(crate) fn create(dir: &Path) -> Result<Ctl> {
        Ok(Ctl {
            map: Mapping::create(dir.join(CONTROL_FILE), CONTROL_LEN)?,
        })
    }

    pub(crate) fn open(dir: &Path) -> Result<Ctl> {
        Ok(Ctl {
            map: Mapping::open_rw(dir.join(CONTROL_FILE))?,
        })
    }

    pub(crate) fn u32(&self, offset: u64) -> &AtomicU32 {
        self.map
            .atomic_u32(offset)
            .expect("control offsets are aligned and in bounds")
    }

    pub(crate) fn u64(&self, offset: u64) -> &AtomicU64 {
        self.map
            .atomic_u64(offset)
            .expect("control offsets are aligned and in bounds")
    }

    pub(crate) fn ready(&self) -> &AtomicU32 {
        self.u32(READY)
    }

    pub(crate) fn done(&self) -> &AtomicU32 {
        self.u32(DONE)
    }

    pub(crate) fn aborted(&self) -> bool {
        self.u32(ABORT).load(Ordering::Acquire) != 0
    }

    /// Tells every peer to stop.
    pub(crate) fn abort(&self) {
        self.u32(ABORT).store(1, Ordering::Release);
        let _ = mapped::wake_all(self.u32(GO));
    }

    /// Stamps the start and lets the peers go.
    pub(crate) fn go(&self) {
        self.u64(START).store(sys::mono_ns(), Ordering::Release);
        // Pairs with the peers' acquire load in `wait_go`.
        self.u32(GO).store(1, Ordering::Release);
        let _ = mapped::wake_all(self.u32(GO));
    }

    pub(crate) fn start_ns(&self) -> u64 {
        self.u64(START).load(Ordering::Acquire)
    }

    pub(crate) fn end_ns(&self, i: usize) -> &AtomicU64 {
        self.u64(END + 8 * i.min(MAX_PEERS - 1) as u64)
    }

    /// Peer side: this peer has set up its side.
    pub(crate) fn peer_ready(&self) {
        self.ready().fetch_add(1, Ordering::AcqRel);
    }

    /// Peer side: this peer's part is done; stamps `END[index]`.
    pub(crate) fn peer_done(&self, index: usize) {
        self.end_ns(index).store(sys::mono_ns(), Ordering::Release);
        self.done().fetch_add(1, Ordering::AcqRel);
    }

    /// Main side: everything the peers sent has been consumed.
    pub(crate) fn consumed(&self) {
        self.u32(CONSUMED).store(1, Ordering::Release);
        let _ = mapped::wake_all(self.u32(CONSUMED));
    }

    /// Peer side: waits until the main side has consumed everything.
    pub(crate) fn wait_consumed(&self, watch: &mut Watch<'_>) -> Result<()> {
        let word = self.u32(CONSUMED);
        while word.load(Ordering::Acquire) == 0 {
            let _ = mapped::wait(word, 0, Some(Duration::from_millis(10)));
            watch.check()?;
        }
        Ok(())
    }

    /// Peer side: waits for `GO`.
    pub(crate) fn wait_go(&self, watch: &mut Watch<'_>) -> Result<()> {
        let go = self.u32(GO);
        while go.load(Ordering::Acquire) == 0 {
            let _ = mapped::wait(go, 0, Some(Duration::from_millis(10)));
            watch.check()?;
        }
        Ok(())
    }
}

/// Bounds a wait: spins with a CPU hint, and every so often yields and
/// checks a deadline and whether the other side is still there.
pub(crate) struct Watch<'a> {
    spins: u32,
    deadline: Instant,
    check: Box<dyn Fn() -> Result<()> + 'a>,
}

impl<'a> Watch<'a> {
    pub(crate) fn new(timeout: Duration, check: impl Fn() -> Result<()> + 'a) -> Watch<'a> {
        Watch {
            spins: 0,
            deadline: Instant::now() + timeout,
            check: Box::new(check),
        }
    }

    /// One turn of a spin loop.
    #[inline]
    pub(crate) fn tick(&mut self) -> Result<()> {
        std::hint::spin_loop();
        self.spins = self.spins.wrapping_add(1);
        if self.spins.is_multiple_of(1024) {
            // As the log's spinning reader does: let a peer sharing the CPU run.
            std::thread::yield_now();
            self.check()?;
        }
        Ok(())
    }

    /// One turn of a loop that sleeps between turns: checks every time.
    pub(crate) fn check(&mut self) -> Result<()> {
        if Instant::now() > self.deadline {
            return Err(BenchError::Peer {
                experiment: String::new(),
                why: "timed out".to_string(),
            });
        }
        (self.check)()
    }
}

/// What a peer is told: `KIND key=value...`.
#[derive(Debug, Clone, Default)]
pub(crate) struct PeerArgs {
    /// The experiment.
    pub(crate) kind: String,
    pub(crate) dir: PathBuf,
    /// Messages (or round trips) after the warm-up.
    pub(crate) n: u64,
    pub(crate) warmup: u64,
    pub(crate) size: usize,
    pub(crate) cpu: Option<usize>,
    /// Where a log appender of the peer runs its prefault helper: the
    /// run's CPUs other than the peer's (empty: where the peer runs).
    pub(crate) helpers: Vec<usize>,
    /// The main side's process id (process mode): a peer whose parent is
    /// gone stops.
    pub(crate) parent: Option<u32>,
    pub(crate) index: usize,
    /// Experiment-specific variant (a reader's wait strategy, ...).
    pub(crate) variant: String,
    /// Seconds before giving up.
    pub(crate) timeout: u64,
}

impl PeerArgs {
    /// A peer of experiment `kind`: `n` messages (or round trips) of `size`
    /// bytes after `warmup` more; the runner fills in the rest.
    pub(crate) fn new(kind: &str, size: usize, n: u64, warmup: u64) -> PeerArgs {
        PeerArgs {
            kind: kind.into(),
            n,
            warmup,
            size,
            ..PeerArgs::default()
        }
    }

    /// With the experiment's variant (a reader's wait strategy, ...).
    pub(crate) fn variant(mut self, variant: &str) -> PeerArgs {
        self.variant = variant.into();
        self
    }

    pub(crate) fn to_args(&self) -> Vec<String> {
        let mut v = vec![
            self.kind.clone(),
            format!("dir={}", self.dir.display()),
            format!("n={}", self.n),
            format!("warmup={}", self.warmup),
            format!("size={}", self.size),
            format!("index={}", self.index),
            format!("timeout={}", self.timeout),
        ];
        if let Some(c) = self.cpu {
            v.push(format!("cpu={c}"));
        }
        if !self.helpers.is_empty() {
            let list: Vec<String> = self.helpers.iter().map(|c| c.to_string()).collect();
            v.push(format!("helpers={}", list.join(",")));
        }
        if let Some(p) = self.parent {
            v.push(format!("parent={p}"));
        }
        if !self.variant.is_empty() {
            v.push(format!("variant={}", self.variant));
        }
        v
    }

    pub(crate) fn parse(args: &[String]) -> Result<PeerArgs> {
        let bad = |why: String| BenchError::PeerArgs {
            args: args.to_vec(),
            why,
        };
        let (kind, rest) = args
            .split_first()
            .ok_or_else(|| bad("no experiment named".to_string()))?;
        let mut a = PeerArgs {
            kind: kind.clone(),
            timeout: 60,
            ..PeerArgs::default()
        };
        for kv in rest {
            let (k, v) = kv
                .split_once('=')
                .ok_or_else(|| bad(format!("{kv:?} is not key=value")))?;
            let num = || {
                v.parse::<u64>()
                    .map_err(|_| bad(format!("{k}={v:?} is not a number")))
            };
            match k {
                "dir" => a.dir = PathBuf::from(v),
                "n" => a.n = num()?,
                "warmup" => a.warmup = num()?,
                "size" => a.size = num()? as usize,
                "index" => a.index = num()? as usize,
                "timeout" => a.timeout = num()?,
                "cpu" => a.cpu = Some(num()? as usize),
                "helpers" => {
                    a.helpers = v
                        .split(',')
                        .map(|c| c.parse::<usize>())
                        .collect::<std::result::Result<_, _>>()
                        .map_err(|_| bad(format!("helpers={v:?} is not a list of CPUs")))?
                }
                "parent" => a.parent = Some(num()? as u32),
                "variant" => a.variant = v.to_string(),
                _ => return Err(bad(format!("unknown key {k:?}"))),
            }
        }
        if a.dir.as_os_str().is_empty() {
            return Err(bad("no dir=".to_string()));
        }
        Ok(a)
    }

    /// The peer side's watch: deadline, abort flag, parent alive.
    pub(crate) fn watch<'a>(&self, ctl: &'a Ctl) -> Watch<'a> {
        let parent = self.parent;
        Watch::new(Duration::from_secs(self.timeout), move || {
            if ctl.aborted() {
                return Err(BenchError::Peer {
                    experiment: String::new(),
                    why: "aborted by the main side".to_string(),
                });
            }
            if let Some(p) = parent {
                let alive = rustix::process::getppid()
                    .is_some_and(|pp| pp.as_raw_nonzero().get() as u32 == p);
                if !alive {
                    return Err(BenchError::Peer {
                        experiment: String::new(),
                        why: "the main process is gone".to_string(),
                    });
                }
            }
            Ok(())
        })
    }
}

/// A peer the main side started.
enum Handle {
    Child(Child),
    Thread(Option<JoinHandle<Result<()>>>),
}

impl Handle {
    /// `Some(outcome)` once the peer has ended.
    fn poll(&mut self) -> Option<Result<(), String>> {
        match self {
            Handle::Child(c) => match c.try_wait() {
                Ok(Some(st)) if st.success() => Some(Ok(())),
                Ok(Some(st)) => Some(Err(format!(
                    "the peer process exited with {st}; its error is on its standard error"
                ))),
                Ok(None) => None,
                Err(e) => Some(Err(format!("waiting for the peer process: {e}"))),
            },
            Handle::Thread(h) => {
                if !h.as_ref().is_some_and(|h| h.is_finished()) {
                    return if h.is_none() { Some(Ok(())) } else { None };
                }
                let h = h.take().expect("checked above");
                Some(match h.join() {
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(e)) => Err(e.to_string()),
                    Err(_) => Err("the peer thread panicked".to_string()),
                })
            }
        }
    }

    /// Gives up on the peer: kills a process (by its handle), leaves a
    /// thread to its own deadline.
    fn kill(&mut self) {
        if let Handle::Child(c) = self {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The peers of one experiment, as the main side sees them.
pub(crate) struct Peers {
    experiment: String,
    handles: RefCell<Vec<Handle>>,
    ended: RefCell<Vec<bool>>,
    /// The first failure seen.
    failed: RefCell<Option<String>>,
}

impl Peers {
    /// Starts one peer per element of `args`. If one cannot be started,
    /// those already running are told to stop through `ctl`.
    pub(crate) fn start(
        peer: &Peer<'_>,
        ctl: &Ctl,
        experiment: &str,
        args: Vec<PeerArgs>,
    ) -> Result<Peers> {
        let peers = Peers {
            experiment: experiment.to_string(),
            handles: RefCell::new(Vec::new()),
            ended: RefCell::new(Vec::new()),
            failed: RefCell::new(None),
        };
        for a in args {
            let list = a.to_args();
            // Dropping `peers` on an error below reaps those started.
            let abort = |e| {
                ctl.abort();
                e
            };
            let h = match peer {
                Peer::Process(spawn) => Handle::Child(spawn(&list).map_err(|e| {
                    abort(peers.error(format!("could not start the peer process: {e}")))
                })?),
                Peer::Thread => {
                    let h = std::thread::Builder::new()
                        .name(format!("bench-peer-{}", a.index))
                        .spawn(move || crate::ipc::peer_main(&list))
                        .map_err(|e| {
                            abort(peers.error(format!("could not start the peer thread: {e}")))
                        })?;
                    Handle::Thread(Some(h))
                }
            };
            // Pushed one by one, so that `Drop` reaps those started before
            // a failure.
            peers.handles.borrow_mut().push(h);
            peers.ended.borrow_mut().push(false);
        }
        Ok(peers)
    }

    fn error(&self, why: String) -> BenchError {
        BenchError::Peer {
            experiment: self.experiment.clone(),
            why,
        }
    }

    /// Fails if a peer has failed. Cheap enough for every thousandth turn
    /// of a spin loop (one `waitid` per process).
    pub(crate) fn check(&self) -> Result<()> {
        self.poll();
        match self.failed.borrow().as_ref() {
            Some(why) => Err(self.error(why.clone())),
            None => Ok(()),
        }
    }

    fn poll(&self) {
        let mut handles = self.handles.borrow_mut();
        let mut ended = self.ended.borrow_mut();
        for (h, ended) in handles.iter_mut().zip(ended.iter_mut()) {
            if *ended {
                continue;
            }
            if let Some(outcome) = h.poll() {
                *ended = true;
                if let Err(why) = outcome {
                    self.failed.borrow_mut().get_or_insert(why);
                }
            }
        }
    }

    /// Waits until `ctl.ready()` counts every peer.
    pub(crate) fn wait_ready(&self, ctl: &Ctl, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        let n = self.handles.borrow().len() as u32;
        while ctl.ready().load(Ordering::Acquire) < n {
            self.check()?;
            if self.ended.borrow().iter().any(|&e| e) {
                return Err(self.error("a peer ended before it was ready".to_string()));
            }
            if Instant::now() > deadline {
                return Err(self.error(format!("not ready after {timeout:?}")));
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        Ok(())
    }

    /// Waits for every peer to end, killing processes past the deadline.
    pub(crate) fn finish(&self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            self.poll();
            if self.ended.borrow().iter().all(|&e| e) {
                break;
            }
            if Instant::now() > deadline {
                for h in self.handles.borrow_mut().iter_mut() {
                    h.kill();
                }
                self.failed
                    .borrow_mut()
                    .get_or_insert(format!("did not end within {timeout:?}"));
                break;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        match self.failed.borrow().as_ref() {
            Some(why) => Err(self.error(why.clone())),
            None => Ok(()),
        }
    }
}

impl Drop for Peers {
    fn drop(&mut self) {
        // Reached after `finish`, or after an error on the main side (which
        // has set ABORT by then): processes still running after a short
        // grace period are killed; threads are left to their deadline.
        let deadline = Instant::now() + Duration::from_secs(5);
        let ended = self.ended.get_mut();
        for (h, ended) in self.handles.get_mut().iter_mut().zip(ended.iter()) {
            if *ended {
                continue;
            }
            loop {
                if h.poll().is_some() {
                    break;
                }
                if Instant::now() > deadline {
                    h.kill();
                    break;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
}

/// How [`run_ipc`](crate::run_ipc) starts the other side of each experiment.
pub enum Peer<'a> {
    /// A process: the closure starts one that calls [`peer_main`](crate::peer_main) with the
    /// given arguments and returns its handle. The `mapped` CLI passes a
    /// closure running `current_exe() bench __peer ARGS...`, with standard
    /// input null and standard error inherited (a failing peer explains
    /// itself there). The peer must be a child of the calling process: it
    /// stops when its parent is gone.
    Process(&'a dyn Fn(&[String]) -> std::io::Result<Child>),
    /// A thread of this process running [`peer_main`](crate::peer_main): for tests, or where
    /// a second process cannot be started. The report says so, since two
    /// threads share more than two processes do.
    Thread,
}

impl std::fmt::Debug for Peer<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Peer::Process(_) => "Peer::Process",
            Peer::Thread => "Peer::Thread",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_args_go_through_the_command_line_and_back() {
        let a = PeerArgs {
            dir: PathBuf::from("/tmp/x"),
            cpu: Some(1),
            helpers: vec![0, 2],
            parent: Some(7),
            index: 3,
            timeout: 9,
            ..PeerArgs::new("log-tput", 64, 1000, 10).variant("spin")
        };
        let b = PeerArgs::parse(&a.to_args()).unwrap();
        assert_eq!(format!("{a:?}"), format!("{b:?}"));
        let mut bad = a.to_args();
        bad.push("helpers=0,x".to_string());
        assert!(PeerArgs::parse(&bad).is_err());
    }
}
