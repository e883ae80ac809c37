//! Change password: the signed-in user, knowing his password, sets a new one.

use domain::password::UserAttributes;
use domain::ports::{
    AccountRepository, Clock, PasswordChange, PasswordCheck, PasswordHasher, SessionRevocation,
};
use domain::{AuditKind, EmailKind, Password, User};
use uuid::Uuid;

use crate::fault::faults_into;
use crate::{ClientInfo, Deps, Fault, Gatehouse, ValidationErrors};

#[derive(Debug, Clone)]
pub struct ChangePasswordCommand {
    pub user: User,
    /// The session the request comes from, kept when other sessions are revoked;
    /// `None` for an API key (every session ends).
    pub session: Option<Uuid>,
    pub current_password: Password,
    /// The field the current password came in (`old_password` or `current_password`),
    /// named in its error.
    pub current_password_field: &'static str,
    pub new_password: Password,
    /// The field the new password came in, named in its errors.
    pub new_password_field: &'static str,
    pub client: ClientInfo,
}

#[derive(Debug, thiserror::Error)]
pub enum ChangePasswordError {
    #[error("invalid input")]
    Invalid(ValidationErrors),
    #[error(transparent)]
    Fault(Fault),
}
faults_into!(ChangePasswordError);

pub(crate) const INVALID_PASSWORD: &str = "Invalid password.";

impl<D: Deps> Gatehouse<D> {
    /// Checks the current password and the new one's strength, then sets it: older
    /// access tokens are refused from now on, the other sessions end (configurable),
    /// pending reset links die and a notification is queued — all in one transaction.
    #[tracing::instrument(skip_all, fields(user = %command.user.id))]
    pub async fn change_password(
        &self,
        command: ChangePasswordCommand,
    ) -> Result<(), ChangePasswordError> {
        let user = &command.user;
        if let PasswordCheck::Mismatch = self
            .adapters
            .hasher
            .verify(&command.current_password, &user.password_hash)
            .await?
        {
            return Err(ChangePasswordError::Invalid(ValidationErrors::single(
                command.current_password_field,
                INVALID_PASSWORD,
            )));
        }
        self.check_new_password(user, &command.new_password, command.new_password_field)
            .map_err(ChangePasswordError::Invalid)?;
        let password_hash = self.adapters.hasher.hash(&command.new_password).await?;
        let revoke = match (
            self.settings.password_change.change_revokes_other_sessions,
            command.session,
        ) {
            (true, Some(current)) => SessionRevocation::AllBut(current),
            (true, None) => SessionRevocation::All,
            (false, _) => SessionRevocation::None,
        };
        let change = PasswordChange {
            user_id: user.id,
            password_hash,
            at: self.adapters.clock.now(),
            revoke,
            consume_token: None,
            replaces_hash: Some(user.password_hash.clone()),
            email: Some(EmailKind::PasswordChanged),
            audit: self
                .event(AuditKind::PasswordChanged, &command.client)
                .by_self(user.id),
        };
        if !self.adapters.accounts.set_password(change).await? {
            // The password changed (reset, another change) since it was checked here.
            return Err(ChangePasswordError::Invalid(ValidationErrors::single(
                command.current_password_field,
                INVALID_PASSWORD,
            )));
        }
        Ok(())
    }

    /// Django's validators on a new password for `user`, reported under `field`.
    pub(crate) fn check_new_password(
        &self,
        user: &User,
        password: &Password,
        field: &str,
    ) -> Result<(), ValidationErrors> {
        let attributes = UserAttributes {
            username: user.username.as_str(),
            first_name: &user.first_name,
            last_name: &user.last_name,
            email: user.email.as_str(),
        };
        let mut errors = ValidationErrors::new();
        self.password_rules(&mut errors, field, password, &attributes);
        errors.into_result()
    }

    /// Adds the messages of Django's validators on `password` under `field`.
    pub(crate) fn password_rules(
        &self,
        errors: &mut ValidationErrors,
        field: &str,
        password: &Password,
        attributes: &UserAttributes<'_>,
    ) {
        for message in self
            .settings
            .passwords
            .validate(password.expose(), attributes)
        {
            errors.add(field, message);
        }
    }
}
