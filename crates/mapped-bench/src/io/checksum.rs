//! What every read method does with the bytes it reads.

/// The use every method makes of the bytes: a sum of little-endian words,
/// which the compiler vectorizes, so it costs about as much as reading.
#[inline]
pub(crate) fn checksum(b: &[u8]) -> u64 {
    let mut words = b.chunks_exact(8);
    let mut sum = 0u64;
    for w in &mut words {
        sum = sum.wrapping_add(u64::from_le_bytes(w.try_into().expect("8 bytes")));
    }
    for &x in words.remainder() {
        sum = sum.wrapping_add(x as u64);
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_counts_every_byte() {
        let mut b = [0u8; 19];
        b[0] = 1;
        b[18] = 2;
        assert_eq!(checksum(&b), 3);
    }
}
