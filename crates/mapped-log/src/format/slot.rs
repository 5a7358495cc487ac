//! Appender slot words: what a slot's owner is doing, so that a dead
//! owner's work can be finished by someone else (`docs/format.md`,
//! section 4.1). Who owns a slot is proved by a lock (`storage::locks`).
//!
//! | word | meaning |
//! |---|---|
//! | `0` | idle |
//! | `1 << 62 \| segment` | about to reserve in `segment`; position unknown |
//! | `2 << 62 \| id` | holds the record at `id` (its header may still be zero) |

const TAG_SHIFT: u32 = 62;
const LOW: u64 = (1 << TAG_SHIFT) - 1;

/// What a slot's owner is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SlotState {
    Idle,
    Reserving {
        segment: u64,
    },
    Holding {
        id: u64,
    },
    /// A value no honest appender writes.
    Invalid,
}

impl SlotState {
    pub(crate) fn encode(self) -> u64 {
        match self {
            SlotState::Idle => 0,
            SlotState::Reserving { segment } => 1 << TAG_SHIFT | (segment & LOW),
            SlotState::Holding { id } => 2 << TAG_SHIFT | (id & LOW),
            SlotState::Invalid => u64::MAX,
        }
    }

    pub(crate) fn decode(w: u64) -> SlotState {
        match w >> TAG_SHIFT {
            0 if w == 0 => SlotState::Idle,
            1 => SlotState::Reserving { segment: w & LOW },
            2 => SlotState::Holding { id: w & LOW },
            _ => SlotState::Invalid,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_words_round_trip() {
        for s in [
            SlotState::Idle,
            SlotState::Reserving { segment: 7 },
            SlotState::Holding { id: 123_456 },
        ] {
            assert_eq!(SlotState::decode(s.encode()), s);
        }
        assert_eq!(SlotState::decode(3 << 62), SlotState::Invalid);
    }
}
