//! `mapped bench io` and `mapped bench ipc` run end to end through the real
//! binary (at smoke scale: the numbers mean nothing, the outputs must be
//! well formed). No timing thresholds.

use std::process::Command;

fn mapped() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mapped"))
}

#[test]
fn bench_io_writes_a_report_json_and_svg() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("io.json");
    let svg = dir.path().join("io.svg");
    let out = mapped()
        .args(["bench", "io", "--smoke", "--size", "4M", "--json"])
        .arg(&json)
        .arg("--plot")
        .arg(&svg)
        .arg("--dir")
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for section in [
        "Claims",
        "(5) cold random reads",
        "4 processes holding the same",
    ] {
        assert!(
            stdout.contains(section),
            "missing {section:?} in:\n{stdout}"
        );
    }
    assert_report_for_users(&stdout, "Reads, warm");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let shared = &v["memory"]["shared"];
    assert_eq!(shared["processes"], 4, "{v}");
    assert_eq!(
        shared["mapping_pss"].as_array().map(Vec::len),
        Some(4),
        "{v}"
    );
    assert_eq!(shared["copy_pss"].as_array().map(Vec::len), Some(4), "{v}");
    // The 2 MiB-page rows: pread, read_at and in_place on one page cache.
    let huge: Vec<&str> = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["cache"] == "warm_huge")
        .map(|r| r["method"].as_str().unwrap())
        .collect();
    assert_eq!(huge, ["pread", "read_at", "in_place"], "{v}");
    assert!(stdout.contains("warm, 2 MiB pages"), "{stdout}");
    // Every target is judged.
    for t in v["targets"].as_array().unwrap() {
        assert!(t["ratio"].is_object(), "target not measured: {t}");
    }
    assert!(std::fs::read_to_string(&svg).unwrap().starts_with("<svg"));
    // The tool's own benchmark file is gone afterwards.
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n != "io.json" && n != "io.svg")
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// Whether any line is a target's status (`PASS  ...`, `MISS  ...`).
fn has_target_lines(text: &str) -> bool {
    text.lines()
        .any(|l| l.starts_with("PASS  ") || l.starts_with("MISS  "))
}

/// A report as a user gets it without `--targets`: its conclusion first
/// (after the header, before `first_table`), and no target's PASS or MISS.
fn assert_report_for_users(stdout: &str, first_table: &str) {
    let lines: Vec<&str> = stdout.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with("In short, on this machine"))
        .unwrap_or_else(|| panic!("no conclusion in:\n{stdout}"));
    assert!(at <= 5, "the conclusion is not at the top:\n{stdout}");
    assert!(lines[at + 1].starts_with("- "), "{stdout}");
    let table = lines
        .iter()
        .position(|l| l.starts_with(first_table))
        .unwrap_or_else(|| panic!("no {first_table:?} in:\n{stdout}"));
    assert!(at < table, "{stdout}");
    assert!(!has_target_lines(stdout), "targets printed:\n{stdout}");
    assert!(stdout.contains("--targets prints them"), "{stdout}");
}

#[test]
fn bench_ipc_report_leads_with_its_conclusion() {
    let out = mapped()
        .args(["bench", "ipc", "--smoke", "--no-peers", "--only"])
        .arg("spin,futex,pipe,log-spin,log-block,ring,log,log-sync-1,log-sync-8")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_report_for_users(&stdout, "Latency");
    for point in [
        "- 64 B messages: the log with a spinning reader",
        "- 4 KiB messages: the log with a spinning reader",
        "- a reader asleep in the log woke",
        "- durable appends",
    ] {
        assert!(stdout.contains(point), "no {point:?} in:\n{stdout}");
    }
    // Ratios in words, never a bare "0.01x" against an unrelated row.
    assert!(stdout.contains("The log against the others"), "{stdout}");
    assert!(!stdout.contains("futex 0."), "{stdout}");
}

#[test]
fn bench_ipc_runs_with_peer_processes() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("ipc.json");
    let out = mapped()
        .args([
            "bench",
            "ipc",
            "--smoke",
            "--no-peers",
            "--targets",
            "--json",
        ])
        .arg(&json)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // --targets: the project's targets after the report.
    assert!(stdout.contains("\nTargets"), "{stdout}");
    assert!(has_target_lines(&stdout), "{stdout}");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    for key in ["latency", "throughput", "targets"] {
        assert!(v.get(key).is_some(), "no {key} in {v}");
    }
    let rows = |key: &str| -> Vec<String> {
        v[key]
            .as_array()
            .unwrap_or_else(|| panic!("{key} is not an array"))
            .iter()
            .map(|r| format!("{} {}", r["transport"].as_str().unwrap(), r["payload"]))
            .collect()
    };
    let latency = rows("latency");
    for row in [
        "spin 8",
        "spin-1way 8",
        "futex 4",
        "futex-1way 4",
        "log-spin 64",
        "log-block 64",
        "log-1way-spin 64",
        "log-1way-block 64",
        "log-1way-spin 4096",
    ] {
        assert!(
            latency.contains(&row.to_string()),
            "no {row} in {latency:?}"
        );
    }
    let throughput = rows("throughput");
    for row in [
        "ring 64",
        "pipe 64",
        "log 64",
        "log-2w 64",
        "log 4096",
        "log-append-2 64",
        "log-sync-8 64",
    ] {
        assert!(
            throughput.contains(&row.to_string()),
            "no {row} in {throughput:?}"
        );
    }
    // Every target got a measured ratio (PASS or MISS, never unmeasured).
    for t in v["targets"].as_array().unwrap() {
        assert!(t["ratio"].is_object(), "target not measured: {t}");
    }
}

#[test]
fn bench_bad_usage_exits_2() {
    let out = mapped()
        .args(["bench", "io", "--file", "x", "--size", "4M"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = mapped()
        .args(["bench", "io", "--size", "lots"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn bad_options_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    for (args, needle) in [
        (&["bench", "io", "--size", "0"][..], "at least 4M"),
        (&["bench", "io", "--size", "3.5M"], "at least 4M"),
        (&["bench", "io", "--size", "-4M"], "cannot be negative"),
        (
            &["bench", "ipc", "--smoke", "--no-peers", "--only", "bogus"],
            "no rows of transport",
        ),
    ] {
        let out = mapped()
            .args(args)
            .arg("--dir")
            .arg(dir.path())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

/// Without the `peers` feature iceoryx2 is not compiled in: asking for its
/// rows is a usage error that says how to build them in, and the report
/// says the same in place of them.
#[cfg(not(feature = "peers"))]
#[test]
fn bench_ipc_without_peers_says_how_to_get_them() {
    let hint = "cargo build --release --features peers";
    let dir = tempfile::tempdir().unwrap();
    let out = mapped()
        .args([
            "bench",
            "ipc",
            "--smoke",
            "--only",
            "pipe,iceoryx2",
            "--dir",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--only iceoryx2") && err.contains(hint),
        "{err}"
    );
    assert!(out.stdout.is_empty());

    let json = dir.path().join("ipc.json");
    let out = mapped()
        .args(["bench", "ipc", "--smoke", "--only", "pipe", "--json"])
        .arg(&json)
        .arg("--dir")
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains(hint), "{stdout}");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let notes = v["notes"].as_array().unwrap();
    assert!(
        notes.iter().any(|n| n.as_str().unwrap().contains(hint)),
        "{v}"
    );

    let out = mapped().args(["bench", "ipc", "--help"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains(hint));
}

/// With the `peers` feature iceoryx2's rows run between two processes, and
/// nothing tells the user to rebuild.
#[cfg(feature = "peers")]
#[test]
fn bench_ipc_with_peers_measures_iceoryx2() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("ipc.json");
    let out = mapped()
        .args(["bench", "ipc", "--smoke", "--only", "iceoryx2", "--json"])
        .arg(&json)
        .arg("--dir")
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!stdout.contains("--features peers"), "{stdout}");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let rows = |key: &str| -> Vec<String> {
        v[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| format!("{} {}", r["transport"].as_str().unwrap(), r["payload"]))
            .collect()
    };
    // iceoryx2's rows are optional (a failure is a note, not an error), so
    // name the notes if they are missing.
    assert_eq!(
        rows("latency"),
        ["iceoryx2 64", "iceoryx2 4096"],
        "{}",
        v["notes"]
    );
    assert_eq!(
        rows("throughput"),
        ["iceoryx2 64", "iceoryx2 4096"],
        "{}",
        v["notes"]
    );
    let out = mapped().args(["bench", "ipc", "--help"]).output().unwrap();
    assert!(!String::from_utf8_lossy(&out.stdout).contains("--features peers"));
}
