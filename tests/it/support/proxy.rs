//! The fault-injecting proxy: a hand-written HTTP/1.1 relay in front of a real registry that
//! cuts, stalls, corrupts, redirects or refuses individual requests on a script.

use std::collections::VecDeque;
use std::io::{self, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use super::http::{Conn, Handler, RecordedRequest, ServerCore, read_headers, read_line};
use super::{COPY_BUF, IO_TIMEOUT};

/// A fault the [`FaultProxy`] applies to one request. Body offsets count response body bytes as
/// sent on the wire (the registry's blob responses use `Content-Length`, not chunking).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Fault {
    /// Forward faithfully.
    #[default]
    None,
    /// Send the upstream headers and this many body bytes, then close.
    CutAfter(u64),
    /// Send the headers and `after` body bytes, pause `secs` seconds, then send the rest.
    Stall {
        /// Body bytes sent before the pause.
        after: u64,
        /// Length of the pause.
        secs: u64,
    },
    /// Drop the `Range` header upstream, so the full body comes back as a 200.
    IgnoreRange,
    /// Answer without asking upstream (e.g. 503, or 429 with `Retry-After`).
    Status {
        /// Status code.
        code: u16,
        /// Extra headers.
        headers: Vec<(String, String)>,
        /// Body text.
        body: String,
    },
    /// Flip every bit of the body byte at this offset.
    CorruptByte(u64),
    /// Answer with a redirect to `location`, without asking upstream.
    Redirect {
        /// Target URL.
        location: String,
        /// 301, 302, 303, 307 or 308.
        status: u16,
    },
    /// Close the connection without answering.
    Hangup,
    /// Read this many bytes of the request body, then close the connection without
    /// forwarding anything upstream: an upload whose connection broke mid-body, before the
    /// registry saw the request (what a real registry cannot be made to do; `layerget push`
    /// must then ask the session what it holds and go on from there).
    CutRequestAfter(u64),
    /// Answer 413 to a request whose body is larger than this many bytes (as nginx's
    /// `client_max_body_size` does), forward the others faithfully.
    MaxBody(u64),
}

impl Fault {
    /// Shorthand for a [`Fault::Status`] without extra headers.
    pub fn status(code: u16, body: &str) -> Fault {
        Fault::Status {
            code,
            headers: Vec::new(),
            body: body.to_owned(),
        }
    }
}

/// Script shared by the proxy handle and its connection threads.
#[derive(Default)]
struct FaultScript {
    /// Faults consumed one per request, in arrival order.
    queue: VecDeque<Fault>,
    /// Applied once the queue is empty.
    default: Fault,
}

/// A hand-written fault-injecting HTTP/1.1 proxy in front of a [`TestRegistry`]. It exists for
/// what a real registry will not do on demand: cut or stall a body, ignore `Range`, answer
/// 429/503, flip a byte, redirect. One request per connection, answered with `Connection: close`;
/// bodies are streamed, so 1 GiB passes through in 64 KiB pieces.
pub struct FaultProxy {
    /// Accept loop and recorded requests.
    core: ServerCore,
    /// Scripted faults.
    script: Arc<Mutex<FaultScript>>,
    /// Response body bytes relayed to clients so far (what the upstream "sent").
    body_bytes: Arc<AtomicU64>,
}

impl FaultProxy {
    /// Start a proxy on `127.0.0.1:0` forwarding to `upstream` (`host:port`).
    pub fn start(upstream: &str) -> FaultProxy {
        let script = Arc::new(Mutex::new(FaultScript::default()));
        let body_bytes = Arc::new(AtomicU64::new(0));
        let upstream = upstream.to_owned();
        let handler: Handler = {
            let (script, body_bytes) = (script.clone(), body_bytes.clone());
            Arc::new(move |conn| {
                let fault = {
                    let mut script = script.lock().unwrap();
                    let default = script.default.clone();
                    script.queue.pop_front().unwrap_or(default)
                };
                proxy_one(conn, &upstream, &fault, &body_bytes);
            })
        };
        FaultProxy {
            core: ServerCore::start(handler),
            script,
            body_bytes,
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        self.core.addr.clone()
    }

    /// A `registry/name@digest` reference pointing at the proxy.
    pub fn reference(&self, repo: &str, digest: &str) -> String {
        format!("{}/{repo}@{digest}", self.core.addr)
    }

    /// Queue a fault for the next request not yet given one.
    pub fn push_fault(&self, fault: Fault) {
        self.script.lock().unwrap().queue.push_back(fault);
    }

    /// Fault applied to every request once the queue is empty (initially [`Fault::None`]).
    pub fn set_default(&self, fault: Fault) {
        self.script.lock().unwrap().default = fault;
    }

    /// Response body bytes relayed to clients so far, all requests together.
    pub fn body_bytes(&self) -> u64 {
        self.body_bytes.load(Ordering::SeqCst)
    }

    /// Every request received so far, as the client sent it (before any fault rewrote it).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.core.requests.lock().unwrap().clone()
    }
}

/// Handle one proxied request under `fault`.
fn proxy_one(mut conn: Conn, upstream: &str, fault: &Fault, body_bytes: &AtomicU64) {
    match fault {
        Fault::Status {
            code,
            headers,
            body,
        } => return conn.respond(*code, headers, body.as_bytes()),
        Fault::Redirect { location, status } => {
            return conn.respond(*status, &[("Location".into(), location.clone())], b"");
        }
        Fault::Hangup => {
            conn.drain_body();
            let _ = conn.stream().shutdown(Shutdown::Both);
            return;
        }
        Fault::CutRequestAfter(n) => {
            let _ = io::copy(&mut (&mut conn.reader).take(*n), &mut io::sink());
            let _ = conn.stream().shutdown(Shutdown::Both);
            return;
        }
        Fault::MaxBody(max)
            if conn
                .request
                .header("content-length")
                .and_then(|v| v.trim().parse::<u64>().ok())
                .is_some_and(|len| len > *max) =>
        {
            // `respond` reads the body first, so the client sees the answer, not a reset.
            return conn.respond(413, &[], b"fault proxy: request body too large");
        }
        _ => {}
    }
    if conn.request.header("transfer-encoding").is_some() {
        // Not needed by any test: layerget sends Content-Length with every upload, and the
        // registry is seeded directly.
        return conn.respond(
            501,
            &[],
            b"fault proxy: chunked request bodies are not supported",
        );
    }
    let Ok(upstream_stream) = TcpStream::connect(upstream) else {
        return conn.respond(502, &[], b"fault proxy: upstream unreachable");
    };
    let _ = upstream_stream.set_read_timeout(Some(IO_TIMEOUT));
    if forward_request(&mut conn, &upstream_stream, fault).is_err() {
        return conn.respond(502, &[], b"fault proxy: sending upstream failed");
    }
    let _ = forward_response(&conn, BufReader::new(upstream_stream), fault, body_bytes);
    let _ = conn.stream().shutdown(Shutdown::Write);
}

/// Copy the request head (hop-by-hop headers replaced by `Connection: close`, `Range` dropped
/// for [`Fault::IgnoreRange`]) and its `Content-Length` body upstream. `Host` is kept, so
/// absolute URLs the registry builds point back at the proxy.
fn forward_request(conn: &mut Conn, mut upstream: &TcpStream, fault: &Fault) -> io::Result<()> {
    let request = &conn.request;
    let mut head = format!("{} {} HTTP/1.1\r\n", request.method, request.path);
    for (k, v) in &request.headers {
        let hop = ["connection", "keep-alive", "proxy-connection"]
            .iter()
            .any(|h| k.eq_ignore_ascii_case(h));
        let dropped_range = *fault == Fault::IgnoreRange && k.eq_ignore_ascii_case("range");
        if !hop && !dropped_range {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
    }
    head.push_str("Connection: close\r\n\r\n");
    upstream.write_all(head.as_bytes())?;
    let len = request.content_length();
    io::copy(&mut (&mut conn.reader).take(len), &mut upstream)?;
    upstream.flush()
}

/// Relay the upstream response: the head with `Connection: close`, then the body until the
/// upstream closes (it was asked to), applying body faults on the way.
fn forward_response(
    conn: &Conn,
    mut upstream: BufReader<TcpStream>,
    fault: &Fault,
    body_bytes: &AtomicU64,
) -> io::Result<()> {
    let status_line = read_line(&mut upstream)?;
    let headers = read_headers(&mut upstream)?;
    let mut head = format!("{status_line}\r\n");
    for (k, v) in headers
        .iter()
        .filter(|(k, _)| !k.eq_ignore_ascii_case("connection"))
    {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("Connection: close\r\n\r\n");
    let mut client = conn.stream();
    client.write_all(head.as_bytes())?;

    let mut buf = vec![0; COPY_BUF];
    let mut offset = 0u64;
    let mut stalled = false;
    loop {
        let n = match upstream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let chunk = &mut buf[..n];
        let end = offset + n as u64;
        match *fault {
            Fault::CorruptByte(at) if (offset..end).contains(&at) => {
                chunk[(at - offset) as usize] ^= 0xFF;
            }
            Fault::CutAfter(limit) if end >= limit => {
                body_bytes.fetch_add(limit - offset, Ordering::SeqCst);
                client.write_all(&chunk[..(limit - offset) as usize])?;
                client.flush()?;
                // Shutdown instead of drop: the client must see a clean EOF, not a reset.
                return client.shutdown(Shutdown::Both);
            }
            Fault::Stall { after, secs } if !stalled && end > after => {
                let split = (after - offset) as usize;
                client.write_all(&chunk[..split])?;
                client.flush()?;
                stall(secs, &conn.stop);
                stalled = true;
                body_bytes.fetch_add(n as u64, Ordering::SeqCst);
                client.write_all(&chunk[split..])?;
                offset = end;
                continue;
            }
            _ => {}
        }
        body_bytes.fetch_add(n as u64, Ordering::SeqCst);
        client.write_all(chunk)?;
        offset = end;
    }
    client.flush()
}

/// Sleep `secs` seconds in short steps, ending early once the server is dropped.
fn stall(secs: u64, stop: &AtomicBool) {
    let until = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < until && !stop.load(Ordering::SeqCst) {
        thread::sleep(Duration::from_millis(20));
    }
}
