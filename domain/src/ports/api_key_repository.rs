//! Port: DRF-style API keys (`Authorization: Token <key>`), stored as digests.

use std::future::Future;

use crate::{AuditEvent, RepositoryError, UserId, UserProfile};

/// Stores API keys by their digest.
///
/// # Errors
/// `RepositoryError::Unavailable` when the store cannot be reached in time,
/// `RepositoryError::Unexpected` otherwise.
pub trait ApiKeyRepository: Clone + Send + Sync + 'static {
    /// Stores a key for the user and records `audit`; `false` (nothing stored) when
    /// there is no such user. With `password_hash`, only while the user is active and
    /// that is still his hash (`false` otherwise), under the same lock as
    /// `SessionRepository::start`, so a key issued by a login racing a password change
    /// is never left behind.
    fn add(
        &self,
        user_id: UserId,
        digest: Vec<u8>,
        password_hash: Option<String>,
        audit: AuditEvent,
    ) -> impl Future<Output = Result<bool, RepositoryError>> + Send;

    /// The profile of the owner of the key with this digest.
    fn owner(
        &self,
        digest: &[u8],
    ) -> impl Future<Output = Result<Option<UserProfile>, RepositoryError>> + Send;

    /// Deletes the owner's key with digest `only`, or all his keys without it; returns
    /// how many, and records `audit` only if there was one.
    fn delete(
        &self,
        owner: UserId,
        only: Option<Vec<u8>>,
        audit: AuditEvent,
    ) -> impl Future<Output = Result<u64, RepositoryError>> + Send;
}
