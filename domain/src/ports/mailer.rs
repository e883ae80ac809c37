//! Port: handing a rendered email to a mail server.

use std::future::Future;

use crate::{BoxError, EmailMessage};

/// What a failed delivery says about the message: it decides whether the outbox tries
/// again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailFailure {
    /// Refused for good: the server refused this message with a permanent (5xx) reply,
    /// or it has no recipient a server could be given. Trying again cannot help.
    Rejected,
    /// Refused for now: the server answered this message with a transient (4xx) reply.
    Deferred,
    /// Nothing was said about this message: the server could not be reached, broke
    /// off, timed out, or takes no mail from this service at all (a refused login).
    Unavailable,
}

#[derive(Debug, thiserror::Error)]
#[error("the email could not be delivered")]
pub struct MailError {
    pub failure: MailFailure,
    #[source]
    pub source: BoxError,
}

impl MailError {
    pub fn new(failure: MailFailure, source: impl Into<BoxError>) -> Self {
        Self {
            failure,
            source: source.into(),
        }
    }
}

/// Delivers emails. Called only by the outbox worker, never on a request's path.
///
/// # Errors
/// `MailError` when the message was not delivered, saying whether it was refused for
/// good, refused for now, or the server was unavailable; the outbox retries the last
/// two, within its bounds.
pub trait Mailer: Clone + Send + Sync + 'static {
    fn send(&self, message: &EmailMessage) -> impl Future<Output = Result<(), MailError>> + Send;
}
