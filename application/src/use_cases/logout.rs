//! Logout: end one session by its refresh token, or every session of a user.

use domain::ports::{ApiKeyRepository, Clock, SessionRepository, TokenGenerator};
use domain::{AuditKind, TokenType, UserId};

use crate::fault::faults_into;
use crate::{ClientInfo, Deps, Fault, Gatehouse, TokenRejection};

#[derive(Debug, thiserror::Error)]
pub enum LogoutError {
    #[error(transparent)]
    Token(#[from] TokenRejection),
    #[error(transparent)]
    Fault(Fault),
}
faults_into!(LogoutError);

impl<D: Deps> Gatehouse<D> {
    /// Revokes the session the refresh token belongs to: the token, and with it every
    /// access token of the session on this service. Also SimpleJWT's "blacklist".
    #[tracing::instrument(skip_all)]
    pub async fn logout(&self, refresh: &str, client: &ClientInfo) -> Result<(), LogoutError> {
        let presented = self.read_token(refresh, Some(TokenType::Refresh))?;
        let record = self.stored_refresh_token::<LogoutError>(&presented).await?;
        // A token rotated away still names its session: whoever holds it wants the
        // session ended, and whoever holds the successor (another tab, or a thief) must
        // not keep it alive.
        let audit = self
            .event(AuditKind::Logout, client)
            .by_self(record.user_id)
            .detail("session", record.family_id.simple().to_string());
        self.adapters
            .sessions
            .revoke_family(
                record.user_id,
                record.family_id,
                self.adapters.clock.now(),
                audit,
            )
            .await?;
        if record.revoked_at.is_some() {
            return Err(TokenRejection::Blacklisted.into());
        }
        Ok(())
    }

    /// DRF's token logout: deletes the user's API key `key`, or every one of his keys
    /// when he signed in otherwise (Djoser deletes "the user's token"); returns how
    /// many.
    #[tracing::instrument(skip_all, fields(user = %user))]
    pub async fn logout_api_keys(
        &self,
        user: UserId,
        key: Option<&str>,
        client: &ClientInfo,
    ) -> Result<u64, Fault> {
        let only = key.map(|key| self.adapters.random_tokens.digest(key));
        let audit = self
            .event(AuditKind::Logout, client)
            .by_self(user)
            .detail("via", "api_key");
        Ok(self.adapters.api_keys.delete(user, only, audit).await?)
    }

    /// Revokes every session and API key of the user ("log out everywhere").
    #[tracing::instrument(skip_all, fields(user = %user_id))]
    pub async fn logout_all(&self, user_id: UserId, client: &ClientInfo) -> Result<u64, Fault> {
        let audit = self.event(AuditKind::LogoutAll, client).by_self(user_id);
        Ok(self
            .adapters
            .sessions
            .revoke_all_for_user(user_id, None, self.adapters.clock.now(), audit)
            .await?)
    }
}

impl<D: Deps> Gatehouse<D> {
    /// Deletes refresh-token rows whose expiry has passed (`flushexpiredtokens`).
    #[tracing::instrument(skip_all)]
    pub async fn flush_expired_tokens(&self) -> Result<u64, Fault> {
        Ok(self
            .adapters
            .sessions
            .purge_expired(self.adapters.clock.now())
            .await?)
    }
}
