//! A counting TCP relay for benchmarks (issue 13's pull-through benchmark): listens on
//! 127.0.0.1, relays every connection to one upstream address unchanged, and counts the bytes
//! the upstream sent towards the clients. `scripts/bench-pull-through` puts it between the
//! reference registry (the upstream) and the caches under test, so it can say how many times a
//! blob came over the "WAN".
//!
//! ```text
//! cargo run --release --example count_proxy -- LISTEN_PORT UPSTREAM_PORT STATS_PORT
//! ```
//!
//! Prints `ready` on stdout once both ports listen. Any request to the stats port
//! (`curl http://127.0.0.1:STATS_PORT/`) answers `BYTES CONNECTIONS`: the bytes relayed from
//! the upstream since the previous stats request (then reset to 0), and the connections
//! accepted since then. The bytes are what came over TCP, response heads included (a few
//! hundred bytes per response), so for a blob of megabytes they are its body bytes to well
//! under 0.01 %; the benchmark only ever compares them with blob sizes.
//!
//! Each direction is its own loop with a 256 KiB buffer (no parsing), so the relay costs one
//! read and one write per 256 KiB: the benchmark measures its throughput against a direct
//! download and prints both.
#![allow(
    clippy::print_stdout,
    reason = "a benchmark tool: its ready line is the output"
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

/// Relay buffer per direction and connection.
const BUF: usize = 256 * 1024;

/// What the relay has counted since the last stats request.
#[derive(Default)]
struct Counts {
    /// Bytes read from the upstream and written to a client.
    from_upstream: AtomicU64,
    /// Client connections accepted.
    connections: AtomicU64,
}

fn port(arg: Option<String>, usage: &str) -> anyhow::Result<u16> {
    let arg = arg.context(usage.to_owned())?;
    arg.parse()
        .with_context(|| format!("`{arg}` is no port\n{usage}"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let usage = "usage: count_proxy LISTEN_PORT UPSTREAM_PORT STATS_PORT";
    let mut args = std::env::args().skip(1);
    let listen = port(args.next(), usage)?;
    let upstream = port(args.next(), usage)?;
    let stats = port(args.next(), usage)?;
    let relay = TcpListener::bind(("127.0.0.1", listen))
        .await
        .with_context(|| format!("listening on 127.0.0.1:{listen}"))?;
    let stats = TcpListener::bind(("127.0.0.1", stats))
        .await
        .with_context(|| format!("listening on 127.0.0.1:{stats}"))?;
    let counts = Arc::new(Counts::default());
    tokio::spawn(serve_stats(stats, Arc::clone(&counts)));
    println!("ready");
    loop {
        let (client, _) = relay.accept().await.context("accepting a connection")?;
        counts.connections.fetch_add(1, Ordering::Relaxed);
        let counts = Arc::clone(&counts);
        tokio::spawn(async move {
            // A connection the upstream refuses is closed; the client sees that.
            if let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)).await {
                relay_pair(client, server, &counts).await;
            }
        });
    }
}

/// Relays both directions until both have ended.
async fn relay_pair(client: TcpStream, server: TcpStream, counts: &Counts) {
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let up = pump(&mut client_read, &mut server_write, None);
    let down = pump(
        &mut server_read,
        &mut client_write,
        Some(&counts.from_upstream),
    );
    // Each pump passes its EOF on as a shutdown, so the other side's close ends the other pump.
    tokio::join!(up, down);
}

/// Copies `from` to `to` until EOF or an error, adding each chunk to `count`.
async fn pump<R, W>(from: &mut R, to: &mut W, count: Option<&AtomicU64>)
where
    R: tokio::io::AsyncRead + Unpin,
    W: tokio::io::AsyncWrite + Unpin,
{
    let mut buf = vec![0_u8; BUF];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let Some(chunk) = buf.get(..n) else { break };
        if to.write_all(chunk).await.is_err() {
            break;
        }
        if let Some(count) = count {
            count.fetch_add(n as u64, Ordering::Relaxed);
        }
    }
    let _ = to.shutdown().await;
}

/// Answers every connection to the stats port with `BYTES CONNECTIONS` and resets both.
async fn serve_stats(listener: TcpListener, counts: Arc<Counts>) {
    while let Ok((mut conn, _)) = listener.accept().await {
        // The request itself is not looked at: read what came, answer, close.
        let mut request = [0_u8; 4096];
        let _ = conn.read(&mut request).await;
        let body = format!(
            "{} {}\n",
            counts.from_upstream.swap(0, Ordering::Relaxed),
            counts.connections.swap(0, Ordering::Relaxed)
        );
        let answer = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = conn.write_all(answer.as_bytes()).await;
        let _ = conn.shutdown().await;
    }
}
