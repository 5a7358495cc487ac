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
            op: format!("server address {}", self.servers),
            detail,
        })
    }

    async fn options(&self, events: &Events) -> Result<ConnectOptions> {
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
            if let Err(e) = nkeys::KeyPair::from_seed(&seed) {
                return Err(JetStreamError::File {
                    path: path.clone(),
                    source: std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("not an NKey seed (SU...): {e}"),
                    ),
                });
            }
            o = o.nkey(seed);
        }
        if let Some(path) = &self.token_file {
            o = o.token(read_secret(path, "a token")?);
        }
        // A user and password in a URL (`nats://user:pass@host`), or a
        // token (`nats://TOKEN@host`), which the client would otherwise
        // not send.
        if let Some(a) = self.addrs()?.into_iter().find(|a| a.username().is_some()) {
            let user = a.username().unwrap_or_default().to_string();
            o = match a.password() {
                Some(password) => o.user_and_password(user, password.to_string()),
                None => o.token(user),
            };
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
            let servers = self.servers.clone();
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
        .map(|s| s.parse::<ServerAddr>().map_err(|e| format!("{s}: {e}")))
        .collect()
}

/// Backoff between attempts: 50 ms doubling up to 2 s.
pub(crate) fn reconnect_delay(attempt: usize) -> Duration {
    Duration::from_millis(50u64 << attempt.min(6)).min(Duration::from_secs(2))
}
