//! The IPC report as text.

use std::fmt::Write;

use crate::ipc::IpcReport;
use crate::table::{Table, bytes, ns, ns_spread, num, spread};

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
            spread(&x.msgs_per_s),
            num(x.mib_per_s.median),
        ]);
    }
    out.push_str(&t.render());

    let _ = writeln!(
        out,
        "\nThe log against the baselines and peers (latency: p50 time ratio, above 1 is slower; \
         throughput: rate ratio, above 1 is faster)"
    );
    for x in r.latency.iter().filter(|x| !x.vs.is_empty()) {
        let vs: Vec<String> =
            x.vs.iter()
                .map(|(k, q)| format!("{k} {}", q.show()))
                .collect();
        let _ = writeln!(
            out,
            "latency {} {}: {}",
            x.transport,
            bytes(x.payload as u64),
            vs.join(", ")
        );
    }
    for x in r.throughput.iter().filter(|x| !x.vs.is_empty()) {
        let vs: Vec<String> =
            x.vs.iter()
                .map(|(k, q)| format!("{k} {}", q.show()))
                .collect();
        let _ = writeln!(
            out,
            "throughput {} {}: {}",
            x.transport,
            bytes(x.payload as u64),
            vs.join(", ")
        );
    }

    let _ = writeln!(out, "\nTargets");
    for t in &r.targets {
        let _ = writeln!(out, "{}", t.line());
    }
    let _ = writeln!(out, "\nNotes");
    for n in &r.notes {
        let _ = writeln!(out, "- {n}");
    }
    out
}
