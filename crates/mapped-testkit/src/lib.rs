//! Test helpers shared by the fuzz target (`fuzz/`) and the test suite.
//!
//! [`open_arbitrary_log`] lays arbitrary bytes out as a log directory (a
//! control file and segment files) and then does everything a reader does
//! with it. Whatever the bytes, it must return, never panic, never hang and
//! never fault: that is the contract the fuzz target checks.
//!
//! [`child`] runs a test function in a child process; [`mount`] mounts a
//! small file system for full-disk tests.

pub mod child;
pub mod mount;

use std::time::Duration;

use mapped_log::{Log, Start, format};

/// What happened when arbitrary bytes were opened as a log.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The log opened.
    pub opened: bool,
    /// Messages read before the end or an error.
    pub messages: usize,
    /// The read ended in an error (corruption, not-a-log, ...).
    pub read_error: bool,
    /// `verify` found a problem or failed.
    pub verify_failed: bool,
}

/// Lays `bytes` out as a log directory and reads it.
///
/// Layout: the first 4096 bytes (zero-padded) are the control file, with
/// the control header re-sealed (valid checksum) when the input asks for it
/// (first byte odd), so the fuzzer gets past the header quickly; the
/// second byte chooses between a plain open and restart recovery; the rest is
/// cut into segment files of the size the header names (when plausible),
/// with each segment header re-sealed likewise. The log is inspected
/// read-only (`stat`, `verify`), then opened read-write and read.
pub fn open_arbitrary_log(bytes: &[u8]) -> Outcome {
    let Ok(dir) = tempfile::tempdir() else {
        return Outcome::default();
    };
    let mut outcome = Outcome::default();
    let seal = bytes.first().is_some_and(|b| b & 1 == 1);
    let mut control = vec![0u8; format::CONTROL_LEN as usize];
    let n = bytes.len().min(control.len());
    control[..n].copy_from_slice(&bytes[..n]);
    let segment_size = 4096u64;
    let header = format::ControlHeader {
        segment_size,
        max_message: 1024,
        log_id: [7; 16],
        file_mode: format::DEFAULT_FILE_MODE,
    };
    if seal {
        control[..64].copy_from_slice(&header.encode());
    }
    // The second byte chooses whether the log looks last opened in this
    // boot (plain open) or in another (restart recovery runs on the bytes).
    if bytes.get(1).is_some_and(|b| b & 1 == 1) {
        if let Ok(id) = std::fs::read_to_string("/proc/sys/kernel/random/boot_id") {
            let id = id.trim().as_bytes();
            let at = format::CONTROL_BOOT_ID as usize;
            let len = id.len().min(format::BOOT_ID_LEN);
            control[at..at + format::BOOT_ID_LEN].fill(0);
            control[at..at + len].copy_from_slice(&id[..len]);
        }
    }
    let rest = &bytes[n..];
    if std::fs::write(dir.path().join(mapped_log::CONTROL_FILE), &control).is_err() {
        return outcome;
    }
    for (i, chunk) in rest.chunks(segment_size as usize).take(8).enumerate() {
        let mut seg = chunk.to_vec();
        if seal && seg.len() >= 64 {
            let h = format::SegmentHeader {
                segment_size,
                index: i as u64,
                log_id: [7; 16],
                // The input's own bits at the flags' place: placeholders too.
                flags: u32::from(seg[48] & 1),
            };
            seg[..64].copy_from_slice(&h.encode());
            seg.resize(segment_size as usize, 0);
        }
        let name = format!("{i:020}.seg");
        if std::fs::write(dir.path().join(name), &seg).is_err() {
            return outcome;
        }
    }
    // Inspected read-only first, on the bytes as given (a read-write open
    // may recover, and change them): no store may reach its mappings.
    if let Ok(ro) = Log::open_read_only(dir.path()) {
        let _ = ro.verify();
        let _ = ro.stat();
        let _ = read_all(&ro);
    }
    let Ok(log) = Log::open(dir.path()) else {
        return outcome;
    };
    outcome.opened = true;
    let (messages, read_error) = read_all(&log);
    outcome.messages = messages;
    outcome.read_error = read_error;
    outcome.verify_failed = !matches!(log.verify(), Ok(p) if p.is_empty());
    let _ = log.stat();
    outcome
}

/// Reads `log` from the beginning until the end (then one blocking read,
/// which must give up at its timeout) or an error, at most 100,001
/// messages; returns how many it read and whether it met an error.
fn read_all(log: &Log) -> (usize, bool) {
    let mut r = match log.reader(Start::Beginning) {
        Ok(r) => r,
        Err(_) => return (0, true),
    };
    let mut messages = 0;
    loop {
        match r.try_next() {
            Ok(Some(m)) => {
                std::hint::black_box(m.payload());
                messages += 1;
                if messages > 100_000 {
                    return (messages, false);
                }
            }
            Ok(None) => {
                let _ = r.next(Some(Duration::from_millis(1)));
                return (messages, false);
            }
            Err(_) => return (messages, true),
        }
    }
}
