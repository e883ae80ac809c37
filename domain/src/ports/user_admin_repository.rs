//! Port: the admin's reads and writes of users, with their groups and direct grants.

use std::future::Future;

use chrono::{DateTime, Utc};

use crate::admin::{AdminUser, Page, UserDraft, UserListQuery, UserPatch};
use crate::authorization::Authority;
use crate::{AuditEvent, RepositoryError, UserId};

/// Why an admin's write of a user was refused; nothing changed. A user clashing with
/// others on both his username and his email is a `DuplicateUsername`.
#[derive(Debug, thiserror::Error)]
pub enum SaveUserError {
    /// Compared case-insensitively.
    #[error("a user with this email already exists")]
    DuplicateEmail,
    #[error("a user with this username already exists")]
    DuplicateUsername,
    /// The group names that name no group.
    #[error("unknown groups")]
    UnknownGroups(Vec<String>),
    /// The `app_label.codename` strings that name no permission.
    #[error("unknown permissions")]
    UnknownPermissions(Vec<String>),
    /// Beyond the admin's `Authority`: the groups would hand out permissions he does
    /// not hold, or the patch reaches an account stronger than he is.
    #[error("beyond the admin's authority")]
    Forbidden,
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

/// Reads and writes users for the admin API.
///
/// # Errors
/// `RepositoryError::Unavailable` when the store cannot be reached in time,
/// `RepositoryError::Unexpected` otherwise; writes add the outcomes of
/// `SaveUserError`. Every write records its `audit` event in its transaction, and only
/// when it succeeds; a creation adds the new user's id as the event's subject.
pub trait UserAdminRepository: Clone + Send + Sync + 'static {
    /// One page of users with their groups and permissions, and the total count:
    /// two queries, whatever the page size. Text orders follow the database's
    /// collation; ties break on id.
    fn list(
        &self,
        query: &UserListQuery,
    ) -> impl Future<Output = Result<Page<AdminUser>, RepositoryError>> + Send;

    fn get(
        &self,
        id: UserId,
    ) -> impl Future<Output = Result<Option<AdminUser>, RepositoryError>> + Send;

    /// Creates the user with his groups and direct grants, in one transaction;
    /// `Forbidden` if the groups, as resolved in it, grant more than `authority` may.
    fn create(
        &self,
        draft: UserDraft,
        authority: &Authority,
        audit: AuditEvent,
    ) -> impl Future<Output = Result<AdminUser, SaveUserError>> + Send;

    /// Applies the patch in one transaction; `None` when there is no such user.
    /// `Forbidden` (nothing changes) if the patch `reaches_account` of a user that
    /// `authority` may not manage, or its groups, as resolved in the transaction, grant
    /// more than `authority` may; the user's row stays locked from that check to the
    /// commit. Deactivating a user ends his sessions, API keys and pending activation;
    /// activating him ends the pending activation too; a changed email retires his pending
    /// reset and activation links, which were sent to the old address.
    fn update(
        &self,
        id: UserId,
        patch: UserPatch,
        authority: &Authority,
        at: DateTime<Utc>,
        audit: AuditEvent,
    ) -> impl Future<Output = Result<Option<AdminUser>, SaveUserError>> + Send;
}
