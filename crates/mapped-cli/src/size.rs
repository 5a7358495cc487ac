//! Sizes on the command line: `4096`, `0x1000`, `4k`, `4KiB`, `1M`,
//! `1.5M`, `1GiB`.
//!
//! Units are binary: `k`, `K`, `KB` and `KiB` all mean 1024 bytes, as in
//! `dd` and `head -c`'s `K`. Suffixes are case-insensitive. A number with a
//! unit may have a fraction (`1.5M`, `0.25k`): the size is rounded to the
//! nearest whole byte, halves up, as `numfmt --from=iec` does; a number of
//! bytes (no unit, or `b`) must be whole.

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
/// in any case). With a unit other than `b`, the number may have a
/// fraction (`1.5M`), rounded to the nearest byte.
pub fn parse_size(input: &str) -> Result<u64, ParseSizeError> {
    let err = |reason| ParseSizeError {
        input: input.to_owned(),
        reason,
    };
    if let Some(rest) = input.strip_prefix('-') {
        // `-1`, `-1k`, `-.5M`: a negative number, not something else with
        // a dash in front (such as an option name).
        if rest.starts_with(|c: char| c.is_ascii_digit() || c == '.') {
            return Err(err("a size cannot be negative"));
        }
    }
    if let Some(hex) = input
        .strip_prefix("0x")
        .or_else(|| input.strip_prefix("0X"))
    {
        if hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(err("expected hexadecimal digits after 0x"));
        }
        return u64::from_str_radix(hex, 16).map_err(|_| err("too large"));
    }
    let number_end = input
        .bytes()
        .position(|b| !(b.is_ascii_digit() || b == b'.'))
        .unwrap_or(input.len());
    let (number, suffix) = input.split_at(number_end);
    let (whole, fraction) = match number.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (number, None),
    };
    if whole.is_empty() && fraction.is_none_or(str::is_empty) {
        return Err(err("expected a number, like 4096, 4k, 1.5M or 1GiB"));
    }
    if fraction.is_some_and(|f| f.contains('.')) {
        return Err(err("more than one decimal point"));
    }
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
    let whole: u64 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| err("too large"))?
    };
    let bytes = whole
        .checked_mul(1u64 << shift)
        .ok_or_else(|| err("too large"))?;
    let Some(fraction) = fraction.filter(|f| !f.is_empty()) else {
        return Ok(bytes);
    };
    // Exact decimal arithmetic: fraction / 10^digits of the unit, rounded
    // to the nearest byte, halves up. 19 digits keep 10^digits within a
    // u64, and the product within a u128.
    if fraction.len() > 19 {
        return Err(err("more than 19 digits after the decimal point"));
    }
    let numerator: u128 = fraction.parse().map_err(|_| err("too large"))?;
    if numerator == 0 {
        return Ok(bytes);
    }
    if shift == 0 {
        return Err(err(
            "a number of bytes must be whole (a fraction needs a unit, as in 1.5k)",
        ));
    }
    let denominator = 10u128.pow(fraction.len() as u32);
    let part = ((numerator << shift) + denominator / 2) / denominator;
    bytes
        .checked_add(part as u64)
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
        for bad in [
            "", "k", "-1", "4 k", "4kk", "4x", "0x", "0xg", " 4", ".", ".k", "1.5", "1.5b",
            "1..5k", "1.5.k", "0x1.8", "1.5x",
        ] {
            assert!(parse_size(bad).is_err(), "{bad:?} parsed");
        }
        assert!(parse_size("99999999999999999999").is_err());
        assert!(parse_size("16E").is_err());
        assert_eq!(parse_size("15E"), Ok(15 << 60));
        let msg = parse_size("4q").unwrap_err().to_string();
        assert!(msg.contains("'4q'"), "{msg}");
    }

    #[test]
    fn fractions_round_to_the_nearest_byte() {
        assert_eq!(parse_size("1.5M"), Ok(3 << 19));
        assert_eq!(parse_size("1.5k"), Ok(1536));
        assert_eq!(parse_size("0.5k"), Ok(512));
        assert_eq!(parse_size(".5k"), Ok(512));
        assert_eq!(parse_size("4.k"), Ok(4096));
        assert_eq!(parse_size("1.0"), Ok(1), "a fraction of zero is whole");
        assert_eq!(parse_size("2.25GiB"), Ok(9 << 28));
        // 102.4 bytes: down; 1.0005k = 1024.512 bytes: up; 0.0005k = 0.512.
        assert_eq!(parse_size("0.1k"), Ok(102));
        assert_eq!(parse_size("1.0005k"), Ok(1025));
        assert_eq!(parse_size("0.0005k"), Ok(1));
        // Exactly half a byte rounds up.
        assert_eq!(parse_size("0.00048828125k"), Ok(1));
        assert_eq!(parse_size("15.5E"), Ok((15 << 60) + (1 << 59)));
        assert!(parse_size("15.99999999999999999999E").is_err());
        assert!(
            parse_size("15.9999999999999999999E").is_err(),
            "rounds past the top"
        );
    }

    #[test]
    fn negative_sizes_say_so() {
        for bad in ["-1", "-1k", "-0.5M", "-.5k", "-0x10"] {
            let msg = parse_size(bad).unwrap_err().to_string();
            assert!(msg.contains("cannot be negative"), "{bad}: {msg}");
        }
        let msg = parse_size("--len").unwrap_err().to_string();
        assert!(!msg.contains("negative"), "{msg}");
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
