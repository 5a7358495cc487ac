//! `mapped log tail DIR [--from begin|end|ID] [--name NAME] [--count N]
//! [--follow] [--format text|json] [--save-every DUR]`: print messages.
//!
//! Without `--follow` it prints the messages reserved when it starts and
//! exits: it waits a little (at most [`GRACE`]) for a record another
//! appender is still writing, and the reader repairs one whose appender died
//! (about 10 ms), so a crashed writer does not hide the messages after its
//! record. With `--follow` it blocks for new messages like `tail -f`, in
//! waits of [`POLL`] so that `SIGINT` and `SIGTERM` (status 0) are noticed.
//!
//! A log whose files this user may not write is read through a read-only
//! open (with a note on stderr): it cannot ask appenders to wake it, so it
//! looks for new messages every 10 ms, and it cannot repair a dead
//! appender's record, so it stops there with an error. `--name` needs
//! write access.
//!
//! A named reader (`--name`) resumes at its saved position and saves it
//! again as it goes: every `--save-every` (default [`SAVE_EVERY`]) while
//! messages flow, when it catches up, and at exit. It saves only positions
//! whose messages were written to stdout (flushed first), so a message may
//! be printed twice after a crash (at least once), never skipped; with
//! `--save-every 0` it saves after each message, and only a crash between
//! that message's flush and its save repeats it.

use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use base64::Engine;
use clap::{Args, ValueEnum};
use mapped_cli::count::parse_count;
use mapped_cli::duration::parse_interval;
use mapped_log::{Message, Reader, Start};

use super::open::{open, open_to_inspect};
use crate::cmd::stop;

/// How long one wait for a message lasts when following.
const POLL: Duration = Duration::from_millis(100);
/// How often a named reader saves its position while messages flow, by
/// default.
const SAVE_EVERY: &str = "100ms";
/// Without --follow: how long to wait, in all, for records that were
/// reserved before the start but are not committed yet.
const GRACE: Duration = Duration::from_millis(500);
/// Without --follow: one wait, within [`GRACE`].
const GRACE_STEP: Duration = Duration::from_millis(20);

/// Print the messages of the log in DIR, one per line.
///
/// Prints what is there and exits, or with --follow waits for more
/// (SIGINT or SIGTERM end it with status 0).
///
/// Reading can write to the log: a reader that may write it repairs what
/// a dead appender left unfinished, turning the record into padding (about
/// 10 ms after reaching it), so that the messages after it can be read. A
/// user who may only read the log gets a read-only reader, which repairs
/// nothing and stops with an error at such a record, naming it.
#[derive(Debug, Args)]
pub struct TailArgs {
    /// The log's directory.
    dir: PathBuf,
    /// Where to start: `begin` (the oldest message left), `end` (only
    /// messages appended from now on) or a message id. A named reader
    /// with a saved position starts there instead.
    #[arg(long, value_name = "WHERE", default_value = "begin", value_parser = parse_start)]
    from: Start,
    /// A named reader: resume where the last reader of this name stopped,
    /// and save the position (in DIR/readers/NAME) as messages are printed:
    /// every --save-every while messages flow, whenever it has printed all
    /// there is, and at exit. Only messages already written to stdout are
    /// saved as read, so delivery is at least once: a reader killed (or a
    /// system that crashed) before the next save prints the messages since
    /// the last one again next time, never skips any. Retention keeps what
    /// a named reader has not read. NAME: 1 to 64 of A-Z a-z 0-9 _ - . not
    /// starting with a dot.
    #[arg(long, value_name = "NAME", value_parser = parse_name)]
    name: Option<String>,
    /// Wait for new messages and print them as they come, until SIGINT or
    /// SIGTERM.
    #[arg(long, short = 'f')]
    follow: bool,
    /// Exit after printing N messages (at least 1).
    #[arg(long, value_name = "N", value_parser = parse_count)]
    count: Option<u64>,
    /// `text`: each payload's raw bytes and a newline (a payload holding a
    /// newline, which `mapped log append` never makes, spans lines). `json`:
    /// one object per line, keys in this order: `id` and `len` (numbers),
    /// then `payload`, a JSON string of the payload if it is valid UTF-8,
    /// else its base64 (standard alphabet, `=` padding) followed by
    /// `"encoding":"base64"`.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// With --name: how often to save the position while messages flow
    /// (500ms, 2s; a number alone is milliseconds). `0` saves it after
    /// every message, so that a reader killed at any time prints again at
    /// most the one message it was printing (each save writes, syncs and
    /// renames a small file, which slows a fast stream).
    #[arg(long, value_name = "DUR", default_value = SAVE_EVERY, value_parser = parse_interval,
          requires = "name")]
    save_every: Duration,
}

/// How messages are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Text,
    Json,
}

/// `begin`, `end` or an id.
fn parse_start(s: &str) -> Result<Start, String> {
    match s {
        "begin" | "beginning" => Ok(Start::Beginning),
        "end" => Ok(Start::End),
        _ => s
            .parse()
            .map(Start::Id)
            .map_err(|_| "expected begin, end or a message id".to_string()),
    }
}

/// A reader name as the library takes it: 1 to 64 of `A-Z a-z 0-9 _ - .`,
/// not starting with a dot (checked here too, so that a bad name is a
/// usage error).
pub(super) fn parse_name(s: &str) -> Result<String, String> {
    let ok = !s.is_empty()
        && s.len() <= 64
        && !s.starts_with('.')
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b));
    if ok {
        Ok(s.to_owned())
    } else {
        Err("a reader name is 1 to 64 of A-Z a-z 0-9 _ - . not starting with a dot".to_owned())
    }
}

/// Where the messages go, and the named reader's saving.
struct Printer<W: Write> {
    out: W,
    format: Format,
    follow: bool,
    named: bool,
    /// How often to save while messages flow.
    save_every: Duration,
    /// Messages printed since the position was last saved.
    unsaved: bool,
    last_save: Instant,
    printed: u64,
    /// The payload being printed: a checked copy, never a borrow of the
    /// log's mapping (`Message::copy_to`), so that no other process can
    /// change what is printed, or kill this one with `SIGBUS`.
    payload: Vec<u8>,
}

impl<W: Write> Printer<W> {
    fn print(&mut self, msg: &Message<'_>) -> Result<()> {
        msg.copy_to(&mut self.payload)?;
        let written = match self.format {
            Format::Text => self
                .out
                .write_all(&self.payload)
                .and_then(|()| self.out.write_all(b"\n")),
            Format::Json => self
                .out
                .write_all(json_line(msg.id(), &self.payload).as_bytes()),
        };
        written
            .and_then(|()| {
                if self.follow {
                    self.out.flush()
                } else {
                    Ok(())
                }
            })
            .context("write to stdout")?;
        self.printed += 1;
        self.unsaved = true;
        Ok(())
    }

    /// Saves a named reader's position (after flushing what it covers) if
    /// messages were printed since the last save and `now` is set or
    /// `save_every` has passed.
    fn save(&mut self, reader: &Reader, now: bool) -> Result<()> {
        if !self.named || !self.unsaved || !(now || self.last_save.elapsed() >= self.save_every) {
            return Ok(());
        }
        self.out.flush().context("write to stdout")?;
        reader.save()?;
        self.unsaved = false;
        self.last_save = Instant::now();
        Ok(())
    }
}

/// One message as a JSON object and a newline.
fn json_line(id: u64, payload: &[u8]) -> String {
    let (text, encoding) = match std::str::from_utf8(payload) {
        Ok(text) => (text.to_owned(), ""),
        Err(_) => (
            base64::engine::general_purpose::STANDARD.encode(payload),
            r#","encoding":"base64""#,
        ),
    };
    let text = serde_json::Value::String(text);
    format!(
        "{{\"id\":{},\"len\":{},\"payload\":{text}{encoding}}}\n",
        id,
        payload.len()
    )
}

/// Runs `mapped log tail`.
pub fn run(args: &TailArgs) -> Result<()> {
    // A named reader saves its position in the log's directory: it needs
    // write access. Without a name, a log this user may only read is
    // followed read-only.
    let log = match &args.name {
        Some(_) => open(&args.dir)?,
        None => open_to_inspect(
            &args.dir,
            "; it is looked at for new messages every 10 ms, and a record left \
             unfinished by a dead appender stops it with an error",
        )?,
    };
    let mut reader = match &args.name {
        Some(name) => log.named_reader(name, args.from)?,
        None => log.reader(args.from)?,
    };
    if let (Some(name), Some(saved)) = (&args.name, reader.resumed_from()) {
        eprintln!(
            "mapped: warning: reader {name}: its saved position {saved} lies in a range that \
             recovery or retention removed; resuming at the next message that exists ({})",
            reader.position()
        );
    }
    // Where the log ends now: without --follow, read up to here. A tail
    // segment that cannot be opened (damage) leaves no end to read to:
    // read on, and stop with the error where the reader meets it, after
    // every message before it.
    let end = log
        .reader(Start::End)
        .map(|r| r.position())
        .unwrap_or(u64::MAX);
    if args.follow {
        stop::catch_stop_signals();
    }
    // A new named reader saves where it started even if it prints nothing,
    // so that `--from end` marks the point it will resume from.
    let first_time = match &args.name {
        Some(name) => log.reader_position(name)?.is_none(),
        None => false,
    };
    let mut printer = Printer {
        out: BufWriter::new(io::stdout().lock()),
        format: args.format,
        follow: args.follow,
        named: args.name.is_some(),
        save_every: args.save_every,
        unsaved: first_time,
        last_save: Instant::now(),
        printed: 0,
        payload: Vec::new(),
    };
    let done = |p: &Printer<_>| args.count.is_some_and(|n| p.printed >= n);
    if args.follow {
        while !done(&printer) && !stop::stopped() {
            match reader.next(Some(POLL))? {
                Some(msg) => {
                    printer.print(&msg)?;
                    printer.save(&reader, false)?;
                }
                // Idle: a good moment to save.
                None => printer.save(&reader, true)?,
            }
        }
    } else {
        // Since when the reader has made no progress.
        let mut stuck_since: Option<Instant> = None;
        while !done(&printer) && reader.position() < end {
            // Committed messages come at once; an unfinished record is
            // waited for a little, or repaired if its appender died.
            let msg = match reader.try_next()? {
                Some(msg) => Some(msg),
                None if stuck_since.get_or_insert_with(Instant::now).elapsed() < GRACE => {
                    reader.next(Some(GRACE_STEP))?
                }
                None => break,
            };
            if let Some(msg) = msg {
                printer.print(&msg)?;
                stuck_since = None;
            }
            printer.save(&reader, false)?;
        }
    }
    printer.save(&reader, true)?;
    printer.out.flush().context("write to stdout")
}
