//! Password reset: a link by email to whoever owns an active account, and the
//! confirmation that sets a new password with the link's token.

use domain::ports::{
    AccountRepository, Clock, PasswordChange, PasswordHasher, SessionRevocation, UserRepository,
};
use domain::{AuditKind, Password, TokenPurpose, UserId};

use crate::fault::faults_into;
use crate::{ClientInfo, Deps, Fault, Gatehouse, OneTimeTokenRejection, ValidationErrors};

/// Whether a reset request found an account to mail. Only `reveal_unknown_email`
/// lets the caller tell the two apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetRequested {
    Mailed,
    UnknownEmail,
}

/// `Debug` hides the token.
#[derive(Clone)]
pub struct ConfirmResetCommand {
    pub token: String,
    pub new_password: Password,
    /// The field the new password came in (`password` or `new_password`).
    pub new_password_field: &'static str,
    pub client: ClientInfo,
}

impl std::fmt::Debug for ConfirmResetCommand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfirmResetCommand")
            .field("token", &"***")
            .field("new_password", &self.new_password)
            .field("new_password_field", &self.new_password_field)
            .field("client", &self.client)
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfirmResetError {
    #[error(transparent)]
    Token(#[from] OneTimeTokenRejection),
    #[error("invalid input")]
    Invalid(ValidationErrors),
    #[error(transparent)]
    Fault(Fault),
}
faults_into!(ConfirmResetError);

impl<D: Deps> Gatehouse<D> {
    /// Mails a reset link to an active account with this email; nothing to anyone else.
    pub async fn request_password_reset(&self, email: &str) -> Result<ResetRequested, Fault> {
        let user = self.users.find_by_email(email.trim()).await?;
        let Some(user) = user.filter(|u| u.is_active) else {
            return Ok(ResetRequested::UnknownEmail);
        };
        let token = self.new_one_time_token(TokenPurpose::Reset);
        let cooldown = self.settings.accounts.min_resend_interval;
        // Within the cooldown nothing is sent; the caller's answer is the same.
        self.accounts.issue_token(user.id, token, cooldown).await?;
        Ok(ResetRequested::Mailed)
    }

    /// Sets the new password with a reset token: every session ends, the token and
    /// any other pending reset link die, and a notification is queued.
    pub async fn confirm_password_reset(
        &self,
        command: ConfirmResetCommand,
    ) -> Result<(), ConfirmResetError> {
        self.confirm_reset_token(command, None).await
    }

    /// `confirm_password_reset` for a link that also names its user (Djoser's `{uid,
    /// token, new_password}`): the token must be that user's.
    pub async fn confirm_password_reset_for(
        &self,
        user: UserId,
        command: ConfirmResetCommand,
    ) -> Result<(), ConfirmResetError> {
        self.confirm_reset_token(command, Some(user)).await
    }

    async fn confirm_reset_token(
        &self,
        command: ConfirmResetCommand,
        for_user: Option<UserId>,
    ) -> Result<(), ConfirmResetError> {
        let record = self
            .usable_one_time_token(&command.token, TokenPurpose::Reset, for_user)
            .await??;
        let user = self
            .users
            .find_by_id(record.user_id)
            .await?
            .filter(|u| u.is_active)
            .ok_or(OneTimeTokenRejection::Invalid)?;
        self.check_new_password(&user, &command.new_password, command.new_password_field)
            .map_err(ConfirmResetError::Invalid)?;
        let password_hash = self.hasher.hash(&command.new_password).await?;
        let change = PasswordChange {
            user_id: user.id,
            password_hash,
            at: self.clock.now(),
            revoke: SessionRevocation::All,
            consume_token: Some(record.id),
            replaces_hash: None,
            audit: self
                .event(AuditKind::PasswordReset, &command.client)
                .subject(user.id),
        };
        if !self.accounts.set_password(change).await? {
            return Err(OneTimeTokenRejection::Invalid.into());
        }
        Ok(())
    }
}
