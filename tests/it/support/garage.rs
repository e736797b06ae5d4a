//! Garage, a real distributed S3-compatible object store, for the `s3://` cache tests: a
//! single node started on 127.0.0.1 with a temp config (`db_engine = "sqlite"`,
//! `replication_factor = 1`), laid out and given a bucket and a key with its own CLI, stopped
//! by pid. `scripts/test` installs garage; a test run without it skips these tests and says so.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// The access key every test node imports (Garage's `GK` + 24 hex digits).
pub const KEY_ID: &str = "GK0123456789abcdef01234567";
/// Its secret (64 hex digits).
pub const SECRET: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
/// The region the nodes sign with.
pub const REGION: &str = "garage";

/// A running single-node Garage, killed by pid when dropped.
pub struct Garage {
    child: Child,
    bin: PathBuf,
    config: PathBuf,
    _dir: TempDir,
    /// `http://127.0.0.1:PORT`, the S3 endpoint.
    pub endpoint: String,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The garage binary: on PATH or where `cargo install` puts it.
fn binary() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("garage"))
            .find(|p| p.is_file())
    });
    on_path.or_else(|| {
        let p = PathBuf::from(std::env::var_os("HOME")?).join(".cargo/bin/garage");
        p.is_file().then_some(p)
    })
}

/// Retries `f` for up to 20 s (the node is starting, the layout is being applied).
fn retry<T>(mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "garage did not become ready");
        thread::sleep(Duration::from_millis(100));
    }
}

impl Garage {
    /// Starts a node with the test key, or says why not and returns `None` when garage is not
    /// installed.
    pub fn start_or_skip() -> Option<Garage> {
        Some(Garage::cluster_or_skip(1)?.remove(0))
    }

    /// Starts `n` nodes that form one cluster (replication factor `n`, one zone each), with
    /// the test key; the first node is the one the tests talk to and run the CLI against.
    #[allow(clippy::print_stderr, reason = "a skipped test says why")]
    pub fn cluster_or_skip(n: usize) -> Option<Vec<Garage>> {
        let Some(bin) = binary() else {
            // scripts/test installs garage and says so: there a missing binary is a failure,
            // not a skip.
            assert!(
                std::env::var_os("LAYERGET_REQUIRE_GARAGE").is_none(),
                "`garage` is not installed, and LAYERGET_REQUIRE_GARAGE is set"
            );
            eprintln!("skipped: `garage` is not installed (scripts/test installs it)");
            return None;
        };
        let nodes: Vec<Garage> = (0..n).map(|_| Garage::spawn(&bin, n)).collect();
        let ids: Vec<String> = nodes
            .iter()
            .map(|node| {
                retry(|| {
                    let out = node.cli(&["node", "id", "-q"])?;
                    Some(out.trim().to_owned()).filter(|s| s.contains('@'))
                })
            })
            .collect();
        let first = &nodes[0];
        for id in &ids[1..] {
            retry(|| first.cli(&["node", "connect", id]));
        }
        for (i, id) in ids.iter().enumerate() {
            let short = id.split('@').next().unwrap();
            let zone = format!("dc{i}");
            retry(|| first.cli(&["layout", "assign", "-z", &zone, "-c", "1G", short]));
        }
        // An apply that took effect but whose answer was lost is seen in `layout show`.
        retry(|| {
            first
                .cli(&["layout", "apply", "--version", "1"])
                .or_else(|| {
                    first
                        .cli(&["layout", "show"])
                        .filter(|s| s.contains("Current cluster layout version: 1"))
                })
        });
        retry(|| first.cli(&["key", "import", "--yes", "-n", "test", KEY_ID, SECRET]));
        Some(nodes)
    }

    /// Spawns one node of a cluster of `replicas`.
    fn spawn(bin: &Path, replicas: usize) -> Garage {
        let dir = tempfile::tempdir().unwrap();
        let (s3, rpc, admin) = (free_port(), free_port(), free_port());
        let config = dir.path().join("garage.toml");
        let root = dir.path().display();
        std::fs::write(
            &config,
            format!(
                "metadata_dir = \"{root}/meta\"\ndata_dir = \"{root}/data\"\n\
                 db_engine = \"sqlite\"\nreplication_factor = {replicas}\n\
                 rpc_bind_addr = \"127.0.0.1:{rpc}\"\nrpc_public_addr = \"127.0.0.1:{rpc}\"\n\
                 rpc_secret = \"{}\"\n\
                 [s3_api]\ns3_region = \"{REGION}\"\napi_bind_addr = \"127.0.0.1:{s3}\"\n\
                 [admin]\napi_bind_addr = \"127.0.0.1:{admin}\"\n",
                "cd".repeat(32)
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.path().join("log")).unwrap();
        let child = Command::new(bin)
            .arg("-c")
            .arg(&config)
            .arg("server")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        Garage {
            child,
            bin: bin.to_owned(),
            config,
            _dir: dir,
            endpoint: format!("http://127.0.0.1:{s3}"),
        }
    }

    /// Stops this node now (SIGKILL, by pid), as a crashed machine would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Runs the garage CLI against this node; its stdout when it succeeded.
    pub fn cli(&self, args: &[&str]) -> Option<String> {
        let out = Command::new(&self.bin)
            .arg("-c")
            .arg(&self.config)
            .args(args)
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Creates bucket `name`, owned by the test key; returns `s3://name/cache`.
    pub fn bucket(&self, name: &str) -> String {
        retry(|| self.cli(&["bucket", "create", name]));
        retry(|| {
            self.cli(&[
                "bucket", "allow", "--read", "--write", "--owner", name, "--key", "test",
            ])
        });
        format!("s3://{name}/cache")
    }

    /// A `curl --aws-sigv4` command for `target` (`bucket/key…`) on this node with the test
    /// key: how the tests look into the bucket behind layerget's back. Add curl's options.
    pub fn curl(&self, target: &str) -> Command {
        let mut cmd = Command::new("curl");
        cmd.args(["--aws-sigv4", &format!("aws:amz:{REGION}:s3")])
            .args(["--user", &format!("{KEY_ID}:{SECRET}")])
            .args(["-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD"])
            .arg(format!("{}/{target}", self.endpoint));
        cmd
    }

    /// PUTs `body` under `key` of `bucket` behind layerget's back (what a bad sync tool or a
    /// person could leave).
    pub fn put_object(&self, bucket: &str, key: &str, body: &[u8]) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("body");
        std::fs::write(&file, body).unwrap();
        let status = self
            .curl(&format!("{bucket}/{key}"))
            .args(["-sf", "-o", "/dev/null", "-T"])
            .arg(&file)
            .status()
            .unwrap();
        assert!(status.success(), "PUT {bucket}/{key}");
    }

    /// The environment a `layerget` child needs to reach this node with the test key.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", KEY_ID.to_owned()),
            ("AWS_SECRET_ACCESS_KEY", SECRET.to_owned()),
            ("AWS_REGION", REGION.to_owned()),
            ("LAYERGET_S3_ENDPOINT", self.endpoint.clone()),
            ("LAYERGET_S3_PATH_STYLE", "1".to_owned()),
        ]
    }
}

impl Drop for Garage {
    fn drop(&mut self) {
        // Our own child, by its pid.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
