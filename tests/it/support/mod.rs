//! Shared fixtures for the integration tests, one module per concern:
//!
//! - [`registry`]: the reference registry (`docker-registry` on `127.0.0.1`, stopped by pid) and
//!   `skopeo` reading a cache;
//! - [`proxy`]: the fault-injecting proxy in front of it;
//! - [`fakes`]: hand-written servers for what a real registry will not do (lie, reject like a CDN);
//! - [`cli`]: the `layerget` command, `layerget serve`, temp caches and their `index.json`;
//! - [`generate`]: deterministic blobs, digests, images and manifests;
//! - [`http`]: the tiny HTTP/1.1 client and the accept loop the proxy and fakes share.
//!
//! Everything here is synchronous std code (threads, `TcpStream`, a tiny HTTP/1.1 client) so that
//! tests stay plain `#[test]` functions and never depend on the code under test. All sockets are
//! on `127.0.0.1`, every server gets its own port, and every child process is stopped by pid.
//! Test modules `use crate::support::*`: every public item is re-exported here.

// Not every helper is used by every test module yet; the harness tests cover them all.
#![allow(dead_code)]

use std::time::{Duration, Instant};

pub mod cli;
pub mod fakes;
pub mod garage;
pub mod generate;
pub mod http;
pub mod proxy;
pub mod registry;

pub use cli::*;
pub use fakes::*;
pub use garage::*;
pub use generate::*;
pub use http::*;
pub use proxy::*;
pub use registry::*;

/// Socket read timeout for the test client and the fakes: long enough for a 1 GiB upload to be
/// committed, short enough that a hung peer fails the test instead of hanging the run.
const IO_TIMEOUT: Duration = Duration::from_secs(120);

/// Buffer size used when streaming bodies (generator, proxy).
const COPY_BUF: usize = 64 << 10;

/// How long [`wait_until`] waits: far longer than any condition should take, so it only turns a
/// regression into a failure instead of a hung run. It is never a claim about speed.
pub const WAIT_LIMIT: Duration = Duration::from_secs(20);

/// Polls `done` until it holds, panicking with `what` after [`WAIT_LIMIT`]. For conditions with
/// no event to wait on: another process's files, output or sockets.
pub fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT_LIMIT;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}
