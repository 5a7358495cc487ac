//! `mapped bench ipc`: the log against raw shared-memory baselines, pipes,
//! Unix sockets and iceoryx2, between two processes.
//!
//! Latency rows bounce a message between two processes pinned to
//! different CPUs and report one-way latency as half the round trip
//! (p50, p99, p99.9, max over all round trips, and the p50 and p99 spread
//! over repetitions). The log's stamped rows instead send one way only,
//! from one writer to one reader, each message carrying the
//! `CLOCK_MONOTONIC` time of its append. Raw baselines: a spinning ping-pong through an
//! `AtomicU64` in a shared mapping (the floor for spinning transports) and
//! a futex ping-pong (the floor for blocking ones). Throughput rows stream
//! messages from a peer to the main process: a bare single-producer
//! single-consumer ring in a shared mapping is the floor. Then the log's
//! append throughput with one and two writer processes, and group commit:
//! `Durability::Sync` with eight concurrent appenders against one.

mod claims;
mod ctx;
mod experiments;
#[cfg(feature = "peers")]
mod ice;
mod log;
mod options;
mod peer;
mod raw;
mod render;
mod report;
mod stream;

use std::cell::Cell;
use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;

use crate::env::Environment;
use crate::error::{BenchError, Result};
use crate::progress::Progress;
use crate::stats::Summary;
use crate::sys;

use ctx::{Ctx, Outcome, histogram, name_experiment};
use experiments::{Exp, Plan, experiments};
use peer::{Ctl, PeerArgs};

pub use options::IpcOptions;
pub use peer::Peer;
pub use report::{IpcReport, LatencyRow, Percentiles, ThroughputRow};

/// The transport keys of the third-party peers (see [`IpcOptions::peers`]),
/// whether or not this build has them.
pub const PEER_KEYS: &[&str] = &["iceoryx2"];

/// Whether this build measures the [`PEER_KEYS`]: the crate's `peers`
/// feature, which pulls in iceoryx2.
pub const PEERS_BUILT: bool = cfg!(feature = "peers");

/// Entry point of a peer: what the hidden `mapped bench __peer ARGS...`
/// subcommand calls with `ARGS` (the strings [`run_ipc`] passed to the
/// spawn closure of [`Peer::Process`], unchanged). Returns when the peer's
/// part is done; an error means the experiment failed, and the subcommand
/// should print it and exit non-zero.
pub fn peer_main(args: &[String]) -> Result<()> {
    if args.first().map(String::as_str) == Some("mem") {
        return crate::io::memory_peer(&args[1..]);
    }
    let a = PeerArgs::parse(args)?;
    let _pin = sys::Pin::to(a.cpu);
    let ctl = Ctl::open(&a.dir)?;
    let r = match a.kind.as_str() {
        "spin" => raw::spin_peer(&a, &ctl),
        "futex" => raw::futex_peer(&a, &ctl),
        "futex-1way" => raw::futex_oneway_peer(&a, &ctl),
        "spin-1way" => raw::spin_oneway_peer(&a, &ctl),
        "ring" => raw::ring_peer(&a, &ctl),
        "pipe-lat" | "pipe-tput" | "unix-lat" | "unix-tput" => stream::peer(&a, &ctl),
        "log-lat" | "log-1way" | "log-tput" | "log-append" => log::peer(&a, &ctl),
        #[cfg(feature = "peers")]
        "ice-lat" | "ice-tput" => ice::peer(&a, &ctl),
        other => Err(BenchError::PeerArgs {
            args: args.to_vec(),
            why: format!("unknown experiment {other:?}"),
        }),
    };
    r.map_err(|e| name_experiment(e, &a.kind))
}

/// Runs the IPC benchmark. Peers are started through `peer`.
pub fn run_ipc(opts: &IpcOptions, peer: Peer<'_>, progress: &dyn Progress) -> Result<IpcReport> {
    let plan = Plan::new(opts.scale);
    let mut env = Environment::probe(opts.scale);
    let base = match &opts.dir {
        Some(d) => d.clone(),
        None => std::env::temp_dir(),
    };
    let work = tempfile::Builder::new()
        .prefix("mapped-bench-ipc-")
        .tempdir_in(&base)
        .map_err(|e| BenchError::io("create a directory in", &base, e))?;
    let allowed = sys::allowed_cpus();
    let cpus: Vec<usize> = if opts.pin && allowed.len() >= 2 {
        allowed.clone()
    } else {
        Vec::new()
    };
    let pin = sys::Pin::to(cpus.first().copied());
    env.pinned.extend(pin.cpu());
    if let (Some(_), Some(&c)) = (pin.cpu(), cpus.get(1)) {
        env.pinned.push(c);
    }
    let mut notes = Vec::new();
    if allowed.len() < 2 {
        notes.push(
            "one CPU available: both sides share it, so spinning rows measure the scheduler"
                .to_string(),
        );
    }
    let ctx = Ctx {
        base: work.path().to_path_buf(),
        peer: &peer,
        cpus,
        timeout: Duration::from_secs(120),
        runs: Cell::new(0),
    };

    let mut exps = experiments(&plan, opts);
    if !opts.only.is_empty() {
        let unknown: Vec<&String> = opts
            .only
            .iter()
            .filter(|k| !exps.iter().any(|e| e.transport == k.as_str()))
            .collect();
        let not_built = |k: &&&String| !PEERS_BUILT && PEER_KEYS.contains(&k.as_str());
        if let Some(k) = unknown.iter().find(not_built) {
            return Err(BenchError::Options(format!(
                "--only: {k} is measured only by a build with the `peers` feature"
            )));
        }
        if !unknown.is_empty() {
            let keys: std::collections::BTreeSet<&str> = exps.iter().map(|e| e.transport).collect();
            return Err(BenchError::Options(format!(
                "--only: no rows of transport {unknown:?}; the keys are {keys:?}"
            )));
        }
        exps.retain(|e| opts.only.iter().any(|k| k == e.transport));
    }
    progress.phase("ipc", (exps.len() * plan.reps) as u64);
    let mut outcomes: Vec<Vec<Outcome>> = (0..exps.len()).map(|_| Vec::new()).collect();
    let mut failed: Vec<Option<String>> = vec![None; exps.len()];
    // Repetitions interleave the experiments, so that a slow moment of the
    // machine hits several rows rather than all repetitions of one; every
    // other repetition runs them in reverse order, so that no row always
    // follows the same one (on the project's VM a log row runs faster
    // right after another log row: `docs/benchmarks.md`).
    for rep in 0..plan.reps {
        let order: Vec<usize> = if rep % 2 == 0 {
            (0..exps.len()).collect()
        } else {
            (0..exps.len()).rev().collect()
        };
        for i in order {
            let e = &exps[i];
            progress.step(&format!("{} {} B", e.transport, e.payload));
            if failed[i].is_some() {
                continue;
            }
            match (e.run)(&ctx) {
                Ok(o) => outcomes[i].push(o),
                Err(err) if e.optional => failed[i] = Some(err.to_string()),
                Err(err) => return Err(err),
            }
        }
    }
    progress.finish();
    drop(pin);

    let mut latency = Vec::new();
    let mut throughput = Vec::new();
    for ((e, outs), failed) in exps.iter().zip(outcomes).zip(failed) {
        if let Some(why) = failed {
            notes.push(format!("{} ({} B) not measured: {why}", e.name, e.payload));
            continue;
        }
        if let Some(row) = latency_row(e, &outs) {
            latency.push(row);
        } else if let Some(row) = throughput_row(e, &outs) {
            throughput.push(row);
        }
    }
    let mut report = IpcReport {
        environment: env,
        peer_mode: match peer {
            Peer::Process(_) => "processes",
            Peer::Thread => "threads",
        }
        .to_string(),
        repetitions: plan.reps,
        latency,
        throughput,
        targets: Vec::new(),
        notes,
    };
    claims::fill_comparisons(&mut report);
    report.targets = claims::targets(&report);
    report.notes.extend(claims::notes(&report, opts));
    work.close()
        .map_err(|e| BenchError::io("remove", base.join("mapped-bench-ipc-*"), e))?;
    Ok(report)
}

fn latency_row(e: &Exp, outs: &[Outcome]) -> Option<LatencyRow> {
    let hists: Vec<&Histogram<u64>> = outs
        .iter()
        .filter_map(|o| match o {
            Outcome::Latency(h) => Some(h),
            Outcome::Rate(..) => None,
        })
        .collect();
    if hists.is_empty() {
        return None;
    }
    let mut all = histogram();
    for h in &hists {
        let _ = all.add(*h);
    }
    let q = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64;
    Some(LatencyRow {
        name: e.name.clone(),
        transport: e.transport.to_string(),
        payload: e.payload,
        round_trips: hists[0].len(),
        p50_ns: Summary::of(hists.iter().map(|h| q(h, 0.5)).collect()),
        p99_ns: Summary::of(hists.iter().map(|h| q(h, 0.99)).collect()),
        all: Percentiles {
            p50: q(&all, 0.5),
            p99: q(&all, 0.99),
            p999: q(&all, 0.999),
            max: all.max() as f64,
        },
        vs: BTreeMap::new(),
    })
}

fn throughput_row(e: &Exp, outs: &[Outcome]) -> Option<ThroughputRow> {
    let rates: Vec<(u64, u64)> = outs
        .iter()
        .filter_map(|o| match o {
            Outcome::Rate(m, ns) => Some((*m, *ns)),
            Outcome::Latency(_) => None,
        })
        .collect();
    if rates.is_empty() {
        return None;
    }
    let per_s: Vec<f64> = rates
        .iter()
        .map(|&(m, ns)| m as f64 / (ns.max(1) as f64 / 1e9))
        .collect();
    let msgs = Summary::of(per_s);
    let payload = e.payload as f64;
    Some(ThroughputRow {
        name: e.name.clone(),
        transport: e.transport.to_string(),
        payload: e.payload,
        messages: rates[0].0,
        mib_per_s: msgs.map(|r| r * payload / (1 << 20) as f64),
        msgs_per_s: msgs,
        vs: BTreeMap::new(),
    })
}
