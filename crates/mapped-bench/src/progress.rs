//! Progress reporting: a trait, so that tests run silently and the CLI
//! draws a bar.

use std::cell::RefCell;

/// Told how a benchmark run advances. Called from the thread that called
/// [`run_io`](crate::run_io) or [`run_ipc`](crate::run_ipc) only.
pub trait Progress {
    /// A phase named `name` of `total` steps begins (ending any earlier
    /// phase).
    fn phase(&self, name: &str, total: u64);
    /// One more step of the current phase is done; `what` names it.
    fn step(&self, what: &str);
    /// The run is over.
    fn finish(&self) {}
}

/// Reports nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Progress for Silent {
    fn phase(&self, _: &str, _: u64) {}
    fn step(&self, _: &str) {}
}

/// A progress bar on standard error (`indicatif`); it draws nothing when
/// standard error is not a terminal.
#[derive(Debug, Default)]
pub struct Bar {
    bar: RefCell<Option<indicatif::ProgressBar>>,
}

impl Bar {
    /// A bar that appears with the first phase.
    pub fn new() -> Bar {
        Bar::default()
    }
}

impl Progress for Bar {
    fn phase(&self, name: &str, total: u64) {
        let bar = indicatif::ProgressBar::new(total);
        let style = indicatif::ProgressStyle::with_template(
            "{prefix:>12} [{bar:30}] {pos}/{len} {wide_msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> ");
        bar.set_style(style);
        bar.set_prefix(name.to_string());
        if let Some(old) = self.bar.replace(Some(bar)) {
            old.finish_and_clear();
        }
    }

    fn step(&self, what: &str) {
        if let Some(bar) = self.bar.borrow().as_ref() {
            bar.set_message(what.to_string());
            bar.inc(1);
        }
    }

    fn finish(&self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}
