//! `Mailer`s: SMTP through lettre (plain, STARTTLS or TLS, optional auth), and the log
//! for development without a mail server.

use std::time::Duration;

use domain::EmailMessage;
use domain::ports::{MailError, Mailer};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
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
        let builder = match settings.tls {
            SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host),
            SmtpTls::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host)
                .context("invalid email.smtp_host for STARTTLS")?,
            SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(host)
                .context("invalid email.smtp_host for TLS")?,
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

fn build(from: &Mailbox, message: &EmailMessage) -> Result<Message, MailError> {
    let to: Mailbox = message.to.parse().map_err(|e| MailError(Box::new(e)))?;
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(message.subject.clone())
        .multipart(MultiPart::alternative_plain_html(
            message.text.clone(),
            message.html.clone(),
        ))
        .map_err(|e| MailError(Box::new(e)))
}

impl Mailer for SmtpMailer {
    async fn send(&self, message: &EmailMessage) -> Result<(), MailError> {
        let email = build(&self.from, message)?;
        self.transport
            .send(email)
            .await
            .map_err(|e| MailError(Box::new(e)))?;
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
