//! The book's `t_mmap` session (TLPI, section 49.4.2), byte for byte, with
//! the real `t_mmap` binary and GNU `od`.

mod common;

use common::{T_MMAP, run_in, tempdir, text};

const EXPECTED_STDOUT: &str = "Current string=\n\
                               Copied \"hello\" to shared memory\n\
                               Current string=hello\n\
                               Copied \"goodbye\" to shared memory\n";

const EXPECTED_OD: &str = "0000000   g   o   o   d   b   y   e  \\0\n\
                           0000010  \\0  \\0  \\0  \\0  \\0  \\0  \\0  \\0\n\
                           *\n\
                           0002000\n";

#[test]
fn book_session_byte_for_byte() {
    let dir = tempdir();
    // $ dd if=/dev/zero of=s.txt bs=1 count=1024
    std::fs::write(dir.path().join("s.txt"), [0u8; 1024]).unwrap();

    let mut stdout = Vec::new();
    for value in ["hello", "goodbye"] {
        let out = run_in(dir.path(), T_MMAP, &["s.txt", value]);
        assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
        assert!(out.stderr.is_empty(), "stderr: {}", text(&out.stderr));
        stdout.extend_from_slice(&out.stdout);
    }
    assert_eq!(text(&stdout), EXPECTED_STDOUT);

    let od = run_in(dir.path(), "od", &["-c", "-w8", "s.txt"]);
    assert!(od.status.success(), "od failed: {}", text(&od.stderr));
    assert_eq!(text(&od.stdout), EXPECTED_OD);
    assert_eq!(
        std::fs::metadata(dir.path().join("s.txt")).unwrap().len(),
        1024
    );
}

/// The demo shows the file with its own `od -c` dump: it must match GNU od.
#[test]
fn od_dump_matches_gnu_od() {
    let dir = tempdir();
    let mut samples: Vec<Vec<u8>> = vec![
        Vec::new(),
        vec![0; 1024],
        (0..=255u8).collect(),
        b"hello\0world\n\t\r\x07\x08\x0b\x0c \x7f\x80\xff".to_vec(),
    ];
    let mut runs = vec![b'a'; 40];
    runs.extend_from_slice(&[0; 24]);
    runs.extend_from_slice(b"tail");
    samples.push(runs);
    for (i, bytes) in samples.iter().enumerate() {
        let name = format!("sample{i}");
        std::fs::write(dir.path().join(&name), bytes).unwrap();
        for width in [8, 16] {
            let od = run_in(dir.path(), "od", &["-c", &format!("-w{width}"), &name]);
            assert!(od.status.success(), "od failed: {}", text(&od.stderr));
            assert_eq!(
                mapped_cli::od::dump_c(bytes, width),
                text(&od.stdout),
                "sample {i}, width {width}"
            );
        }
    }
}
