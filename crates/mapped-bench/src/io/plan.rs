//! How much each I/O experiment does at each [`Scale`].

use crate::Scale;

/// The operation sizes of the read matrix.
pub(crate) const SIZES: [u64; 4] = [64, 4 << 10, 64 << 10, 1 << 20];

/// Operation counts and sizes for one run.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    /// Timed repetitions of each warm row (after one warm-up round).
    pub(crate) reps: usize,
    /// Timed repetitions of each cold row (each after an eviction).
    pub(crate) cold_reps: usize,
    /// Cold random operations of 4 KiB and of 64 KiB.
    pub(crate) cold_random_ops: (usize, usize),
    /// Cold sequential operations of 1 MiB.
    pub(crate) cold_seq_ops: usize,
    /// Size of the scratch file the write experiments use.
    pub(crate) write_file_len: u64,
    /// Writes per timed write row (distinct pages).
    pub(crate) write_ops: usize,
    /// Writes made durable one at a time, per durability row.
    pub(crate) durable_ops: usize,
    /// Pages written before one sync, in the batched durability rows.
    pub(crate) batch_pages: usize,
    /// Bytes mapped or copied for the memory comparison.
    pub(crate) memory_len: u64,
    scale: Scale,
}

impl Plan {
    pub(crate) fn new(scale: Scale) -> Plan {
        Plan {
            reps: scale.pick(5, 3, 2),
            cold_reps: scale.pick(3, 2, 1),
            cold_random_ops: scale.pick((4000, 1000), (1000, 250), (16, 4)),
            cold_seq_ops: scale.pick(256, 64, 2),
            write_file_len: scale.pick(256 << 20, 64 << 20, 2 << 20),
            write_ops: scale.pick(50_000, 10_000, 64),
            durable_ops: scale.pick(200, 40, 3),
            batch_pages: scale.pick(256, 256, 8),
            memory_len: scale.pick(256 << 20, 64 << 20, 2 << 20),
            scale,
        }
    }

    /// Operations per warm repetition for operations of `size` bytes.
    pub(crate) fn warm_ops(&self, size: u64) -> usize {
        let (full, quick, smoke) = match size {
            64 => (200_000, 30_000, 64),
            s if s <= 4096 => (100_000, 20_000, 64),
            s if s <= 65536 => (8_000, 2_000, 8),
            _ => (512, 128, 2),
        };
        self.scale.pick(full, quick, smoke)
    }

    /// Cap on `map_per_op` operations per repetition: at several
    /// microseconds each, the full counts would dominate the run.
    pub(crate) fn map_per_op_cap(&self) -> usize {
        self.scale.pick(20_000, 5_000, usize::MAX)
    }

    /// The file size to create when none is given: the scale's size,
    /// capped at a quarter of the available memory (it must stay cached
    /// for the warm rows) and a quarter of the free disk.
    pub(crate) fn default_file_len(
        &self,
        mem_available: Option<u64>,
        disk_free: Option<u64>,
    ) -> u64 {
        let want: u64 = self.scale.pick(4 << 30, 256 << 20, 8 << 20);
        let cap = [mem_available, disk_free]
            .into_iter()
            .flatten()
            .map(|v| v / 4)
            .min()
            .unwrap_or(want);
        // Whole MiB, and never less than the largest operation twice over.
        (want.min(cap) >> 20 << 20).max(4 << 20)
    }

    /// The region repeatedly hit by the "hot" access pattern: an eighth of
    /// the file, at most 64 MiB, at least 4 MiB.
    pub(crate) fn hot_len(&self, file_len: u64) -> u64 {
        (file_len / 8).clamp(4 << 20, 64 << 20).min(file_len)
    }
}
