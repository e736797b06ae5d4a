//! The accept loop: plain or TLS connections, per-address limits, header timeouts, the
//! watchdog of each connection, and graceful shutdown.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::http::header::HeaderValue;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use super::routing::router;
use super::{
    API_VERSION, Access, ApiError, Limits, MAX_HEADER_BYTES, NOSNIFF, conn, error_response,
    sendfile,
};
use crate::store::ContentStore;

/// Refused connections being answered at once; beyond that they are closed unanswered.
/// Each holds a task for at most `header_timeout`.
const REFUSING: usize = 64;

/// What hyper buffers per connection, each way. Writing, it asks the body for another chunk
/// only while less than this is queued for the socket: with its default (408 KiB) and bodies of
/// 256 KiB chunks, each slow reader held two chunks (64 streams of a pull-through: 32 MiB,
/// issue 13); with this, one chunk and at most this much of the one before. Reading, it caps
/// a read of a request (a push's body comes in reads of up to this size); a head must fit too
/// (it is at most [`MAX_HEADER_BYTES`]).
const MAX_BUF: usize = 64 << 10;
const _: () = assert!(MAX_BUF >= MAX_HEADER_BYTES && MAX_BUF >= 8192);

/// Serves `source` on `listener` over plain HTTP without authentication until `shutdown`
/// completes, then lets in-flight responses finish (for at most `limits.shutdown_grace`).
pub async fn run<S: ContentStore>(
    listener: TcpListener,
    source: S,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    run_with(listener, source, limits, Access::default(), shutdown).await
}

/// [`run`] with TLS and authentication as `access` says.
pub async fn run_with<S: ContentStore>(
    listener: TcpListener,
    source: S,
    limits: Limits,
    access: Access,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let service = hyper_util::service::TowerToHyperService::new(router(source, &access));
    // HTTP/1 only, cloned per connection: a head that is slow (`header_timeout`) or large
    // (`MAX_HEADER_BYTES`: 431) ends there, before any handler runs.
    let tls = access.tls.map(tokio_rustls::TlsAcceptor::from);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_header_size(MAX_HEADER_BYTES)
        .max_buf_size(MAX_BUF);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    // At least one, or nothing would ever be accepted.
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let per_ip = conn::PerIp::new(limits.max_per_ip);
    let refusing = Arc::new(Semaphore::new(REFUSING));
    // Pinned once, so that both `select!`s below can poll it by reference on every turn.
    tokio::pin!(shutdown);
    // A permit before `accept`: at `max_connections` the loop stops accepting, and new
    // connections wait in the kernel's accept queue instead of costing a task each.
    loop {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break, // never closed; stop rather than panic
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // EMFILE and friends: wait a little instead of spinning.
                    tracing::warn!("accepting a connection failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Small answers (a HEAD's headers, an envelope) go out at once rather than waiting
        // on Nagle's algorithm; a failure here only costs that.
        let _ = stream.set_nodelay(true);
        let Some(slot) = per_ip.try_acquire(peer.ip()) else {
            // A refused connection holds no `max_connections` permit; `REFUSING` caps its answer.
            drop(permit);
            tracing::info!(
                "refusing a connection: {} connections from {} already",
                per_ip.limit(),
                peer.ip()
            );
            // Over TLS a plain-text answer would only be a handshake error: just close (a
            // handshake per refusal would be work an attacker could ask for).
            if tls.is_none() {
                refuse(stream, per_ip.limit(), &refusing, &limits, &http);
            }
            continue;
        };
        let meter = conn::Meter::new();
        // The per-address slot lives in the connection's I/O, so it is freed whenever that is
        // dropped: the connection ended, failed, or was cut by its watchdog.
        let io = conn::ConnIo::new(stream, Some(slot), meter.clone());
        let watchdog = conn::watchdog(
            meter,
            limits.idle_timeout,
            limits.min_send_rate,
            limits.send_rate_window,
        );
        let (http, service, watcher) = (http.clone(), service.clone(), graceful.watcher());
        let (tls, header_timeout) = (tls.clone(), limits.header_timeout);
        tokio::spawn(async move {
            // Held for the connection's life: its end frees a slot for the accept loop.
            let _permit = permit;
            match tls {
                None => {
                    // Plain HTTP: file bodies go out by `sendfile`. Every request of this
                    // connection is answered with its outbox in scope, and hyper hands chunks
                    // to the I/O as they are (its default with a vectored I/O, made sure).
                    let outbox = Arc::new(sendfile::Outbox::default());
                    let io = io.with_outbox(outbox.clone());
                    let service = hyper::service::service_fn(move |request| {
                        sendfile::scope(
                            outbox.clone(),
                            hyper::service::Service::call(&service, request),
                        )
                    });
                    let mut http = http;
                    http.writev(true);
                    let conn = watcher.watch(http.serve_connection(TokioIo::new(io), service));
                    supervise(conn, watchdog, peer).await;
                }
                Some(acceptor) => {
                    // The handshake runs here, not in the accept loop, and must finish within
                    // the header timeout: a slow TLS client holds one slot for that long at most.
                    let io = match tokio::time::timeout(header_timeout, acceptor.accept(io)).await {
                        Ok(Ok(io)) => io,
                        Ok(Err(e)) => {
                            tracing::debug!("TLS handshake failed: {e}");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!("TLS handshake unfinished after {header_timeout:?}");
                            return;
                        }
                    };
                    let conn = watcher.watch(http.serve_connection(TokioIo::new(io), service));
                    supervise(conn, watchdog, peer).await;
                }
            }
        });
    }
    // No more accepting: new connections are refused by the kernel while in-flight
    // responses finish (keep-alive connections are closed after their current one).
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(limits.shutdown_grace) => {
            // Returning leaves them running; in `layerget serve` the process exits next.
            tracing::warn!("stopping with responses still in flight after {:?}", limits.shutdown_grace);
        }
    }
    Ok(())
}

/// Runs a connection until it ends or its watchdog drops it (the connection's I/O is dropped
/// with it, which resets the socket).
async fn supervise<E: std::fmt::Display>(
    conn: impl Future<Output = Result<(), E>>,
    watchdog: impl Future<Output = conn::Dropped>,
    peer: std::net::SocketAddr,
) {
    let ip = peer.ip();
    tokio::select! {
        result = conn => if let Err(e) = result {
            tracing::debug!("connection ended: {e}");
        },
        dropped = watchdog => match dropped {
            conn::Dropped::Idle => tracing::debug!("closing a connection from {ip}: idle"),
            conn::Dropped::Slow { sent } => tracing::info!(
                "dropping a connection from {ip}: it read {sent}B in the last send-rate window, under the minimum rate"
            ),
        },
    }
}

/// Answers a plain-HTTP connection over the per-address limit (`limit`) with 503
/// `UNAVAILABLE` and closes it, within the header timeout, at most [`REFUSING`] at once
/// (beyond that it is just closed): the refusal itself must not become the resource a flood
/// exhausts.
fn refuse(
    stream: tokio::net::TcpStream,
    limit: usize,
    refusing: &Arc<Semaphore>,
    limits: &Limits,
    http: &hyper::server::conn::http1::Builder,
) {
    let Ok(permit) = refusing.clone().try_acquire_owned() else {
        return;
    };
    let mut http = http.clone();
    // One answer, then the connection closes.
    http.keep_alive(false);
    let timeout = limits.header_timeout;
    tokio::spawn(async move {
        let _permit = permit;
        let service = hyper::service::service_fn(move |_request| async move {
            let mut response = error_response(&ApiError::Unavailable { limit });
            let h = response.headers_mut();
            h.insert(API_VERSION, HeaderValue::from_static("registry/2.0"));
            h.insert(NOSNIFF, HeaderValue::from_static("nosniff"));
            Ok::<_, std::convert::Infallible>(response)
        });
        let conn = http.serve_connection(TokioIo::new(stream), service);
        // A client that never sends a request holds the permit for the header timeout at most.
        let _ = tokio::time::timeout(timeout, conn).await;
    });
}
