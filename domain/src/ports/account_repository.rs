//! Port: the email-driven account changes, each one transaction with the email it
//! causes queued in the outbox (SPEC §7: the message row commits with the change).

use std::future::Future;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{AuditEvent, NewOneTimeToken, OneTimeTokenRecord, RepositoryError, UserId};

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
            .field("audit", &self.audit.kind)
            .finish_non_exhaustive()
    }
}

/// Stores one-time tokens and applies the changes they authorise.
///
/// Every method that changes state also queues its email and commits both together.
///
/// # Errors
/// `RepositoryError::Unavailable` when the store cannot be reached in time,
/// `RepositoryError::Unexpected` otherwise.
pub trait AccountRepository: Clone + Send + Sync + 'static {
    /// Stores the token, retires the user's earlier unused tokens of the same purpose,
    /// and queues the email of its purpose (activation or reset link) — unless one of
    /// that purpose was issued to him less than `cooldown` ago: then nothing happens
    /// and the answer is `false` (a per-recipient limit: no mailbox flooding, and the
    /// link already sent keeps working).
    fn issue_token(
        &self,
        user_id: UserId,
        token: NewOneTimeToken,
        cooldown: chrono::Duration,
    ) -> impl Future<Output = Result<bool, RepositoryError>> + Send;

    /// The token stored under this digest, used or not.
    fn find_token(
        &self,
        digest: &[u8],
    ) -> impl Future<Output = Result<Option<OneTimeTokenRecord>, RepositoryError>> + Send;

    /// Consumes the activation token, activates the user, queues the confirmation and
    /// records `audit`. `false` (and nothing changes) when the token was consumed
    /// meanwhile or the user no longer awaits activation (activated, or deactivated by
    /// an administrator).
    fn activate(
        &self,
        token_id: i64,
        user_id: UserId,
        at: DateTime<Utc>,
        audit: AuditEvent,
    ) -> impl Future<Output = Result<bool, RepositoryError>> + Send;

    /// Sets the password and `password_changed_at`, revokes sessions as asked, deletes
    /// every API key of the user, retires every unused reset token of the user, queues the "password changed" email and
    /// records the change's audit event.
    /// `false` (nothing changes) when `consume_token` was consumed meanwhile or the
    /// password is no longer `replaces_hash`.
    fn set_password(
        &self,
        change: PasswordChange,
    ) -> impl Future<Output = Result<bool, RepositoryError>> + Send;
}
