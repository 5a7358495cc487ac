//! `mapped demo`: a guided tour of shared file mappings, in a temporary
//! folder.
//!
//! Each section is a function in [`SECTIONS`]; the tour runs them in order,
//! under a heading each. Other processes are this same program, run again
//! ([`std::env::current_exe`]), so the tour needs nothing but the `mapped`
//! binary: `t_mmap` runs as the hidden subcommand [`T_MMAP_COMMAND`], which
//! is exactly the `t_mmap` binary's code.

use std::ffi::OsStr;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;
use mapped::{MapOptions, Mapping, Mode};
use mapped_cli::od;
use mapped_cli::reaped::Reaped;

/// The hidden subcommand that runs `t_mmap`: `mapped __t_mmap FILE [VALUE]`.
pub const T_MMAP_COMMAND: &str = "__t_mmap";

/// How long the tour waits for a child process to say something.
const CHILD_TIMEOUT: Duration = Duration::from_secs(5);

/// A guided tour of shared file mappings, in a temporary folder.
///
/// The book's t_mmap session, two processes sharing a mapping live, a value
/// surviving a restart, a truncation that gives an error, not SIGBUS, and a
/// message log shared by processes, one of them killed mid-message.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Work in DIR (created if needed) and keep the files there, instead of
    /// in a temporary folder removed at the end.
    #[arg(long, value_name = "DIR")]
    keep: Option<PathBuf>,
}

/// One section of the tour.
struct Section {
    title: &'static str,
    run: fn(&mut Tour) -> Result<()>,
}

/// The tour, in order. A new section is a function and a line here.
const SECTIONS: &[Section] = &[
    Section {
        title: "The book's session: TLPI Listing 49-2, t_mmap",
        run: book_session,
    },
    Section {
        title: "Two processes, one mapping, live",
        run: live_sharing,
    },
    Section {
        title: "Persistence across a restart",
        run: persistence,
    },
    Section {
        title: "Truncation under a live mapping: an error, not SIGBUS",
        run: truncation,
    },
    Section {
        title: "A message log: followers, restarts and a killed writer",
        run: message_log,
    },
    Section {
        title: "Beyond one machine: a log through NATS JetStream",
        run: beyond_one_machine,
    },
    Section {
        title: "Should I map this file? Measured on this machine",
        run: should_i_map,
    },
];

/// Runs `mapped demo`.
pub fn run(args: &DemoArgs) -> Result<()> {
    let (temp, dir) = match &args.keep {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("create directory {}", dir.display()))?;
            (None, dir.clone())
        }
        None => {
            let temp = tempfile::Builder::new()
                .prefix("mapped-demo.")
                .tempdir()
                .context("create a temporary directory")?;
            let dir = temp.path().to_path_buf();
            (Some(temp), dir)
        }
    };
    let exe = std::env::current_exe().context("find this program, to run it as a child")?;
    let mut tour = Tour {
        dir,
        exe,
        out: io::stdout().lock(),
    };
    tour.say(&format!(
        "mapped demo: shared file mappings, in {}\n\
         Each `$ t_mmap` and `$ mapped` line is a separate process: this\n\
         program, run again.",
        tour.dir.display()
    ))?;
    for (i, section) in SECTIONS.iter().enumerate() {
        let heading = format!("{}. {}", i + 1, section.title);
        tour.say(&format!("\n{heading}\n{}\n", "=".repeat(heading.len())))?;
        (section.run)(&mut tour)?;
    }
    match temp {
        Some(temp) => {
            let shown = temp.path().display().to_string();
            temp.close()
                .with_context(|| format!("remove the demo's directory {shown}"))?;
            tour.say(&format!("\nDone; {shown} has been removed."))
        }
        None => tour.say(&format!("\nDone; the files are in {}.", tour.dir.display())),
    }
}

/// The tour's state: where its files are, how to run a child, where to print.
struct Tour {
    dir: PathBuf,
    exe: PathBuf,
    out: io::StdoutLock<'static>,
}

impl Tour {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Prints `text` and a newline.
    fn say(&mut self, text: &str) -> Result<()> {
        writeln!(self.out, "{text}")
            .and_then(|()| self.out.flush())
            .context("write to stdout")
    }

    /// Prints a child's output, indented, ending with a newline.
    fn echo(&mut self, bytes: &[u8]) -> Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        let text = bytes.strip_suffix(b"\n").unwrap_or(bytes);
        for line in text.split(|&b| b == b'\n') {
            self.out
                .write_all(b"    ")
                .and_then(|()| self.out.write_all(line))
                .and_then(|()| self.out.write_all(b"\n"))
                .context("write to stdout")?;
        }
        self.out.flush().context("write to stdout")
    }

    /// A child process of this program, in the tour's directory.
    fn command<S: AsRef<OsStr>>(&self, args: &[S]) -> Command {
        let mut cmd = Command::new(&self.exe);
        cmd.args(args).current_dir(&self.dir);
        cmd
    }

    /// Shows `$ shown`, runs this program with `args` in the tour's
    /// directory, and shows what it printed. Fails if the child does.
    fn shell(&mut self, shown: &str, args: &[&str]) -> Result<()> {
        self.shell_input(shown, args, b"")
    }

    /// [`shell`](Self::shell), with `input` as the child's stdin (never
    /// the tour's own: a child reading it would wait for the terminal).
    fn shell_input(&mut self, shown: &str, args: &[&str], input: &[u8]) -> Result<()> {
        self.say(&format!("    $ {shown}"))?;
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("run `{shown}`"))?;
        // Small inputs fit in the pipe: written before the output is read.
        let mut stdin = child
            .stdin
            .take()
            .context("the child's input is not a pipe")?;
        stdin
            .write_all(input)
            .with_context(|| format!("write the input of `{shown}`"))?;
        drop(stdin);
        let output = child
            .wait_with_output()
            .with_context(|| format!("run `{shown}`"))?;
        self.echo(&output.stdout)?;
        self.echo(&output.stderr)?;
        if !output.status.success() {
            bail!("`{shown}` failed ({})", output.status);
        }
        Ok(())
    }
}

/// (a) The book's session, byte for byte, each `t_mmap` a separate process.
fn book_session(t: &mut Tour) -> Result<()> {
    t.say(
        "t_mmap maps the first 10 bytes of a file MAP_SHARED, prints them, and\n\
         stores a new value there. Each run is a new process, so the second run\n\
         finds what the first stored: the mapping *is* the file. (The tour\n\
         does the dd and the od itself, with the same result.)\n",
    )?;
    let path = t.path("s.txt");
    t.say("    $ dd if=/dev/zero of=s.txt bs=1 count=1024")?;
    std::fs::write(&path, [0u8; 1024]).with_context(|| format!("write {}", path.display()))?;
    for value in ["hello", "goodbye"] {
        t.shell(
            &format!("t_mmap s.txt {value}"),
            &[T_MMAP_COMMAND, "s.txt", value],
        )?;
    }
    t.say("    $ od -c -w8 s.txt")?;
    let bytes = std::fs::read(&path).with_context(|| format!("read {}", path.display()))?;
    t.echo(od::dump_c(&bytes, 8).as_bytes())?;
    t.say(
        "\nThe value reached the file itself: msync(MS_SYNC) wrote it back before\n\
         t_mmap said \"Copied\".",
    )
}

/// A child's stdout, line by line (without the newline), read on a thread
/// so that the tour can give up on a silent child.
struct ChildLines {
    who: &'static str,
    rx: mpsc::Receiver<io::Result<Vec<u8>>>,
}

impl ChildLines {
    /// Takes `child`'s piped stdout; `who` names the child in errors.
    fn of(child: &mut Reaped, who: &'static str) -> Result<ChildLines> {
        let stdout = child
            .0
            .stdout
            .take()
            .with_context(|| format!("the output of {who} is not a pipe"))?;
        let (lines, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).split(b'\n') {
                if lines.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(ChildLines { who, rx })
    }

    /// The next line, waiting at most [`CHILD_TIMEOUT`].
    fn next(&self) -> Result<Vec<u8>> {
        let who = self.who;
        match self.rx.recv_timeout(CHILD_TIMEOUT) {
            Ok(line) => line.with_context(|| format!("read the output of {who}")),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                bail!("{who} printed nothing for {CHILD_TIMEOUT:?}")
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => bail!("{who} exited early"),
        }
    }
}

/// (b) A watcher process sees each store the tour makes, without reopening.
fn live_sharing(t: &mut Tour) -> Result<()> {
    const LEN: usize = 16;
    let values = ["hello", "from the", "other process"];
    t.say(
        "The tour maps shared.bin read-write; a child process maps it read-only\n\
         and polls the mapping (`mapped watch`). Each store below is a plain\n\
         memory copy: no write(2), no msync. The child sees it at once, because\n\
         both mappings are the same physical pages of the page cache.\n",
    )?;
    let path = t.path("shared.bin");
    let map = Mapping::create(&path, 4096)?;

    let count = (values.len() + 1).to_string();
    let len = LEN.to_string();
    let args = [
        "watch",
        "shared.bin",
        "--len",
        &len,
        "--count",
        &count,
        "--interval",
        "5",
        "--cstr",
    ];
    t.say(&format!("    $ mapped {} &", args.join(" ")))?;
    let mut child = Reaped(
        t.command(&args)
            .stdout(Stdio::piped())
            .spawn()
            .context("run mapped watch")?,
    );
    let rx = ChildLines::of(&mut child, "the watcher")?;
    let next_line = |t: &mut Tour| -> Result<()> {
        let line = rx.next()?;
        let mut shown = b"    watcher | \"".to_vec();
        shown.extend_from_slice(&line);
        shown.extend_from_slice(b"\"\n");
        t.out
            .write_all(&shown)
            .and_then(|()| t.out.flush())
            .context("write to stdout")
    };
    // The initial contents: the watcher has mapped the file.
    next_line(t)?;
    for value in values {
        let mut bytes = [0u8; LEN];
        bytes[..value.len()].copy_from_slice(value.as_bytes());
        map.write_at(0, &bytes)?;
        t.say(&format!("    writer  | stored \"{value}\""))?;
        next_line(t)?;
    }
    let status = child.0.wait().context("wait for the watcher")?;
    if !status.success() {
        bail!("mapped watch failed ({status})");
    }
    t.say(
        "\nThe watcher printed its initial view, then each change, and exited after\n\
         --count lines. Readers that must not spin can sleep on a futex in the\n\
         mapping instead (the library's wait/wake).",
    )
}

/// (c) One process stores and flushes, exits; a fresh one reads the value.
fn persistence(t: &mut Tour) -> Result<()> {
    t.say(
        "A process creates state.bin (--grow), stores a value through a mapping,\n\
         waits for the disk (--sync: msync MS_SYNC) and exits. A fresh process\n\
         maps the file and reads the value back.\n",
    )?;
    t.shell(
        "mapped write state.bin --offset 0 'survives a restart' --grow --sync",
        &[
            "write",
            "state.bin",
            "--offset",
            "0",
            "survives a restart",
            "--grow",
            "--sync",
        ],
    )?;
    t.shell("mapped cat state.bin", &["cat", "state.bin"])?;
    t.say(
        "\nWithout --sync the bytes would still be in the page cache for the next\n\
         process; --sync is what makes them survive a system crash or power loss too.",
    )
}

/// (d) The file shrinks under a live mapping: the reader gets an error.
fn truncation(t: &mut Tour) -> Result<()> {
    let page = mapped::page_size() as u64;
    let path = t.path("victim.bin");
    {
        let writer = Mapping::create(&path, 2 * page)?;
        writer.write_at(0, b"page one")?;
        writer.write_at(page, b"page two")?;
    }
    let open = |path: &Path| -> Result<Mapping> {
        let file = File::open(path).with_context(|| format!("open {}", path.display()))?;
        // Messages name the file as the user sees it in the tour.
        Ok(MapOptions::new()
            .mode(Mode::ReadOnly)
            .map_file(file, "victim.bin")?)
    };
    let reader = open(&path)?;
    t.say(&format!(
        "A reader maps all of victim.bin ({} bytes: two pages) and reads both:\n",
        2 * page
    ))?;
    let mut buf = [0u8; 8];
    for offset in [0, page] {
        reader.read_at(offset, &mut buf)?;
        t.say(&format!(
            "    reader  | offset {offset}: \"{}\"",
            buf.escape_ascii()
        ))?;
    }
    t.say(
        "\nNow the file is cut to 100 bytes behind the reader's back (ftruncate,\n\
         which any process that may write the file can call at any time). The\n\
         mapping still spans two pages, but the second has no file behind it:\n\
         with plain mmap, touching it kills the reader with SIGBUS.\n",
    )?;
    OpenOptions::new()
        .write(true)
        .open(&path)
        .and_then(|f| f.set_len(100))
        .with_context(|| format!("truncate {}", path.display()))?;
    t.say("    other   | ftruncate(victim.bin, 100)")?;
    for offset in [page, 0] {
        match reader.read_at(offset, &mut buf) {
            Ok(()) => bail!("reading offset {offset} of the truncated file did not fail"),
            Err(e) => t.say(&format!("    reader  | offset {offset}: error: {e}"))?,
        }
    }
    t.say(
        "\nThe library caught the SIGBUS and turned it into an error. The mapping\n\
         is now poisoned (even page one fails), since it no longer mirrors the\n\
         file. Opening the file again maps what is there:\n",
    )?;
    let again = open(&path)?;
    again.read_at(0, &mut buf)?;
    t.say(&format!(
        "    reader  | reopened: {} bytes mapped; offset 0: \"{}\"",
        again.len(),
        buf.escape_ascii()
    ))
}

/// Sends `signal` to a child the tour started and has not reaped.
fn signal(child: &Reaped, signal: libc::c_int) -> Result<()> {
    let pid = libc::pid_t::try_from(child.0.id()).context("a child's pid out of range")?;
    // SAFETY: kill(2) runs no code of ours; the child is not reaped yet, so
    // its pid still names it.
    if unsafe { libc::kill(pid, signal) } != 0 {
        return Err(io::Error::last_os_error()).context("signal a child process");
    }
    Ok(())
}

/// (e) `mapped log`: a follower and an appender, a named reader across a
/// restart, and a writer killed in the middle of a message.
fn message_log(t: &mut Tour) -> Result<()> {
    t.say(
        "mapped-log keeps messages in a directory of segment files that any\n\
         number of processes append to and read from at once, through shared\n\
         mappings: no server, no locks on the way of a message.\n",
    )?;
    // A previous tour's log, left by --keep in the same directory.
    let events = t.path("events");
    if events.exists() {
        std::fs::remove_dir_all(&events).with_context(|| format!("remove {}", events.display()))?;
    }
    t.shell(
        "mapped log create events --segment-size 1M --max-message 64k",
        &[
            "log",
            "create",
            "events",
            "--segment-size",
            "1M",
            "--max-message",
            "64k",
        ],
    )?;

    t.say(
        "\nA follower waits for messages (`--follow`, like tail -f: it sleeps on a\n\
         futex in the mapping). An appender makes each line of its stdin one\n\
         message and prints the message's id once it is committed (`--ids`).\n\
         The tour types one line at a time and waits for the follower to print it.\n",
    )?;
    t.say("    $ mapped log tail events --follow &")?;
    let mut follower = Reaped(
        t.command(&["log", "tail", "events", "--follow"])
            .stdout(Stdio::piped())
            .spawn()
            .context("run mapped log tail")?,
    );
    let followed = ChildLines::of(&mut follower, "the follower")?;
    t.say("    $ mapped log append events --ids")?;
    let mut appender = Reaped(
        t.command(&["log", "append", "events", "--ids"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .context("run mapped log append")?,
    );
    let ids = ChildLines::of(&mut appender, "the appender")?;
    let mut typed = appender
        .0
        .stdin
        .take()
        .context("the appender's input is not a pipe")?;
    for line in ["hello", "from another process", "third message"] {
        t.say(&format!("    appender < {line}"))?;
        typed
            .write_all(format!("{line}\n").as_bytes())
            .context("write to the appender")?;
        let id = ids.next()?;
        t.say(&format!("    appender | id {}", id.escape_ascii()))?;
        let got = followed.next()?;
        t.say(&format!("    follower | {}", got.escape_ascii()))?;
    }
    drop(typed);
    let status = appender.0.wait().context("wait for the appender")?;
    if !status.success() {
        bail!("mapped log append failed ({status})");
    }
    t.say("    appender < (end of input: it exits)\n    $ kill -TERM %1")?;
    signal(&follower, libc::SIGTERM)?;
    let status = follower.0.wait().context("wait for the follower")?;
    if status.code() != Some(0) {
        bail!("mapped log tail --follow did not exit 0 on SIGTERM ({status})");
    }
    t.say("    (the follower exited with status 0)")?;

    t.say(
        "\nA named reader keeps its position in the log directory (readers/NAME).\n\
         This one reads two messages and exits; a new process of the same name\n\
         resumes with the third:\n",
    )?;
    t.shell(
        "mapped log tail events --name audit --count 2",
        &["log", "tail", "events", "--name", "audit", "--count", "2"],
    )?;
    t.shell(
        "mapped log tail events --name audit",
        &["log", "tail", "events", "--name", "audit"],
    )?;

    t.say(
        "\nNow a writer dies with SIGKILL in the middle of a message: it has\n\
         reserved the record and written half of it. (A hidden helper appends\n\
         three messages, then stops there, so that the tour prints the same\n\
         every time; killed at any other instant, the story ends the same way.)\n",
    )?;
    t.say("    $ mapped __log_spam events --hold-after 3 &")?;
    let mut writer = Reaped(
        t.command(&[super::log::spam::COMMAND, "events", "--hold-after", "3"])
            .stdout(Stdio::piped())
            .spawn()
            .context("run the writer")?,
    );
    let said = ChildLines::of(&mut writer, "the writer")?.next()?;
    t.say(&format!("    writer   | {}", said.escape_ascii()))?;
    t.say("    $ kill -KILL %1")?;
    signal(&writer, libc::SIGKILL)?;
    writer.0.wait().context("wait for the writer")?;
    t.say(
        "\nThe kernel dropped the writer's lock with the process, so the log knows\n\
         it is dead, not slow: no live appenders. The reader meets the unfinished\n\
         record, repairs it (it becomes padding, in about 10 ms) and reads on; a\n\
         new appender goes ahead at once.\n",
    )?;
    t.shell("mapped log stat events", &["log", "stat", "events"])?;
    t.shell(
        "mapped log tail events --name audit",
        &["log", "tail", "events", "--name", "audit"],
    )?;
    t.shell_input(
        "echo 'after the crash' | mapped log append events --ids",
        &["log", "append", "events", "--ids"],
        b"after the crash\n",
    )?;
    t.shell(
        "mapped log tail events --name audit",
        &["log", "tail", "events", "--name", "audit"],
    )?;
    t.shell("mapped log recover events", &["log", "recover", "events"])?;
    t.shell("mapped log verify events", &["log", "verify", "events"])?;
    t.say(
        "\nThe half-written message never appeared and nothing was lost: every\n\
         committed message is there, in order, and every checksum holds.",
    )
}

/// (f) A log exported to a JetStream stream and replicated into another
/// log, with the same ids: `mapped tail` prints the same on both. Needs
/// `nats-server` (started here on a free loopback port); without it, says
/// how to get it.
fn beyond_one_machine(t: &mut Tour) -> Result<()> {
    use mapped_jetstream::server::{HOW_TO_GET, NatsServer, nats_server_binary};
    t.say(
        "`mapped log export` publishes a log's messages to a NATS JetStream\n\
         stream, in order, each once; `mapped log replicate` keeps a log on\n\
         another machine an exact copy of the stream, under the same ids, for\n\
         readers there at memory speed. Here both sides are on this machine.\n",
    )?;
    let Some(binary) = nats_server_binary() else {
        return t.say(&format!(
            "    (skipped: no nats-server on the PATH. To see this part, {HOW_TO_GET}.)"
        ));
    };
    let server = NatsServer::start(&binary).context("start nats-server")?;
    let url = server.url();
    t.say(&format!(
        "    $ nats-server -js -a 127.0.0.1 -p {} -sd store &",
        url.rsplit(':').next().unwrap_or_default()
    ))?;
    // A previous tour's logs, left by --keep in the same directory.
    for dir in ["here", "there"] {
        let _ = std::fs::remove_dir_all(t.path(dir));
    }
    t.shell_input(
        "printf 'first\\nsecond\\nthird\\n' | mapped log append here",
        &["log", "append", "here"],
        b"first\nsecond\nthird\n",
    )?;
    t.shell(
        &format!(
            "mapped log export here --server {url} --stream DEMO --subject demo \\\n        \
             --create-stream --once"
        ),
        &[
            "log",
            "export",
            "here",
            "--server",
            &url,
            "--stream",
            "DEMO",
            "--subject",
            "demo",
            "--create-stream",
            "--once",
            "--report-every",
            "0",
        ],
    )?;
    t.shell(
        &format!("mapped log replicate there --server {url} --stream DEMO --once"),
        &[
            "log",
            "replicate",
            "there",
            "--server",
            &url,
            "--stream",
            "DEMO",
            "--once",
            "--report-every",
            "0",
        ],
    )?;
    let tail = |dir: &str| {
        t.command(&["log", "tail", dir, "--format", "json"])
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("run `mapped log tail {dir}`"))
    };
    let (here, there) = (tail("here")?, tail("there")?);
    t.say("    $ mapped log tail here --format json")?;
    t.echo(&here.stdout)?;
    t.say("    $ mapped log tail there --format json")?;
    t.echo(&there.stdout)?;
    if here.stdout != there.stdout || here.stdout.is_empty() {
        bail!("the replica differs from the log");
    }
    t.say(
        "\nThe same messages under the same ids. Without --once both keep going:\n\
         the exporter follows the log, the replica follows the stream; killed,\n\
         either resumes exactly where the stream (or the copy) ends. What is\n\
         guaranteed: docs/jetstream.md.",
    )
}

/// (g) The benchmark's verdicts on the classic claims, for a file here.
fn should_i_map(t: &mut Tour) -> Result<()> {
    // A debug build is too slow to measure anything: it only shows the
    // shape of the report.
    let (scale, note) = if cfg!(debug_assertions) {
        (
            "--smoke",
            "(This is a debug build: the run below is a smoke test and its\n\
             numbers mean nothing. Use `cargo run --release -- demo`.)\n",
        )
    } else {
        ("--quick", "")
    };
    t.say(&format!(
        "Mapping a file is not always faster. `mapped bench io` measures, on\n\
         this machine and file system, a 64 MiB file read and written through\n\
         mappings and through pread/pwrite, warm and cold, and gives a verdict\n\
         on each classic claim. The full report has the table, ratios and\n\
         targets; here are the verdicts.\n{note}"
    ))?;
    // The child runs in the tour's directory: its file goes there.
    let args = ["bench", "io", scale, "--size", "64M", "--dir", "."];
    t.say(&format!("    $ mapped bench io {scale} --size 64M"))?;
    let output = t
        .command(&args)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .context("run `mapped bench io`")?;
    if !output.status.success() {
        bail!("`mapped bench io` failed ({})", output.status);
    }
    let report = String::from_utf8_lossy(&output.stdout);
    let claims: Vec<&str> = report
        .lines()
        .skip_while(|l| *l != "Claims")
        .skip(1)
        .take_while(|l| !l.is_empty())
        .collect();
    if claims.is_empty() {
        bail!("`mapped bench io` printed no claims");
    }
    for claim in claims {
        t.echo(wrap(claim, 72).as_bytes())?;
    }
    t.say(
        "\nFor IPC, `mapped bench ipc` compares the log with raw shared-memory\n\
         baselines, pipes, Unix sockets and (built with `--features peers`)\n\
         iceoryx2.",
    )
}

/// Wraps `text` at spaces to lines of at most `width` characters, the
/// continuation lines indented by two spaces.
fn wrap(text: &str, width: usize) -> String {
    let mut out = String::new();
    let mut line = String::new();
    for word in text.split(' ') {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            out.push_str(&line);
            out.push('\n');
            line = String::from("  ");
        } else if !line.is_empty() && line != "  " {
            line.push(' ');
        }
        line.push_str(word);
    }
    out.push_str(&line);
    out.push('\n');
    out
}
