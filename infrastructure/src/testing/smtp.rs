//! A real SMTP server on loopback for tests: speaks enough ESMTP for lettre (EHLO,
//! MAIL, RCPT, DATA, RSET, NOOP, QUIT, and STARTTLS when given a certificate), keeps
//! every delivered message, and can be stopped and started again on the same port to
//! play a mail server that is down, or told to refuse a recipient with a reply of the
//! test's choosing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use super::IssuedCertificate;

/// One message as the server received it.
#[derive(Debug, Clone)]
pub struct ReceivedEmail {
    pub from: String,
    pub to: Vec<String>,
    /// The DATA section, dot-unstuffed, CRLF line ends.
    pub data: String,
    /// Whether it came over TLS (after STARTTLS).
    pub tls: bool,
}

/// What sessions share: delivered messages, every `RCPT TO` address in order, and the
/// replies to give some recipients instead of `250`.
#[derive(Default)]
struct Mailroom {
    inbox: Vec<ReceivedEmail>,
    recipients_tried: Vec<String>,
    refusals: HashMap<String, String>,
}

pub struct SmtpCatcher {
    port: u16,
    room: Arc<Mutex<Mailroom>>,
    arrived: Arc<Notify>,
    server: Mutex<Option<JoinHandle<()>>>,
    /// Offers STARTTLS with this certificate when set.
    tls: Option<TlsAcceptor>,
}

impl SmtpCatcher {
    /// Listens on `127.0.0.1:0`.
    pub async fn start() -> Self {
        Self::start_with(None).await
    }

    /// Listens on `127.0.0.1:0` and offers STARTTLS with `certificate`.
    pub async fn start_tls(certificate: &IssuedCertificate) -> Self {
        let chain = CertificateDer::pem_slice_iter(certificate.cert_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .expect("a PEM certificate");
        let key = PrivateKeyDer::from_pem_slice(certificate.key_pem.as_bytes())
            .expect("a PEM private key");
        let config = rustls::ServerConfig::builder_with_provider(crate::tls::provider())
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .expect("a usable certificate");
        Self::start_with(Some(TlsAcceptor::from(Arc::new(config)))).await
    }

    async fn start_with(tls: Option<TlsAcceptor>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the SMTP catcher");
        let port = listener.local_addr().expect("local address").port();
        let catcher = Self {
            port,
            room: Arc::default(),
            arrived: Arc::default(),
            server: Mutex::new(None),
            tls,
        };
        catcher.serve(listener);
        catcher
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    fn serve(&self, listener: TcpListener) {
        let (room, arrived) = (self.room.clone(), self.arrived.clone());
        let tls = self.tls.clone();
        let task = tokio::spawn(async move {
            let mut sessions = tokio::task::JoinSet::new();
            while let Ok((stream, _)) = listener.accept().await {
                sessions.spawn(session(stream, tls.clone(), room.clone(), arrived.clone()));
            }
        });
        *self.server.lock().expect("catcher lock") = Some(task);
    }

    /// Goes down: the port refuses connections and open sessions are cut.
    pub fn stop(&self) {
        if let Some(task) = self.server.lock().expect("catcher lock").take() {
            task.abort();
        }
    }

    /// Comes back on the same port.
    pub async fn resume(&self) {
        let listener = loop {
            match TcpListener::bind(("127.0.0.1", self.port)).await {
                Ok(listener) => break listener,
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        };
        self.serve(listener);
    }

    pub fn received(&self) -> Vec<ReceivedEmail> {
        self.room.lock().expect("catcher lock").inbox.clone()
    }

    /// Answers `RCPT TO:<address>` with `reply` (e.g. `550 5.1.1 No such user`) from
    /// now on.
    pub fn refuse(&self, address: &str, reply: &str) {
        let mut room = self.room.lock().expect("catcher lock");
        room.refusals.insert(address.to_owned(), reply.to_owned());
    }

    /// Takes `address` again.
    pub fn accept(&self, address: &str) {
        self.room
            .lock()
            .expect("catcher lock")
            .refusals
            .remove(address);
    }

    /// How many times a client named `address` in `RCPT TO`, accepted or not.
    pub fn attempts_for(&self, address: &str) -> usize {
        let room = self.room.lock().expect("catcher lock");
        room.recipients_tried
            .iter()
            .filter(|a| *a == address)
            .count()
    }

    /// Waits until at least `count` messages have arrived (panics after `limit`).
    pub async fn wait_for(&self, count: usize, limit: Duration) -> Vec<ReceivedEmail> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let notified = self.arrived.notified();
            let received = self.received();
            if received.len() >= count {
                return received;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!(
                    "expected {count} email(s) within {limit:?}, got {}",
                    self.received().len()
                );
            }
        }
    }
}

impl Drop for SmtpCatcher {
    fn drop(&mut self) {
        self.stop();
    }
}

/// How a conversation ended.
#[derive(PartialEq, Eq)]
enum Ended {
    Closed,
    /// The client asked for STARTTLS and was told to go ahead.
    StartTls,
}

async fn session(
    stream: TcpStream,
    tls: Option<TlsAcceptor>,
    room: Arc<Mutex<Mailroom>>,
    arrived: Arc<Notify>,
) {
    let mut plain = BufReader::new(stream);
    if !reply(&mut plain, "220 catcher.test ESMTP\r\n").await {
        return;
    }
    if converse(&mut plain, tls.is_some(), false, &room, &arrived).await == Ended::StartTls {
        let Some(acceptor) = tls else { return };
        // A client that refuses the certificate ends the handshake here.
        let Ok(secured) = acceptor.accept(plain.into_inner()).await else {
            return;
        };
        converse(&mut BufReader::new(secured), false, true, &room, &arrived).await;
    }
}

async fn reply<S: AsyncWrite + Unpin>(stream: &mut S, text: &str) -> bool {
    stream.write_all(text.as_bytes()).await.is_ok() && stream.flush().await.is_ok()
}

async fn converse<S: AsyncRead + AsyncWrite + Unpin>(
    lines: &mut BufReader<S>,
    offer_tls: bool,
    secured: bool,
    room: &Mutex<Mailroom>,
    arrived: &Notify,
) -> Ended {
    let (mut from, mut to) = (String::new(), Vec::new());
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
            return Ended::Closed;
        }
        let command = line.trim_end().to_owned();
        let upper = command.to_ascii_uppercase();
        let answer = if upper.starts_with("EHLO") {
            match offer_tls {
                true => "250-catcher.test\r\n250-8BITMIME\r\n250-STARTTLS\r\n250 SMTPUTF8\r\n",
                false => "250-catcher.test\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n",
            }
            .to_owned()
        } else if upper == "STARTTLS" && offer_tls {
            return match reply(lines, "220 2.0.0 Ready to start TLS\r\n").await {
                true => Ended::StartTls,
                false => Ended::Closed,
            };
        } else if upper.starts_with("HELO") || upper.starts_with("NOOP") {
            "250 OK\r\n".to_owned()
        } else if upper.starts_with("RSET") {
            (from, to) = (String::new(), Vec::new());
            "250 OK\r\n".to_owned()
        } else if upper.starts_with("MAIL FROM:") {
            from = address(&command[10..]);
            "250 OK\r\n".to_owned()
        } else if upper.starts_with("RCPT TO:") {
            let recipient = address(&command[8..]);
            let mut shared = room.lock().expect("catcher lock");
            shared.recipients_tried.push(recipient.clone());
            match shared.refusals.get(&recipient) {
                Some(refusal) => format!("{refusal}\r\n"),
                None => {
                    to.push(recipient);
                    "250 OK\r\n".to_owned()
                }
            }
        } else if upper == "DATA" {
            if !reply(lines, "354 End data with <CR><LF>.<CR><LF>\r\n").await {
                return Ended::Closed;
            }
            let mut data = String::new();
            loop {
                line.clear();
                if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
                    return Ended::Closed;
                }
                if line == ".\r\n" || line == ".\n" {
                    break;
                }
                data.push_str(line.strip_prefix('.').unwrap_or(&line));
            }
            let email = ReceivedEmail {
                from: from.clone(),
                to: to.clone(),
                data,
                tls: secured,
            };
            room.lock().expect("catcher lock").inbox.push(email);
            arrived.notify_waiters();
            "250 OK queued\r\n".to_owned()
        } else if upper.starts_with("QUIT") {
            let _ = reply(lines, "221 Bye\r\n").await;
            return Ended::Closed;
        } else {
            "502 Command not implemented\r\n".to_owned()
        };
        if !reply(lines, &answer).await {
            return Ended::Closed;
        }
    }
}

fn address(raw: &str) -> String {
    let raw = raw.trim();
    let raw = raw.split_whitespace().next().unwrap_or(raw);
    raw.trim_start_matches('<').trim_end_matches('>').to_owned()
}

impl ReceivedEmail {
    fn split(section: &str) -> (&str, &str) {
        section.split_once("\r\n\r\n").unwrap_or((section, ""))
    }

    /// A header of the message (unfolded), case-insensitively.
    pub fn header(&self, name: &str) -> Option<String> {
        header_in(Self::split(&self.data).0, name)
    }

    pub fn subject(&self) -> String {
        self.header("Subject").unwrap_or_default()
    }

    /// The decoded body of the first part whose content type starts with `mime`
    /// (the whole body for a single-part message of that type).
    pub fn part(&self, mime: &str) -> Option<String> {
        let (headers, body) = Self::split(&self.data);
        let content_type = header_in(headers, "Content-Type").unwrap_or_default();
        if let Some(boundary) = content_type.split("boundary=").nth(1) {
            let boundary = boundary
                .trim_matches('"')
                .split(';')
                .next()
                .unwrap_or_default();
            return body
                .split(&format!("--{boundary}"))
                .map(|part| part.trim_start_matches("\r\n"))
                .find_map(|part| {
                    let (headers, body) = Self::split(part);
                    let kind = header_in(headers, "Content-Type").unwrap_or_default();
                    kind.to_ascii_lowercase()
                        .starts_with(mime)
                        .then(|| decode(headers, body))
                });
        }
        content_type
            .to_ascii_lowercase()
            .starts_with(mime)
            .then(|| decode(headers, body))
    }

    pub fn text(&self) -> String {
        self.part("text/plain").unwrap_or_default()
    }

    pub fn html(&self) -> String {
        self.part("text/html").unwrap_or_default()
    }

    /// Every `http(s)://…` link in the text part.
    pub fn links(&self) -> Vec<String> {
        self.text()
            .split_whitespace()
            .filter(|word| word.starts_with("http://") || word.starts_with("https://"))
            .map(str::to_owned)
            .collect()
    }
}

fn header_in(headers: &str, name: &str) -> Option<String> {
    let unfolded = headers.replace("\r\n ", " ").replace("\r\n\t", " ");
    unfolded.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.trim()
            .eq_ignore_ascii_case(name)
            .then(|| value.trim().to_owned())
    })
}

fn decode(headers: &str, body: &str) -> String {
    let encoding = header_in(headers, "Content-Transfer-Encoding")
        .unwrap_or_default()
        .to_ascii_lowercase();
    match encoding.as_str() {
        "quoted-printable" => decode_quoted_printable(body),
        "base64" => {
            let compact: String = body.split_whitespace().collect();
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(compact)
                .unwrap_or_default();
            String::from_utf8_lossy(&bytes).into_owned()
        }
        _ => body.to_owned(),
    }
}

fn decode_quoted_printable(body: &str) -> String {
    let joined = body.replace("=\r\n", "").replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' && i + 2 < bytes.len() + 1 {
            let hex = joined
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            if let Some(byte) = hex {
                out.push(byte);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
