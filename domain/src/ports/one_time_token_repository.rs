//! Port: the one-time tokens of emailed links (SPEC §7), stored as digests.

use std::future::Future;

use crate::{MailedToken, OneTimeTokenRecord, RepositoryError, UserId};

/// Stores one-time tokens and queues the emails that carry them.
///
/// # Errors
/// `RepositoryError::Unavailable` when the store cannot be reached in time,
/// `RepositoryError::Unexpected` otherwise.
pub trait OneTimeTokenRepository: Clone + Send + Sync + 'static {
    /// Stores the token, retires the user's earlier unused tokens of the same purpose,
    /// and queues its email to him, in one transaction — unless a token of that purpose
    /// was issued to him less than `cooldown` ago: then nothing happens and the answer
    /// is `false` (a per-recipient limit: no mailbox flooding, and the link already
    /// sent keeps working). `false` too when there is no such user. A digest already
    /// stored is `Unexpected` (tokens are random: a clash is a bug), and nothing changes.
    fn issue(
        &self,
        user_id: UserId,
        link: MailedToken,
        cooldown: chrono::Duration,
    ) -> impl Future<Output = Result<bool, RepositoryError>> + Send;

    /// The token stored under this digest, used or not, expired or not.
    fn find(
        &self,
        digest: &[u8],
    ) -> impl Future<Output = Result<Option<OneTimeTokenRecord>, RepositoryError>> + Send;
}
