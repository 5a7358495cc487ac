//! `run_io` end to end at smoke scale: every row, claim and target present,
//! the JSON and SVG well formed, nothing left behind, a user's file
//! untouched. No timing is asserted: a benchmark is not a test.

use mapped_bench::io::{Access, AdviceKind, Cache, Method};
use mapped_bench::{BenchError, IoOptions, Scale, Silent, run_io};

fn smoke(dir: &std::path::Path) -> IoOptions {
    let mut opts = IoOptions::new(Scale::Smoke);
    opts.size = Some(4 << 20);
    opts.dir = Some(dir.to_path_buf());
    opts
}

#[test]
fn smoke_run_reports_everything() {
    let dir = tempfile::tempdir().unwrap();
    let report = run_io(&smoke(dir.path()), &Silent).unwrap();

    // The whole warm matrix: 3 access patterns x 4 sizes x 4 methods.
    let warm = report
        .rows
        .iter()
        .filter(|r| r.cache == Cache::Warm)
        .count();
    assert_eq!(warm, 48);
    for r in &report.rows {
        assert!(r.ops > 0 && r.ns_per_op.median > 0.0, "{r:?}");
        assert!(r.vs_pread.is_some(), "every row has a pread row beside it");
    }
    // The key cold rows, unless this file system cannot evict (tmpfs).
    let cold = report
        .row(
            Cache::Cold,
            Access::Random,
            4096,
            Method::ReadAt,
            AdviceKind::Random,
        )
        .is_some();
    assert!(
        cold || report
            .notes
            .iter()
            .any(|n| n.contains("cold rows not measured"))
    );
    assert_eq!(report.writes.len(), 8);
    assert_eq!(report.durability.len(), 6);
    assert_eq!(report.claims.len(), 6);
    assert_eq!(
        report.claims.iter().map(|c| c.number).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5, 6]
    );
    assert_eq!(report.targets.len(), 6);

    let text = report.render();
    for heading in ["Reads, warm", "Writes", "Durability", "Claims", "Notes"] {
        assert!(text.contains(heading), "no {heading:?} in:\n{text}");
    }
    assert!(text.contains("(5) cold random reads"));
    assert_conclusion_first(&text, "Reads, warm");
    // The project's targets only on request; a user reads MISS as a failure.
    assert!(!has_target_lines(&text), "targets printed:\n{text}");
    let with = report.render_with_targets();
    assert!(with.starts_with(&text), "the targets come after the report");
    assert!(with.contains("\nTargets"), "{with}");
    assert!(has_target_lines(&with), "{with}");

    let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
    for key in [
        "environment",
        "file",
        "repetitions",
        "rows",
        "writes",
        "durability",
        "memory",
        "claims",
        "targets",
        "notes",
    ] {
        assert!(json.get(key).is_some(), "no {key:?} in the JSON");
    }
    let row = &json["rows"][0];
    for key in [
        "cache",
        "access",
        "size",
        "method",
        "advice",
        "ns_per_op",
        "mib_per_s",
    ] {
        assert!(row.get(key).is_some(), "no {key:?} in a row");
    }
    assert!(json["claims"][0]["verdict"].is_string());
    assert!(json["targets"][0]["status"].is_string());

    let svg = dir.path().join("chart.svg");
    report.write_svg(&svg).unwrap();
    let svg = std::fs::read_to_string(&svg).unwrap();
    assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(80)]);
    assert!(svg.contains("in_place"));

    // The created file and scratch files are gone; only the chart is left.
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["chart.svg"]);
}

/// The report opens with its conclusion: after the header, a line "In
/// short, ..." and its points, before the first table (`first_table`).
fn assert_conclusion_first(text: &str, first_table: &str) {
    let lines: Vec<&str> = text.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with("In short, on this machine"))
        .unwrap_or_else(|| panic!("no conclusion in:\n{text}"));
    let table = lines
        .iter()
        .position(|l| l.starts_with(first_table))
        .unwrap_or_else(|| panic!("no {first_table:?} in:\n{text}"));
    assert!(at < table, "the conclusion comes after the tables:\n{text}");
    assert!(
        lines[..at]
            .iter()
            .all(|l| !l.contains('|') && l.len() < 300),
        "only the header before the conclusion:\n{text}"
    );
    assert!(
        lines[at + 1].starts_with("- "),
        "no point under the conclusion:\n{text}"
    );
}

/// Whether any line is a target's status (`PASS  ...`, `MISS  ...`).
fn has_target_lines(text: &str) -> bool {
    text.lines()
        .any(|l| l.starts_with("PASS  ") || l.starts_with("MISS  "))
}

#[test]
fn a_users_file_is_read_not_changed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mine");
    let data: Vec<u8> = (0..3u32 << 20).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&path, &data).unwrap();
    let mut opts = smoke(dir.path());
    opts.size = None;
    opts.file = Some(path.clone());
    let report = run_io(&opts, &Silent).unwrap();
    assert!(!report.file.created);
    assert_eq!(report.file.len, data.len() as u64);
    // 1 MiB reads need a file twice that size: 3 MiB has them.
    assert!(report.rows.iter().any(|r| r.size == 1 << 20));
    assert_eq!(std::fs::read(&path).unwrap(), data);
}

#[test]
fn bad_input_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tiny");
    std::fs::write(&path, b"short").unwrap();
    let with_file = |file| {
        let mut opts = smoke(dir.path());
        opts.size = None;
        opts.file = Some(file);
        opts
    };
    match run_io(&with_file(path.clone()), &Silent) {
        Err(BenchError::Options(why)) => assert!(why.contains("tiny"), "{why}"),
        other => panic!("expected an options error, got {other:?}"),
    }
    let err = run_io(&with_file(dir.path().join("missing")), &Silent)
        .unwrap_err()
        .to_string();
    assert!(err.contains("missing"), "{err}");
    let mut opts = smoke(dir.path());
    opts.size = Some(1 << 20);
    assert!(matches!(
        run_io(&opts, &Silent),
        Err(BenchError::Options(_))
    ));
    let mut opts = smoke(dir.path());
    opts.file = Some(path);
    assert!(matches!(
        run_io(&opts, &Silent),
        Err(BenchError::Options(w)) if w.contains("not both")
    ));
}
