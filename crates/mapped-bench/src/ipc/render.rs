//! The IPC report as text: a conclusion for this machine first, then the
//! tables, the log against each of the others, and notes. The project's
//! own targets are printed only on request ([`IpcReport::render_with_targets`]);
//! the JSON always holds them.

use std::fmt::Write;

use crate::ipc::report::{IpcReport, LatencyRow, ThroughputRow};
use crate::stats::Ratio;
use crate::table::{Table, bytes, faster, faster_than, ns, ns_spread, num, rate, rate_spread};

/// The peers measured as iceoryx2, with the words that name each API.
const ICEORYX2: [(&str, &str); 2] = [
    ("iceoryx2", "slice API"),
    ("iceoryx2-fixed", "fixed-size type"),
];

impl IpcReport {
    /// The report as text with the project's targets (PASS or MISS) at the
    /// end: `mapped bench ipc --targets`.
    pub fn render_with_targets(&self) -> String {
        let mut out = render(self);
        out.push_str(&targets(self));
        out
    }
}

pub(crate) fn render(r: &IpcReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "mapped bench ipc");
    let _ = writeln!(out, "machine: {}", r.environment.line());
    let _ = writeln!(
        out,
        "peers: {}{}",
        if r.peer_mode == "threads" {
            "threads of this process"
        } else {
            "separate processes"
        },
        match r.environment.pinned.as_slice() {
            [main, peer, ..] => format!(", main side on CPU {main}, peer on CPU {peer}"),
            _ => ", not pinned".to_string(),
        }
    );

    let summary = conclusion(r);
    if !summary.is_empty() {
        let _ = writeln!(out, "\nIn short, on this machine (medians of this run):");
        for line in summary {
            let _ = writeln!(out, "- {line}");
        }
    }

    let _ = writeln!(
        out,
        "\nLatency, one way (half the round trip, or from a stamp in the payload for the \
         stamped rows): p50 per repetition, median [min–max]; p99, p99.9 and max over all \
         samples"
    );
    let mut t = Table::new(&[
        "transport",
        "payload",
        "samples",
        "p50",
        "p99",
        "p99.9",
        "max",
    ]);
    for x in &r.latency {
        t.row(vec![
            x.name.clone(),
            bytes(x.payload as u64),
            x.round_trips.to_string(),
            ns_spread(&x.p50_ns),
            ns(x.all.p99),
            ns(x.all.p999),
            ns(x.all.max),
        ]);
    }
    out.push_str(&t.render());

    let _ = writeln!(
        out,
        "\nThroughput (messages from one process to another; median [min–max])"
    );
    let mut t = Table::new(&["transport", "payload", "messages", "msgs/s", "MiB/s"]);
    for x in &r.throughput {
        t.row(vec![
            x.name.clone(),
            bytes(x.payload as u64),
            x.messages.to_string(),
            rate_spread(&x.msgs_per_s),
            num(x.mib_per_s.median),
        ]);
    }
    out.push_str(&t.render());

    let rows = comparisons(r);
    if !rows.is_empty() {
        let _ = writeln!(
            out,
            "\nThe log against the others (ratio of medians, [the range the repetitions allow], \
             read the same way; latency compares time per message, throughput messages per \
             second)"
        );
        let mut t = Table::new(&["the log", "against", "64 B", "4 KiB"]);
        for row in rows {
            t.row(row);
        }
        out.push_str(&t.render());
    }

    let _ = writeln!(out, "\nNotes");
    for n in &r.notes {
        let _ = writeln!(out, "- {n}");
    }
    let _ = writeln!(
        out,
        "- the project's own performance targets are not shown: --targets prints them, and \
         the JSON (--json) always holds them"
    );
    out
}

/// The targets section of [`IpcReport::render_with_targets`].
fn targets(r: &IpcReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nTargets (the project's own goals for the log, checked on the medians; a MISS is a \
         goal not reached on this machine, not a failure of the run)"
    );
    for t in &r.targets {
        let _ = writeln!(out, "{}", t.line());
    }
    out
}

/// `a`'s p50 against `b`'s as a speed-up (above 1: `a` is faster).
fn lat_speedup(a: &LatencyRow, b: &LatencyRow) -> Ratio {
    b.p50_ns.ratio(&a.p50_ns)
}

/// `a`'s rate against `b`'s (above 1: `a` is faster).
fn tput_speedup(a: &ThroughputRow, b: &ThroughputRow) -> Ratio {
    a.msgs_per_s.ratio(&b.msgs_per_s)
}

/// The faster of the iceoryx2 latency rows at `payload`, and its API.
fn best_ice_latency(r: &IpcReport, payload: usize) -> Option<(&LatencyRow, &'static str)> {
    ICEORYX2
        .iter()
        .filter_map(|&(key, api)| r.latency_row(key, payload).map(|x| (x, api)))
        .min_by(|a, b| a.0.p50_ns.median.total_cmp(&b.0.p50_ns.median))
}

/// The faster of the iceoryx2 throughput rows at `payload`, and its API.
fn best_ice_throughput(r: &IpcReport, payload: usize) -> Option<(&ThroughputRow, &'static str)> {
    ICEORYX2
        .iter()
        .filter_map(|&(key, api)| r.throughput_row(key, payload).map(|x| (x, api)))
        .max_by(|a, b| a.0.msgs_per_s.median.total_cmp(&b.0.msgs_per_s.median))
}

/// The lines that open the report: what this run says about the log
/// against a pipe and iceoryx2 at each size, a sleeping reader, and
/// durable appends. A line whose rows were not measured is left out.
fn conclusion(r: &IpcReport) -> Vec<String> {
    let mut lines = Vec::new();
    for payload in [64, 4096] {
        let mut parts = Vec::new();
        if let Some(log) = r.latency_row("log-spin", payload) {
            let mut against = Vec::new();
            if let Some(pipe) = r.latency_row("pipe", payload) {
                against.push(format!(
                    "{} a pipe ({})",
                    faster_than(lat_speedup(log, pipe).value),
                    ns(pipe.p50_ns.median)
                ));
            }
            if let Some((ice, api)) = best_ice_latency(r, payload) {
                against.push(format!(
                    "{} iceoryx2 ({}, {api})",
                    faster_than(lat_speedup(log, ice).value),
                    ns(ice.p50_ns.median)
                ));
            }
            parts.push(format!(
                "the log with a spinning reader delivered a message in {} one way{}",
                ns(log.p50_ns.median),
                if against.is_empty() {
                    String::new()
                } else {
                    format!(", {}", against.join(" and "))
                }
            ));
        }
        if let Some(log) = r.throughput_row("log", payload) {
            let mut against = Vec::new();
            if let Some(pipe) = r.throughput_row("pipe", payload) {
                against.push(format!(
                    "{} a pipe ({}/s)",
                    faster_than(tput_speedup(log, pipe).value),
                    rate(pipe.msgs_per_s.median)
                ));
            }
            if let Some((ice, api)) = best_ice_throughput(r, payload) {
                against.push(format!(
                    "{} iceoryx2 ({}/s, {api})",
                    faster_than(tput_speedup(log, ice).value),
                    rate(ice.msgs_per_s.median)
                ));
            }
            parts.push(format!(
                "it streamed {} messages/s{}",
                rate(log.msgs_per_s.median),
                if against.is_empty() {
                    String::new()
                } else {
                    format!(", {}", against.join(" and "))
                }
            ));
        }
        if !parts.is_empty() {
            lines.push(format!(
                "{} messages: {}",
                bytes(payload as u64),
                parts.join("; ")
            ));
        }
    }
    if let Some(log) = r.latency_row("log-block", 64) {
        let against: Vec<String> = [("pipe", "a pipe"), ("futex", "a futex ping-pong")]
            .iter()
            .filter_map(|&(key, what)| {
                let b = r.latency.iter().find(|x| x.transport == key)?;
                Some(format!(
                    "{} {what} ({})",
                    faster_than(lat_speedup(log, b).value),
                    ns(b.p50_ns.median)
                ))
            })
            .collect();
        lines.push(format!(
            "a reader asleep in the log woke for a 64 B message in {}{}",
            ns(log.p50_ns.median),
            if against.is_empty() {
                String::new()
            } else {
                format!(", {}", against.join(" and "))
            }
        ));
    }
    if let (Some(one), Some(eight)) = (
        r.throughput_row("log-sync-1", 64),
        r.throughput_row("log-sync-8", 64),
    ) {
        lines.push(format!(
            "durable appends (Durability::Sync): eight appender processes sharing syncs made {}/s, \
             {} one appender syncing each ({}/s)",
            rate(eight.msgs_per_s.median),
            faster_than(tput_speedup(eight, one).value),
            rate(one.msgs_per_s.median)
        ));
    }
    lines
}

/// The rows of the comparison table: the log's row, what it is compared
/// with, and the speed-up at 64 B and 4 KiB. Only comparisons that mean
/// something are made: a spinning reader against spinning transports and
/// the system calls, a sleeping reader against other wake-ups.
fn comparisons(r: &IpcReport) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let cell = |x: Option<Ratio>| x.map_or_else(|| "-".to_string(), faster);
    let lat = |log: &str, other: &str, payload: usize| -> Option<Ratio> {
        let a = r.latency_row(log, payload)?;
        // The raw floors have their own payload (8 B, 4 B).
        let b = r.latency_row(other, payload).or_else(|| match other {
            "spin" | "futex" => r.latency.iter().find(|x| x.transport == other),
            _ => None,
        })?;
        Some(lat_speedup(a, b))
    };
    let tput = |log: &str, other: &str, payload: usize| -> Option<Ratio> {
        Some(tput_speedup(
            r.throughput_row(log, payload)?,
            r.throughput_row(other, payload)?,
        ))
    };
    let mut push = |what: &str, against: &str, a: Option<Ratio>, b: Option<Ratio>| {
        if a.is_some() || b.is_some() {
            rows.push(vec![
                what.to_string(),
                against.to_string(),
                cell(a),
                cell(b),
            ]);
        }
    };
    for (other, against) in [
        ("spin", "shared-memory ping-pong (the floor)"),
        ("iceoryx2", "iceoryx2, slice API"),
        ("iceoryx2-fixed", "iceoryx2, fixed-size type"),
        ("pipe", "pipe"),
        ("unix", "Unix socket"),
    ] {
        push(
            "latency, spinning reader",
            against,
            lat("log-spin", other, 64),
            lat("log-spin", other, 4096),
        );
    }
    for (other, against) in [
        ("futex", "futex ping-pong (the floor)"),
        ("pipe", "pipe"),
        ("unix", "Unix socket"),
    ] {
        push(
            "latency, sleeping reader",
            against,
            lat("log-block", other, 64),
            lat("log-block", other, 4096),
        );
    }
    for (other, against) in [
        ("ring", "bare ring (the floor)"),
        ("iceoryx2", "iceoryx2, slice API"),
        ("iceoryx2-fixed", "iceoryx2, fixed-size type"),
        ("pipe", "pipe"),
        ("unix", "Unix socket"),
    ] {
        push(
            "throughput",
            against,
            tput("log", other, 64),
            tput("log", other, 4096),
        );
    }
    push(
        "throughput, two writers",
        "one writer",
        tput("log-2w", "log", 64),
        tput("log-2w", "log", 4096),
    );
    push(
        "appends, two writers",
        "one writer",
        tput("log-append-2", "log-append-1", 64),
        None,
    );
    push(
        "durable appends, 8 appenders",
        "one appender",
        tput("log-sync-8", "log-sync-1", 64),
        None,
    );
    rows
}

impl IpcReport {
    /// The report as text.
    pub fn render(&self) -> String {
        render(self)
    }
}
