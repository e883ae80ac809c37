//! Port: groups and the permissions they grant their members.

use std::future::Future;

use crate::admin::{Group, GroupChanges, Page};
use crate::authorization::Authority;
use crate::{AuditEvent, RepositoryError};

#[derive(Debug, thiserror::Error)]
pub enum CreateGroupError {
    #[error("a group with this name already exists")]
    DuplicateName,
    /// The `app_label.codename` strings that name no permission.
    #[error("unknown permissions")]
    UnknownPermissions(Vec<String>),
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

#[derive(Debug, thiserror::Error)]
pub enum UpdateGroupError {
    #[error("a group with this name already exists")]
    DuplicateName,
    /// The `app_label.codename` strings that name no permission.
    #[error("unknown permissions")]
    UnknownPermissions(Vec<String>),
    /// The group would gain a permission outside what the caller may grant.
    #[error("the change grants a permission the caller lacks")]
    BeyondGrant,
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

/// Stores groups.
///
/// # Errors
/// `RepositoryError::Unavailable` when the store cannot be reached in time,
/// `RepositoryError::Unexpected` otherwise; writes add their own outcomes. Every write
/// records its `audit` event in its transaction, and only when it succeeds: a creation
/// adds the new group's `id` to the details, a deletion the deleted group's `name`.
pub trait GroupRepository: Clone + Send + Sync + 'static {
    /// Groups by name (then id), with their permissions: one query for the rows, one
    /// for the count.
    fn list(
        &self,
        offset: i64,
        limit: i64,
    ) -> impl Future<Output = Result<Page<Group>, RepositoryError>> + Send;

    fn get(&self, id: i64) -> impl Future<Output = Result<Option<Group>, RepositoryError>> + Send;

    fn create(
        &self,
        name: String,
        permissions: Vec<String>,
        audit: AuditEvent,
    ) -> impl Future<Output = Result<Group, CreateGroupError>> + Send;

    /// Renames and/or replaces the permissions; `None` when there is no such group.
    /// `BeyondGrant` (nothing changes) if the group would gain a permission that
    /// `authority` may not grant, judged against the group as it is when the write locks it
    /// — not as the caller last read it, so a permission another admin removed
    /// meanwhile counts as gained.
    fn update(
        &self,
        id: i64,
        changes: GroupChanges,
        authority: &Authority,
        audit: AuditEvent,
    ) -> impl Future<Output = Result<Option<Group>, UpdateGroupError>> + Send;

    /// `false` when there was no such group. Members lose its permissions.
    fn delete(
        &self,
        id: i64,
        audit: AuditEvent,
    ) -> impl Future<Output = Result<bool, RepositoryError>> + Send;
}
