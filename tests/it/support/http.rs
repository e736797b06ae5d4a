//! Both ends of HTTP/1.1 as the fixtures speak it: a minimal blocking client (one request per
//! connection, lenient about what a cut or lying peer sends) and the accept loop shared by the
//! fault proxy and the fake servers, which records every request head before handling it.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};

use super::{COPY_BUF, IO_TIMEOUT};

// ---------------------------------------------------------------------------------------------
// Minimal HTTP/1.1 client
// ---------------------------------------------------------------------------------------------

/// A response read by the test client; the body is whatever arrived before the peer closed.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Headers in arrival order, names as sent.
    pub headers: Vec<(String, String)>,
    /// Body bytes actually received (may be shorter than `Content-Length` if the peer cut it).
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// First header with this name, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// The `Content-Length` header parsed as a number.
    pub fn content_length(&self) -> Option<u64> {
        self.header("content-length")?.trim().parse().ok()
    }

    /// The body as (lossy) UTF-8, for assertions and panic messages.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Case-insensitive header lookup shared by responses and recorded requests.
pub(super) fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Send one request (`Connection: close`) to `addr` and read the whole response; panics on I/O
/// errors before the status line. `target` is an origin-form path (`/v2/...?query`).
pub fn http_request(
    addr: &str,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> HttpResponse {
    try_http_request(addr, method, target, headers, body)
        .unwrap_or_else(|e| panic!("{method} http://{addr}{target} failed: {e}"))
}

/// Like [`http_request`] but returns connection errors instead of panicking.
pub fn try_http_request(
    addr: &str,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<HttpResponse> {
    let mut body = body;
    let len = body.len() as u64;
    send_request(addr, method, target, headers, len, &mut body)
}

/// Core of the client: writes the head, streams exactly `len` body bytes from `body`, then reads
/// the response. `Content-Length` is always sent for methods that may carry a body, even when
/// it is 0: without it (or chunking) a request has no body (RFC 9112, section 6.3).
pub(super) fn send_request(
    addr: &str,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    len: u64,
    body: &mut dyn Read,
) -> io::Result<HttpResponse> {
    let stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let mut head = format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if len > 0 || matches!(method, "POST" | "PUT" | "PATCH") {
        head.push_str(&format!("Content-Length: {len}\r\n"));
    }
    head.push_str("\r\n");
    let mut writer = io::BufWriter::with_capacity(COPY_BUF, &stream);
    writer.write_all(head.as_bytes())?;
    let copied = io::copy(&mut body.take(len), &mut writer)?;
    assert_eq!(copied, len, "request body source ended early");
    writer.flush()?;
    drop(writer);
    read_response(BufReader::new(stream), method == "HEAD")
}

/// Read a status line, headers and body. The body is read leniently: up to `Content-Length`,
/// to the end of a chunked body, or to EOF; a reset or early EOF just ends it, so tests can see
/// exactly what a cut or lying server sent.
fn read_response(mut reader: impl BufRead, head_only: bool) -> io::Result<HttpResponse> {
    let status_line = read_line(&mut reader)?;
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::other(format!("bad status line {status_line:?}")))?;
    let headers = read_headers(&mut reader)?;
    let mut response = HttpResponse {
        status,
        headers,
        body: Vec::new(),
    };
    if head_only || status == 204 || status == 304 || (100..200).contains(&status) {
        return Ok(response);
    }
    let chunked = response
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
    response.body = if chunked {
        read_chunked(&mut reader)
    } else if let Some(len) = response.content_length() {
        read_lenient(&mut reader.take(len))
    } else {
        read_lenient(&mut reader)
    };
    Ok(response)
}

/// Read one CRLF-terminated line without the terminator; EOF before any byte is an error.
pub(super) fn read_line(reader: &mut impl BufRead) -> io::Result<String> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed before a complete head",
        ));
    }
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

/// Read header lines up to the blank line.
pub(super) fn read_headers(reader: &mut impl BufRead) -> io::Result<Vec<(String, String)>> {
    let mut headers = Vec::new();
    loop {
        let line = read_line(reader)?;
        if line.is_empty() {
            return Ok(headers);
        }
        let (k, v) = line
            .split_once(':')
            .ok_or_else(|| io::Error::other(format!("bad header line {line:?}")))?;
        headers.push((k.trim().to_owned(), v.trim().to_owned()));
    }
}

/// Read until EOF or error, keeping what arrived.
fn read_lenient(reader: &mut impl Read) -> Vec<u8> {
    let mut body = Vec::new();
    let mut buf = vec![0; COPY_BUF];
    loop {
        match reader.read(&mut buf) {
            Ok(0) | Err(_) => return body,
            Ok(n) => body.extend_from_slice(&buf[..n]),
        }
    }
}

/// Decode a chunked body, stopping quietly at the first framing problem.
fn read_chunked(reader: &mut impl BufRead) -> Vec<u8> {
    let mut body = Vec::new();
    while let Ok(line) = read_line(reader) {
        let size = line.split(';').next().unwrap_or("").trim();
        let Ok(size) = u64::from_str_radix(size, 16) else {
            break;
        };
        if size == 0 {
            break;
        }
        body.extend(read_lenient(&mut reader.take(size)));
        if read_line(reader).is_err() {
            break;
        }
    }
    body
}

// ---------------------------------------------------------------------------------------------
// Tiny servers: shared accept loop and request recording
// ---------------------------------------------------------------------------------------------

/// A request as a fake server or proxy received it.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    /// Method, e.g. `GET`.
    pub method: String,
    /// Request target with its query, e.g. `/v2/r/blobs/sha256:…`.
    pub path: String,
    /// Headers in arrival order, names as sent.
    pub headers: Vec<(String, String)>,
    /// When the request head had arrived (for asserting waits and backoff).
    pub at: std::time::Instant,
}

impl RecordedRequest {
    /// First header with this name, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// The declared request body length (0 if none).
    pub(super) fn content_length(&self) -> u64 {
        self.header("content-length")
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    }
}

/// A connection after its request head was parsed and recorded.
pub(super) struct Conn {
    /// Buffered client stream; the request body (if any) is still unread in it.
    pub(super) reader: BufReader<TcpStream>,
    /// The parsed head.
    pub(super) request: RecordedRequest,
    /// Set when the owning server is dropped, so long stalls end early.
    pub(super) stop: Arc<AtomicBool>,
}

impl Conn {
    /// The raw stream, for writing the response.
    pub(super) fn stream(&self) -> &TcpStream {
        self.reader.get_ref()
    }

    /// Read and discard the request body, so closing does not reset the connection (unread
    /// input makes the kernel send RST, which can destroy the response in flight).
    pub(super) fn drain_body(&mut self) {
        let len = self.request.content_length();
        let _ = io::copy(&mut (&mut self.reader).take(len), &mut io::sink());
    }

    /// Send a complete response with `Connection: close` and close; `Content-Length` is added
    /// unless the caller set one (to let fakes lie about it). HEAD gets no body.
    pub(super) fn respond(mut self, status: u16, headers: &[(String, String)], body: &[u8]) {
        self.drain_body();
        let mut head = format!("HTTP/1.1 {status} {}\r\n", reason(status));
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        if find_header(headers, "content-length").is_none() {
            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        head.push_str("Connection: close\r\n\r\n");
        let mut stream = self.stream();
        let _ = stream.write_all(head.as_bytes());
        if self.request.method != "HEAD" {
            let _ = stream.write_all(body);
        }
        let _ = stream.flush();
        let _ = stream.shutdown(Shutdown::Write);
    }
}

/// Reason phrase for the statuses tests use (clients ignore it, but logs read better).
fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        408 => "Request Timeout",
        416 => "Range Not Satisfiable",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

/// Accept loop shared by [`FaultProxy`] and [`RecordingServer`]: thread per connection, one
/// request per connection, every request recorded before it is handled.
pub(super) struct ServerCore {
    /// `127.0.0.1:PORT`.
    pub(super) addr: String,
    /// Tells the accept loop and stalled handlers to stop.
    stop: Arc<AtomicBool>,
    /// Every request head received, in arrival order.
    pub(super) requests: Arc<Mutex<Vec<RecordedRequest>>>,
    /// The accept loop, joined on drop.
    accept: Option<JoinHandle<()>>,
}

/// What a server does with each parsed connection.
pub(super) type Handler = Arc<dyn Fn(Conn) + Send + Sync>;

impl ServerCore {
    /// Bind `127.0.0.1:0` and start accepting.
    pub(super) fn start(handler: Handler) -> ServerCore {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr").to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let accept = {
            let (stop, requests) = (stop.clone(), requests.clone());
            thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let (stop, requests, handler) =
                        (stop.clone(), requests.clone(), handler.clone());
                    // Detached: each ends when its response is written, its peer goes away, or
                    // (for stalls) `stop` is set; none blocks the test binary from exiting.
                    thread::spawn(move || {
                        let _ = stream.set_read_timeout(Some(IO_TIMEOUT));
                        let mut reader = BufReader::new(stream);
                        let Ok(request) = read_request_head(&mut reader) else {
                            return;
                        };
                        requests.lock().unwrap().push(request.clone());
                        handler(Conn {
                            reader,
                            request,
                            stop,
                        });
                    });
                }
            })
        };
        ServerCore {
            addr,
            stop,
            requests,
            accept: Some(accept),
        }
    }
}

impl Drop for ServerCore {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // `accept` blocks; a throwaway connection wakes it so it sees the flag.
        let _ = TcpStream::connect(&self.addr);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

/// Parse a request line and headers.
fn read_request_head(reader: &mut impl BufRead) -> io::Result<RecordedRequest> {
    let line = read_line(reader)?;
    let mut parts = line.split_whitespace();
    let (Some(method), Some(path)) = (parts.next(), parts.next()) else {
        return Err(io::Error::other(format!("bad request line {line:?}")));
    };
    Ok(RecordedRequest {
        method: method.to_owned(),
        path: path.to_owned(),
        headers: read_headers(reader)?,
        at: std::time::Instant::now(),
    })
}
