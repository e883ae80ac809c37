//! Activation: the link from the activation email makes the account usable; a resend
//! mails a fresh link to an inactive account and says nothing about others.

use domain::ports::{AccountRepository, Clock, OneTimeTokenRepository, UserRepository};
use domain::{AuditKind, EmailKind, MailedToken, TokenPurpose, UserId};

use crate::fault::faults_into;
use crate::{ClientInfo, Deps, Fault, Gatehouse, OneTimeTokenRejection};

#[derive(Debug, thiserror::Error)]
pub enum ActivateError {
    #[error(transparent)]
    Token(#[from] OneTimeTokenRejection),
    #[error(transparent)]
    Fault(Fault),
}
faults_into!(ActivateError);

impl<D: Deps> Gatehouse<D> {
    /// Consumes an activation token: the user becomes active and gets the
    /// confirmation email, in one transaction.
    #[tracing::instrument(skip_all)]
    pub async fn activate(&self, token: &str, client: &ClientInfo) -> Result<(), ActivateError> {
        self.activate_token(token, None, client).await
    }

    /// `activate` for a link that also names its user (Djoser's `{uid, token}`): the
    /// token must be that user's. A used link of a user who is active now is `Used`
    /// (Djoser's "stale" link); of one who is not, `Invalid`.
    #[tracing::instrument(skip_all, fields(user = %user))]
    pub async fn activate_user(
        &self,
        user: UserId,
        token: &str,
        client: &ClientInfo,
    ) -> Result<(), ActivateError> {
        match self.activate_token(token, Some(user), client).await {
            Err(ActivateError::Token(OneTimeTokenRejection::Used)) => {
                let active = self
                    .adapters
                    .users
                    .find_by_id(user)
                    .await?
                    .is_some_and(|u| u.is_active);
                Err(match active {
                    true => OneTimeTokenRejection::Used,
                    false => OneTimeTokenRejection::Invalid,
                }
                .into())
            }
            outcome => outcome,
        }
    }

    async fn activate_token(
        &self,
        token: &str,
        for_user: Option<UserId>,
        client: &ClientInfo,
    ) -> Result<(), ActivateError> {
        let record = self
            .usable_one_time_token(token, TokenPurpose::Activation, for_user)
            .await??;
        let audit = self
            .event(AuditKind::AccountActivated, client)
            .subject(record.user_id);
        if !self
            .adapters
            .accounts
            .activate(
                record.id,
                record.user_id,
                self.adapters.clock.now(),
                EmailKind::ActivationConfirmed,
                audit,
            )
            .await?
        {
            // Consumed by a concurrent request between our read and our write.
            return Err(OneTimeTokenRejection::Invalid.into());
        }
        Ok(())
    }

    /// Mails a new activation link when `email` names an inactive account; does
    /// nothing otherwise. The caller answers the same in every case.
    #[tracing::instrument(skip_all)]
    pub async fn resend_activation(&self, email: &str) -> Result<(), Fault> {
        let Some(user) = self.adapters.users.find_by_email(email.trim()).await? else {
            return Ok(());
        };
        // Not to an active account, nor to one an administrator deactivated.
        if user.is_active || !user.pending_activation {
            return Ok(());
        }
        let token = self.new_one_time_token(TokenPurpose::Activation);
        let email = EmailKind::Activation {
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
}
