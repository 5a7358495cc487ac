//! Checks of a subcommand's arguments beyond what clap parses.

use mapped_cli::size::parse_size;

/// A size that fits the library's 32-bit message lengths.
pub(super) fn parse_size_u32(s: &str) -> Result<u32, String> {
    let n = parse_size(s).map_err(|e| e.to_string())?;
    u32::try_from(n).map_err(|_| format!("{s} is too large (at most 4 GiB - 1)"))
}
