//! iceoryx2 publish-subscribe, the peer the log is measured against: set
//! up as iceoryx2's own publish-subscribe benchmark does for latency (a
//! service each way, a buffer of one, polling subscribers), and with a
//! deeper buffer and a publisher that waits for room for throughput.
//! Payloads are copied into the loaned sample, as the log's writers copy
//! into the log.

use std::path::Path;
use std::time::Instant;

use iceoryx2::port::publisher::Publisher;
use iceoryx2::port::subscriber::Subscriber;
use iceoryx2::port::update_connections::UpdateConnections;
use iceoryx2::prelude::*;
use iceoryx2::service::port_factory::publish_subscribe::PortFactory as PubSub;

use crate::error::{BenchError, Result};
use crate::ipc::peer::{Ctl, PeerArgs, Watch};
use crate::ipc::{Ctx, Outcome, histogram};

type Pub = Publisher<ipc::Service, [u8], ()>;
type Sub = Subscriber<ipc::Service, [u8], ()>;

/// Subscriber buffer for the throughput rows.
const TPUT_BUFFER: usize = 256;

fn err<E: std::fmt::Debug>(what: &'static str) -> impl Fn(E) -> BenchError {
    move |e| BenchError::Transport {
        transport: "iceoryx2".into(),
        why: format!("{what}: {e:?}"),
    }
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

fn service(
    node: &Node<ipc::Service>,
    name: &ServiceName,
    tput: bool,
) -> Result<PubSub<ipc::Service, [u8], ()>> {
    let b = node
        .service_builder(name)
        .publish_subscribe::<[u8]>()
        .max_publishers(1)
        .max_subscribers(1)
        .history_size(0);
    let b = if tput {
        b.subscriber_max_buffer_size(TPUT_BUFFER)
            .enable_safe_overflow(false)
    } else {
        b.subscriber_max_buffer_size(1).enable_safe_overflow(true)
    };
    b.open_or_create().map_err(err("open or create service"))
}

fn publisher(s: &PubSub<ipc::Service, [u8], ()>, size: usize, tput: bool) -> Result<Pub> {
    let b = s.publisher_builder().initial_max_slice_len(size);
    let b = if tput {
        b.backpressure_strategy(BackpressureStrategy::RetryUntilDelivered)
    } else {
        b
    };
    b.create().map_err(err("create publisher"))
}

fn subscriber(s: &PubSub<ipc::Service, [u8], ()>, tput: bool) -> Result<Sub> {
    let b = s.subscriber_builder();
    let b = if tput { b.buffer_size(TPUT_BUFFER) } else { b };
    b.create().map_err(err("create subscriber"))
}

fn send(p: &Pub, payload: &[u8]) -> Result<()> {
    let s = p
        .loan_slice_uninit(payload.len())
        .map_err(err("loan"))?
        .write_from_slice(payload);
    s.send().map_err(err("send"))?;
    Ok(())
}

/// Polls until a sample arrives; returns its sequence number.
fn receive(s: &Sub, watch: &mut Watch<'_>, echo: Option<&Pub>) -> Result<u64> {
    loop {
        if let Some(sample) = s.receive().map_err(err("receive"))? {
            let p = sample.payload();
            if let Some(publ) = echo {
                send(publ, p)?;
            }
            return Ok(p.get(..8).map_or(u64::MAX, |b| {
                u64::from_le_bytes(b.try_into().expect("8 bytes"))
            }));
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
struct Side {
    _node: Node<ipc::Service>,
    _services: Vec<PubSub<ipc::Service, [u8], ()>>,
    publ: Option<Pub>,
    sub: Option<Sub>,
}

pub(crate) fn latency(ctx: &Ctx<'_>, size: usize, n: u64, warmup: u64) -> Result<Outcome> {
    let args = PeerArgs::new("ice-lat", size, n, warmup);
    let setup = |dir: &Path| -> Result<Side> {
        let node = node()?;
        let a2b = service(&node, &name(dir, "a2b")?, false)?;
        let b2a = service(&node, &name(dir, "b2a")?, false)?;
        let publ = publisher(&a2b, size, false)?;
        let sub = subscriber(&b2a, false)?;
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
            send(publ, &msg)?;
            let got = receive(sub, watch, None)?;
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

pub(crate) fn throughput(ctx: &Ctx<'_>, size: usize, n: u64) -> Result<Outcome> {
    let args = PeerArgs::new("ice-tput", size, n, 0);
    let setup = |dir: &Path| -> Result<Side> {
        let node = node()?;
        let s = service(&node, &name(dir, "stream")?, true)?;
        let sub = subscriber(&s, true)?;
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
            let got = receive(sub, watch, None)?;
            if got != i {
                return Err(mismatch(i, got));
            }
        }
        Ok(Outcome::Rate(n, start.elapsed().as_nanos() as u64))
    })
}

pub(crate) fn peer(a: &PeerArgs, ctl: &Ctl) -> Result<()> {
    let mut watch = a.watch(ctl);
    let node = node()?;
    if a.kind == "ice-lat" {
        let a2b = service(&node, &name(&a.dir, "a2b")?, false)?;
        let b2a = service(&node, &name(&a.dir, "b2a")?, false)?;
        let sub = subscriber(&a2b, false)?;
        let publ = publisher(&b2a, a.size, false)?;
        ctl.peer_ready();
        ctl.wait_go(&mut watch)?;
        for _ in 0..a.warmup + a.n {
            receive(&sub, &mut watch, Some(&publ))?;
        }
    } else {
        let s = service(&node, &name(&a.dir, "stream")?, true)?;
        let publ = publisher(&s, a.size, true)?;
        let mut msg = vec![0x5au8; a.size];
        ctl.peer_ready();
        ctl.wait_go(&mut watch)?;
        for i in 0..a.n {
            msg[..8].copy_from_slice(&i.to_le_bytes());
            send(&publ, &msg)?;
        }
        // The samples live in our data segment until received.
        ctl.wait_consumed(&mut watch)?;
    }
    ctl.peer_done(a.index);
    Ok(())
}
