//! Port: storing accounts and reading them with their groups and permissions.

use std::future::Future;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{
    AuditEvent, MailedToken, NewUser, ProfileChanges, RepositoryError, User, UserId, UserProfile,
};

#[derive(Debug, thiserror::Error)]
pub enum CreateUserError {
    #[error("a user with this email already exists")]
    DuplicateEmail,
    #[error("a user with this username already exists")]
    DuplicateUsername,
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

#[derive(Debug, thiserror::Error)]
pub enum UpdateUserError {
    #[error("no such user")]
    NotFound,
    #[error("a user with this username already exists")]
    DuplicateUsername,
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

/// A login's upgrade of the stored hash.
#[derive(Clone, PartialEq, Eq)]
pub struct Rehash {
    /// The hash the password was verified against.
    pub verified: String,
    /// The hash at the current setting.
    pub new: String,
}

impl std::fmt::Debug for Rehash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Rehash(***)")
    }
}

/// What an access token's bearer is, read in one round trip: all a route needs to
/// know of him (the profile: groups and effective permissions too).
#[derive(Debug, Clone, PartialEq)]
pub struct AuthState {
    pub profile: UserProfile,
    /// Whether the token's session still has a live refresh token.
    pub session_live: bool,
}

/// A user `gatehouse import-django` carried over from Django.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportedUser {
    pub user: User,
    /// When the last import that carried him over started: the access tokens SimpleJWT
    /// signed for him before then are his; none signed later can be.
    pub imported_at: DateTime<Utc>,
}

/// Stores users.
///
/// # Errors
/// Every method returns `RepositoryError::Unavailable` when the store cannot be
/// reached in time and `RepositoryError::Unexpected` otherwise; the per-method
/// error enums add the outcomes a caller must handle.
pub trait UserRepository: Clone + Send + Sync + 'static {
    /// Creates a user; `DuplicateEmail` compares emails case-insensitively, and a user
    /// clashing on both is refused as `DuplicateUsername`. With an activation link,
    /// stores its token (the user then awaits activation) and queues its email to him
    /// in the same transaction; a token digest already stored is `Unexpected` and
    /// nothing is written. Records `audit` with the new user as its subject.
    fn create(
        &self,
        user: NewUser,
        activation: Option<MailedToken>,
        audit: AuditEvent,
    ) -> impl Future<Output = Result<UserProfile, CreateUserError>> + Send;

    fn find_by_id(
        &self,
        id: UserId,
    ) -> impl Future<Output = Result<Option<User>, RepositoryError>> + Send;

    /// Exact, case-sensitive match, as Django's `username` lookup.
    fn find_by_username(
        &self,
        username: &str,
    ) -> impl Future<Output = Result<Option<User>, RepositoryError>> + Send;

    /// Case-insensitive match.
    fn find_by_email(
        &self,
        email: &str,
    ) -> impl Future<Output = Result<Option<User>, RepositoryError>> + Send;

    /// The user with his group names and effective permissions.
    fn profile(
        &self,
        id: UserId,
    ) -> impl Future<Output = Result<Option<UserProfile>, RepositoryError>> + Send;

    /// The user's profile and whether session `sid` is one of his and still live.
    fn auth_state(
        &self,
        id: UserId,
        sid: Uuid,
    ) -> impl Future<Output = Result<Option<AuthState>, RepositoryError>> + Send;

    /// The user, if an import carried him over from Django.
    fn imported_from_django(
        &self,
        id: UserId,
    ) -> impl Future<Output = Result<Option<ImportedUser>, RepositoryError>> + Send;

    /// Applies the changes and records `audit`; an empty change writes nothing (and
    /// records nothing). `NotFound` when there is no such user, empty change or not.
    fn update_profile(
        &self,
        id: UserId,
        changes: ProfileChanges,
        audit: AuditEvent,
    ) -> impl Future<Output = Result<UserProfile, UpdateUserError>> + Send;

    /// Records a successful login. With a rehash, replaces the stored hash only if it
    /// is still the one the password was verified against: a password changed
    /// meanwhile is never overwritten with the old password's new hash.
    fn record_login(
        &self,
        id: UserId,
        at: DateTime<Utc>,
        rehash: Option<Rehash>,
    ) -> impl Future<Output = Result<(), RepositoryError>> + Send;

    /// Deletes the user and, with him, his sessions, and records `audit` with his
    /// username. `false` (nothing recorded) when he did not exist.
    fn delete(
        &self,
        id: UserId,
        audit: AuditEvent,
    ) -> impl Future<Output = Result<bool, RepositoryError>> + Send;
}
