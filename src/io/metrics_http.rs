//! The Prometheus listener: `GET /metrics` over a tiny HTTP/1.1 responder,
//! one answer per connection, then close.
//!
//! A scrape is one short request; a web framework would bring more code
//! than the rest of this edge, so this reads a bounded request head, answers
//! and closes, with the control socket's limits: a request head of at most
//! [`MAX_REQUEST_HEAD_BYTES`], [`REQUEST_TIMEOUT`] for the whole exchange,
//! at most [`MAX_CONNECTIONS`] served at once (more are closed at once), so
//! memory and file descriptors stay bounded whatever connects. The metrics
//! text comes from a function the daemon gives (`crate::metrics` on its
//! status snapshot); this module knows nothing of VRRP.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tracing::{debug, warn};

/// The longest request head read: a scrape's is a few hundred bytes.
pub const MAX_REQUEST_HEAD_BYTES: usize = 8 * 1024;
/// How long a connection may take to send its request and read the answer.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections served at once; Prometheus opens one per scrape.
pub const MAX_CONNECTIONS: usize = 16;

/// What a request head asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// GET /metrics (a query string is ignored).
    Metrics,
    /// HEAD /metrics: the headers only.
    MetricsHead,
    /// Another path.
    NotFound,
}

/// Why a request head is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadRequest {
    /// Not `METHOD TARGET HTTP/x.y`.
    Malformed,
    /// A method other than GET or HEAD.
    Method,
    /// The head did not end within [`MAX_REQUEST_HEAD_BYTES`].
    TooLarge,
}

impl BadRequest {
    fn status_line(self) -> &'static str {
        match self {
            BadRequest::Malformed => "400 Bad Request",
            BadRequest::Method => "405 Method Not Allowed",
            BadRequest::TooLarge => "431 Request Header Fields Too Large",
        }
    }
}

/// The end of a request head (the blank line), if `buf` holds it.
fn head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 4)
        .or_else(|| buf.windows(2).position(|w| w == b"\n\n").map(|p| p + 2))
}

/// Reads the request line of a complete head (RFC 9112 3): only the method
/// and the path matter here; headers are ignored.
pub fn parse_head(head: &[u8]) -> Result<Route, BadRequest> {
    let line_end = head
        .iter()
        .position(|b| *b == b'\n')
        .ok_or(BadRequest::Malformed)?;
    let line = std::str::from_utf8(&head[..line_end]).map_err(|_| BadRequest::Malformed)?;
    let mut parts = line.trim_end_matches('\r').split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(BadRequest::Malformed);
    };
    if !version.starts_with("HTTP/1.") || !target.starts_with('/') {
        return Err(BadRequest::Malformed);
    }
    let path = target.split('?').next().unwrap_or_default();
    let head_only = match method {
        "GET" => false,
        "HEAD" => true,
        _ => return Err(BadRequest::Method),
    };
    Ok(match (path, head_only) {
        ("/metrics", false) => Route::Metrics,
        ("/metrics", true) => Route::MetricsHead,
        _ => Route::NotFound,
    })
}

/// Binds the listener now (the daemon refuses to start, or a reload is
/// refused, when the address is taken), ready for [`spawn`].
pub fn bind(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    let l = std::net::TcpListener::bind(addr)?;
    l.set_nonblocking(true)?;
    Ok(l)
}

/// Serves `listener` until the returned task is aborted. `metrics` gives
/// the text and its Content-Type for each scrape; None (the daemon is
/// stopping) answers 503.
pub fn spawn<F, Fut>(
    listener: std::net::TcpListener,
    metrics: F,
) -> io::Result<tokio::task::JoinHandle<()>>
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Option<(String, &'static str)>> + Send,
{
    let listener = TcpListener::from_std(listener)?;
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    Ok(tokio::spawn(async move {
        let mut backoff = Duration::from_millis(10);
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(c) => c,
                Err(e) => {
                    // Out of file descriptors: accept fails again at once.
                    warn!("metrics listener: accept failed: {e}");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                    continue;
                }
            };
            backoff = Duration::from_millis(10);
            let Ok(slot) = slots.clone().try_acquire_owned() else {
                debug!(%peer, "metrics listener: {MAX_CONNECTIONS} connections busy, closing");
                continue;
            };
            let metrics = metrics.clone();
            tokio::spawn(async move {
                let _slot = slot;
                if tokio::time::timeout(REQUEST_TIMEOUT, serve(stream, metrics))
                    .await
                    .is_err()
                {
                    debug!(%peer, "metrics listener: connection timed out");
                }
            });
        }
    }))
}

async fn serve<F, Fut>(mut stream: TcpStream, metrics: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Option<(String, &'static str)>>,
{
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    let route = loop {
        if let Some(end) = head_end(&buf) {
            break parse_head(&buf[..end]);
        }
        if buf.len() >= MAX_REQUEST_HEAD_BYTES {
            break Err(BadRequest::TooLarge);
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                let room = MAX_REQUEST_HEAD_BYTES - buf.len();
                buf.extend_from_slice(&chunk[..n.min(room)]);
            }
        }
    };
    let answer = match route {
        Ok(Route::Metrics) | Ok(Route::MetricsHead) => match metrics().await {
            Some((body, content_type)) => response(
                "200 OK",
                content_type,
                body,
                route == Ok(Route::MetricsHead),
            ),
            None => response(
                "503 Service Unavailable",
                "text/plain; charset=utf-8",
                "vipd is stopping\n".into(),
                false,
            ),
        },
        Ok(Route::NotFound) => response(
            "404 Not Found",
            "text/plain; charset=utf-8",
            "vipd serves GET /metrics only\n".into(),
            false,
        ),
        Err(bad) => {
            let extra = if bad == BadRequest::Method {
                "Allow: GET, HEAD\r\n"
            } else {
                ""
            };
            let mut r = response(
                bad.status_line(),
                "text/plain; charset=utf-8",
                format!("{}\n", bad.status_line()),
                false,
            );
            if !extra.is_empty() {
                let at = r.windows(2).position(|w| w == b"\r\n").unwrap_or(0) + 2;
                r.splice(at..at, extra.bytes());
            }
            r
        }
    };
    let _ = stream.write_all(&answer).await;
    let _ = stream.shutdown().await;
}

/// A whole answer: status line, headers, and the body unless `head_only`.
fn response(status: &str, content_type: &str, body: String, head_only: bool) -> Vec<u8> {
    let mut r = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if !head_only {
        r.extend_from_slice(body.as_bytes());
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_lines() {
        let ok = |s: &str| parse_head(s.as_bytes());
        assert_eq!(
            ok("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"),
            Ok(Route::Metrics)
        );
        assert_eq!(ok("GET /metrics?x=1 HTTP/1.0\n\n"), Ok(Route::Metrics));
        assert_eq!(ok("HEAD /metrics HTTP/1.1\r\n\r\n"), Ok(Route::MetricsHead));
        assert_eq!(ok("GET / HTTP/1.1\r\n\r\n"), Ok(Route::NotFound));
        assert_eq!(
            ok("POST /metrics HTTP/1.1\r\n\r\n"),
            Err(BadRequest::Method)
        );
        assert_eq!(ok("GET /metrics\r\n\r\n"), Err(BadRequest::Malformed));
        assert_eq!(
            ok("GET metrics HTTP/1.1\r\n\r\n"),
            Err(BadRequest::Malformed)
        );
        assert_eq!(
            ok("GET /metrics SPDY/3\r\n\r\n"),
            Err(BadRequest::Malformed)
        );
        assert_eq!(ok("\u{0}\u{ff}"), Err(BadRequest::Malformed));
        assert_eq!(
            parse_head(b"GET /\xff HTTP/1.1\n\n"),
            Err(BadRequest::Malformed)
        );
    }

    #[test]
    fn head_ends_at_the_blank_line() {
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nA: b\r\n\r\nrest"), Some(24));
        assert_eq!(head_end(b"GET / HTTP/1.1\n\n"), Some(16));
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nA: b\r\n"), None);
    }

    async fn exchange(addr: SocketAddr, request: &[u8]) -> String {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(request).await.unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    }

    #[tokio::test]
    async fn serves_metrics_and_refuses_the_rest() {
        let l = bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = l.local_addr().unwrap();
        let task = spawn(l, || async { Some(("m 1\n".to_string(), "text/plain")) }).unwrap();
        let a = exchange(addr, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(a.starts_with("HTTP/1.1 200 OK\r\n"), "{a}");
        assert!(
            a.contains("Content-Length: 4\r\n") && a.ends_with("\r\n\r\nm 1\n"),
            "{a}"
        );
        let a = exchange(addr, b"HEAD /metrics HTTP/1.1\r\n\r\n").await;
        assert!(
            a.starts_with("HTTP/1.1 200 OK\r\n") && a.ends_with("\r\n\r\n"),
            "{a}"
        );
        let a = exchange(addr, b"GET /other HTTP/1.1\r\n\r\n").await;
        assert!(a.starts_with("HTTP/1.1 404 "), "{a}");
        let a = exchange(addr, b"DELETE /metrics HTTP/1.1\r\n\r\n").await;
        assert!(
            a.starts_with("HTTP/1.1 405 ") && a.contains("\r\nAllow: GET, HEAD\r\n"),
            "{a}"
        );
        let huge = vec![b'a'; MAX_REQUEST_HEAD_BYTES];
        let a = exchange(addr, &huge).await;
        assert!(a.starts_with("HTTP/1.1 431 "), "{a}");
        task.abort();
    }

    #[tokio::test]
    async fn a_stopping_daemon_answers_503() {
        let l = bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = l.local_addr().unwrap();
        let task = spawn(l, || async { None }).unwrap();
        let a = exchange(addr, b"GET /metrics HTTP/1.0\r\n\r\n").await;
        assert!(a.starts_with("HTTP/1.1 503 "), "{a}");
        task.abort();
    }
}
