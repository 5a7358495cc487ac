//! Errno names and TLPI-style error text.
//!
//! The book's `errExit()` prints `ERROR [ENOENT No such file or directory]
//! open`: the symbolic name, then `strerror()`. The table covers the errors
//! that `open`, `fstat`, `mmap`, `msync` and `write` can give; others show
//! their number.

use std::io;

/// The symbolic name of an errno value, if it is in the table.
pub fn name(code: i32) -> Option<&'static str> {
    Some(match code {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::EINTR => "EINTR",
        libc::EIO => "EIO",
        libc::ENXIO => "ENXIO",
        libc::EBADF => "EBADF",
        libc::EAGAIN => "EAGAIN",
        libc::ENOMEM => "ENOMEM",
        libc::EACCES => "EACCES",
        libc::EFAULT => "EFAULT",
        libc::EBUSY => "EBUSY",
        libc::EEXIST => "EEXIST",
        libc::ENODEV => "ENODEV",
        libc::ENOTDIR => "ENOTDIR",
        libc::EISDIR => "EISDIR",
        libc::EINVAL => "EINVAL",
        libc::ENFILE => "ENFILE",
        libc::EMFILE => "EMFILE",
        libc::ETXTBSY => "ETXTBSY",
        libc::EFBIG => "EFBIG",
        libc::ENOSPC => "ENOSPC",
        libc::EROFS => "EROFS",
        libc::EPIPE => "EPIPE",
        libc::ENAMETOOLONG => "ENAMETOOLONG",
        libc::ELOOP => "ELOOP",
        libc::EOVERFLOW => "EOVERFLOW",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        libc::EDQUOT => "EDQUOT",
        _ => return None,
    })
}

/// `strerror()`'s text for an OS error, without Rust's ` (os error N)`.
pub fn message(err: &io::Error) -> String {
    let text = err.to_string();
    match err.raw_os_error() {
        Some(code) => text
            .strip_suffix(&format!(" (os error {code})"))
            .unwrap_or(&text)
            .to_owned(),
        None => text,
    }
}

/// The bracketed part of the book's messages: `ENOENT No such file or
/// directory`, or `errno 123 ...` for a value not in the table.
pub fn describe(err: &io::Error) -> String {
    match err.raw_os_error() {
        Some(code) => match name(code) {
            Some(name) => format!("{name} {}", message(err)),
            None => format!("errno {code} {}", message(err)),
        },
        None => message(err),
    }
}

/// The book's `errExit(what)` line, without the newline:
/// `ERROR [ENOENT No such file or directory] open s.txt`.
pub fn err_exit_text(err: &io::Error, what: &str) -> String {
    format!("ERROR [{}] {what}", describe(err))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn book_format() {
        let e = io::Error::from_raw_os_error(libc::ENOENT);
        assert_eq!(
            err_exit_text(&e, "open s.txt"),
            "ERROR [ENOENT No such file or directory] open s.txt"
        );
        let e = io::Error::from_raw_os_error(libc::EISDIR);
        assert_eq!(describe(&e), "EISDIR Is a directory");
    }

    #[test]
    fn unknown_number() {
        let e = io::Error::from_raw_os_error(133);
        assert!(describe(&e).starts_with("errno 133 "), "{}", describe(&e));
    }
}
