//! `mapped bench io` and `mapped bench ipc`: should I map this file, and how
//! the log compares with other IPC, measured on this machine.
//!
//! The measuring lives in the `mapped-bench` crate; this file parses the
//! command line, starts the IPC peers (this executable, run again with the
//! hidden `bench __peer` subcommand), and writes the outputs.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use mapped_bench::ipc::{PEER_KEYS, PEERS_BUILT};
use mapped_bench::{
    Bar, BenchError, IoOptions, IpcOptions, Peer, Scale, peer_main, run_io_with, run_ipc,
};
use mapped_cli::size::parse_size;

use crate::cmd::UsageError;

/// Benchmarks that answer "should I map this file?", and compare the log
/// with other IPC.
#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    command: BenchCommand,
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    Io(IoArgs),
    Ipc(IpcArgs),
    Jetstream(crate::cmd::log::jetstream::bench::JetstreamArgs),
    #[command(name = "__peer", hide = true)]
    Peer(PeerArgs),
}

/// Mapped I/O against pread/pwrite: sequential, random and hot-subset
/// reads of 64 B to 1 MiB, warm and cold, with and without advice; writes
/// and the cost of making them durable; memory. Prints a table, ratios
/// against pread, and a verdict on each classic claim for this machine.
#[derive(Debug, Args)]
pub struct IoArgs {
    /// Benchmark this existing file (never written). Default: a file the
    /// tool creates, sized to fit the machine, and removes afterwards.
    #[arg(long, value_name = "F", conflicts_with = "size")]
    file: Option<PathBuf>,
    /// Size of the file the tool creates (64M, 1.5G, 4GiB...; at least 4M).
    #[arg(long, value_name = "S", value_parser = parse_bench_size, allow_hyphen_values = true)]
    size: Option<u64>,
    /// A short run (under a minute) that still covers every claim.
    #[arg(long)]
    quick: bool,
    /// A few operations of each kind: checks that everything runs; the
    /// numbers mean nothing (for tests).
    #[arg(long, hide = true, conflicts_with = "quick")]
    smoke: bool,
    /// Also write every cell, with its samples' summary, as JSON.
    #[arg(long, value_name = "OUT")]
    json: Option<PathBuf>,
    /// Also draw an SVG chart.
    #[arg(long, value_name = "OUT.svg")]
    plot: Option<PathBuf>,
    /// Where to create the benchmark's file (default: the temporary folder).
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Do not pin threads to CPUs.
    #[arg(long)]
    no_pin: bool,
    /// Also print the project's own performance targets (PASS or MISS);
    /// the JSON always holds them.
    #[arg(long)]
    targets: bool,
}

/// IPC between two processes: latency (p50, p99, p99.9, max) and
/// throughput, 64 B and 4 KiB messages: the log with a spinning and a
/// blocking reader, raw shared-memory baselines, pipes, Unix sockets and
/// (built with the `peers` feature) iceoryx2.
#[derive(Debug, Args)]
#[command(after_help = (!PEERS_BUILT).then_some(PEERS_HINT))]
pub struct IpcArgs {
    /// A short run (under a minute).
    #[arg(long)]
    quick: bool,
    /// A few messages of each kind: checks that everything runs; the numbers
    /// mean nothing (for tests).
    #[arg(long, hide = true, conflicts_with = "quick")]
    smoke: bool,
    /// Also write every row as JSON.
    #[arg(long, value_name = "OUT")]
    json: Option<PathBuf>,
    /// Where to put the logs and shared files (default: the temporary folder).
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Do not pin the processes to different CPUs.
    #[arg(long)]
    no_pin: bool,
    /// Leave out third-party peers (iceoryx2).
    #[arg(long)]
    no_peers: bool,
    /// Also print the project's own performance targets (PASS or MISS);
    /// the JSON always holds them.
    #[arg(long)]
    targets: bool,
    /// Measure only the rows of these transports (the short keys of the
    /// JSON report: `spin`, `ring`, `pipe`, `log`, `log-1way-spin`, ...),
    /// comma-separated. Targets whose rows are left out read "not
    /// measured".
    #[arg(long, value_name = "KEYS", value_delimiter = ',')]
    only: Vec<String>,
}

/// How to get the third-party peers' rows, for a build without them.
const PEERS_HINT: &str = "iceoryx2 is not in this build; to compare with it: cargo build --release \
     --features peers (or cargo install --path crates/mapped-cli --features peers)";

/// The smallest file `bench io` can measure (mapped-bench's own limit).
const MIN_SIZE: u64 = 4 << 20;

fn parse_bench_size(s: &str) -> Result<u64, String> {
    match parse_size(s) {
        Ok(n) if n < MIN_SIZE => Err(format!(
            "the benchmark's file must be at least 4M ({MIN_SIZE} bytes)"
        )),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

#[derive(Debug, Args)]
struct PeerArgs {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

/// Runs `mapped bench ...`.
pub fn run(args: &BenchArgs) -> Result<()> {
    match &args.command {
        BenchCommand::Io(a) => io(a),
        BenchCommand::Ipc(a) => ipc(a),
        BenchCommand::Jetstream(a) => crate::cmd::log::jetstream::bench::run(a),
        BenchCommand::Peer(a) => Ok(peer_main(&a.args)?),
    }
}

fn scale(quick: bool, smoke: bool) -> Scale {
    match (quick, smoke) {
        (_, true) => Scale::Smoke,
        (true, false) => Scale::Quick,
        (false, false) => Scale::Full,
    }
}

/// How peers are started: this executable, run directly (no shell: a peer
/// checks that its parent is the process that started it) with the hidden
/// `bench __peer` subcommand. Memory peers talk over their standard input
/// and output (`pipes`); IPC peers use neither.
struct Peers {
    exe: PathBuf,
    pipes: bool,
}

impl Peers {
    fn new(pipes: bool) -> Result<Peers> {
        let exe = std::env::current_exe().context("find this executable to start the peers")?;
        Ok(Peers { exe, pipes })
    }

    fn spawn(&self, peer_args: &[String]) -> std::io::Result<Child> {
        let stdio = || {
            if self.pipes {
                Stdio::piped()
            } else {
                Stdio::null()
            }
        };
        Command::new(&self.exe)
            .args(["bench", "__peer"])
            .args(peer_args)
            .stdin(stdio())
            .stdout(stdio())
            .spawn()
    }
}

/// Prints the report, and writes its JSON where `--json` says.
fn output(text: String, json: Option<&PathBuf>, to_json: impl FnOnce() -> String) -> Result<()> {
    print!("{text}");
    if let Some(path) = json {
        std::fs::write(path, to_json()).with_context(|| format!("write {}", path.display()))?;
    }
    Ok(())
}

fn io(args: &IoArgs) -> Result<()> {
    let mut opts = IoOptions::new(scale(args.quick, args.smoke));
    opts.file = args.file.clone();
    opts.size = args.size;
    opts.dir = args.dir.clone();
    opts.pin = !args.no_pin;
    let peers = Peers::new(true)?;
    let spawn = |a: &[String]| peers.spawn(a);
    let report = run_io_with(&opts, Peer::Process(&spawn), &Bar::new())?;
    let text = if args.targets {
        report.render_with_targets()
    } else {
        report.render()
    };
    output(text, args.json.as_ref(), || report.to_json())?;
    if let Some(path) = &args.plot {
        report.write_svg(path)?;
    }
    Ok(())
}

fn ipc(args: &IpcArgs) -> Result<()> {
    let mut opts = IpcOptions::new(scale(args.quick, args.smoke));
    opts.dir = args.dir.clone();
    opts.pin = !args.no_pin;
    opts.peers = !args.no_peers;
    opts.only = args.only.clone();
    let not_built = |k: &&String| !PEERS_BUILT && PEER_KEYS.contains(&k.as_str());
    if let Some(key) = args.only.iter().find(not_built) {
        return Err(
            UsageError::new(&["bench", "ipc"], format!("--only {key}: {PEERS_HINT}")).into(),
        );
    }
    let peers = Peers::new(false)?;
    let spawn = |a: &[String]| peers.spawn(a);
    let mut report = match run_ipc(&opts, Peer::Process(&spawn), &Bar::new()) {
        Ok(report) => report,
        // Options the command line could not check (`--only` keys unknown
        // to this build): bad usage.
        Err(BenchError::Options(why)) => return Err(UsageError::new(&["bench", "ipc"], why).into()),
        Err(e) => return Err(e.into()),
    };
    if !PEERS_BUILT {
        // In place of the library's "not measured" note, which cannot know
        // how this binary is built.
        let note = report
            .notes
            .iter()
            .position(|n| n.starts_with("iceoryx2 not measured"));
        match note {
            Some(i) => report.notes[i] = PEERS_HINT.to_string(),
            None => report.notes.push(PEERS_HINT.to_string()),
        }
    }
    let text = if args.targets {
        report.render_with_targets()
    } else {
        report.render()
    };
    output(text, args.json.as_ref(), || report.to_json())
}
