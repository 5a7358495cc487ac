//! Counts on the command line (`--count K`): whole numbers from 1.

/// Parses a count of at least 1: `--count 0` would ask for nothing at all,
/// which is more likely a slip than a wish.
pub fn parse_count(input: &str) -> Result<u64, String> {
    match input.parse::<u64>() {
        Ok(0) => Err("must be at least 1".to_owned()),
        Ok(n) => Ok(n),
        Err(_) if input.starts_with('-') => Err("a count cannot be negative".to_owned()),
        Err(_) => Err("expected a whole number, at least 1".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts() {
        assert_eq!(parse_count("1"), Ok(1));
        assert_eq!(parse_count("25"), Ok(25));
        assert!(parse_count("0").unwrap_err().contains("at least 1"));
        assert!(parse_count("-3").unwrap_err().contains("negative"));
        for bad in ["", "x", "1.5", "99999999999999999999"] {
            assert!(parse_count(bad).is_err(), "{bad:?} parsed");
        }
    }
}
