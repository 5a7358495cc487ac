//! Human-readable reports: aligned `key: value` lines, byte counts, plurals.

use crate::size::format_size;

/// `key: value` lines with the values aligned, each ending in a newline.
pub fn aligned(lines: &[(&str, String)]) -> String {
    let width = lines.iter().map(|(k, _)| k.len()).max().unwrap_or(0) + 1;
    lines
        .iter()
        .map(|(key, value)| format!("{:<width$} {value}\n", format!("{key}:")))
        .collect()
}

/// `n thing` or `n things`.
pub fn plural(n: u64, thing: &str) -> String {
    if n == 1 {
        format!("{n} {thing}")
    } else {
        format!("{n} {thing}s")
    }
}

/// `4096 bytes (4.0 KiB)`, or `100 bytes` below a KiB.
pub fn bytes(n: u64) -> String {
    let b = plural(n, "byte");
    if n < 1024 {
        b
    } else {
        format!("{b} ({})", format_size(n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_read_well() {
        assert_eq!(plural(1, "segment"), "1 segment");
        assert_eq!(plural(2, "segment"), "2 segments");
        assert_eq!(bytes(100), "100 bytes");
        assert_eq!(bytes(4096), "4096 bytes (4.0 KiB)");
        assert_eq!(
            aligned(&[("a", "1".into()), ("long key", "2".into())]),
            "a:        1\nlong key: 2\n"
        );
    }
}
