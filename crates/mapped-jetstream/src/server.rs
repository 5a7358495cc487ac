//! Real `nats-server` processes for tests, benchmarks and the demo: one
//! JetStream node, or a cluster of three with routes between them, on free
//! loopback ports with storage in temporary directories. Nodes can be
//! killed and restarted (same ports, same storage); every process is
//! killed and reaped when its owner is dropped.

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where to find `nats-server`: `$MAPPED_NATS_SERVER` if set, else the
/// first `nats-server` on the `PATH`, in `/usr/sbin` or `/usr/local/bin`.
pub fn nats_server_binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("MAPPED_NATS_SERVER") {
        // Set to something that is not a file: as good as none.
        let p = PathBuf::from(p);
        return p.is_file().then_some(p);
    }
    // Debian installs it in /usr/sbin, which a user's PATH may lack.
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/usr/local/bin".into()])
        .map(|dir| dir.join("nats-server"))
        .find(|p| p.is_file())
}

/// How to get the server, for messages that skip or fail for lack of it.
pub const HOW_TO_GET: &str = "install it with `apt-get install nats-server` (Debian, Ubuntu), \
     or download it from the NATS project's releases; or point MAPPED_NATS_SERVER at the binary";

/// The environment variable that makes tests fail, not skip, when there is
/// no `nats-server` (CI sets it).
pub const REQUIRE_ENV: &str = "MAPPED_TEST_REQUIRE_NATS";

/// For tests: the server binary, or `None` after a loud message on stderr
/// (the test should then return). Panics instead if [`REQUIRE_ENV`] is
/// `1`.
pub fn nats_server_for_test(test: &str) -> Option<PathBuf> {
    match nats_server_binary() {
        Some(p) => Some(p),
        None if std::env::var(REQUIRE_ENV).is_ok_and(|v| v == "1") => {
            panic!("{test}: no nats-server, and {REQUIRE_ENV}=1: {HOW_TO_GET}")
        }
        None => {
            eprintln!(
                "\n*** SKIPPED {test}: no nats-server on the PATH; {HOW_TO_GET} \
                 (set {REQUIRE_ENV}=1 to make this a failure) ***\n"
            );
            None
        }
    }
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// How long a node may take to listen after it starts.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// One `nats-server -js` process, killed when dropped.
#[derive(Debug)]
pub struct NatsServer {
    binary: PathBuf,
    name: String,
    port: u16,
    /// Its storage and log file; kept across restarts.
    dir: PathBuf,
    /// `--cluster_name`, `--cluster` and `--routes`, for a cluster node.
    cluster_args: Vec<String>,
    extra_args: Vec<String>,
    child: Option<Child>,
    /// Removes `dir` when the node is dropped, if the node made it.
    _tmp: Option<tempfile::TempDir>,
}

impl NatsServer {
    /// Starts a single JetStream node on a free loopback port, storing in
    /// a new temporary directory.
    pub fn start(binary: &Path) -> std::io::Result<NatsServer> {
        Self::start_with(binary, &[])
    }

    /// [`start`](Self::start) with more command-line arguments for the
    /// server (`--max_payload`, `--config FILE`, ...).
    pub fn start_with(binary: &Path, extra: &[&str]) -> std::io::Result<NatsServer> {
        let tmp = tempfile::Builder::new().prefix("nats-").tempdir()?;
        let mut s = NatsServer {
            binary: binary.to_path_buf(),
            name: "n0".into(),
            port: free_port()?,
            dir: tmp.path().to_path_buf(),
            cluster_args: Vec::new(),
            extra_args: extra.iter().map(|s| s.to_string()).collect(),
            child: None,
            _tmp: Some(tmp),
        };
        s.launch()?;
        Ok(s)
    }

    /// The client URL, `nats://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The server's name (`-n`), as stream info names the leader.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The server's log file.
    pub fn log_file(&self) -> PathBuf {
        self.dir.join("server.log")
    }

    /// Whether the process runs (started and not killed).
    pub fn running(&self) -> bool {
        self.child.is_some()
    }

    fn launch(&mut self) -> std::io::Result<()> {
        let store = self.dir.join("store");
        let mut cmd = Command::new(&self.binary);
        cmd.args(["-js", "-a", "127.0.0.1", "-p"])
            .arg(self.port.to_string())
            .arg("-n")
            .arg(&self.name)
            .arg("-sd")
            .arg(&store)
            .arg("-l")
            .arg(self.log_file())
            .args(&self.cluster_args)
            .args(&self.extra_args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = cmd.spawn().map_err(|e| {
            std::io::Error::new(e.kind(), format!("start {}: {e}", self.binary.display()))
        })?;
        self.child = Some(child);
        self.wait_listening()
    }

    /// Waits until the server answers on its client port with its `INFO`
    /// line.
    fn wait_listening(&mut self) -> std::io::Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Some(status) = child.try_wait()? {
                    self.child = None;
                    let log = std::fs::read_to_string(self.log_file()).unwrap_or_default();
                    return Err(std::io::Error::other(format!(
                        "nats-server {} exited at start ({status}): {log}",
                        self.name
                    )));
                }
            }
            if let Ok(s) = TcpStream::connect(("127.0.0.1", self.port)) {
                s.set_read_timeout(Some(Duration::from_secs(2)))?;
                let mut line = String::new();
                if BufReader::new(s).read_line(&mut line).is_ok() && line.starts_with("INFO ") {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                return Err(std::io::Error::other(format!(
                    "nats-server {} did not listen on port {} within {START_TIMEOUT:?}",
                    self.name, self.port
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the process with `SIGKILL` (a crash: nothing is flushed) and
    /// reaps it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the process again, on the same port with the same storage.
    pub fn restart(&mut self) -> std::io::Result<()> {
        self.kill();
        self.launch()
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A JetStream cluster of nodes on loopback ports, routed to each other.
#[derive(Debug)]
pub struct Cluster {
    /// The nodes, `n0`, `n1`, ...
    pub nodes: Vec<NatsServer>,
    _tmp: tempfile::TempDir,
}

impl Cluster {
    /// Starts `n` nodes (3 for a stream with 3 replicas).
    pub fn start(binary: &Path, n: usize) -> std::io::Result<Cluster> {
        let tmp = tempfile::Builder::new().prefix("nats-cluster-").tempdir()?;
        let ports = (0..n)
            .map(|_| Ok((free_port()?, free_port()?)))
            .collect::<std::io::Result<Vec<_>>>()?;
        let mut nodes = Vec::new();
        for (i, &(port, route)) in ports.iter().enumerate() {
            let dir = tmp.path().join(format!("n{i}"));
            std::fs::create_dir_all(&dir)?;
            let routes = ports
                .iter()
                .enumerate()
                .filter(|&(j, _)| j != i)
                .map(|(_, (_, r))| format!("nats://127.0.0.1:{r}"))
                .collect::<Vec<_>>()
                .join(",");
            let node = NatsServer {
                binary: binary.to_path_buf(),
                name: format!("n{i}"),
                port,
                dir,
                cluster_args: vec![
                    "--cluster_name".into(),
                    "mapped".into(),
                    "--cluster".into(),
                    format!("nats://127.0.0.1:{route}"),
                    "--routes".into(),
                    routes,
                ],
                extra_args: Vec::new(),
                child: None,
                _tmp: None,
            };
            nodes.push(node);
        }
        // Started one after the other: each waits only to listen, the
        // routes form meanwhile.
        for node in &mut nodes {
            node.launch()?;
        }
        Ok(Cluster { nodes, _tmp: tmp })
    }

    /// Every node's client URL, comma-separated (a client connects to any
    /// and fails over to the others).
    pub fn urls(&self) -> String {
        self.nodes
            .iter()
            .map(NatsServer::url)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The node named `name`.
    pub fn node_mut(&mut self, name: &str) -> Option<&mut NatsServer> {
        self.nodes.iter_mut().find(|n| n.name == name)
    }
}

/// One message of a stream, as [`stream_messages`] reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamEntry {
    /// Its stream sequence.
    pub sequence: u64,
    /// Its headers, parsed.
    pub origin: crate::headers::Origin,
    /// Its payload.
    pub payload: Vec<u8>,
}

/// Runs `f` on a small runtime of its own: for the synchronous tests.
fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(f)
}

/// Every message of the stream in sequence order, read with an ordered
/// consumer; each one's headers must be an export's. For tests: checks
/// what an export or a replica left.
pub fn stream_messages(servers: &str, stream: &str) -> Result<Vec<StreamEntry>, String> {
    stream_messages_over(&crate::Connection::new(servers), stream)
}

/// [`stream_messages`] through `connection`: with its credentials, its
/// TLS certificates.
pub fn stream_messages_over(
    connection: &crate::Connection,
    stream: &str,
) -> Result<Vec<StreamEntry>, String> {
    use futures_util::StreamExt;
    block_on(async {
        let client = connection
            .connect(&crate::Events::ignore())
            .await
            .map_err(|e| match std::error::Error::source(&e) {
                Some(cause) => format!("{e}: {cause}"),
                None => e.to_string(),
            })?;
        let js = async_nats::jetstream::new(client);
        let s = js.get_stream(stream).await.map_err(|e| e.to_string())?;
        let state = s.get_info().await.map_err(|e| e.to_string())?.state;
        let mut out = Vec::new();
        if state.messages == 0 {
            return Ok(out);
        }
        let consumer = s
            .create_consumer(async_nats::jetstream::consumer::pull::OrderedConfig::default())
            .await
            .map_err(|e| e.to_string())?;
        let mut messages = consumer.messages().await.map_err(|e| e.to_string())?;
        while let Some(m) = tokio::time::timeout(Duration::from_secs(10), messages.next())
            .await
            .map_err(|_| "timed out reading the stream".to_string())?
        {
            let m = m.map_err(|e| e.to_string())?;
            let sequence = m.info().map_err(|e| e.to_string())?.stream_sequence;
            let origin = crate::headers::Origin::parse(stream, sequence, m.headers.as_ref())
                .map_err(|e| e.to_string())?;
            out.push(StreamEntry {
                sequence,
                origin,
                payload: m.payload.to_vec(),
            });
            if sequence >= state.last_sequence {
                break;
            }
        }
        Ok(out)
    })
}

/// The name of the server that leads the stream, if it has a leader.
pub fn stream_leader(servers: &str, stream: &str) -> Option<String> {
    block_on(async {
        let client = async_nats::connect(crate::connect::parse_servers(servers).ok()?)
            .await
            .ok()?;
        let js = async_nats::jetstream::new(client);
        let s = js.get_stream(stream).await.ok()?;
        s.cached_info().cluster.as_ref()?.leader.clone()
    })
}

/// The stream's last sequence, if the stream exists.
pub fn stream_last_sequence(servers: &str, stream: &str) -> Option<u64> {
    block_on(async {
        let client = async_nats::connect(crate::connect::parse_servers(servers).ok()?)
            .await
            .ok()?;
        let js = async_nats::jetstream::new(client);
        let s = js.get_stream(stream).await.ok()?;
        Some(s.cached_info().state.last_sequence)
    })
}
