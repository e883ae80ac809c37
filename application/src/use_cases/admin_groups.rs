//! Admin: groups and permissions, with Django's model permissions. A staff user who is
//! not a superuser cannot put into a group a permission he lacks (that would grant it
//! to every member); removing permissions and creating custom ones is his right when he
//! holds the model permission.

use domain::admin::{Group, NewPermission, Page, Permission};
use domain::ports::{AdminRepository, AdminWriteError};

use crate::use_cases::admin_users::{AdminError, missing};
use crate::{Deps, Gatehouse, ValidationErrors};

const DUPLICATE_GROUP: &str = "group with this name already exists.";
const DUPLICATE_PERMISSION: &str = "The fields app_label, codename must make a unique set.";

fn write_error(error: AdminWriteError) -> AdminError {
    match error {
        AdminWriteError::NotFound => AdminError::NotFound,
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
        caller: &domain::User,
        offset: i64,
        limit: i64,
    ) -> Result<Page<Group>, AdminError> {
        self.authorize(caller, "auth.view_group").await?;
        Ok(self.admin.list_groups(offset, limit).await?)
    }

    pub async fn get_group(&self, caller: &domain::User, id: i64) -> Result<Group, AdminError> {
        self.authorize(caller, "auth.view_group").await?;
        self.admin.get_group(id).await?.ok_or(AdminError::NotFound)
    }

    pub async fn create_group(
        &self,
        caller: &domain::User,
        name: String,
        permissions: Vec<String>,
    ) -> Result<Group, AdminError> {
        let grant = self.authorize(caller, "auth.add_group").await?;
        if !grant.holds_all(&permissions) {
            return Err(AdminError::Forbidden);
        }
        self.admin
            .create_group(name, permissions)
            .await
            .map_err(write_error)
    }

    /// Renames a group and/or replaces its permissions; only the permissions it gains
    /// must be the caller's own.
    pub async fn update_group(
        &self,
        caller: &domain::User,
        id: i64,
        name: Option<String>,
        permissions: Option<Vec<String>>,
    ) -> Result<Group, AdminError> {
        let grant = self.authorize(caller, "auth.change_group").await?;
        let current = self
            .admin
            .get_group(id)
            .await?
            .ok_or(AdminError::NotFound)?;
        if let Some(wanted) = &permissions {
            let gained: Vec<&String> = wanted
                .iter()
                .filter(|p| !current.permissions.contains(p))
                .collect();
            if !grant.holds_all(gained) {
                return Err(AdminError::Forbidden);
            }
        }
        self.admin
            .update_group(id, name, permissions)
            .await
            .map_err(write_error)
    }

    pub async fn delete_group(&self, caller: &domain::User, id: i64) -> Result<(), AdminError> {
        self.authorize(caller, "auth.delete_group").await?;
        if !self.admin.delete_group(id).await? {
            return Err(AdminError::NotFound);
        }
        Ok(())
    }

    pub async fn list_permissions(
        &self,
        caller: &domain::User,
        offset: i64,
        limit: i64,
    ) -> Result<Page<Permission>, AdminError> {
        self.authorize(caller, "auth.view_permission").await?;
        Ok(self.admin.list_permissions(offset, limit).await?)
    }

    pub async fn get_permission(
        &self,
        caller: &domain::User,
        id: i64,
    ) -> Result<Permission, AdminError> {
        self.authorize(caller, "auth.view_permission").await?;
        self.admin
            .get_permission(id)
            .await?
            .ok_or(AdminError::NotFound)
    }

    /// Creates a custom permission; it grants nothing until assigned.
    pub async fn create_permission(
        &self,
        caller: &domain::User,
        permission: NewPermission,
    ) -> Result<Permission, AdminError> {
        self.authorize(caller, "auth.add_permission").await?;
        self.admin
            .create_permission(permission)
            .await
            .map_err(write_error)
    }

    pub async fn delete_permission(
        &self,
        caller: &domain::User,
        id: i64,
    ) -> Result<(), AdminError> {
        self.authorize(caller, "auth.delete_permission").await?;
        if !self.admin.delete_permission(id).await? {
            return Err(AdminError::NotFound);
        }
        Ok(())
    }
}
