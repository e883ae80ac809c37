//! Port: permissions, Django's seeded ones and custom ones.

use std::future::Future;

use crate::admin::{NewPermission, Page, Permission};
use crate::{AuditEvent, RepositoryError};

#[derive(Debug, thiserror::Error)]
pub enum CreatePermissionError {
    /// (`app_label`, `codename`) exists.
    #[error("this permission already exists")]
    Duplicate,
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

/// Stores permissions.
///
/// # Errors
/// `RepositoryError::Unavailable` when the store cannot be reached in time,
/// `RepositoryError::Unexpected` otherwise; a creation adds `Duplicate`. Every write
/// records its `audit` event in its transaction, and only when it succeeds: a creation
/// adds the new permission's `id` to the details, a deletion the deleted permission's
/// `app_label.codename`.
pub trait PermissionRepository: Clone + Send + Sync + 'static {
    /// Permissions by `app_label`, `codename`.
    fn list(
        &self,
        offset: i64,
        limit: i64,
    ) -> impl Future<Output = Result<Page<Permission>, RepositoryError>> + Send;

    fn get(
        &self,
        id: i64,
    ) -> impl Future<Output = Result<Option<Permission>, RepositoryError>> + Send;

    fn create(
        &self,
        permission: NewPermission,
        audit: AuditEvent,
    ) -> impl Future<Output = Result<Permission, CreatePermissionError>> + Send;

    /// `false` when there was no such permission. Its grants go with it.
    fn delete(
        &self,
        id: i64,
        audit: AuditEvent,
    ) -> impl Future<Output = Result<bool, RepositoryError>> + Send;
}
