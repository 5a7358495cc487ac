//! `mapped log stat DIR [--json]`: a summary of a log.

use std::io::{self, Write};
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use mapped_cli::fields::{aligned, bytes, plural};
use mapped_log::Stat;

use super::open::open_to_inspect;
use super::text::list;

/// Show a summary of the log in DIR.
///
/// Segments, first and last id, message count, sizes, durable position,
/// named readers (and their positions; a reader whose file is damaged is
/// listed with what is wrong, and makes the command exit 1 after the
/// summary), live appenders (their slots), temporary files that crashed
/// processes left behind, id ranges lost to damage that a recovery
/// replaced, and every problem `mapped log verify` would report (each
/// named on stderr; they make the command exit 1 after the summary). A
/// log this user may not write is opened read-only (a note on stderr says
/// so).
#[derive(Debug, Args)]
pub struct StatArgs {
    /// The log's directory.
    dir: PathBuf,
    /// Print one JSON object instead, with the keys dir, segments,
    /// first_segment, last_segment, segments_ahead (segment files made
    /// ahead of the roll that will publish them), segment_size, max_message, first_id,
    /// last_id, messages, payload_bytes, file_bytes, durable_position,
    /// named_readers (an object: name to position), bad_readers (an
    /// object: name to what is wrong with its file), live_appenders (slot
    /// numbers), leftover_files and leftover_bytes (temporary files left by
    /// crashed processes, and the disk they hold), lost (an array of
    /// [first id, end id] pairs lost to damage that a recovery replaced)
    /// and problems (an array of objects with the keys kind, file,
    /// first_id, end_id, offset and what). Absent values are null.
    #[arg(long)]
    json: bool,
}

/// Runs `mapped log stat`.
pub fn run(args: &StatArgs) -> Result<()> {
    let log = open_to_inspect(&args.dir, "")?;
    let stat = log.stat()?;
    let dir = args.dir.to_string_lossy();
    let text = if args.json {
        json(&dir, &stat)
    } else {
        human(&dir, &stat)
    };
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .context("write to stdout")?;
    for p in &stat.problems {
        eprintln!("mapped: {p}");
    }
    if !stat.problems.is_empty() {
        bail!(
            "{} with the log's files; `mapped log recover {}` shows how it would repair them",
            plural(stat.problems.len() as u64, "problem"),
            args.dir.display()
        );
    }
    if let Some((_, first)) = stat.bad_readers.first() {
        bail!(
            "{first}{}",
            match stat.bad_readers.len() {
                1 => String::new(),
                n => format!(" (and {} more)", n - 1),
            }
        );
    }
    Ok(())
}

fn json(dir: &str, s: &Stat) -> String {
    let readers: serde_json::Map<String, serde_json::Value> = s
        .readers
        .iter()
        .map(|(name, pos)| (name.clone(), (*pos).into()))
        .collect();
    let bad: serde_json::Map<String, serde_json::Value> = s
        .bad_readers
        .iter()
        .map(|(name, why)| (name.clone(), why.clone().into()))
        .collect();
    let value = serde_json::json!({
        "dir": dir,
        "segments": s.segments.len(),
        "first_segment": s.first_segment,
        "last_segment": s.tail_segment,
        "segments_ahead": s.ahead.len(),
        "segment_size": s.segment_size,
        "max_message": s.max_message,
        "first_id": s.first_id,
        "last_id": s.last_id,
        "messages": s.messages,
        "payload_bytes": s.payload_bytes,
        "file_bytes": s.file_bytes,
        "durable_position": s.durable,
        "named_readers": readers,
        "bad_readers": bad,
        "live_appenders": s.live_appenders,
        "leftover_files": s.leftovers.files,
        "leftover_bytes": s.leftovers.bytes,
        "lost": s.lost.iter().map(|&(a, b)| [a, b]).collect::<Vec<_>>(),
        "problems": s.problems.iter().map(|p| serde_json::json!({
            "kind": format!("{:?}", p.kind),
            "file": p.segment.to_string_lossy(),
            "first_id": p.id,
            "end_id": p.end,
            "offset": p.offset,
            "what": p.what,
        })).collect::<Vec<_>>(),
    });
    format!("{value}\n")
}

fn human(dir: &str, s: &Stat) -> String {
    let or_none = |v: Option<u64>| v.map_or_else(|| "none".to_owned(), |v| v.to_string());
    let mut segments = match (s.segments.first(), s.segments.last()) {
        (Some(first), Some(last)) if first == last => format!("1 (index {first})"),
        (Some(first), Some(last)) => {
            format!("{} (indexes {first}..={last})", s.segments.len())
        }
        _ => "0".to_owned(),
    };
    if !s.ahead.is_empty() {
        segments.push_str(&format!(
            ", and {} {} made ahead",
            if s.ahead.len() == 1 {
                "segment"
            } else {
                "segments"
            },
            list(&s.ahead)
        ));
    }
    let readers = if s.readers.is_empty() && s.bad_readers.is_empty() {
        "none".to_owned()
    } else {
        s.readers
            .iter()
            .map(|(name, pos)| format!("{name} at {pos}"))
            .chain(
                s.bad_readers
                    .iter()
                    .map(|(name, _)| format!("{name} (damaged file)")),
            )
            .collect::<Vec<_>>()
            .join(", ")
    };
    let appenders = if s.live_appenders.is_empty() {
        "none".to_owned()
    } else {
        format!(
            "{} (slot {})",
            s.live_appenders.len(),
            list(&s.live_appenders)
        )
    };
    let leftovers = if s.leftovers.files == 0 {
        "none".to_owned()
    } else {
        format!(
            "{}, {}: `mapped log recover` removes them",
            plural(s.leftovers.files, "temporary file"),
            bytes(s.leftovers.bytes)
        )
    };
    let lost = if s.lost.is_empty() {
        "none".to_owned()
    } else {
        s.lost
            .iter()
            .map(|(a, b)| format!("ids {a} to {b}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let problems = match s.problems.len() {
        0 => "none".to_owned(),
        n => format!("{} (listed below)", plural(n as u64, "problem")),
    };
    let lines = [
        ("log", dir.to_owned()),
        ("segments", segments),
        ("segment size", bytes(s.segment_size)),
        ("max message", bytes(s.max_message.into())),
        ("first id", or_none(s.first_id)),
        ("last id", or_none(s.last_id)),
        ("messages", s.messages.to_string()),
        ("payload", bytes(s.payload_bytes)),
        ("files", bytes(s.file_bytes)),
        ("durable position", s.durable.to_string()),
        ("named readers", readers),
        ("live appenders", appenders),
        ("left by crashes", leftovers),
        ("lost to damage", lost),
        ("damage", problems),
    ];
    aligned(&lines)
}
