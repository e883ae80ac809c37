//! Admin: groups, with Django's model permissions. A staff user who is not a superuser
//! cannot put into a group a permission he lacks (that would grant it to every member).

use domain::AuditKind;
use domain::admin::{Group, GroupChanges, Page};
use domain::ports::{CreateGroupError, GroupRepository, UpdateGroupError};

use crate::authorization::{AddGroup, ChangeGroup, DeleteGroup, Grant, ViewGroup};
use crate::use_cases::admin_users::{AdminError, missing};
use crate::{Deps, Gatehouse, ValidationErrors};

const DUPLICATE_GROUP: &str = "group with this name already exists.";

fn duplicate_name() -> AdminError {
    AdminError::Invalid(ValidationErrors::single("name", DUPLICATE_GROUP))
}

fn unknown_permissions(codes: &[String]) -> AdminError {
    AdminError::Invalid(missing("permissions", "codename", codes))
}

impl<D: Deps> Gatehouse<D> {
    #[tracing::instrument(skip_all)]
    pub async fn list_groups(
        &self,
        _grant: &Grant<ViewGroup>,
        offset: i64,
        limit: i64,
    ) -> Result<Page<Group>, AdminError> {
        Ok(self.adapters.groups.list(offset, limit).await?)
    }

    #[tracing::instrument(skip_all, fields(group = id))]
    pub async fn get_group(&self, _grant: &Grant<ViewGroup>, id: i64) -> Result<Group, AdminError> {
        self.adapters
            .groups
            .get(id)
            .await?
            .ok_or(AdminError::NotFound)
    }

    #[tracing::instrument(skip_all)]
    pub async fn create_group(
        &self,
        grant: &Grant<AddGroup>,
        name: String,
        permissions: Vec<String>,
    ) -> Result<Group, AdminError> {
        if !grant.authority().may_grant(&permissions) {
            return Err(AdminError::Forbidden);
        }
        let audit = self
            .admin_event(grant, AuditKind::GroupCreated)
            .detail("name", name.as_str())
            .detail("permissions", permissions.clone());
        self.adapters
            .groups
            .create(name, permissions, audit)
            .await
            .map_err(|error| match error {
                CreateGroupError::DuplicateName => duplicate_name(),
                CreateGroupError::UnknownPermissions(codes) => unknown_permissions(&codes),
                CreateGroupError::Repository(error) => error.into(),
            })
    }

    /// Renames a group and/or replaces its permissions; only the permissions it gains
    /// must be the caller's own, judged by the store against the group as the write
    /// finds it (two admins may edit it at once).
    #[tracing::instrument(skip_all, fields(group = id))]
    pub async fn update_group(
        &self,
        grant: &Grant<ChangeGroup>,
        id: i64,
        changes: GroupChanges,
    ) -> Result<Group, AdminError> {
        let current = self
            .adapters
            .groups
            .get(id)
            .await?
            .ok_or(AdminError::NotFound)?;
        let mut audit = self
            .admin_event(grant, AuditKind::GroupUpdated)
            .detail("id", id)
            .detail("name", changes.name.as_deref().unwrap_or(&current.name));
        if let Some(permissions) = &changes.permissions {
            audit = audit.detail("permissions", permissions.clone());
        }
        self.adapters
            .groups
            .update(id, changes, grant.authority(), audit)
            .await
            .map_err(|error| match error {
                UpdateGroupError::DuplicateName => duplicate_name(),
                UpdateGroupError::UnknownPermissions(codes) => unknown_permissions(&codes),
                UpdateGroupError::BeyondGrant => AdminError::Forbidden,
                UpdateGroupError::Repository(error) => error.into(),
            })?
            .ok_or(AdminError::NotFound)
    }

    #[tracing::instrument(skip_all, fields(group = id))]
    pub async fn delete_group(
        &self,
        grant: &Grant<DeleteGroup>,
        id: i64,
    ) -> Result<(), AdminError> {
        let audit = self
            .admin_event(grant, AuditKind::GroupDeleted)
            .detail("id", id);
        if !self.adapters.groups.delete(id, audit).await? {
            return Err(AdminError::NotFound);
        }
        Ok(())
    }
}
