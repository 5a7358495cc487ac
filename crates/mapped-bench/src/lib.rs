//! I/O and IPC benchmarks for `mapped` and `mapped-log`: the library behind
//! `mapped bench io` and `mapped bench ipc`.
//!
//! Each benchmark compares in one run, on one machine: a shared mapping
//! against `pread`/`pwrite` ([`run_io`]), and the log against raw
//! shared-memory baselines, pipes, Unix sockets and (with the `peers`
//! feature) iceoryx2 ([`run_ipc`]). Reports hold medians with the min–max
//! spread over repetitions, ratios against the baselines of the same run,
//! a verdict per claim ("holds", "does not hold", "too noisy to conclude")
//! and the project's targets marked PASS or MISS. They render as text
//! that opens with a conclusion for this machine ([`IoReport::render`];
//! with the targets, [`IoReport::render_with_targets`]), serialize as JSON
//! ([`IoReport::to_json`], targets included), and the I/O report also
//! draws an SVG chart ([`IoReport::write_svg`]).
//!
//! Numbers from a shared or virtual machine are only indicative: the
//! reports say so, and flag every comparison whose spreads overlap.
//!
//! # Example
//!
//! ```
//! use mapped_bench::{IoOptions, Scale, Silent, run_io};
//! # fn main() -> Result<(), mapped_bench::BenchError> {
//! // A smoke-sized run: a few operations of each kind, numbers meaningless.
//! let mut opts = IoOptions::new(Scale::Smoke);
//! opts.size = Some(4 << 20);
//! let report = run_io(&opts, &Silent)?;
//! assert!(report.render().contains("Claims"));
//! assert!(report.to_json().starts_with('{'));
//! # Ok(()) }
//! ```
//!
//! # Two processes
//!
//! [`run_ipc`] measures between two processes. A library cannot re-execute
//! its caller, so the caller starts the peers: it passes [`Peer::Process`]
//! with a closure that runs its own executable with a hidden subcommand
//! (`mapped bench __peer ARGS...`), and that subcommand calls
//! [`peer_main`] with `ARGS`. [`Peer::Thread`] runs the peers as threads
//! instead, for tests.
//!
//! ```no_run
//! use std::process::{Command, Stdio};
//! use mapped_bench::{Bar, IpcOptions, Peer, Scale, peer_main, run_ipc};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // The hidden subcommand: `mapped bench __peer ARGS...`.
//! let args: Vec<String> = std::env::args().skip(3).collect();
//! # let hidden = false;
//! if hidden {
//!     peer_main(&args)?; // on error: print it, exit non-zero
//!     return Ok(());
//! }
//! // `mapped bench ipc --quick`: peers are this executable, re-run.
//! let exe = std::env::current_exe()?;
//! let spawn = |args: &[String]| {
//!     Command::new(&exe)
//!         .args(["bench", "__peer"])
//!         .args(args)
//!         .stdin(Stdio::null())
//!         .stdout(Stdio::null())
//!         .spawn()
//! };
//! let report = run_ipc(&IpcOptions::new(Scale::Quick), Peer::Process(&spawn), &Bar::new())?;
//! print!("{}", report.render());
//! # Ok(()) }
//! ```

#![deny(unsafe_code)]

mod env;
mod error;
pub mod io;
pub mod ipc;
mod plot;
mod progress;
mod scale;
mod stats;
mod sys;
mod table;

pub use env::Environment;
pub use error::{BenchError, Result};
pub use io::{IoOptions, IoReport, run_io, run_io_with};
pub use ipc::{IpcOptions, IpcReport, Peer, peer_main, run_ipc};
pub use progress::{Bar, Progress, Silent};
pub use scale::Scale;
pub use stats::{Claim, Ratio, Summary, Target, TargetStatus, Verdict};
