//! A single Garage node for the S3 store's unit tests (the contract): started on 127.0.0.1
//! with a temp config (`db_engine = "sqlite"`, `replication_factor = 1`), laid out and given a
//! key with its own CLI, stopped by pid. tests/it/support/garage.rs is the integration tests'
//! fuller copy (several nodes). `scripts/test` installs garage; without it these tests say so
//! and pass.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{S3Config, S3Store};

/// The access key every test node imports.
pub const KEY_ID: &str = "GK0123456789abcdef01234567";
/// Its secret.
pub const SECRET: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
/// The region the nodes sign with.
pub const REGION: &str = "garage";

/// A running single-node Garage.
pub struct Garage {
    child: Child,
    dir: tempfile::TempDir,
    config: PathBuf,
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
pub fn binary() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("garage"))
            .find(|p| p.is_file())
    });
    on_path.or_else(|| {
        let home = std::env::var_os("HOME")?;
        let p = PathBuf::from(home).join(".cargo/bin/garage");
        p.is_file().then_some(p)
    })
}

impl Garage {
    /// Starts a node, or says why not and returns `None` when garage is not installed.
    #[allow(clippy::print_stderr, reason = "a skipped test says why")]
    pub async fn start_or_skip() -> Option<Garage> {
        let Some(bin) = binary() else {
            // scripts/test installs garage: there a missing binary fails the test.
            assert!(
                std::env::var_os("LAYERGET_REQUIRE_GARAGE").is_none(),
                "`garage` is not installed, and LAYERGET_REQUIRE_GARAGE is set"
            );
            eprintln!("skipped: `garage` is not installed (scripts/test installs it)");
            return None;
        };
        Some(
            tokio::task::spawn_blocking(move || Garage::start(bin))
                .await
                .unwrap(),
        )
    }

    fn start(bin: PathBuf) -> Garage {
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
                "ab".repeat(32)
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
            dir,
            config,
            endpoint: format!("http://127.0.0.1:{s3}"),
        };
        let cli = |args: &[&str]| node.cli(&bin, args);
        let id = retry(|| {
            let out = cli(&["node", "id", "-q"])?;
            out.split('@')
                .next()
                .map(str::to_owned)
                .filter(|s| !s.is_empty())
        });
        // Each step retried: a node that just answered its id may still refuse the next one.
        // An apply that took effect but whose answer was lost is seen in `layout show`.
        let _ = retry(|| cli(&["layout", "assign", "-z", "dc1", "-c", "1G", &id]));
        let _ = retry(|| {
            cli(&["layout", "apply", "--version", "1"]).or_else(|| {
                cli(&["layout", "show"]).filter(|s| s.contains("Current cluster layout version: 1"))
            })
        });
        let _ = retry(|| cli(&["key", "import", "--yes", "-n", "test", KEY_ID, SECRET]));
        node
    }

    fn cli(&self, bin: &PathBuf, args: &[&str]) -> Option<String> {
        let out = Command::new(bin)
            .arg("-c")
            .arg(&self.config)
            .args(args)
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// A fresh bucket `name` the test key owns, opened as a store (created).
    pub async fn store(&self, name: &str) -> S3Store {
        let bin = binary().unwrap();
        for args in [
            vec!["bucket", "create", name],
            vec![
                "bucket", "allow", "--read", "--write", "--owner", name, "--key", "test",
            ],
        ] {
            let _ = retry(|| self.cli(&bin, &args));
        }
        S3Store::open(self.config(name), true).await.unwrap()
    }

    /// The store configuration of bucket `name` on this node, with the test key.
    pub fn config(&self, name: &str) -> S3Config {
        let mut c = S3Config::parse_url(&format!("s3://{name}/cache"))
            .unwrap()
            .unwrap();
        c.endpoint = Some(self.endpoint.clone());
        c.path_style = true;
        c.keys = Some((KEY_ID.into(), SECRET.into()));
        c.region = Some(REGION.into());
        c
    }
}

/// Retries `f` for a few seconds (the node is starting, the layout is being applied).
fn retry<T>(mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "garage did not become ready");
        std::thread::sleep(Duration::from_millis(100));
    }
}

impl Drop for Garage {
    fn drop(&mut self) {
        // Our own child, by its pid.
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = &self.dir;
    }
}
