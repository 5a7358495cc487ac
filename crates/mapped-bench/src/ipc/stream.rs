//! Pipes and Unix sockets: a system call per message each way.
//!
//! Pipes are FIFOs in the experiment's directory (`a`: main to peer, `b`:
//! peer to main), so that an unrelated process can open them. Each side
//! opens its read end first, without blocking, then its write end once the
//! other side's reader exists, so neither side ever waits in `open`; and
//! since each end is held by one process only, the death of either side
//! ends the other's reads (end of file) and writes (`EPIPE`). The socket is
//! a `SOCK_STREAM` Unix socket the main side listens on.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{BenchError, Result};
use crate::ipc::ctx::{Ctx, Outcome, histogram};
use crate::ipc::peer::{Ctl, PeerArgs};

const SOCKET: &str = "sock";

/// The main side's ends before the peer is ready.
enum Setup {
    /// The read end of `b`, and the path of `a` to open for writing later.
    Pipe {
        b: File,
        a: PathBuf,
    },
    Unix(UnixListener),
}

/// Both directions of a connection.
struct Conn {
    rx: Box<dyn Read>,
    tx: Box<dyn Write>,
}

fn io<'a>(what: &'static str, path: &'a Path) -> impl Fn(std::io::Error) -> BenchError + 'a {
    move |e| BenchError::io(what, path, e)
}

fn mkfifo(path: &Path) -> Result<()> {
    rustix::fs::mkfifoat(
        rustix::fs::CWD,
        path,
        rustix::fs::Mode::from_raw_mode(0o600),
    )
    .map_err(|e| BenchError::io("mkfifo", path, e.into()))
}

/// Opens a FIFO's read end without waiting for a writer, then makes it
/// blocking.
fn open_read(path: &Path) -> Result<File> {
    let f = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(io("open", path))?;
    rustix::fs::fcntl_setfl(&f, rustix::fs::OFlags::empty())
        .map_err(|e| BenchError::io("fcntl", path, e.into()))?;
    Ok(f)
}

/// Opens a FIFO's write end; the other side's reader already exists.
fn open_write(path: &Path) -> Result<File> {
    OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(io("open", path))
}

fn setup(kind: &str, dir: &Path) -> Result<Setup> {
    if kind.starts_with("pipe") {
        let (a, b) = (dir.join("a"), dir.join("b"));
        mkfifo(&a)?;
        mkfifo(&b)?;
        Ok(Setup::Pipe {
            b: open_read(&b)?,
            a,
        })
    } else {
        let path = dir.join(SOCKET);
        let l = UnixListener::bind(&path).map_err(io("bind", &path))?;
        l.set_nonblocking(true).map_err(io("bind", &path))?;
        Ok(Setup::Unix(l))
    }
}

/// The main side's connection, once the peer is ready.
fn connect_main(s: &mut Option<Setup>) -> Result<Conn> {
    match s.take() {
        Some(Setup::Pipe { b, a }) => Ok(Conn {
            rx: Box::new(b),
            tx: Box::new(open_write(&a)?),
        }),
        Some(Setup::Unix(l)) => {
            // The peer connected before it said it was ready.
            let deadline = Instant::now() + Duration::from_secs(10);
            let stream = loop {
                match l.accept() {
                    Ok((s, _)) => break s,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        if Instant::now() > deadline {
                            return Err(BenchError::Peer {
                                experiment: String::new(),
                                why: "the peer never connected".into(),
                            });
                        }
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    Err(e) => return Err(BenchError::io("accept", SOCKET, e)),
                }
            };
            stream
                .set_nonblocking(false)
                .map_err(|e| BenchError::io("accept", SOCKET, e))?;
            let tx = stream
                .try_clone()
                .map_err(|e| BenchError::io("dup", SOCKET, e))?;
            Ok(Conn {
                rx: Box::new(stream),
                tx: Box::new(tx),
            })
        }
        None => unreachable!("connected once"),
    }
}

fn seq_of(buf: &[u8]) -> u64 {
    u64::from_le_bytes(buf[..8].try_into().expect("8 bytes"))
}

const TRANSPORT: &str = "pipe or Unix socket";

fn mismatch(i: u64, got: u64) -> BenchError {
    BenchError::Transport {
        transport: TRANSPORT.to_string(),
        why: format!("message {i} carries sequence number {got}"),
    }
}

/// Main side of a ping-pong over a pipe pair or a socket.
pub(crate) fn latency(
    ctx: &Ctx<'_>,
    kind: &'static str,
    size: usize,
    n: u64,
    warmup: u64,
) -> Result<Outcome> {
    let args = PeerArgs::new(kind, size, n, warmup);
    ctx.run(
        args,
        1,
        |dir| Ok(Some(setup(kind, dir)?)),
        |ctl, s, _| {
            let mut c = connect_main(s)?;
            let mut msg = vec![0xa5u8; size];
            let mut back = vec![0u8; size];
            let mut h = histogram();
            ctl.go();
            for i in 1..=warmup + n {
                msg[..8].copy_from_slice(&i.to_le_bytes());
                let t = Instant::now();
                c.tx.write_all(&msg).map_err(io("write", Path::new(kind)))?;
                c.rx.read_exact(&mut back)
                    .map_err(io("read", Path::new(kind)))?;
                let rtt = t.elapsed().as_nanos() as u64;
                if seq_of(&back) != i {
                    return Err(mismatch(i, seq_of(&back)));
                }
                if i > warmup {
                    h.saturating_record((rtt / 2).max(1));
                }
            }
            Ok(Outcome::Latency(h))
        },
    )
}

/// Main side of streaming `n` messages from the peer.
pub(crate) fn throughput(
    ctx: &Ctx<'_>,
    kind: &'static str,
    size: usize,
    n: u64,
) -> Result<Outcome> {
    let args = PeerArgs::new(kind, size, n, 0);
    ctx.run(
        args,
        1,
        |dir| Ok(Some(setup(kind, dir)?)),
        |ctl, s, _| {
            let mut c = connect_main(s)?;
            let mut buf = vec![0u8; size];
            ctl.go();
            let start = Instant::now();
            for i in 0..n {
                c.rx.read_exact(&mut buf)
                    .map_err(io("read", Path::new(kind)))?;
                if seq_of(&buf) != i {
                    return Err(mismatch(i, seq_of(&buf)));
                }
            }
            Ok(Outcome::Rate(n, start.elapsed().as_nanos() as u64))
        },
    )
}

/// The peer side of every pipe and socket experiment.
pub(crate) fn peer(a: &PeerArgs, ctl: &Ctl) -> Result<()> {
    let mut c = if a.kind.starts_with("pipe") {
        let rx = open_read(&a.dir.join("a"))?;
        let tx = open_write(&a.dir.join("b"))?;
        Conn {
            rx: Box::new(rx),
            tx: Box::new(tx),
        }
    } else {
        let path = a.dir.join(SOCKET);
        let s = UnixStream::connect(&path).map_err(io("connect", &path))?;
        let tx = s.try_clone().map_err(io("dup", &path))?;
        Conn {
            rx: Box::new(s),
            tx: Box::new(tx),
        }
    };
    let mut watch = a.watch(ctl);
    ctl.peer_ready();
    ctl.wait_go(&mut watch)?;
    let mut buf = vec![0x5au8; a.size];
    let kind = Path::new(&a.kind);
    if a.kind.ends_with("lat") {
        for _ in 0..a.warmup + a.n {
            c.rx.read_exact(&mut buf).map_err(io("read", kind))?;
            c.tx.write_all(&buf).map_err(io("write", kind))?;
        }
    } else {
        for i in 0..a.n {
            buf[..8].copy_from_slice(&i.to_le_bytes());
            c.tx.write_all(&buf).map_err(io("write", kind))?;
        }
        ctl.peer_done(a.index);
        ctl.wait_consumed(&mut watch)?;
        return Ok(());
    }
    ctl.peer_done(a.index);
    Ok(())
}
