//! Growth and remapping, advice, residency, write-back calls and
//! `FileInfo` on ordinary files.

mod common;

use std::sync::atomic::Ordering;

use common::pattern_bytes;
use mapped::{Advice, FileInfo, GrowError, MapOptions, Mapping, Mode};

const PAGE: usize = 4096;

/// Reserves the page after the end of `map`'s region, so that `mremap`
/// cannot extend it in place and must move it. Returns the blocker, to be
/// unmapped by the caller, or null if something else already sits there
/// (which forces a move just the same).
fn block_growth_in_place(map: &Mapping) -> *mut libc::c_void {
    let end = map.as_ptr() as usize + map.len();
    assert_eq!(end % PAGE, 0, "test mappings end on a page boundary");
    // SAFETY: MAP_FIXED_NOREPLACE never replaces an existing mapping; it
    // takes the page only if it is free.
    let p = unsafe {
        libc::mmap(
            end as *mut libc::c_void,
            PAGE,
            libc::PROT_NONE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED_NOREPLACE,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        let e = std::io::Error::last_os_error();
        assert_eq!(e.raw_os_error(), Some(libc::EEXIST), "{e}");
        return std::ptr::null_mut();
    }
    assert_eq!(p as usize, end, "kernel without MAP_FIXED_NOREPLACE");
    p
}

#[test]
fn grow_preserves_contents_and_moves_safely() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g");
    let start = 4 * PAGE;
    let data = pattern_bytes(0, start);
    let mut map = Mapping::create(&path, start as u64).unwrap();
    map.write_at(0, &data).unwrap();
    map.atomic_u64(64)
        .unwrap()
        .store(0x1234_5678, Ordering::SeqCst);
    let data = {
        let mut d = data;
        d[64..72].copy_from_slice(&0x1234_5678u64.to_le_bytes());
        d
    };

    let blocker = block_growth_in_place(&map);
    let before = map.as_ptr();
    let grown = 64 * PAGE;
    map.grow(grown).unwrap();
    // The region had to move, and the borrow checker made sure nothing
    // pointed into the old one.
    assert_ne!(map.as_ptr(), before, "the blocked mapping did not move");
    if !blocker.is_null() {
        // SAFETY: the page mapped by `block_growth_in_place`, used by nothing.
        assert_eq!(unsafe { libc::munmap(blocker, PAGE) }, 0);
    }
    assert_eq!(map.len(), grown);
    assert_eq!(map.file_len().unwrap(), grown as u64);
    let mut buf = vec![0u8; grown];
    map.read_at(0, &mut buf).unwrap();
    assert_eq!(buf[..start], data[..]);
    assert!(buf[start..].iter().all(|&b| b == 0));
    assert_eq!(
        map.atomic_u64(64).unwrap().load(Ordering::SeqCst),
        0x1234_5678
    );
    // The new part is the file's, shared, and writable to the last byte.
    map.write_at(grown as u64 - 3, b"end").unwrap();
    map.flush().unwrap();
    let other = Mapping::open(&path).unwrap();
    assert_eq!(other.len(), grown);
    let mut end = [0u8; 3];
    other.read_at(grown as u64 - 3, &mut end).unwrap();
    assert_eq!(&end, b"end");
    // SAFETY: nothing writes or truncates the file while the slice lives.
    assert_eq!(&unsafe { other.as_slice() }[..start], &data[..]);

    // Growing again (in place or not), to a size that is not a page
    // multiple; growing to less or the same changes nothing.
    map.grow(grown + PAGE + 10).unwrap();
    assert_eq!(map.len(), grown + PAGE + 10);
    map.grow(10).unwrap();
    map.grow(grown).unwrap();
    assert_eq!(map.len(), grown + PAGE + 10);
    assert_eq!(map.file_len().unwrap(), (grown + PAGE + 10) as u64);
    map.read_at(0, &mut buf[..start]).unwrap();
    assert_eq!(buf[..start], data[..]);
}

#[test]
fn grow_a_window_counts_from_its_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w");
    std::fs::write(&path, pattern_bytes(0, 3 * PAGE)).unwrap();
    let mut map = MapOptions::new()
        .mode(Mode::ReadWrite)
        .window(PAGE as u64 + 7, 100)
        .open(&path)
        .unwrap();
    map.grow(4 * PAGE).unwrap();
    assert_eq!(map.len(), 4 * PAGE);
    assert_eq!(map.file_len().unwrap(), (5 * PAGE + 7) as u64);
    assert_eq!(
        map.read_pod::<u8>(0).unwrap(),
        common::pattern(PAGE as u64 + 7)
    );
    map.write_at(4 * PAGE as u64 - 1, b"z").unwrap();
    map.flush().unwrap();
    let file = std::fs::read(&path).unwrap();
    assert_eq!(file.len(), 5 * PAGE + 7);
    assert_eq!(file[5 * PAGE + 6], b'z');
    assert_eq!(file[..3 * PAGE], pattern_bytes(0, 3 * PAGE)[..]);
}

#[test]
fn remap_follows_a_file_grown_by_another_mapping() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r");
    let mut writer = Mapping::create(&path, PAGE as u64).unwrap();
    writer.write_at(0, b"first").unwrap();
    let mut reader = Mapping::open(&path).unwrap();
    assert_eq!(reader.len(), PAGE);

    writer.grow(3 * PAGE).unwrap();
    writer.write_at(2 * PAGE as u64 + 100, b"grown").unwrap();
    // The reader's window is as it was until it remaps.
    assert_eq!(reader.len(), PAGE);
    let mut buf = [0u8; 5];
    assert!(matches!(
        reader.read_at(2 * PAGE as u64 + 100, &mut buf),
        Err(mapped::AccessError::OutOfBounds { .. })
    ));
    assert_eq!(reader.remap_to_file_len().unwrap(), 3 * PAGE);
    assert_eq!(reader.len(), 3 * PAGE);
    reader.read_at(2 * PAGE as u64 + 100, &mut buf).unwrap();
    assert_eq!(&buf, b"grown");
    reader.read_at(0, &mut buf).unwrap();
    assert_eq!(&buf, b"first");
    // Stores made after the remap are seen at once, without another one.
    writer.write_at(2 * PAGE as u64 + 200, b"later").unwrap();
    reader.read_at(2 * PAGE as u64 + 200, &mut buf).unwrap();
    assert_eq!(&buf, b"later");

    // A window cannot outgrow the file; it can shrink, and come back.
    match reader.remap(4 * PAGE) {
        Err(e @ GrowError::PastEndOfFile { .. }) => {
            assert!(e.to_string().contains(path.to_str().unwrap()), "{e}");
            let GrowError::PastEndOfFile { len, file_len, .. } = e else {
                unreachable!()
            };
            assert_eq!((len, file_len), (4 * PAGE as u64, 3 * PAGE as u64));
        }
        other => panic!("remap past the end: {other:?}"),
    }
    assert_eq!(reader.len(), 3 * PAGE);
    reader.remap(10).unwrap();
    assert_eq!(reader.len(), 10);
    reader.read_at(0, &mut buf).unwrap();
    assert_eq!(&buf, b"first");
    reader.remap(0).unwrap();
    assert!(reader.is_empty());
    assert_eq!(reader.remap_to_file_len().unwrap(), 3 * PAGE);
    reader.read_at(2 * PAGE as u64 + 100, &mut buf).unwrap();
    assert_eq!(&buf, b"grown");
}

#[test]
fn advice_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a");
    let map = Mapping::create(&path, 8 * PAGE as u64).unwrap();
    for advice in [
        Advice::Normal,
        Advice::Random,
        Advice::Sequential,
        Advice::WillNeed,
        Advice::DontDump,
        Advice::DoDump,
        Advice::PopulateRead,
        Advice::PopulateWrite,
    ] {
        map.advise(advice)
            .unwrap_or_else(|e| panic!("{advice:?}: {e}"));
        map.advise_range(advice, 100, 2 * PAGE)
            .unwrap_or_else(|e| panic!("{advice:?} on a range: {e}"));
    }
    for advice in [Advice::Random, Advice::Sequential, Advice::WillNeed] {
        let m = MapOptions::new().advice(advice).open(&path).unwrap();
        assert_eq!(m.len(), 8 * PAGE);
    }
    // Populating writable makes every page resident, and needs a writable
    // mapping.
    assert_eq!(map.residency().unwrap().resident_pages(), 8);
    assert!(
        Mapping::open(&path)
            .unwrap()
            .advise(Advice::PopulateWrite)
            .is_err()
    );
    // Advice changes nothing that can be read.
    map.write_at(5, b"kept").unwrap();
    map.advise(Advice::Random).unwrap();
    assert_eq!(&map.read_pod::<[u8; 4]>(5).unwrap(), b"kept");
    // A whole-window advice leaves the mapping growable.
    let mut map = map;
    map.grow(16 * PAGE).unwrap();
    assert_eq!(&map.read_pod::<[u8; 4]>(5).unwrap(), b"kept");
}

#[test]
fn populate_with_advice_reads_in_every_page_of_an_evicted_file() {
    use std::os::fd::AsRawFd;
    // Under the target directory, on the repository's disk: a file system
    // whose clean pages can be evicted (not tmpfs, where they are the file).
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let path = dir.path().join("populate");
    // With advice, population is done by `MADV_POPULATE_READ` after the
    // advice rather than by `MAP_POPULATE`: it must still read in every page.
    let pages = 64;
    std::fs::write(&path, pattern_bytes(3, pages * PAGE)).unwrap();
    let file = std::fs::File::open(&path).unwrap();
    file.sync_all().unwrap();
    // SAFETY: posix_fadvise on our own open descriptor; changes no data.
    let rc = unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
    assert_eq!(rc, 0);
    let before = mapped::residency(&path).unwrap().resident_pages();
    assert!(
        before < pages / 2,
        "{before} of {pages} pages stayed cached"
    );
    for advice in [Advice::Random, Advice::HugePage, Advice::Sequential] {
        let map = MapOptions::new()
            .advice(advice)
            .populate(true)
            .open(&path)
            .unwrap_or_else(|e| panic!("{advice:?}: {e}"));
        assert_eq!(
            map.residency().unwrap().resident_pages(),
            pages,
            "{advice:?}"
        );
        let mut buf = vec![0u8; pages * PAGE];
        map.read_at(0, &mut buf).unwrap();
        assert_eq!(buf, pattern_bytes(3, pages * PAGE));
        // SAFETY: as above.
        unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
    }
}

#[test]
fn grow_and_remap_after_advice_on_part_of_the_window() {
    // Advice on part of a window splits the kernel's VMA, which `mremap`
    // alone cannot resize.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("split");
    let data = pattern_bytes(0, 8 * PAGE);
    let mut map = Mapping::create(&path, 8 * PAGE as u64).unwrap();
    map.write_at(0, &data).unwrap();
    let mut reader = Mapping::open(&path).unwrap();
    map.advise_range(Advice::Random, 0, PAGE).unwrap();
    reader
        .advise_range(Advice::Sequential, PAGE as u64, PAGE)
        .unwrap();

    map.grow(32 * PAGE).unwrap();
    assert_eq!(map.len(), 32 * PAGE);
    map.write_at(31 * PAGE as u64, b"tail").unwrap();
    let mut buf = vec![0u8; 8 * PAGE];
    map.read_at(0, &mut buf).unwrap();
    assert_eq!(buf, data);

    assert_eq!(reader.remap_to_file_len().unwrap(), 32 * PAGE);
    reader.read_at(0, &mut buf).unwrap();
    assert_eq!(buf, data);
    assert_eq!(
        &reader.read_pod::<[u8; 4]>(31 * PAGE as u64).unwrap(),
        b"tail"
    );
    // Still one shared mapping of the file: later stores are seen.
    map.write_at(5, b"again").unwrap();
    assert_eq!(&reader.read_pod::<[u8; 5]>(5).unwrap(), b"again");
    // A copy-on-write window split the same way keeps its private bytes
    // when it shrinks.
    let mut cow = MapOptions::new()
        .mode(Mode::CopyOnWrite)
        .open(&path)
        .unwrap();
    cow.write_at(0, b"mine").unwrap();
    cow.advise_range(Advice::Random, PAGE as u64, PAGE).unwrap();
    cow.remap(2 * PAGE).unwrap();
    assert_eq!(&cow.read_pod::<[u8; 4]>(0).unwrap(), b"mine");
}

#[test]
fn residency_counts_pages_just_written_and_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("res");
    let pages = 16;
    std::fs::write(&path, pattern_bytes(0, pages * PAGE)).unwrap();
    // Just written through `write`: the pages are in the page cache.
    let map = Mapping::open(&path).unwrap();
    let mut buf = vec![0u8; pages * PAGE];
    map.read_at(0, &mut buf).unwrap();
    let r = map.residency().unwrap();
    assert_eq!(r.page_size(), mapped::page_size());
    assert_eq!(r.total_pages(), pages);
    assert_eq!(r.resident_pages(), pages);
    assert_eq!(r.resident_bytes(), (pages * PAGE) as u64);
    assert!((0..pages).all(|i| r.is_resident(i)));
    assert!(!r.is_resident(pages));
    let part = map.residency_range(PAGE as u64 + 1, PAGE).unwrap();
    assert_eq!(part.total_pages(), 2);
    assert_eq!(part.resident_pages(), 2);
    assert_eq!(mapped::residency(&path).unwrap().resident_pages(), pages);
    // A window at an unaligned offset counts the pages it touches.
    let w = MapOptions::new()
        .window(100, PAGE as u64)
        .open(&path)
        .unwrap();
    assert_eq!(w.residency().unwrap().total_pages(), 2);
    // Locking keeps them resident; unlocking is allowed.
    if let Ok(locked) = MapOptions::new().lock(true).open(&path) {
        assert_eq!(locked.residency().unwrap().resident_pages(), pages);
        locked.unlock().unwrap();
    }
}

#[test]
fn write_back_calls_succeed_on_a_normal_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s");
    let map = Mapping::create(&path, 4 * PAGE as u64).unwrap();
    map.write_at(0, b"durable").unwrap();
    map.fill(PAGE as u64, PAGE, 0x5a).unwrap();
    map.flush().unwrap();
    map.write_at(PAGE as u64 + 1, b"x").unwrap();
    map.flush_range(PAGE as u64, 2).unwrap();
    map.flush_range(3, 0).unwrap();
    map.start_writeback().unwrap();
    map.start_writeback_range(100, 50).unwrap();
    map.sync_data().unwrap();
    map.sync_all().unwrap();
    let file = std::fs::read(&path).unwrap();
    assert_eq!(&file[..7], b"durable");
    assert_eq!(file[PAGE], 0x5a);
    assert_eq!(file[PAGE + 1], b'x');
    // A read-only mapping may flush too (there is nothing dirty).
    Mapping::open(&path).unwrap().flush().unwrap();
}

#[test]
fn file_info_reports_size_and_allocation() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("i");
    let len = 10 * PAGE as u64 + 123;
    let map = Mapping::create(&path, len).unwrap();
    map.write_at(0, b"touch").unwrap();
    let info = FileInfo::of(&path).unwrap();
    assert_eq!(info.size, len);
    // `create` reserved every block (fallocate).
    assert!(info.allocated >= len, "{} < {len}", info.allocated);
    assert_eq!(info.fs_name, mapped::fs_name(info.fs_magic));
    assert_eq!(info.residency.total_pages(), 11);
    assert!(info.residency.is_resident(0));

    // A sparse file shows less allocated than its size.
    let sparse = dir.path().join("sparse");
    let f = std::fs::File::create(&sparse).unwrap();
    f.set_len(1 << 20).unwrap();
    let info = FileInfo::of(&sparse).unwrap();
    assert_eq!(info.size, 1 << 20);
    assert!(info.allocated < 1 << 20);
    assert_eq!(mapped::fs_name(0x0102_1994), Some("tmpfs"));
    assert_eq!(mapped::fs_name(1), None);

    // And of a missing file, an error naming it.
    let missing = dir.path().join("missing");
    let e = FileInfo::of(&missing).unwrap_err();
    assert!(e.to_string().contains(missing.to_str().unwrap()), "{e}");
}

#[test]
fn create_from_reserves_and_maps_a_file_the_caller_opened() {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    let dir = tempfile::tempdir().unwrap();
    // A file with no name, as a log builds its segments.
    let file = std::fs::File::options()
        .read(true)
        .write(true)
        .custom_flags(libc::O_TMPFILE)
        .mode(0o600)
        .open(dir.path())
        .unwrap();
    let probe = file.try_clone().unwrap();
    let map = MapOptions::new()
        .mode(Mode::ReadWrite)
        .create_from(file, dir.path().join("(unnamed)"), 3 * PAGE as u64)
        .unwrap();
    assert_eq!(map.len(), 3 * PAGE);
    let meta = probe.metadata().unwrap();
    assert_eq!(meta.len(), 3 * PAGE as u64);
    assert!(meta.blocks() * 512 >= 3 * PAGE as u64, "blocks reserved");
    map.write_at(PAGE as u64, b"kept").unwrap();
    // Never shortened, contents kept.
    let again = MapOptions::new()
        .mode(Mode::ReadWrite)
        .create_from(probe.try_clone().unwrap(), "(unnamed)", PAGE as u64)
        .unwrap();
    assert_eq!(again.len(), 3 * PAGE);
    let mut b = [0u8; 4];
    again.read_at(PAGE as u64, &mut b).unwrap();
    assert_eq!(&b, b"kept");
    // Not a regular file: refused, named.
    let err = MapOptions::new()
        .mode(Mode::ReadWrite)
        .create_from(std::fs::File::open(dir.path()).unwrap(), "a dir", 1)
        .unwrap_err();
    assert!(err.to_string().contains("a dir"), "{err}");
}
