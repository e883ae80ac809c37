//! `Mailer`s: SMTP through lettre (plain, STARTTLS or TLS, optional auth), and the log
//! for development without a mail server.

use std::path::PathBuf;
use std::time::Duration;

use domain::ports::{MailError, MailFailure, Mailer};
use domain::{EmailAddress, EmailMessage};
use lettre::address::Envelope;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::{ExposeSecret, SecretString};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain SMTP (a relay on localhost, a test server).
    None,
    /// Plain connection upgraded with STARTTLS, required.
    Starttls,
    /// TLS from the first byte (SMTPS).
    Tls,
}

/// The mail server (`email.smtp_*`, `email.default_from_email`).
#[derive(Debug, Clone, serde::Deserialize)]
pub struct SmtpSettings {
    /// Unset: no mail server (development and tests log emails instead).
    #[serde(rename = "smtp_host", default)]
    pub host: Option<String>,
    #[serde(rename = "smtp_port")]
    pub port: u16,
    #[serde(rename = "smtp_username", default)]
    pub username: Option<String>,
    #[serde(rename = "smtp_password", default)]
    pub password: Option<SecretString>,
    #[serde(rename = "smtp_tls")]
    pub tls: SmtpTls,
    /// CA certificates (PEM) trusted besides the public roots: a relay whose
    /// certificate a private CA signed.
    #[serde(rename = "smtp_ca_file", default)]
    pub ca_file: Option<PathBuf>,
    #[serde(rename = "default_from_email")]
    pub from: String,
    /// How long one SMTP exchange may take.
    #[serde(
        rename = "smtp_timeout",
        deserialize_with = "application::config::duration"
    )]
    pub timeout: Duration,
}

/// Sends through one SMTP transport, built once and reused for every message.
#[derive(Clone)]
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl SmtpMailer {
    pub fn new(settings: &SmtpSettings) -> anyhow::Result<Self> {
        use anyhow::Context;
        let host = settings
            .host
            .as_deref()
            .context("email.smtp_host is not set")?;
        let builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host);
        let builder = match settings.tls {
            SmtpTls::None => builder,
            SmtpTls::Starttls => builder.tls(Tls::Required(tls_parameters(host, settings)?)),
            SmtpTls::Tls => builder.tls(Tls::Wrapper(tls_parameters(host, settings)?)),
        };
        let mut builder = builder.port(settings.port).timeout(Some(settings.timeout));
        if let (Some(username), Some(password)) = (&settings.username, &settings.password) {
            builder = builder.credentials(Credentials::new(
                username.clone(),
                password.expose_secret().to_owned(),
            ));
        }
        let from = settings.from.parse().with_context(|| {
            format!(
                "email.default_from_email {:?} is not an address",
                settings.from
            )
        })?;
        Ok(Self {
            transport: builder.build(),
            from,
        })
    }
}

/// The relay's certificate must name `host` and chain to the public (webpki) roots or
/// to a CA of `email.smtp_ca_file`.
fn tls_parameters(host: &str, settings: &SmtpSettings) -> anyhow::Result<TlsParameters> {
    use anyhow::Context;
    let mut builder = TlsParameters::builder(host.to_owned());
    if let Some(path) = &settings.ca_file {
        let certificates =
            crate::tls::read_pem_certificates(path).context("invalid email.smtp_ca_file")?;
        for certificate in certificates {
            let certificate = Certificate::from_der(certificate.to_vec())
                .context("invalid email.smtp_ca_file")?;
            builder = builder.add_root_certificate(certificate);
        }
    }
    builder
        .build_rustls()
        .with_context(|| format!("invalid email.smtp_host {host:?} for TLS"))
}

/// The recipient, read by the parser every route validates addresses with, so an
/// address the service accepted is always one it can send to; the domain goes out in
/// its ASCII form, as Django sends it, which needs no SMTPUTF8 from the server.
fn recipient(to: &str) -> Result<Address, MailError> {
    let email = EmailAddress::parse(to).map_err(rejected)?;
    Address::new(email.local_part(), email.ascii_domain()).map_err(rejected)
}

/// A message no server could be given: sending it again cannot help.
fn rejected(error: impl Into<domain::BoxError>) -> MailError {
    MailError::new(MailFailure::Rejected, error)
}

/// What an SMTP error says about the message. A 5xx reply refuses it for good and a
/// 4xx one for now, except the replies about the service as a whole (x2z: closing
/// the connection, x3z: authentication), which say nothing about the message, like a
/// server that cannot be reached.
fn smtp_failure(error: &lettre::transport::smtp::Error) -> MailFailure {
    use lettre::transport::smtp::response::Category;
    match error.status() {
        Some(code)
            if matches!(
                code.category,
                Category::Connections | Category::Unspecified3
            ) =>
        {
            MailFailure::Unavailable
        }
        Some(_) if error.is_permanent() => MailFailure::Rejected,
        Some(_) => MailFailure::Deferred,
        None => MailFailure::Unavailable,
    }
}

fn build(from: &Mailbox, message: &EmailMessage) -> Result<Message, MailError> {
    let to = recipient(&message.to)?;
    // Given, not read back from the headers: lettre's header parser knows neither
    // address literals nor quoted local parts, which the recipient may have.
    let envelope = Envelope::new(Some(from.email.clone()), vec![to.clone()]).map_err(rejected)?;
    Message::builder()
        .from(from.clone())
        .to(Mailbox::new(None, to))
        .envelope(envelope)
        .subject(message.subject.clone())
        .multipart(MultiPart::alternative_plain_html(
            message.text.clone(),
            message.html.clone(),
        ))
        .map_err(rejected)
}

impl Mailer for SmtpMailer {
    async fn send(&self, message: &EmailMessage) -> Result<(), MailError> {
        let email = build(&self.from, message)?;
        self.transport
            .send(email)
            .await
            .map_err(|e| MailError::new(smtp_failure(&e), e))?;
        Ok(())
    }
}

/// Development without `email.smtp_host`: each message is written to the log, link
/// included, so the flows can be followed by hand. Never used in production.
#[derive(Debug, Clone, Default)]
pub struct LogMailer;

impl Mailer for LogMailer {
    async fn send(&self, message: &EmailMessage) -> Result<(), MailError> {
        tracing::info!(
            to = %message.to,
            subject = %message.subject,
            body = %message.text,
            "email (no SMTP server configured: written to the log instead)"
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every shape of address the service accepts, lettre takes as a recipient.
    #[test]
    fn an_address_the_service_accepts_is_a_recipient() {
        for raw in [
            "user+tag@example.com",
            "o'brien@example.co.uk",
            "!#$%&'*+-/=?^_`{|}~@example.org",
            "\"test@test\"@example.com",
            "\"a..b\"@example.com",
            "ops@localhost",
            "post@[192.0.2.1]",
            "post@[2001:db8::1]",
            "anna@bücher.example",
        ] {
            assert!(EmailAddress::parse(raw).is_ok(), "{raw:?}");
            assert!(recipient(raw).is_ok(), "{raw:?}");
        }
        let idn = recipient("anna@bücher.example").unwrap();
        assert_eq!(idn.to_string(), "anna@xn--bcher-kva.example");
    }

    #[test]
    fn an_address_the_service_refuses_is_not_sent_to() {
        for raw in ["a..b@example.com", "a@b..com", "jörg@example.com"] {
            assert!(recipient(raw).is_err(), "{raw:?}");
        }
    }
}
