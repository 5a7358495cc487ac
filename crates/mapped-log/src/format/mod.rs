//! The on-disk format: constants, headers and record words, encoded and
//! decoded explicitly little-endian. Pure functions over bytes and integers,
//! so that they can be property-tested; `docs/format.md` is the
//! specification they implement.
//!
//! Every value decoded here may have been written by a buggy or hostile
//! process: decoding validates and returns an error rather than trusting it.

pub(crate) mod crc;
mod slot;

pub(crate) use slot::SlotState;

/// Magic number at the start of the control file.
pub const CONTROL_MAGIC: [u8; 8] = *b"MLOGCTL\0";
/// Magic number at the start of each segment file.
pub const SEGMENT_MAGIC: [u8; 8] = *b"MLOGSEG\0";
/// The format version this code reads and writes. Any change of layout or
/// protocol bumps it; a file of any other version is refused.
///
/// Version 2 added the control file's first-segment word
/// ([`CONTROL_FIRST_SEGMENT`]) and the segment header's flags
/// ([`SEGMENT_FLAGS`]), and retired the `Writing` announcement.
pub const VERSION: u32 = 2;

/// Bytes of a segment before its first record.
pub const SEGMENT_HEADER_LEN: u64 = 128;
/// Offset of the segment's reservation counter (`AtomicU64`).
pub const SEGMENT_TAIL_OFFSET: u64 = 64;
/// Offset of the segment header's flags (`u32`, covered by the header's
/// checksum).
pub const SEGMENT_FLAGS: u64 = 48;
/// Segment flag: a placeholder that recovery made for a segment that was
/// missing or unreadable. It holds one padding record; the ids of the
/// segment it stands for are lost.
pub const SEGMENT_PLACEHOLDER: u32 = 1;
/// Bytes of a record header.
pub const RECORD_HEADER_LEN: u64 = 16;
/// Records start at multiples of this.
pub const RECORD_ALIGN: u64 = 8;

/// Length of the control file.
pub const CONTROL_LEN: u64 = 4096;
/// Offset of the control file's current-segment index (`AtomicU64`).
pub const CONTROL_TAIL_SEGMENT: u64 = 64;
/// Offset of the index of the log's first segment (`AtomicU64`): every
/// segment from it to the tail segment must exist. Stored by retention
/// before it removes segments from the front.
pub const CONTROL_FIRST_SEGMENT: u64 = 72;
/// Offset of the readers' futex word (`AtomicU32`), bumped on wake.
pub const CONTROL_NOTIFY: u64 = 128;
/// Offset of the count of sleeping readers (`AtomicU32`).
pub const CONTROL_WAITERS: u64 = 132;
/// Offset of the durable position (`AtomicU64`), a record id.
pub const CONTROL_DURABLE: u64 = 192;
/// Offset of the sync-failure flag (`AtomicU64`, 0: none). Set when any
/// process's sync of the log fails; from then on every sync fails, since a
/// later success would not prove that the failed data reached the disk.
/// Cleared by restart recovery, which re-validates what is on disk.
pub const CONTROL_SYNC_FAILED: u64 = 200;
/// Offset of the group-commit sequence (`AtomicU32`): bumped by a sync
/// leader after it publishes a new durable position; appenders waiting for
/// durability sleep on it (futex) instead of queueing on the sync lock.
pub const CONTROL_SYNC_SEQ: u64 = 208;
/// Offset of the cut count (`AtomicU64`): recovery adds one each time it
/// moves a segment's reservation counter back (or removes segments), after
/// storing where in [`CONTROL_CUT_RING`] and [`CONTROL_LAST_CUT`]. A reader
/// that sees it change
/// moves back to the cut if it stands past it: records appended after a
/// cut start there, below where it waited.
pub const CONTROL_CUTS: u64 = 216;
/// Offset of the id of the last cut (`AtomicU64`); an id that is a
/// multiple of the segment size names the end of the segment before.
pub const CONTROL_LAST_CUT: u64 = 224;
/// Offset of the ring of recent cuts: [`CUT_RING`] `AtomicU64`s, the id of
/// cut number `k` (counting from 0) in entry `k % CUT_RING`, so that a
/// reader that missed several cuts moves back to the lowest.
pub const CONTROL_CUT_RING: u64 = 320;
/// Entries of the cut ring: a reader that missed more cuts than this
/// cannot tell where to resume, and fails.
pub const CUT_RING: u64 = 8;
/// Offset of the boot id (36 ASCII bytes, zero-padded to 40) of the boot
/// in which the log was last opened: a different boot id at open means the
/// system restarted, so every appender of the log is dead and unsynced data
/// may be torn.
pub const CONTROL_BOOT_ID: u64 = 256;
/// Length of the boot id field.
pub const BOOT_ID_LEN: usize = 40;
/// Offset of the first sleeper flag (`AtomicU64`): 1 while the reader that
/// holds the matching sleeper lock sleeps, so that a reader killed in its
/// sleep can be discounted from the count of sleepers.
pub const CONTROL_SLEEPERS: u64 = 512;
/// Number of sleeper flags.
pub const SLEEPERS: u32 = 64;
/// Offset of the first appender slot.
pub const CONTROL_SLOTS: u64 = 1024;
/// Bytes per appender slot (one cache line).
pub const SLOT_LEN: u64 = 64;
/// Offset within a slot of its size word: the size of the record the slot
/// holds (meaningful while the slot word says Holding).
pub const SLOT_SIZE: u64 = 8;
/// Number of appender slots: at most this many appenders at once.
pub const SLOTS: u32 = ((CONTROL_LEN - CONTROL_SLOTS) / SLOT_LEN) as u32;

/// Byte of the lock file locked by the process syncing (group commit).
pub const SYNC_LOCK_BYTE: u32 = SLOTS;
/// Byte of the lock file locked during recovery.
pub const RECOVERY_LOCK_BYTE: u32 = SLOTS + 1;
/// First byte of the lock file locked by the holders of sleeper flags.
pub const SLEEPER_LOCK_BASE: u32 = SLOTS + 2;
/// Byte of the lock file locked by a process creating a segment, so that
/// racing creators wait for one to finish instead of each reserving a
/// segment's worth of disk.
pub const ROLL_LOCK_BYTE: u32 = SLEEPER_LOCK_BASE + SLEEPERS;

/// Smallest segment size accepted.
pub const MIN_SEGMENT_SIZE: u64 = 4096;
/// Largest segment size accepted (record sizes are 32-bit).
pub const MAX_SEGMENT_SIZE: u64 = 1 << 31;

/// The state of a record, in bits 32..40 of its header word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// All zero: never reserved, or reserved and not yet announced.
    Empty,
    /// Reserved and being written by the appender in `slot`.
    Writing {
        /// The appender's slot.
        slot: u32,
    },
    /// Complete: payload and checksum valid.
    Committed,
    /// Space to skip: the end of a segment, or an abandoned record.
    Padding,
}

const STATE_WRITING: u64 = 1;
const STATE_COMMITTED: u64 = 2;
const STATE_PADDING: u64 = 3;

/// A decoded record header word: `size` (bits 0..32, the bytes the record
/// occupies, header and alignment included), `state` (bits 32..40) and, for
/// a record being written, the writer's slot (bits 40..56). Bits 56..64 are
/// zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Word {
    /// Bytes the record occupies.
    pub size: u32,
    /// Its state.
    pub state: State,
}

impl Word {
    /// Encodes the word.
    pub fn encode(self) -> u64 {
        let (state, slot) = match self.state {
            State::Empty => return 0,
            State::Writing { slot } => (STATE_WRITING, slot as u64),
            State::Committed => (STATE_COMMITTED, 0),
            State::Padding => (STATE_PADDING, 0),
        };
        self.size as u64 | state << 32 | slot << 40
    }

    /// Decodes a word; `None` if it cannot be a valid header word.
    pub fn decode(w: u64) -> Option<Word> {
        if w == 0 {
            return Some(Word {
                size: 0,
                state: State::Empty,
            });
        }
        let size = w as u32;
        let slot = ((w >> 40) & 0xffff) as u32;
        if w >> 56 != 0 || size as u64 % RECORD_ALIGN != 0 || size == 0 {
            return None;
        }
        let state = match (w >> 32) & 0xff {
            STATE_WRITING if slot < SLOTS => State::Writing { slot },
            STATE_COMMITTED if slot == 0 => State::Committed,
            STATE_PADDING if slot == 0 => State::Padding,
            _ => return None,
        };
        if state != State::Padding && (size as u64) < RECORD_HEADER_LEN {
            return None;
        }
        Some(Word { size, state })
    }
}

/// The bytes a record with a `len`-byte payload occupies.
pub fn record_size(len: u32) -> u64 {
    (RECORD_HEADER_LEN + len as u64).div_ceil(RECORD_ALIGN) * RECORD_ALIGN
}

/// The checksum of a payload: CRC32C (Castagnoli) over the payload length,
/// as 4 little-endian bytes, then the payload.
pub fn checksum(payload: &[u8]) -> u32 {
    crc::crc32c_prefixed(payload.len() as u32, payload)
}

/// The second header word: payload length (bits 0..32) and checksum (bits
/// 32..64).
pub fn encode_meta(len: u32, crc: u32) -> u64 {
    len as u64 | (crc as u64) << 32
}

/// Splits the second header word.
pub fn decode_meta(w: u64) -> (u32, u32) {
    (w as u32, (w >> 32) as u32)
}

/// Checks that a committed record of `size` bytes at `offset` in a segment
/// of `segment_size` bytes can hold a `len`-byte payload.
pub fn committed_fits(offset: u64, size: u32, len: u32, segment_size: u64) -> bool {
    record_size(len) == size as u64 && offset + size as u64 <= segment_size
}

/// The immutable part of a segment header (bytes 0..64).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentHeader {
    /// The segment's size in bytes, header included.
    pub segment_size: u64,
    /// Its index: segment `i` holds ids `i * segment_size ..`.
    pub index: u64,
    /// The log's identity, copied from the control file.
    pub log_id: [u8; 16],
    /// Flags ([`SEGMENT_PLACEHOLDER`]); unknown bits are refused.
    pub flags: u32,
}

/// Why a header was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HeaderError {
    /// The magic number is wrong: not a file of this format.
    #[error("bad magic number {0:02x?}")]
    Magic([u8; 8]),
    /// Another version of the format.
    #[error("format version {0}, but this build reads only version {VERSION}: {advice}", advice = version_advice(*.0))]
    Version(u32),
    /// The checksum does not match.
    #[error("header checksum mismatch (stored {stored:#010x}, computed {computed:#010x})")]
    Checksum {
        /// As stored.
        stored: u32,
        /// As computed.
        computed: u32,
    },
    /// A field holds an impossible value.
    #[error("{0}")]
    Field(String),
}

/// What to do with a file of another format version.
fn version_advice(version: u32) -> &'static str {
    if version < VERSION {
        "the file was made by an older build of mapped; read it with that build \
         (for example `mapped log tail --format json`) and append its messages to a new log"
    } else {
        "the file was made by a newer build of mapped; use that build"
    }
}

impl SegmentHeader {
    /// Encodes bytes 0..64: magic, version, header length, segment size,
    /// index, log id, flags, checksum of bytes 0..60 at 60.
    pub fn encode(&self) -> [u8; 64] {
        let mut b = [0u8; 64];
        b[0..8].copy_from_slice(&SEGMENT_MAGIC);
        b[8..12].copy_from_slice(&VERSION.to_le_bytes());
        b[12..16].copy_from_slice(&(SEGMENT_HEADER_LEN as u32).to_le_bytes());
        b[16..24].copy_from_slice(&self.segment_size.to_le_bytes());
        b[24..32].copy_from_slice(&self.index.to_le_bytes());
        b[32..48].copy_from_slice(&self.log_id);
        b[48..52].copy_from_slice(&self.flags.to_le_bytes());
        let crc = crc32c::crc32c(&b[0..60]);
        b[60..64].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// Decodes and validates bytes 0..64.
    pub fn decode(b: &[u8; 64]) -> Result<SegmentHeader, HeaderError> {
        check_magic_version_crc(b, SEGMENT_MAGIC)?;
        let header_len = u32_at(b, 12) as u64;
        if header_len != SEGMENT_HEADER_LEN {
            return Err(HeaderError::Field(format!(
                "header length {header_len}, expected {SEGMENT_HEADER_LEN}"
            )));
        }
        let segment_size = u64_at(b, 16);
        check_segment_size(segment_size)?;
        let mut log_id = [0u8; 16];
        log_id.copy_from_slice(&b[32..48]);
        let flags = u32_at(b, 48);
        if flags & !SEGMENT_PLACEHOLDER != 0 {
            return Err(HeaderError::Field(format!(
                "unknown segment flags {flags:#x}"
            )));
        }
        Ok(SegmentHeader {
            segment_size,
            index: u64_at(b, 24),
            log_id,
            flags,
        })
    }
}

/// The immutable part of the control file (bytes 0..64).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ControlHeader {
    /// Size of every segment file.
    pub segment_size: u64,
    /// Largest payload accepted.
    pub max_message: u32,
    /// The log's identity (random at creation).
    pub log_id: [u8; 16],
    /// The permission bits every file of the log is made with (`0o600`
    /// unless the log is shared between users); at least `0o600`, at most
    /// `0o666`.
    pub file_mode: u32,
}

/// The file mode of a log that no one else shares.
pub const DEFAULT_FILE_MODE: u32 = 0o600;

/// Refuses file modes a log cannot use: its owner must read and write
/// every file, and no file is executable or special.
pub fn check_file_mode(mode: u32) -> Result<(), HeaderError> {
    if mode & !0o666 != 0 || mode & 0o600 != 0o600 {
        return Err(HeaderError::Field(format!(
            "file mode {mode:#o}: it must give its owner read and write (0600) and may add only read and write bits for group and others (at most 0666)"
        )));
    }
    Ok(())
}

impl ControlHeader {
    /// Encodes bytes 0..64: magic, version, slot count, segment size,
    /// max message, file mode, log id, checksum of bytes 0..60 at 60.
    pub fn encode(&self) -> [u8; 64] {
        let mut b = [0u8; 64];
        b[0..8].copy_from_slice(&CONTROL_MAGIC);
        b[8..12].copy_from_slice(&VERSION.to_le_bytes());
        b[12..16].copy_from_slice(&SLOTS.to_le_bytes());
        b[16..24].copy_from_slice(&self.segment_size.to_le_bytes());
        b[24..28].copy_from_slice(&self.max_message.to_le_bytes());
        b[28..32].copy_from_slice(&self.file_mode.to_le_bytes());
        b[32..48].copy_from_slice(&self.log_id);
        let crc = crc32c::crc32c(&b[0..60]);
        b[60..64].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// Decodes and validates bytes 0..64.
    pub fn decode(b: &[u8; 64]) -> Result<ControlHeader, HeaderError> {
        check_magic_version_crc(b, CONTROL_MAGIC)?;
        let slots = u32_at(b, 12);
        if slots != SLOTS {
            return Err(HeaderError::Field(format!(
                "{slots} appender slots, expected {SLOTS}"
            )));
        }
        let segment_size = u64_at(b, 16);
        check_segment_size(segment_size)?;
        let max_message = u32_at(b, 24);
        check_max_message(max_message, segment_size)?;
        let file_mode = u32_at(b, 28);
        check_file_mode(file_mode)?;
        let mut log_id = [0u8; 16];
        log_id.copy_from_slice(&b[32..48]);
        Ok(ControlHeader {
            segment_size,
            max_message,
            log_id,
            file_mode,
        })
    }
}

/// Refuses segment sizes the format cannot hold.
pub fn check_segment_size(size: u64) -> Result<(), HeaderError> {
    if !(MIN_SEGMENT_SIZE..=MAX_SEGMENT_SIZE).contains(&size) || size % RECORD_ALIGN != 0 {
        return Err(HeaderError::Field(format!(
            "segment size {size} is not a multiple of {RECORD_ALIGN} between {MIN_SEGMENT_SIZE} and {MAX_SEGMENT_SIZE}"
        )));
    }
    Ok(())
}

/// Refuses a maximum message that would not fit in one segment.
pub fn check_max_message(max: u32, segment_size: u64) -> Result<(), HeaderError> {
    if record_size(max) > segment_size - SEGMENT_HEADER_LEN {
        return Err(HeaderError::Field(format!(
            "maximum message of {max} bytes does not fit in a {segment_size}-byte segment"
        )));
    }
    Ok(())
}

fn check_magic_version_crc(b: &[u8; 64], magic: [u8; 8]) -> Result<(), HeaderError> {
    let mut m = [0u8; 8];
    m.copy_from_slice(&b[0..8]);
    if m != magic {
        return Err(HeaderError::Magic(m));
    }
    let version = u32_at(b, 8);
    if version != VERSION {
        return Err(HeaderError::Version(version));
    }
    let stored = u32_at(b, 60);
    let computed = crc32c::crc32c(&b[0..60]);
    if stored != computed {
        return Err(HeaderError::Checksum { stored, computed });
    }
    Ok(())
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn any_state() -> impl Strategy<Value = State> {
        prop_oneof![
            (0..SLOTS).prop_map(|slot| State::Writing { slot }),
            Just(State::Committed),
            Just(State::Padding),
        ]
    }

    proptest! {
        #[test]
        fn word_round_trips(size in 2u32..(1 << 28), state in any_state()) {
            let w = Word { size: size * 8, state };
            prop_assert_eq!(Word::decode(w.encode()), Some(w));
        }

        #[test]
        fn decode_never_accepts_misaligned_or_stray_bits(w: u64) {
            if let Some(word) = Word::decode(w) {
                prop_assert_eq!(word.encode(), w);
                prop_assert_eq!(word.size as u64 % RECORD_ALIGN, 0);
            }
        }

        #[test]
        fn segment_header_round_trips(size in 512u64..(1 << 28), index: u64, log_id: [u8; 16], placeholder: bool) {
            let flags = if placeholder { SEGMENT_PLACEHOLDER } else { 0 };
            let h = SegmentHeader { segment_size: size * 8, index, log_id, flags };
            prop_assert_eq!(SegmentHeader::decode(&h.encode()), Ok(h));
        }

        #[test]
        fn any_flipped_bit_in_a_header_is_refused(index: u64, bit in 0usize..(60 * 8)) {
            let h = SegmentHeader { segment_size: 1 << 20, index, log_id: [7; 16], flags: 0 };
            let mut b = h.encode();
            b[bit / 8] ^= 1 << (bit % 8);
            prop_assert!(SegmentHeader::decode(&b).is_err());
        }

        #[test]
        fn record_size_is_aligned_and_sufficient(len: u32) {
            let s = record_size(len);
            prop_assert_eq!(s % RECORD_ALIGN, 0);
            prop_assert!(s >= RECORD_HEADER_LEN + len as u64);
            prop_assert!(s < RECORD_HEADER_LEN + len as u64 + RECORD_ALIGN);
        }

        #[test]
        fn checksum_covers_length_and_bytes(payload: Vec<u8>, flip in any::<prop::sample::Index>()) {
            let c = checksum(&payload);
            if !payload.is_empty() {
                let mut p = payload.clone();
                let i = flip.index(p.len());
                p[i] ^= 0x5a;
                prop_assert_ne!(checksum(&p), c);
            }
            let mut longer = payload.clone();
            longer.push(0);
            prop_assert_ne!(checksum(&longer), c);
        }
    }

    /// The example headers of `docs/format.md` (sections 4 and 5), byte
    /// for byte.
    #[test]
    fn the_spec_examples_are_what_the_code_writes() {
        let log_id: [u8; 16] = std::array::from_fn(|i| i as u8 + 1);
        let control = ControlHeader {
            segment_size: 4096,
            max_message: 1000,
            log_id,
            file_mode: DEFAULT_FILE_MODE,
        };
        let spec: [u8; 64] = [
            0x4d, 0x4c, 0x4f, 0x47, 0x43, 0x54, 0x4c, 0x00, 0x02, 0x00, 0x00, 0x00, 0x30, 0x00,
            0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xe8, 0x03, 0x00, 0x00,
            0x80, 0x01, 0x00, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a,
            0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x1b, 0x96, 0xf1, 0x92,
        ];
        assert_eq!(control.encode(), spec);
        let segment = SegmentHeader {
            segment_size: 4096,
            index: 2,
            log_id,
            flags: 0,
        };
        let spec: [u8; 64] = [
            0x4d, 0x4c, 0x4f, 0x47, 0x53, 0x45, 0x47, 0x00, 0x02, 0x00, 0x00, 0x00, 0x80, 0x00,
            0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a,
            0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x40, 0xe3, 0xdd, 0x53,
        ];
        assert_eq!(segment.encode(), spec);
    }

    #[test]
    fn control_header_round_trips_and_checks_fit() {
        let h = ControlHeader {
            segment_size: 1 << 20,
            max_message: 1000,
            log_id: [1; 16],
            file_mode: DEFAULT_FILE_MODE,
        };
        assert_eq!(ControlHeader::decode(&h.encode()), Ok(h));
        let too_big = ControlHeader {
            segment_size: 4096,
            max_message: 4096,
            log_id: [1; 16],
            file_mode: DEFAULT_FILE_MODE,
        };
        assert!(matches!(
            ControlHeader::decode(&too_big.encode()),
            Err(HeaderError::Field(_))
        ));
    }
}
