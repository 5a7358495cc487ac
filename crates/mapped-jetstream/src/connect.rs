//! Connecting to the servers: credentials and TLS as `async-nats` offers
//! them, a bounded wait at start, and reconnection with backoff afterwards
//! (the client's), reported as [`Event`]s.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use async_nats::{Client, ConnectErrorKind, ConnectOptions, ServerAddr, rustls};

use crate::error::{JetStreamError, Result};
use crate::event::{Event, Events};

/// How to reach the NATS servers.
#[derive(Debug, Clone)]
pub struct Connection {
    /// Server URLs, comma-separated (`nats://host:4222`, `tls://...`).
    pub servers: String,
    /// A credentials file (`.creds`: a user JWT and an NKey seed).
    pub creds: Option<PathBuf>,
    /// A file holding an NKey seed (`SU...`), for a server that knows
    /// the user by its public NKey.
    pub nkey: Option<PathBuf>,
    /// A file holding a token (its first line), for a server that
    /// authenticates with one. A URL's user without a password
    /// (`nats://TOKEN@host`) is a token too, as in NATS's other clients.
    pub token_file: Option<PathBuf>,
    /// A CA certificate (PEM) to verify the server with.
    pub tls_ca: Option<PathBuf>,
    /// A client certificate and its key (PEM), for mutual TLS.
    pub tls_client: Option<(PathBuf, PathBuf)>,
    /// Require TLS even if the server does not ask for it.
    pub require_tls: bool,
    /// How long to keep trying at start before giving up.
    pub connect_wait: Duration,
    /// The client's name, as the server's monitoring shows it.
    pub name: String,
}

impl Connection {
    /// Plain connection to `servers`, trying for 10 s at start.
    pub fn new(servers: impl Into<String>) -> Connection {
        Connection {
            servers: servers.into(),
            creds: None,
            nkey: None,
            token_file: None,
            tls_ca: None,
            tls_client: None,
            require_tls: false,
            connect_wait: Duration::from_secs(10),
            name: "mapped".into(),
        }
    }

    /// The server addresses, parsed.
    fn addrs(&self) -> Result<Vec<ServerAddr>> {
        parse_servers(&self.servers).map_err(|detail| JetStreamError::Nats {
            op: format!("server address {}", redact(&self.servers)),
            detail,
        })
    }

    /// The credentials written in the first server URL that has some.
    fn url_auth(&self) -> Option<UrlAuth> {
        self.servers.split(',').map(str::trim).find_map(url_auth)
    }

    /// Refuses two ways to authenticate at once: the server would take
    /// one and ignore the other, and which one is not for us to guess.
    fn check_one_way(&self) -> Result<()> {
        let ways: Vec<&str> = [
            (self.creds.is_some(), "a credentials file"),
            (self.nkey.is_some(), "an NKey seed"),
            (self.token_file.is_some(), "a token file"),
            (self.url_auth().is_some(), "credentials in the server URL"),
        ]
        .into_iter()
        .filter_map(|(given, what)| given.then_some(what))
        .collect();
        if ways.len() > 1 {
            return Err(JetStreamError::Options {
                what: format!("give one way to authenticate, not {}", ways.join(" and ")),
            });
        }
        Ok(())
    }

    async fn options(&self, events: &Events) -> Result<ConnectOptions> {
        self.check_one_way()?;
        for path in self
            .creds
            .iter()
            .chain(&self.nkey)
            .chain(&self.token_file)
            .chain(&self.tls_ca)
            .chain(self.tls_client.iter().flat_map(|(c, k)| [c, k]))
        {
            // The client reads the certificates only when it connects, and
            // says little when one is missing, or repeats itself when the
            // credentials are: check here.
            std::fs::metadata(path).map_err(|source| JetStreamError::File {
                path: path.clone(),
                source,
            })?;
        }
        let mut o = match &self.creds {
            Some(path) => ConnectOptions::with_credentials_file(path.clone())
                .await
                .map_err(|source| JetStreamError::File {
                    path: path.clone(),
                    source,
                })?,
            None => ConnectOptions::new(),
        };
        if let Some(ca) = &self.tls_ca {
            o = o.add_root_certificates(ca.clone());
        }
        if let Some((cert, key)) = &self.tls_client {
            o = o.add_client_certificate(cert.clone(), key.clone());
        }
        if self.require_tls {
            o = o.require_tls(true);
        }
        if let Some(path) = &self.nkey {
            let seed = read_secret(path, "an NKey seed")?;
            let bad = |what: String| JetStreamError::File {
                path: path.clone(),
                source: std::io::Error::new(std::io::ErrorKind::InvalidData, what),
            };
            match nkeys::KeyPair::from_seed(&seed) {
                Err(e) => return Err(bad(format!("not an NKey seed (SU...): {e}"))),
                Ok(k) if !matches!(k.key_pair_type(), nkeys::KeyPairType::User) => {
                    return Err(bad(format!(
                        "the seed of {:?} key, not of a user (SU...)",
                        k.key_pair_type()
                    )));
                }
                Ok(_) => {}
            }
            o = o.nkey(seed);
        }
        if let Some(path) = &self.token_file {
            o = o.token(read_secret(path, "a token")?);
        }
        // A user and password in a URL (`nats://user:pass@host`), or a
        // token (`nats://TOKEN@host`), which the client would otherwise
        // not send.
        match self.url_auth() {
            Some(UrlAuth::UserPassword(user, password)) => o = o.user_and_password(user, password),
            Some(UrlAuth::Token(token)) => o = o.token(token),
            None => {}
        }
        let ev = events.clone();
        Ok(o.name(&self.name)
            .connection_timeout(Duration::from_secs(2))
            .reconnect_delay_callback(reconnect_delay)
            .event_callback(move |event| {
                let ev = ev.clone();
                async move {
                    match event {
                        async_nats::Event::Disconnected => ev.emit(Event::Disconnected),
                        async_nats::Event::Connected => ev.emit(Event::Connected),
                        async_nats::Event::ServerError(e) => ev.emit(Event::ServerError {
                            detail: e.to_string(),
                        }),
                        _ => {}
                    }
                }
            }))
    }

    /// Connects, retrying with backoff for [`connect_wait`](Self::connect_wait)
    /// while the server is unreachable; authentication and TLS failures
    /// stop at once.
    pub async fn connect(&self, events: &Events) -> Result<Client> {
        let start = Instant::now();
        let mut attempt = 0;
        loop {
            let options = self.options(events).await?;
            let err = match options.connect(self.addrs()?).await {
                Ok(client) => return Ok(client),
                Err(e) => e,
            };
            let servers = redact(&self.servers);
            let detail = err.to_string();
            match err.kind() {
                ConnectErrorKind::Authentication | ConnectErrorKind::AuthorizationViolation => {
                    return Err(JetStreamError::Auth { servers, detail });
                }
                ConnectErrorKind::Tls => return Err(JetStreamError::Tls { servers, detail }),
                ConnectErrorKind::ServerParse => {
                    return Err(JetStreamError::Nats {
                        op: format!("server address {servers}"),
                        detail,
                    });
                }
                _ => {}
            }
            // A certificate refused, by us or by the server, comes as an
            // I/O error: retrying will not mend it.
            if let Some(tls) = tls_failure(&err) {
                let detail = self.explain_tls(tls, detail);
                return Err(JetStreamError::Tls { servers, detail });
            }
            let waited = start.elapsed();
            if waited >= self.connect_wait {
                return Err(JetStreamError::Unreachable {
                    servers,
                    waited,
                    last: detail,
                });
            }
            let delay = reconnect_delay(attempt).min(self.connect_wait - waited);
            events.emit(Event::Retrying {
                what: format!("connect to {servers}: {detail}"),
                after: delay,
            });
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }

    /// What a failed handshake means, where the TLS error says more than
    /// `detail`: which side refused which certificate (a server that
    /// refuses ours, or its absence, says only "bad certificate").
    fn explain_tls(&self, tls: &rustls::Error, detail: String) -> String {
        use rustls::AlertDescription as A;
        match tls {
            rustls::Error::InvalidCertificate(_) => format!(
                "the server's certificate did not verify ({detail}): it must be signed by \
                 the CA given with --tls-ca (without it, by one the system trusts), and \
                 name the URL's host"
            ),
            // An alert from the server about a certificate is about ours:
            // only a server that verifies clients asks for one.
            rustls::Error::AlertReceived(
                A::BadCertificate
                | A::CertificateRequired
                | A::UnsupportedCertificate
                | A::CertificateRevoked
                | A::CertificateExpired
                | A::CertificateUnknown
                | A::UnknownCA,
            ) => match &self.tls_client {
                None => format!(
                    "the server requires a client certificate (mutual TLS) and refused \
                     the connection without one ({detail})"
                ),
                Some((cert, _)) => format!(
                    "the server refused the client certificate {} ({detail}): it must be \
                     signed by a CA the server trusts, and valid",
                    cert.display()
                ),
            },
            _ => detail,
        }
    }
}

/// The TLS error under a connection error, if any: the client passes the
/// handshake's failures, and the alerts the server sends, as I/O errors
/// wrapping them.
fn tls_failure(err: &async_nats::ConnectError) -> Option<&rustls::Error> {
    let mut next = std::error::Error::source(err);
    while let Some(e) = next {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        next = match e.downcast_ref::<std::io::Error>() {
            // Its `source` skips the error it wraps.
            Some(io) => io.get_ref().map(|inner| inner as _),
            None => e.source(),
        };
    }
    None
}

/// Credentials written in a server URL, percent-decoded.
enum UrlAuth {
    /// `nats://user:password@host` (the password may be empty).
    UserPassword(String, String),
    /// `nats://TOKEN@host`: a user without a password is a token, as
    /// NATS's other clients read it.
    Token(String),
}

/// Splits a server URL into what precedes its authority (`nats://`, or
/// nothing) and the authority itself, with the user information.
fn authority(server: &str) -> (&str, &str) {
    let start = server.find("://").map_or(0, |i| i + 3);
    let rest = &server[start..];
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    (&server[..start], &rest[..end])
}

/// The credentials in `server`'s user information, if it has any. Read
/// from the text itself: the parsed URL drops an empty password and keeps
/// the percent-encoding.
fn url_auth(server: &str) -> Option<UrlAuth> {
    let (userinfo, _) = authority(server).1.rsplit_once('@')?;
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned()
    };
    Some(match userinfo.split_once(':') {
        Some((user, password)) => UrlAuth::UserPassword(decode(user), decode(password)),
        None => UrlAuth::Token(decode(userinfo)),
    })
}

/// `servers` with the user information of each URL hidden
/// (`nats://***@host:4222`): for messages, which end up in logs.
pub(crate) fn redact(servers: &str) -> String {
    servers
        .split(',')
        .map(|server| {
            let server = server.trim();
            let (scheme, authority) = authority(server);
            match authority.rfind('@') {
                Some(at) => {
                    let after = &server[scheme.len() + at + 1..];
                    format!("{scheme}***@{after}")
                }
                None => server.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// The first line of the file at `path`, which must hold `what`.
fn read_secret(path: &std::path::Path, what: &str) -> Result<String> {
    let text = std::fs::read_to_string(path).map_err(|source| JetStreamError::File {
        path: path.to_path_buf(),
        source,
    })?;
    match text.lines().map(str::trim).find(|l| !l.is_empty()) {
        Some(line) => Ok(line.to_string()),
        None => Err(JetStreamError::File {
            path: path.to_path_buf(),
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("empty: it should hold {what}"),
            ),
        }),
    }
}

/// Comma-separated server URLs, parsed.
pub(crate) fn parse_servers(servers: &str) -> std::result::Result<Vec<ServerAddr>, String> {
    servers
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<ServerAddr>()
                .map_err(|e| format!("{}: {e}", redact(s)))
        })
        .collect()
}

/// Backoff between attempts: 50 ms doubling up to 2 s.
pub(crate) fn reconnect_delay(attempt: usize) -> Duration {
    Duration::from_millis(50u64 << attempt.min(6)).min(Duration::from_secs(2))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(server: &str) -> Option<(String, Option<String>)> {
        url_auth(server).map(|a| match a {
            UrlAuth::UserPassword(u, p) => (u, Some(p)),
            UrlAuth::Token(t) => (t, None),
        })
    }

    #[test]
    fn credentials_in_urls_are_read_from_the_text_and_decoded() {
        assert_eq!(auth("nats://127.0.0.1:4222"), None);
        assert_eq!(auth("127.0.0.1:4222"), None);
        assert_eq!(
            auth("nats://alice:pw@host:4222"),
            Some(("alice".into(), Some("pw".into())))
        );
        // An empty password is still a user and a password.
        assert_eq!(
            auth("nats://alice:@host"),
            Some(("alice".into(), Some(String::new())))
        );
        assert_eq!(auth("tls://T0KEN@host"), Some(("T0KEN".into(), None)));
        assert_eq!(auth("nats://a%3Db%40c@host"), Some(("a=b@c".into(), None)));
        assert_eq!(
            auth("nats://u%3A1:p%2Fq@host/x?y@z"),
            Some(("u:1".into(), Some("p/q".into())))
        );
        assert_eq!(auth("host/path@x"), None, "an @ past the authority");
    }

    #[test]
    fn messages_hide_the_credentials_of_every_url() {
        assert_eq!(
            redact("nats://alice:pw@a:4222, tls://T0KEN@b:4222,c:4222"),
            "nats://***@a:4222,tls://***@b:4222,c:4222"
        );
        assert_eq!(redact("u:p@host"), "***@host");
        assert_eq!(redact("nats://host:4222"), "nats://host:4222");
        let e = parse_servers("nats://alice:s3cret@bad host").unwrap_err();
        assert!(!e.contains("s3cret"), "{e}");
    }

    #[test]
    fn two_ways_to_authenticate_are_refused() {
        let mut c = Connection::new("nats://T0KEN@host");
        assert!(c.check_one_way().is_ok());
        c.token_file = Some("token".into());
        let e = c.check_one_way().unwrap_err().to_string();
        assert!(e.contains("token file") && e.contains("URL"), "{e}");
        c.servers = "nats://host".into();
        assert!(c.check_one_way().is_ok());
        c.creds = Some("x.creds".into());
        assert!(c.check_one_way().is_err());
    }
}
