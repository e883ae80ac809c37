//! Change password: the signed-in user, knowing his password, sets a new one.

use domain::password::UserAttributes;
use std::time::Duration;

use domain::ports::{AccountRepository, Clock, PasswordChange, PasswordHasher, SessionRevocation};
use domain::{AuditKind, EmailKind, Password, User};
use uuid::Uuid;

use crate::fault::faults_into;
use crate::guesses::guesses_into;
use crate::{ClientInfo, Deps, Fault, Gatehouse, ValidationErrors};

#[derive(Debug, Clone)]
pub struct ChangePasswordCommand {
    pub user: User,
    /// The session the request comes from, kept when other sessions are revoked;
    /// `None` for an API key (every session ends).
    pub session: Option<Uuid>,
    pub current_password: Password,
    pub new_password: Password,
    pub client: ClientInfo,
}

#[derive(Debug, thiserror::Error)]
pub enum ChangePasswordError {
    /// Not the current password (or it changed while this one was checked).
    #[error("Invalid password.")]
    WrongPassword,
    /// Django's validators refuse the new password, in these words.
    #[error("the new password is refused")]
    WeakPassword(Vec<String>),
    /// Too many wrong passwords for this account lately; none was checked.
    #[error("too many wrong passwords for this account")]
    Throttled { retry_after: Duration },
    #[error(transparent)]
    Fault(Fault),
}
faults_into!(ChangePasswordError);
guesses_into!(ChangePasswordError);

impl<D: Deps> Gatehouse<D> {
    /// Checks the current password (under the account's budget of guesses, as a
    /// login) and the new one's strength, then sets it: older
    /// access tokens are refused from now on, the other sessions end (configurable),
    /// pending reset links die and a notification is queued — all in one transaction.
    #[tracing::instrument(skip_all, fields(user = %command.user.id))]
    pub async fn change_password(
        &self,
        command: ChangePasswordCommand,
    ) -> Result<(), ChangePasswordError> {
        let user = &command.user;
        if !self
            .check_password(
                user,
                &command.current_password,
                &command.client,
                "change_password",
            )
            .await?
        {
            return Err(ChangePasswordError::WrongPassword);
        }
        self.check_new_password(user, &command.new_password)
            .map_err(ChangePasswordError::WeakPassword)?;
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
            return Err(ChangePasswordError::WrongPassword);
        }
        Ok(())
    }

    /// Django's validators on a new password for `user`: their messages, if any.
    pub(crate) fn check_new_password(
        &self,
        user: &User,
        password: &Password,
    ) -> Result<(), Vec<String>> {
        let attributes = UserAttributes {
            username: user.username.as_str(),
            first_name: &user.first_name,
            last_name: &user.last_name,
            email: user.email.as_str(),
        };
        let messages = self
            .settings
            .passwords
            .validate(password.expose(), &attributes);
        match messages.is_empty() {
            true => Ok(()),
            false => Err(messages),
        }
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
