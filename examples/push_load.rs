//! A load client for the blob upload API (issue 11's small-blob benchmark): pushes N distinct
//! small blobs into a registry with C concurrent workers, each push a `POST …/blobs/uploads/`
//! then one `PUT <Location>?digest=D` with the body, and prints the rate.
//!
//! `scripts/bench-push-serve` runs it against the reference registry and `layerget serve
//! --allow-push` in the same run. It replaces a shell client (bash + sha256sum + two curl
//! processes per push) that measured process start-up as much as either server: here the
//! blobs and their digests are made before the clock starts, and the workers share one
//! keep-alive connection pool (one connection per worker), as a real pushing client does.
//!
//! ```text
//! cargo run --release --example push_load -- http://127.0.0.1:5000 bench/small \
//!     [--blobs 1000] [--size 1024] [--concurrency 16] [--seed 1]
//! ```
//!
//! Output (stdout, one line): `BLOBS blobs in SECONDS s: RATE blobs/s`. Any answer other than
//! 202 to the POST or 201 to the PUT stops the run with an error naming the request.
#![allow(
    clippy::print_stdout,
    reason = "a benchmark client: its one result line is the output"
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::{Context as _, bail};
use bytes::Bytes;
use sha2::Digest as _;

/// What to push, from the command line.
struct Args {
    base: String,
    repo: String,
    blobs: usize,
    size: usize,
    concurrency: usize,
    seed: u64,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut args = std::env::args().skip(1);
    let usage =
        "usage: push_load BASE_URL REPO [--blobs N] [--size BYTES] [--concurrency C] [--seed S]";
    let base = args.next().context(usage)?;
    let repo = args.next().context(usage)?;
    let mut parsed = Args {
        base: base.trim_end_matches('/').to_owned(),
        repo,
        blobs: 1000,
        size: 1024,
        concurrency: 16,
        seed: 1,
    };
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .with_context(|| format!("{flag} needs a value"))?;
        let number = || -> anyhow::Result<u64> {
            value
                .parse()
                .with_context(|| format!("{flag}: `{value}` is no number"))
        };
        match flag.as_str() {
            "--blobs" => parsed.blobs = usize::try_from(number()?)?,
            "--size" => parsed.size = usize::try_from(number()?)?,
            "--concurrency" => parsed.concurrency = usize::try_from(number()?)?.max(1),
            "--seed" => parsed.seed = number()?,
            _ => bail!("unknown flag `{flag}`\n{usage}"),
        }
    }
    Ok(parsed)
}

/// Blob `index` of a run: `size` bytes that differ for every (seed, index), so each push is
/// new content to both servers (xorshift, seeded per blob; no randomness crate needed).
fn blob(seed: u64, index: usize, size: usize) -> Bytes {
    let mut x = seed
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(index as u64)
        .wrapping_mul(0xBF58_476D_1CE4_E5B9)
        | 1;
    let mut out = Vec::with_capacity(size + 8);
    while out.len() < size {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(size);
    Bytes::from(out)
}

/// The URL a `Location` header names: absolute as sent, or relative to `base`.
fn absolute(base: &str, location: &str) -> String {
    if location.starts_with("http://") || location.starts_with("https://") {
        location.to_owned()
    } else {
        format!("{base}{location}")
    }
}

/// One push: POST, then PUT with the body and `?digest=` (appended to any query the
/// `Location` carries, as the spec requires clients to keep it).
async fn push(
    client: &reqwest::Client,
    args: &Args,
    body: Bytes,
    digest: &str,
) -> anyhow::Result<()> {
    let start = format!("{}/v2/{}/blobs/uploads/", args.base, args.repo);
    let response = client
        .post(&start)
        .header(reqwest::header::CONTENT_LENGTH, 0)
        .send()
        .await
        .with_context(|| format!("POST {start}"))?;
    if response.status() != reqwest::StatusCode::ACCEPTED {
        bail!("POST {start}: {}", response.status());
    }
    let location = response
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .with_context(|| format!("POST {start}: 202 without a Location"))?
        .to_owned();
    // Read to the end so the connection goes back to the pool.
    response.bytes().await.ok();
    let url = absolute(&args.base, &location);
    let separator = if url.contains('?') { '&' } else { '?' };
    let put = format!("{url}{separator}digest={digest}");
    let response = client
        .put(&put)
        .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
        .body(body)
        .send()
        .await
        .with_context(|| format!("PUT {put}"))?;
    if response.status() != reqwest::StatusCode::CREATED {
        bail!("PUT {put}: {}", response.status());
    }
    response.bytes().await.ok();
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Arc::new(parse_args()?);
    // Plain HTTP only, but reqwest's rustls build still wants a provider installed.
    let _ = rustls::crypto::ring::default_provider().install_default();
    // Made before the clock starts: the client's own hashing is not what is measured.
    let work: Arc<Vec<(Bytes, String)>> = Arc::new(
        (0..args.blobs)
            .map(|i| {
                let b = blob(args.seed, i, args.size);
                let digest = format!("sha256:{}", hex::encode(sha2::Sha256::digest(&b)));
                (b, digest)
            })
            .collect(),
    );
    let client = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(args.concurrency)
        .build()
        .context("building the HTTP client")?;
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..args.concurrency {
        let (client, args, work, next) = (client.clone(), args.clone(), work.clone(), next.clone());
        workers.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((body, digest)) = work.get(i) else {
                    return Ok::<(), anyhow::Error>(());
                };
                push(&client, &args, body.clone(), digest).await?;
            }
        });
    }
    while let Some(done) = workers.join_next().await {
        done.context("a worker panicked")??;
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{} blobs in {seconds:.3} s: {:.0} blobs/s",
        args.blobs,
        args.blobs as f64 / seconds
    );
    Ok(())
}
