//! `mapped log recover DIR [--apply]`: explicit recovery: what it would
//! change, or (with `--apply`) what it changed.

use std::io::{self, Write};
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use mapped_log::{Log, RecoveryReport};

use mapped_cli::fields::plural;

use super::open::{open, with_hint};
use super::text::{leftovers_line, list};

/// Show how recovery would repair the log in DIR; with --apply, repair it.
///
/// Without --apply nothing changes: it lists the problems it finds and
/// what it would do about each. With --apply it releases the appender
/// slots of dead processes (their unfinished records become padding) and,
/// if no appender is alive, repairs damage to the log's files keeping
/// every valid record: a damaged range of records becomes padding (the
/// records after it keep their ids), a missing or unusable segment is
/// replaced by a placeholder, a file that must leave the log is moved into
/// DIR/quarantine/<time>-<pid>/ and every segment changed is copied there
/// first. Nothing is deleted, no id is handed out again, and the report
/// names every id range lost. It also removes the temporary files that
/// crashed processes left.
///
/// Exits 1 if damage is left that recovery cannot repair.
#[derive(Debug, Args)]
pub struct RecoverArgs {
    /// The log's directory.
    dir: PathBuf,
    /// Make the changes (without it, only show them).
    #[arg(long)]
    apply: bool,
}

/// Runs `mapped log recover`.
pub fn run(args: &RecoverArgs) -> Result<()> {
    let mut lines = Vec::new();
    // A control file that is missing or unreadable, beside segment files:
    // rebuilt from them first.
    std::fs::metadata(&args.dir).with_context(|| format!("open {}", args.dir.display()))?;
    let control = args.dir.join(mapped_log::CONTROL_FILE);
    let control_bad = matches!(
        Log::open_read_only(&args.dir),
        Err(mapped_log::LogError::NotALog { ref path, .. }) if *path == control
    );
    if control_bad {
        let rebuilt = Log::rebuild_control(&args.dir, args.apply)?;
        lines.extend(describe(&rebuilt, true));
        if !args.apply {
            lines.push(
                "dry run: nothing was changed; run again with --apply to rebuild the control file \
                 and check the rest of the log"
                    .to_owned(),
            );
            return print(&lines);
        }
    }
    let log = if args.apply {
        open(&args.dir)?
    } else {
        // A dry run changes nothing: not even restart recovery (which cuts
        // torn records on a read-write open) nor a missing lock file. It
        // looks through a read-only open.
        let ro = Log::open_read_only(&args.dir).map_err(|e| with_hint(&args.dir, e))?;
        if ro.restart_recovery_pending()? {
            lines.push(
                "the system restarted since the log was last used: with --apply (or any \
                 command that writes the log), restart recovery first checks the records \
                 past the durable position and cuts the log at the first torn one"
                    .to_owned(),
            );
        }
        ro
    };
    if let Some(restart) = log.restart_recovery() {
        lines.push(
            "restart recovery ran on open (the system restarted since the log was last used):"
                .to_owned(),
        );
        lines.extend(
            describe(restart, false)
                .into_iter()
                .map(|l| format!("  {l}")),
        );
    }
    let report = if args.apply {
        log.recover()?
    } else {
        log.recover_dry_run()?
    };
    let mut described = describe(&report, true);
    // Recovery checks the files only when no appender is alive.
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
            "the log's files were checked but not repaired: {alive}"
        ));
    }
    lines.extend(described);
    if !args.apply && !report.is_clean() {
        lines.push(
            "dry run: nothing was changed; run again with --apply to make these changes".to_owned(),
        );
    }
    if control_bad {
        // The rebuilt control file starts its durable position at the
        // first record: move it up to what is on disk now.
        let _ = log.sync();
    }
    print(&lines)?;
    if !report.unrepaired.is_empty() {
        for p in &report.unrepaired {
            eprintln!("mapped: not repaired: {p}");
        }
        bail!(
            "{} left that recovery cannot repair",
            plural(report.unrepaired.len() as u64, "problem")
        );
    }
    Ok(())
}

/// Prints `lines` to stdout.
fn print(lines: &[String]) -> Result<()> {
    let mut out = io::stdout().lock();
    out.write_all(lines.join("\n").as_bytes())
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush())
        .context("write to stdout")
}

/// A report in words, one line per fact: of explicit recovery, or of
/// restart recovery (which checks only past the durable position).
fn describe(r: &RecoveryReport, explicit: bool) -> Vec<String> {
    let (did, will) = if r.applied || !explicit {
        ("", "")
    } else {
        ("would be ", "would ")
    };
    let mut lines = Vec::new();
    if r.slots_released > 0 {
        lines.push(format!(
            "{}release{} {} of dead processes (their unfinished records {} padding)",
            will,
            if r.applied { "d" } else { "" },
            plural(r.slots_released.into(), "appender slot"),
            if r.applied { "became" } else { "become" },
        ));
    }
    for p in &r.problems {
        lines.push(format!("found: {p}"));
    }
    for c in &r.changes {
        lines.push(format!("{will}change: {c}"));
    }
    if r.holes_padded > 0 {
        lines.push(format!(
            "{}pad{} {} that dead appenders left unfinished",
            will,
            if r.applied { "ded" } else { "" },
            plural(r.holes_padded, "record")
        ));
    }
    match (r.cut_at, r.reason.as_deref()) {
        (Some(cut), Some(reason)) if !reason.is_empty() => {
            lines.push(format!("cut the log at id {cut}: {reason}"));
        }
        (Some(cut), _) => lines.push(format!("cut the log at id {cut}")),
        (None, Some(reason)) if !reason.is_empty() => lines.push(reason.to_owned()),
        (None, _) => {}
    }
    if r.bytes_zeroed > 0 {
        lines.push(format!(
            "zeroed {} of reserved space past the cut",
            plural(r.bytes_zeroed, "byte")
        ));
    }
    if !r.segments_removed.is_empty() {
        lines.push(format!(
            "moved {} past the cut out of the log: {}",
            plural(r.segments_removed.len() as u64, "segment"),
            list(&r.segments_removed)
        ));
    }
    if let Some(q) = &r.quarantine {
        lines.push(format!(
            "what left the log, and copies of what changed, are in {}",
            q.display()
        ));
    }
    if r.applied {
        lines.extend(leftovers_line(r.leftovers_removed));
    } else if r.leftovers_removed.files > 0 {
        lines.push(format!(
            "{} left by crashed processes {}removed",
            plural(r.leftovers_removed.files, "temporary file"),
            did
        ));
    }
    if r.is_clean() && r.problems.is_empty() {
        lines.push("nothing to repair".to_owned());
    }
    if explicit && r.from > 0 {
        lines.push(format!(
            "checked the whole log: {}",
            plural(r.kept, "valid message")
        ));
    } else if !explicit && r.from > 0 {
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
