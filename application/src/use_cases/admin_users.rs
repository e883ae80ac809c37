//! Admin: users, for callers holding the model permission of each action (see
//! `authorization`). A staff user who is not a superuser cannot touch a superuser,
//! grant `is_superuser`, or grant a permission he lacks (directly or through a group);
//! he may change the credentials and access of, log out or delete only users within
//! his own rights (`Authority::may_manage`); and nobody deletes or deactivates himself
//! here.

use domain::admin::{AdminUser, Page, UserDraft, UserListQuery, UserPatch};
use domain::password::UserAttributes;
use domain::ports::{
    AccountRepository, Clock, PasswordChange, PasswordHasher, SaveUserError, SessionRepository,
    SessionRevocation, UserAdminRepository, UserRepository,
};
use domain::{AuditEvent, AuditKind, EmailAddress, EmailKind, Password, UserId, Username};

use crate::authorization::{AddUser, ChangeUser, DeleteUser, Grant, Permit, ViewUser};
use crate::fault::faults_into;
use crate::use_cases::register::{DUPLICATE_EMAIL, DUPLICATE_USERNAME, check_names};
use crate::{Deps, Fault, Gatehouse, ValidationErrors};

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("You do not have permission to perform this action.")]
    Forbidden,
    #[error("Not found.")]
    NotFound,
    #[error("invalid input")]
    Invalid(ValidationErrors),
    /// Django's validators refuse the password an admin sets, in these words.
    #[error("the password is refused")]
    WeakPassword(Vec<String>),
    #[error(transparent)]
    Fault(Fault),
}
faults_into!(AdminError);

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

fn save_error(error: SaveUserError) -> AdminError {
    match error {
        SaveUserError::DuplicateEmail => {
            AdminError::Invalid(ValidationErrors::single("email", DUPLICATE_EMAIL))
        }
        SaveUserError::DuplicateUsername => {
            AdminError::Invalid(ValidationErrors::single("username", DUPLICATE_USERNAME))
        }
        SaveUserError::UnknownGroups(names) => {
            AdminError::Invalid(missing("groups", "name", &names))
        }
        SaveUserError::UnknownPermissions(codes) => {
            AdminError::Invalid(missing("user_permissions", "codename", &codes))
        }
        SaveUserError::Forbidden => AdminError::Forbidden,
        SaveUserError::Repository(error) => error.into(),
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

/// Refuses grants past the caller's own rights: `is_superuser` and direct grants here;
/// the permissions of groups are judged by the store on the groups its write resolves.
fn check_grants<P: Permit>(
    grant: &Grant<P>,
    is_superuser: Option<bool>,
    user_permissions: Option<&Vec<String>>,
) -> Result<(), AdminError> {
    let authority = grant.authority();
    if authority.is_superuser() {
        return Ok(());
    }
    if is_superuser == Some(true) || user_permissions.is_some_and(|c| !authority.may_grant(c)) {
        return Err(AdminError::Forbidden);
    }
    Ok(())
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
    /// An audit event of an admin's action, now.
    pub(crate) fn admin_event<P: Permit>(&self, grant: &Grant<P>, kind: AuditKind) -> AuditEvent {
        grant.event(kind, self.adapters.clock.now())
    }

    /// The target of a write, which a non-superuser may not touch if it is a superuser
    /// (nor, when `managed`, if it holds anything he does not).
    async fn writable_target<P: Permit>(
        &self,
        grant: &Grant<P>,
        id: UserId,
        managed: bool,
    ) -> Result<AdminUser, AdminError> {
        let target = self
            .adapters
            .user_admin
            .get(id)
            .await?
            .ok_or(AdminError::NotFound)?;
        let authority = grant.authority();
        let allowed = match managed {
            true => authority.may_manage(&target.profile),
            false => authority.is_superuser() || !target.profile.user.is_superuser,
        };
        if !allowed {
            return Err(AdminError::Forbidden);
        }
        Ok(target)
    }

    #[tracing::instrument(skip_all)]
    pub async fn list_users(
        &self,
        _grant: &Grant<ViewUser>,
        query: UserListQuery,
    ) -> Result<Page<AdminUser>, AdminError> {
        Ok(self.adapters.user_admin.list(&query).await?)
    }

    #[tracing::instrument(skip_all, fields(user = %id))]
    pub async fn get_user(
        &self,
        _grant: &Grant<ViewUser>,
        id: UserId,
    ) -> Result<AdminUser, AdminError> {
        self.adapters
            .user_admin
            .get(id)
            .await?
            .ok_or(AdminError::NotFound)
    }

    #[tracing::instrument(skip_all)]
    pub async fn create_user(
        &self,
        grant: &Grant<AddUser>,
        command: CreateUserCommand,
    ) -> Result<AdminUser, AdminError> {
        check_grants(
            grant,
            Some(command.is_superuser),
            Some(&command.user_permissions),
        )?;
        let mut errors = ValidationErrors::new();
        let username = Username::parse(&command.username)
            .map_err(|e| errors.add("username", e.to_string()))
            .ok();
        let email = EmailAddress::parse(&command.email)
            .map_err(|e| errors.add_all("email", e.messages().iter().copied()))
            .ok();
        check_names(
            &mut errors,
            [
                ("first_name", Some(&command.first_name)),
                ("last_name", Some(&command.last_name)),
            ],
        );
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
        if let Some(email) = &email {
            self.check_email_free(&mut errors, email).await?;
        }
        if let Some(username) = &username
            && self
                .adapters
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
            Some(password) => Some(self.adapters.hasher.hash(password).await?),
            None => None,
        };
        let audit = self
            .admin_event(grant, AuditKind::UserCreated)
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
            now: self.adapters.clock.now(),
        };
        self.adapters
            .user_admin
            .create(draft, grant.authority(), audit)
            .await
            .map_err(save_error)
    }

    #[tracing::instrument(skip_all, fields(user = %id))]
    pub async fn update_user(
        &self,
        grant: &Grant<ChangeUser>,
        id: UserId,
        command: UpdateUserCommand,
    ) -> Result<AdminUser, AdminError> {
        // Whom the patch may reach is judged again when the write locks the row.
        self.writable_target(grant, id, false).await?;
        if id == grant.caller() && command.is_active == Some(false) {
            return Err(AdminError::Forbidden);
        }
        check_grants(
            grant,
            command.is_superuser,
            command.user_permissions.as_ref(),
        )?;
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
        check_names(
            &mut errors,
            [
                ("first_name", command.first_name.as_ref()),
                ("last_name", command.last_name.as_ref()),
            ],
        );
        errors.into_result().map_err(AdminError::Invalid)?;
        let audit = update_details(
            self.admin_event(grant, AuditKind::UserUpdated).subject(id),
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
        self.adapters
            .user_admin
            .update(
                id,
                patch,
                grant.authority(),
                self.adapters.clock.now(),
                audit,
            )
            .await
            .map_err(save_error)?
            .ok_or(AdminError::NotFound)
    }

    #[tracing::instrument(skip_all, fields(user = %id))]
    pub async fn delete_user(
        &self,
        grant: &Grant<DeleteUser>,
        id: UserId,
    ) -> Result<(), AdminError> {
        self.writable_target(grant, id, true).await?;
        if id == grant.caller() {
            return Err(AdminError::Forbidden);
        }
        let audit = self.admin_event(grant, AuditKind::UserDeleted).subject(id);
        if !self.adapters.users.delete(id, audit).await? {
            return Err(AdminError::NotFound);
        }
        Ok(())
    }

    /// Sets a user's password: his sessions end, reset links die, he is notified.
    #[tracing::instrument(skip_all, fields(user = %id))]
    pub async fn admin_set_password(
        &self,
        grant: &Grant<ChangeUser>,
        id: UserId,
        password: Password,
    ) -> Result<(), AdminError> {
        let target = self.writable_target(grant, id, true).await?;
        self.check_new_password(&target.profile.user, &password)
            .map_err(AdminError::WeakPassword)?;
        let change = PasswordChange {
            user_id: id,
            password_hash: self.adapters.hasher.hash(&password).await?,
            at: self.adapters.clock.now(),
            revoke: SessionRevocation::All,
            consume_token: None,
            replaces_hash: None,
            email: Some(EmailKind::PasswordChanged),
            audit: self
                .admin_event(grant, AuditKind::UserPasswordSet)
                .subject(id),
        };
        if !self.adapters.accounts.set_password(change).await? {
            // Deleted since it was read.
            return Err(AdminError::NotFound);
        }
        Ok(())
    }

    /// Ends every session of a user.
    #[tracing::instrument(skip_all, fields(user = %id))]
    pub async fn admin_logout_user(
        &self,
        grant: &Grant<ChangeUser>,
        id: UserId,
    ) -> Result<(), AdminError> {
        self.writable_target(grant, id, true).await?;
        let audit = self
            .admin_event(grant, AuditKind::UserLoggedOut)
            .subject(id);
        self.adapters
            .sessions
            .revoke_all_for_user(id, None, self.adapters.clock.now(), audit)
            .await?;
        Ok(())
    }
}
