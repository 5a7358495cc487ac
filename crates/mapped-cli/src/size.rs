//! Sizes on the command line: `4096`, `0x1000`, `4k`, `4KiB`, `1M`, `1GiB`.
//!
//! Units are binary: `k`, `K`, `KB` and `KiB` all mean 1024 bytes, as in
//! `dd` and `head -c`'s `K`. Suffixes are case-insensitive.

use std::error::Error;
use std::fmt;

/// A size that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseSizeError {
    input: String,
    reason: &'static str,
}

impl fmt::Display for ParseSizeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid size '{}': {}", self.input, self.reason)
    }
}

impl Error for ParseSizeError {}

/// Parses a byte count: decimal digits (or `0x` and hex digits) followed by
/// an optional binary unit (`b`, `k`/`kb`/`kib`, `m`, `g`, `t`, `p`, `e`,
/// in any case).
pub fn parse_size(input: &str) -> Result<u64, ParseSizeError> {
    let err = |reason| ParseSizeError {
        input: input.to_owned(),
        reason,
    };
    if let Some(hex) = input
        .strip_prefix("0x")
        .or_else(|| input.strip_prefix("0X"))
    {
        if hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(err("expected hexadecimal digits after 0x"));
        }
        return u64::from_str_radix(hex, 16).map_err(|_| err("too large"));
    }
    let digits_end = input
        .bytes()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(input.len());
    let (digits, suffix) = input.split_at(digits_end);
    if digits.is_empty() {
        return Err(err("expected a number, like 4096, 4k or 1GiB"));
    }
    let number: u64 = digits.parse().map_err(|_| err("too large"))?;
    let shift = match suffix.to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        "p" | "pb" | "pib" => 50,
        "e" | "eb" | "eib" => 60,
        _ => {
            return Err(err(
                "unknown unit (use k, M, G, T, P or E, e.g. 4k or 1GiB)",
            ));
        }
    };
    number
        .checked_mul(1u64 << shift)
        .ok_or_else(|| err("too large"))
}

/// A byte count for people: `1023 B`, `4.0 KiB`, `1.5 GiB`.
pub fn format_size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_suffixed() {
        assert_eq!(parse_size("0"), Ok(0));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("4k"), Ok(4096));
        assert_eq!(parse_size("4K"), Ok(4096));
        assert_eq!(parse_size("4KiB"), Ok(4096));
        assert_eq!(parse_size("4kb"), Ok(4096));
        assert_eq!(parse_size("1M"), Ok(1 << 20));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("2t"), Ok(2 << 40));
        assert_eq!(parse_size("10b"), Ok(10));
        assert_eq!(parse_size("0x1000"), Ok(4096));
        assert_eq!(parse_size("0XfF"), Ok(255));
    }

    #[test]
    fn rejects() {
        for bad in ["", "k", "-1", "1.5k", "4 k", "4kk", "4x", "0x", "0xg", " 4"] {
            assert!(parse_size(bad).is_err(), "{bad:?} parsed");
        }
        assert!(parse_size("99999999999999999999").is_err());
        assert!(parse_size("16E").is_err());
        assert_eq!(parse_size("15E"), Ok(15 << 60));
        let msg = parse_size("4q").unwrap_err().to_string();
        assert!(msg.contains("'4q'"), "{msg}");
    }

    #[test]
    fn formats() {
        assert_eq!(format_size(0), "0 B");
        assert_eq!(format_size(1023), "1023 B");
        assert_eq!(format_size(1024), "1.0 KiB");
        assert_eq!(format_size(1536), "1.5 KiB");
        assert_eq!(format_size(1 << 30), "1.0 GiB");
        assert_eq!(format_size(u64::MAX), "16.0 EiB");
    }
}
