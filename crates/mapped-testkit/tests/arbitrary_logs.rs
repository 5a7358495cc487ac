//! Arbitrary bytes opened as a log never panic, hang or fault: the fuzz
//! target's contract, checked on stable Rust with proptest.

use mapped_log::format;
use mapped_testkit::open_arbitrary_log;
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_are_handled(bytes in proptest::collection::vec(any::<u8>(), 0..20_000)) {
        open_arbitrary_log(&bytes);
    }

    #[test]
    fn sealed_headers_with_arbitrary_records_are_handled(
        body in proptest::collection::vec(any::<u8>(), 0..12_000),
        words in proptest::collection::vec((0usize..1500, any::<u64>()), 0..40),
        same_boot: bool,
    ) {
        // A sealed control file, then segments whose records are mostly
        // zero with some arbitrary bytes and words: closer to real damage.
        let mut bytes = vec![1u8, same_boot as u8];
        bytes.resize(format::CONTROL_LEN as usize, 0);
        let mut seg = vec![0u8; 3 * 4096];
        for (i, b) in body.iter().enumerate().take(seg.len()) {
            if i % 7 == 0 { seg[i] = *b; }
        }
        for (at, w) in words {
            let at = 128 + at * 8;
            if at + 8 <= seg.len() { seg[at..at + 8].copy_from_slice(&w.to_le_bytes()); }
        }
        bytes.extend_from_slice(&seg);
        let out = open_arbitrary_log(&bytes);
        // The headers are sealed, so the log must open (and after a
        // "restart", recovery must cope with whatever it finds).
        prop_assert!(out.opened, "{:?}", out);
    }
}

#[test]
fn a_valid_log_image_reads_back() {
    // A real log's files, fed through the same path: every message reads.
    let dir = tempfile::tempdir().unwrap();
    let log = mapped_log::Log::create(
        dir.path().join("l"),
        mapped_log::LogOptions {
            segment_size: 4096,
            max_message: 1024,
            ..mapped_log::LogOptions::default()
        },
    )
    .unwrap();
    let mut app = mapped_log::Appender::new(&log).unwrap();
    for i in 0..20u32 {
        app.append(&i.to_le_bytes()).unwrap();
    }
    // The control magic starts with 'M' (odd), so the testkit re-seals the
    // headers with its own log id, consistently.
    let mut bytes = std::fs::read(dir.path().join("l/control")).unwrap();
    bytes.extend(std::fs::read(dir.path().join("l/00000000000000000000.seg")).unwrap());
    let out = open_arbitrary_log(&bytes);
    assert_eq!(
        out,
        mapped_testkit::Outcome {
            opened: true,
            messages: 20,
            read_error: false,
            verify_failed: false
        }
    );
}
