//! How Gatehouse reaches PostgreSQL: a connection string read as libpq reads it, TLS
//! included, for every connection it opens (the pool, migrations, database creation,
//! the auth cache's listener, the Django import).
//!
//! `sslmode` keeps libpq's meanings: `disable` (plain), `prefer` (the default: TLS when
//! the server offers it, else plain), `require` (TLS, the certificate not checked),
//! `verify-ca` (TLS, the chain checked against the trusted roots, whatever host it
//! names) and `verify-full` (the chain and the host name). `sslrootcert=PATH` names the
//! trusted roots, a PEM file (`system`, the default of the `verify-*` modes: the
//! system's roots); as with libpq, a root file makes `prefer` and `require` check the
//! chain too. tokio-postgres knows neither the `verify-*` modes nor `sslrootcert`: they
//! are taken out of the string here and the rest is handed to it.

use std::fmt;
use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use anyhow::{Context, bail};
use diesel_async::AsyncPgConnection;
use percent_encoding::percent_decode_str;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{WebPkiSupportedAlgorithms, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};
use tokio_postgres::{Client, Connection, Socket};
use tokio_rustls::TlsConnector;

/// libpq's `sslmode`, less `allow` (plain first, TLS if refused), which no managed
/// PostgreSQL wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    fn parse(value: &str) -> anyhow::Result<Self> {
        Ok(match value {
            "disable" => Self::Disable,
            "prefer" => Self::Prefer,
            "require" => Self::Require,
            "verify-ca" => Self::VerifyCa,
            "verify-full" => Self::VerifyFull,
            other => bail!(
                "sslmode={other:?} is not supported: use disable, prefer, require, verify-ca or verify-full"
            ),
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Disable => "disable",
            Self::Prefer => "prefer",
            Self::Require => "require",
            Self::VerifyCa => "verify-ca",
            Self::VerifyFull => "verify-full",
        }
    }
}

impl fmt::Display for SslMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where the trusted roots come from (`sslrootcert`).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Roots {
    /// Not given: `prefer` and `require` check nothing, the `verify-*` modes use the
    /// system's roots.
    Unset,
    /// `sslrootcert=system`.
    System,
    /// `sslrootcert=PATH`: a PEM file of one or more CA certificates.
    File(PathBuf),
}

impl Roots {
    /// What to do about a certificate these roots refused.
    fn advice(&self) -> String {
        match self {
            Roots::File(path) => format!(
                "it is not signed by a CA of sslrootcert={}: set sslrootcert to your provider's CA bundle",
                path.display()
            ),
            Roots::Unset | Roots::System => "checked against the system's trusted roots: set \
                 sslrootcert=/path/to/ca.pem in the database URL to trust your provider's CA"
                .to_owned(),
        }
    }

    fn store(&self) -> anyhow::Result<RootCertStore> {
        match self {
            Roots::File(path) => crate::tls::roots_from_file(path)
                .with_context(|| format!("sslrootcert={}", path.display())),
            Roots::Unset | Roots::System => {
                crate::tls::system_roots().context("sslrootcert=system")
            }
        }
    }
}

/// A PostgreSQL connection string, read: tokio-postgres's settings and the TLS that
/// `sslmode`/`sslrootcert` ask for. Its `Debug` shows no password.
#[derive(Clone)]
pub struct PgConnectOptions {
    config: tokio_postgres::Config,
    tls: PgTls,
}

impl fmt::Debug for PgConnectOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgConnectOptions")
            .field("config", &self.config)
            .field("sslmode", &self.tls.mode)
            .field("sslrootcert", &self.tls.roots)
            .finish()
    }
}

impl PgConnectOptions {
    /// Reads a URL (`postgres://…?sslmode=verify-full&sslrootcert=/ca.pem`) or a
    /// key/value string (`host=… sslmode=require`), and the root file it names.
    /// Errors say which parameter is wrong and never repeat the string (it may hold a
    /// password).
    pub fn parse(url: &str) -> anyhow::Result<Self> {
        let split = split_tls_params(url);
        let mut config: tokio_postgres::Config = split
            .rest
            .parse()
            .context("the database URL is not a PostgreSQL connection string")?;
        let mode = match split.sslmode.as_deref() {
            Some(value) => SslMode::parse(value)?,
            None => SslMode::Prefer,
        };
        let roots = match split.sslrootcert.as_deref() {
            None | Some("") => Roots::Unset,
            Some("system") => Roots::System,
            Some(path) => Roots::File(PathBuf::from(path)),
        };
        config.ssl_mode(match mode {
            SslMode::Disable => tokio_postgres::config::SslMode::Disable,
            SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
            _ => tokio_postgres::config::SslMode::Require,
        });
        let tls = PgTls::new(mode, roots)?;
        Ok(Self { config, tls })
    }

    pub fn config(&self) -> &tokio_postgres::Config {
        &self.config
    }

    pub fn config_mut(&mut self) -> &mut tokio_postgres::Config {
        &mut self.config
    }

    pub fn ssl_mode(&self) -> SslMode {
        self.tls.mode
    }

    /// Connects; the caller drives the returned connection.
    pub async fn connect(
        &self,
    ) -> Result<(Client, Connection<Socket, PgTlsStream>), tokio_postgres::Error> {
        self.config.connect(self.tls.clone()).await
    }

    /// A diesel connection, driven in a task of its own. A failure's message carries
    /// its whole cause (`error performing TLS handshake: PostgreSQL's certificate is
    /// not trusted: …`).
    pub async fn connect_diesel(&self) -> Result<AsyncPgConnection, diesel::ConnectionError> {
        let (client, connection) = self
            .connect()
            .await
            .map_err(|error| diesel::ConnectionError::BadConnection(error_chain(&error)))?;
        AsyncPgConnection::try_from_client_and_connection(client, connection).await
    }
}

/// An error and its causes, `: `-separated.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    text
}

/// A connection string without libpq's TLS parameters, and their values.
#[derive(Debug, PartialEq, Eq)]
struct Split {
    rest: String,
    sslmode: Option<String>,
    sslrootcert: Option<String>,
}

fn split_tls_params(url: &str) -> Split {
    match ["postgres://", "postgresql://"]
        .iter()
        .find(|prefix| url.starts_with(**prefix))
    {
        Some(prefix) => split_url(url, prefix.len()),
        None => split_key_values(url),
    }
}

/// The URL form. Its query starts at the first `?` after the credentials, as
/// tokio-postgres reads it (a password may hold a `?`).
fn split_url(url: &str, prefix: usize) -> Split {
    let body = &url[prefix..];
    let credentials_end = body.find('@').map_or(0, |at| at + 1);
    let Some(query_start) = body[credentials_end..].find('?') else {
        return Split {
            rest: url.to_owned(),
            sslmode: None,
            sslrootcert: None,
        };
    };
    let query_at = prefix + credentials_end + query_start;
    let (base, query) = (&url[..query_at], &url[query_at + 1..]);
    let decode = |text: &str| percent_decode_str(text).decode_utf8_lossy().into_owned();
    let (mut sslmode, mut sslrootcert, mut kept) = (None, None, Vec::new());
    for pair in query.split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match decode(key).as_str() {
            "sslmode" => sslmode = Some(decode(value)),
            "sslrootcert" => sslrootcert = Some(decode(value)),
            _ => kept.push(pair),
        }
    }
    let rest = match kept.is_empty() {
        true => base.to_owned(),
        false => format!("{base}?{}", kept.join("&")),
    };
    Split {
        rest,
        sslmode,
        sslrootcert,
    }
}

/// The `key=value` form (values may be quoted with `'`, `\` escapes), read as
/// tokio-postgres reads it. One it cannot read is left whole, for it to say why.
fn split_key_values(text: &str) -> Split {
    let (mut sslmode, mut sslrootcert, mut kept) = (None, None, Vec::new());
    let mut rest = text.trim_start();
    while !rest.is_empty() {
        let Some((whole, key, value, after)) = next_key_value(rest) else {
            return Split {
                rest: text.to_owned(),
                sslmode: None,
                sslrootcert: None,
            };
        };
        match key {
            "sslmode" => sslmode = Some(value),
            "sslrootcert" => sslrootcert = Some(value),
            _ => kept.push(whole),
        }
        rest = after.trim_start();
    }
    Split {
        rest: kept.join(" "),
        sslmode,
        sslrootcert,
    }
}

/// The `key = value` at the start of `text`: its whole text, the key, the value
/// unescaped, and what follows it.
fn next_key_value(text: &str) -> Option<(&str, &str, String, &str)> {
    let key_end = text.find(|c: char| c.is_whitespace() || c == '=')?;
    let key = &text[..key_end];
    if key.is_empty() {
        return None;
    }
    let value_text = text[key_end..].trim_start().strip_prefix('=')?.trim_start();
    let mut value = String::new();
    let mut chars = value_text.char_indices();
    let end = if value_text.starts_with('\'') {
        chars.next();
        loop {
            match chars.next()? {
                (at, '\'') => break at + 1,
                (_, '\\') => value.push(chars.next()?.1),
                (_, c) => value.push(c),
            }
        }
    } else {
        let mut end = value_text.len();
        while let Some((at, c)) = chars.next() {
            if c.is_whitespace() {
                end = at;
                break;
            }
            match c {
                '\\' => value.extend(chars.next().map(|(_, escaped)| escaped)),
                c => value.push(c),
            }
        }
        if value.is_empty() {
            return None;
        }
        end
    };
    let consumed = text.len() - value_text.len() + end;
    Some((&text[..consumed], key, value, &text[consumed..]))
}

/// Replaces the password of a URL (`scheme://user:password@host…`, libpq's
/// `password=` parameter, or a key/value string's `password=…`) with `********`.
pub fn redact_password(url: &str) -> String {
    const HIDDEN: &str = "********";
    let Some(scheme_end) = url.find("://") else {
        // key/value form: the value of `password`, however quoted.
        let mut out = String::new();
        let mut rest = url;
        loop {
            let leading = rest.len() - rest.trim_start().len();
            out.push_str(&rest[..leading]);
            rest = &rest[leading..];
            if rest.is_empty() {
                return out;
            }
            match next_key_value(rest) {
                Some((_, "password", _, after)) => {
                    out.push_str("password=");
                    out.push_str(HIDDEN);
                    rest = after;
                }
                Some((whole, _, _, after)) => {
                    out.push_str(whole);
                    rest = after;
                }
                None => return format!("{out}{HIDDEN}"),
            }
        }
    };
    let body_start = scheme_end + 3;
    let body = &url[body_start..];
    let mut out = url[..body_start].to_owned();
    // The credentials end at the first `@`, as tokio-postgres reads them: what is
    // hidden is exactly what it would send as the password.
    let rest = match body.find('@') {
        Some(at) => {
            let credentials = &body[..at];
            match credentials.split_once(':') {
                Some((user, _)) => out.push_str(&format!("{user}:{HIDDEN}")),
                None => out.push_str(credentials),
            }
            &body[at..]
        }
        None => body,
    };
    match rest.split_once('?') {
        Some((path, query)) => {
            out.push_str(path);
            out.push('?');
            let pairs: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((key, _)) if percent_decode_str(key).decode_utf8_lossy() == "password" => {
                        format!("{key}={HIDDEN}")
                    }
                    _ => pair.to_owned(),
                })
                .collect();
            out.push_str(&pairs.join("&"));
        }
        None => out.push_str(rest),
    }
    out
}

/// rustls for tokio-postgres, as `sslmode` and `sslrootcert` ask.
#[derive(Clone)]
pub struct PgTls {
    /// `None` under `sslmode=disable`, when tokio-postgres never asks for TLS.
    config: Option<Arc<ClientConfig>>,
    mode: SslMode,
    roots: Roots,
}

impl PgTls {
    fn new(mode: SslMode, roots: Roots) -> anyhow::Result<Self> {
        let provider = crate::tls::provider();
        let algorithms = provider.signature_verification_algorithms;
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .context("while setting TLS up")?;
        let config = match (mode, &roots) {
            (SslMode::Disable, _) => None,
            (SslMode::Prefer | SslMode::Require, Roots::Unset) => Some(
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(AnyCertificate(algorithms)))
                    .with_no_client_auth(),
            ),
            (SslMode::Prefer | SslMode::Require | SslMode::VerifyCa, roots) => Some(
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(ChainOnly {
                        roots: Arc::new(roots.store()?),
                        algorithms,
                    }))
                    .with_no_client_auth(),
            ),
            (SslMode::VerifyFull, roots) => Some(
                builder
                    .with_root_certificates(roots.store()?)
                    .with_no_client_auth(),
            ),
        };
        let config = config.map(|mut config| {
            // What PostgreSQL 17 asks of a direct TLS connection; ignored by older ones.
            config.alpn_protocols = vec![b"postgresql".to_vec()];
            Arc::new(config)
        });
        Ok(Self {
            config,
            mode,
            roots,
        })
    }
}

impl MakeTlsConnect<Socket> for PgTls {
    type Stream = PgTlsStream;
    type TlsConnect = PgTlsConnect;
    type Error = PgTlsError;

    /// Asked before every connection, whatever the mode, and with an empty host for
    /// a Unix socket (where the server refuses TLS): a bad name is an error only if a
    /// handshake follows.
    fn make_tls_connect(&mut self, host: &str) -> Result<PgTlsConnect, PgTlsError> {
        let connector = self.config.as_ref().map(|config| {
            let name = ServerName::try_from(host.to_owned()).map_err(|_| host.to_owned());
            (TlsConnector::from(config.clone()), name)
        });
        Ok(PgTlsConnect {
            connector,
            mode: self.mode,
            roots: self.roots.clone(),
        })
    }
}

/// One TLS handshake with one host.
pub struct PgTlsConnect {
    /// `None` under `sslmode=disable`; the host's name, or the host that is none.
    connector: Option<(TlsConnector, Result<ServerName<'static>, String>)>,
    mode: SslMode,
    roots: Roots,
}

impl TlsConnect<Socket> for PgTlsConnect {
    type Stream = PgTlsStream;
    type Error = PgTlsError;
    type Future = Pin<Box<dyn Future<Output = Result<PgTlsStream, PgTlsError>> + Send>>;

    fn connect(self, stream: Socket) -> Self::Future {
        let PgTlsConnect {
            connector,
            mode,
            roots,
        } = self;
        Box::pin(async move {
            let (connector, name) = connector.ok_or(PgTlsError::Disabled)?;
            let name = name.map_err(PgTlsError::BadHost)?;
            connector
                .connect(name, stream)
                .await
                .map(PgTlsStream)
                .map_err(|error| PgTlsError::from_handshake(error, mode, &roots))
        })
    }
}

/// Why TLS with PostgreSQL failed, told so an operator knows what to change.
#[derive(Debug, thiserror::Error)]
pub enum PgTlsError {
    #[error("TLS is off (sslmode=disable)")]
    Disabled,
    #[error("{0:?} is not a host name TLS can check")]
    BadHost(String),
    #[error("PostgreSQL's certificate is not trusted: {detail} (sslmode={mode}; {advice})")]
    Untrusted {
        detail: String,
        mode: SslMode,
        advice: String,
    },
    #[error(
        "PostgreSQL's certificate does not name the host of the database URL: {detail} \
         (sslmode=verify-full checks the host name: connect by a name the certificate \
         holds, or use sslmode=verify-ca)"
    )]
    WrongHost { detail: String },
    #[error("the TLS handshake with PostgreSQL failed: {0}")]
    Handshake(io::Error),
}

impl PgTlsError {
    fn from_handshake(error: io::Error, mode: SslMode, roots: &Roots) -> Self {
        let refused = error
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>());
        match refused {
            Some(
                refusal @ rustls::Error::InvalidCertificate(
                    CertificateError::NotValidForName
                    | CertificateError::NotValidForNameContext { .. },
                ),
            ) => PgTlsError::WrongHost {
                detail: refusal.to_string(),
            },
            Some(refusal @ rustls::Error::InvalidCertificate(_)) => PgTlsError::Untrusted {
                detail: refusal.to_string(),
                mode,
                advice: roots.advice(),
            },
            _ => PgTlsError::Handshake(error),
        }
    }
}

/// A TLS session with PostgreSQL.
pub struct PgTlsStream(tokio_rustls::client::TlsStream<Socket>);

impl AsyncRead for PgTlsStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for PgTlsStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

impl TlsStream for PgTlsStream {
    /// No `tls-server-end-point` binding: SCRAM runs without `-PLUS`, as libpq's
    /// default `channel_binding=prefer` allows.
    fn channel_binding(&self) -> ChannelBinding {
        ChannelBinding::none()
    }
}

/// `prefer`/`require` without a root file: encrypted, the certificate not checked
/// (libpq's meaning). The handshake must still be signed by the key it presents.
#[derive(Debug)]
struct AnyCertificate(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

/// `verify-ca` (and `prefer`/`require` with a root file): the chain must lead to a
/// trusted root, valid now; the host it names is not checked.
#[derive(Debug)]
struct ChainOnly {
    roots: Arc<RootCertStore>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let certificate = ParsedCertificate::try_from(end_entity)?;
        rustls::client::verify_server_cert_signed_by_trust_anchor(
            &certificate,
            &self.roots,
            intermediates,
            now,
            self.algorithms.all,
        )?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(url: &str) -> (String, Option<&'static str>, Option<String>) {
        let split = split_tls_params(url);
        let mode = split
            .sslmode
            .map(|mode| SslMode::parse(&mode).unwrap().as_str());
        (split.rest, mode, split.sslrootcert)
    }

    #[test]
    fn libpq_tls_parameters_are_taken_out_of_a_url_and_the_rest_kept() {
        assert_eq!(
            split(
                "postgres://u:p@db.example.com:5432/gate?sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem&application_name=x"
            ),
            (
                "postgres://u:p@db.example.com:5432/gate?application_name=x".to_owned(),
                Some("verify-full"),
                Some("/etc/ca.pem".to_owned())
            )
        );
        assert_eq!(
            split("postgresql://h/db?sslmode=require"),
            ("postgresql://h/db".to_owned(), Some("require"), None)
        );
        assert_eq!(
            split("postgres://h/db"),
            ("postgres://h/db".to_owned(), None, None)
        );
        // A `?` in the password is not the query.
        assert_eq!(
            split("postgres://u:p?x@h/db?sslmode=verify-ca"),
            ("postgres://u:p?x@h/db".to_owned(), Some("verify-ca"), None)
        );
    }

    #[test]
    fn libpq_tls_parameters_are_taken_out_of_a_key_value_string() {
        assert_eq!(
            split(
                "host=h  dbname='my db' sslmode = verify-full sslrootcert='/etc/my ca.pem' user=u\\ x"
            ),
            (
                "host=h dbname='my db' user=u\\ x".to_owned(),
                Some("verify-full"),
                Some("/etc/my ca.pem".to_owned())
            )
        );
        let options =
            PgConnectOptions::parse("host=h dbname='my db' sslmode=disable user=u\\ x").unwrap();
        assert_eq!(options.config().get_dbname(), Some("my db"));
        assert_eq!(options.config().get_user(), Some("u x"));
        assert_eq!(options.ssl_mode(), SslMode::Disable);
    }

    #[test]
    fn every_sslmode_of_libpq_but_allow_is_read() {
        for (mode, driver) in [
            ("disable", tokio_postgres::config::SslMode::Disable),
            ("prefer", tokio_postgres::config::SslMode::Prefer),
            ("require", tokio_postgres::config::SslMode::Require),
            ("verify-ca", tokio_postgres::config::SslMode::Require),
            ("verify-full", tokio_postgres::config::SslMode::Require),
        ] {
            let options = PgConnectOptions::parse(&format!("postgres://h/db?sslmode={mode}"))
                .unwrap_or_else(|error| panic!("{mode}: {error:#}"));
            assert_eq!(options.ssl_mode().as_str(), mode);
            assert_eq!(options.config().get_ssl_mode(), driver, "{mode}");
        }
        let default = PgConnectOptions::parse("postgres://h/db").unwrap();
        assert_eq!(default.ssl_mode(), SslMode::Prefer, "libpq's default");
        let error = PgConnectOptions::parse("postgres://u:hunter2@h/db?sslmode=allow").unwrap_err();
        let message = format!("{error:#}");
        assert!(message.contains("sslmode=\"allow\""), "{message}");
        assert!(!message.contains("hunter2"), "{message}");
    }

    #[test]
    fn a_missing_or_empty_root_file_is_refused_by_name() {
        let error = PgConnectOptions::parse(
            "postgres://h/db?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem",
        )
        .unwrap_err();
        let message = format!("{error:#}");
        assert!(
            message.contains("sslrootcert=/nonexistent/ca.pem"),
            "{message}"
        );
        let empty = std::env::temp_dir().join(format!("gh-empty-{}.pem", uuid::Uuid::new_v4()));
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let error = PgConnectOptions::parse(&format!(
            "postgres://h/db?sslmode=verify-ca&sslrootcert={}",
            empty.display()
        ))
        .unwrap_err();
        let _ = std::fs::remove_file(&empty);
        assert!(
            format!("{error:#}").contains("no PEM certificate"),
            "{error:#}"
        );
    }

    #[test]
    fn passwords_are_redacted_from_every_form() {
        for (url, redacted) in [
            (
                "postgres://gate:s3cret@db:5432/gate?sslmode=require",
                "postgres://gate:********@db:5432/gate?sslmode=require",
            ),
            ("postgres://gate@db/gate", "postgres://gate@db/gate"),
            (
                "postgres://db/gate?password=s3cret&x=1",
                "postgres://db/gate?password=********&x=1",
            ),
            (
                "postgres://u:p?w/d@db/gate",
                "postgres://u:********@db/gate",
            ),
            (
                "rediss://:s3cret@redis:6380/0",
                "rediss://:********@redis:6380/0",
            ),
            (
                "host=db password='s3 cret' user=u",
                "host=db password=******** user=u",
            ),
        ] {
            assert_eq!(redact_password(url), redacted, "{url}");
        }
    }
}
