//! Port: the admin's reads and writes of users.

use std::future::Future;

use chrono::{DateTime, Utc};

use crate::admin::{
    AdminUser, Group, NewPermission, Page, Permission, UserDraft, UserListQuery, UserPatch,
};
use crate::{AuditEvent, RepositoryError, UserId};

#[derive(Debug, thiserror::Error)]
pub enum AdminWriteError {
    #[error("no such user")]
    NotFound,
    #[error("a user with this email already exists")]
    DuplicateEmail,
    #[error("a user with this username already exists")]
    DuplicateUsername,
    #[error("unknown groups")]
    UnknownGroups(Vec<String>),
    #[error("unknown permissions")]
    UnknownPermissions(Vec<String>),
    #[error("a group with this name already exists")]
    DuplicateGroupName,
    #[error("this permission already exists")]
    DuplicatePermission,
    /// The write would grant a permission outside what the caller may grant.
    #[error("the change grants a permission the caller lacks")]
    BeyondGrant,
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

/// Reads and writes users for the admin API.
///
/// # Errors
/// `RepositoryError::Unavailable` when the store cannot be reached in time,
/// `RepositoryError::Unexpected` otherwise; writes add the outcomes of
/// `AdminWriteError`. Every write records its `audit` event in its transaction, and
/// only when it succeeds; a creation adds the new object's id (the subject, for a
/// user; `id` in the details otherwise), a deletion the deleted object's name.
pub trait AdminRepository: Clone + Send + Sync + 'static {
    /// One page of users with their groups and permissions, and the total count:
    /// two queries, whatever the page size.
    fn list_users(
        &self,
        query: &UserListQuery,
    ) -> impl Future<Output = Result<Page<AdminUser>, RepositoryError>> + Send;

    fn get_user(
        &self,
        id: UserId,
    ) -> impl Future<Output = Result<Option<AdminUser>, RepositoryError>> + Send;

    /// The union of the permissions of these groups (unknown names are ignored).
    fn permissions_of_groups(
        &self,
        groups: &[String],
    ) -> impl Future<Output = Result<Vec<String>, RepositoryError>> + Send;

    fn create_user(
        &self,
        draft: UserDraft,
        audit: AuditEvent,
    ) -> impl Future<Output = Result<AdminUser, AdminWriteError>> + Send;

    /// Applies the patch in one transaction. Deactivating a user ends his sessions, API
    /// keys and pending activation; activating him ends the pending activation too.
    fn update_user(
        &self,
        id: UserId,
        patch: UserPatch,
        at: DateTime<Utc>,
        audit: AuditEvent,
    ) -> impl Future<Output = Result<AdminUser, AdminWriteError>> + Send;

    /// Groups by name, with their permissions: one query for the rows, one for the count.
    fn list_groups(
        &self,
        offset: i64,
        limit: i64,
    ) -> impl Future<Output = Result<Page<Group>, RepositoryError>> + Send;

    fn get_group(
        &self,
        id: i64,
    ) -> impl Future<Output = Result<Option<Group>, RepositoryError>> + Send;

    /// `UnknownPermissions` for codes that name nothing; `DuplicateGroupName`.
    fn create_group(
        &self,
        name: String,
        permissions: Vec<String>,
        audit: AuditEvent,
    ) -> impl Future<Output = Result<Group, AdminWriteError>> + Send;

    /// Renames and/or replaces the permissions; `None` leaves a part as it is. With
    /// `grantable`, `BeyondGrant` (nothing changes) if the group would gain a permission
    /// outside it, judged against the group as it is when the write locks it — not as
    /// the caller last read it, so a permission another admin removed meanwhile counts
    /// as gained.
    fn update_group(
        &self,
        id: i64,
        name: Option<String>,
        permissions: Option<Vec<String>>,
        grantable: Option<Vec<String>>,
        audit: AuditEvent,
    ) -> impl Future<Output = Result<Group, AdminWriteError>> + Send;

    /// `false` when there was no such group. Members lose its permissions.
    fn delete_group(
        &self,
        id: i64,
        audit: AuditEvent,
    ) -> impl Future<Output = Result<bool, RepositoryError>> + Send;

    /// Permissions by `app_label`, `codename`.
    fn list_permissions(
        &self,
        offset: i64,
        limit: i64,
    ) -> impl Future<Output = Result<Page<Permission>, RepositoryError>> + Send;

    fn get_permission(
        &self,
        id: i64,
    ) -> impl Future<Output = Result<Option<Permission>, RepositoryError>> + Send;

    /// `DuplicatePermission` when (`app_label`, `codename`) exists.
    fn create_permission(
        &self,
        permission: NewPermission,
        audit: AuditEvent,
    ) -> impl Future<Output = Result<Permission, AdminWriteError>> + Send;

    /// `false` when there was no such permission. Its grants go with it.
    fn delete_permission(
        &self,
        id: i64,
        audit: AuditEvent,
    ) -> impl Future<Output = Result<bool, RepositoryError>> + Send;
}
