//! `run_ipc` end to end at smoke scale, with peers as threads and as real
//! processes (this test binary re-run with `peer_entry` selected), and
//! `peer_main`'s argument checks. No timing is asserted.

use std::process::{Command, Stdio};

use mapped_bench::{BenchError, IpcOptions, IpcReport, Peer, Scale, Silent, peer_main, run_ipc};

/// Carries a peer's arguments to the re-run test binary.
const PEER_ENV: &str = "MAPPED_BENCH_TEST_PEER_ARGS";

/// Not a test of its own: when this binary is re-run as a peer, the one
/// test selected, which runs `peer_main` with the arguments passed.
#[test]
fn peer_entry() {
    if let Ok(args) = std::env::var(PEER_ENV) {
        let args: Vec<String> = args.split('\u{1f}').map(str::to_string).collect();
        peer_main(&args).unwrap();
    }
}

fn check(report: &IpcReport) {
    let mut want = vec![
        "spin",
        "futex",
        "pipe",
        "unix",
        "log-spin",
        "log-block",
        "log-default",
    ];
    if cfg!(feature = "peers") {
        want.extend(["iceoryx2", "iceoryx2-fixed"]);
    }
    for t in want {
        assert!(
            report.latency.iter().any(|r| r.transport == t),
            "no latency row for {t}: {:?}",
            report.notes
        );
    }
    for t in [
        "ring",
        "pipe",
        "unix",
        "log",
        "log-append-1",
        "log-append-2",
        "log-sync-1",
        "log-sync-8",
    ] {
        assert!(
            report.throughput.iter().any(|r| r.transport == t),
            "no throughput row for {t}"
        );
    }
    for r in &report.latency {
        assert!(
            r.round_trips > 0 && r.all.p50 > 0.0 && r.all.max >= r.all.p50,
            "{r:?}"
        );
    }
    for r in &report.throughput {
        assert!(r.msgs_per_s.median > 0.0, "{r:?}");
    }
    assert!(
        report
            .latency_row("log-spin", 64)
            .unwrap()
            .vs
            .contains_key("spin")
    );
    assert!(
        report
            .throughput_row("log", 64)
            .unwrap()
            .vs
            .contains_key("ring")
    );
    assert_eq!(report.targets.len(), 8);

    if cfg!(feature = "peers") {
        for payload in [64, 4096] {
            assert!(
                report.throughput_row("iceoryx2-fixed", payload).is_some(),
                "no fixed-size iceoryx2 row of {payload} B: {:?}",
                report.notes
            );
        }
        assert!(
            report
                .throughput_row("log", 64)
                .unwrap()
                .vs
                .contains_key("iceoryx2-fixed")
        );
    }

    let text = report.render();
    for heading in [
        "Latency",
        "Throughput",
        "The log against the others",
        "Notes",
    ] {
        assert!(text.contains(heading), "no {heading:?} in:\n{text}");
    }
    // The conclusion opens the report, before the first table.
    let conclusion = text
        .find("\nIn short, on this machine")
        .unwrap_or_else(|| panic!("no conclusion in:\n{text}"));
    assert!(conclusion < text.find("\nLatency").unwrap(), "{text}");
    assert!(text.contains("\n- 64 B messages: the log"), "{text}");
    // The project's targets only on request; a user reads MISS as a failure.
    let status = |t: &str| {
        t.lines()
            .any(|l| l.starts_with("PASS  ") || l.starts_with("MISS  "))
    };
    assert!(!status(&text), "targets printed:\n{text}");
    let with = report.render_with_targets();
    assert!(
        with.starts_with(&text) && with.contains("\nTargets"),
        "{with}"
    );
    assert!(status(&with), "{with}");
    let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
    for key in [
        "environment",
        "peer_mode",
        "repetitions",
        "latency",
        "throughput",
        "targets",
        "notes",
    ] {
        assert!(json.get(key).is_some(), "no {key:?} in the JSON");
    }
    for key in ["p50_ns", "p99_ns", "all", "payload", "transport"] {
        assert!(
            json["latency"][0].get(key).is_some(),
            "no {key:?} in a latency row"
        );
    }
}

fn options(dir: &std::path::Path) -> IpcOptions {
    let mut opts = IpcOptions::new(Scale::Smoke);
    opts.dir = Some(dir.to_path_buf());
    opts
}

#[test]
fn smoke_run_with_thread_peers() {
    let dir = tempfile::tempdir().unwrap();
    let report = run_ipc(&options(dir.path()), Peer::Thread, &Silent).unwrap();
    assert_eq!(report.peer_mode, "threads");
    check(&report);
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "left files behind"
    );
}

#[test]
fn smoke_run_with_process_peers() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let spawn = |args: &[String]| {
        Command::new(&exe)
            .args(["--exact", "peer_entry", "--test-threads=1", "--quiet"])
            .env(PEER_ENV, args.join("\u{1f}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
    };
    let report = run_ipc(&options(dir.path()), Peer::Process(&spawn), &Silent).unwrap();
    assert_eq!(report.peer_mode, "processes");
    check(&report);
}

#[test]
fn a_failing_peer_process_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    // A "peer" that exits at once with an error.
    let spawn = |_: &[String]| Command::new("false").stdin(Stdio::null()).spawn();
    let err = run_ipc(&options(dir.path()), Peer::Process(&spawn), &Silent).unwrap_err();
    assert!(matches!(err, BenchError::Peer { .. }), "{err}");
    assert!(err.to_string().contains("exited"), "{err}");
}

#[test]
fn peer_main_refuses_arguments_it_did_not_make() {
    for args in [
        vec![],
        vec!["spin".to_string()],
        vec![
            "spin".to_string(),
            "dir=/nonexistent".to_string(),
            "n=x".to_string(),
        ],
        vec!["nosuch".to_string(), "dir=/tmp".to_string()],
        vec![
            "spin".to_string(),
            "dir=/tmp".to_string(),
            "bogus".to_string(),
        ],
    ] {
        assert!(peer_main(&args).is_err(), "{args:?}");
    }
}
