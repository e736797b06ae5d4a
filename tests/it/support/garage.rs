//! Garage, a real distributed S3-compatible object store, for the `s3://` cache tests: a
//! single node started on 127.0.0.1 with a temp config (`db_engine = "sqlite"`,
//! `replication_factor = 1`), laid out and given a bucket and a key with its own CLI, stopped
//! by pid. `scripts/test` installs garage; a test run without it skips these tests and says so.

use std::net::TcpListener;
use std::path::PathBuf;
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
    #[allow(clippy::print_stderr, reason = "a skipped test says why")]
    pub fn start_or_skip() -> Option<Garage> {
        let Some(bin) = binary() else {
            eprintln!("skipped: `garage` is not installed (scripts/test installs it)");
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        let (s3, rpc, admin) = (free_port(), free_port(), free_port());
        let config = dir.path().join("garage.toml");
        let root = dir.path().display();
        std::fs::write(
            &config,
            format!(
                "metadata_dir = \"{root}/meta\"\ndata_dir = \"{root}/data\"\n\
                 db_engine = \"sqlite\"\nreplication_factor = 1\n\
                 rpc_bind_addr = \"127.0.0.1:{rpc}\"\nrpc_public_addr = \"127.0.0.1:{rpc}\"\n\
                 rpc_secret = \"{}\"\n\
                 [s3_api]\ns3_region = \"{REGION}\"\napi_bind_addr = \"127.0.0.1:{s3}\"\n\
                 [admin]\napi_bind_addr = \"127.0.0.1:{admin}\"\n",
                "cd".repeat(32)
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.path().join("log")).unwrap();
        let child = Command::new(&bin)
            .arg("-c")
            .arg(&config)
            .arg("server")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let node = Garage {
            child,
            bin,
            config,
            _dir: dir,
            endpoint: format!("http://127.0.0.1:{s3}"),
        };
        let id = retry(|| {
            let out = node.cli(&["node", "id", "-q"])?;
            out.split('@')
                .next()
                .map(str::to_owned)
                .filter(|s| !s.is_empty())
        });
        node.cli(&["layout", "assign", "-z", "dc1", "-c", "1G", &id])
            .unwrap();
        node.cli(&["layout", "apply", "--version", "1"]).unwrap();
        retry(|| node.cli(&["key", "import", "--yes", "-n", "test", KEY_ID, SECRET]));
        Some(node)
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
