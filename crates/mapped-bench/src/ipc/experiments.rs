//! What one IPC run measures: operation counts per scale, and the list of
//! experiments in report order.

use crate::Scale;
use crate::error::Result;
use crate::ipc::ctx::{Ctx, Outcome};
#[cfg(feature = "peers")]
use crate::ipc::ice;
use crate::ipc::options::IpcOptions;
use crate::ipc::{log, raw, stream};

/// Operation counts for one run.
pub(crate) struct Plan {
    pub(crate) reps: usize,
    /// Round trips for spinning transports.
    pub(crate) lat_spin: u64,
    /// Round trips for blocking transports (each wakes a sleeper).
    pub(crate) lat_block: u64,
    /// Messages for 64 B and 4 KiB throughput rows.
    pub(crate) tput: (u64, u64),
    /// Messages for pipe and socket throughput (a system call each).
    pub(crate) tput_stream: (u64, u64),
    /// Appends for the append-only rows.
    pub(crate) append: u64,
    /// Durable appends with one appender, and with eight.
    pub(crate) sync: (u64, u64),
}

impl Plan {
    pub(crate) fn new(scale: Scale) -> Plan {
        Plan {
            reps: scale.pick(5, 3, 1),
            lat_spin: scale.pick(100_000, 10_000, 50),
            lat_block: scale.pick(20_000, 3_000, 20),
            tput: scale.pick((2_000_000, 100_000), (200_000, 20_000), (200, 20)),
            tput_stream: scale.pick((500_000, 50_000), (100_000, 10_000), (100, 10)),
            append: scale.pick(2_000_000, 200_000, 200),
            sync: scale.pick((500, 2000), (100, 400), (4, 16)),
        }
    }
}

/// One repetition of an experiment, run by its main side.
pub(crate) type RunFn = Box<dyn Fn(&Ctx<'_>) -> Result<Outcome>>;

/// One experiment of the run: a latency or a throughput row.
pub(crate) struct Exp {
    pub(crate) name: String,
    pub(crate) transport: &'static str,
    pub(crate) payload: usize,
    pub(crate) run: RunFn,
    /// A third-party peer: a failure is reported, not fatal.
    pub(crate) optional: bool,
}

/// Every experiment of a run, in report order.
pub(crate) fn experiments(plan: &Plan, opts: &IpcOptions) -> Vec<Exp> {
    let mut v = Vec::new();
    let (ls, lb) = (plan.lat_spin, plan.lat_block);
    let warm = |n: u64| (n / 10).max(10);
    let mut add =
        |name: String, transport: &'static str, payload: usize, optional: bool, run: RunFn| {
            v.push(Exp {
                name,
                transport,
                payload,
                run,
                optional,
            })
        };
    add(
        "shared-memory ping-pong, spinning (AtomicU64 in a mapping)".into(),
        "spin",
        8,
        false,
        Box::new(move |c| raw::spin_latency(c, ls, warm(ls))),
    );
    add(
        "shared-memory one way, stamped (a clock reading through an AtomicU64)".into(),
        "spin-1way",
        8,
        false,
        Box::new(move |c| raw::spin_oneway(c, ls, warm(ls))),
    );
    add(
        "futex ping-pong (a sleeping waiter woken each way)".into(),
        "futex",
        4,
        false,
        Box::new(move |c| raw::futex_latency(c, lb, warm(lb))),
    );
    add(
        "futex wake, one way, stamped (the waiter asleep when woken)".into(),
        "futex-1way",
        4,
        false,
        Box::new(move |c| raw::futex_oneway(c, lb, warm(lb))),
    );
    for size in [64, 4096] {
        add(
            "pipe (a FIFO each way)".into(),
            "pipe",
            size,
            false,
            Box::new(move |c| stream::latency(c, "pipe-lat", size, lb, warm(lb))),
        );
        add(
            "Unix stream socket".into(),
            "unix",
            size,
            false,
            Box::new(move |c| stream::latency(c, "unix-lat", size, lb, warm(lb))),
        );
        add(
            "mapped-log, spinning reader (a log each way)".into(),
            "log-spin",
            size,
            false,
            Box::new(move |c| log::latency(c, "spin", size, ls, warm(ls))),
        );
        add(
            "mapped-log, blocking reader (futex sleep at once)".into(),
            "log-block",
            size,
            false,
            Box::new(move |c| log::latency(c, "block", size, lb, warm(lb))),
        );
        add(
            "mapped-log, one writer to a spinning reader, stamped (one log, no echo)".into(),
            "log-1way-spin",
            size,
            false,
            Box::new(move |c| log::oneway(c, "spin", size, ls, warm(ls))),
        );
        add(
            "mapped-log, one writer to a blocking reader, stamped (one log, no echo)".into(),
            "log-1way-block",
            size,
            false,
            Box::new(move |c| log::oneway(c, "block", size, lb, warm(lb))),
        );
        if size == 64 {
            add(
                "mapped-log, default reader (spins 50 µs, then sleeps)".into(),
                "log-default",
                size,
                false,
                Box::new(move |c| log::latency(c, "default", size, lb, warm(lb))),
            );
        }
        #[cfg(feature = "peers")]
        if opts.peers {
            add(
                "iceoryx2 publish-subscribe, slice API, polling (a service each way)".into(),
                "iceoryx2",
                size,
                true,
                Box::new(move |c| ice::latency(c, size, false, ls, warm(ls))),
            );
            add(
                "iceoryx2 publish-subscribe, fixed-size type, polling (a service each way)".into(),
                "iceoryx2-fixed",
                size,
                true,
                Box::new(move |c| ice::latency(c, size, true, ls, warm(ls))),
            );
        }
    }
    for (size, n, ns) in [
        (64, plan.tput.0, plan.tput_stream.0),
        (4096, plan.tput.1, plan.tput_stream.1),
    ] {
        add(
            "bare SPSC ring in a shared mapping".into(),
            "ring",
            size,
            false,
            Box::new(move |c| raw::ring_throughput(c, size, n)),
        );
        add(
            "pipe (FIFO)".into(),
            "pipe",
            size,
            false,
            Box::new(move |c| stream::throughput(c, "pipe-tput", size, ns)),
        );
        add(
            "Unix stream socket".into(),
            "unix",
            size,
            false,
            Box::new(move |c| stream::throughput(c, "unix-tput", size, ns)),
        );
        add(
            "mapped-log, one writer process, spinning reader".into(),
            "log",
            size,
            false,
            Box::new(move |c| log::throughput(c, size, n, 1)),
        );
        add(
            "mapped-log, two writer processes, spinning reader".into(),
            "log-2w",
            size,
            false,
            Box::new(move |c| log::throughput(c, size, n, 2)),
        );
        #[cfg(feature = "peers")]
        if opts.peers {
            add(
                "iceoryx2 publish-subscribe, slice API (publisher waits when the buffer is full)"
                    .into(),
                "iceoryx2",
                size,
                true,
                Box::new(move |c| ice::throughput(c, size, false, n)),
            );
            add(
                "iceoryx2 publish-subscribe, fixed-size type (publisher waits when the buffer is \
                 full)"
                    .into(),
                "iceoryx2-fixed",
                size,
                true,
                Box::new(move |c| ice::throughput(c, size, true, n)),
            );
        }
    }
    let ap = plan.append;
    add(
        "mapped-log appends, one writer process (no reader)".into(),
        "log-append-1",
        64,
        false,
        Box::new(move |c| log::append(c, 1, ap)),
    );
    add(
        "mapped-log appends, two writer processes (no reader)".into(),
        "log-append-2",
        64,
        false,
        Box::new(move |c| log::append(c, 2, ap)),
    );
    let (s1, s8) = plan.sync;
    add(
        "mapped-log Durability::Sync, one appender process (a sync per message)".into(),
        "log-sync-1",
        64,
        false,
        Box::new(move |c| log::sync(c, 1, s1)),
    );
    add(
        "mapped-log Durability::Sync, eight appender processes (group commit)".into(),
        "log-sync-8",
        64,
        false,
        Box::new(move |c| log::sync(c, 8, s8)),
    );
    #[cfg(not(feature = "peers"))]
    let _ = opts;
    v
}
