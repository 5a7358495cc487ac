//! `od -c -w WIDTH`: a byte dump in GNU `od`'s character format.
//!
//! Offsets are octal, seven digits at least. Each byte takes four columns:
//! printable ASCII as itself, C escapes (`\0`, `\n`, ...) for the control
//! characters that have one, three octal digits for the rest. A line equal
//! to the one before is shown once, then `*` for the run; the last line is
//! the offset of the end. This is what GNU `od -c -w8` prints for the book's
//! file, byte for byte.

use std::fmt::Write as _;

/// Dumps `bytes` as `od -c -w{width}` would (a `width` of 0 counts as 16,
/// `od`'s default).
pub fn dump_c(bytes: &[u8], width: usize) -> String {
    let width = if width == 0 { 16 } else { width };
    let mut out = String::new();
    let mut prev: Option<&[u8]> = None;
    let mut starred = false;
    for (i, line) in bytes.chunks(width).enumerate() {
        if line.len() == width && prev == Some(line) {
            if !starred {
                out.push_str("*\n");
                starred = true;
            }
            continue;
        }
        starred = false;
        prev = Some(line);
        let _ = write!(out, "{:07o}", i * width);
        for &b in line {
            let _ = write!(out, " {:>3}", char_field(b));
        }
        out.push('\n');
    }
    let _ = writeln!(out, "{:07o}", bytes.len());
    out
}

/// One byte as `od -c` shows it.
fn char_field(b: u8) -> String {
    match b {
        0 => "\\0".into(),
        7 => "\\a".into(),
        8 => "\\b".into(),
        b'\t' => "\\t".into(),
        b'\n' => "\\n".into(),
        11 => "\\v".into(),
        12 => "\\f".into(),
        b'\r' => "\\r".into(),
        b' '..=b'~' => char::from(b).to_string(),
        _ => format!("{b:03o}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn book_file() {
        let mut file = vec![0u8; 1024];
        file[..7].copy_from_slice(b"goodbye");
        assert_eq!(
            dump_c(&file, 8),
            "0000000   g   o   o   d   b   y   e  \\0\n\
             0000010  \\0  \\0  \\0  \\0  \\0  \\0  \\0  \\0\n\
             *\n\
             0002000\n"
        );
    }

    #[test]
    fn escapes_octal_partial_line_and_empty() {
        assert_eq!(
            dump_c(b"ab\0\x07\x08\x0c\n\r\t\x0b\x7f\x80\xff c", 8),
            "0000000   a   b  \\0  \\a  \\b  \\f  \\n  \\r\n\
             0000010  \\t  \\v 177 200 377       c\n\
             0000017\n"
        );
        assert_eq!(dump_c(b"", 8), "0000000\n");
    }

    #[test]
    fn runs_restart_after_a_different_line() {
        let mut file = vec![0u8; 32];
        file[16] = b'x';
        assert_eq!(
            dump_c(&file, 4),
            "0000000  \\0  \\0  \\0  \\0\n\
             *\n\
             0000020   x  \\0  \\0  \\0\n\
             0000024  \\0  \\0  \\0  \\0\n\
             *\n\
             0000040\n"
        );
    }
}
