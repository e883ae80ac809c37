//! Admin: users. Like Django's `IsAdminUser` + `DjangoModelPermissions`: the caller
//! must be active staff holding the model permission of the action (a superuser holds
//! all). A staff user who is not a superuser cannot touch a superuser, grant
//! `is_superuser`, or grant a permission he lacks (directly or through a group); and
//! nobody deletes or deactivates himself here.

use std::collections::HashSet;

use domain::admin::{AdminUser, Page, UserDraft, UserListQuery, UserPatch};
use domain::password::UserAttributes;
use domain::ports::{
    AccountRepository, AdminRepository, AdminWriteError, Clock, PasswordChange, PasswordHasher,
    SessionRepository, SessionRevocation, UserRepository,
};
use domain::{AuditEvent, AuditKind, EmailAddress, Password, UserId, Username};

use crate::fault::faults_into;
use crate::use_cases::register::{DUPLICATE_EMAIL, DUPLICATE_USERNAME, check_name};
use crate::{Caller, ClientInfo, Deps, Fault, Gatehouse, ValidationErrors};

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("You do not have permission to perform this action.")]
    Forbidden,
    #[error("Not found.")]
    NotFound,
    #[error("invalid input")]
    Invalid(ValidationErrors),
    #[error(transparent)]
    Fault(Fault),
}
faults_into!(AdminError);

/// What the caller may do, once he passed the model-permission check.
pub(crate) struct Grant {
    caller: UserId,
    client: ClientInfo,
    superuser: bool,
    permissions: HashSet<String>,
}

impl Grant {
    /// What the caller may grant: `None` for a superuser (anything).
    pub(crate) fn grantable(&self) -> Option<Vec<String>> {
        (!self.superuser).then(|| self.permissions.iter().cloned().collect())
    }

    pub(crate) fn holds_all<'a>(&self, wanted: impl IntoIterator<Item = &'a String>) -> bool {
        self.superuser || wanted.into_iter().all(|p| self.permissions.contains(p))
    }
}

/// A user an admin creates, as sent.
#[derive(Debug, Clone, Default)]
pub struct CreateUserCommand {
    pub username: String,
    pub email: String,
    pub password: Option<Password>,
    pub first_name: String,
    pub last_name: String,
    pub is_active: bool,
    pub is_staff: bool,
    pub is_superuser: bool,
    pub groups: Vec<String>,
    pub user_permissions: Vec<String>,
}

/// An admin's edits, as sent; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct UpdateUserCommand {
    pub username: Option<String>,
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub is_active: Option<bool>,
    pub is_staff: Option<bool>,
    pub is_superuser: Option<bool>,
    pub groups: Option<Vec<String>>,
    pub user_permissions: Option<Vec<String>>,
}

fn write_error(error: AdminWriteError) -> AdminError {
    match error {
        AdminWriteError::NotFound => AdminError::NotFound,
        AdminWriteError::DuplicateEmail => {
            AdminError::Invalid(ValidationErrors::single("email", DUPLICATE_EMAIL))
        }
        AdminWriteError::DuplicateUsername => {
            AdminError::Invalid(ValidationErrors::single("username", DUPLICATE_USERNAME))
        }
        AdminWriteError::UnknownGroups(names) => {
            AdminError::Invalid(missing("groups", "name", &names))
        }
        AdminWriteError::UnknownPermissions(codes) => {
            AdminError::Invalid(missing("user_permissions", "codename", &codes))
        }
        AdminWriteError::BeyondGrant => AdminError::Forbidden,
        AdminWriteError::DuplicateGroupName | AdminWriteError::DuplicatePermission => {
            AdminError::Fault(
                anyhow::anyhow!("a group or permission clash from a user write").into(),
            )
        }
        AdminWriteError::Repository(error) => error.into(),
    }
}

/// What an update changes: the fields it names, with the new values of those that
/// decide access (never a name's old or new spelling beyond the username).
fn update_details(mut event: AuditEvent, command: &UpdateUserCommand) -> AuditEvent {
    let mut fields = Vec::new();
    if let Some(username) = &command.username {
        fields.push("username");
        event = event.detail("username", username.as_str());
    }
    for (field, changed) in [
        ("email", command.email.is_some()),
        ("first_name", command.first_name.is_some()),
        ("last_name", command.last_name.is_some()),
    ] {
        if changed {
            fields.push(field);
        }
    }
    for (field, value) in [
        ("is_active", command.is_active),
        ("is_staff", command.is_staff),
        ("is_superuser", command.is_superuser),
    ] {
        if let Some(value) = value {
            fields.push(field);
            event = event.detail(field, value);
        }
    }
    for (field, value) in [
        ("groups", &command.groups),
        ("user_permissions", &command.user_permissions),
    ] {
        if let Some(value) = value {
            fields.push(field);
            event = event.detail(field, value.clone());
        }
    }
    event.detail("fields", fields)
}

/// DRF's `SlugRelatedField` message for each value that names nothing.
pub(crate) fn missing(field: &str, slug: &str, values: &[String]) -> ValidationErrors {
    let mut errors = ValidationErrors::new();
    for value in values {
        errors.add(field, format!("Object with {slug}={value} does not exist."));
    }
    errors
}

impl<D: Deps> Gatehouse<D> {
    /// The caller's grant for an action needing `permission`, read afresh.
    pub(crate) async fn authorize(
        &self,
        caller: Caller<'_>,
        permission: &str,
    ) -> Result<Grant, AdminError> {
        let profile = self
            .users
            .profile(caller.user.id)
            .await?
            .ok_or(AdminError::Forbidden)?;
        let user = &profile.user;
        if !user.is_active || !user.is_staff {
            return Err(AdminError::Forbidden);
        }
        let grant = Grant {
            caller: user.id,
            client: caller.client.clone(),
            superuser: user.is_superuser,
            permissions: profile.permissions.into_iter().collect(),
        };
        if !grant.holds_all([&permission.to_owned()]) {
            return Err(AdminError::Forbidden);
        }
        Ok(grant)
    }

    /// An audit event of an admin's action, now.
    pub(crate) fn admin_event(&self, grant: &Grant, kind: AuditKind) -> AuditEvent {
        self.event(kind, &grant.client).actor(grant.caller)
    }

    /// Refuses grants past the caller's own rights.
    async fn check_grants(
        &self,
        grant: &Grant,
        is_superuser: Option<bool>,
        groups: Option<&Vec<String>>,
        user_permissions: Option<&Vec<String>>,
    ) -> Result<(), AdminError> {
        if grant.superuser {
            return Ok(());
        }
        if is_superuser == Some(true) {
            return Err(AdminError::Forbidden);
        }
        if let Some(codes) = user_permissions
            && !grant.holds_all(codes)
        {
            return Err(AdminError::Forbidden);
        }
        if let Some(names) = groups {
            let through_groups = self.admin.permissions_of_groups(names).await?;
            if !grant.holds_all(&through_groups) {
                return Err(AdminError::Forbidden);
            }
        }
        Ok(())
    }

    /// The target of a write, which a non-superuser may not touch if it is a superuser.
    async fn writable_target(&self, grant: &Grant, id: UserId) -> Result<AdminUser, AdminError> {
        let target = self.admin.get_user(id).await?.ok_or(AdminError::NotFound)?;
        if target.profile.user.is_superuser && !grant.superuser {
            return Err(AdminError::Forbidden);
        }
        Ok(target)
    }

    /// Whether the caller may take an action needing `permission` (`auth.add_user`…),
    /// checked before a request body is even read, as DRF checks permissions first.
    pub async fn check_permission(
        &self,
        caller: impl Into<Caller<'_>>,
        permission: &str,
    ) -> Result<(), AdminError> {
        self.authorize(caller.into(), permission).await.map(|_| ())
    }

    pub async fn list_users(
        &self,
        caller: impl Into<Caller<'_>>,
        query: UserListQuery,
    ) -> Result<Page<AdminUser>, AdminError> {
        self.authorize(caller.into(), "auth.view_user").await?;
        Ok(self.admin.list_users(&query).await?)
    }

    pub async fn get_user(
        &self,
        caller: impl Into<Caller<'_>>,
        id: UserId,
    ) -> Result<AdminUser, AdminError> {
        self.authorize(caller.into(), "auth.view_user").await?;
        self.admin.get_user(id).await?.ok_or(AdminError::NotFound)
    }

    pub async fn create_user(
        &self,
        caller: impl Into<Caller<'_>>,
        command: CreateUserCommand,
    ) -> Result<AdminUser, AdminError> {
        let grant = self.authorize(caller.into(), "auth.add_user").await?;
        self.check_grants(
            &grant,
            Some(command.is_superuser),
            Some(&command.groups),
            Some(&command.user_permissions),
        )
        .await?;
        let mut errors = ValidationErrors::new();
        let username = Username::parse(&command.username)
            .map_err(|e| errors.add("username", e.to_string()))
            .ok();
        let email = EmailAddress::parse(&command.email)
            .map_err(|e| errors.add_all("email", e.messages().iter().copied()))
            .ok();
        check_name(&mut errors, "first_name", &command.first_name);
        check_name(&mut errors, "last_name", &command.last_name);
        if let (Some(username), Some(email), Some(password)) =
            (&username, &email, &command.password)
        {
            let attributes = UserAttributes {
                username: username.as_str(),
                first_name: &command.first_name,
                last_name: &command.last_name,
                email: email.as_str(),
            };
            self.password_rules(&mut errors, "password", password, &attributes);
        }
        // Both clashes at once, as Django's unique validators report them.
        if let Some(email) = &email
            && self.users.find_by_email(email.as_str()).await?.is_some()
        {
            errors.add("email", DUPLICATE_EMAIL);
        }
        if let Some(username) = &username
            && self
                .users
                .find_by_username(username.as_str())
                .await?
                .is_some()
        {
            errors.add("username", DUPLICATE_USERNAME);
        }
        errors.clone().into_result().map_err(AdminError::Invalid)?;
        let (Some(username), Some(email)) = (username, email) else {
            return Err(AdminError::Invalid(errors));
        };
        let password_hash = match &command.password {
            Some(password) => Some(self.hasher.hash(password).await?),
            None => None,
        };
        let audit = self
            .admin_event(&grant, AuditKind::UserCreated)
            .detail("username", username.as_str())
            .detail("is_active", command.is_active)
            .detail("is_staff", command.is_staff)
            .detail("is_superuser", command.is_superuser)
            .detail("groups", command.groups.clone())
            .detail("user_permissions", command.user_permissions.clone())
            .detail("password_set", command.password.is_some());
        let draft = UserDraft {
            username,
            email,
            password_hash,
            first_name: command.first_name,
            last_name: command.last_name,
            is_active: command.is_active,
            is_staff: command.is_staff,
            is_superuser: command.is_superuser,
            groups: command.groups,
            user_permissions: command.user_permissions,
            now: self.clock.now(),
        };
        self.admin
            .create_user(draft, audit)
            .await
            .map_err(write_error)
    }

    pub async fn update_user(
        &self,
        caller: impl Into<Caller<'_>>,
        id: UserId,
        command: UpdateUserCommand,
    ) -> Result<AdminUser, AdminError> {
        let grant = self.authorize(caller.into(), "auth.change_user").await?;
        self.writable_target(&grant, id).await?;
        if id == grant.caller && command.is_active == Some(false) {
            return Err(AdminError::Forbidden);
        }
        self.check_grants(
            &grant,
            command.is_superuser,
            command.groups.as_ref(),
            command.user_permissions.as_ref(),
        )
        .await?;
        let mut errors = ValidationErrors::new();
        let username = command.username.as_deref().and_then(|raw| {
            Username::parse(raw)
                .map_err(|e| errors.add("username", e.to_string()))
                .ok()
        });
        let email = command.email.as_deref().and_then(|raw| {
            EmailAddress::parse(raw)
                .map_err(|e| errors.add_all("email", e.messages().iter().copied()))
                .ok()
        });
        for (field, value) in [
            ("first_name", &command.first_name),
            ("last_name", &command.last_name),
        ] {
            if let Some(value) = value {
                check_name(&mut errors, field, value);
            }
        }
        errors.into_result().map_err(AdminError::Invalid)?;
        let audit = update_details(
            self.admin_event(&grant, AuditKind::UserUpdated).subject(id),
            &command,
        );
        let patch = UserPatch {
            username,
            email,
            first_name: command.first_name,
            last_name: command.last_name,
            is_active: command.is_active,
            is_staff: command.is_staff,
            is_superuser: command.is_superuser,
            groups: command.groups,
            user_permissions: command.user_permissions,
        };
        self.admin
            .update_user(id, patch, self.clock.now(), audit)
            .await
            .map_err(write_error)
    }

    pub async fn delete_user(
        &self,
        caller: impl Into<Caller<'_>>,
        id: UserId,
    ) -> Result<(), AdminError> {
        let grant = self.authorize(caller.into(), "auth.delete_user").await?;
        self.writable_target(&grant, id).await?;
        if id == grant.caller {
            return Err(AdminError::Forbidden);
        }
        let audit = self.admin_event(&grant, AuditKind::UserDeleted).subject(id);
        if !self.users.delete(id, audit).await? {
            return Err(AdminError::NotFound);
        }
        Ok(())
    }

    /// Sets a user's password: his sessions end, reset links die, he is notified.
    pub async fn admin_set_password(
        &self,
        caller: impl Into<Caller<'_>>,
        id: UserId,
        password: Password,
        field: &'static str,
    ) -> Result<(), AdminError> {
        let grant = self.authorize(caller.into(), "auth.change_user").await?;
        let target = self.writable_target(&grant, id).await?;
        self.check_new_password(&target.profile.user, &password, field)
            .map_err(AdminError::Invalid)?;
        let change = PasswordChange {
            user_id: id,
            password_hash: self.hasher.hash(&password).await?,
            at: self.clock.now(),
            revoke: SessionRevocation::All,
            consume_token: None,
            replaces_hash: None,
            audit: self
                .admin_event(&grant, AuditKind::UserPasswordSet)
                .subject(id),
        };
        self.accounts.set_password(change).await?;
        Ok(())
    }

    /// Ends every session of a user.
    pub async fn admin_logout_user(
        &self,
        caller: impl Into<Caller<'_>>,
        id: UserId,
    ) -> Result<(), AdminError> {
        let grant = self.authorize(caller.into(), "auth.change_user").await?;
        self.writable_target(&grant, id).await?;
        let audit = self
            .admin_event(&grant, AuditKind::UserLoggedOut)
            .subject(id);
        self.sessions
            .revoke_all_for_user(id, None, self.clock.now(), audit)
            .await?;
        Ok(())
    }
}
