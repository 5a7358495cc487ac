//! iceoryx2 publish-subscribe, the peer the log is measured against: set
//! up as iceoryx2's own publish-subscribe benchmark does for latency (a
//! service each way, a buffer of one, polling subscribers), and with a
//! deeper buffer and a publisher that waits for room for throughput.
//!
//! Two APIs, each at its best for what it carries:
//!
//! - the slice API (`publish_subscribe::<[u8]>()`), for messages whose size
//!   is known only when they are sent, like the log's: the payload is
//!   copied into a loaned slice, as the log's writers copy into the log;
//! - a fixed-size `#[repr(C)]` type (`publish_subscribe::<Fixed<N>>()`),
//!   iceoryx2's fastest path, for messages of one size: the value is
//!   written into the loaned sample (`write_payload`).
//!
//! The peer is told which by its variant: `fixed`, or none for the slice.

use std::fmt::Debug;
use std::path::Path;
use std::time::Instant;

use iceoryx2::port::publisher::Publisher;
use iceoryx2::port::subscriber::Subscriber;
use iceoryx2::port::update_connections::UpdateConnections;
use iceoryx2::prelude::*;
use iceoryx2::service::builder::publish_subscribe::Builder;
use iceoryx2::service::port_factory::publish_subscribe::PortFactory;

use crate::error::{BenchError, Result};
use crate::ipc::ctx::{Ctx, Outcome, histogram};
use crate::ipc::peer::{Ctl, PeerArgs, Watch};

/// Subscriber buffer for the throughput rows.
const TPUT_BUFFER: usize = 256;

/// The variant that selects the fixed-size type.
const FIXED: &str = "fixed";

fn err<E: Debug>(what: &'static str) -> impl Fn(E) -> BenchError {
    move |e| BenchError::Transport {
        transport: "iceoryx2".into(),
        why: format!("{what}: {e:?}"),
    }
}

/// A message of exactly `N` bytes, the first 8 its sequence number.
#[repr(C)]
#[derive(Debug, Clone, Copy, ZeroCopySend)]
pub(crate) struct Fixed<const N: usize> {
    bytes: [u8; N],
}

/// What differs between the two APIs; the experiments are written once.
trait Api {
    type Payload: Debug + IceoryxSend + ?Sized + 'static;

    /// Opens or creates the service `b` describes.
    fn open(
        b: Builder<Self::Payload, (), ipc::Service>,
    ) -> Result<PortFactory<ipc::Service, Self::Payload, ()>>;

    /// A publisher for messages of `size` bytes.
    fn publisher(
        s: &PortFactory<ipc::Service, Self::Payload, ()>,
        size: usize,
        tput: bool,
    ) -> Result<Publisher<ipc::Service, Self::Payload, ()>>;

    fn send(p: &Publisher<ipc::Service, Self::Payload, ()>, payload: &[u8]) -> Result<()>;

    /// Takes a sample if one is there: its sequence number, after sending
    /// its payload on through `echo`.
    fn try_receive(
        s: &Subscriber<ipc::Service, Self::Payload, ()>,
        echo: Option<&Publisher<ipc::Service, Self::Payload, ()>>,
    ) -> Result<Option<u64>>;
}

/// The slice API: `publish_subscribe::<[u8]>()`.
struct Slice;

impl Api for Slice {
    type Payload = [u8];

    fn open(b: Builder<[u8], (), ipc::Service>) -> Result<PortFactory<ipc::Service, [u8], ()>> {
        b.open_or_create().map_err(err("open or create service"))
    }

    fn publisher(
        s: &PortFactory<ipc::Service, [u8], ()>,
        size: usize,
        tput: bool,
    ) -> Result<Publisher<ipc::Service, [u8], ()>> {
        let b = s.publisher_builder().initial_max_slice_len(size);
        let b = if tput {
            b.backpressure_strategy(BackpressureStrategy::RetryUntilDelivered)
        } else {
            b
        };
        b.create().map_err(err("create publisher"))
    }

    fn send(p: &Publisher<ipc::Service, [u8], ()>, payload: &[u8]) -> Result<()> {
        let s = p
            .loan_slice_uninit(payload.len())
            .map_err(err("loan"))?
            .write_from_slice(payload);
        s.send().map_err(err("send"))?;
        Ok(())
    }

    fn try_receive(
        s: &Subscriber<ipc::Service, [u8], ()>,
        echo: Option<&Publisher<ipc::Service, [u8], ()>>,
    ) -> Result<Option<u64>> {
        let Some(sample) = s.receive().map_err(err("receive"))? else {
            return Ok(None);
        };
        let p = sample.payload();
        if let Some(publ) = echo {
            Self::send(publ, p)?;
        }
        Ok(Some(seq_of(p)))
    }
}

/// A fixed-size type: `publish_subscribe::<Fixed<N>>()`.
struct Typed<const N: usize>;

impl<const N: usize> Api for Typed<N> {
    type Payload = Fixed<N>;

    fn open(
        b: Builder<Fixed<N>, (), ipc::Service>,
    ) -> Result<PortFactory<ipc::Service, Fixed<N>, ()>> {
        b.open_or_create().map_err(err("open or create service"))
    }

    fn publisher(
        s: &PortFactory<ipc::Service, Fixed<N>, ()>,
        _size: usize,
        tput: bool,
    ) -> Result<Publisher<ipc::Service, Fixed<N>, ()>> {
        let b = s.publisher_builder();
        let b = if tput {
            b.backpressure_strategy(BackpressureStrategy::RetryUntilDelivered)
        } else {
            b
        };
        b.create().map_err(err("create publisher"))
    }

    fn send(p: &Publisher<ipc::Service, Fixed<N>, ()>, payload: &[u8]) -> Result<()> {
        let bytes: [u8; N] = payload.try_into().map_err(err("payload size"))?;
        let s = p
            .loan_uninit()
            .map_err(err("loan"))?
            .write_payload(Fixed { bytes });
        s.send().map_err(err("send"))?;
        Ok(())
    }

    fn try_receive(
        s: &Subscriber<ipc::Service, Fixed<N>, ()>,
        echo: Option<&Publisher<ipc::Service, Fixed<N>, ()>>,
    ) -> Result<Option<u64>> {
        let Some(sample) = s.receive().map_err(err("receive"))? else {
            return Ok(None);
        };
        let p = &sample.payload().bytes;
        if let Some(publ) = echo {
            Self::send(publ, p)?;
        }
        Ok(Some(seq_of(p)))
    }
}

fn seq_of(p: &[u8]) -> u64 {
    p.get(..8).map_or(u64::MAX, |b| {
        u64::from_le_bytes(b.try_into().expect("8 bytes"))
    })
}

fn node() -> Result<Node<ipc::Service>> {
    // iceoryx2 logs to the console by default; its warnings would garble
    // the report.
    set_log_level(LogLevel::Error);
    NodeBuilder::new()
        .create::<ipc::Service>()
        .map_err(err("create node"))
}

/// A service name unique to the experiment's directory.
fn name(dir: &Path, dir_of: &str) -> Result<ServiceName> {
    let parts: Vec<_> = dir
        .components()
        .rev()
        .take(2)
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let s = format!(
        "mapped-bench/{}/{}/{dir_of}",
        parts[1..].join("/"),
        parts[0]
    );
    ServiceName::new(&s).map_err(err("service name"))
}

fn service<A: Api>(
    node: &Node<ipc::Service>,
    name: &ServiceName,
    tput: bool,
) -> Result<PortFactory<ipc::Service, A::Payload, ()>> {
    let b = node
        .service_builder(name)
        .publish_subscribe::<A::Payload>()
        .max_publishers(1)
        .max_subscribers(1)
        .history_size(0);
    let b = if tput {
        b.subscriber_max_buffer_size(TPUT_BUFFER)
            .enable_safe_overflow(false)
    } else {
        b.subscriber_max_buffer_size(1).enable_safe_overflow(true)
    };
    A::open(b)
}

fn subscriber<A: Api>(
    s: &PortFactory<ipc::Service, A::Payload, ()>,
    tput: bool,
) -> Result<Subscriber<ipc::Service, A::Payload, ()>> {
    let b = s.subscriber_builder();
    let b = if tput { b.buffer_size(TPUT_BUFFER) } else { b };
    b.create().map_err(err("create subscriber"))
}

/// Polls until a sample arrives; returns its sequence number.
fn receive<A: Api>(
    s: &Subscriber<ipc::Service, A::Payload, ()>,
    watch: &mut Watch<'_>,
    echo: Option<&Publisher<ipc::Service, A::Payload, ()>>,
) -> Result<u64> {
    loop {
        if let Some(seq) = A::try_receive(s, echo)? {
            return Ok(seq);
        }
        watch.tick()?;
    }
}

fn mismatch(i: u64, got: u64) -> BenchError {
    BenchError::Transport {
        transport: "iceoryx2".into(),
        why: format!("message {i} carries sequence number {got}"),
    }
}

/// Everything one side holds: the node must outlive its ports.
struct Side<A: Api> {
    _node: Node<ipc::Service>,
    _services: Vec<PortFactory<ipc::Service, A::Payload, ()>>,
    publ: Option<Publisher<ipc::Service, A::Payload, ()>>,
    sub: Option<Subscriber<ipc::Service, A::Payload, ()>>,
}

/// The peer's variant for a fixed-size type or the slice API.
fn variant(fixed: bool) -> &'static str {
    if fixed { FIXED } else { "" }
}

/// Ping-pong latency: half the round trip of `size`-byte messages, through
/// the fixed-size type or the slice API.
pub(crate) fn latency(
    ctx: &Ctx<'_>,
    size: usize,
    fixed: bool,
    n: u64,
    warmup: u64,
) -> Result<Outcome> {
    match (fixed, size) {
        (false, _) => latency_with::<Slice>(ctx, size, false, n, warmup),
        (true, 64) => latency_with::<Typed<64>>(ctx, size, true, n, warmup),
        (true, 4096) => latency_with::<Typed<4096>>(ctx, size, true, n, warmup),
        (true, _) => Err(no_type(size)),
    }
}

/// Streaming throughput of `size`-byte messages, through the fixed-size
/// type or the slice API.
pub(crate) fn throughput(ctx: &Ctx<'_>, size: usize, fixed: bool, n: u64) -> Result<Outcome> {
    match (fixed, size) {
        (false, _) => throughput_with::<Slice>(ctx, size, false, n),
        (true, 64) => throughput_with::<Typed<64>>(ctx, size, true, n),
        (true, 4096) => throughput_with::<Typed<4096>>(ctx, size, true, n),
        (true, _) => Err(no_type(size)),
    }
}

fn no_type(size: usize) -> BenchError {
    BenchError::Transport {
        transport: "iceoryx2".into(),
        why: format!("no fixed-size payload type of {size} bytes (64 and 4096 are built in)"),
    }
}

fn latency_with<A: Api>(
    ctx: &Ctx<'_>,
    size: usize,
    fixed: bool,
    n: u64,
    warmup: u64,
) -> Result<Outcome> {
    let args = PeerArgs::new("ice-lat", size, n, warmup).variant(variant(fixed));
    let setup = |dir: &Path| -> Result<Side<A>> {
        let node = node()?;
        let a2b = service::<A>(&node, &name(dir, "a2b")?, false)?;
        let b2a = service::<A>(&node, &name(dir, "b2a")?, false)?;
        let publ = A::publisher(&a2b, size, false)?;
        let sub = subscriber::<A>(&b2a, false)?;
        Ok(Side {
            _node: node,
            _services: vec![a2b, b2a],
            publ: Some(publ),
            sub: Some(sub),
        })
    };
    ctx.run(args, 1, setup, |ctl, side, watch| {
        let (publ, sub) = (
            side.publ.as_ref().expect("set"),
            side.sub.as_ref().expect("set"),
        );
        let mut msg = vec![0xa5u8; size];
        let mut h = histogram();
        ctl.go();
        for i in 1..=warmup + n {
            msg[..8].copy_from_slice(&i.to_le_bytes());
            let t = Instant::now();
            A::send(publ, &msg)?;
            let got = receive::<A>(sub, watch, None)?;
            let rtt = t.elapsed().as_nanos() as u64;
            if got != i {
                return Err(mismatch(i, got));
            }
            if i > warmup {
                h.saturating_record((rtt / 2).max(1));
            }
        }
        Ok(Outcome::Latency(h))
    })
}

fn throughput_with<A: Api>(ctx: &Ctx<'_>, size: usize, fixed: bool, n: u64) -> Result<Outcome> {
    let args = PeerArgs::new("ice-tput", size, n, 0).variant(variant(fixed));
    let setup = |dir: &Path| -> Result<Side<A>> {
        let node = node()?;
        let s = service::<A>(&node, &name(dir, "stream")?, true)?;
        let sub = subscriber::<A>(&s, true)?;
        Ok(Side {
            _node: node,
            _services: vec![s],
            publ: None,
            sub: Some(sub),
        })
    };
    ctx.run(args, 1, setup, |ctl, side, watch| {
        let sub = side.sub.as_ref().expect("set");
        // Connect to the peer's publisher now that it exists: a publisher
        // that waits for room drops samples while no subscriber is
        // connected to it.
        sub.update_connections()
            .map_err(err("connect subscriber"))?;
        ctl.go();
        let start = Instant::now();
        for i in 0..n {
            let got = receive::<A>(sub, watch, None)?;
            if got != i {
                return Err(mismatch(i, got));
            }
        }
        Ok(Outcome::Rate(n, start.elapsed().as_nanos() as u64))
    })
}

/// The peer side of every iceoryx2 experiment.
pub(crate) fn peer(a: &PeerArgs, ctl: &Ctl) -> Result<()> {
    match (a.variant.as_str(), a.size) {
        ("", _) => peer_with::<Slice>(a, ctl),
        (FIXED, 64) => peer_with::<Typed<64>>(a, ctl),
        (FIXED, 4096) => peer_with::<Typed<4096>>(a, ctl),
        (FIXED, size) => Err(no_type(size)),
        (other, _) => Err(BenchError::PeerArgs {
            args: vec![format!("variant={other}")],
            why: "unknown iceoryx2 variant".to_string(),
        }),
    }
}

fn peer_with<A: Api>(a: &PeerArgs, ctl: &Ctl) -> Result<()> {
    let mut watch = a.watch(ctl);
    let node = node()?;
    if a.kind == "ice-lat" {
        let a2b = service::<A>(&node, &name(&a.dir, "a2b")?, false)?;
        let b2a = service::<A>(&node, &name(&a.dir, "b2a")?, false)?;
        let sub = subscriber::<A>(&a2b, false)?;
        let publ = A::publisher(&b2a, a.size, false)?;
        ctl.peer_ready();
        ctl.wait_go(&mut watch)?;
        for _ in 0..a.warmup + a.n {
            receive::<A>(&sub, &mut watch, Some(&publ))?;
        }
    } else {
        let s = service::<A>(&node, &name(&a.dir, "stream")?, true)?;
        let publ = A::publisher(&s, a.size, true)?;
        let mut msg = vec![0x5au8; a.size];
        ctl.peer_ready();
        ctl.wait_go(&mut watch)?;
        for i in 0..a.n {
            msg[..8].copy_from_slice(&i.to_le_bytes());
            A::send(&publ, &msg)?;
        }
        // The samples live in our data segment until received.
        ctl.wait_consumed(&mut watch)?;
    }
    ctl.peer_done(a.index);
    Ok(())
}
