//! Bodies that never end, spoken over raw TCP: a multipart body without its closing
//! boundary, and a client that sends part of its body and stalls. Each gets its answer
//! within a bound, and the connection is not held open.

use std::time::{Duration, Instant};

use crate::common::*;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A response read off the wire: the status line, the headers (lower-cased names) and
/// the body.
#[derive(Debug)]
struct RawReply {
    status_line: String,
    headers: Vec<(String, String)>,
    body: Value,
}

impl RawReply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

async fn connect(app: &TestApp) -> TcpStream {
    let authority = app.address.trim_start_matches("http://");
    TcpStream::connect(authority).await.expect("connect")
}

/// Reads one response (head, then `Content-Length` bytes of body), failing the test if
/// it has not arrived whole by `deadline`.
async fn read_reply(stream: &mut TcpStream, deadline: Instant) -> RawReply {
    let mut received = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let complete = parse_reply(&received);
        if let Some(reply) = complete {
            return reply;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let read = tokio::time::timeout(left, stream.read(&mut chunk))
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "no whole response in time; received so far: {:?}",
                    String::from_utf8_lossy(&received)
                )
            })
            .expect("read");
        assert!(
            read > 0,
            "connection closed before a whole response: {:?}",
            String::from_utf8_lossy(&received)
        );
        received.extend_from_slice(&chunk[..read]);
    }
}

fn parse_reply(received: &[u8]) -> Option<RawReply> {
    let text = String::from_utf8_lossy(received);
    let (head, body) = text.split_once("\r\n\r\n")?;
    let mut lines = head.lines();
    let status_line = lines.next()?.to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())?;
    if body.len() < length {
        return None;
    }
    Some(RawReply {
        status_line,
        headers,
        body: serde_json::from_str(&body[..length]).unwrap_or(Value::Null),
    })
}

/// Whether the server closes the connection by `deadline` (reading whatever is left).
async fn closed_by(stream: &mut TcpStream, deadline: Instant) -> bool {
    let mut rest = Vec::new();
    let left = deadline.saturating_duration_since(Instant::now());
    matches!(
        tokio::time::timeout(left, stream.read_to_end(&mut rest)).await,
        Ok(Ok(_)) | Ok(Err(_))
    )
}

fn request_head(path: &str, content_type: &str, content_length: usize) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: {content_type}\r\n\
         Content-Length: {content_length}\r\n\r\n"
    )
}

#[tokio::test]
async fn a_multipart_body_without_its_closing_boundary_is_a_prompt_400() {
    let app = spawn_app().await;
    let boundary = "gatehouse-boundary";
    let fields = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"email\"\r\n\r\n\
         cut@example.com\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"password\"\r\n\r\n\
         {PASSWORD}\r\n"
    );
    let content_type = format!("multipart/form-data; boundary={boundary}");

    // The same fields with their closing boundary register at once.
    let whole = format!("{fields}--{boundary}--\r\n");
    let mut stream = connect(&app).await;
    let request = request_head("/auth/register/", &content_type, whole.len()) + &whole;
    stream.write_all(request.as_bytes()).await.unwrap();
    let reply = read_reply(&mut stream, Instant::now() + Duration::from_secs(10)).await;
    assert!(reply.status_line.contains(" 201 "), "{reply:?}");

    let truncated = fields.replace("cut@", "cut2@");
    let started = Instant::now();
    let mut stream = connect(&app).await;
    let request = request_head("/auth/register/", &content_type, truncated.len()) + &truncated;
    stream.write_all(request.as_bytes()).await.unwrap();

    let reply = read_reply(&mut stream, started + Duration::from_secs(5)).await;

    assert!(reply.status_line.contains(" 400 "), "{reply:?}");
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(
        reply.body,
        json!({ "detail": "Multipart form parse error - Multipart stream is incomplete" }),
        "{reply:?}"
    );
    let users = app.db.scalar("SELECT count(*) AS value FROM users").await;
    assert_eq!(users, 1, "only the whole body registered");
}

#[tokio::test]
async fn a_body_that_stalls_is_cut_off_with_408_after_body_timeout() {
    let app = spawn_app_with(|s| s.server.body_timeout = Duration::from_secs(1)).await;
    let started = Instant::now();
    let mut stream = connect(&app).await;
    let head = request_head("/auth/register/", "application/json", 100);
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(br#"{"email": "#).await.unwrap();

    let reply = read_reply(&mut stream, started + Duration::from_secs(4)).await;

    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "answered before the timeout: {reply:?}"
    );
    assert!(reply.status_line.contains(" 408 "), "{reply:?}");
    assert_eq!(
        reply.body,
        json!({ "detail": "The request body did not arrive in time." }),
        "{reply:?}"
    );
    assert_eq!(reply.header("connection"), Some("close"), "{reply:?}");
    assert!(
        closed_by(&mut stream, started + Duration::from_secs(6)).await,
        "the connection is closed, not held"
    );
}

#[tokio::test]
async fn a_body_dripped_a_byte_at_a_time_is_cut_off_at_body_timeout_too() {
    let app = spawn_app_with(|s| s.server.body_timeout = Duration::from_secs(1)).await;
    let body = json!({ "email": "drip@example.com", "password": PASSWORD }).to_string();
    let started = Instant::now();
    let mut stream = connect(&app).await;
    let head = request_head("/auth/register/", "application/json", body.len());
    stream.write_all(head.as_bytes()).await.unwrap();
    // A byte every 200 ms: never idle for long, never done in time.
    let (mut reader, mut writer) = stream.into_split();
    let drip = tokio::spawn(async move {
        for byte in body.as_bytes() {
            if writer.write_all(&[*byte]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    let mut received = Vec::new();
    let read =
        tokio::time::timeout(Duration::from_secs(6), reader.read_to_end(&mut received)).await;
    drip.abort();

    assert!(read.is_ok(), "the connection was held open");
    let reply = parse_reply(&received).expect("a whole response");
    assert!(reply.status_line.contains(" 408 "), "{reply:?}");
    assert!(started.elapsed() < Duration::from_secs(6));
    let users = app.db.scalar("SELECT count(*) AS value FROM users").await;
    assert_eq!(users, 0);
}
