//! `mapped log export` and `mapped log replicate`: a log beyond one
//! machine, through NATS JetStream (the `mapped-jetstream` crate), and
//! `mapped bench jetstream`, which measures them. What the two share: the connection options, the runtime with its stop signals,
//! and the reports.

pub mod bench;
pub mod export;
pub mod replicate;

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use clap::Args;
use mapped_cli::duration::parse_duration;
use mapped_jetstream::{CancellationToken, Connection, Event, Events};

/// How to reach the NATS servers (both commands).
#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// The NATS server URLs, comma-separated: nats://host:4222,
    /// tls://host:4222, nats://user:password@host:4222, nats://TOKEN@host:4222
    /// (a user without a password is a token). Given several (a
    /// cluster's), the client fails over. A URL is visible to other users
    /// in the process list: prefer --token-file, --nkey or --creds for
    /// secrets.
    #[arg(long, value_name = "URL", default_value = "nats://127.0.0.1:4222")]
    server: String,
    /// A credentials file (.creds: a user JWT and its NKey seed), for
    /// servers with decentralised authentication (operator mode).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["nkey", "token_file"])]
    creds: Option<PathBuf>,
    /// A file holding an NKey seed (SU...), for servers that know the
    /// user by its public NKey (authorization { users = [{ nkey: U... }] }).
    #[arg(long, value_name = "FILE", conflicts_with = "token_file")]
    nkey: Option<PathBuf>,
    /// A file whose first line is the token, for servers that
    /// authenticate with one (authorization { token: ... }).
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// A CA certificate (PEM) to verify the server's certificate with,
    /// instead of the system's CAs.
    #[arg(long, value_name = "FILE")]
    tls_ca: Option<PathBuf>,
    /// A client certificate (PEM), for servers that verify clients
    /// (mutual TLS); needs --tls-key.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The client certificate's private key (PEM); needs --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Use TLS even if the server does not ask for it.
    #[arg(long)]
    tls: bool,
    /// At start, how long to keep trying to reach the server (and the
    /// stream) before failing with status 1. Once connected, a lost
    /// connection is retried without end, with backoff, and said on
    /// stderr.
    #[arg(long, value_name = "DUR", default_value = "10s", value_parser = parse_duration)]
    connect_wait: Duration,
    /// Report the lag (messages and bytes behind, the last id done) on
    /// stdout this often; 0 never.
    #[arg(long, value_name = "DUR", default_value = "10s", value_parser = parse_duration)]
    report_every: Duration,
    /// Reports on stdout as JSON, one object per line (events too:
    /// resumed, lag, retrying, disconnected, connected, created, done).
    #[arg(long)]
    json: bool,
}

impl ConnectArgs {
    fn connection(&self, role: &str) -> Connection {
        let mut c = Connection::new(&self.server);
        c.creds = self.creds.clone();
        c.nkey = self.nkey.clone();
        c.token_file = self.token_file.clone();
        c.tls_ca = self.tls_ca.clone();
        c.tls_client = self.tls_cert.clone().zip(self.tls_key.clone());
        c.require_tls = self.tls;
        c.connect_wait = self.connect_wait;
        c.name = format!("mapped log {role}");
        c
    }

    fn report_every(&self) -> Option<Duration> {
        (!self.report_every.is_zero()).then_some(self.report_every)
    }

    /// Where events go: notices on stderr (always, as text), reports on
    /// stdout (text, or JSON with --json).
    fn events(&self, role: &'static str) -> Events {
        let json = self.json;
        Events::new(move |e| print_event(role, json, &e))
    }
}

fn print_event(role: &str, json: bool, e: &Event) {
    let notice = match e {
        Event::Disconnected => {
            Some("connection to the server lost; reconnecting with backoff".to_string())
        }
        Event::Connected => Some("connected to the server".to_string()),
        Event::ServerError { detail } => Some(format!("server error: {detail}")),
        Event::Retrying { what, after } => {
            Some(format!("{what}; trying again in {} ms", after.as_millis()))
        }
        Event::CreatedStream { stream } => Some(format!("created stream {stream}")),
        _ => None,
    };
    if let Some(n) = &notice {
        eprintln!("mapped: {role}: {n}");
    }
    let line = if json {
        let v = match e {
            Event::Lag(l) => serde_json::json!({
                "event": "lag", "messages": l.messages, "bytes": l.bytes,
                "id": l.done_id, "sequence": l.sequence, "total": l.total,
            }),
            Event::Resumed { sequence, id } => {
                serde_json::json!({"event": "resumed", "sequence": sequence, "id": id})
            }
            Event::Disconnected => serde_json::json!({"event": "disconnected"}),
            Event::Connected => serde_json::json!({"event": "connected"}),
            Event::CreatedStream { stream } => {
                serde_json::json!({"event": "created", "stream": stream})
            }
            _ => serde_json::json!({"event": "retrying", "what": notice}),
        };
        v.to_string()
    } else {
        match e {
            Event::Lag(l) => format!(
                "{role}: {} behind ({} bytes); last done: id {}, sequence {}; {} done in all",
                mapped_cli::fields::plural(l.messages, "message"),
                l.bytes,
                l.done_id.map_or("none".into(), |i| i.to_string()),
                l.sequence,
                l.total
            ),
            Event::Resumed { sequence: 0, .. } => format!("{role}: starting at the beginning"),
            Event::Resumed { sequence, id } => format!(
                "{role}: resuming after stream sequence {sequence}{}",
                id.map_or(String::new(), |i| format!(" (message {i})"))
            ),
            _ => return,
        }
    };
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Runs `work` until it ends, or SIGINT or SIGTERM cancel its token
/// (it then finishes what is in flight and returns).
fn run_until_stopped<T>(work: impl AsyncFnOnce(CancellationToken) -> Result<T>) -> Result<T> {
    mapped_jetstream::run_until_signalled(work)?
}
