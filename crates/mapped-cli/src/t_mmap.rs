//! `t_mmap`: *The Linux Programming Interface*, Listing 49-2, exactly.
//!
//! ```text
//! t_mmap file [new-value]
//! ```
//!
//! Maps the first [`MEM_SIZE`] (10) bytes of `file` shared and read-write,
//! prints them up to the first NUL as `Current string=...`, and, given a new
//! value shorter than 10 bytes, zeroes the region, copies the value in,
//! `msync(MS_SYNC)`s it and prints `Copied "VALUE" to shared memory`. Run
//! twice, the second run prints what the first stored: the mapping is the
//! file, shared by every process that maps it.
//!
//! The messages and exit statuses are the book's (`usageErr`, `cmdLineErr`,
//! `errExit`; exit status 1 on every failure). Where the book's program fails
//! badly, this one does better:
//!
//! - an empty file: the book maps 10 bytes anyway and dies of `SIGBUS` on
//!   the first read; here nothing is mapped and `Current string=` is empty;
//! - a file shorter than 10 bytes: the book copies the value into the part
//!   of the page past the end of the file, which never reaches the file, and
//!   still says `Copied`; here only the file's bytes are mapped, and a value
//!   that does not fit in them is refused, with the file unchanged;
//! - a file truncated by another process while we run: an error, not a
//!   `SIGBUS`;
//! - a FIFO, socket or device, or a `/proc` or `/sys` file (whose content
//!   is made when it is read): refused at once, `not a regular file`.

use std::ffi::OsString;
use std::fmt::Display;
use std::fs::OpenOptions;
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use mapped::{MapOptions, Mode};

use crate::{errno, regular};

/// How many bytes of the file are mapped (the book's `MEM_SIZE`).
pub const MEM_SIZE: usize = 10;

/// The usage message, as the book's `usageErr` prints it.
pub const USAGE: &str = "Usage: t_mmap file [new-value]\n";

/// The book's `cmdLineErr` message for a value of [`MEM_SIZE`] bytes or more.
pub const TOO_LARGE: &str = "Command-line usage error: 'new-value' too large\n";

/// A failure: the message to print on stderr (newline included).
struct Failure(String);

impl Failure {
    /// `errExit(what)`: `ERROR [ENAME strerror] what`.
    fn os(err: &io::Error, what: impl Display) -> Failure {
        Failure(format!(
            "{}\n",
            errno::err_exit_text(err, &what.to_string())
        ))
    }

    /// An error of the mapping library: in `errExit` style when the kernel
    /// refused, in `fatal()` style (`ERROR: ...`) otherwise.
    fn mapped(io: Option<&mapped::IoError>, err: &dyn Display) -> Failure {
        match io {
            Some(io) => Failure::os(
                io.os_error(),
                format_args!("{} {}", io.op(), io.path().display()),
            ),
            None => Failure(format!("ERROR: {err}\n")),
        }
    }
}

/// Runs Listing 49-2 with `args` (the arguments after the program name),
/// printing to `out` and `err`; returns the exit status.
pub fn run(args: &[OsString], out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let result = run_inner(args, out);
    // Whatever happened, what was printed so far goes out first, as the
    // book's `cmdLineErr` and `errExit` flush stdout before writing stderr.
    let flushed = out.flush();
    let failure = match (result, flushed) {
        (Ok(()), Ok(())) => return 0,
        (Err(f), _) => f,
        (Ok(()), Err(e)) => Failure::os(&e, "write stdout"),
    };
    let _ = err.write_all(failure.0.as_bytes());
    let _ = err.flush();
    1
}

fn run_inner(args: &[OsString], out: &mut dyn Write) -> Result<(), Failure> {
    let Some(file_arg) = args.first().filter(|a| a.as_bytes() != b"--help") else {
        return Err(Failure(USAGE.to_owned()));
    };
    let path = Path::new(file_arg);

    let (file, file_len) =
        regular::open(path, OpenOptions::new().read(true).write(true)).map_err(|e| match e {
            regular::OpenError::Io { op, source } => {
                Failure::os(&source, format_args!("{op} {}", path.display()))
            }
            e @ regular::OpenError::NotRegular(_) => {
                Failure(format!("ERROR: {}\n", e.message(path)))
            }
        })?;
    // The book maps MEM_SIZE bytes whatever the file's length; we map only
    // bytes the file has, so that no access can fall past its end.
    let len = usize::try_from(file_len).map_or(MEM_SIZE, |l| l.min(MEM_SIZE));
    let map = MapOptions::new()
        .mode(Mode::ReadWrite)
        .window(0, len as u64)
        .map_file(file, path)
        .map_err(|e| Failure::mapped(e.io_error(), &e))?;

    let mut current = [0u8; MEM_SIZE];
    let current = &mut current[..len];
    map.read_at(0, current)
        .map_err(|e| Failure::mapped(e.io_error(), &e))?;
    // printf("%.*s"): at most MEM_SIZE bytes, up to the first NUL.
    let shown = current.split(|&b| b == 0).next().unwrap_or_default();
    print(out, &[b"Current string=", shown, b"\n"])?;

    let Some(value) = args.get(1) else {
        return Ok(());
    };
    let value = value.as_bytes();
    if value.len() >= MEM_SIZE {
        return Err(Failure(TOO_LARGE.to_owned()));
    }
    if value.len() > len {
        return Err(Failure(format!(
            "ERROR: {} is only {file_len} bytes long, too short for the {}-byte new value \
             (bytes stored past the end of a file never reach it); nothing copied\n",
            path.display(),
            value.len(),
        )));
    }
    // memset(addr, 0, MEM_SIZE); strncpy(addr, value, MEM_SIZE - 1): one
    // store of the zero-padded value over the mapped bytes.
    let mut region = [0u8; MEM_SIZE];
    region[..value.len()].copy_from_slice(value);
    map.write_at(0, &region[..len])
        .map_err(|e| Failure::mapped(e.io_error(), &e))?;
    map.flush().map_err(|e| Failure::mapped(e.io_error(), &e))?;
    print(out, &[b"Copied \"", value, b"\" to shared memory\n"])
}

/// Writes raw byte strings to stdout.
fn print(out: &mut dyn Write, parts: &[&[u8]]) -> Result<(), Failure> {
    parts
        .iter()
        .try_for_each(|p| out.write_all(p))
        .map_err(|e| Failure::os(&e, "write stdout"))
}
