//! Bad paths, bad windows, bad offsets and the wrong mode: each is an error
//! that names the file and says what is wrong, and nothing is mapped,
//! written or shortened that should not be.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::pattern_bytes;
use mapped::{AccessError, GrowError, MapOptions, Mapping, Mode, Op, OpenError, SyncError};

const PAGE: u64 = 4096;

fn names(e: &impl std::fmt::Display, path: &Path) {
    let text = e.to_string();
    assert!(
        text.contains(path.to_str().unwrap()),
        "error does not name {}: {text}",
        path.display()
    );
}

fn file_with(dir: &Path, name: &str, contents: &[u8]) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

#[test]
fn missing_file_is_enoent_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no such file");
    for r in [
        Mapping::open(&path),
        Mapping::open_rw(&path),
        MapOptions::new().mode(Mode::CopyOnWrite).open(&path),
    ] {
        match r {
            Err(OpenError::Io(ref e)) => {
                assert_eq!(e.op(), Op::Open);
                assert_eq!(e.os_error().raw_os_error(), Some(libc::ENOENT));
                assert_eq!(e.path(), path);
                names(e, &path);
                let err = r.unwrap_err();
                names(&err, &path);
                assert!(err.to_string().starts_with("open "), "{err}");
                assert_eq!(
                    std::io::Error::from(err).kind(),
                    std::io::ErrorKind::NotFound
                );
            }
            other => panic!("open of a missing file: {other:?}"),
        }
    }
    assert!(!path.exists(), "opening must not create the file");
}

#[test]
fn directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path();
    match Mapping::open(path) {
        Err(e @ OpenError::NotRegularFile { .. }) => {
            names(&e, path);
            let OpenError::NotRegularFile { what, path: p } = e else {
                unreachable!()
            };
            assert_eq!(what, "a directory");
            assert_eq!(p, path);
        }
        other => panic!("read-only open of a directory: {other:?}"),
    }
    // Opening a directory for writing is refused by the kernel already.
    for r in [Mapping::open_rw(path), Mapping::create(path, 10)] {
        match r {
            Err(OpenError::Io(e)) => {
                assert_eq!(e.os_error().raw_os_error(), Some(libc::EISDIR));
                names(&e, path);
            }
            Err(e @ OpenError::NotRegularFile { .. }) => names(&e, path),
            other => panic!("read-write open of a directory: {other:?}"),
        }
    }
}

#[test]
fn character_device_is_refused() {
    let path = Path::new("/dev/null");
    match Mapping::open(path) {
        Err(OpenError::NotRegularFile { what, .. }) => assert_eq!(what, "a character device"),
        other => panic!("open of /dev/null: {other:?}"),
    }
}

#[test]
fn fifo_is_refused_without_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fifo");
    let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    // SAFETY: plain system call on a valid C string.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    for mode in [Mode::ReadOnly, Mode::CopyOnWrite, Mode::ReadWrite] {
        // With no writer, a plain read-only open of a FIFO would block
        // forever; run it on a thread so that a regression fails the test
        // instead of hanging it.
        let (tx, rx) = std::sync::mpsc::channel();
        let p = path.clone();
        std::thread::spawn(move || {
            let _ = tx.send(MapOptions::new().mode(mode).open(&p).map(|_| ()));
        });
        let r = match rx.recv_timeout(common::SAFETY_NET) {
            Ok(r) => r,
            Err(_) => {
                // Release the stuck opener before failing.
                let _ = std::fs::OpenOptions::new().write(true).open(&path);
                panic!("{mode:?} open of a FIFO blocked");
            }
        };
        match r {
            Err(OpenError::NotRegularFile { what, path: p }) => {
                assert_eq!(what, "a FIFO");
                assert_eq!(p, path);
            }
            other => panic!("{mode:?} open of a FIFO: {other:?}"),
        }
    }
}

#[test]
fn zero_length_file_maps_empty() {
    let dir = tempfile::tempdir().unwrap();
    let path = file_with(dir.path(), "empty", b"");
    for map in [
        Mapping::open(&path).unwrap(),
        Mapping::open_rw(&path).unwrap(),
    ] {
        assert_eq!(map.len(), 0);
        assert!(map.is_empty());
        let mut one = [0u8; 1];
        match map.read_at(0, &mut one) {
            Err(e @ AccessError::OutOfBounds { .. }) => {
                names(&e, &path);
                let AccessError::OutOfBounds {
                    offset,
                    len,
                    map_len,
                    ..
                } = e
                else {
                    unreachable!()
                };
                assert_eq!((offset, len, map_len), (0, 1, 0));
            }
            other => panic!("read of 1 byte from an empty mapping: {other:?}"),
        }
        map.read_at(0, &mut []).unwrap();
        assert!(matches!(
            map.read_pod::<u8>(0),
            Err(AccessError::OutOfBounds { .. })
        ));
        assert_eq!(map.residency().unwrap().total_pages(), 0);
        map.advise(mapped::Advice::Random).unwrap();
        assert_eq!(map.guarded(|| 5).unwrap(), 5);
        if map.mode() == Mode::ReadWrite {
            assert!(matches!(
                map.write_at(0, b"x"),
                Err(AccessError::OutOfBounds { .. })
            ));
            assert!(matches!(
                map.atomic_u32(0),
                Err(AccessError::OutOfBounds { .. })
            ));
            map.write_at(0, b"").unwrap();
            map.flush().unwrap();
            map.sync_data().unwrap();
        }
    }
    // An empty mapping grows like any other.
    let mut map = Mapping::open_rw(&path).unwrap();
    map.grow(10).unwrap();
    map.write_at(0, b"0123456789").unwrap();
    map.flush().unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"0123456789");
    assert_eq!(
        mapped::FileInfo::of(dir.path().join("empty")).unwrap().size,
        10
    );
}

#[test]
fn window_past_end_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = file_with(dir.path(), "f", &pattern_bytes(0, 1000));
    let check = |r: Result<Mapping, OpenError>, want: (u64, u64)| match r {
        Err(e @ OpenError::WindowOutOfRange { .. }) => {
            names(&e, &path);
            let OpenError::WindowOutOfRange {
                offset,
                len,
                file_len,
                ..
            } = e
            else {
                unreachable!()
            };
            assert_eq!((offset, len), want);
            assert_eq!(file_len, 1000);
        }
        other => panic!("window {want:?}: {other:?}"),
    };
    check(MapOptions::new().window(0, 1001).open(&path), (0, 1001));
    check(MapOptions::new().window(999, 2).open(&path), (999, 2));
    check(MapOptions::new().window(5000, 1).open(&path), (5000, 1));
    check(MapOptions::new().offset(1001).open(&path), (1001, 0));
    check(
        MapOptions::new().window(u64::MAX, 2).open(&path),
        (u64::MAX, 2),
    );
    check(
        MapOptions::new()
            .mode(Mode::ReadWrite)
            .window(1, 1000)
            .open(&path),
        (1, 1000),
    );
    // Up to the end exactly is fine, down to an empty window.
    assert_eq!(
        MapOptions::new().window(1, 999).open(&path).unwrap().len(),
        999
    );
    assert_eq!(MapOptions::new().offset(1000).open(&path).unwrap().len(), 0);
    assert_eq!(MapOptions::new().offset(10).open(&path).unwrap().len(), 990);
}

#[test]
fn access_out_of_bounds_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    let map = Mapping::create(&path, 100).unwrap();
    map.write_at(0, &pattern_bytes(0, 100)).unwrap();
    let oob = |r: Result<(), AccessError>, want: (u64, u64)| match r {
        Err(e @ AccessError::OutOfBounds { .. }) => {
            names(&e, &path);
            let AccessError::OutOfBounds {
                offset,
                len,
                map_len,
                ..
            } = e
            else {
                unreachable!()
            };
            assert_eq!((offset, len, map_len), (want.0, want.1, 100));
        }
        other => panic!("access {want:?}: {other:?}"),
    };
    let mut two = [0u8; 2];
    oob(map.read_at(99, &mut two), (99, 2));
    oob(map.read_at(100, &mut two[..1]), (100, 1));
    oob(map.read_at(u64::MAX, &mut two), (u64::MAX, 2));
    oob(map.write_at(99, b"ab"), (99, 2));
    oob(map.write_at(u64::MAX - 1, b"abc"), (u64::MAX - 1, 3));
    oob(map.fill(50, 51, 0), (50, 51));
    oob(map.read_pod::<u64>(93).map(|_| ()), (93, 8));
    oob(map.write_pod(97, &0u32), (97, 4));
    oob(map.atomic_u32(100).map(|_| ()), (100, 4));
    oob(map.atomic_u64(96).map(|_| ()), (96, 8));
    // Nothing was written by the refused calls.
    let mut all = [0u8; 100];
    map.read_at(0, &mut all).unwrap();
    assert_eq!(all.as_slice(), pattern_bytes(0, 100));
    // The last bytes exactly are fine.
    map.read_at(98, &mut two).unwrap();
    assert_eq!(map.read_pod::<u64>(92).unwrap().to_le_bytes(), all[92..]);
    // Syncs and advice check their ranges too.
    assert!(matches!(
        map.flush_range(90, 11),
        Err(SyncError::OutOfBounds { .. })
    ));
    assert!(matches!(
        map.start_writeback_range(101, 0),
        Err(SyncError::OutOfBounds { .. })
    ));
    let e = map
        .advise_range(mapped::Advice::Random, 0, 101)
        .unwrap_err();
    assert_eq!(e.os_error().raw_os_error(), Some(libc::EINVAL));
    assert!(map.residency_range(50, 51).is_err());
    map.flush_range(90, 10).unwrap();
}

#[test]
fn unaligned_atomic_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    let map = Mapping::create(&path, PAGE).unwrap();
    for (r, offset, align) in [
        (map.atomic_u32(2).map(|_| ()), 2, 4),
        (map.atomic_u32(4089).map(|_| ()), 4089, 4),
        (map.atomic_u64(4).map(|_| ()), 4, 8),
        (map.wait(1, 0, Some(Duration::ZERO)).map(|_| ()), 1, 4),
        (map.wake(6, 1).map(|_| ()), 6, 4),
    ] {
        match r {
            Err(e @ AccessError::Misaligned { .. }) => {
                names(&e, &path);
                let AccessError::Misaligned {
                    offset: o,
                    align: a,
                    ..
                } = e
                else {
                    unreachable!()
                };
                assert_eq!((o, a), (offset, align));
            }
            other => panic!("atomic at {offset}: {other:?}"),
        }
    }
    map.atomic_u32(4092).unwrap();
    map.atomic_u64(8).unwrap();
    // Alignment is the file's: a window at file offset 4 has its u32 at 0
    // aligned, its u64 not.
    let window = MapOptions::new()
        .mode(Mode::ReadWrite)
        .window(4, 64)
        .open(&path)
        .unwrap();
    window.atomic_u32(0).unwrap().store(7, Ordering::SeqCst);
    assert_eq!(map.atomic_u32(4).unwrap().load(Ordering::SeqCst), 7);
    assert!(matches!(
        window.atomic_u64(0),
        Err(AccessError::Misaligned { align: 8, .. })
    ));
    window.atomic_u64(4).unwrap();
}

#[test]
fn read_only_mapping_refuses_writes_and_atomics() {
    let dir = tempfile::tempdir().unwrap();
    let path = file_with(dir.path(), "ro", &pattern_bytes(0, 2 * PAGE as usize));
    let mut map = Mapping::open(&path).unwrap();
    assert_eq!(map.mode(), Mode::ReadOnly);
    let not_writable = |r: Result<(), AccessError>| match r {
        Err(e @ AccessError::NotWritable { .. }) => {
            names(&e, &path);
            let AccessError::NotWritable { mode, .. } = e else {
                unreachable!()
            };
            assert_eq!(mode, Mode::ReadOnly);
        }
        other => panic!("write through a read-only mapping: {other:?}"),
    };
    not_writable(map.write_at(0, b"x"));
    not_writable(map.fill(0, 1, 0));
    not_writable(map.write_pod(0, &1u64));
    not_writable(map.atomic_u32(0).map(|_| ()));
    not_writable(map.atomic_u64(0).map(|_| ()));
    not_writable(map.wait(0, 0, Some(Duration::ZERO)).map(|_| ()));
    not_writable(map.wake(0, 1).map(|_| ()));
    // SAFETY: the view is refused, so never used.
    not_writable(unsafe { map.as_mut_slice() }.map(|_| ()));
    match map.grow(3 * PAGE as usize) {
        Err(e @ GrowError::NotWritable { .. }) => names(&e, &path),
        other => panic!("grow of a read-only mapping: {other:?}"),
    }
    assert_eq!(map.len() as u64, 2 * PAGE);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 2 * PAGE);
    assert_eq!(
        std::fs::read(&path).unwrap(),
        pattern_bytes(0, 2 * PAGE as usize)
    );
    // Reads and syncs are fine.
    assert_eq!(map.read_pod::<u8>(5).unwrap(), common::pattern(5));
    map.flush().unwrap();
}

#[test]
fn copy_on_write_stays_private() {
    let dir = tempfile::tempdir().unwrap();
    let original = pattern_bytes(0, 2 * PAGE as usize);
    let path = file_with(dir.path(), "cow", &original);
    let mut cow = MapOptions::new()
        .mode(Mode::CopyOnWrite)
        .open(&path)
        .unwrap();
    let shared = Mapping::open(&path).unwrap();

    cow.write_at(10, b"private").unwrap();
    cow.atomic_u32(PAGE)
        .unwrap()
        .store(0xdead_beef, Ordering::SeqCst);
    let mut buf = [0u8; 7];
    cow.read_at(10, &mut buf).unwrap();
    assert_eq!(&buf, b"private");
    assert_eq!(cow.read_pod::<u32>(PAGE).unwrap(), 0xdead_beef);
    // Neither the file nor a shared mapping of it sees the stores.
    shared.read_at(10, &mut buf).unwrap();
    assert_eq!(buf.as_slice(), &original[10..17]);
    assert_eq!(std::fs::read(&path).unwrap(), original);

    for (what, r) in [
        ("flush", cow.flush()),
        ("flush_range", cow.flush_range(0, 10)),
        ("start_writeback", cow.start_writeback()),
        ("sync_data", cow.sync_data()),
        ("sync_all", cow.sync_all()),
    ] {
        match r {
            Err(e @ SyncError::PrivateMapping { .. }) => names(&e, &path),
            other => panic!("{what} of a copy-on-write mapping: {other:?}"),
        }
    }
    assert!(matches!(
        cow.grow(3 * PAGE as usize),
        Err(GrowError::NotWritable {
            mode: Mode::CopyOnWrite,
            ..
        })
    ));
    drop(cow);
    assert_eq!(std::fs::read(&path).unwrap(), original);
}

#[test]
fn window_at_unaligned_offset_reads_the_right_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let contents = pattern_bytes(0, 3 * PAGE as usize);
    let path = file_with(dir.path(), "w", &contents);
    for offset in [1, 4095, 4097, 8191] {
        let len = 3 * PAGE - offset - 1;
        let map = MapOptions::new()
            .mode(Mode::ReadWrite)
            .window(offset, len)
            .open(&path)
            .unwrap();
        assert_eq!(map.offset(), offset);
        assert_eq!(map.len() as u64, len);
        let mut buf = vec![0u8; len as usize];
        map.read_at(0, &mut buf).unwrap();
        assert_eq!(buf, contents[offset as usize..(offset + len) as usize]);
        // SAFETY: nobody changes or truncates this private temporary file
        // while the slice lives.
        assert_eq!(unsafe { map.as_slice() }, buf.as_slice());
        assert_eq!(
            map.read_pod::<u8>(len - 1).unwrap(),
            common::pattern(offset + len - 1)
        );
        // A store lands at the right place in the file.
        map.write_at(2, b"@@").unwrap();
        map.flush_range(2, 2).unwrap();
        let file = std::fs::read(&path).unwrap();
        assert_eq!(&file[offset as usize + 2..offset as usize + 4], b"@@");
        map.write_at(2, &contents[offset as usize + 2..offset as usize + 4])
            .unwrap();
        map.flush().unwrap();
    }
    assert_eq!(std::fs::read(&path).unwrap(), contents);
}

/// The process umask, read without changing it.
fn umask() -> u32 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix("Umask:"))
        .expect("Umask in /proc/self/status");
    u32::from_str_radix(line.trim(), 8).unwrap()
}

#[test]
fn new_files_get_0600_or_the_permissions_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let mode_of = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let default = dir.path().join("default");
    Mapping::create(&default, 10).unwrap();
    assert_eq!(mode_of(&default), 0o600 & !umask());
    for perms in [0o640, 0o604, 0o400] {
        let path = dir.path().join(format!("p{perms:o}"));
        MapOptions::new()
            .mode(Mode::ReadWrite)
            .permissions(perms)
            .create(&path, 10)
            .unwrap();
        assert_eq!(mode_of(&path), perms & !umask(), "asked for {perms:o}");
    }
    // An existing file keeps its permissions.
    let existing = file_with(dir.path(), "existing", b"x");
    std::fs::set_permissions(&existing, std::fs::Permissions::from_mode(0o644)).unwrap();
    MapOptions::new()
        .mode(Mode::ReadWrite)
        .permissions(0o600)
        .create(&existing, 10)
        .unwrap();
    assert_eq!(mode_of(&existing), 0o644);
}

#[test]
fn create_never_shortens_an_existing_file() {
    let dir = tempfile::tempdir().unwrap();
    let contents = pattern_bytes(0, 10_000);
    let path = file_with(dir.path(), "long", &contents);
    let map = Mapping::create(&path, 100).unwrap();
    assert_eq!(map.len(), 10_000);
    let mut buf = vec![0u8; 10_000];
    map.read_at(0, &mut buf).unwrap();
    assert_eq!(buf, contents);
    drop(map);
    assert_eq!(std::fs::read(&path).unwrap(), contents);
    // Asking for more extends it, keeping the contents.
    let map = Mapping::create(&path, 12_000).unwrap();
    assert_eq!(map.len(), 12_000);
    map.read_at(0, &mut buf).unwrap();
    assert_eq!(buf, contents);
    let mut tail = vec![1u8; 2000];
    map.read_at(10_000, &mut tail).unwrap();
    assert!(tail.iter().all(|&b| b == 0));
    // And create with length 0 of an existing file maps all of it.
    assert_eq!(Mapping::create(&path, 0).unwrap().len(), 12_000);
}

#[test]
fn create_new_refuses_an_existing_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = file_with(dir.path(), "exists", b"keep me");
    match MapOptions::new()
        .mode(Mode::ReadWrite)
        .create_new(true)
        .create(&path, 100)
    {
        Err(OpenError::Io(e)) => {
            assert_eq!(e.op(), Op::Open);
            assert_eq!(e.os_error().raw_os_error(), Some(libc::EEXIST));
            names(&e, &path);
        }
        other => panic!("create_new of an existing file: {other:?}"),
    }
    assert_eq!(std::fs::read(&path).unwrap(), b"keep me");
    // A new name is fine.
    let fresh = dir.path().join("fresh");
    let map = MapOptions::new()
        .mode(Mode::ReadWrite)
        .create_new(true)
        .create(&fresh, 100)
        .unwrap();
    assert_eq!(map.len(), 100);
    let mut buf = [1u8; 100];
    map.read_at(0, &mut buf).unwrap();
    assert_eq!(buf, [0u8; 100]);
}
