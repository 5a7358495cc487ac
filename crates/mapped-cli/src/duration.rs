//! Durations on the command line: `500ms`, `30s`, `10m`, `2h`, `7d`, `2w`.
//!
//! A number alone is seconds, as for `sleep`, except in options that have
//! always taken milliseconds (`mapped watch --interval 20`), which
//! [`parse_interval`] parses. Units are case-sensitive lower case (`m` is
//! minutes, `ms` milliseconds).

use std::error::Error;
use std::fmt;
use std::time::Duration;

/// A duration that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseDurationError {
    input: String,
    reason: &'static str,
}

impl fmt::Display for ParseDurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid duration '{}': {}", self.input, self.reason)
    }
}

impl Error for ParseDurationError {}

/// Parses decimal digits followed by an optional unit: `ms`, `s`, `m`,
/// `h`, `d` (24 hours) or `w` (7 days); no unit means seconds.
pub fn parse_duration(input: &str) -> Result<Duration, ParseDurationError> {
    let err = |reason| ParseDurationError {
        input: input.to_owned(),
        reason,
    };
    let digits_end = input
        .bytes()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(input.len());
    let (digits, unit) = input.split_at(digits_end);
    if digits.is_empty() {
        return Err(err("expected a number and a unit, like 30s, 10m, 2h or 7d"));
    }
    let number: u64 = digits.parse().map_err(|_| err("too large"))?;
    let millis_per_unit: u64 = match unit {
        "ms" => 1,
        "" | "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "w" => 604_800_000,
        _ => {
            return Err(err(
                "unknown unit (use ms, s, m, h, d or w, e.g. 30s or 7d)",
            ));
        }
    };
    number
        .checked_mul(millis_per_unit)
        .map(Duration::from_millis)
        .ok_or_else(|| err("too large"))
}

/// [`parse_duration`], except that a number alone is milliseconds: for
/// options that took a bare number of milliseconds before they took units
/// (`--interval 20` is `--interval 20ms`).
pub fn parse_interval(input: &str) -> Result<Duration, ParseDurationError> {
    if !input.is_empty() && input.bytes().all(|b| b.is_ascii_digit()) {
        return parse_duration(&format!("{input}ms")).map_err(|e| ParseDurationError {
            input: input.to_owned(),
            reason: e.reason,
        });
    }
    parse_duration(input)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        let s = Duration::from_secs;
        assert_eq!(parse_duration("0"), Ok(s(0)));
        assert_eq!(parse_duration("45"), Ok(s(45)));
        assert_eq!(parse_duration("30s"), Ok(s(30)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("10m"), Ok(s(600)));
        assert_eq!(parse_duration("2h"), Ok(s(7200)));
        assert_eq!(parse_duration("7d"), Ok(s(7 * 86_400)));
        assert_eq!(parse_duration("2w"), Ok(s(14 * 86_400)));
    }

    #[test]
    fn intervals_default_to_milliseconds() {
        let ms = Duration::from_millis;
        assert_eq!(parse_interval("20"), Ok(ms(20)));
        assert_eq!(parse_interval("0"), Ok(ms(0)));
        assert_eq!(parse_interval("500ms"), Ok(ms(500)));
        assert_eq!(parse_interval("2s"), Ok(ms(2000)));
        assert_eq!(parse_interval("1m"), Ok(ms(60_000)));
        for bad in ["", "ms", "-5", "1.5s", "5x"] {
            assert!(parse_interval(bad).is_err(), "{bad:?} parsed");
        }
        let msg = parse_interval("99999999999999999999")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("'99999999999999999999'"), "{msg}");
    }

    #[test]
    fn rejects() {
        for bad in [
            "",
            "s",
            "-1s",
            "1.5h",
            "3 d",
            "3D",
            "3y",
            "3dd",
            " 3s",
            "99999999999999999999",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} parsed");
        }
        assert!(parse_duration("18446744073709551615w").is_err());
        let msg = parse_duration("4q").unwrap_err().to_string();
        assert!(msg.contains("'4q'"), "{msg}");
    }
}
