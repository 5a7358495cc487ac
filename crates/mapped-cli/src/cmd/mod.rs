//! The subcommands of `mapped`, one file each, and what they share.

pub mod bench;
pub mod cat;
pub mod demo;
pub mod file;
pub mod info;
pub mod log;
pub mod stop;
pub mod watch;
pub mod write;

/// Bad usage that only a subcommand can tell (a combination of options, a
/// value the library refuses). `main` reports it the way clap reports what
/// it parses, with the usage of the subcommand at `path`, and exits with
/// status 2.
#[derive(Debug)]
pub struct UsageError {
    /// The subcommand, as typed after `mapped` (`["log", "create"]`).
    pub path: &'static [&'static str],
    /// What is wrong.
    pub message: String,
}

impl UsageError {
    /// Bad usage of the subcommand at `path`.
    pub fn new(path: &'static [&'static str], message: impl Into<String>) -> UsageError {
        UsageError {
            path,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.message)
    }
}

impl std::error::Error for UsageError {}
