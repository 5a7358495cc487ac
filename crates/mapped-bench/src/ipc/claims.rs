//! The log's rows against the baselines and peers, and the project's IPC
//! targets.

use crate::ipc::options::IpcOptions;
use crate::ipc::report::IpcReport;
use crate::stats::{Ratio, Target};

/// Rows that only serve as a floor, compared whatever their payload.
const LATENCY_BASELINES: [&str; 4] = ["spin", "spin-1way", "futex", "futex-1way"];

/// Fills `vs` of the log's rows: latency p50 as a time ratio (above 1 is
/// slower), throughput as a rate ratio (above 1 is faster).
pub(crate) fn fill_comparisons(r: &mut IpcReport) {
    let lat = r.latency.clone();
    for row in r
        .latency
        .iter_mut()
        .filter(|x| x.transport.starts_with("log"))
    {
        for other in &lat {
            let baseline = LATENCY_BASELINES.contains(&other.transport.as_str());
            let peer = !other.transport.starts_with("log") && other.payload == row.payload;
            if baseline || peer {
                row.vs
                    .insert(other.transport.clone(), row.p50_ns.ratio(&other.p50_ns));
            }
        }
    }
    let tput = r.throughput.clone();
    for row in r.throughput.iter_mut() {
        let against: Vec<&str> = match row.transport.as_str() {
            "log" => vec!["ring", "pipe", "unix", "iceoryx2", "iceoryx2-fixed"],
            "log-2w" => vec!["log"],
            "log-append-2" => vec!["log-append-1"],
            "log-sync-8" => vec!["log-sync-1"],
            _ => continue,
        };
        for other in &tput {
            if against.contains(&other.transport.as_str()) && other.payload == row.payload {
                row.vs.insert(
                    other.transport.clone(),
                    row.msgs_per_s.ratio(&other.msgs_per_s),
                );
            }
        }
    }
}

fn lat_vs(r: &IpcReport, row: &str, base: &str, p99: bool) -> Option<Ratio> {
    let a = r.latency_row(row, 64)?;
    let b = r.latency.iter().find(|x| x.transport == base)?;
    Some(if p99 {
        a.p99_ns.ratio(&b.p99_ns)
    } else {
        a.p50_ns.ratio(&b.p50_ns)
    })
}

fn tput_vs(r: &IpcReport, row: &str, base: &str, payload: usize, bytes: bool) -> Option<Ratio> {
    let a = r.throughput_row(row, payload)?;
    let b = r.throughput_row(base, payload)?;
    Some(if bytes {
        a.mib_per_s.ratio(&b.mib_per_s)
    } else {
        a.msgs_per_s.ratio(&b.msgs_per_s)
    })
}

/// The same comparison made the ping-pong's way (half the log's round
/// trip through two logs), for the notes of the spinning targets.
fn round_trip_note(r: &IpcReport, p99: bool) -> String {
    match lat_vs(r, "log-spin", "spin", p99) {
        Some(x) => format!(
            "; measured as half a round trip, like the ping-pong: {}",
            x.show()
        ),
        None => String::new(),
    }
}

pub(crate) fn targets(r: &IpcReport) -> Vec<Target> {
    vec![
        Target::check(
            "spinning reader p50 <= 2.5x raw ping-pong",
            lat_vs(r, "log-1way-spin", "spin", false),
            2.5,
            false,
            format!(
                "64 B from one writer to one reader, stamped, against half a round trip of 8 B \
                 through an AtomicU64{}",
                round_trip_note(r, false)
            ),
        ),
        Target::check(
            "spinning reader p99 <= 4x raw ping-pong",
            lat_vs(r, "log-1way-spin", "spin", true),
            4.0,
            false,
            round_trip_note(r, true)
                .trim_start_matches("; ")
                .to_string(),
        ),
        Target::check(
            "blocking reader p50 <= 1.2x futex ping-pong",
            lat_vs(r, "log-1way-block", "futex-1way", false),
            1.2,
            false,
            "one wake-up of a sleeping reader each, stamped, spaced alike",
        ),
        Target::check(
            "64 B throughput >= 50% of the bare ring",
            tput_vs(r, "log", "ring", 64, false),
            0.5,
            true,
            "",
        ),
        Target::check(
            "64 B throughput >= 10x a pipe",
            tput_vs(r, "log", "pipe", 64, false),
            10.0,
            true,
            "",
        ),
        Target::check(
            "4 KiB throughput >= 50% of the ring's bytes/s",
            tput_vs(r, "log", "ring", 4096, true),
            0.5,
            true,
            "",
        ),
        Target::check(
            "two writer processes >= 70% of one writer's appends/s",
            tput_vs(r, "log-append-2", "log-append-1", 64, false),
            0.7,
            true,
            "",
        ),
        Target::check(
            "Durability::Sync with 8 concurrent appenders >= 4x one sync per message",
            tput_vs(r, "log-sync-8", "log-sync-1", 64, false),
            4.0,
            true,
            "eight appender processes against one",
        ),
    ]
}

pub(crate) fn notes(r: &IpcReport, opts: &IpcOptions) -> Vec<String> {
    let mut notes = vec![
        format!(
            "medians over {} repetitions{}, [min–max] spreads; one-way latency is half the \
             round trip, timed by the main side; ratios compare rows of this run only; on a \
             shared or virtual machine they are indicative",
            r.repetitions,
            if r.repetitions > 1 {
                " (every other one in reverse row order)"
            } else {
                ""
            }
        ),
        "the log's latency rows append to one log and read the echo from a second; messages \
         carry a sequence number, checked on arrival"
            .to_string(),
    ];
    if r.peer_mode == "threads" {
        notes.push("peers ran as threads of this process, not as separate processes".to_string());
    }
    if cfg!(not(feature = "peers")) {
        notes.push("iceoryx2 not measured: built without the `peers` feature".to_string());
    } else if !opts.peers {
        notes.push("iceoryx2 not measured: peers turned off".to_string());
    }
    let dir = opts.dir.clone().unwrap_or_else(std::env::temp_dir);
    if crate::sys::is_memory_fs(&dir) {
        notes.push(format!(
            "{} is in memory (tmpfs): fdatasync does nothing there, so the sync rows do not \
             measure storage",
            dir.display()
        ));
    }
    notes.push(
        "the stamped rows time each message from a CLOCK_MONOTONIC reading taken just before \
         its append to the reader holding it, in another process; the writer spaces messages \
         (20 µs for the spinning reader, 300 µs for the blocking one, so that it is asleep); \
         the spinning target compares them with half a ping-pong round trip, as the project \
         states it, and the stamped AtomicU64 row (spin-1way) shows what stamping alone costs \
         (two clock readings and one cache-line transfer)"
            .to_string(),
    );
    if r.environment.pinned.len() >= 2 {
        notes.push(
            "in the streaming rows each log appender runs its prefault helper thread on the \
             run's other CPUs (Appender::set_prefault_cpus; on two CPUs, the reader's): pinned \
             with the appender, its page provisioning would take turns with the appends; in the \
             latency rows the helper runs only on a CPU neither side uses (none on two CPUs: \
             then with the writer, which idles between messages), as a helper that takes the \
             spinning reader's CPU delays the messages arriving meanwhile"
                .to_string(),
        );
    }
    if r.environment.cpus <= 2 {
        notes.push(
            "with two writers and a reader on two CPUs, three busy processes share two cores: \
             the two-writer row measures that contention as much as the log"
                .to_string(),
        );
    }
    notes
}
