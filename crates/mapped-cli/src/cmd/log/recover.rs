//! `mapped log recover DIR`: explicit recovery, and what it changed.

use std::io::{self, Write};
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use mapped_log::RecoveryReport;

use super::{list, plural};

/// Repair the log in DIR after crashed processes, and say what changed.
///
/// Releases the appender slots of dead processes (their unfinished records
/// become padding) and, if no appender is alive, checks every record past
/// the durable position and cuts the log at the first invalid one.
#[derive(Debug, Args)]
pub struct RecoverArgs {
    /// The log's directory.
    dir: PathBuf,
}

/// Runs `mapped log recover`.
pub fn run(args: &RecoverArgs) -> Result<()> {
    let log = super::open(&args.dir)?;
    let mut lines = Vec::new();
    if let Some(restart) = log.restart_recovery() {
        lines.push(
            "restart recovery ran on open (the system restarted since the log was last used):"
                .to_owned(),
        );
        lines.extend(describe(restart).into_iter().map(|l| format!("  {l}")));
    }
    let report = log.recover()?;
    let mut described = describe(&report);
    // Recovery checks past the durable position (at least the first
    // record's id, never 0) only when no appender is alive.
    if report.from == 0 {
        let (live, _) = log.appender_slots()?;
        let alive = if live.is_empty() {
            "an appender was alive".to_owned()
        } else {
            format!(
                "{} alive (slot {})",
                plural(live.len() as u64, "appender"),
                list(&live)
            )
        };
        described.push(format!(
            "records past the durable position not checked: {alive}"
        ));
    }
    lines.extend(described);
    let mut out = io::stdout().lock();
    out.write_all(lines.join("\n").as_bytes())
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush())
        .context("write to stdout")
}

/// A report in words, one line per fact.
fn describe(r: &RecoveryReport) -> Vec<String> {
    let mut lines = Vec::new();
    if r.slots_released > 0 {
        lines.push(format!(
            "released {} of dead processes (their unfinished records became padding)",
            plural(r.slots_released.into(), "appender slot")
        ));
    }
    if let Some(cut) = r.cut_at {
        match r.reason.as_deref() {
            Some(reason) if !reason.is_empty() => {
                lines.push(format!("cut the log at id {cut}: {reason}"));
            }
            _ => lines.push(format!("cut the log at id {cut}")),
        }
    }
    if r.bytes_zeroed > 0 {
        lines.push(format!(
            "zeroed {} of reserved space past the cut",
            plural(r.bytes_zeroed, "byte")
        ));
    }
    if !r.segments_removed.is_empty() {
        lines.push(format!(
            "removed {} past the cut: {}",
            plural(r.segments_removed.len() as u64, "segment"),
            list(&r.segments_removed)
        ));
    }
    lines.extend(super::leftovers_line(r.leftovers_removed));
    if r.is_clean() {
        lines.push("nothing to repair".to_owned());
    }
    if r.from > 0 {
        lines.push(format!(
            "checked {} past the durable position (id {}): {}",
            plural(r.kept, "committed record"),
            r.from,
            if r.cut_at.is_some() {
                "kept up to the cut"
            } else {
                "all valid"
            }
        ));
    }
    lines
}
