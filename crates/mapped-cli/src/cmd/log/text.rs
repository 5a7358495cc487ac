//! Text that several subcommands print.

use mapped_cli::fields::plural;

/// A line about removed leftover temporary files, if there were any.
pub(super) fn leftovers_line(l: mapped_log::Leftovers) -> Option<String> {
    (l.files > 0).then(|| {
        format!(
            "removed {} left by crashed processes ({} freed)",
            plural(l.files, "temporary file"),
            mapped_cli::size::format_size(l.bytes)
        )
    })
}

/// `0, 1, 2`.
pub(super) fn list<T: ToString>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
