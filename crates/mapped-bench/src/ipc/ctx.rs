//! What each experiment runs with and yields: [`Ctx`], the main side's
//! directory, CPUs and peers, which starts and stops an experiment's peers
//! around its main side; [`Outcome`]; and the latency [`histogram`].

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hdrhistogram::Histogram;

use crate::error::{BenchError, Result};
use crate::ipc::peer::{Ctl, Peer, PeerArgs, Peers, Watch};

/// How one experiment's main side runs: the directory, CPUs and peers.
pub(crate) struct Ctx<'a> {
    pub(crate) base: PathBuf,
    pub(crate) peer: &'a Peer<'a>,
    /// CPUs to pin to: the main side on the first, peers on the others in
    /// turn. Empty: no pinning.
    pub(crate) cpus: Vec<usize>,
    pub(crate) timeout: Duration,
    pub(crate) runs: Cell<u32>,
}

impl Ctx<'_> {
    fn peer_cpu(&self, i: usize) -> Option<usize> {
        if self.cpus.len() < 2 {
            return None;
        }
        Some(self.cpus[(1 + i) % self.cpus.len()])
    }

    /// Where a log appender on `cpu` runs its prefault helper
    /// (`Appender::set_prefault_cpus`; empty: with the appender). In a
    /// streaming experiment, on any of the run's CPUs but the appender's:
    /// provisioning pages would otherwise take turns with the appends, and
    /// a spinning reader that keeps up has time to spare. In a latency
    /// experiment, only on a CPU that neither side of it uses: a helper
    /// sharing the spinning reader's CPU delays the messages that arrive
    /// while it runs (by milliseconds at 4 KiB), where the writer, idle
    /// between messages, can spare the time.
    pub(crate) fn helper_cpus(
        &self,
        cpu: Option<usize>,
        streaming: bool,
        peers: usize,
    ) -> Vec<usize> {
        let Some(own) = cpu else {
            return Vec::new();
        };
        let busy: Vec<usize> = if streaming {
            vec![own]
        } else {
            std::iter::once(self.cpus.first().copied())
                .chain((0..peers).map(|i| self.peer_cpu(i)))
                .flatten()
                .collect()
        };
        self.cpus
            .iter()
            .copied()
            .filter(|c| !busy.contains(c))
            .collect()
    }

    /// A fresh directory for an in-process experiment.
    pub(crate) fn scratch(&self, kind: &str) -> Result<PathBuf> {
        let k = self.runs.get();
        self.runs.set(k + 1);
        let dir = self.base.join(format!("{k:04}-{kind}"));
        std::fs::create_dir(&dir).map_err(|e| BenchError::io("create directory", &dir, e))?;
        Ok(dir)
    }

    /// Runs one experiment: makes its directory and control file, calls
    /// `setup` for the main side's resources, starts `n_peers` peers with
    /// `template`'s arguments, waits until they are ready, runs `main`
    /// (which calls `ctl.go()` when it starts its clock), tells producers
    /// that everything is consumed, and waits for the peers to end.
    /// Everything is removed afterwards.
    pub(crate) fn run<S, T>(
        &self,
        template: PeerArgs,
        n_peers: usize,
        setup: impl FnOnce(&Path) -> Result<S>,
        main: impl FnOnce(&Ctl, &mut S, &mut Watch<'_>) -> Result<T>,
    ) -> Result<T> {
        let kind = template.kind.clone();
        let streaming = matches!(kind.as_str(), "log-tput" | "log-append");
        let dir = self.scratch(&kind)?;
        let result = (|| {
            let ctl = Ctl::create(&dir)?;
            let mut res = setup(&dir)?;
            let parent = matches!(self.peer, Peer::Process(_)).then(std::process::id);
            let args = (0..n_peers)
                .map(|i| PeerArgs {
                    dir: dir.clone(),
                    index: i,
                    cpu: self.peer_cpu(i),
                    helpers: self.helper_cpus(self.peer_cpu(i), streaming, n_peers),
                    parent,
                    timeout: self.timeout.as_secs(),
                    ..template.clone()
                })
                .collect();
            let peers = Peers::start(self.peer, &ctl, &kind, args)?;
            let r = peers
                .wait_ready(&ctl, Duration::from_secs(30))
                .and_then(|()| {
                    let mut watch = Watch::new(self.timeout, || peers.check());
                    main(&ctl, &mut res, &mut watch)
                });
            match &r {
                Ok(_) => ctl.consumed(),
                Err(_) => ctl.abort(),
            }
            // Closing our ends first lets a peer blocked on a pipe or
            // socket see the end of it.
            drop(res);
            let grace = if r.is_err() {
                Duration::from_secs(5)
            } else {
                self.timeout
            };
            let finished = peers.finish(grace);
            match (r, finished) {
                (Ok(t), Ok(())) => Ok(t),
                (Ok(_), Err(pe)) => Err(pe),
                (Err(e), Ok(())) => Err(e),
                (Err(e), Err(pe)) => Err(prefer_cause(e, pe)),
            }
        })();
        let _ = std::fs::remove_dir_all(&dir);
        result.map_err(|e| name_experiment(e, &kind))
    }
}

/// Of a main-side error and a peer's, the one that says more: the main
/// side's own, unless all it saw was the peer failing or going quiet.
fn prefer_cause(main: BenchError, peer: BenchError) -> BenchError {
    match main {
        BenchError::Peer { .. } => peer,
        main => main,
    }
}

/// Fills in the experiment of errors raised where it was not known.
pub(crate) fn name_experiment(e: BenchError, kind: &str) -> BenchError {
    match e {
        BenchError::Peer { experiment, why } if experiment.is_empty() => BenchError::Peer {
            experiment: kind.to_string(),
            why,
        },
        e => e,
    }
}

/// A histogram for one-way latencies in nanoseconds (1 ns to 60 s, three
/// significant digits).
pub(crate) fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("valid histogram bounds")
}

/// What one repetition of an experiment yields.
pub(crate) enum Outcome {
    Latency(Histogram<u64>),
    /// Messages and the nanoseconds they took.
    Rate(u64, u64),
}
