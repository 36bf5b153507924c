//! Resource limits (docs/security.md, "Resource limits"): the body size and
//! page size on every route that takes them, the header-read, keep-alive and
//! body-read timeouts, and uploads that are cut off instead of drained.
//!
//! The slow and stalled clients talk raw HTTP/1.1 over a `TcpStream`. None of
//! this depends on storage, so the suite runs it once (the reruns on Postgres
//! and MongoDB skip `limits::`).

use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tozalash_domain::Id;
use tozalash_http::limits::{HEADER_READ_TIMEOUT, KEEP_ALIVE, UNREAD_BODY_GRACE};
use tozalash_http::openapi::openapi;

use crate::helpers::{assert_field_error, assert_problem, spawn_app, spawn_app_with, TestApp};

/// Slack for scheduling on a busy machine.
const MARGIN: Duration = Duration::from_millis(1500);

/// `(METHOD, path)` of every documented operation whose request body is
/// JSON, with `{id}` filled by a well-formed id (so that nothing but the
/// body can be at fault).
fn json_operations() -> Vec<(String, String)> {
    let doc = serde_json::to_value(openapi()).unwrap();
    let mut operations = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            if operation["requestBody"]["content"]["application/json"].is_object() {
                let path = path.replace("{id}", &Id::generate().to_hex());
                operations.push((method.to_uppercase(), path));
            }
        }
    }
    assert!(operations.len() >= 10, "too few JSON operations found: {operations:?}");
    operations
}

/// The documented paths whose operation takes a `limit` query parameter.
fn paged_lists() -> Vec<String> {
    let doc = serde_json::to_value(openapi()).unwrap();
    let mut lists = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        let get = &item["get"];
        let takes_limit = get["parameters"].as_array().is_some_and(|parameters| {
            parameters.iter().any(|p| p["name"] == "limit" && p["in"] == "query")
        });
        if takes_limit {
            lists.push(path.clone());
        }
    }
    assert!(lists.len() >= 3, "too few paged lists found: {lists:?}");
    lists
}

fn address(app: &TestApp) -> String {
    app.base.trim_start_matches("http://").to_owned()
}

/// What a raw client got back: every byte until the server closed.
struct Answer {
    status: u16,
    head: String,
    body: Value,
}

impl Answer {
    fn parse(bytes: &[u8]) -> Self {
        let text = String::from_utf8_lossy(bytes).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        let body = serde_json::from_str(body).unwrap_or(Value::Null);
        Self { status, head: head.to_ascii_lowercase(), body }
    }

    fn closes(&self) -> bool {
        self.head.contains("connection: close")
    }
}

/// Reads until the server closes the connection (or resets it), or for 30 s
/// at most, so that a connection left open fails the test rather than hangs
/// it; how long that took, and what was read.
async fn read_to_close(mut reader: impl AsyncReadExt + Unpin) -> (Duration, Vec<u8>) {
    let started = Instant::now();
    let mut bytes = Vec::new();
    let mut buffer = [0u8; 4096];
    let read = async {
        loop {
            match reader.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => bytes.extend_from_slice(&buffer[..n]),
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(30), read).await;
    (started.elapsed(), bytes)
}

fn head(method: &str, path: &str, framing: &str) -> String {
    format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         {framing}\r\n\r\n"
    )
}

#[tokio::test]
async fn a_mebibyte_body_is_refused_on_every_json_route() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let big = format!(r#"{{"name":"{}"}}"#, "x".repeat(1 << 20));
    for (method, path) in json_operations() {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        // Declared in Content-Length: refused before anything else, even
        // without credentials.
        let response = app
            .client
            .request(method.clone(), app.url(&path))
            .header("content-type", "application/json")
            .body(big.clone())
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let body = assert_problem(response, 413, "payload_too_large").await;
        assert!(body["detail"].as_str().unwrap().contains("64 KiB"), "{body}");
    }
    // Chunked, so only reading tells: refused once past the limit (each
    // connection is then held for the grace, so they run together).
    let chunked = json_operations().into_iter().map(|(method, path)| {
        let (app, token, big) = (&app, &token, &big);
        async move {
            let stream = TcpStream::connect(address(app)).await.unwrap();
            let (reader, mut writer) = stream.into_split();
            let answer = tokio::spawn(read_to_close(reader));
            let framing = format!("Authorization: Bearer {token}\r\nTransfer-Encoding: chunked");
            let _ = writer.write_all(head(&method, &path, &framing).as_bytes()).await;
            let _ = write_chunks(&mut writer, big.as_bytes(), big.len()).await;
            let (_, bytes) = answer.await.unwrap();
            let answer = Answer::parse(&bytes);
            assert_eq!(answer.status, 413, "{method} {path} chunked: {}", answer.head);
            assert_eq!(answer.body["code"], "payload_too_large", "{method} {path}");
        }
    });
    futures::future::join_all(chunked).await;
}

#[tokio::test]
async fn a_limit_over_100_is_refused_on_every_paged_list() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    for path in paged_lists() {
        let response = app.get(&format!("{path}?limit=100")).bearer_auth(&token).send().await;
        assert_eq!(response.unwrap().status(), 200, "{path}?limit=100");
        let response = app.get(&format!("{path}?limit=101")).bearer_auth(&token).send().await;
        assert_field_error(response.unwrap(), "limit", "out_of_range").await;
    }
}

/// Writes `body` as chunks of 64 KiB until `total` bytes are sent or the
/// connection fails; the number of body bytes the socket accepted.
async fn write_chunks(
    writer: &mut (impl AsyncWriteExt + Unpin),
    body: &[u8],
    total: usize,
) -> (usize, bool) {
    let mut sent = 0;
    let mut offset = 0;
    while sent < total {
        let size = (64 * 1024).min(total - sent);
        let chunk: Vec<u8> = body.iter().cycle().skip(offset).take(size).copied().collect();
        offset = (offset + size) % body.len().max(1);
        let frame = [format!("{size:x}\r\n").as_bytes(), &chunk, b"\r\n"].concat();
        if writer.write_all(&frame).await.is_err() {
            return (sent, false);
        }
        sent += size;
    }
    let finished = writer.write_all(b"0\r\n\r\n").await.is_ok();
    (sent, finished)
}

#[tokio::test]
async fn a_chunked_upload_is_cut_off_soon_after_its_413() {
    let app = spawn_app().await;
    let stream = TcpStream::connect(address(&app)).await.unwrap();
    let (reader, mut writer) = stream.into_split();
    let answer = tokio::spawn(read_to_close(reader));
    let started = Instant::now();
    writer
        .write_all(head("POST", "/api/v1/auth/login", "Transfer-Encoding: chunked").as_bytes())
        .await
        .unwrap();
    let body = br#"{"email":"a@b.uz","password":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}"#;
    let (sent, finished) = write_chunks(&mut writer, body, 200 << 20).await;
    let elapsed = started.elapsed();
    let (_, bytes) = answer.await.unwrap();
    let answer = Answer::parse(&bytes);

    assert_eq!(answer.status, 413, "{}", answer.head);
    assert_eq!(answer.body["code"], "payload_too_large");
    assert!(answer.closes(), "{}", answer.head);
    assert!(!finished, "the whole 200 MB upload was accepted");
    assert!(sent < 8 << 20, "{sent} bytes were accepted after the 413");
    assert!(elapsed < UNREAD_BODY_GRACE + MARGIN * 2, "the upload went on for {elapsed:?}");
}

#[tokio::test]
async fn a_declared_oversize_body_is_refused_unread_and_cut_off() {
    let app = spawn_app().await;
    let stream = TcpStream::connect(address(&app)).await.unwrap();
    let (reader, mut writer) = stream.into_split();
    let answer = tokio::spawn(read_to_close(reader));
    let total = 200usize << 20;
    let framing = format!("Content-Length: {total}");
    writer.write_all(head("POST", "/api/v1/auth/signup", &framing).as_bytes()).await.unwrap();
    let chunk = vec![b' '; 64 * 1024];
    let mut sent = 0;
    while sent < total && writer.write_all(&chunk).await.is_ok() {
        sent += chunk.len();
    }
    let (_, bytes) = answer.await.unwrap();
    let answer = Answer::parse(&bytes);
    assert_eq!(answer.status, 413, "{}", answer.head);
    assert_eq!(answer.body["code"], "payload_too_large");
    assert!(answer.closes(), "{}", answer.head);
    assert!(sent < 8 << 20, "{sent} bytes were accepted after the 413");
}

#[tokio::test]
async fn a_stalled_body_is_408_and_its_connection_closed() {
    let app = spawn_app_with(&[("BODY_READ_TIMEOUT_MS", "1000")]).await;
    let timeout = Duration::from_millis(1000);
    let mut stream = TcpStream::connect(address(&app)).await.unwrap();
    let request = head("POST", "/api/v1/auth/login", "Content-Length: 1000");
    stream.write_all(format!("{request}{{\"email\":\"").as_bytes()).await.unwrap();
    let (elapsed, bytes) = read_to_close(&mut stream).await;
    let answer = Answer::parse(&bytes);
    assert_eq!(answer.status, 408, "{}", answer.head);
    assert_eq!(answer.body["code"], "request_timeout", "{}", answer.body);
    assert!(answer.head.contains("application/problem+json"), "{}", answer.head);
    assert!(answer.head.contains("x-request-id"), "{}", answer.head);
    assert!(answer.closes(), "{}", answer.head);
    assert!(elapsed >= timeout - Duration::from_millis(100), "answered after {elapsed:?}");
    assert!(elapsed < timeout + UNREAD_BODY_GRACE + MARGIN, "closed after {elapsed:?}");
}

#[tokio::test]
async fn a_trickled_body_meets_one_deadline_for_the_whole_body() {
    let app = spawn_app_with(&[("BODY_READ_TIMEOUT_MS", "1000")]).await;
    let timeout = Duration::from_millis(1000);
    let stream = TcpStream::connect(address(&app)).await.unwrap();
    let (reader, mut writer) = stream.into_split();
    let answer = tokio::spawn(read_to_close(reader));
    let started = Instant::now();
    let request = head("POST", "/api/v1/auth/login", "Content-Length: 1000");
    writer.write_all(request.as_bytes()).await.unwrap();
    // One byte every 200 ms: each comes well within any per-read timeout.
    let trickle = tokio::spawn(async move {
        for _ in 0..1000 {
            if writer.write_all(b" ").await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    let (_, bytes) = answer.await.unwrap();
    let elapsed = started.elapsed();
    trickle.abort();
    let answer = Answer::parse(&bytes);
    assert_eq!(answer.status, 408, "{}", answer.head);
    assert_eq!(answer.body["code"], "request_timeout");
    assert!(answer.closes(), "{}", answer.head);
    assert!(elapsed < timeout + UNREAD_BODY_GRACE + MARGIN, "closed after {elapsed:?}");
}

#[tokio::test]
async fn stalled_connections_do_not_slow_other_clients_and_are_closed() {
    let app = spawn_app_with(&[("BODY_READ_TIMEOUT_MS", "3000")]).await;
    let timeout = Duration::from_millis(3000);
    let started = Instant::now();
    let mut stalled = Vec::new();
    for _ in 0..200 {
        let mut stream = TcpStream::connect(address(&app)).await.unwrap();
        let request = head("POST", "/api/v1/auth/login", "Content-Length: 1000");
        stream.write_all(format!("{request}{{\"email\":\"").as_bytes()).await.unwrap();
        stalled.push(tokio::spawn(read_to_close(stream)));
    }

    let asked = Instant::now();
    let response = app.get("/api/v1/services").send().await.unwrap();
    assert_eq!(response.status(), 200);
    let waited = asked.elapsed();
    assert!(waited < Duration::from_secs(2), "a plain GET took {waited:?}");
    assert!(started.elapsed() < timeout, "the stalled connections were not all open yet");

    for connection in stalled {
        let (_, bytes) = connection.await.unwrap();
        assert_eq!(Answer::parse(&bytes).status, 408);
    }
    let elapsed = started.elapsed();
    assert!(elapsed < timeout + UNREAD_BODY_GRACE + MARGIN * 2, "all closed after {elapsed:?}");
}

#[tokio::test]
async fn slow_headers_are_cut_off_within_the_header_timeout() {
    let app = spawn_app().await;
    let stream = TcpStream::connect(address(&app)).await.unwrap();
    let (reader, mut writer) = stream.into_split();
    let answer = tokio::spawn(read_to_close(reader));
    let started = Instant::now();
    writer.write_all(b"GET /api/v1/services HTTP/1.1\r\nHost: localhost\r\n").await.unwrap();
    let trickle = tokio::spawn(async move {
        for _ in 0..100 {
            if writer.write_all(b"X-Slow: 1\r\n").await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    });
    let (_, bytes) = answer.await.unwrap();
    let elapsed = started.elapsed();
    trickle.abort();
    assert_eq!(Answer::parse(&bytes).status, 408);
    assert!(elapsed >= HEADER_READ_TIMEOUT - Duration::from_millis(100), "after {elapsed:?}");
    assert!(elapsed < HEADER_READ_TIMEOUT + MARGIN, "cut off after {elapsed:?}");
}

#[tokio::test]
async fn an_idle_connection_is_closed_after_the_keep_alive() {
    let app = spawn_app().await;
    let mut stream = TcpStream::connect(address(&app)).await.unwrap();
    stream.write_all(b"GET /api/v1/health/live HTTP/1.1\r\nHost: localhost\r\n\r\n").await.unwrap();
    let mut first = [0u8; 12];
    stream.read_exact(&mut first).await.unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");
    let (elapsed, _) = read_to_close(&mut stream).await;
    assert!(elapsed >= KEEP_ALIVE - Duration::from_millis(500), "closed after {elapsed:?}");
    assert!(elapsed < KEEP_ALIVE + MARGIN, "still open after {elapsed:?}");
}

#[tokio::test]
async fn a_body_nobody_reads_does_not_hold_the_connection() {
    let app = spawn_app().await;
    // A body the route has no use for, stalled: answered at once, and the
    // connection closed rather than waited on (or drained).
    let mut stream = TcpStream::connect(address(&app)).await.unwrap();
    let request = head("GET", "/api/v1/services", "Content-Length: 1000");
    stream.write_all(format!("{request}{{").as_bytes()).await.unwrap();
    let (elapsed, bytes) = read_to_close(&mut stream).await;
    let answer = Answer::parse(&bytes);
    assert_eq!(answer.status, 200, "{}", answer.head);
    assert!(answer.closes(), "{}", answer.head);
    assert!(elapsed < UNREAD_BODY_GRACE + MARGIN, "closed after {elapsed:?}");
}
