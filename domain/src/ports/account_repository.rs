//! Port: the account changes that emailed links and passwords authorise, each one
//! transaction with the email it causes queued in the outbox (SPEC §7: the message row
//! commits with the change).

use std::future::Future;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{AuditEvent, EmailKind, RepositoryError, UserId};

/// Which sessions a password change ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionRevocation {
    None,
    AllBut(Uuid),
    All,
}

/// A password change by any route. `Debug` hides the hashes.
#[derive(Clone)]
pub struct PasswordChange {
    pub user_id: UserId,
    pub password_hash: String,
    pub at: DateTime<Utc>,
    pub revoke: SessionRevocation,
    /// The reset token this change consumes; the change fails if it was used meanwhile.
    pub consume_token: Option<i64>,
    /// The hash the current password was verified against; the change fails if the
    /// password changed meanwhile.
    pub replaces_hash: Option<String>,
    /// Queued to the user with the change.
    pub email: Option<EmailKind>,
    /// Recorded with the change.
    pub audit: AuditEvent,
}

impl std::fmt::Debug for PasswordChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordChange")
            .field("user_id", &self.user_id)
            .field("at", &self.at)
            .field("revoke", &self.revoke)
            .field("consume_token", &self.consume_token)
            .field("email", &self.email)
            .field("audit", &self.audit.kind)
            .finish_non_exhaustive()
    }
}

/// Applies the changes that activation links and passwords authorise.
///
/// # Errors
/// `RepositoryError::Unavailable` when the store cannot be reached in time,
/// `RepositoryError::Unexpected` otherwise.
pub trait AccountRepository: Clone + Send + Sync + 'static {
    /// Consumes the activation token, activates the user, queues `email` to him and
    /// records `audit`. `false` (and nothing changes) when the token was consumed
    /// meanwhile, has expired by `at`, or the user no longer awaits activation
    /// (activated, or deactivated by an administrator).
    fn activate(
        &self,
        token_id: i64,
        user_id: UserId,
        at: DateTime<Utc>,
        email: EmailKind,
        audit: AuditEvent,
    ) -> impl Future<Output = Result<bool, RepositoryError>> + Send;

    /// Sets the password and `password_changed_at`, revokes sessions as asked, deletes
    /// every API key of the user, retires every unused reset token of the user, queues
    /// the change's email and records its audit event.
    /// `false` (nothing changes) when there is no such user, when `consume_token` was
    /// consumed meanwhile or has expired by `at`, or when the password is no longer
    /// `replaces_hash`.
    fn set_password(
        &self,
        change: PasswordChange,
    ) -> impl Future<Output = Result<bool, RepositoryError>> + Send;
}
