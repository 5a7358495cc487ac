//! `mapped log export` and `mapped log replicate` against real
//! `nats-server` processes that authenticate their clients or encrypt:
//! TLS with the server verified by a CA, mutual TLS (the server verifies a
//! client certificate too), and decentralised authentication (operator
//! mode: a user JWT and its NKey seed in a `.creds` file). Each accepted
//! client must leave the stream holding exactly the log's messages and the
//! replica exactly the log; each refused one must end with status 1 and an
//! error saying why.
//!
//! The certificates are made with `openssl`; the keys and JWTs with the
//! `nkeys` crate. Without `nats-server` on the PATH these tests say so
//! loudly and pass, unless `MAPPED_TEST_REQUIRE_NATS=1` (CI), which makes
//! them fail.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mapped_jetstream::Connection;
use mapped_jetstream::server::{NatsServer, nats_server_for_test, stream_messages_over};
use mapped_log::{Appender, Log, LogOptions, Start};
use nkeys::KeyPair;
use serde_json::{Value, json};

/// A log in `dir` holding `n` messages of varied sizes.
fn log_of(dir: &Path, n: usize) {
    let log = Log::create(
        dir,
        LogOptions {
            segment_size: 64 << 10,
            max_message: 4096,
            ..LogOptions::default()
        },
    )
    .unwrap();
    let mut a = Appender::new(&log).unwrap();
    for i in 0..n {
        a.append(format!("message {i} {}", ".".repeat(i % 50)).as_bytes())
            .unwrap();
    }
}

/// Every message of a log: (id, payload).
fn log_messages(dir: &Path) -> Vec<(u64, Vec<u8>)> {
    let log = Log::open(dir).unwrap();
    let mut r = log.reader(Start::Beginning).unwrap();
    let mut out = Vec::new();
    let mut buf = Vec::new();
    while let Some(m) = r.try_next().unwrap() {
        m.copy_to(&mut buf).unwrap();
        out.push((m.id(), buf.clone()));
    }
    out
}

/// `mapped log export LOG --once` to stream EVENTS (created), with the
/// connection options `auth`.
fn export(work: &Path, log: &Path, url: &str, auth: &[&str]) -> Output {
    let mut args = vec![
        "log",
        "export",
        log.to_str().unwrap(),
        "--server",
        url,
        "--stream",
        "EVENTS",
        "--subject",
        "events",
        "--create-stream",
        "--report-every",
        "0",
        "--once",
    ];
    args.extend_from_slice(auth);
    common::mapped(work, &args)
}

/// `mapped log replicate REPLICA --once` from stream EVENTS, with the
/// connection options `auth`.
fn replicate(work: &Path, replica: &Path, url: &str, auth: &[&str]) -> Output {
    let mut args = vec![
        "log",
        "replicate",
        replica.to_str().unwrap(),
        "--server",
        url,
        "--stream",
        "EVENTS",
        "--report-every",
        "0",
        "--once",
    ];
    args.extend_from_slice(auth);
    common::mapped(work, &args)
}

/// Stream EVENTS, read through `connection`, holds exactly the log's
/// messages, once each, in order, at sequences 1, 2, ...
fn assert_stream_is_log(connection: &Connection, dir: &Path) {
    let stream = stream_messages_over(connection, "EVENTS").unwrap();
    let log_id = Log::open(dir).unwrap().log_id();
    for (i, e) in stream.iter().enumerate() {
        assert_eq!(e.sequence, i as u64 + 1, "sequences without a gap");
        assert_eq!(e.origin.log_id, log_id);
    }
    let got: Vec<(u64, Vec<u8>)> = stream
        .into_iter()
        .map(|e| (e.origin.id, e.payload))
        .collect();
    let log = log_messages(dir);
    assert!(!log.is_empty());
    assert_eq!(
        got.len(),
        log.len(),
        "as many messages in the stream as in the log"
    );
    assert!(got == log, "the stream's messages are the log's, in order");
}

/// Runs openssl with `args` in `dir`, panicking with its output if it fails.
fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl (CI installs it)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        common::text(&out.stderr)
    );
}

/// Certificates made by openssl in a directory (P-256 keys, quick to
/// make): a CA (`ca.pem`), and signed by it a server's for 127.0.0.1 and
/// localhost (`server.pem`, `server.key`) and a client's (`client.pem`,
/// `client.key`); and a self-signed client certificate, a stranger's
/// (`stranger.pem`, `stranger.key`).
struct Pki {
    dir: PathBuf,
}

impl Pki {
    fn new(dir: &Path) -> Pki {
        // A new key NAME.key, and with it a certificate request NAME.csr,
        // or a self-signed certificate NAME.pem.
        let new_key = |name: &str, subject: &str, self_signed: bool| {
            let key = format!("{name}.key");
            let out = format!("{name}.{}", if self_signed { "pem" } else { "csr" });
            let mut args = vec![
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-keyout",
                &key,
                "-out",
                &out,
                "-subj",
                subject,
            ];
            if self_signed {
                args.extend(["-x509", "-days", "2"]);
            }
            openssl(dir, &args);
        };
        new_key("ca", "/CN=mapped test CA", true);
        new_key("stranger", "/CN=mapped test stranger", true);
        for (name, subject, extensions) in [
            (
                "server",
                "/CN=127.0.0.1",
                "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
            ),
            (
                "client",
                "/CN=mapped test client",
                "extendedKeyUsage=clientAuth\n",
            ),
        ] {
            new_key(name, subject, false);
            let cnf = format!("{name}.cnf");
            std::fs::write(dir.join(&cnf), extensions).unwrap();
            openssl(
                dir,
                &[
                    "x509",
                    "-req",
                    "-in",
                    &format!("{name}.csr"),
                    "-CA",
                    "ca.pem",
                    "-CAkey",
                    "ca.key",
                    "-CAcreateserial",
                    "-out",
                    &format!("{name}.pem"),
                    "-days",
                    "2",
                    "-extfile",
                    &cnf,
                ],
            );
        }
        Pki {
            dir: dir.to_path_buf(),
        }
    }

    /// The path of one of its files, as a string for the command line.
    fn path(&self, name: &str) -> String {
        self.dir.join(name).to_str().unwrap().to_string()
    }
}

/// A connection to `url` with `pki`'s CA and client certificate.
fn tls(url: &str, pki: &Pki) -> Connection {
    let mut c = Connection::new(url);
    c.tls_ca = Some(pki.dir.join("ca.pem"));
    c.tls_client = Some((pki.dir.join("client.pem"), pki.dir.join("client.key")));
    c
}

/// A server started with `config` (written to `dir/server.conf`).
fn server_with_config(bin: &Path, dir: &Path, config: &str) -> NatsServer {
    let conf = dir.join("server.conf");
    std::fs::write(&conf, config).unwrap();
    NatsServer::start_with(bin, &["-c", conf.to_str().unwrap()]).unwrap()
}

#[test]
fn tls_verifies_the_server_with_the_ca_given() {
    let Some(bin) = nats_server_for_test("tls") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let pki = Pki::new(w);
    let server = server_with_config(
        &bin,
        w,
        &format!(
            "tls {{ cert_file: \"{}\", key_file: \"{}\" }}\n",
            pki.path("server.pem"),
            pki.path("server.key"),
        ),
    );
    let (a, b, url) = (w.join("a"), w.join("b"), server.url());
    log_of(&a, 20);
    // Without the CA: the server's certificate is refused, at once.
    common::assert_fails(
        &export(w, &a, &url, &[]),
        &[
            "TLS with the NATS server",
            "the server's certificate did not verify",
            "--tls-ca",
        ],
    );
    let ca = pki.path("ca.pem");
    common::ok(&export(w, &a, &url, &["--tls-ca", &ca]));
    let mut c = Connection::new(&url);
    c.tls_ca = Some(ca.clone().into());
    assert_stream_is_log(&c, &a);
    common::ok(&replicate(w, &b, &url, &["--tls-ca", &ca]));
    assert!(log_messages(&b) == log_messages(&a));
}

#[test]
fn mutual_tls_exports_and_replicates_with_a_client_certificate_and_refuses_without() {
    let Some(bin) = nats_server_for_test("mutual_tls") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let pki = Pki::new(w);
    let server = server_with_config(
        &bin,
        w,
        &format!(
            "tls {{\n  cert_file: \"{}\"\n  key_file: \"{}\"\n  ca_file: \"{}\"\n  verify: true\n}}\n",
            pki.path("server.pem"),
            pki.path("server.key"),
            pki.path("ca.pem"),
        ),
    );
    let (a, b, url) = (w.join("a"), w.join("b"), server.url());
    log_of(&a, 20);
    let ca = pki.path("ca.pem");
    // The server's certificate verified, but no client certificate: the
    // server refuses the connection, and the exporter says why at once.
    common::assert_fails(
        &export(w, &a, &url, &["--tls-ca", &ca]),
        &[
            "TLS with the NATS server",
            "requires a client certificate",
            "--tls-cert",
        ],
    );
    // A client certificate that the server's CA did not sign.
    let (cert, key) = (pki.path("stranger.pem"), pki.path("stranger.key"));
    common::assert_fails(
        &export(
            w,
            &a,
            &url,
            &["--tls-ca", &ca, "--tls-cert", &cert, "--tls-key", &key],
        ),
        &[
            "TLS with the NATS server",
            "refused the client certificate",
            &cert,
        ],
    );
    // Nothing reached the stream.
    let no_stream = stream_messages_over(&tls(&url, &pki), "EVENTS").unwrap_err();
    assert!(no_stream.contains("not found"), "{no_stream}");
    let (cert, key) = (pki.path("client.pem"), pki.path("client.key"));
    let auth = ["--tls-ca", &ca, "--tls-cert", &cert, "--tls-key", &key];
    common::ok(&export(w, &a, &url, &auth));
    assert_stream_is_log(&tls(&url, &pki), &a);
    common::ok(&replicate(w, &b, &url, &auth));
    assert!(log_messages(&b) == log_messages(&a));
}

/// A JWT as NATS signs them: `{"typ":"JWT","alg":"ed25519-nkey"}`, the
/// claims, and `issuer`'s Ed25519 signature of the two, each base64url
/// without padding.
fn jwt(issuer: &KeyPair, subject: &str, name: &str, nats: Value) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = json!({
        // Unique: a fresh key's public part (the Go library uses a hash of
        // the claims; the server does not check it).
        "jti": KeyPair::new_user().public_key(),
        "iat": now,
        "iss": issuer.public_key(),
        "sub": subject,
        "name": name,
        "nats": nats,
    });
    let signed = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"ed25519-nkey"}"#),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = issuer.sign(signed.as_bytes()).unwrap();
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// An account's JWT, signed by `operator`; with JetStream (no limits) if
/// `jetstream`.
fn account_jwt(operator: &KeyPair, account: &KeyPair, name: &str, jetstream: bool) -> String {
    let js = if jetstream { -1 } else { 0 };
    jwt(
        operator,
        &account.public_key(),
        name,
        json!({
            "type": "account",
            "version": 2,
            "limits": {
                "subs": -1, "data": -1, "payload": -1,
                "imports": -1, "exports": -1, "wildcards": true, "conn": -1, "leaf": -1,
                "mem_storage": js, "disk_storage": js, "streams": js, "consumer": js,
            },
            "default_permissions": { "pub": {}, "sub": {} },
        }),
    )
}

/// A `.creds` file's text: a new user's JWT, signed by `account` (allowed
/// everything), and the user's seed.
fn user_creds(account: &KeyPair, name: &str) -> String {
    let user = KeyPair::new_user();
    let token = jwt(
        account,
        &user.public_key(),
        name,
        json!({
            "type": "user",
            "version": 2,
            "pub": {}, "sub": {},
            "subs": -1, "data": -1, "payload": -1,
        }),
    );
    format!(
        "-----BEGIN NATS USER JWT-----\n{token}\n------END NATS USER JWT------\n\n\
         ************************* IMPORTANT *************************\n\
         NKEY Seed printed below can be used to sign and prove identity.\n\
         NKEYs are sensitive and should be treated as secrets.\n\n\
         -----BEGIN USER NKEY SEED-----\n{}\n------END USER NKEY SEED------\n\n\
         *************************************************************\n",
        user.seed().unwrap()
    )
}

/// A server in operator mode (decentralised authentication): it trusts
/// an operator, which signed a system account (nats-server 2.9 will not
/// start JetStream in operator mode without one) and an account with
/// JetStream, whose users connect with a `.creds` file.
struct OperatorMode {
    server: NatsServer,
    /// The account with JetStream.
    account: KeyPair,
}

impl OperatorMode {
    fn start(bin: &Path, dir: &Path) -> OperatorMode {
        let (operator, system, account) = (
            KeyPair::new_operator(),
            KeyPair::new_account(),
            KeyPair::new_account(),
        );
        let op_jwt = dir.join("operator.jwt");
        let op_claims = json!({"type": "operator", "version": 2});
        std::fs::write(
            &op_jwt,
            jwt(&operator, &operator.public_key(), "mapped test", op_claims),
        )
        .unwrap();
        let server = server_with_config(
            bin,
            dir,
            &format!(
                "operator: \"{}\"\n\
                 system_account: {sys}\n\
                 resolver: MEMORY\n\
                 resolver_preload: {{\n  {sys}: \"{}\"\n  {app}: \"{}\"\n}}\n",
                op_jwt.display(),
                account_jwt(&operator, &system, "SYS", false),
                account_jwt(&operator, &account, "APP", true),
                sys = system.public_key(),
                app = account.public_key(),
            ),
        );
        OperatorMode { server, account }
    }

    /// A `.creds` file in `dir` for a new user of the account.
    fn creds(&self, dir: &Path) -> PathBuf {
        let path = dir.join("app.creds");
        std::fs::write(&path, user_creds(&self.account, "app")).unwrap();
        path
    }

    /// A connection to the server with `creds`.
    fn connection(&self, creds: &Path) -> Connection {
        let mut c = Connection::new(self.server.url());
        c.creds = Some(creds.to_path_buf());
        c
    }
}

#[test]
fn a_credentials_file_exports_and_replicates_on_a_server_in_operator_mode() {
    let Some(bin) = nats_server_for_test("creds") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let nats = OperatorMode::start(&bin, w);
    let creds = nats.creds(w);
    let (a, b, url) = (w.join("a"), w.join("b"), nats.server.url());
    log_of(&a, 20);
    let auth = ["--creds", creds.to_str().unwrap()];
    common::ok(&export(w, &a, &url, &auth));
    assert_stream_is_log(&nats.connection(&creds), &a);
    common::ok(&replicate(w, &b, &url, &auth));
    assert!(log_messages(&b) == log_messages(&a));
}

#[test]
fn a_user_of_an_unknown_account_and_a_missing_credentials_file_are_clear_errors() {
    let Some(bin) = nats_server_for_test("creds_refused") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let nats = OperatorMode::start(&bin, w);
    let (a, url) = (w.join("a"), nats.server.url());
    log_of(&a, 1);
    // A well-formed user, signed by an account the operator never signed.
    let stranger = w.join("stranger.creds");
    std::fs::write(&stranger, user_creds(&KeyPair::new_account(), "stranger")).unwrap();
    common::assert_fails(
        &export(w, &a, &url, &["--creds", stranger.to_str().unwrap()]),
        &["refused authentication", "--creds"],
    );
    // No credentials at all.
    common::assert_fails(&export(w, &a, &url, &[]), &["refused authentication"]);
    // Files that are not credentials: missing, or something else.
    let missing = w.join("missing.creds");
    let missing_s = missing.to_str().unwrap();
    let err = common::assert_fails(
        &export(w, &a, &url, &["--creds", missing_s]),
        &["cannot read", missing_s, "No such file"],
    );
    assert_eq!(err.matches("No such file").count(), 1, "said once: {err}");
    common::assert_fails(
        &replicate(w, &w.join("b"), &url, &["--creds", missing_s]),
        &["cannot read", missing_s, "No such file"],
    );
    let garbage = w.join("garbage.creds");
    std::fs::write(&garbage, "not a credentials file\n").unwrap();
    common::assert_fails(
        &export(w, &a, &url, &["--creds", garbage.to_str().unwrap()]),
        &[garbage.to_str().unwrap(), "user JWT"],
    );
    // Nothing reached the stream.
    let no_stream = stream_messages_over(&nats.connection(&nats.creds(w)), "EVENTS").unwrap_err();
    assert!(no_stream.contains("not found"), "{no_stream}");
}

/// A server whose config's `authorization` block is `block`.
fn server_with_authorization(bin: &Path, dir: &Path, block: &str) -> NatsServer {
    server_with_config(bin, dir, &format!("authorization {{\n  {block}\n}}\n"))
}

#[test]
fn a_token_in_a_file_or_in_the_url_exports_and_replicates() {
    let Some(bin) = nats_server_for_test("token") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    // Characters a URL must percent-encode.
    let server = server_with_authorization(&bin, w, "token: \"s3cret=t0ken;x\"");
    let (a, b, url) = (w.join("a"), w.join("b"), server.url());
    log_of(&a, 20);
    let token = w.join("token");
    std::fs::write(&token, "s3cret=t0ken;x\n").unwrap();
    common::ok(&export(
        w,
        &a,
        &url,
        &["--token-file", token.to_str().unwrap()],
    ));
    let mut c = Connection::new(&url);
    c.token_file = Some(token.clone());
    assert_stream_is_log(&c, &a);
    // A URL's user without a password is a token, as in NATS's clients.
    let in_url = url.replace("nats://", "nats://s3cret%3Dt0ken%3Bx@");
    common::ok(&replicate(w, &b, &in_url, &[]));
    assert!(log_messages(&b) == log_messages(&a));
    // A wrong token in the URL: refused, and not repeated in the error.
    let wrong_url = url.replace("nats://", "nats://n0pe-t0ken@");
    let err = common::assert_fails(
        &export(w, &a, &wrong_url, &[]),
        &["refused authentication", "nats://***@127.0.0.1"],
    );
    assert!(!err.contains("n0pe-t0ken"), "the token is not shown: {err}");
    // A URL's credentials and an option at once.
    common::assert_fails(
        &export(w, &a, &in_url, &["--token-file", token.to_str().unwrap()]),
        &["give one way to authenticate", "token file", "URL"],
    );
    // Refusals: a wrong token, none, an empty file, a missing one.
    let wrong = w.join("wrong");
    std::fs::write(&wrong, "n0pe\n").unwrap();
    common::assert_fails(
        &export(w, &a, &url, &["--token-file", wrong.to_str().unwrap()]),
        &["refused authentication"],
    );
    common::assert_fails(&export(w, &a, &url, &[]), &["refused authentication"]);
    let empty = w.join("empty");
    std::fs::write(&empty, "\n").unwrap();
    common::assert_fails(
        &export(w, &a, &url, &["--token-file", empty.to_str().unwrap()]),
        &["cannot read", empty.to_str().unwrap(), "a token"],
    );
    let missing = w.join("missing");
    common::assert_fails(
        &replicate(w, &b, &url, &["--token-file", missing.to_str().unwrap()]),
        &["cannot read", missing.to_str().unwrap(), "No such file"],
    );
    // One way to authenticate at a time.
    let out = export(
        w,
        &a,
        &url,
        &[
            "--token-file",
            token.to_str().unwrap(),
            "--creds",
            "x.creds",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "bad usage: {out:?}");
}

#[test]
fn an_nkey_seed_file_exports_and_replicates() {
    let Some(bin) = nats_server_for_test("nkey") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let user = KeyPair::new_user();
    let server = server_with_authorization(
        &bin,
        w,
        &format!("users = [ {{ nkey: {} }} ]", user.public_key()),
    );
    let (a, b, url) = (w.join("a"), w.join("b"), server.url());
    log_of(&a, 20);
    let seed = w.join("user.nk");
    std::fs::write(&seed, format!("{}\n", user.seed().unwrap())).unwrap();
    let auth = ["--nkey", seed.to_str().unwrap()];
    common::ok(&export(w, &a, &url, &auth));
    let mut c = Connection::new(&url);
    c.nkey = Some(seed.clone());
    assert_stream_is_log(&c, &a);
    common::ok(&replicate(w, &b, &url, &auth));
    assert!(log_messages(&b) == log_messages(&a));
    // Another user's seed, and a file that holds no seed.
    let other = w.join("other.nk");
    std::fs::write(&other, KeyPair::new_user().seed().unwrap()).unwrap();
    common::assert_fails(
        &export(w, &a, &url, &["--nkey", other.to_str().unwrap()]),
        &["refused authentication"],
    );
    let garbage = w.join("garbage.nk");
    std::fs::write(&garbage, "not a seed\n").unwrap();
    common::assert_fails(
        &export(w, &a, &url, &["--nkey", garbage.to_str().unwrap()]),
        &["cannot read", garbage.to_str().unwrap(), "not an NKey seed"],
    );
    let account = w.join("account.nk");
    std::fs::write(&account, KeyPair::new_account().seed().unwrap()).unwrap();
    common::assert_fails(
        &export(w, &a, &url, &["--nkey", account.to_str().unwrap()]),
        &[account.to_str().unwrap(), "not of a user"],
    );
    let empty = w.join("empty.nk");
    std::fs::write(&empty, "").unwrap();
    common::assert_fails(
        &export(w, &a, &url, &["--nkey", empty.to_str().unwrap()]),
        &[empty.to_str().unwrap(), "empty"],
    );
    let missing = w.join("missing.nk");
    common::assert_fails(
        &replicate(w, &b, &url, &["--nkey", missing.to_str().unwrap()]),
        &["cannot read", missing.to_str().unwrap(), "No such file"],
    );
    // Two options at once: bad usage.
    let out = export(
        w,
        &a,
        &url,
        &["--nkey", seed.to_str().unwrap(), "--token-file", "t"],
    );
    assert_eq!(out.status.code(), Some(2), "bad usage: {out:?}");
}
