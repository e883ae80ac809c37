//! Admin: groups and permissions, with Django's model permissions. A staff user who is
//! not a superuser cannot put into a group a permission he lacks (that would grant it
//! to every member); removing permissions and creating custom ones is his right when he
//! holds the model permission.

use domain::AuditKind;
use domain::admin::{Group, NewPermission, Page, Permission};
use domain::ports::{AdminRepository, AdminWriteError};

use crate::use_cases::admin_users::{AdminError, missing};
use crate::{Caller, Deps, Gatehouse, ValidationErrors};

const DUPLICATE_GROUP: &str = "group with this name already exists.";
const DUPLICATE_PERMISSION: &str = "The fields app_label, codename must make a unique set.";

fn write_error(error: AdminWriteError) -> AdminError {
    match error {
        AdminWriteError::NotFound => AdminError::NotFound,
        AdminWriteError::BeyondGrant => AdminError::Forbidden,
        AdminWriteError::DuplicateGroupName => {
            AdminError::Invalid(ValidationErrors::single("name", DUPLICATE_GROUP))
        }
        AdminWriteError::DuplicatePermission => AdminError::Invalid(ValidationErrors::single(
            ValidationErrors::NON_FIELD,
            DUPLICATE_PERMISSION,
        )),
        AdminWriteError::UnknownPermissions(codes) => {
            AdminError::Invalid(missing("permissions", "codename", &codes))
        }
        AdminWriteError::UnknownGroups(names) => {
            AdminError::Invalid(missing("groups", "name", &names))
        }
        AdminWriteError::DuplicateEmail | AdminWriteError::DuplicateUsername => AdminError::Fault(
            anyhow::anyhow!("a user clash from a group or permission write").into(),
        ),
        AdminWriteError::Repository(error) => error.into(),
    }
}

impl<D: Deps> Gatehouse<D> {
    pub async fn list_groups(
        &self,
        caller: impl Into<Caller<'_>>,
        offset: i64,
        limit: i64,
    ) -> Result<Page<Group>, AdminError> {
        self.authorize(caller.into(), "auth.view_group").await?;
        Ok(self.admin.list_groups(offset, limit).await?)
    }

    pub async fn get_group(
        &self,
        caller: impl Into<Caller<'_>>,
        id: i64,
    ) -> Result<Group, AdminError> {
        self.authorize(caller.into(), "auth.view_group").await?;
        self.admin.get_group(id).await?.ok_or(AdminError::NotFound)
    }

    pub async fn create_group(
        &self,
        caller: impl Into<Caller<'_>>,
        name: String,
        permissions: Vec<String>,
    ) -> Result<Group, AdminError> {
        let grant = self.authorize(caller.into(), "auth.add_group").await?;
        if !grant.holds_all(&permissions) {
            return Err(AdminError::Forbidden);
        }
        let audit = self
            .admin_event(&grant, AuditKind::GroupCreated)
            .detail("name", name.as_str())
            .detail("permissions", permissions.clone());
        self.admin
            .create_group(name, permissions, audit)
            .await
            .map_err(write_error)
    }

    /// Renames a group and/or replaces its permissions; only the permissions it gains
    /// must be the caller's own, judged by the store against the group as the write
    /// finds it (two admins may edit it at once).
    pub async fn update_group(
        &self,
        caller: impl Into<Caller<'_>>,
        id: i64,
        name: Option<String>,
        permissions: Option<Vec<String>>,
    ) -> Result<Group, AdminError> {
        let grant = self.authorize(caller.into(), "auth.change_group").await?;
        let current = self
            .admin
            .get_group(id)
            .await?
            .ok_or(AdminError::NotFound)?;
        let mut audit = self
            .admin_event(&grant, AuditKind::GroupUpdated)
            .detail("id", id)
            .detail("name", name.as_deref().unwrap_or(&current.name));
        if let Some(permissions) = &permissions {
            audit = audit.detail("permissions", permissions.clone());
        }
        self.admin
            .update_group(id, name, permissions, grant.grantable(), audit)
            .await
            .map_err(write_error)
    }

    pub async fn delete_group(
        &self,
        caller: impl Into<Caller<'_>>,
        id: i64,
    ) -> Result<(), AdminError> {
        let grant = self.authorize(caller.into(), "auth.delete_group").await?;
        let audit = self
            .admin_event(&grant, AuditKind::GroupDeleted)
            .detail("id", id);
        if !self.admin.delete_group(id, audit).await? {
            return Err(AdminError::NotFound);
        }
        Ok(())
    }

    pub async fn list_permissions(
        &self,
        caller: impl Into<Caller<'_>>,
        offset: i64,
        limit: i64,
    ) -> Result<Page<Permission>, AdminError> {
        self.authorize(caller.into(), "auth.view_permission")
            .await?;
        Ok(self.admin.list_permissions(offset, limit).await?)
    }

    pub async fn get_permission(
        &self,
        caller: impl Into<Caller<'_>>,
        id: i64,
    ) -> Result<Permission, AdminError> {
        self.authorize(caller.into(), "auth.view_permission")
            .await?;
        self.admin
            .get_permission(id)
            .await?
            .ok_or(AdminError::NotFound)
    }

    /// Creates a custom permission; it grants nothing until assigned.
    pub async fn create_permission(
        &self,
        caller: impl Into<Caller<'_>>,
        permission: NewPermission,
    ) -> Result<Permission, AdminError> {
        let grant = self.authorize(caller.into(), "auth.add_permission").await?;
        let audit = self
            .admin_event(&grant, AuditKind::PermissionCreated)
            .detail(
                "permission",
                format!("{}.{}", permission.app_label, permission.codename),
            )
            .detail("name", permission.name.as_str());
        self.admin
            .create_permission(permission, audit)
            .await
            .map_err(write_error)
    }

    pub async fn delete_permission(
        &self,
        caller: impl Into<Caller<'_>>,
        id: i64,
    ) -> Result<(), AdminError> {
        let grant = self
            .authorize(caller.into(), "auth.delete_permission")
            .await?;
        let audit = self
            .admin_event(&grant, AuditKind::PermissionDeleted)
            .detail("id", id);
        if !self.admin.delete_permission(id, audit).await? {
            return Err(AdminError::NotFound);
        }
        Ok(())
    }
}
