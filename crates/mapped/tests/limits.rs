//! The process's file size limit (`RLIMIT_FSIZE`): growing or creating past
//! it is an error naming the file, never a `SIGXFSZ` or a lost byte.
//!
//! The limit is set in a child process (a re-execution of this test binary),
//! so that it cannot affect other tests or the harness's own output files.

mod common;

use std::path::Path;

use common::{child_role, env, pattern_bytes, spawn_child};
use mapped::{GrowError, MapOptions, Mapping, OpenError};

const DIR_ENV: &str = "MAPPED_TEST_DIR";
const LIMIT: u64 = 1 << 20;
const START: u64 = 64 << 10;

fn set_file_size_limit(limit: u64) {
    // SAFETY: plain system calls with valid arguments. SIGXFSZ is ignored so
    // that, were the library to let the kernel hit the limit, the call would
    // fail with EFBIG (and this test would see the wrong error) rather than
    // kill the process.
    unsafe {
        let mut rl: libc::rlimit = std::mem::zeroed();
        assert_eq!(libc::getrlimit(libc::RLIMIT_FSIZE, &mut rl), 0);
        rl.rlim_cur = limit;
        assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &rl), 0);
        assert_ne!(libc::signal(libc::SIGXFSZ, libc::SIG_IGN), libc::SIG_ERR);
    }
}

fn check_limit_error(e: &mapped::FileSizeLimitError, path: &Path, requested: u64) {
    assert_eq!(e.path, path);
    assert_eq!(e.requested, requested);
    assert_eq!(e.limit, LIMIT);
    let text = e.to_string();
    assert!(text.contains(path.to_str().unwrap()), "{text}");
    assert!(text.contains("RLIMIT_FSIZE"), "{text}");
}

fn check_contents(map: &Mapping, data: &[u8]) {
    let mut buf = vec![0u8; data.len()];
    map.read_at(0, &mut buf).unwrap();
    assert_eq!(buf, data, "data written before the failed call changed");
}

fn limited_child() {
    let dir = std::path::PathBuf::from(env(DIR_ENV));
    set_file_size_limit(LIMIT);
    let path = dir.join("grown");
    let data = pattern_bytes(0, START as usize);

    let mut map = Mapping::create(&path, START).unwrap();
    map.write_at(0, &data).unwrap();
    map.flush().unwrap();

    // Past the limit: an error, nothing changed.
    match map.grow(2 * LIMIT as usize) {
        Err(GrowError::FileSizeLimit(e)) => check_limit_error(&e, &path, 2 * LIMIT),
        other => panic!("grow past RLIMIT_FSIZE: {other:?}"),
    }
    assert_eq!(map.len() as u64, START);
    assert_eq!(map.file_len().unwrap(), START);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), START);
    check_contents(&map, &data);
    // The mapping still works, for reads, writes and syncs.
    map.write_at(START - 5, b"after").unwrap();
    map.flush().unwrap();
    let mut tail = [0u8; 5];
    map.read_at(START - 5, &mut tail).unwrap();
    assert_eq!(&tail, b"after");

    // Up to the limit exactly is allowed; one byte more is not.
    map.grow(LIMIT as usize).unwrap();
    assert_eq!(map.file_len().unwrap(), LIMIT);
    map.write_at(LIMIT - 4, b"last").unwrap();
    match map.grow(LIMIT as usize + 1) {
        Err(GrowError::FileSizeLimit(e)) => check_limit_error(&e, &path, LIMIT + 1),
        other => panic!("grow one byte past RLIMIT_FSIZE: {other:?}"),
    }
    assert_eq!(map.len() as u64, LIMIT);
    assert_eq!(map.file_len().unwrap(), LIMIT);
    check_contents(&map, &data[..START as usize - 5]);
    let mut last = [0u8; 4];
    map.read_at(LIMIT - 4, &mut last).unwrap();
    assert_eq!(&last, b"last");
    map.flush().unwrap();

    // Creating past the limit fails the same way.
    let new = dir.join("new");
    match Mapping::create(&new, LIMIT + 4096) {
        Err(OpenError::FileSizeLimit(e)) => check_limit_error(&e, &new, LIMIT + 4096),
        other => panic!("create past RLIMIT_FSIZE: {other:?}"),
    }
    // If the file was made at all, nothing was allocated in it.
    if let Ok(meta) = std::fs::metadata(&new) {
        assert_eq!(meta.len(), 0);
    }
    // So does "creating" (reserving more of) an existing file, which keeps
    // its contents.
    match MapOptions::new().create(&path, 2 * LIMIT) {
        Err(OpenError::FileSizeLimit(e)) => check_limit_error(&e, &path, 2 * LIMIT),
        other => panic!("create of an existing file past RLIMIT_FSIZE: {other:?}"),
    }
    drop(map);
    let reopened = Mapping::open(&path).unwrap();
    assert_eq!(reopened.len() as u64, LIMIT);
    check_contents(&reopened, &data[..START as usize - 5]);
    let mut all = vec![0u8; LIMIT as usize];
    reopened.read_at(0, &mut all).unwrap();
    assert_eq!(&all[START as usize - 5..START as usize], b"after");
    assert!(
        all[START as usize..LIMIT as usize - 4]
            .iter()
            .all(|&b| b == 0)
    );
    assert_eq!(&all[LIMIT as usize - 4..], b"last");
}

#[test]
fn growing_past_file_size_limit_is_an_error_and_loses_nothing() {
    if let Some(role) = child_role() {
        assert_eq!(role, "limited");
        limited_child();
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let f = spawn_child(
        "growing_past_file_size_limit_is_an_error_and_loses_nothing",
        "limited",
        &[(DIR_ENV, dir.path().to_str().unwrap())],
    )
    .finish();
    f.assert_success();
}
