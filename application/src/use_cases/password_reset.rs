//! Password reset: a link by email to whoever owns an active account, and the
//! confirmation that sets a new password with the link's token.

use domain::ports::{
    AccountRepository, Clock, OneTimeTokenRepository, PasswordChange, PasswordHasher,
    SessionRevocation, UserRepository,
};
use domain::{AuditKind, EmailKind, MailedToken, Password, TokenPurpose, UserId};

use crate::fault::faults_into;
use crate::{ClientInfo, Deps, Fault, Gatehouse, OneTimeTokenRejection};

#[derive(Debug, thiserror::Error)]
pub enum ResetRequestError {
    /// No active account uses the address. Told only with `reveal_unknown_email` on
    /// (seed 001); otherwise the request succeeds whether or not anyone was mailed.
    #[error("No active account uses this email address.")]
    UnknownEmail,
    #[error(transparent)]
    Fault(Fault),
}
faults_into!(ResetRequestError);

/// `Debug` hides the token.
#[derive(Clone)]
pub struct ConfirmResetCommand {
    pub token: String,
    pub new_password: Password,
    pub client: ClientInfo,
}

impl std::fmt::Debug for ConfirmResetCommand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfirmResetCommand")
            .field("token", &"***")
            .field("new_password", &self.new_password)
            .field("client", &self.client)
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfirmResetError {
    #[error(transparent)]
    Token(#[from] OneTimeTokenRejection),
    /// Django's validators refuse the new password, in these words.
    #[error("the new password is refused")]
    WeakPassword(Vec<String>),
    #[error(transparent)]
    Fault(Fault),
}
faults_into!(ConfirmResetError);

impl<D: Deps> Gatehouse<D> {
    /// Mails a reset link to an active account with this email; nothing to anyone else.
    #[tracing::instrument(skip_all)]
    pub async fn request_password_reset(&self, email: &str) -> Result<(), ResetRequestError> {
        let user = self.adapters.users.find_by_email(email.trim()).await?;
        let Some(user) = user.filter(|u| u.is_active) else {
            return match self.settings.accounts.reveal_unknown_email {
                true => Err(ResetRequestError::UnknownEmail),
                false => Ok(()),
            };
        };
        let token = self.new_one_time_token(TokenPurpose::Reset);
        let email = EmailKind::PasswordReset {
            token: token.raw.clone(),
        };
        let cooldown = self.settings.accounts.min_resend_interval;
        // Within the cooldown nothing is sent; the caller's answer is the same.
        self.adapters
            .one_time_tokens
            .issue(user.id, MailedToken { token, email }, cooldown)
            .await?;
        Ok(())
    }

    /// Sets the new password with a reset token: every session ends, the token and
    /// any other pending reset link die, and a notification is queued.
    #[tracing::instrument(skip_all)]
    pub async fn confirm_password_reset(
        &self,
        command: ConfirmResetCommand,
    ) -> Result<(), ConfirmResetError> {
        self.confirm_reset_token(command, None).await
    }

    /// `confirm_password_reset` for a link that also names its user (Djoser's `{uid,
    /// token, new_password}`): the token must be that user's.
    #[tracing::instrument(skip_all, fields(user = %user))]
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
            .adapters
            .users
            .find_by_id(record.user_id)
            .await?
            .filter(|u| u.is_active)
            .ok_or(OneTimeTokenRejection::Invalid)?;
        self.check_new_password(&user, &command.new_password)
            .map_err(ConfirmResetError::WeakPassword)?;
        let password_hash = self.adapters.hasher.hash(&command.new_password).await?;
        let change = PasswordChange {
            user_id: user.id,
            password_hash,
            at: self.adapters.clock.now(),
            revoke: SessionRevocation::All,
            consume_token: Some(record.id),
            replaces_hash: None,
            email: Some(EmailKind::PasswordChanged),
            audit: self
                .event(AuditKind::PasswordReset, &command.client)
                .subject(user.id),
        };
        if !self.adapters.accounts.set_password(change).await? {
            return Err(OneTimeTokenRejection::Invalid.into());
        }
        Ok(())
    }
}
