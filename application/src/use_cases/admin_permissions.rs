//! Admin: permissions. Creating custom ones and deleting them is the right of whoever
//! holds the model permission; a new permission grants nothing until assigned.

use domain::AuditKind;
use domain::admin::{NewPermission, Page, Permission};
use domain::ports::{CreatePermissionError, PermissionRepository};

use crate::authorization::{AddPermission, DeletePermission, Grant, ViewPermission};
use crate::use_cases::admin_users::AdminError;
use crate::{Deps, Gatehouse, ValidationErrors};

const DUPLICATE_PERMISSION: &str = "The fields app_label, codename must make a unique set.";

impl<D: Deps> Gatehouse<D> {
    #[tracing::instrument(skip_all)]
    pub async fn list_permissions(
        &self,
        _grant: &Grant<ViewPermission>,
        offset: i64,
        limit: i64,
    ) -> Result<Page<Permission>, AdminError> {
        Ok(self.adapters.permissions.list(offset, limit).await?)
    }

    #[tracing::instrument(skip_all, fields(permission = id))]
    pub async fn get_permission(
        &self,
        _grant: &Grant<ViewPermission>,
        id: i64,
    ) -> Result<Permission, AdminError> {
        self.adapters
            .permissions
            .get(id)
            .await?
            .ok_or(AdminError::NotFound)
    }

    /// Creates a custom permission; it grants nothing until assigned.
    #[tracing::instrument(skip_all)]
    pub async fn create_permission(
        &self,
        grant: &Grant<AddPermission>,
        permission: NewPermission,
    ) -> Result<Permission, AdminError> {
        let audit = self
            .admin_event(grant, AuditKind::PermissionCreated)
            .detail(
                "permission",
                format!("{}.{}", permission.app_label, permission.codename),
            )
            .detail("name", permission.name.as_str());
        self.adapters
            .permissions
            .create(permission, audit)
            .await
            .map_err(|error| match error {
                CreatePermissionError::Duplicate => AdminError::Invalid(ValidationErrors::single(
                    ValidationErrors::NON_FIELD,
                    DUPLICATE_PERMISSION,
                )),
                CreatePermissionError::Repository(error) => error.into(),
            })
    }

    #[tracing::instrument(skip_all, fields(permission = id))]
    pub async fn delete_permission(
        &self,
        grant: &Grant<DeletePermission>,
        id: i64,
    ) -> Result<(), AdminError> {
        let audit = self
            .admin_event(grant, AuditKind::PermissionDeleted)
            .detail("id", id);
        if !self.adapters.permissions.delete(id, audit).await? {
            return Err(AdminError::NotFound);
        }
        Ok(())
    }
}
