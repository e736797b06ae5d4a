//! The `layerget` binary as tests run it: the command builder with a clean environment, a
//! running `layerget serve`, a per-test cache directory and readers of a cache's `index.json`.

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;

use serde_json::Value;
use tempfile::TempDir;

use super::generate::REF_NAME;
use super::http::{HttpResponse, http_request};

/// A fixed, empty home under cargo's per-target temp dir: `HOME`, `DOCKER_CONFIG` and the XDG
/// dirs point here so no test reads `~/.docker` or writes the real cache.
pub fn isolated_home() -> PathBuf {
    let home = Path::new(env!("CARGO_TARGET_TMPDIR")).join("layerget-home");
    fs::create_dir_all(home.join("docker")).expect("create isolated home");
    home
}

/// The built `layerget` binary with a clean, reproducible environment: no backtraces, no colour,
/// no proxies, no inherited cache dir, and an isolated home and Docker config.
pub fn layerget() -> assert_cmd::Command {
    let home = isolated_home();
    let mut cmd = assert_cmd::cargo::cargo_bin_cmd!("layerget");
    for var in [
        "LAYERGET_CACHE_DIR",
        "RUST_LOG",
        "http_proxy",
        "https_proxy",
        "all_proxy",
        "no_proxy",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "NO_PROXY",
        "REGISTRY_AUTH_FILE",
        "XDG_RUNTIME_DIR",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("RUST_BACKTRACE", "0")
        .env("RUST_LIB_BACKTRACE", "0")
        .env("NO_COLOR", "1")
        .env("HOME", &home)
        .env("DOCKER_CONFIG", home.join("docker"))
        .env("XDG_CACHE_HOME", home.join("cache"))
        .env("XDG_CONFIG_HOME", home.join("config"));
    cmd
}

/// A per-test cache directory, deleted when dropped.
#[derive(Debug)]
pub struct TempCache {
    /// The directory itself.
    dir: TempDir,
}

impl TempCache {
    /// Create an empty cache directory.
    pub fn new() -> TempCache {
        TempCache {
            dir: TempDir::new().expect("create temp cache"),
        }
    }

    /// The cache root, for `--cache-dir`.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Makes the directory an OCI image layout (`oci-layout`), as a test that plants content by
    /// hand needs: layerget opens only empty directories and layouts as caches. Returns the
    /// cache for chaining.
    pub fn with_layout(self) -> TempCache {
        fs::write(
            self.path().join("oci-layout"),
            br#"{"imageLayoutVersion":"1.0.0"}"#,
        )
        .expect("write oci-layout");
        self
    }

    /// Where a verified blob lives in the OCI layout: `blobs/<alg>/<hex>`.
    pub fn blob_path(&self, digest: &str) -> PathBuf {
        let (alg, hex) = digest.split_once(':').expect("digest has an algorithm");
        self.path().join("blobs").join(alg).join(hex)
    }
}

impl Default for TempCache {
    fn default() -> Self {
        Self::new()
    }
}

// ---------------------------------------------------------------------------------------------
// Reading a cache's index
// ---------------------------------------------------------------------------------------------

/// The parsed `index.json` of a cache.
pub fn index_json(cache: &Path) -> Value {
    serde_json::from_slice(&fs::read(cache.join("index.json")).unwrap()).unwrap()
}

/// `index.json` entries as (ref.name or other annotation value, digest, mediaType).
pub fn entries(cache: &Path) -> Vec<(String, String, String)> {
    index_json(cache)["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let name = e["annotations"]
                .as_object()
                .and_then(|a| a.values().next())
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            (
                name,
                e["digest"].as_str().unwrap().to_owned(),
                e["mediaType"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

/// The digest the entry named `name` (by ref.name) records, if any.
pub fn recorded(cache: &Path, name: &str) -> Option<String> {
    index_json(cache)["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["annotations"][REF_NAME] == name)
        .map(|e| e["digest"].as_str().unwrap().to_owned())
}

// ---------------------------------------------------------------------------------------------
// layerget serve
// ---------------------------------------------------------------------------------------------

/// A running `layerget serve`, killed by pid when dropped.
pub struct Serve {
    /// The process, `None` once reaped.
    child: Option<Child>,
    /// `127.0.0.1:PORT` as serve printed it.
    pub addr: String,
    /// Everything serve wrote to stderr so far (its startup lines and access log).
    stderr: Arc<Mutex<String>>,
}

impl Serve {
    /// Starts `layerget -v serve CACHE --listen 127.0.0.1:0 EXTRA…` and waits for the address.
    pub fn start(cache: &Path, extra: &[&str]) -> Serve {
        Serve::start_env(cache, extra, &[])
    }

    /// [`Serve::start`] with extra environment variables (an `s3://` cache's credentials).
    pub fn start_env(cache: &Path, extra: &[&str], envs: &[(&str, String)]) -> Serve {
        let home = isolated_home();
        let mut child = Command::new(env!("CARGO_BIN_EXE_layerget"))
            .arg("-v")
            .arg("serve")
            .arg(cache)
            .args(["--listen", "127.0.0.1:0"])
            .args(extra)
            .env("RUST_BACKTRACE", "0")
            .env("NO_COLOR", "1")
            .env("HOME", &home)
            .env_remove("LAYERGET_CACHE_DIR")
            .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn layerget serve");
        let mut lines = BufReader::new(child.stderr.take().expect("piped stderr")).lines();
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut addr = None;
        for line in lines.by_ref() {
            let line = line.expect("read serve stderr");
            stderr.lock().unwrap().push_str(&format!("{line}\n"));
            let after = |scheme| line.split(scheme).nth(1);
            if let Some(rest) = after(" on http://").or_else(|| after(" on https://")) {
                addr = Some(rest.trim_end_matches("/v2/").to_owned());
                break;
            }
        }
        let addr = addr.unwrap_or_else(|| {
            let _ = child.kill();
            panic!("serve printed no address:\n{}", stderr.lock().unwrap())
        });
        // Keep draining stderr (the access log) so the pipe never fills.
        let sink = stderr.clone();
        thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                sink.lock().unwrap().push_str(&format!("{line}\n"));
            }
        });
        Serve {
            child: Some(child),
            addr,
            stderr,
        }
    }

    /// Send one request to serve.
    pub fn request(&self, method: &str, target: &str, headers: &[(&str, &str)]) -> HttpResponse {
        http_request(&self.addr, method, target, headers, b"")
    }

    /// Serve's stderr so far.
    pub fn log(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits for the process to exit on its own (e.g. after a signal) and reaps it.
    pub fn wait(&mut self) -> std::process::ExitStatus {
        self.child
            .take()
            .expect("running")
            .wait()
            .expect("wait for serve")
    }

    /// The process id, to signal it.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A finished command's stdout, as text.
pub fn stdout(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&a.get_output().stdout).into_owned()
}

/// A finished command's stderr, as text.
pub fn stderr(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&a.get_output().stderr).into_owned()
}
