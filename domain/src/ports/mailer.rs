//! Port: handing a rendered email to a mail server.

use std::future::Future;

use crate::{BoxError, EmailMessage};

#[derive(Debug, thiserror::Error)]
#[error("the email could not be delivered")]
pub struct MailError(#[source] pub BoxError);

/// Delivers emails. Called only by the outbox worker, never on a request's path.
///
/// # Errors
/// `MailError` when the server refused the message or could not be reached; the
/// outbox retries later.
pub trait Mailer: Clone + Send + Sync + 'static {
    fn send(&self, message: &EmailMessage) -> impl Future<Output = Result<(), MailError>> + Send;
}
