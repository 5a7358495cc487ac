//! Checks of a subcommand's arguments beyond what clap parses.

use mapped_cli::size::parse_size;

/// Reports bad usage of `mapped log SUBCOMMAND` the way clap does (message
/// and usage on stderr, exit status 2), for what only the combination of
/// options can tell.
pub(super) fn usage_error(subcommand: &str, message: &str) -> ! {
    use clap::CommandFactory;
    let mut cli = crate::cli::Cli::command();
    cli.build();
    match cli
        .find_subcommand_mut("log")
        .and_then(|log| log.find_subcommand_mut(subcommand))
    {
        Some(cmd) => cmd.error(clap::error::ErrorKind::ValueValidation, message),
        None => cli.error(clap::error::ErrorKind::ValueValidation, message),
    }
    .exit()
}

/// A size that fits the library's 32-bit message lengths.
pub(super) fn parse_size_u32(s: &str) -> Result<u32, String> {
    let n = parse_size(s).map_err(|e| e.to_string())?;
    u32::try_from(n).map_err(|_| format!("{s} is too large (at most 4 GiB - 1)"))
}
