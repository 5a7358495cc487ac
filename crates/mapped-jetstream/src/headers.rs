//! What each exported message carries besides its payload: the headers
//! that name its log and its id, and what a replica needs to recreate a log
//! with the same ids. Every header read from a stream is untrusted input:
//! a missing or malformed one is an error naming the header and the
//! stream sequence, never a guess.

use async_nats::HeaderMap;

use crate::error::JetStreamError;

/// `Nats-Msg-Id`: `<log id, 32 hex digits>:<message id>`, the key of the
/// server's deduplication.
pub const MSG_ID: &str = "Nats-Msg-Id";
/// The source log's identity, 32 lowercase hex digits.
pub const LOG: &str = "Mapped-Log";
/// The message's id in the source log, in decimal.
pub const ID: &str = "Mapped-Id";
/// The source log's segment size in bytes, in decimal.
pub const SEGMENT_SIZE: &str = "Mapped-Segment-Size";
/// The source log's largest message in bytes, in decimal.
pub const MAX_MESSAGE: &str = "Mapped-Max-Message";

/// Where an exported message comes from: enough to place it in a replica.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Origin {
    /// The source log's identity ([`mapped_log::Log::log_id`]).
    pub log_id: [u8; 16],
    /// The message's id in the source log.
    pub id: u64,
    /// The source log's segment size.
    pub segment_size: u64,
    /// The source log's largest message.
    pub max_message: u32,
}

/// `bytes` as lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

/// 32 hex digits as 16 bytes.
pub fn parse_log_id(s: &str) -> Option<[u8; 16]> {
    if s.len() != 32 || !s.is_ascii() {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// The first value of header `name`. By name, whatever the client's
/// representation: `async-nats` keeps the headers it knows (`Nats-Msg-Id`)
/// apart from others of the same spelling.
pub fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| AsRef::<[u8]>::as_ref(*k) == name.as_bytes())
        .and_then(|(_, v)| v.first())
        .map(|v| v.as_str())
}

impl Origin {
    /// The `Nats-Msg-Id` of this message.
    pub fn msg_id(&self) -> String {
        format!("{}:{}", hex(&self.log_id), self.id)
    }

    /// The headers of the exported message, `Nats-Msg-Id` included.
    pub fn headers(&self) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in self.header_pairs() {
            h.insert(name, value.as_str());
        }
        h
    }

    /// Name and value of each header, in the order they are sent.
    fn header_pairs(&self) -> [(&'static str, String); 5] {
        [
            (MSG_ID, self.msg_id()),
            (LOG, hex(&self.log_id)),
            (ID, self.id.to_string()),
            (SEGMENT_SIZE, self.segment_size.to_string()),
            (MAX_MESSAGE, self.max_message.to_string()),
        ]
    }

    /// The bytes the headers take in the protocol (`NATS/1.0` line, one
    /// `Name: value` line each, the empty line): what counts, with the
    /// payload, against the server's maximum payload.
    pub fn header_len(&self) -> usize {
        let lines: usize = self
            .header_pairs()
            .iter()
            .map(|(n, v)| n.len() + 2 + v.len() + 2)
            .sum();
        "NATS/1.0\r\n".len() + lines + 2
    }

    /// Reads the headers of the stream message at `sequence` of `stream`.
    pub fn parse(
        stream: &str,
        sequence: u64,
        headers: Option<&HeaderMap>,
    ) -> Result<Origin, JetStreamError> {
        let bad = |what: String| JetStreamError::BadMessage {
            stream: stream.to_string(),
            sequence,
            what,
        };
        let headers = headers.filter(|h| !h.is_empty()).ok_or_else(|| {
            bad("it has no headers: it was not exported from a mapped log".into())
        })?;
        let get = |name: &str| -> Result<&str, JetStreamError> {
            header(headers, name).ok_or_else(|| bad(format!("header {name} is missing")))
        };
        let number = |name: &str| -> Result<u64, JetStreamError> {
            let v = get(name)?;
            v.parse::<u64>()
                .map_err(|_| bad(format!("header {name} is not a number: {v:?}")))
        };
        let log = get(LOG)?;
        let log_id = parse_log_id(log)
            .ok_or_else(|| bad(format!("header {LOG} is not 32 hex digits: {log:?}")))?;
        let id = number(ID)?;
        let segment_size = number(SEGMENT_SIZE)?;
        let max_message = u32::try_from(number(MAX_MESSAGE)?)
            .map_err(|_| bad(format!("header {MAX_MESSAGE} is out of range")))?;
        if segment_size <= mapped_log::format::SEGMENT_HEADER_LEN {
            return Err(bad(format!(
                "header {SEGMENT_SIZE} ({segment_size}) is too small for a segment"
            )));
        }
        if id % segment_size < mapped_log::format::SEGMENT_HEADER_LEN {
            return Err(bad(format!(
                "header {ID} ({id}) is not a message id in segments of {segment_size} bytes"
            )));
        }
        let origin = Origin {
            log_id,
            id,
            segment_size,
            max_message,
        };
        let msg_id = get(MSG_ID)?;
        if msg_id != origin.msg_id() {
            return Err(bad(format!(
                "header {MSG_ID} is {msg_id:?}, not {:?} as its other headers say",
                origin.msg_id()
            )));
        }
        Ok(origin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin() -> Origin {
        Origin {
            log_id: [0xab; 16],
            id: 4096 + 128,
            segment_size: 4096,
            max_message: 1024,
        }
    }

    #[test]
    fn headers_round_trip() {
        let o = origin();
        let h = o.headers();
        assert_eq!(Origin::parse("s", 7, Some(&h)).unwrap(), o);
        assert_eq!(
            header(&h, MSG_ID).unwrap(),
            format!("{}:4224", "ab".repeat(16))
        );
    }

    #[test]
    fn header_len_counts_what_is_sent() {
        let o = origin();
        let sent: usize = o
            .header_pairs()
            .iter()
            .map(|(n, v)| format!("{n}: {v}\r\n").len())
            .sum();
        assert_eq!(o.header_len(), 10 + sent + 2);
    }

    #[test]
    fn missing_or_garbage_headers_are_errors_naming_them() {
        let err = |h: Option<&HeaderMap>| Origin::parse("s", 9, h).unwrap_err().to_string();
        assert!(err(None).contains("no headers"), "{}", err(None));
        let good = origin().headers();
        for (name, value) in [
            (LOG, "xyz"),
            (ID, "-1"),
            (ID, "4096"),
            (SEGMENT_SIZE, "0"),
            (MAX_MESSAGE, "99999999999"),
            (MSG_ID, "other:1"),
        ] {
            let mut h = good.clone();
            h.insert(name, value);
            let e = err(Some(&h));
            assert!(e.contains(name) && e.contains("sequence 9"), "{name}: {e}");
        }
        for name in [LOG, ID, SEGMENT_SIZE, MAX_MESSAGE, MSG_ID] {
            let mut h = HeaderMap::new();
            for (n, v) in origin().header_pairs() {
                if n != name {
                    h.insert(n, v.as_str());
                }
            }
            let e = err(Some(&h));
            assert!(e.contains(name) && e.contains("missing"), "{e}");
        }
    }

    #[test]
    fn log_ids_parse_from_hex_only() {
        assert_eq!(parse_log_id(&hex(&[1; 16])), Some([1; 16]));
        assert_eq!(parse_log_id("zz"), None);
        assert_eq!(parse_log_id(&"é".repeat(16)), None);
    }
}
